//! What users and flags ask for: approve, reject, retry, cancel, skip.
//! Each is checked against the task's state first; a refusal changes
//! nothing and says why.

use crate::engine::core::{Core, CoreError, Phase, StopReason};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{ActionError, Actor};
use crate::engine::state::TaskState;
use crate::store::{Gate, MergeState, Verdict};

/// A refusal, or a decision the core could not make.
type Outcome = Result<Result<(), ActionError>, CoreError>;

impl Core {
    fn require(
        &self,
        id: &str,
        action: &'static str,
        wanted: &'static str,
        ok: impl Fn(TaskState) -> bool,
    ) -> Result<TaskState, ActionError> {
        let state = self
            .tasks
            .get(id)
            .map(|t| t.state)
            .ok_or_else(|| ActionError::UnknownTask(id.to_string()))?;
        if ok(state) {
            Ok(state)
        } else {
            Err(ActionError::WrongState {
                task: id.to_string(),
                state,
                action,
                wanted,
            })
        }
    }

    /// Is `id` done with its merge waiting at the `before_merge` gate?
    pub(super) fn at_merge_gate(&self, id: &str) -> bool {
        self.tasks.get(id).is_some_and(|t| {
            t.state == TaskState::Done && t.merge_state == MergeState::AwaitingApproval
        })
    }

    pub(super) fn approve(&mut self, id: &str, by: Actor, reason: Option<String>) -> Outcome {
        if self.at_merge_gate(id) {
            self.record_merge_approval(id, by, reason);
            return Ok(Ok(()));
        }
        if let Err(err) = self.require(id, "approve", "awaiting_approval", |s| {
            s == TaskState::AwaitingApproval
        }) {
            return Ok(Err(err));
        }
        self.record_approval(id, by, reason).map(Ok)
    }

    pub(super) fn record_approval(
        &mut self,
        id: &str,
        by: Actor,
        reason: Option<String>,
    ) -> Result<(), CoreError> {
        let why = Some(match &reason {
            Some(reason) => format!("approved by {by}: {reason}"),
            None => format!("approved by {by}"),
        });
        let approval = self.approval_row(id, Gate::BeforeStart, Verdict::Approved, &by, reason);
        self.transition(
            id,
            TaskState::Queued,
            why,
            None,
            |t| t.approved = true,
            vec![Write::Approval(approval)],
        )
    }

    pub(super) fn reject(&mut self, id: &str, by: Actor, reason: Option<String>) -> Outcome {
        if self.at_merge_gate(id) {
            return self.record_merge_rejection(id, by, reason).map(Ok);
        }
        if let Err(err) = self.require(id, "reject", "awaiting_approval", |s| {
            s == TaskState::AwaitingApproval
        }) {
            return Ok(Err(err));
        }
        self.record_rejection(id, by, reason).map(Ok)
    }

    pub(super) fn record_rejection(
        &mut self,
        id: &str,
        by: Actor,
        reason: Option<String>,
    ) -> Result<(), CoreError> {
        let reason = reason.unwrap_or_else(|| "no reason given".into());
        let why = match by {
            // Not a person's decision: the reason says it all.
            Actor::Timeout => reason.clone(),
            _ => format!("rejected by {by}: {reason}"),
        };
        let approval =
            self.approval_row(id, Gate::BeforeStart, Verdict::Rejected, &by, Some(reason));
        self.transition(
            id,
            TaskState::Rejected,
            Some(why),
            None,
            |_| {},
            vec![Write::Approval(approval)],
        )
    }

    pub(super) fn retry(&mut self, id: &str, fresh: bool, by: &Actor) -> Outcome {
        let wanted = if fresh {
            "needs_review, rejected, retrying or done (not merged)"
        } else {
            "needs_review, rejected or retrying"
        };
        let before = match self.require(id, "retry", wanted, |s| {
            matches!(
                s,
                TaskState::NeedsReview | TaskState::Rejected | TaskState::Retrying
            ) || (fresh && s == TaskState::Done)
        }) {
            Ok(state) => state,
            Err(err) => return Ok(Err(err)),
        };
        if before == TaskState::Done {
            if let Err(why) = self.done_row(id, "retry") {
                return Ok(Err(ActionError::Refused(why)));
            }
            let merged = self
                .tasks
                .get(id)
                .is_some_and(|t| t.merge_state == MergeState::Merged);
            if merged || self.merging.as_deref() == Some(id) {
                return Ok(Err(ActionError::Refused(format!(
                    "task {id} is {} onto {}: its work is part of the base",
                    if merged { "merged" } else { "being merged" },
                    self.base_branch
                ))));
            }
        }
        // Work built on the branch a fresh start sets aside starts over too.
        let restart = if fresh {
            match self.built_on(id) {
                Ok(ids) => ids,
                Err(why) => return Ok(Err(ActionError::Refused(why))),
            }
        } else {
            Vec::new()
        };
        // A human retry grants a fresh retry budget; a rejected task asks
        // for approval again.
        let why = Some(if fresh {
            format!("fresh retry requested by {by}: the old branch is kept under a backup name")
        } else {
            "retry requested by user".to_string()
        });
        self.transition(
            id,
            TaskState::Queued,
            why,
            None,
            |t| {
                t.failures = 0;
                if before == TaskState::Rejected {
                    t.approved = false;
                }
                if fresh {
                    t.next_start = crate::git::StartMode::Fresh;
                    t.merge_state = MergeState::Unmerged;
                    t.merge_note = None;
                    t.merge_approved = false;
                    t.merge_wanted = false;
                    t.conflicts.clear();
                    t.pushed = false;
                }
            },
            vec![],
        )?;
        if self.gated(id) {
            self.make_ready(id)?;
        }
        self.restart_fresh(&restart, id)?;
        Ok(Ok(()))
    }

    /// The tasks that started from `id`'s work, directly or through others
    /// (they hold it in their branches), or why they cannot start over: one
    /// is running or merged.
    pub(super) fn built_on(&self, id: &str) -> Result<Vec<String>, String> {
        let mut found: Vec<String> = Vec::new();
        let mut todo: Vec<String> = self.defs.plan().dependents(id).to_vec();
        while let Some(next) = todo.pop() {
            if found.contains(&next) {
                continue;
            }
            let Some(row) = self.tasks.get(&next) else {
                continue;
            };
            if row.attempts == 0 || row.skipped || row.state == TaskState::Cancelled {
                continue;
            }
            if self.live.get(next.as_str()).is_some() {
                return Err(format!(
                    "{next} runs on {id}'s work: cancel it or wait until it ends"
                ));
            }
            if row.merge_state == MergeState::Merged && row.state == TaskState::Done {
                return Err(format!(
                    "{next} holds {id}'s work and is merged onto {}: it cannot start over",
                    self.base_branch
                ));
            }
            todo.extend(self.defs.plan().dependents(&next).iter().cloned());
            found.push(next);
        }
        Ok(found)
    }

    /// Send `ids` (tasks built on `cause`'s work) back to a fresh start:
    /// their branches are kept under backup names when they start again.
    pub(super) fn restart_fresh(&mut self, ids: &[String], cause: &str) -> Result<(), CoreError> {
        for id in ids {
            let Some(state) = self.tasks.state(id) else {
                continue;
            };
            let reset = |t: &mut crate::store::TaskRow| {
                t.next_start = crate::git::StartMode::Fresh;
                t.failures = 0;
                t.merge_state = MergeState::Unmerged;
                t.merge_note = None;
                t.merge_approved = false;
                t.merge_wanted = false;
                t.conflicts.clear();
                t.pushed = false;
            };
            if matches!(state, TaskState::Pending | TaskState::Queued) {
                if let Some(mut row) = self.tasks.get(id).cloned() {
                    reset(&mut row);
                    self.persist(Write::Task(row.clone()));
                    self.tasks.put(row);
                }
                continue;
            }
            if !state.can_become(TaskState::Queued) {
                continue;
            }
            let why = Some(format!(
                "starts over: it was built on {cause}'s work, which starts over"
            ));
            self.transition(id, TaskState::Queued, why, None, reset, vec![])?;
        }
        Ok(())
    }

    pub(super) fn merge_action(&mut self, id: &str, by: &Actor) -> Outcome {
        if !self.tasks.contains(id) {
            return Ok(Err(ActionError::UnknownTask(id.to_string())));
        }
        Ok(self.request_merge(id, by).map_err(ActionError::Refused))
    }

    pub(super) fn resolve(&mut self, id: &str, by: &Actor) -> Outcome {
        if !self.tasks.contains(id) {
            return Ok(Err(ActionError::UnknownTask(id.to_string())));
        }
        let row = match self.done_row(id, "resolve") {
            Ok(row) => row,
            Err(why) => return Ok(Err(ActionError::Refused(why))),
        };
        if row.merge_state != MergeState::Conflict {
            return Ok(Err(ActionError::Refused(format!(
                "task {id}'s merge is {}; resolve is for a merge conflict",
                row.merge_state
            ))));
        }
        self.request_resolve(id, by).map(Ok)
    }

    pub(super) fn cancel(&mut self, id: &str) -> Outcome {
        if let Err(err) = self.require(id, "cancel", "not done or cancelled", |s| {
            !matches!(s, TaskState::Done | TaskState::Cancelled)
        }) {
            return Ok(Err(err));
        }
        let grace = self.opts.stop_grace;
        if let Some(live) = self.live.get_mut(id) {
            // Recorded when the agent has exited (or its job has finished).
            live.stop = Some(StopReason::Cancelled);
            if live.phase == Phase::Running {
                self.out.push(Effect::Stop {
                    task: id.to_string(),
                    attempt: live.row.attempt,
                    grace,
                });
            }
            return Ok(Ok(()));
        }
        let why = Some("cancelled by user".to_string());
        self.transition(id, TaskState::Cancelled, why, None, |_| {}, vec![])?;
        Ok(Ok(()))
    }

    pub(super) fn skip(&mut self, id: &str, by: Actor, reason: Option<String>) -> Outcome {
        let state = match self.require(id, "skip", "not running, done or cancelled", |s| {
            !matches!(
                s,
                TaskState::Done | TaskState::Cancelled | TaskState::Running
            )
        }) {
            Ok(state) => state,
            Err(err) => return Ok(Err(err)),
        };
        // Work built on a skipped task's branch would bring it to the base:
        // it starts over, from the work that is accepted.
        let restart = match self.built_on(id) {
            Ok(ids) => ids,
            Err(why) => return Ok(Err(ActionError::Refused(why))),
        };
        if state == TaskState::AwaitingApproval {
            // Skipping a gated task answers its gate first, so the approvals
            // table says who decided it would not run.
            self.record_rejection(id, by.clone(), Some("skipped".into()))?;
        }
        // A person is "user" here, as the control room has always said.
        let who = match &by {
            Actor::User(_) => "user".to_string(),
            other => other.to_string(),
        };
        let why = match reason {
            Some(reason) => format!("skipped by {who}: {reason}"),
            None => format!("skipped by {who}"),
        };
        let cause = why.clone();
        self.transition(
            id,
            TaskState::Done,
            Some(why),
            None,
            |t| {
                t.skipped = true;
                t.cause = Some(cause);
            },
            vec![],
        )?;
        self.restart_fresh(&restart, id)?;
        Ok(Ok(()))
    }
}
