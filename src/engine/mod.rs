//! The engine: the one owner of task state, as a pure core and a driver.
//!
//! - [`core`]: every decision, as `(state, input, now) -> effects` over
//!   plain data; unit-tested with a fake clock and no processes.
//! - [`state`], [`policy`], [`schedule`]: the pure pieces the core uses
//!   (state machine, retry/health/exit policy, readiness and slot picking).
//! - [`message`]: what crosses the engine's boundary: requests (with their
//!   actor), internal inputs, events, snapshots. Plain data throughout.
//! - [`effect`]: what the core asks the driver to do.
//! - [`clock`]: time behind a trait; the core is handed a reading.
//! - `driver`: the tokio task that owns the core, the store, the agent
//!   backend and the git workspace, and carries out effects: persist, then
//!   publish; git work as jobs off the engine.

pub mod clock;
pub mod core;
mod driver;
pub mod effect;
pub mod message;
pub mod policy;
pub mod schedule;
pub mod state;

pub use driver::{
    Engine, EngineError, EngineHandle, EngineOptions, HealthSink, MakeBackend, OutputSignal, Parts,
};
pub use message::{
    ActionError, Actor, Answer, Event, HealthSample, HealthView, Request, RunOutcome, Snapshot,
};
pub use state::TaskState;
