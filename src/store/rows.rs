//! Plain records as stored in `state.db`.

use rusqlite::Row;
use serde::Serialize;

use crate::config::NewTask;
use crate::engine::state::TaskState;
use crate::git::StartMode;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub state: TaskState,
    /// Attempts started (the number of the latest attempt).
    pub attempts: u32,
    /// Attempts that failed: what the retry budget counts.
    pub failures: u32,
    pub cause: Option<String>,
    /// Unix ms at which a retrying task queues again.
    pub retry_at: Option<i64>,
    pub approved: bool,
    pub merge_state: MergeState,
    pub created_at: i64,
    pub updated_at: i64,
    /// Marked done by a user without (finishing) a run.
    pub skipped: bool,
    /// Why the merge is where it is: what it waits for, what conflicted.
    pub merge_note: Option<String>,
    /// Files that conflicted in the last merge attempt (or, for a resolve
    /// attempt, the ones it was asked to resolve).
    pub conflicts: Vec<String>,
    /// The merge commit on the base branch, once merged.
    pub merge_commit: Option<String>,
    /// The `before_merge` gate was passed.
    pub merge_approved: bool,
    /// An operator asked for the merge (`merge = "manual"`): keep trying
    /// until it lands or conflicts.
    pub merge_wanted: bool,
    /// How the next attempt's worktree starts.
    pub next_start: StartMode,
    /// What `push` had to send for this task has been pushed.
    pub pushed: bool,
    /// Where its definition comes from: [`ORIGIN_CONFIG`] (`orch.toml`) or
    /// [`ORIGIN_CLI`] (added at run time).
    pub origin: String,
    /// The task this one is a subtask of, if any.
    pub parent: Option<String>,
    /// The conversation its next attempt continues (its agent's last
    /// reported session), if its agent can resume one.
    pub session_id: Option<String>,
}

/// A task defined in `orch.toml`.
pub const ORIGIN_CONFIG: &str = "config";
/// A task added at run time from the command line (`orch task add`).
pub const ORIGIN_CLI: &str = "cli";

impl Serialize for StartMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for TaskState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl TaskRow {
    /// A task never seen before: pending, nothing run.
    pub fn pending(id: &str, title: &str, agent: &str, now: i64) -> TaskRow {
        TaskRow {
            id: id.to_string(),
            title: title.to_string(),
            agent: agent.to_string(),
            state: TaskState::Pending,
            attempts: 0,
            failures: 0,
            cause: None,
            retry_at: None,
            approved: false,
            merge_state: MergeState::Unmerged,
            created_at: now,
            updated_at: now,
            skipped: false,
            merge_note: None,
            conflicts: Vec::new(),
            merge_commit: None,
            merge_approved: false,
            merge_wanted: false,
            next_start: StartMode::Continue,
            pushed: false,
            origin: ORIGIN_CONFIG.to_string(),
            parent: None,
            session_id: None,
        }
    }

    pub(super) const COLUMNS: &'static str = "id, title, agent, state, attempts, failures, cause, \
        retry_at, approved, merge_state, created_at, updated_at, skipped, merge_note, conflicts, \
        merge_commit, merge_approved, merge_wanted, next_start, pushed, origin, parent, session_id";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<TaskRow, String>> {
        let state: String = r.get(3)?;
        let Ok(state) = state.parse::<TaskState>() else {
            return Ok(Err(format!("unknown task state {state:?}")));
        };
        let merge: String = r.get(9)?;
        let Some(merge_state) = MergeState::parse(&merge) else {
            return Ok(Err(format!("unknown merge state {merge:?}")));
        };
        let next: String = r.get(18)?;
        let Some(next_start) = StartMode::parse(&next) else {
            return Ok(Err(format!("unknown start mode {next:?}")));
        };
        let conflicts: Option<String> = r.get(14)?;
        Ok(Ok(TaskRow {
            id: r.get(0)?,
            title: r.get(1)?,
            agent: r.get(2)?,
            state,
            attempts: r.get(4)?,
            failures: r.get(5)?,
            cause: r.get(6)?,
            retry_at: r.get(7)?,
            approved: r.get(8)?,
            merge_state,
            created_at: r.get(10)?,
            updated_at: r.get(11)?,
            skipped: r.get(12)?,
            merge_note: r.get(13)?,
            conflicts: conflicts
                .map(|text| text.lines().map(str::to_string).collect())
                .unwrap_or_default(),
            merge_commit: r.get(15)?,
            merge_approved: r.get(16)?,
            merge_wanted: r.get(17)?,
            next_start,
            pushed: r.get(19)?,
            origin: r.get(20)?,
            parent: r.get(21)?,
            session_id: r.get(22)?,
        }))
    }
}

/// A task added at run time, as `added_tasks` keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddedTaskRow {
    pub task: NewTask,
    /// [`ORIGIN_CLI`].
    pub origin: String,
    /// Who added it, as [`crate::engine::message::Actor::as_stored`] writes it.
    pub added_by: String,
    pub added_at: i64,
}

impl AddedTaskRow {
    pub(super) const COLUMNS: &'static str =
        "id, agent, prompt, title, depends_on, origin, added_by, added_at, parent";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<AddedTaskRow, String>> {
        let depends_on: Option<String> = r.get(4)?;
        Ok(Ok(AddedTaskRow {
            task: NewTask {
                id: r.get(0)?,
                agent: r.get(1)?,
                prompt: r.get(2)?,
                title: r.get(3)?,
                depends_on: depends_on
                    .map(|text| text.lines().map(str::to_string).collect())
                    .unwrap_or_default(),
                parent: r.get(8)?,
            },
            origin: r.get(5)?,
            added_by: r.get(6)?,
            added_at: r.get(7)?,
        }))
    }
}

/// Declares a stored enum: its variants with their names in `state.db`,
/// `as_str`, `parse`, `Display` and serialisation as that name.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// What became of a done task's branch (DESIGN section 3).
    MergeState {
        /// Waiting for an operator (`merge = "manual"`).
        Unmerged => "unmerged",
        AwaitingApproval => "awaiting_approval",
        Waiting => "waiting",
        Merged => "merged",
        Conflict => "conflict",
        /// `merge = "never"`: the branch is the result.
        Never => "never",
    }
}

stored_enum! {
    /// An approval gate.
    Gate {
        BeforeStart => "before_start",
        BeforeMerge => "before_merge",
    }
}

stored_enum! {
    /// The decision taken at a gate.
    Verdict {
        Approved => "approved",
        Rejected => "rejected",
    }
}

stored_enum! {
    AttemptStatus {
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        /// orch stopped (Ctrl-C, crash) while the attempt ran; not a failure.
        Interrupted => "interrupted",
        Cancelled => "cancelled",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub task_id: String,
    pub attempt: u32,
    pub agent: String,
    pub status: AttemptStatus,
    pub started_at: i64,
    pub ended_at: Option<i64>,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cause: Option<String>,
    pub log_path: Option<String>,
    pub commit_id: Option<String>,
    /// The confinement its agent got (`crate::agent::sandbox::Level`, as
    /// text); `None` until the agent started.
    pub sandbox: Option<String>,
    /// Percent done (0-100), as its agent last said with `orch heartbeat`.
    pub progress: Option<u8>,
    /// Its agent's last note (`orch heartbeat --note`).
    pub note: Option<String>,
    /// What its agent is doing as orch last saw it (while it ran).
    pub activity: Option<ActivityRow>,
    /// The conversation its agent reported (Claude Code's session, Codex's
    /// thread), for the next attempt to resume.
    pub session_id: Option<String>,
    /// The conversation this attempt continued (`resume`), if it did.
    pub resumed: Option<String>,
}

/// What a running attempt's agent is doing: `busy`, `idle` (finished its
/// turn) or `waiting` (asked something), since when (unix ms), which
/// signal said so (`agent`, `os`, `screen`, `input`), what decided it (a
/// rule, a hook) and, when waiting, the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRow {
    pub state: String,
    pub since: i64,
    pub signal: Option<String>,
    pub detail: Option<String>,
    pub question: Option<String>,
}

impl AttemptRow {
    pub(super) const COLUMNS: &'static str = "task_id, attempt, agent, status, started_at, \
        ended_at, pid, exit_code, signal, cause, log_path, commit_id, sandbox, progress, note, \
        activity, activity_since, activity_signal, activity_detail, question, session_id, resumed";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<AttemptRow, String>> {
        let status: String = r.get(3)?;
        let Some(status) = AttemptStatus::parse(&status) else {
            return Ok(Err(format!("unknown attempt status {status:?}")));
        };
        Ok(Ok(AttemptRow {
            task_id: r.get(0)?,
            attempt: r.get(1)?,
            agent: r.get(2)?,
            status,
            started_at: r.get(4)?,
            ended_at: r.get(5)?,
            pid: r.get(6)?,
            exit_code: r.get(7)?,
            signal: r.get(8)?,
            cause: r.get(9)?,
            log_path: r.get(10)?,
            commit_id: r.get(11)?,
            sandbox: r.get(12)?,
            progress: r.get(13)?,
            note: r.get(14)?,
            activity: match (
                r.get::<_, Option<String>>(15)?,
                r.get::<_, Option<i64>>(16)?,
            ) {
                (Some(state), Some(since)) => Some(ActivityRow {
                    state,
                    since,
                    signal: r.get(17)?,
                    detail: r.get(18)?,
                    question: r.get(19)?,
                }),
                _ => None,
            },
            session_id: r.get(20)?,
            resumed: r.get(21)?,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRow {
    pub task_id: String,
    pub gate: Gate,
    pub decision: Verdict,
    /// Who decided, as [`crate::engine::message::Actor::as_stored`] writes it.
    pub by: String,
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub run_id: Option<i64>,
    pub task_id: Option<String>,
    pub attempt: Option<u32>,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: Option<String>,
    pub cause: Option<String>,
}

impl EventRow {
    pub(super) const COLUMNS: &'static str =
        "seq, at, run_id, task_id, attempt, kind, from_state, to_state, cause";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<EventRow, String>> {
        Ok(Ok(EventRow {
            seq: r.get(0)?,
            at: r.get(1)?,
            run_id: r.get(2)?,
            task_id: r.get(3)?,
            attempt: r.get(4)?,
            kind: r.get(5)?,
            from_state: r.get(6)?,
            to_state: r.get(7)?,
            cause: r.get(8)?,
        }))
    }
}

stored_enum! {
    /// Where a message is on its way to its task's agent.
    MessageState {
        /// Kept for its task; no agent of it has polled it yet.
        Pending => "pending",
        /// Handed to an agent's `orch msg poll`, not confirmed yet: handed
        /// out again by the next poll (of this attempt or a later one).
        Delivered => "delivered",
        /// The agent's `orch msg poll` printed it; never handed out again.
        Acknowledged => "acknowledged",
    }
}

/// A message for a task's agent (`orch msg send --to TASK`), from another
/// task's agent or from a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MessageRow {
    pub id: i64,
    /// The task whose agent it is for.
    pub to_task: String,
    /// Who sent it, as [`crate::engine::message::Actor::as_stored`] writes it.
    pub sender: String,
    /// The sending agent's task and attempt; `None` from a person.
    pub from_task: Option<String>,
    pub from_attempt: Option<u32>,
    pub text: String,
    pub sent_at: i64,
    pub state: MessageState,
    /// When, and to which attempt, it was last handed out.
    pub delivered_at: Option<i64>,
    pub delivered_attempt: Option<u32>,
    pub acked_at: Option<i64>,
}

impl MessageRow {
    /// Who sent it, as every view says it: `task ID` for an agent, `user
    /// NAME` for a person, so neither can pass for the other.
    pub fn from_label(&self) -> String {
        match &self.from_task {
            Some(task) => format!("task {task}"),
            None => format!("user {}", self.sender),
        }
    }

    pub(super) const COLUMNS: &'static str = "id, task_id, sender, from_task, from_attempt, \
        body, at, state, delivered_at, delivered_attempt, read_at";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<MessageRow, String>> {
        let state: String = r.get(7)?;
        let Some(state) = MessageState::parse(&state) else {
            return Ok(Err(format!("unknown message state {state:?}")));
        };
        Ok(Ok(MessageRow {
            id: r.get(0)?,
            to_task: r.get(1)?,
            sender: r.get(2)?,
            from_task: r.get(3)?,
            from_attempt: r.get(4)?,
            text: r.get(5)?,
            sent_at: r.get(6)?,
            state,
            delivered_at: r.get(8)?,
            delivered_attempt: r.get(9)?,
            acked_at: r.get(10)?,
        }))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleRow {
    pub task_id: String,
    pub attempt: u32,
    pub at: i64,
    pub cpu: f64,
    pub rss: u64,
    pub procs: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorktreeRow {
    pub task_id: String,
    pub path: String,
    pub branch: String,
    pub created_at: i64,
    pub removed_at: Option<i64>,
    pub state: WorktreeState,
}

impl WorktreeRow {
    /// The intent to create a task's worktree at `path`, recorded before
    /// anything is made on disk.
    pub fn creating(task_id: &str, path: &str, branch: &str, now: i64) -> WorktreeRow {
        WorktreeRow {
            task_id: task_id.to_string(),
            path: path.to_string(),
            branch: branch.to_string(),
            created_at: now,
            removed_at: None,
            state: WorktreeState::Creating,
        }
    }

    /// A complete worktree, ready for agents.
    pub fn ready(task_id: &str, path: &str, branch: &str, now: i64) -> WorktreeRow {
        WorktreeRow {
            state: WorktreeState::Ready,
            ..WorktreeRow::creating(task_id, path, branch, now)
        }
    }

    pub(super) const COLUMNS: &'static str = "task_id, path, branch, created_at, removed_at, state";

    pub(super) fn from_row(r: &Row<'_>) -> rusqlite::Result<Result<WorktreeRow, String>> {
        let state: String = r.get(5)?;
        let Some(state) = WorktreeState::parse(&state) else {
            return Ok(Err(format!("unknown worktree state {state:?}")));
        };
        Ok(Ok(WorktreeRow {
            task_id: r.get(0)?,
            path: r.get(1)?,
            branch: r.get(2)?,
            created_at: r.get(3)?,
            removed_at: r.get(4)?,
            state,
        }))
    }
}

/// Where a recorded worktree is in its making.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorktreeState {
    /// Recorded, and being made: a kill may have left it half-made. No
    /// agent is started in it before it is `Ready`.
    Creating,
    /// Complete; agents have worked (or may work) in it.
    Ready,
}

impl WorktreeState {
    pub fn as_str(self) -> &'static str {
        match self {
            WorktreeState::Creating => "creating",
            WorktreeState::Ready => "ready",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [WorktreeState::Creating, WorktreeState::Ready]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

/// One merge attempt, in the `merges` history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MergeRow {
    pub task_id: String,
    pub at: i64,
    pub base: String,
    /// merged | already_merged | conflict | local_changes | failed
    pub outcome: String,
    pub commit_id: Option<String>,
    pub files: Vec<String>,
    /// Who asked: a user, or `policy` for `merge = "auto"`.
    pub by: String,
    pub detail: Option<String>,
}
