//! What users and flags ask for: approve, reject, retry, cancel, skip.
//! Each is checked against the task's state first; a refusal changes
//! nothing and says why.

use crate::engine::core::{Core, CoreError, Phase, StopReason};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{ActionError, Actor};
use crate::engine::state::TaskState;
use crate::store::Verdict;

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

    pub(super) fn approve(&mut self, id: &str, by: Actor, reason: Option<String>) -> Outcome {
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
        let approval = self.approval_row(id, Verdict::Approved, &by, reason);
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
        let approval = self.approval_row(id, Verdict::Rejected, &by, Some(reason));
        self.transition(
            id,
            TaskState::Rejected,
            Some(why),
            None,
            |_| {},
            vec![Write::Approval(approval)],
        )
    }

    pub(super) fn retry(&mut self, id: &str) -> Outcome {
        let before = match self.require(id, "retry", "needs_review, rejected or retrying", |s| {
            matches!(
                s,
                TaskState::NeedsReview | TaskState::Rejected | TaskState::Retrying
            )
        }) {
            Ok(state) => state,
            Err(err) => return Ok(Err(err)),
        };
        // A human retry grants a fresh retry budget; a rejected task asks
        // for approval again.
        let why = Some("retry requested by user".to_string());
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
            },
            vec![],
        )?;
        if self.gated(id) {
            self.make_ready(id)?;
        }
        Ok(Ok(()))
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
        Ok(Ok(()))
    }
}
