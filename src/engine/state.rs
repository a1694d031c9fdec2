//! Task states (DESIGN section 3) and which moves between them are legal.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Waiting on dependencies.
    Pending,
    /// Ready; waiting for a slot or an agent instance.
    Queued,
    /// Ready, but a human must approve the start.
    AwaitingApproval,
    Running,
    /// Failed; waiting out the backoff before queueing again.
    Retrying,
    Done,
    /// Attempts exhausted (or not retryable): a human decides.
    NeedsReview,
    /// A dependency ended needs_review, rejected or cancelled; or, for a
    /// parent, its subtasks are not done yet (or one of them failed).
    Blocked,
    Rejected,
    Cancelled,
}

impl TaskState {
    pub const ALL: [TaskState; 10] = [
        TaskState::Pending,
        TaskState::Queued,
        TaskState::AwaitingApproval,
        TaskState::Running,
        TaskState::Retrying,
        TaskState::Done,
        TaskState::NeedsReview,
        TaskState::Blocked,
        TaskState::Rejected,
        TaskState::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Queued => "queued",
            TaskState::AwaitingApproval => "awaiting_approval",
            TaskState::Running => "running",
            TaskState::Retrying => "retrying",
            TaskState::Done => "done",
            TaskState::NeedsReview => "needs_review",
            TaskState::Blocked => "blocked",
            TaskState::Rejected => "rejected",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// Nothing more happens to a settled task without a human (or, for
    /// `Blocked`, without a human acting on a dependency).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            TaskState::Done
                | TaskState::NeedsReview
                | TaskState::Blocked
                | TaskState::Rejected
                | TaskState::Cancelled
        )
    }

    /// A dependency in one of these states blocks its dependents.
    pub fn blocks_dependents(self) -> bool {
        matches!(
            self,
            TaskState::NeedsReview
                | TaskState::Rejected
                | TaskState::Cancelled
                | TaskState::Blocked
        )
    }

    /// Is `self -> to` a legal move? The engine refuses anything else, so a
    /// bug shows up as an error instead of a corrupt plan.
    pub fn can_become(self, to: TaskState) -> bool {
        use TaskState::*;
        if self == to {
            return false;
        }
        match self {
            Pending => matches!(to, Queued | AwaitingApproval | Blocked | Cancelled | Done),
            Queued => matches!(
                to,
                AwaitingApproval | Running | Blocked | Cancelled | Done | Pending
            ),
            AwaitingApproval => matches!(to, Queued | Rejected | Cancelled | Blocked | Pending),
            // Running -> Queued: the attempt was interrupted (orch stopped) and
            // is resumed in the same worktree, or a parent runs again to take
            // in its finished subtasks' work. Running -> Blocked: a parent
            // whose attempt succeeded waits for its subtasks.
            Running => matches!(
                to,
                Done | Retrying | NeedsReview | Cancelled | Queued | Blocked
            ),
            Retrying => matches!(to, Queued | Cancelled | Done),
            NeedsReview | Rejected => matches!(to, Queued | Pending | Done | Cancelled),
            Blocked => matches!(to, Pending | Queued | AwaitingApproval | Cancelled | Done),
            // Done -> Queued: an operator hands a merge conflict back to the
            // agent, or retries it fresh. Done -> Rejected: the merge gate
            // said no.
            Done => matches!(to, Queued | Rejected),
            Cancelled => false,
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown task state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for TaskState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TaskState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownState(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::TaskState::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>().ok(), Some(state));
        }
        assert!("finished".parse::<TaskState>().is_err());
    }

    #[test]
    fn the_happy_path_is_legal() {
        for pair in [Pending, Queued, AwaitingApproval, Queued, Running, Done].windows(2) {
            assert!(pair[0].can_become(pair[1]), "{} -> {}", pair[0], pair[1]);
        }
    }

    #[test]
    fn failure_paths_are_legal() {
        assert!(Running.can_become(Retrying));
        assert!(Retrying.can_become(Queued));
        assert!(Running.can_become(NeedsReview));
        assert!(NeedsReview.can_become(Queued));
        assert!(Blocked.can_become(Pending));
        assert!(AwaitingApproval.can_become(Rejected));
        assert!(
            Running.can_become(Blocked),
            "a parent waits for its subtasks"
        );
    }

    #[test]
    fn final_states_stay_final() {
        for to in TaskState::ALL {
            assert_eq!(
                Done.can_become(to),
                matches!(to, Queued | Rejected),
                "done -> {to}"
            );
            assert!(!Cancelled.can_become(to));
        }
        assert!(!Pending.can_become(Running), "must pass through queued");
        assert!(!Queued.can_become(Queued));
    }

    #[test]
    fn settled_and_blocking_sets() {
        let settled: Vec<_> = TaskState::ALL
            .into_iter()
            .filter(|s| s.is_settled())
            .collect();
        assert_eq!(
            settled,
            vec![Done, NeedsReview, Blocked, Rejected, Cancelled]
        );
        assert!(!Done.blocks_dependents());
        assert!(Blocked.blocks_dependents());
    }
}
