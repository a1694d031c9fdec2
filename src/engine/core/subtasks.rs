//! Subtasks: tasks added with a parent (`orch task add --parent P`),
//! usually by P's own agent decomposing its work.
//!
//! A subtask is scheduled like any task, its branch starting from its
//! parent's work (`start_deps`). The parent waits for its subtasks: an
//! attempt of the parent that ends well while a subtask has not been
//! merged into its worktree (one added during that attempt, or one not
//! done when it started) leaves the parent `blocked` on them rather than
//! done; once every subtask is done the parent runs again, its worktree
//! job merging the subtasks' branches in first (`Prepare::children`), its
//! prompt given `{children}`. A parent attempt that started with every
//! subtask done and merged, and added none, is the one that makes it done.
//! A subtask that ends needs_review, rejected or cancelled blocks its
//! parent as a failed dependency blocks a dependent.
//!
//! Limits keep a runaway agent from flooding the plan: `[project]
//! max_subtasks` per parent and `max_subtask_depth` levels of nesting.

use std::collections::HashSet;

use crate::config::NewTask;
use crate::engine::core::Core;
use crate::engine::message::Actor;
use crate::engine::state::TaskState;

impl Core {
    /// Every reason `new` cannot be added as a subtask (nothing when it
    /// has no parent and is not an agent's). `actor` is who asks: an
    /// agent may add subtasks of its own task only.
    pub(super) fn subtask_problems(&self, actor: &Actor, new: &NewTask) -> Vec<String> {
        let mut problems = Vec::new();
        if let Actor::Agent(own) = actor {
            if new.parent.as_deref() != Some(own.as_str()) {
                problems.push(format!(
                    "an agent may add only subtasks of its own task: use --parent {own}"
                ));
                return problems;
            }
        }
        let Some(parent) = new.parent.as_deref() else {
            return problems;
        };
        let label = format!("subtask {:?}", new.id);
        if !self.defs.contains(parent) {
            problems.push(format!(
                "the parent of {label}, {parent:?}, is not a task of this plan"
            ));
            return problems;
        }
        match self.tasks.get(parent) {
            Some(row) if matches!(row.state, TaskState::Done | TaskState::Cancelled) => {
                problems.push(format!(
                    "task {parent:?} is {}: it will not run again to take in the work of {label}",
                    row.state
                ));
            }
            _ => {}
        }
        let project = &self.defs.config().project;
        let lineage = self.lineage(parent);
        let depth = lineage.len();
        if depth > project.max_subtask_depth {
            let chain: Vec<&str> = lineage.iter().rev().map(String::as_str).collect();
            problems.push(format!(
                "{label} would be nested {depth} deep ({} -> {}), past max_subtask_depth = {} in [project]",
                chain.join(" -> "),
                new.id,
                project.max_subtask_depth
            ));
        }
        let count = self.defs.children(parent).len();
        if count >= project.max_subtasks {
            problems.push(format!(
                "task {parent:?} has {count} subtask(s) already, the most max_subtasks = {} in [project] allows",
                project.max_subtasks
            ));
        }
        for dep in &new.depends_on {
            if dep == parent {
                problems.push(format!(
                    "{label} cannot depend on its parent {parent:?}: it starts from its parent's work already, and its parent waits for it"
                ));
            } else if self.defs.contains(dep) && self.waits_for(dep, parent) {
                problems.push(format!(
                    "{label} cannot depend on {dep:?}: {dep:?} waits for {parent:?}, which would wait for {:?}",
                    new.id
                ));
            }
        }
        problems
    }

    /// `id` and its ancestors, nearest first: `[id, parent, grandparent,
    /// ...]`. Its length is the nesting depth of a subtask of `id`.
    fn lineage(&self, id: &str) -> Vec<String> {
        let mut chain = vec![id.to_string()];
        let mut current = id;
        while let Some(parent) = self.defs.parent(current) {
            if chain.iter().any(|c| c == parent) {
                break;
            }
            chain.push(parent.to_string());
            current = parent;
        }
        chain
    }

    /// Does `from` wait, directly or not, for `target` to be done? A task
    /// waits for its dependencies and a parent for its subtasks.
    fn waits_for(&self, from: &str, target: &str) -> bool {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut todo: Vec<&str> = vec![from];
        while let Some(id) = todo.pop() {
            if id == target {
                return true;
            }
            if !seen.insert(id) {
                continue;
            }
            todo.extend(self.defs.plan().dependencies(id).iter().map(String::as_str));
            todo.extend(self.defs.children(id).iter().map(String::as_str));
        }
        false
    }
}
