//! Cross-references: task ids unique, each task's agent and dependencies
//! defined, each agent's fallback another agent.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::walk::{RawAgent, RawTask};
use crate::tomldoc::{did_you_mean, Doc};

/// Duplicate task ids, and references from tasks to agents and to other
/// tasks. Returns each usable id's task index (first definitions win).
pub(super) fn tasks<'t>(
    doc: &mut Doc<'_>,
    tasks: &'t [RawTask],
    agents: &[RawAgent],
    agents_known: bool,
) -> HashMap<&'t str, usize> {
    // Ids, first definitions win.
    let mut index_of: HashMap<&str, usize> = HashMap::new();
    for (i, task) in tasks.iter().enumerate() {
        let Some((id, span)) = &task.id else { continue };
        match index_of.entry(id.as_str()) {
            Entry::Occupied(first) => {
                let first_line = tasks[*first.get()]
                    .id
                    .as_ref()
                    .map_or(0, |(_, first_span)| doc.line_of(first_span));
                doc.error(
                    span.clone(),
                    format!("duplicate task id {id:?} (first defined at line {first_line})"),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
    }

    for task in tasks {
        let label = task.label();
        if let Some((agent, span)) = &task.agent {
            if agents_known && !agents.iter().any(|a| a.name == *agent) {
                let names = agents.iter().map(|a| a.name.as_str());
                doc.error(span.clone(), unknown_agent(agent, &label, names));
            }
        }
        let ids = tasks
            .iter()
            .filter_map(|t| t.id.as_ref().map(|(id, _)| id.as_str()));
        for (span, message) in dependency_problems(
            &label,
            task.depends_on
                .iter()
                .map(|(dep, span)| (dep.as_str(), span)),
            |dep| index_of.contains_key(dep),
            ids,
        ) {
            doc.error(span.clone(), message);
        }
    }

    index_of
}

/// An agent that is not one of `agents`, named by `label`'s task.
pub(super) fn unknown_agent<'a>(
    agent: &str,
    label: &str,
    agents: impl Iterator<Item = &'a str> + Clone,
) -> String {
    format!(
        "unknown agent {agent:?} for {label} ({}){}",
        defined_agents(agents.clone()),
        did_you_mean(agent, agents),
    )
}

/// What is wrong with `label`'s dependencies (each with its `T`, such as
/// where it is written): one listed twice, or one that `is_task` does not
/// know (with the closest of `ids` as a suggestion).
pub(super) fn dependency_problems<'d, 'i, T>(
    label: &str,
    deps: impl Iterator<Item = (&'d str, T)>,
    is_task: impl Fn(&str) -> bool,
    ids: impl Iterator<Item = &'i str> + Clone,
) -> Vec<(T, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (dep, at) in deps {
        if !seen.insert(dep) {
            out.push((
                at,
                format!("{label} lists {dep:?} more than once in depends_on"),
            ));
        } else if !is_task(dep) {
            out.push((
                at,
                format!(
                    "{label} depends on {dep:?}, which is not a task{}",
                    did_you_mean(dep, ids.clone()),
                ),
            ));
        }
    }
    out
}

pub(super) fn fallbacks(doc: &mut Doc<'_>, agents: &[RawAgent]) {
    for agent in agents {
        let Some((fallback, span)) = &agent.fallback else {
            continue;
        };
        if *fallback == agent.name {
            doc.error(
                span.clone(),
                format!("agent {:?} cannot fall back to itself", agent.name),
            );
        } else if !agents.iter().any(|other| other.name == *fallback) {
            doc.error(
                span.clone(),
                format!(
                    "unknown fallback agent {fallback:?} for agent {:?} ({}){}",
                    agent.name,
                    defined_agents(agents.iter().map(|a| a.name.as_str())),
                    did_you_mean(fallback, agents.iter().map(|a| a.name.as_str())),
                ),
            );
        }
    }
}

fn defined_agents<'a>(agents: impl Iterator<Item = &'a str>) -> String {
    let names: Vec<&str> = agents.collect();
    if names.is_empty() {
        "no agents are defined".to_owned()
    } else {
        format!("defined agents: {}", names.join(", "))
    }
}
