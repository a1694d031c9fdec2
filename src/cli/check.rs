//! `orch check`: validate the config, check the base branch it names, look
//! for each agent's program, and say whether each sandboxed agent can be
//! confined here.

use std::path::Path;

use crate::agent::sandbox::{self, Level, SandboxRequest, Support};
use crate::agent::which::find_program;
use crate::config::{check_base_branch, Config, ConfigError, Placeholders, SandboxMode};
use crate::git::Repo;
use crate::plan::Plan;

pub fn run(config_path: &Path) -> i32 {
    let config = match crate::config::load(config_path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!(
                "{}: {} problem(s); nothing was run",
                config_path.display(),
                errors.0.len()
            );
            return 2;
        }
    };
    if let Err(error) = base_branch(&config) {
        eprintln!("{error}");
        eprintln!("{}: 1 problem(s); nothing was run", config_path.display());
        return 2;
    }
    let stages = Plan::new(&config.tasks).stages().len();
    println!(
        "{}: ok ({} task(s), {} agent(s), {} stage(s))",
        config_path.display(),
        config.tasks.len(),
        config.agents.len(),
        stages
    );
    let (lines, unresolved) = agent_report(&config);
    for line in lines {
        println!("{line}");
    }
    let (lines, unconfinable) = sandbox_report(&config);
    for line in lines {
        println!("{line}");
    }
    if !unresolved.is_empty() {
        eprintln!(
            "error: no runnable command for agent(s) used by tasks: {}",
            unresolved.join(", ")
        );
    }
    if !unconfinable.is_empty() {
        eprintln!(
            "error: agent(s) whose sandbox cannot be had here, so their tasks will not start: {}",
            unconfinable.join(", ")
        );
    }
    if unresolved.is_empty() && unconfinable.is_empty() {
        0
    } else {
        1
    }
}

/// One line per sandboxed agent (and its notes), and the agents that
/// tasks may run (directly or as a fallback) whose sandbox cannot be had.
fn sandbox_report(config: &Config) -> (Vec<String>, Vec<String>) {
    let mut lines = Vec::new();
    let mut refused = Vec::new();
    for (name, agent) in &config.agents {
        if agent.sandbox == SandboxMode::None {
            let here = match sandbox::kernel::support() {
                Support::Available(abi) => format!("Landlock ABI {abi} here"),
                Support::Unavailable(why) => why,
            };
            lines.push(format!("agent {name}: sandbox = \"none\" ({here})"));
            continue;
        }
        let request = SandboxRequest {
            mode: agent.sandbox,
            writable: agent.writable.clone(),
            repo: config.root.clone(),
            state_dir: config.root.join(&config.project.state_dir),
            branch: format!("{}check", crate::git::BRANCH_PREFIX),
        };
        let env: Vec<(String, String)> = agent
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mode = agent.sandbox.as_str();
        match sandbox::check(&request, &env) {
            Ok((level, support, notes)) => {
                lines.push(format!(
                    "agent {name}: sandbox = {mode:?}: {}",
                    said(level, &support)
                ));
                lines.extend(notes.iter().map(|note| format!("agent {name}: {note}")));
            }
            Err(cause) => {
                lines.push(format!(
                    "agent {name}: sandbox = {mode:?} CANNOT RUN HERE: {cause}"
                ));
                if used_by_tasks(config, name) {
                    refused.push(name.clone());
                }
            }
        }
    }
    (lines, refused)
}

/// What a level means, in the words of `orch check`.
fn said(level: Level, support: &Support) -> String {
    match (level, support) {
        (Level::Worktree, Support::Available(abi)) => {
            format!("writes confined by Landlock (ABI {abi} here)")
        }
        (Level::Partial(abi), _) => format!(
            "partly confined: Landlock ABI {abi} here cannot confine truncate(2) (ABI {} can)",
            sandbox::rules::FULL_ABI
        ),
        (_, Support::Unavailable(why)) => format!("not confined here: {why}"),
        (level, _) => level.to_string(),
    }
}

/// Whether some task may run `agent`: as its own, or as a fallback of one.
fn used_by_tasks(config: &Config, agent: &str) -> bool {
    config.tasks.iter().any(|task| {
        let mut current = Some(task.agent.clone());
        let mut seen = Vec::new();
        while let Some(name) = current.take() {
            if name == agent {
                return true;
            }
            if seen.contains(&name) {
                break;
            }
            current = config.agents.get(&name).and_then(|a| a.fallback.clone());
            seen.push(name);
        }
        false
    })
}

/// The run's check of `[project] base_branch`, when the config names one.
fn base_branch(config: &Config) -> Result<(), ConfigError> {
    if config.project.base_branch.is_none() {
        return Ok(());
    }
    let repo = Repo::discover(&config.root).map_err(|error| {
        ConfigError::whole_file(&config.path, format!("cannot check base_branch: {error}"))
    })?;
    check_base_branch(config, &repo)
}

/// One line per agent, and the agents that tasks use but that cannot run
/// (their program and every fallback's are missing).
fn agent_report(config: &Config) -> (Vec<String>, Vec<String>) {
    let vars = Placeholders {
        prompt: "",
        task_id: "",
        worktree: "",
        branch: "",
        conflicts: "",
        children: "",
        session_id: "",
    };
    let found = |name: &str| -> bool {
        config.agents.get(name).is_some_and(|agent| {
            let argv = agent.render_command(&vars);
            let path = agent.env.get("PATH").map(std::ffi::OsString::from);
            argv.first()
                .and_then(|p| find_program(p, &config.root, path.as_deref()))
                .is_some()
        })
    };
    let mut lines = Vec::new();
    for (name, agent) in &config.agents {
        let program = agent.command.first().cloned().unwrap_or_default();
        let path = agent.env.get("PATH").map(std::ffi::OsString::from);
        let status = match find_program(&program, &config.root, path.as_deref()) {
            Some(found) => format!("found at {}", found.display()),
            None => "NOT FOUND on PATH".to_string(),
        };
        let fallback = agent
            .fallback
            .as_ref()
            .map(|f| format!(" (fallback: {f})"))
            .unwrap_or_default();
        lines.push(format!("agent {name}: {program} {status}{fallback}"));
    }
    let mut unresolved = Vec::new();
    for agent in config.tasks.iter().map(|t| t.agent.as_str()) {
        if unresolved.iter().any(|u| u == agent) {
            continue;
        }
        let mut current = Some(agent.to_string());
        let mut seen = Vec::new();
        let mut ok = false;
        while let Some(name) = current.take() {
            if seen.contains(&name) {
                break;
            }
            if found(&name) {
                ok = true;
                break;
            }
            current = config.agents.get(&name).and_then(|a| a.fallback.clone());
            seen.push(name);
        }
        if !ok {
            unresolved.push(agent.to_string());
        }
    }
    (lines, unresolved)
}
