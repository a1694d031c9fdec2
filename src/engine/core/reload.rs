//! Applying an edited `orch.toml` to a running plan.
//!
//! New tasks join (a task the store already knows keeps its state: an id is
//! never run twice); tasks added at run time stay (see `add`); tasks that
//! have not started take their new definition;
//! a running task keeps running even if the edit removed it (it stays in
//! this run's plan; the next start drops it). `max_parallel`, agents and
//! policies apply to the next launches. The state directory and base branch
//! cannot move under a running orch; changes to them wait for the next start.

use crate::config::Config;
use crate::engine::core::add::Admitted;
use crate::engine::core::definitions::{merge_added, Definitions};
use crate::engine::core::Core;
use crate::engine::effect::Write;
use crate::engine::message::Event;
use crate::store::EventRow;

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
        // Tasks added at run time stay, after the file's own.
        let added = merge_added(&mut config, &self.added);
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
        let defs = Definitions::new(config, added);
        let now = self.now.wall_ms;
        let mut joined = 0;
        let mut pending = Vec::new();
        for task in &defs.config().tasks {
            if self.tasks.contains(&task.id) {
                continue;
            }
            let (row, admitted) = self.admit(task, defs.origin(&task.id));
            match admitted {
                Admitted::New => self.persist_state_event(
                    &row,
                    None,
                    None,
                    Some("added to the plan (config reloaded)".into()),
                ),
                Admitted::CommitPending => pending.push(task.id.clone()),
                Admitted::Known => {}
            }
            joined += 1;
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
            cause: Some(format!(
                "{} task(s), {joined} new",
                defs.config().tasks.len()
            )),
        }));

        self.tasks.archive_unless(|id| defs.contains(id));
        self.defs = defs;
        self.plan_generation += 1;
        self.follow_definitions();
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
