//! An attempt's end. The exit is recorded at once, whatever git is doing: a
//! failure goes through the retry policy; a success is recorded as such and
//! its leftover changes are committed by a job, after which the task is
//! done (a crash in between redoes the commit, never the agent).

use crate::agent::pty::AgentExit;
use crate::config::format_duration;
use crate::engine::core::{Core, CoreError, Phase, StopReason};
use crate::engine::effect::{Effect, Write};
use crate::engine::policy::{self, AfterFailure};
use crate::engine::state::TaskState;
use crate::store::{AttemptRow, AttemptStatus};

impl Core {
    pub(super) fn on_exit(
        &mut self,
        id: &str,
        attempt: u32,
        exit: AgentExit,
    ) -> Result<(), CoreError> {
        let Some(live) = self.live.take(id, attempt, Phase::Running) else {
            return Ok(());
        };
        let mut row = live.row.clone();
        row.ended_at = Some(self.now.wall_ms);
        match exit {
            AgentExit::Code(code) => row.exit_code = Some(code),
            AgentExit::Signal(signal) => row.signal = Some(signal),
        }
        match live.stop {
            Some(stop @ (StopReason::Shutdown | StopReason::Cancelled)) => {
                self.end_stopped(id, row, stop)
            }
            Some(StopReason::Timeout(limit)) => {
                let cause = format!("timed out after {}", format_duration(limit));
                self.fail_attempt(id, row, cause, true)
            }
            Some(StopReason::Stalled(limit)) => {
                let cause = format!("stalled: no output for {}", format_duration(limit));
                self.fail_attempt(id, row, cause, true)
            }
            Some(StopReason::NoAnswer { question, limit }) => {
                let cause = Core::no_answer_cause(&question, limit);
                self.fail_attempt(id, row, cause, true)
            }
            None if exit.success() => {
                row.status = AttemptStatus::Succeeded;
                self.persist(Write::Attempt(row.clone()));
                let worktree = live
                    .worktree
                    .clone()
                    .unwrap_or_else(|| self.paths.worktree(id));
                self.out.push(Effect::Commit {
                    task: id.to_string(),
                    attempt,
                    worktree: worktree.clone(),
                    message: self.commit_message(id, attempt),
                });
                let mut live = live;
                live.row = row;
                live.phase = Phase::Committing;
                live.stop = None;
                self.live.insert(id, live);
                Ok(())
            }
            None => self.fail_attempt(id, row, exit_cause(exit), true),
        }
    }

    pub(super) fn on_committed(
        &mut self,
        id: &str,
        attempt: u32,
        result: Result<Option<String>, String>,
    ) -> Result<(), CoreError> {
        let Some(live) = self.live.take(id, attempt, Phase::Committing) else {
            return Ok(());
        };
        let mut row = live.row;
        match result {
            // Cancelled while its leftovers were committed: the agent's work
            // stays on its branch, the task ends as the user asked.
            Ok(commit) if live.stop == Some(StopReason::Cancelled) => {
                row.commit_id = commit;
                self.transition(
                    id,
                    TaskState::Cancelled,
                    Some("cancelled by user".into()),
                    Some(attempt),
                    |_| {},
                    vec![Write::Attempt(row)],
                )
            }
            Ok(commit) => {
                row.status = AttemptStatus::Succeeded;
                row.commit_id = commit;
                if let Some((state, why)) = self.after_parent_success(id, &live.merged_children) {
                    // Its subtasks' work is not in it yet: it waits for
                    // them, or runs again at once to take it in.
                    return self.transition(
                        id,
                        state,
                        Some(why),
                        Some(attempt),
                        |_| {},
                        vec![Write::Attempt(row)],
                    );
                }
                self.transition(
                    id,
                    TaskState::Done,
                    None,
                    Some(attempt),
                    |t| t.cause = None,
                    vec![Write::Attempt(row)],
                )
            }
            Err(err) => {
                let cause =
                    format!("agent succeeded but its changes could not be committed: {err}");
                self.fail_attempt(id, row, cause, false)
            }
        }
    }

    pub(super) fn commit_message(&self, id: &str, attempt: u32) -> String {
        // A resolve attempt's commit completes the merge of the base.
        if let Some(row) = self
            .tasks
            .get(id)
            .filter(|t| t.next_start == crate::git::StartMode::Resolve)
        {
            return format!(
                "orch: merge {base} into orch/{id} (task {id}, attempt {attempt})\n\n\
                 The agent resolved the conflicts in: {}.",
                row.conflicts.join(", "),
                base = self.base_branch
            );
        }
        format!(
            "orch: {} (task {id}, attempt {attempt})\n\nChanges the agent left uncommitted when it finished.",
            self.defs.task(id).map_or(id, |t| t.title.as_str())
        )
    }

    /// Record a failed attempt and apply the retry policy.
    pub(super) fn fail_attempt(
        &mut self,
        id: &str,
        mut row: AttemptRow,
        cause: String,
        retryable: bool,
    ) -> Result<(), CoreError> {
        let attempt = row.attempt;
        row.status = AttemptStatus::Failed;
        row.ended_at.get_or_insert(self.now.wall_ms);
        row.cause = Some(cause.clone());
        let Some(task) = self.defs.task(id) else {
            return Ok(());
        };
        let policy = task.policy.clone();
        let failures = self.tasks.get(id).map_or(0, |t| t.failures) + 1;
        match policy::after_failure(failures, policy.retries, retryable) {
            AfterFailure::Retry => {
                let jitter = self.next_jitter();
                let delay = policy::backoff_delay(&policy, failures, jitter);
                let retry_at =
                    self.now.wall_ms + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                let why = format!(
                    "attempt {attempt} failed: {cause}; retry in {}",
                    crate::timefmt::short_duration(delay)
                );
                self.transition(
                    id,
                    TaskState::Retrying,
                    Some(why),
                    Some(attempt),
                    |t| {
                        t.failures = failures;
                        t.retry_at = Some(retry_at);
                        t.cause = Some(cause);
                    },
                    vec![Write::Attempt(row)],
                )
            }
            AfterFailure::NeedsReview => {
                let why = if retryable {
                    format!(
                        "{cause} (failed {failures} of {} allowed)",
                        policy.retries + 1
                    )
                } else {
                    cause
                };
                self.transition(
                    id,
                    TaskState::NeedsReview,
                    Some(why.clone()),
                    Some(attempt),
                    |t| {
                        t.failures = failures;
                        t.cause = Some(why);
                    },
                    vec![Write::Attempt(row)],
                )
            }
        }
    }
}

/// The cause of a failed exit. Shells report a child killed by signal n as
/// exit code 128+n; say so, because "exit code 139" alone hides a segfault.
fn exit_cause(exit: AgentExit) -> String {
    match exit {
        AgentExit::Code(code) if (129..=128 + 64).contains(&code) => format!(
            "exit code {code} (128+{n}: a process it ran was {})",
            AgentExit::Signal(code - 128),
            n = code - 128
        ),
        other => other.to_string(),
    }
}
