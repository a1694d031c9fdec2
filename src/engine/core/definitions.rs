//! The plan as configured: the config, its task DAG, the order tasks are
//! considered in (dependencies before dependents, config order within a
//! stage) and each task's definition by id. Replaced whole on a reload.

use std::collections::HashMap;

use crate::config::{AgentConfig, Config, TaskConfig};
use crate::plan::Plan;

pub(crate) struct Definitions {
    config: Config,
    plan: Plan,
    order: Vec<String>,
    by_id: HashMap<String, TaskConfig>,
}

impl Definitions {
    pub(crate) fn new(config: Config) -> Definitions {
        let plan = Plan::new(&config.tasks);
        let order: Vec<String> = plan.stages().into_iter().flatten().collect();
        let by_id = config
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        Definitions {
            config,
            plan,
            order,
            by_id,
        }
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

    pub(crate) fn agent(&self, name: &str) -> Option<&AgentConfig> {
        self.config.agents.get(name)
    }

    pub(crate) fn max_parallel(&self) -> usize {
        self.config.project.max_parallel
    }
}
