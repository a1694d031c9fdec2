//! Start-up: make the stored state agree with the config, and close what a
//! previous orch left open. Done tasks stay done; attempts left `running`
//! by a crash are closed as `interrupted` and their tasks queued again (same
//! worktree, attempt counted, retry budget untouched). An agent that had
//! exited 0 but whose leftovers were not committed yet is not run again:
//! the commit is redone.

use std::collections::HashMap;

use crate::engine::core::{Core, Live, Phase};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::Actor;
use crate::engine::policy::Level;
use crate::engine::state::TaskState;
use crate::git::Known;
use crate::store::{
    AddedTaskRow, ApprovalRow, AttemptRow, AttemptStatus, EventRow, MessageRow, TaskRow,
};

/// What the store held when the run started, read by the driver.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Every task row, in or out of the current plan.
    pub tasks: Vec<TaskRow>,
    /// Attempts stored as `running`: a dead orch's.
    pub running_attempts: Vec<AttemptRow>,
    /// The latest approval of each task, where it has one.
    pub last_approvals: HashMap<String, ApprovalRow>,
    /// The latest attempt of each task stored as `running`.
    pub latest_attempts: HashMap<String, AttemptRow>,
    /// What the store says of each task's worktree (tasks without a
    /// record are left out).
    pub worktrees: HashMap<String, Known>,
    /// The tasks added at run time, in the order they were added.
    pub added: Vec<AddedTaskRow>,
    /// Messages not acknowledged yet, oldest first.
    pub messages: Vec<MessageRow>,
    /// The highest message id ever given.
    pub last_message_id: i64,
}

impl Core {
    pub(super) fn reconcile(&mut self, stored: Stored) {
        let now = self.now.wall_ms;
        let mut existing: HashMap<String, TaskRow> = stored
            .tasks
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        self.worktrees = stored.worktrees;

        let mut interrupted: HashMap<String, u32> = HashMap::new();
        // Killed after everything below is written, so the reconciled state
        // is saved in one transaction.
        let mut kills = Vec::new();
        for mut attempt in stored.running_attempts {
            if let Some(pid) = attempt.pid {
                kills.push(Effect::KillLeftover {
                    pid,
                    worktree: self.paths.worktree(&attempt.task_id),
                });
            }
            attempt.status = AttemptStatus::Interrupted;
            attempt.ended_at = Some(now);
            attempt.cause = Some("orch stopped while the attempt ran".into());
            self.persist(Write::Attempt(attempt.clone()));
            self.persist(Write::Event(EventRow {
                seq: 0,
                at: now,
                run_id: Some(self.run_id),
                task_id: Some(attempt.task_id.clone()),
                attempt: Some(attempt.attempt),
                kind: "attempt_interrupted".into(),
                from_state: None,
                to_state: None,
                cause: attempt.cause.clone(),
            }));
            interrupted.insert(attempt.task_id.clone(), attempt.attempt);
        }

        for task in self.defs.config().tasks.clone() {
            let origin = self.defs.origin(&task.id);
            let Some(old) = existing.remove(&task.id) else {
                let mut row = TaskRow::pending(&task.id, &task.title, &task.agent, now);
                row.origin = origin.to_string();
                row.parent = task.parent.clone();
                self.persist(Write::Task(row.clone()));
                self.persist_state_event(&row, None, None, Some("added to the plan".into()));
                self.tasks.put(row);
                continue;
            };
            let mut row = old.clone();
            row.title = task.title.clone();
            row.agent = task.agent.clone();
            row.origin = origin.to_string();
            row.parent = task.parent.clone();
            let timed_out_gate = row.state == TaskState::Rejected
                && stored
                    .last_approvals
                    .get(&task.id)
                    .is_some_and(|a| Actor::from_stored(&a.by) == Actor::Timeout);
            let commit_pending = stored.latest_attempts.get(&task.id).filter(|a| {
                row.state == TaskState::Running && a.status == AttemptStatus::Succeeded
            });
            let why = if let Some(attempt) = commit_pending {
                self.resume_commit(&task.id, attempt.clone());
                None
            } else if row.state == TaskState::Running {
                row.state = TaskState::Queued;
                Some(match interrupted.get(&task.id) {
                    Some(n) => format!("resumed: attempt {n} was interrupted"),
                    None => "resumed".to_string(),
                })
            } else if timed_out_gate
                && stored
                    .last_approvals
                    .get(&task.id)
                    .is_some_and(|a| a.gate == crate::store::Gate::BeforeMerge)
            {
                // The work is finished; only its merge was never decided.
                row.state = TaskState::Done;
                row.merge_state = crate::store::MergeState::Unmerged;
                row.merge_approved = false;
                row.cause = None;
                Some("merge approval timed out in an earlier run; asking again".into())
            } else if timed_out_gate {
                row.state = TaskState::Pending;
                row.approved = false;
                row.cause = None;
                Some("approval timed out in an earlier run; asking again".into())
            } else {
                None
            };
            if why.is_some() {
                row.updated_at = now;
            }
            if row != old || why.is_some() {
                self.persist(Write::Task(row.clone()));
            }
            if why.is_some() {
                self.persist_state_event(&row, Some(old.state), None, why);
            }
            self.tasks.put(row);
        }
        // Tasks outside the plan whose commit was cut short are committed
        // if an edit brings them back (see `reload`).
        self.commits_pending = stored
            .latest_attempts
            .into_iter()
            .filter(|(id, a)| {
                a.status == AttemptStatus::Succeeded
                    && existing
                        .get(id)
                        .is_some_and(|t| t.state == TaskState::Running)
            })
            .collect();
        self.tasks.archive(existing);
        self.out.extend(kills);
    }

    /// An attempt whose agent exited 0 before a dead orch committed its
    /// leftovers: commit them now; the task is done when that finishes.
    pub(super) fn resume_commit(&mut self, id: &str, row: AttemptRow) {
        let Some(task) = self.defs.task(id).cloned() else {
            return;
        };
        let worktree = self.paths.worktree(id);
        tracing::info!(
            task = id,
            attempt = row.attempt,
            "committing a finished attempt's leftovers"
        );
        self.out.push(Effect::Commit {
            task: id.to_string(),
            attempt: row.attempt,
            worktree: worktree.clone(),
            message: self.commit_message(id, row.attempt),
        });
        self.live.insert(
            id,
            Live {
                task,
                row,
                phase: Phase::Committing,
                started: self.now.mono,
                heard: None,
                stop: None,
                heartbeat: Level::Ok,
                sample: None,
                worktree: Some(worktree),
                mode: crate::git::StartMode::Continue,
                // Not known after a restart: a parent takes its subtasks
                // in once more (merging what is there already is a no-op).
                merged_children: Vec::new(),
                watch: super::attention::Watch::new(self.now.mono, self.now.wall_ms),
            },
        );
    }
}
