//! The task graph: who depends on whom, which tasks are ready, and the
//! topological stages used for display and reports. Pure data; the config
//! has already rejected cycles and dangling dependencies.

mod dag;

pub use dag::Plan;
