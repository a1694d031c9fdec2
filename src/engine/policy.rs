//! Retry, health and exit-code policy: pure functions of plain data.

use std::time::Duration;

use crate::config::Policy;
use crate::engine::state::TaskState;

/// Delay before retry number `failures` (1 = after the first failure):
/// `backoff * 2^(failures-1)`, plus up to 10% jitter, capped by `backoff_max`.
/// `jitter` is a number in `[0, 1)`; the caller supplies it so this stays pure.
pub fn backoff_delay(policy: &Policy, failures: u32, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(32);
    let raw = policy
        .backoff
        .checked_mul(1u32 << exponent.min(31))
        .unwrap_or(Duration::MAX);
    let jitter = jitter.clamp(0.0, 1.0);
    let with_jitter = raw.saturating_add(raw.mul_f64(0.1 * jitter).min(Duration::from_secs(3600)));
    with_jitter.min(policy.backoff_max)
}

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    Retry,
    NeedsReview,
}

/// `failures` counts failed attempts including this one; interrupted attempts
/// (orch itself stopped) are not failures and do not use up the budget.
pub fn after_failure(failures: u32, retries: u32, retryable: bool) -> AfterFailure {
    if retryable && failures <= retries {
        AfterFailure::Retry
    } else {
        AfterFailure::NeedsReview
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Critical => "critical",
        }
    }
}

/// Heartbeat age against `heartbeat_warn` / `heartbeat_stall`. `Critical`
/// means stalled: the attempt is stopped.
pub fn heartbeat_level(age: Duration, policy: &Policy) -> Level {
    if age >= policy.heartbeat_stall {
        Level::Critical
    } else if age >= policy.heartbeat_warn {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// CPU percent (of one core, whole tree) against `cpu_warn` / `cpu_critical`.
pub fn cpu_level(percent: f64, policy: &Policy) -> Level {
    if percent >= policy.cpu_critical {
        Level::Critical
    } else if percent >= policy.cpu_warn {
        Level::Warn
    } else {
        Level::Ok
    }
}

/// Exit status of a run (DESIGN section 4).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_APPROVAL: i32 = 3;
pub const EXIT_INTERRUPTED: i32 = 130;

/// The exit code for a finished (or abandoned) run.
/// `approval_gave_up`: the run rejected a task because its approval timed out,
/// or stopped with approvals still pending.
pub fn run_exit_code<'a>(
    states: impl IntoIterator<Item = &'a TaskState>,
    interrupted: bool,
    approval_gave_up: bool,
) -> i32 {
    if interrupted {
        return EXIT_INTERRUPTED;
    }
    let mut all_done = true;
    for state in states {
        if *state != TaskState::Done {
            all_done = false;
        }
    }
    if approval_gave_up {
        EXIT_APPROVAL
    } else if all_done {
        EXIT_OK
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            backoff: Duration::from_secs(5),
            backoff_max: Duration::from_secs(60),
            ..Policy::default()
        }
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let p = policy();
        assert_eq!(backoff_delay(&p, 1, 0.0), Duration::from_secs(5));
        assert_eq!(backoff_delay(&p, 2, 0.0), Duration::from_secs(10));
        assert_eq!(backoff_delay(&p, 3, 0.0), Duration::from_secs(20));
        assert_eq!(backoff_delay(&p, 5, 0.0), Duration::from_secs(60));
        assert_eq!(backoff_delay(&p, 40, 0.99), Duration::from_secs(60));
    }

    #[test]
    fn jitter_adds_at_most_ten_percent() {
        let p = policy();
        let d = backoff_delay(&p, 2, 0.5);
        assert_eq!(d, Duration::from_millis(10_500));
        assert!(backoff_delay(&p, 2, 1.0) <= Duration::from_secs(11));
    }

    #[test]
    fn zero_backoff_is_immediate() {
        let p = Policy {
            backoff: Duration::ZERO,
            ..policy()
        };
        assert_eq!(backoff_delay(&p, 3, 0.7), Duration::ZERO);
    }

    #[test]
    fn retries_then_review() {
        assert_eq!(after_failure(1, 2, true), AfterFailure::Retry);
        assert_eq!(after_failure(2, 2, true), AfterFailure::Retry);
        assert_eq!(after_failure(3, 2, true), AfterFailure::NeedsReview);
        assert_eq!(after_failure(1, 0, true), AfterFailure::NeedsReview);
        assert_eq!(after_failure(1, 5, false), AfterFailure::NeedsReview);
    }

    #[test]
    fn health_levels() {
        let p = Policy {
            heartbeat_warn: Duration::from_secs(10),
            heartbeat_stall: Duration::from_secs(30),
            cpu_warn: 80.0,
            cpu_critical: 95.0,
            ..Policy::default()
        };
        assert_eq!(heartbeat_level(Duration::from_secs(9), &p), Level::Ok);
        assert_eq!(heartbeat_level(Duration::from_secs(10), &p), Level::Warn);
        assert_eq!(
            heartbeat_level(Duration::from_secs(31), &p),
            Level::Critical
        );
        assert_eq!(cpu_level(50.0, &p), Level::Ok);
        assert_eq!(cpu_level(85.0, &p), Level::Warn);
        assert_eq!(cpu_level(180.0, &p), Level::Critical);
    }

    #[test]
    fn exit_codes() {
        use TaskState::*;
        assert_eq!(run_exit_code(&[Done, Done], false, false), 0);
        assert_eq!(run_exit_code(&[], false, false), 0);
        assert_eq!(run_exit_code(&[Done, NeedsReview], false, false), 1);
        assert_eq!(run_exit_code(&[Done, Blocked], false, false), 1);
        assert_eq!(run_exit_code(&[Rejected, Blocked], false, true), 3);
        assert_eq!(run_exit_code(&[Running], true, true), 130);
    }
}
