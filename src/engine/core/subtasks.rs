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
use crate::engine::schedule::{self, Readiness};
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

    /// What `id`'s subtasks mean for it starting an attempt: `None` when it
    /// has none; else `Blocked` with the reason (a subtask failed, or
    /// others are still to be done) or `Ready`.
    pub(super) fn children_status(&self, id: &str) -> Option<(Readiness, String)> {
        let children = self.defs.children(id);
        if children.is_empty() {
            return None;
        }
        let state = |c: &String| self.tasks.state(c).unwrap_or(TaskState::Pending);
        let failed: Vec<String> = children
            .iter()
            .filter(|c| state(c).blocks_dependents())
            .map(|c| format!("subtask {c} is {}", state(c)))
            .collect();
        if !failed.is_empty() {
            return Some((Readiness::Blocked, failed.join(", ")));
        }
        let open: Vec<&str> = children
            .iter()
            .filter(|c| state(c) != TaskState::Done)
            .map(String::as_str)
            .collect();
        if open.is_empty() {
            return Some((Readiness::Ready, String::new()));
        }
        Some((Readiness::Blocked, waiting_for(&open)))
    }

    /// Is `id` blocked only because its subtasks are not all done yet
    /// (none failed, no dependency blocked)? Then it is on its way, and
    /// what depends on it waits rather than being blocked too.
    pub(super) fn waiting_for_children(&self, id: &str) -> bool {
        let open = matches!(
            self.children_status(id),
            Some((Readiness::Blocked, why)) if why.starts_with("waiting for ")
        );
        open && schedule::readiness_of(self.defs.plan(), id, |dep| self.dep_status(dep))
            != Readiness::Blocked
    }

    /// The subtasks of `id` whose work a new attempt's worktree merges in:
    /// those done, not skipped (a skipped task's branch holds work nobody
    /// accepted, or none), dependencies first.
    pub(super) fn children_to_merge(&self, id: &str) -> Vec<(String, String)> {
        self.defs
            .children(id)
            .iter()
            .filter(|c| {
                self.tasks
                    .get(c)
                    .is_some_and(|t| t.state == TaskState::Done && !t.skipped)
            })
            .map(|c| {
                let title = self.defs.task(c).map_or(c.as_str(), |t| t.title.as_str());
                (c.clone(), title.to_string())
            })
            .collect()
    }

    /// `{children}`: each subtask of `id` on a line of its own, with its
    /// state and, where there is one, its cause. Empty when it has none.
    pub(super) fn children_text(&self, id: &str) -> String {
        self.defs
            .children(id)
            .iter()
            .map(|c| {
                let Some(row) = self.tasks.get(c) else {
                    return format!("{c}: pending");
                };
                let mut line = format!("{c}: {}", row.state);
                if row.skipped {
                    line.push_str(" (skipped)");
                }
                if let Some(cause) = row.cause.as_deref().filter(|c| !c.is_empty()) {
                    let first = cause.lines().next().unwrap_or_default();
                    line.push_str(&format!(" ({first})"));
                }
                line
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Where a parent goes when an attempt of it ends well: `None` for
    /// done (every subtask was done and merged into the worktree the
    /// attempt started in, and it added none), else the state it waits in
    /// and why.
    pub(super) fn after_parent_success(
        &self,
        id: &str,
        merged: &[String],
    ) -> Option<(TaskState, String)> {
        let children = self.defs.children(id);
        let unmerged: Vec<&str> = children
            .iter()
            .filter(|c| !merged.contains(c))
            .map(String::as_str)
            .collect();
        if unmerged.is_empty() {
            return None;
        }
        match self.children_status(id) {
            Some((Readiness::Ready, _)) | None => Some((
                TaskState::Queued,
                format!(
                    "its subtask(s) {} are done: it runs again to take their work in",
                    unmerged.join(", ")
                ),
            )),
            Some((_, why)) => Some((TaskState::Blocked, why)),
        }
    }
}

/// "waiting for 2 subtask(s): a, b".
fn waiting_for(open: &[&str]) -> String {
    format!("waiting for {} subtask(s): {}", open.len(), open.join(", "))
}
