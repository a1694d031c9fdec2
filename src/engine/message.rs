//! What crosses the engine's boundary, as plain data.
//!
//! - [`Request`]: what someone outside asks for (a user in the control
//!   room, a flag, later a client on the socket), always with its [`Actor`].
//! - [`Input`]: what the engine's own machinery reports (an agent exited, a
//!   round of health samples, a git job finished, time passed).
//! - [`Event`]: what the engine tells the world, published only after the
//!   change is in the store.
//!
//! None of these hold a process handle or a reply channel, so each can be
//! copied, logged and (later) sent over a socket. Running agents' terminals
//! are found in the [`crate::agent::backend::AgentRegistry`] beside the
//! events.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::agent::backend::Started;
use crate::agent::pty::AgentExit;
use crate::engine::policy::Level;
use crate::engine::state::TaskState;
use crate::git::{MergeOutcome, Worktree};
use crate::store::{ActivityRow, MessageRow, TaskRow};

pub use crate::config::NewTask;

/// Who asked for something. Recorded with every decision, and the only
/// thing logic looks at to tell a human from a flag or a timer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A person at a control room or the command line (their login name).
    User(String),
    /// An agent, acting for the task it runs.
    Agent(String),
    /// A command-line flag, such as `--approve-all`.
    Flag(&'static str),
    /// The approval timeout.
    Timeout,
}

impl Actor {
    /// The person running this orch (`$USER`, else "user").
    pub fn current_user() -> Actor {
        Actor::User(std::env::var("USER").unwrap_or_else(|_| "user".into()))
    }

    /// The form stored in `state.db` (`approvals.by`).
    pub fn as_stored(&self) -> String {
        self.to_string()
    }

    /// Read back what [`Actor::as_stored`] wrote. Anything else is a
    /// person's name.
    pub fn from_stored(s: &str) -> Actor {
        match s {
            "timeout" => Actor::Timeout,
            "--approve-all" => Actor::Flag("--approve-all"),
            _ => match s.strip_prefix("agent ") {
                Some(task) => Actor::Agent(task.to_string()),
                None => Actor::User(s.to_string()),
            },
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(name) => f.write_str(name),
            Actor::Agent(task) => write!(f, "agent {task}"),
            Actor::Flag(flag) => f.write_str(flag),
            Actor::Timeout => f.write_str("timeout"),
        }
    }
}

/// Why a request was refused.
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
    /// The task is where the action needs it, but something else says no.
    #[error("{0}")]
    Refused(String),
    /// A task of that id is in the plan already (from `orch.toml` or added
    /// earlier): nothing was changed and nothing runs twice. Not a failure
    /// for whoever asked to add it.
    #[error("task {task:?} already exists; it is {state}")]
    AlreadyExists { task: String, state: TaskState },
    #[error("cannot save the change: {0}")]
    Store(String),
    #[error("orch is shutting down")]
    ShuttingDown,
}

/// What someone outside the engine asks it to do.
#[derive(Debug, Clone)]
pub enum Request {
    Approve {
        task: String,
        reason: Option<String>,
    },
    Reject {
        task: String,
        reason: Option<String>,
    },
    /// Run a needs_review / rejected / retrying task again. `fresh` keeps
    /// its old branch under a backup name and starts anew from the base
    /// (allowed for a done task that is not merged, too).
    Retry { task: String, fresh: bool },
    /// Stop (if running) and mark cancelled; final.
    Cancel { task: String },
    /// Merge a done task's branch onto the base branch.
    Merge { task: String },
    /// Hand a merge conflict back to the task's agent: a new attempt with
    /// the base merged in and the conflict markers in place.
    Resolve { task: String },
    /// Mark done without running; recorded with the reason.
    Skip {
        task: String,
        reason: Option<String>,
    },
    /// Add a task to the running plan (`orch task add`), kept in the store
    /// so a restart or a reload of `orch.toml` keeps it. An id already in
    /// the plan answers [`ActionError::AlreadyExists`] with its state.
    AddTask(NewTask),
    /// `orch.toml` changed and is valid: new tasks join the plan, tasks that
    /// have not started take their new definition, limits and agents apply
    /// to the next launches.
    Reload { config: Box<crate::config::Config> },
    /// Stop the run. With `stop_agents`, running agents are stopped and their
    /// attempts recorded as interrupted (the next run resumes them).
    Shutdown { stop_agents: bool },
    /// A running agent's sign of life (`orch heartbeat`), for the attempt
    /// the socket found it to be (never one it named): counts as heard,
    /// like output, and sets its progress (0-100) and note when given (an
    /// empty note clears it). Refused unless that attempt's agent runs.
    Heartbeat {
        task: String,
        attempt: u32,
        progress: Option<u8>,
        note: Option<String>,
        /// What it says it is doing (`--waiting`, `--idle`, `--busy`, or
        /// its hooks), when it says.
        activity: Option<crate::agent::waiting::Seen>,
        /// The conversation it is in (its hooks report it), to resume.
        session_id: Option<String>,
    },
    /// Something an agent tried and was refused (approving, attaching, a
    /// token that is not its own): recorded as a `security` event, shown.
    Security {
        task: Option<String>,
        attempt: Option<u32>,
        cause: String,
    },
    /// A message for `to`'s agent (`orch msg send`), from the actor: kept
    /// `pending` until an agent of `to` polls it, however long that takes
    /// (a restart of orch included). `from_attempt` is the sending agent's
    /// attempt. Answered [`Answer::Sent`]; refused when `to` is unknown,
    /// the text is not [`check_message`]'s, or `to` already has
    /// [`UNREAD_MAX`] messages it has not acknowledged.
    SendMessage {
        to: String,
        text: String,
        from_attempt: Option<u32>,
    },
    /// Hand the running attempt's agent, for its poll `poll`, the messages
    /// for its task that it has not acknowledged and no other poll holds,
    /// oldest first, a batch at most [`DELIVERY_MAX`] long: pending ones
    /// become `delivered` (to this attempt); delivered ones not
    /// acknowledged are handed out again. The poll holds them until it
    /// acknowledges or releases them. Counts as a sign of life. Answered
    /// [`Answer::Messages`].
    TakeMessages {
        task: String,
        attempt: u32,
        poll: u64,
    },
    /// The agent printed these (handed to this attempt): `acknowledged`,
    /// never handed out again. Ids that are not such are left alone.
    /// Answered [`Answer::Acknowledged`] with how many were.
    AckMessages {
        task: String,
        attempt: u32,
        ids: Vec<i64>,
    },
    /// Poll `poll` ended without acknowledging what it holds: another
    /// poll may have them.
    ReleaseMessages { task: String, poll: u64 },
}

/// What the engine answers a request with, besides "done".
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Done,
    /// A message was kept for its task (see [`Request::SendMessage`]).
    Sent {
        id: i64,
        /// Where its task stands, and whether an agent of it runs now.
        to_state: TaskState,
        running: bool,
    },
    /// Messages handed out, and how many more wait behind them.
    Messages {
        messages: Vec<MessageRow>,
        remaining: usize,
    },
    /// How many messages were acknowledged.
    Acknowledged(usize),
}

/// Messages a task may have that its agent has not acknowledged; beyond
/// this, sending it more is refused until it reads them.
pub const UNREAD_MAX: usize = 100;

/// The longest message, in bytes of UTF-8.
pub const MESSAGE_MAX: usize = 4096;

/// Messages one poll hands out at most (the rest wait for the next round
/// of the same poll): with [`MESSAGE_MAX`], well inside a frame.
pub const DELIVERY_MAX: usize = 32;

/// A message's text as it is kept: not empty, at most [`MESSAGE_MAX`]
/// bytes, lines and tabs allowed but no other control characters (an
/// escape sequence would reach the terminal of whoever reads it).
pub fn check_message(text: &str) -> Result<String, ActionError> {
    let text = text.replace("\r\n", "\n");
    let text = text.trim_end_matches(['\n', '\r']);
    if text.trim().is_empty() {
        return Err(ActionError::Refused("a message needs some text".into()));
    }
    if text.len() > MESSAGE_MAX {
        return Err(ActionError::Refused(format!(
            "a message is at most {MESSAGE_MAX} bytes (this one is {})",
            text.len()
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ActionError::Refused(
            "a message is text: lines and tabs, no other control characters".into(),
        ));
    }
    Ok(text.to_string())
}

/// A message's text on one line, cut to `max` characters, for event
/// causes and flashes.
pub fn message_preview(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\t' { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

impl Request {
    /// The task a request is about, if any.
    pub fn task(&self) -> Option<&str> {
        match self {
            Request::Approve { task, .. }
            | Request::Reject { task, .. }
            | Request::Retry { task, .. }
            | Request::Cancel { task }
            | Request::Merge { task }
            | Request::Resolve { task }
            | Request::Skip { task, .. } => Some(task),
            Request::AddTask(new) => Some(&new.id),
            Request::Heartbeat { task, .. } => Some(task),
            Request::Security { task, .. } => task.as_deref(),
            Request::SendMessage { to, .. } => Some(to),
            Request::TakeMessages { task, .. }
            | Request::AckMessages { task, .. }
            | Request::ReleaseMessages { task, .. } => Some(task),
            Request::Reload { .. } | Request::Shutdown { .. } => None,
        }
    }
}

/// What the engine's own machinery reports back: internal, never from a
/// client.
#[derive(Debug, Clone)]
pub enum Input {
    /// An agent's process tree is gone and its output fully read.
    AgentExited {
        task: String,
        attempt: u32,
        exit: AgentExit,
    },
    /// One round of health samples, one per running agent's process tree,
    /// with each agent's last sign of life.
    Health {
        samples: Vec<HealthSample>,
        heard: Vec<Heard>,
    },
    /// Time passed; the last sign of life of each running agent. Timeouts,
    /// stalls, backoffs and approval timeouts are decided here.
    Tick { heard: Vec<Heard> },
    /// A worktree job finished.
    WorktreeReady {
        task: String,
        attempt: u32,
        result: Result<Worktree, String>,
    },
    /// An agent was spawned (its pid and sandbox) or could not be.
    Spawned {
        task: String,
        attempt: u32,
        result: Result<Started, SpawnFailure>,
    },
    /// The commit of a finished attempt's leftover changes finished.
    Committed {
        task: String,
        attempt: u32,
        result: Result<Option<String>, String>,
    },
    /// A merge job finished.
    Merged {
        task: String,
        result: Result<MergeOutcome, String>,
    },
    /// A hook finished (or was killed at its timeout).
    HookDone {
        hook: &'static str,
        task: String,
        summary: String,
    },
    /// A push finished.
    Pushed {
        task: String,
        what: String,
        result: Result<(), String>,
    },
    /// What the screen or the operating system (or input typed) says of a
    /// running agent: `seen` `None` withdraws that signal's last word.
    /// `auto_answer` is the agent's rule whose pattern the screen matched.
    Observed {
        task: String,
        attempt: u32,
        signal: crate::agent::waiting::Signal,
        seen: Option<crate::agent::waiting::Seen>,
        detail: String,
        auto_answer: Option<usize>,
    },
}

/// Why a spawn failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnFailure {
    pub cause: String,
    pub retryable: bool,
}

/// An agent's last sign of life (output or a file change), as the backend
/// saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heard {
    pub task: String,
    pub attempt: u32,
    pub at: Option<Instant>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq)]
pub struct HealthView {
    pub sample: HealthSample,
    pub heartbeat_age: Duration,
    pub heartbeat: Level,
    pub cpu: Level,
}

/// Everything the engine tells its views.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A task changed; `row` is its new, already persisted, state.
    Task {
        row: TaskRow,
        from: Option<TaskState>,
        attempt: Option<u32>,
        why: Option<String>,
    },
    /// An attempt's agent is up; its terminal is in the agent registry.
    /// `agent` is the one that runs (a fallback where the configured one
    /// is not installed).
    AgentStarted {
        task: String,
        attempt: u32,
        agent: String,
    },
    Health(HealthView),
    /// A done task's merge state changed (`why` says how).
    Merge {
        row: TaskRow,
        why: String,
    },
    /// Something worth a line in the progress and the event log that is
    /// not a state change: a hook's result, a push, a kept branch.
    Note {
        task: String,
        text: String,
    },
    /// A running attempt's progress or note changed (`orch heartbeat`).
    Progress(Progress),
    /// What a running attempt's agent is doing changed (busy, idle,
    /// waiting with its question), or a mark that stood long enough asks
    /// the views to notify (`notify`).
    Attention(Attention),
    /// An agent tried what agents may not (see `control::identity`);
    /// recorded in the events table as kind `security`.
    Security {
        task: Option<String>,
        text: String,
    },
    /// A message changed: sent (`pending`), handed out (`delivered`) or
    /// read (`acknowledged`); `row` is as stored.
    Message(MessageRow),
    /// The plan itself changed (a reload, a task added): its config and
    /// the tasks now in it, in plan order, with their rows.
    /// [`crate::engine::EngineHandle::plan`] has it before this is heard.
    PlanChanged {
        config: Box<crate::config::Config>,
        rows: Vec<TaskRow>,
    },
    /// The engine loop ended.
    Finished(RunOutcome),
}

/// The longest note `orch heartbeat --note` may give, in characters.
pub const NOTE_MAX: usize = 200;

/// A heartbeat's note as it is kept: at most [`NOTE_MAX`] characters, on
/// one line, control characters (an escape sequence would reach every
/// terminal that shows it) refused.
pub fn check_note(note: &str) -> Result<String, ActionError> {
    if note.chars().count() > NOTE_MAX {
        return Err(ActionError::Refused(format!(
            "a note is at most {NOTE_MAX} characters"
        )));
    }
    if note.chars().any(char::is_control) {
        return Err(ActionError::Refused(
            "a note is one line of text, without control characters".into(),
        ));
    }
    Ok(note.trim().to_string())
}

/// What a running attempt's agent last said of its progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub task: String,
    pub attempt: u32,
    /// Percent done, 0-100.
    pub progress: Option<u8>,
    pub note: Option<String>,
}

impl Progress {
    /// As the views show it: `42% parsing the schema`.
    pub fn text(&self) -> String {
        progress_text(self.progress, self.note.as_deref())
    }
}

/// A progress and a note as one piece of text (`42% parsing`, `42%`,
/// `parsing`, or empty).
pub fn progress_text(progress: Option<u8>, note: Option<&str>) -> String {
    match (progress, note) {
        (Some(p), Some(note)) => format!("{p}% {note}"),
        (Some(p), None) => format!("{p}%"),
        (None, Some(note)) => note.to_string(),
        (None, None) => String::new(),
    }
}

/// Every task as it stands, for a view that just (re)subscribed.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub tasks: Vec<TaskRow>,
    /// Running agents: task and attempt (their terminals are in the registry).
    pub agents: Vec<(String, u32)>,
    /// The agent each running attempt runs, by task: a fallback where the
    /// configured one is not installed (what `Event::AgentStarted` said).
    pub ran: Vec<(String, String)>,
    /// What running attempts' agents said of their progress.
    pub progress: Vec<Progress>,
    /// Running attempts whose agents need someone (idle or waiting).
    pub attention: Vec<Attention>,
}

/// A running attempt's agent's activity as the views show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attention {
    pub task: String,
    pub attempt: u32,
    pub activity: ActivityRow,
    /// Ring: the mark has stood long enough, and this task has not rung
    /// lately.
    pub notify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunOutcome {
    pub exit_code: i32,
    pub interrupted: bool,
    pub approval_gave_up: bool,
}

/// Where a task's worktree lives and the attempt's log goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn worktree(&self, task: &str) -> PathBuf {
        self.state_dir.join("worktrees").join(task)
    }

    pub fn log(&self, task: &str, attempt: u32) -> PathBuf {
        self.state_dir
            .join("logs")
            .join(task)
            .join(format!("{attempt}.log"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_the_store() {
        for actor in [
            Actor::User("alice".into()),
            Actor::Agent("build".into()),
            Actor::Flag("--approve-all"),
            Actor::Timeout,
        ] {
            assert_eq!(Actor::from_stored(&actor.as_stored()), actor);
        }
        assert_eq!(Actor::from_stored("bob"), Actor::User("bob".into()));
    }
}
