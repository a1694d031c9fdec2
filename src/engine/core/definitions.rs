//! The plan as configured: the config, its task DAG, the order tasks are
//! considered in (dependencies before dependents, config order within a
//! stage) and each task's definition by id. Replaced whole on a reload.
//!
//! The plan is `orch.toml`'s tasks followed by the tasks added at run time
//! (`merge_added`), each resolved as the `[[tasks]]` entry with its keys
//! would be; `Definitions` remembers which are which (a row's `origin`).

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::config::{AgentConfig, Config, TaskConfig};
use crate::plan::Plan;
use crate::store::{AddedTaskRow, ORIGIN_CLI, ORIGIN_CONFIG};

pub(crate) struct Definitions {
    config: Config,
    plan: Plan,
    order: Vec<String>,
    by_id: HashMap<String, TaskConfig>,
    /// The tasks whose definition is one added at run time.
    added: BTreeSet<String>,
    /// Each parent's subtasks, in plan order (dependencies first).
    children: HashMap<String, Vec<String>>,
}

/// Append the tasks added at run time to `config`'s, resolved in it, and
/// say which ids they are. One whose id `config` now defines itself is left
/// out: the file's definition wins (and the log says so). Dependencies of
/// added tasks that are no longer in the plan are dropped, as a reload does
/// for a running task: nothing depends on an added task but other added
/// tasks, which came later, so no edge can make a cycle.
pub(crate) fn merge_added(config: &mut Config, added: &[AddedTaskRow]) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for row in added {
        let id = &row.task.id;
        if config.tasks.iter().any(|t| &t.id == id) {
            tracing::warn!(
                task = %id,
                added_by = %row.added_by,
                "orch.toml defines a task that was added at run time; its definition in orch.toml is used"
            );
            continue;
        }
        let task = config.resolve_added(&row.task);
        config.tasks.push(task);
        ids.insert(id.clone());
    }
    let known: HashSet<String> = config.tasks.iter().map(|t| t.id.clone()).collect();
    for task in config.tasks.iter_mut().filter(|t| ids.contains(&t.id)) {
        task.depends_on.retain(|dep| known.contains(dep));
        // A subtask whose parent left the plan is a task of its own.
        if task.parent.as_ref().is_some_and(|p| !known.contains(p)) {
            task.parent = None;
        }
    }
    ids
}

impl Definitions {
    /// The plan of `config`, where the tasks `added` were added at run time.
    pub(crate) fn new(config: Config, added: BTreeSet<String>) -> Definitions {
        let plan = Plan::new(&config.tasks);
        let order: Vec<String> = plan.stages().into_iter().flatten().collect();
        let by_id: HashMap<String, TaskConfig> = config
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for id in &order {
            if let Some(parent) = by_id.get(id).and_then(|t| t.parent.as_ref()) {
                children.entry(parent.clone()).or_default().push(id.clone());
            }
        }
        Definitions {
            config,
            plan,
            order,
            by_id,
            added,
            children,
        }
    }

    /// This plan with `task`, added at run time, after the others.
    pub(crate) fn with_added(&self, task: TaskConfig) -> Definitions {
        let mut config = self.config.clone();
        let mut added = self.added.clone();
        added.insert(task.id.clone());
        config.tasks.push(task);
        Definitions::new(config, added)
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Task ids, dependencies before dependents.
    pub(crate) fn order(&self) -> &[String] {
        &self.order
    }

    pub(crate) fn task(&self, id: &str) -> Option<&TaskConfig> {
        self.by_id.get(id)
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// The task `id` is a subtask of, if it is one (and that task is in
    /// the plan).
    pub(crate) fn parent(&self, id: &str) -> Option<&str> {
        self.by_id
            .get(id)
            .and_then(|t| t.parent.as_deref())
            .filter(|p| self.by_id.contains_key(*p))
    }

    /// The subtasks of `id`, dependencies before dependents.
    pub(crate) fn children(&self, id: &str) -> &[String] {
        self.children.get(id).map_or(&[], Vec::as_slice)
    }

    /// Where the definition of `id` comes from (`TaskRow::origin`).
    pub(crate) fn origin(&self, id: &str) -> &'static str {
        if self.added.contains(id) {
            ORIGIN_CLI
        } else {
            ORIGIN_CONFIG
        }
    }

    pub(crate) fn agent(&self, name: &str) -> Option<&AgentConfig> {
        self.config.agents.get(name)
    }

    pub(crate) fn max_parallel(&self) -> usize {
        self.config.project.max_parallel
    }
}
