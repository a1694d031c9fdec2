//! Turns the text of an `orch.toml` into a [`Config`], or into every problem
//! found in it: the typed walk ([`super::walk`]), the rules between policy
//! keys and the merge gate ([`super::defaults`]), references ([`super::references`]) and
//! cycles ([`super::cycles`]), then the resolved config is assembled.

use std::path::{Path, PathBuf};

use super::model::{AgentConfig, Config, Policy, TaskConfig};
use super::walk::{self, RawConfig, RawTask};
use super::{cycles, defaults, references};
use crate::tomldoc::{ConfigErrors, Doc};

/// Said when a file that is otherwise valid defines no task: running it
/// would do nothing but create the state directory.
const EMPTY_PLAN: &str =
    "the plan is empty: no [[tasks]] are defined; add a [[tasks]] table with an id and an agent for each task to run";

/// Parse and validate `src`, read from `path`. Touches no files.
pub(crate) fn check(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut doc = Doc::new(src, path);
    let Some(document) = doc.parse() else {
        return Err(doc.into_errors());
    };
    let raw = walk::document(&mut doc, document.get_ref());

    defaults::check_order(&mut doc, &raw.defaults, None);
    for task in &raw.tasks {
        defaults::check_order(&mut doc, &task.policy, Some(&raw.defaults));
        defaults::check_merge_gate(&mut doc, task, &raw.defaults);
    }
    references::fallbacks(&mut doc, &raw.agents);
    let index_of = references::tasks(&mut doc, &raw.tasks, &raw.agents, raw.agents_known);
    cycles::check(&mut doc, &raw.tasks, &index_of);

    // Only for a file with nothing else wrong: when tasks failed to parse,
    // that is the problem to report, not an empty plan.
    if raw.tasks.is_empty() && !doc.has_errors() {
        doc.whole_file_error(EMPTY_PLAN);
    }
    let config = assemble(raw, path);
    doc.finish(config)
}

/// The resolved config: every default filled in.
fn assemble(raw: RawConfig, path: &Path) -> Config {
    let base_policy = raw.defaults.resolve(&Policy::default());
    let root = root_of(path);
    Config {
        path: path.to_path_buf(),
        root: root.clone(),
        project: raw.project,
        ui: raw.ui,
        hooks: raw.hooks,
        agents: raw
            .agents
            .into_iter()
            .map(|agent| {
                let config = AgentConfig {
                    name: agent.name.clone(),
                    command: agent.command,
                    env: agent.env,
                    max_instances: agent.max_instances,
                    fallback: agent.fallback.map(|(name, _)| name),
                    sandbox: agent.sandbox,
                    writable: agent.writable.iter().map(|p| root.join(p)).collect(),
                    kind: agent.attention.kind,
                    resume: agent.attention.resume,
                    waiting_patterns: agent.attention.waiting_patterns,
                    auto_answer: agent.attention.auto_answer,
                };
                (agent.name, config)
            })
            .collect(),
        tasks: raw
            .tasks
            .into_iter()
            .map(|task| resolve_task(task, &base_policy))
            .collect(),
        defaults: base_policy,
    }
}

/// One task as resolved: what it does not set comes from `base` (the
/// `[defaults]` over the built-in policy) or the built-in defaults.
pub(super) fn resolve_task(task: RawTask, base: &Policy) -> TaskConfig {
    let id = task.id.map(|(id, _)| id).unwrap_or_default();
    TaskConfig {
        title: task.title.unwrap_or_else(|| id.clone()),
        id,
        agent: task.agent.map(|(agent, _)| agent).unwrap_or_default(),
        prompt: task.prompt.unwrap_or_default(),
        depends_on: task.depends_on.into_iter().map(|(dep, _)| dep).collect(),
        approval: task
            .approval
            .map(|(approval, _)| approval)
            .unwrap_or_default(),
        risk: task.risk.unwrap_or_default(),
        policy: task.policy.resolve(base),
        parent: None,
    }
}

/// The directory holding the config file: relative paths are relative to it.
fn root_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
