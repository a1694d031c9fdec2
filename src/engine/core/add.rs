//! Tasks added while orch runs (`orch task add`), and how any task joins
//! the plan.
//!
//! An added task is checked as a `[[tasks]]` entry is and resolved as one
//! (`config::added`), its definition kept in the store (`added_tasks`) with
//! its row (origin `cli`), then it is in the plan like any other: readiness,
//! slots, retries and merges make no difference between the two. A restart
//! (`Core::start`) and a reload put the added tasks after the file's own
//! (`definitions::merge_added`). Adding an id the plan has answers
//! `AlreadyExists` with its state and changes nothing, so asking twice runs
//! nothing twice.

use crate::config::{NewTask, TaskConfig};
use crate::engine::core::Core;
use crate::engine::effect::Write;
use crate::engine::message::{ActionError, Actor, Event};
use crate::engine::state::TaskState;
use crate::store::{AddedTaskRow, EventRow, TaskRow, ORIGIN_CLI};

/// What a task's row was when it joined the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admitted {
    /// Never seen: a new pending row (persisted; its event is the
    /// caller's to write).
    New,
    /// The store's row, as it was (or queued again, if a dead orch left it
    /// running).
    Known,
    /// Its agent had succeeded but a dead orch did not commit its
    /// leftovers: the caller resumes the commit once the task's definition
    /// is in the plan (`resume_commit`); it does not run again.
    CommitPending,
}

impl Core {
    pub(super) fn add_task(&mut self, actor: &Actor, new: NewTask) -> Result<(), ActionError> {
        if self.defs.contains(&new.id) {
            // Every task of the plan has a row (`reconcile`, `reload`, here).
            let state = self.tasks.state(&new.id).unwrap_or(TaskState::Pending);
            return Err(ActionError::AlreadyExists {
                task: new.id,
                state,
            });
        }
        let config = self.defs.config();
        let mut problems = config.check_added(&new, self.defs.order().iter().map(String::as_str));
        problems.extend(self.subtask_problems(actor, &new));
        if !problems.is_empty() {
            return Err(ActionError::Refused(problems.join("\n")));
        }
        let task = config.resolve_added(&new);
        let now = self.now.wall_ms;
        let added = AddedTaskRow {
            task: new,
            origin: ORIGIN_CLI.to_string(),
            added_by: actor.as_stored(),
            added_at: now,
        };
        self.persist(Write::AddedTask(added.clone()));
        let (row, admitted) = self.admit(&task, ORIGIN_CLI);
        let why = format!("added by {actor}");
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: now,
            run_id: Some(self.run_id),
            task_id: Some(task.id.clone()),
            attempt: None,
            kind: "task_added".into(),
            from_state: None,
            to_state: Some(row.state.as_str().to_string()),
            cause: Some(why.clone()),
        }));
        tracing::info!(task = %task.id, by = %actor, "task added to the plan");
        let id = task.id.clone();
        self.added.push(added);
        self.defs = self.defs.with_added(task);
        self.plan_generation += 1;
        if admitted == Admitted::CommitPending {
            if let Some(attempt) = self.commits_pending.remove(&id) {
                self.resume_commit(&id, attempt);
            }
        }
        self.publish(Event::PlanChanged {
            config: Box::new(self.defs.config().clone()),
            rows: self.rows(),
        });
        self.publish(Event::Task {
            row,
            from: None,
            attempt: None,
            why: Some(why),
        });
        Ok(())
    }

    /// `task` joins the plan with its definition from `origin`: the row the
    /// store holds of it if any (an id is never run twice), else a new
    /// pending row. The row is in `tasks` when this returns.
    pub(super) fn admit(&mut self, task: &TaskConfig, origin: &str) -> (TaskRow, Admitted) {
        let now = self.now.wall_ms;
        let Some(mut row) = self.tasks.unarchive(&task.id) else {
            let mut row = TaskRow::pending(&task.id, &task.title, &task.agent, now);
            row.origin = origin.to_string();
            row.parent = task.parent.clone();
            self.persist(Write::Task(row.clone()));
            self.tasks.put(row.clone());
            return (row, Admitted::New);
        };
        let moved = row.origin != origin || row.parent != task.parent;
        row.origin = origin.to_string();
        row.parent = task.parent.clone();
        let pending = self.commits_pending.contains_key(&task.id);
        let admitted = if row.state == TaskState::Running && pending {
            Admitted::CommitPending
        } else {
            Admitted::Known
        };
        if row.state == TaskState::Running && !pending {
            // Left `running` by an orch that died while the task was out of
            // the plan: nothing runs it now, so it is queued again.
            row.state = TaskState::Queued;
            row.updated_at = now;
            self.persist(Write::Task(row.clone()));
            self.persist_state_event(
                &row,
                Some(TaskState::Running),
                None,
                Some("resumed: re-added to the plan".into()),
            );
        } else if moved {
            self.persist(Write::Task(row.clone()));
        }
        self.tasks.put(row.clone());
        (row, admitted)
    }

    /// Each row of the plan says where its definition now comes from, and
    /// whose subtask it is: a reload can make `orch.toml` define an added
    /// task's id (the file wins) or drop it again (the added definition is
    /// back), or drop a subtask's parent.
    pub(super) fn follow_definitions(&mut self) {
        for id in self.defs.order().to_vec() {
            let origin = self.defs.origin(&id);
            let parent = self.defs.parent(&id).map(str::to_string);
            let Some(row) = self
                .tasks
                .get(&id)
                .filter(|r| r.origin != origin || r.parent != parent)
            else {
                continue;
            };
            let mut row = row.clone();
            row.origin = origin.to_string();
            row.parent = parent;
            self.persist(Write::Task(row.clone()));
            self.tasks.put(row);
        }
    }
}
