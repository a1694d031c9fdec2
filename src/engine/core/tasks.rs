//! Every task's row as it stands: those in the plan, and those the store
//! holds of tasks that are not (removed by an edit, or from an earlier
//! config), so a task that comes back resumes where it was.

use std::collections::{BTreeMap, HashMap};

use crate::engine::state::TaskState;
use crate::store::TaskRow;

#[derive(Debug, Default)]
pub(crate) struct Tasks {
    rows: BTreeMap<String, TaskRow>,
    archived: HashMap<String, TaskRow>,
}

impl Tasks {
    pub(crate) fn get(&self, id: &str) -> Option<&TaskRow> {
        self.rows.get(id)
    }

    pub(crate) fn state(&self, id: &str) -> Option<TaskState> {
        self.rows.get(id).map(|t| t.state)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.rows.contains_key(id)
    }

    pub(crate) fn put(&mut self, row: TaskRow) {
        self.rows.insert(row.id.clone(), row);
    }

    /// The rows of `order`, in that order.
    pub(crate) fn in_order(&self, order: &[String]) -> Vec<TaskRow> {
        order
            .iter()
            .filter_map(|id| self.rows.get(id).cloned())
            .collect()
    }

    /// The ids of `order` whose task is in `state`.
    pub(crate) fn ids_in(&self, order: &[String], state: TaskState) -> Vec<String> {
        order
            .iter()
            .filter(|id| self.state(id) == Some(state))
            .cloned()
            .collect()
    }

    pub(crate) fn states(&self) -> Vec<TaskState> {
        self.rows.values().map(|t| t.state).collect()
    }

    pub(crate) fn all_settled(&self) -> bool {
        self.rows.values().all(|t| t.state.is_settled())
    }

    pub(crate) fn any_in(&self, state: TaskState) -> bool {
        self.rows.values().any(|t| t.state == state)
    }

    /// Retrying tasks' `retry_at` (wall-clock ms).
    pub(crate) fn retry_times(&self) -> impl Iterator<Item = i64> + '_ {
        self.rows.values().filter_map(|t| match t.state {
            TaskState::Retrying => t.retry_at,
            _ => None,
        })
    }

    /// Move the rows of tasks that left the plan to the archive.
    pub(crate) fn archive_unless(&mut self, in_plan: impl Fn(&str) -> bool) {
        let leaving: Vec<String> = self
            .rows
            .keys()
            .filter(|id| !in_plan(id))
            .cloned()
            .collect();
        for id in leaving {
            if let Some(row) = self.rows.remove(&id) {
                self.archived.insert(id, row);
            }
        }
    }

    pub(crate) fn archive(&mut self, rows: HashMap<String, TaskRow>) {
        self.archived.extend(rows);
    }

    /// The archived row of a task that comes back into the plan.
    pub(crate) fn unarchive(&mut self, id: &str) -> Option<TaskRow> {
        self.archived.remove(id)
    }
}
