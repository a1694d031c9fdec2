use std::collections::{BTreeMap, BTreeSet};

use crate::config::TaskConfig;

/// An acyclic task graph, indexed both ways.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Task ids in config order.
    order: Vec<String>,
    deps: BTreeMap<String, Vec<String>>,
    dependents: BTreeMap<String, Vec<String>>,
}

impl Plan {
    /// Build from validated tasks. Dependencies on ids that are not in `tasks`
    /// are ignored (validation reports them before a plan is ever built).
    pub fn new(tasks: &[TaskConfig]) -> Self {
        let mut plan = Plan::default();
        for task in tasks {
            plan.order.push(task.id.clone());
            plan.dependents.entry(task.id.clone()).or_default();
        }
        let known: BTreeSet<&str> = plan.order.iter().map(String::as_str).collect();
        for task in tasks {
            let deps: Vec<String> = task
                .depends_on
                .iter()
                .filter(|d| known.contains(d.as_str()))
                .cloned()
                .collect();
            for dep in &deps {
                plan.dependents
                    .entry(dep.clone())
                    .or_default()
                    .push(task.id.clone());
            }
            plan.deps.insert(task.id.clone(), deps);
        }
        plan
    }

    pub fn ids(&self) -> &[String] {
        &self.order
    }

    pub fn contains(&self, id: &str) -> bool {
        self.deps.contains_key(id)
    }

    pub fn dependencies(&self, id: &str) -> &[String] {
        self.deps.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn dependents(&self, id: &str) -> &[String] {
        self.dependents.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every task that depends on `id`, directly or not, in breadth-first order.
    pub fn transitive_dependents(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut frontier = vec![id.to_string()];
        while let Some(next) = frontier.pop() {
            for dep in self.dependents(&next) {
                if seen.insert(dep.clone()) {
                    out.push(dep.clone());
                    frontier.push(dep.clone());
                }
            }
        }
        out
    }

    /// Topological stages: stage 0 has no dependencies, stage n depends only
    /// on earlier stages. Within a stage, config order.
    pub fn stages(&self) -> Vec<Vec<String>> {
        let mut level: BTreeMap<&str, usize> = BTreeMap::new();
        // Config order is not necessarily topological, so relax until stable;
        // the graph is acyclic, so this ends within `order.len()` rounds.
        for _ in 0..=self.order.len() {
            let mut changed = false;
            for id in &self.order {
                let want = self
                    .dependencies(id)
                    .iter()
                    .map(|d| level.get(d.as_str()).map_or(1, |l| l + 1))
                    .max()
                    .unwrap_or(0);
                if level.get(id.as_str()) != Some(&want) {
                    level.insert(id, want);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let depth = level.values().copied().max().map_or(0, |m| m + 1);
        let mut stages = vec![Vec::new(); depth];
        for id in &self.order {
            if let Some(&l) = level.get(id.as_str()) {
                stages[l].push(id.clone());
            }
        }
        stages
    }

    /// The stage index of every task.
    pub fn stage_of(&self) -> BTreeMap<String, usize> {
        self.stages()
            .into_iter()
            .enumerate()
            .flat_map(|(i, ids)| ids.into_iter().map(move |id| (id, i)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Approval, Policy, Risk};

    fn task(id: &str, deps: &[&str]) -> TaskConfig {
        TaskConfig {
            id: id.into(),
            title: id.into(),
            agent: "sh".into(),
            prompt: String::new(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            approval: Approval::None,
            risk: Risk::Low,
            policy: Policy::default(),
            parent: None,
        }
    }

    #[test]
    fn diamond_stages_and_dependents() {
        // Declared out of topological order on purpose.
        let plan = Plan::new(&[
            task("d", &["b", "c"]),
            task("b", &["a"]),
            task("a", &[]),
            task("c", &["a"]),
        ]);
        assert_eq!(
            plan.stages(),
            vec![
                vec!["a".to_string()],
                vec!["b".into(), "c".into()],
                vec!["d".into()]
            ]
        );
        assert_eq!(plan.dependents("a"), &["b".to_string(), "c".to_string()]);
        let mut all = plan.transitive_dependents("a");
        all.sort();
        assert_eq!(all, vec!["b", "c", "d"]);
        assert!(plan.transitive_dependents("d").is_empty());
        assert_eq!(plan.stage_of()["d"], 2);
    }

    #[test]
    fn empty_plan_has_no_stages() {
        assert!(Plan::new(&[]).stages().is_empty());
    }
}
