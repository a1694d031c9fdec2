//! Start-up: make `state.db` agree with the config, and close what a previous
//! orch left open. Done tasks stay done; attempts left `running` by a crash
//! are closed as `interrupted` and their tasks queued again (same worktree,
//! attempt counted, retry budget untouched).

use std::collections::HashMap;

use crate::agent::proc_tree;
use crate::engine::actor::{Engine, EngineError};
use crate::engine::state::TaskState;
use crate::store::{AttemptStatus, EventRow, TaskRow};
use crate::timefmt::now_ms;

impl Engine {
    pub(super) fn start_run(&mut self) -> Result<i64, EngineError> {
        let now = now_ms();
        let mut batch = self.store.batch()?;
        let run_id = batch.start_run(std::process::id(), self.opts.mode, now)?;
        batch.event(&EventRow {
            seq: 0,
            at: now,
            run_id: Some(run_id),
            task_id: None,
            attempt: None,
            kind: "run_started".into(),
            from_state: None,
            to_state: None,
            cause: Some(format!(
                "{} run, pid {}",
                self.opts.mode,
                std::process::id()
            )),
        })?;
        batch.commit()?;
        Ok(run_id)
    }

    pub(super) fn reconcile(&mut self) -> Result<(), EngineError> {
        let now = now_ms();
        let existing: HashMap<String, TaskRow> = self
            .store
            .tasks()?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let running = self.store.running_attempts()?;
        let mut timed_out_gates = Vec::new();
        for task in &self.config.tasks {
            if existing
                .get(&task.id)
                .is_some_and(|t| t.state == TaskState::Rejected)
            {
                let approvals = self.store.approvals(&task.id)?;
                if approvals.last().is_some_and(|a| a.by == "timeout") {
                    timed_out_gates.push(task.id.clone());
                }
            }
        }

        let worktrees = self.state_dir.join("worktrees");
        let mut batch = self.store.batch()?;
        let mut interrupted: HashMap<String, u32> = HashMap::new();
        for mut attempt in running {
            if let Some(pid) = attempt.pid {
                kill_leftover(pid, &worktrees.join(&attempt.task_id));
            }
            attempt.status = AttemptStatus::Interrupted;
            attempt.ended_at = Some(now);
            attempt.cause = Some("orch stopped while the attempt ran".into());
            batch.put_attempt(&attempt)?;
            batch.event(&EventRow {
                seq: 0,
                at: now,
                run_id: Some(self.run_id),
                task_id: Some(attempt.task_id.clone()),
                attempt: Some(attempt.attempt),
                kind: "attempt_interrupted".into(),
                from_state: None,
                to_state: None,
                cause: attempt.cause.clone(),
            })?;
            interrupted.insert(attempt.task_id.clone(), attempt.attempt);
        }

        let mut tasks = std::collections::BTreeMap::new();
        for task in &self.config.tasks {
            let (row, from, why) = match existing.get(&task.id) {
                None => (
                    new_row(task, now),
                    None,
                    Some("added to the plan".to_string()),
                ),
                Some(old) => {
                    let mut row = old.clone();
                    row.title = task.title.clone();
                    row.agent = task.agent.clone();
                    let mut why = None;
                    if row.state == TaskState::Running {
                        row.state = TaskState::Queued;
                        why = Some(match interrupted.get(&task.id) {
                            Some(n) => format!("resumed: attempt {n} was interrupted"),
                            None => "resumed".to_string(),
                        });
                    } else if timed_out_gates.contains(&task.id) {
                        row.state = TaskState::Pending;
                        row.approved = false;
                        row.cause = None;
                        why = Some("approval timed out in an earlier run; asking again".into());
                    }
                    if why.is_some() {
                        row.updated_at = now;
                        (row, Some(old.state), why)
                    } else {
                        batch.put_task(&row)?;
                        tasks.insert(row.id.clone(), row);
                        continue;
                    }
                }
            };
            batch.put_task(&row)?;
            let mut event_row = row.clone();
            event_row.cause = why;
            batch.state_event(Some(self.run_id), &event_row, from, None)?;
            tasks.insert(row.id.clone(), row);
        }
        batch.commit()?;
        self.tasks = tasks;
        Ok(())
    }
}

/// The row of a task that has never been seen before.
pub(super) fn new_row(task: &crate::config::TaskConfig, now: i64) -> TaskRow {
    TaskRow::pending(&task.id, &task.title, &task.agent, now)
}

/// An agent that outlived a killed orch (it ignored the PTY hangup) is
/// stopped, but only if it still works in the task's worktree: a recycled
/// pid belonging to something else is left alone.
fn kill_leftover(pid: u32, worktree: &std::path::Path) {
    if !proc_tree::is_alive(pid) {
        return;
    }
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    if cwd.is_ok_and(|cwd| cwd.starts_with(worktree)) {
        tracing::warn!(pid, "stopping an agent left running by a previous orch");
        let tree = proc_tree::tree(pid);
        proc_tree::signal_tree(pid, &tree, proc_tree::Signal::KILL);
    }
}
