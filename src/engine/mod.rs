//! The engine: one tokio task that owns all task state.
//!
//! - [`state`], [`policy`], [`schedule`]: the pure core (state machine,
//!   retry/health/exit policy, readiness and slot picking), unit-tested
//!   without processes, repos or clocks.
//! - [`message`]: the engine's one inbox type and one outbox type.
//! - `actor`: the loop that applies commands, supervises agents and
//!   persists every change before publishing it.
//! - `reconcile`: bringing `state.db` in line with the config at start,
//!   closing attempts a dead orch left running.

mod actor;
mod launch;
pub mod message;
pub mod policy;
mod reconcile;
mod reload;
pub mod schedule;
pub mod state;

pub use actor::{Engine, EngineError, EngineHandle, EngineOptions, OutputSignal};
pub use message::{
    ActionError, Command, Decision, Event, HealthSample, HealthView, RunOutcome, Snapshot,
};
pub use state::TaskState;
