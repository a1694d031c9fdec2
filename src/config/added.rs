//! A task added while orch runs (`orch task add`): checked by the rules a
//! `[[tasks]]` entry of `orch.toml` is checked by, and resolved as an entry
//! with only `id`, `agent`, `prompt`, `title` and `depends_on` would be
//! (`[defaults]`' policy, no approval, low risk), by the same code.

use serde::{Deserialize, Serialize};

use super::defaults::PolicySlots;
use super::model::{Config, TaskConfig};
use super::walk::RawTask;
use super::{placeholders, references, validate, walk};

/// A task as someone asks for it at run time: the keys of a `[[tasks]]`
/// entry it may set. Plain data, sent over the control socket as JSON and
/// kept in `state.db`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    pub id: String,
    pub agent: String,
    pub prompt: String,
    /// Defaults to the id.
    pub title: Option<String>,
    pub depends_on: Vec<String>,
    /// The task this one is a subtask of (`--parent`): it starts from that
    /// task's work, and that task waits for it. Absent in what older
    /// clients send.
    #[serde(default)]
    pub parent: Option<String>,
}

impl Config {
    /// `task` resolved in this config, as the `[[tasks]]` entry with the
    /// same keys would be. Checks nothing (see [`Config::check_added`]).
    pub fn resolve_added(&self, task: &NewTask) -> TaskConfig {
        let raw = RawTask {
            number: 0,
            id: Some((task.id.clone(), 0..0)),
            title: task.title.clone(),
            agent: Some((task.agent.clone(), 0..0)),
            prompt: Some(task.prompt.clone()),
            depends_on: task.depends_on.iter().map(|d| (d.clone(), 0..0)).collect(),
            approval: None,
            risk: None,
            policy: PolicySlots::default(),
        };
        let mut resolved = validate::resolve_task(raw, &self.defaults);
        if task.parent.is_some() {
            // A subtask's work reaches the base through its parent, which
            // merges it in; merging it on its own would land it twice.
            resolved.policy.merge = super::MergeMode::Never;
            resolved.parent = task.parent.clone();
        }
        resolved
    }

    /// Every problem with adding `task` to a plan of the tasks `plan`
    /// (their ids): its id as `orch.toml`'s ids are checked, an agent of
    /// this config, dependencies among `plan`, a prompt (not empty: it is
    /// all the agent is told) with only the placeholders a prompt may use.
    /// Whether the id is taken already is the caller's question.
    pub fn check_added<'a>(
        &self,
        task: &NewTask,
        plan: impl Iterator<Item = &'a str> + Clone,
    ) -> Vec<String> {
        let label = format!("task {:?}", task.id);
        let mut problems = Vec::new();
        problems.extend(walk::invalid_task_id(&task.id));
        if !self.agents.contains_key(&task.agent) {
            let names = self.agents.keys().map(String::as_str);
            problems.push(references::unknown_agent(&task.agent, &label, names));
        }
        let known = plan.clone();
        problems.extend(
            references::dependency_problems(
                &label,
                task.depends_on.iter().map(|d| (d.as_str(), ())),
                |dep| known.clone().any(|id| id == dep),
                plan,
            )
            .into_iter()
            .map(|((), message)| message),
        );
        if task.prompt.trim().is_empty() {
            problems.push(format!(
                "{label} needs a prompt: it is all its agent is told"
            ));
        }
        let field = format!("the prompt of {label}");
        problems.extend(
            placeholders::problems(&field, &task.prompt, &placeholders::PROMPT)
                .into_iter()
                .map(|(_, message)| message),
        );
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::config::{Approval, MergeMode, Risk};

    fn config(extra: &str) -> Config {
        let text = format!(
            "{extra}[agents.claude]\ncommand = [\"claude\", \"{{prompt}}\"]\n\
             [agents.codex]\ncommand = [\"codex\", \"{{prompt}}\"]\n\
             [[tasks]]\nid = \"api\"\nagent = \"claude\"\nprompt = \"build it\"\n"
        );
        crate::config::parse(&text, Path::new("orch.toml")).expect("valid config")
    }

    fn new_task(id: &str, agent: &str, prompt: &str, deps: &[&str]) -> NewTask {
        NewTask {
            id: id.into(),
            agent: agent.into(),
            prompt: prompt.into(),
            title: None,
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            parent: None,
        }
    }

    #[test]
    fn resolves_as_the_same_entry_in_the_file_would() {
        let defaults = "[defaults]\nretries = 5\ntimeout = \"10m\"\nmerge = \"auto\"\n";
        let config = config(defaults);
        let added = config.resolve_added(&new_task("docs", "codex", "write docs", &["api"]));
        let text = format!(
            "{defaults}[agents.claude]\ncommand = [\"claude\", \"{{prompt}}\"]\n\
             [agents.codex]\ncommand = [\"codex\", \"{{prompt}}\"]\n\
             [[tasks]]\nid = \"api\"\nagent = \"claude\"\nprompt = \"build it\"\n\
             [[tasks]]\nid = \"docs\"\nagent = \"codex\"\nprompt = \"write docs\"\n\
             depends_on = [\"api\"]\n"
        );
        let file = crate::config::parse(&text, Path::new("orch.toml")).expect("valid");
        assert_eq!(Some(&added), file.tasks.iter().find(|t| t.id == "docs"));
        assert_eq!(added.title, "docs");
        assert_eq!(added.policy.retries, 5);
        assert_eq!(added.policy.timeout, Duration::from_secs(600));
        assert_eq!(added.policy.merge, MergeMode::Auto);
        assert_eq!((added.approval, added.risk), (Approval::None, Risk::Low));
        let titled = NewTask {
            title: Some("Write the docs".into()),
            ..new_task("docs", "codex", "write docs", &[])
        };
        assert_eq!(config.resolve_added(&titled).title, "Write the docs");
        let subtask = NewTask {
            parent: Some("api".into()),
            ..new_task("docs", "codex", "write docs", &[])
        };
        let resolved = config.resolve_added(&subtask);
        assert_eq!(resolved.parent.as_deref(), Some("api"));
        assert_eq!(
            resolved.policy.merge,
            MergeMode::Never,
            "a subtask reaches the base through its parent"
        );
        assert_eq!(added.parent, None);
    }

    #[test]
    fn each_problem_is_said_as_the_file_would_say_it() {
        let config = config("");
        let plan = ["api", "migrate"];
        let check = |task: &NewTask| config.check_added(task, plan.iter().copied());
        assert!(check(&new_task("docs", "codex", "write docs", &["api"])).is_empty());
        assert_eq!(
            check(&new_task("bad/id", "codex", "x", &[])),
            ["invalid task id \"bad/id\": it may contain only ASCII letters, digits, \".\", \"_\" and \"-\""]
        );
        assert_eq!(
            check(&new_task("docs", "claud", "x", &[])),
            ["unknown agent \"claud\" for task \"docs\" (defined agents: claude, codex); did you mean \"claude\"?"]
        );
        assert_eq!(
            check(&new_task("docs", "codex", "x", &["apii", "api", "api"])),
            [
                "task \"docs\" depends on \"apii\", which is not a task; did you mean \"api\"?",
                "task \"docs\" lists \"api\" more than once in depends_on",
            ]
        );
        assert_eq!(
            check(&new_task("docs", "codex", "  ", &[])),
            ["task \"docs\" needs a prompt: it is all its agent is told"]
        );
        let problems = check(&new_task("docs", "codex", "do {prompt} in {worktre}", &[]));
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with(
            "\"{prompt}\" cannot be used in the prompt of task \"docs\": it is the prompt itself"
        ));
        assert!(problems[1].contains("did you mean \"{worktree}\"?"));
    }
}
