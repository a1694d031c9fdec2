//! The task graph: who depends on whom, which tasks are ready, and the
//! topological stages used for display and reports; subtasks nested under
//! their parents for display (`nest`). Pure data; the config has already
//! rejected cycles and dangling dependencies.

mod dag;
pub mod nest;

pub use dag::Plan;
