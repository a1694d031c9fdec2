//! What the engine core decides should happen; the driver carries it out.
//!
//! The core never touches the store, a process, git or the clock: it
//! returns these, in order. The driver writes every [`Effect::Persist`] of
//! a round in one transaction before it publishes that round's events, and
//! before it starts any job or process that follows them, so a crash at any
//! point leaves the store describing something that really happened.

use std::path::PathBuf;
use std::time::Duration;

use crate::agent::sandbox::SandboxRequest;
use crate::engine::message::Event;
use crate::engine::state::TaskState;
use crate::git::{MergeRequest, Prepare};
use crate::store::{
    AddedTaskRow, ApprovalRow, AttemptRow, EventRow, MergeRow, MessageRow, SampleRow, TaskRow,
    WorktreeRow,
};

/// One row written to `state.db`.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Task(TaskRow),
    Attempt(AttemptRow),
    Approval(ApprovalRow),
    /// A state change in the append-only events table.
    StateEvent {
        row: TaskRow,
        from: Option<TaskState>,
        attempt: Option<u32>,
    },
    Event(EventRow),
    Sample(SampleRow),
    Worktree(WorktreeRow),
    Merge(MergeRow),
    /// The definition of a task added at run time.
    AddedTask(AddedTaskRow),
    /// A message as it now stands.
    Message(MessageRow),
}

/// Everything needed to start one attempt's agent.
#[derive(Debug, Clone, PartialEq)]
pub struct SpawnOrder {
    pub task: String,
    pub attempt: u32,
    pub command: Vec<String>,
    pub cwd: PathBuf,
    pub env: Vec<(String, String)>,
    pub log_path: PathBuf,
    /// Confine the agent's writes (its `sandbox` is not `none`).
    pub sandbox: Option<SandboxRequest>,
    /// How to read its screen: its kind's presets, its `waiting_patterns`
    /// and its `auto_answer` rules' patterns, in order.
    pub screen: ScreenPatterns,
}

/// What an agent's screen is read with: its kind's presets and its own
/// regexes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScreenPatterns {
    pub kind: crate::config::AgentKind,
    pub waiting: Vec<crate::config::Pattern>,
    pub auto_answer: Vec<crate::config::Pattern>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Persist(Write),
    Publish(Event),
    /// Create or reuse the task's worktree (a git job off the engine);
    /// reported back as `Input::WorktreeReady`.
    ///
    /// `prepare.known` is what the store says of it. When nothing is at
    /// the path yet the driver records the intent (`creating`) before the
    /// job starts, so a kill during the checkout leaves a worktree the
    /// next run knows it may make again.
    PrepareWorktree {
        attempt: u32,
        prepare: Prepare,
    },
    /// Start the agent; reported back as `Input::Spawned`, later
    /// `Input::AgentExited`.
    Spawn(SpawnOrder),
    /// Type into a running agent (an auto-answer).
    Type {
        task: String,
        attempt: u32,
        bytes: Vec<u8>,
    },
    /// Stop an agent's whole process tree: SIGTERM, SIGKILL after `grace`.
    Stop {
        task: String,
        attempt: u32,
        grace: Duration,
    },
    /// Commit what a finished agent left uncommitted (a git job); reported
    /// back as `Input::Committed`.
    Commit {
        task: String,
        attempt: u32,
        worktree: PathBuf,
        message: String,
    },
    /// Merge a done task's branch onto the base (a git job); reported back
    /// as `Input::Merged`.
    Merge(MergeRequest),
    /// Run one of the `[hooks]` (off the engine, with a timeout); reported
    /// back as `Input::HookDone`.
    RunHook {
        hook: &'static str,
        task: String,
        argv: Vec<String>,
        timeout: Duration,
    },
    /// Push `refspec` to `remote` (the git CLI, off the engine); reported
    /// back as `Input::Pushed`.
    Push {
        task: String,
        remote: String,
        refspec: String,
    },
    /// An agent a dead orch left running: kill it if it still works in
    /// `worktree` (a recycled pid belonging to something else is spared).
    KillLeftover {
        pid: u32,
        worktree: PathBuf,
    },
}
