//! Applying an edited `orch.toml` to a running plan.
//!
//! New tasks join (a task the store already knows keeps its state: an id is
//! never run twice); tasks that have not started take their new definition;
//! a running task keeps running even if the edit removed it (it stays in
//! this run's plan; the next start drops it). `max_parallel`, agents and
//! policies apply to the next launches. The state directory and base branch
//! cannot move under a running orch; changes to them wait for the next start.

use crate::config::Config;
use crate::engine::core::definitions::Definitions;
use crate::engine::core::Core;
use crate::engine::effect::Write;
use crate::engine::message::Event;
use crate::engine::state::TaskState;
use crate::store::{EventRow, TaskRow};

impl Core {
    pub(super) fn reload(&mut self, mut config: Config) {
        let current = &self.defs.config().project;
        if config.project.state_dir != current.state_dir
            || config.project.base_branch != current.base_branch
        {
            tracing::warn!("state_dir and base_branch changes take effect at the next start");
            config.project.state_dir = current.state_dir.clone();
            config.project.base_branch = current.base_branch.clone();
        }
        // Running tasks stay in the plan until they end.
        for id in self.live.tasks() {
            if !config.tasks.iter().any(|t| &t.id == id) {
                if let Some(task) = self.defs.task(id) {
                    let mut task = task.clone();
                    task.depends_on
                        .retain(|d| config.tasks.iter().any(|t| &t.id == d));
                    config.tasks.push(task);
                }
            }
        }
        let now = self.now.wall_ms;
        let mut added = 0;
        let mut pending = Vec::new();
        for task in config.tasks.clone() {
            if self.tasks.contains(&task.id) {
                continue;
            }
            let row = match self.tasks.unarchive(&task.id) {
                // Its agent had succeeded but a dead orch did not commit its
                // leftovers: commit them, do not run it again.
                Some(row)
                    if row.state == TaskState::Running
                        && self.commits_pending.contains_key(&task.id) =>
                {
                    pending.push(task.id.clone());
                    row
                }
                // Left `running` by an orch that died while the task was out
                // of the plan: nothing runs it now, so it is queued again.
                Some(mut row) if row.state == TaskState::Running => {
                    let from = row.state;
                    row.state = TaskState::Queued;
                    row.updated_at = now;
                    self.persist(Write::Task(row.clone()));
                    self.persist_state_event(
                        &row,
                        Some(from),
                        None,
                        Some("resumed: re-added to the plan".into()),
                    );
                    row
                }
                Some(row) => row,
                None => {
                    let row = TaskRow::pending(&task.id, &task.title, &task.agent, now);
                    self.persist(Write::Task(row.clone()));
                    self.persist_state_event(
                        &row,
                        None,
                        None,
                        Some("added to the plan (config reloaded)".into()),
                    );
                    row
                }
            };
            added += 1;
            self.tasks.put(row);
        }
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: now,
            run_id: Some(self.run_id),
            task_id: None,
            attempt: None,
            kind: "config_reloaded".into(),
            from_state: None,
            to_state: None,
            cause: Some(format!("{} task(s), {added} new", config.tasks.len())),
        }));

        self.tasks
            .archive_unless(|id| config.tasks.iter().any(|t| t.id == id));
        self.defs = Definitions::new(config);
        self.plan_generation += 1;
        for id in pending {
            if let Some(attempt) = self.commits_pending.remove(&id) {
                self.resume_commit(&id, attempt);
            }
        }
        let defs = &self.defs;
        self.gates.retain(|id| defs.contains(id));
        self.publish(Event::PlanChanged {
            config: Box::new(self.defs.config().clone()),
            rows: self.rows(),
        });
    }
}
