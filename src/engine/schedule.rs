//! Which tasks are ready, blocked or waiting, and which of the ready ones may
//! start now. Pure functions over the plan and a view of current states.

use std::collections::BTreeMap;

use crate::engine::state::TaskState;
use crate::plan::Plan;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Some dependency has not finished yet.
    Waiting,
    /// Every dependency is done.
    Ready,
    /// Some dependency ended needs_review, rejected, cancelled or blocked.
    Blocked,
}

/// Readiness of `id` given the states of its dependencies. Dependencies
/// without a state (not part of this run) count as waiting.
pub fn readiness(plan: &Plan, id: &str, state_of: impl Fn(&str) -> Option<TaskState>) -> Readiness {
    readiness_of(plan, id, |dep| match state_of(dep) {
        Some(state) if state.blocks_dependents() => Readiness::Blocked,
        Some(TaskState::Done) => Readiness::Ready,
        _ => Readiness::Waiting,
    })
}

/// Readiness of `id` given what each dependency means for it: `Ready`
/// (its work is there to build on), `Waiting` or `Blocked`. One blocked
/// dependency blocks; otherwise one waiting one makes it wait.
pub fn readiness_of(plan: &Plan, id: &str, dep_status: impl Fn(&str) -> Readiness) -> Readiness {
    let mut all_done = true;
    for dep in plan.dependencies(id) {
        match dep_status(dep) {
            Readiness::Blocked => return Readiness::Blocked,
            Readiness::Ready => {}
            Readiness::Waiting => all_done = false,
        }
    }
    if all_done {
        Readiness::Ready
    } else {
        Readiness::Waiting
    }
}

/// A queued task that wants to start.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub agent: &'a str,
}

/// Pick the queued tasks to start now, in the order given (config order),
/// respecting `max_parallel` and each agent's `max_instances`. A task whose
/// agent is at its limit does not hold up tasks behind it.
pub fn pick_starts<'a>(
    queued: &[Candidate<'a>],
    running_total: usize,
    running_by_agent: &BTreeMap<String, usize>,
    max_parallel: usize,
    max_instances: impl Fn(&str) -> Option<usize>,
) -> Vec<&'a str> {
    let mut free = max_parallel.saturating_sub(running_total);
    let mut per_agent: BTreeMap<&str, usize> = BTreeMap::new();
    let mut picked = Vec::new();
    for candidate in queued {
        if free == 0 {
            break;
        }
        let used = per_agent
            .entry(candidate.agent)
            .or_insert_with(|| running_by_agent.get(candidate.agent).copied().unwrap_or(0));
        if max_instances(candidate.agent).is_some_and(|limit| *used >= limit) {
            continue;
        }
        *used += 1;
        free -= 1;
        picked.push(candidate.id);
    }
    picked
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Approval, Policy, Risk, TaskConfig};
    use TaskState::*;

    fn task(id: &str, deps: &[&str]) -> TaskConfig {
        TaskConfig {
            id: id.into(),
            title: id.into(),
            agent: "sh".into(),
            prompt: String::new(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            approval: Approval::None,
            risk: Risk::Low,
            policy: Policy::default(),
            parent: None,
        }
    }

    #[test]
    fn readiness_follows_dependencies() {
        let plan = Plan::new(&[task("a", &[]), task("b", &[]), task("c", &["a", "b"])]);
        let states = |a: TaskState, b: TaskState| {
            move |id: &str| match id {
                "a" => Some(a),
                "b" => Some(b),
                _ => None,
            }
        };
        assert_eq!(
            readiness(&plan, "a", states(Pending, Pending)),
            Readiness::Ready
        );
        assert_eq!(
            readiness(&plan, "c", states(Done, Running)),
            Readiness::Waiting
        );
        assert_eq!(readiness(&plan, "c", states(Done, Done)), Readiness::Ready);
        assert_eq!(
            readiness(&plan, "c", states(Running, NeedsReview)),
            Readiness::Blocked
        );
        assert_eq!(
            readiness(&plan, "c", states(Done, Blocked)),
            Readiness::Blocked
        );
        assert_eq!(
            readiness(&plan, "c", states(Rejected, Done)),
            Readiness::Blocked
        );
    }

    #[test]
    fn respects_max_parallel() {
        let queued = [
            Candidate {
                id: "a",
                agent: "sh",
            },
            Candidate {
                id: "b",
                agent: "sh",
            },
            Candidate {
                id: "c",
                agent: "sh",
            },
        ];
        let picked = pick_starts(&queued, 1, &BTreeMap::new(), 3, |_| None);
        assert_eq!(picked, vec!["a", "b"]);
        assert!(pick_starts(&queued, 3, &BTreeMap::new(), 3, |_| None).is_empty());
    }

    #[test]
    fn singleton_agent_does_not_block_others() {
        let queued = [
            Candidate {
                id: "a",
                agent: "claude",
            },
            Candidate {
                id: "b",
                agent: "claude",
            },
            Candidate {
                id: "c",
                agent: "sh",
            },
        ];
        let limits = |agent: &str| (agent == "claude").then_some(1);
        let picked = pick_starts(&queued, 0, &BTreeMap::new(), 8, limits);
        assert_eq!(picked, vec!["a", "c"]);
        let running = BTreeMap::from([("claude".to_string(), 1)]);
        let picked = pick_starts(&queued, 1, &running, 8, limits);
        assert_eq!(picked, vec!["c"]);
    }
}
