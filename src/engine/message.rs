//! The engine's one inbox type ([`Command`]) and one outbox type ([`Event`]).
//! Everything that reaches the engine is a `Command`; everything it tells the
//! world is an `Event`, published only after the change is in the store.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::agent::pty::{AgentExit, AgentProcess};
use crate::engine::policy::Level;
use crate::engine::state::TaskState;
use crate::store::TaskRow;

/// Why a user action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    #[error("no task {0:?} in this plan")]
    UnknownTask(String),
    #[error("task {task:?} is {state}; {action} needs it to be {wanted}")]
    WrongState {
        task: String,
        state: TaskState,
        action: &'static str,
        wanted: &'static str,
    },
    #[error("cannot save the change: {0}")]
    Store(String),
    #[error("orch is shutting down")]
    ShuttingDown,
}

pub type Reply = oneshot::Sender<Result<(), ActionError>>;

/// A human's (or a flag's) decision on an approval gate.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Who decided: a user name, `--approve-all`, `timeout`.
    pub by: String,
    pub reason: Option<String>,
}

/// Everything that can ask the engine to do something.
#[derive(Debug)]
pub enum Command {
    /// An agent's process tree is gone and its output fully read.
    AgentExited {
        task: String,
        attempt: u32,
        exit: AgentExit,
    },
    /// One round of health samples, one per running agent's process tree.
    Health(Vec<HealthSample>),
    Approve {
        task: String,
        decision: Decision,
        reply: Option<Reply>,
    },
    Reject {
        task: String,
        decision: Decision,
        reply: Option<Reply>,
    },
    /// Run a needs_review / rejected / cancelled-dependency task again.
    Retry { task: String, reply: Option<Reply> },
    /// Stop (if running) and mark cancelled; final.
    Cancel { task: String, reply: Option<Reply> },
    /// Mark done without running; recorded with the reason.
    Skip {
        task: String,
        reason: Option<String>,
        reply: Option<Reply>,
    },
    /// `orch.toml` changed and is valid: new tasks join the plan, tasks that
    /// have not started take their new definition, limits and agents apply
    /// to the next launches.
    Reload { config: Box<crate::config::Config> },
    /// A consistent copy of every task, for a view that just (re)subscribed.
    Snapshot { reply: oneshot::Sender<Snapshot> },
    /// Stop the run. With `stop_agents`, running agents are stopped and their
    /// attempts recorded as interrupted (the next run resumes them).
    Shutdown { stop_agents: bool },
}

#[derive(Debug, Clone)]
pub struct HealthSample {
    pub task: String,
    pub attempt: u32,
    pub pid: u32,
    /// Percent of one core, summed over the process tree.
    pub cpu: f64,
    /// Resident bytes, summed over the process tree.
    pub rss: u64,
    pub procs: u32,
}

/// Health as the views show it: a sample plus the heartbeat.
#[derive(Debug, Clone)]
pub struct HealthView {
    pub sample: HealthSample,
    pub heartbeat_age: Duration,
    pub heartbeat: Level,
    pub cpu: Level,
}

/// Everything the engine tells its views.
#[derive(Debug, Clone)]
pub enum Event {
    /// A task changed; `row` is its new, already persisted, state.
    Task {
        row: TaskRow,
        from: Option<TaskState>,
        attempt: Option<u32>,
        why: Option<String>,
    },
    /// An attempt's agent is up; views can show its screen.
    AgentStarted {
        task: String,
        attempt: u32,
        process: Arc<AgentProcess>,
    },
    Health(HealthView),
    /// The plan itself changed (a reload): the tasks now in it, in plan
    /// order, with their rows.
    PlanChanged {
        config: Box<crate::config::Config>,
        rows: Vec<TaskRow>,
    },
    /// The engine loop ended.
    Finished(RunOutcome),
}

#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tasks: Vec<TaskRow>,
    pub agents: Vec<(String, u32, Arc<AgentProcess>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub exit_code: i32,
    pub interrupted: bool,
    pub approval_gave_up: bool,
}
