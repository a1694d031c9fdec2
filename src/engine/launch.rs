//! Starting one attempt: persist `running`, prepare the worktree, resolve the
//! agent (with its fallback), spawn it in a PTY.

use std::sync::Arc;

use crate::agent::pty::{AgentProcess, SpawnError, SpawnSpec};
use crate::agent::which::find_program;
use crate::config::{AgentConfig, Placeholders};
use crate::engine::actor::{Engine, EngineError};
use crate::engine::message::Command;
use crate::engine::state::TaskState;
use crate::git::{Known, BRANCH_PREFIX};
use crate::store::{AttemptRow, AttemptStatus, WorktreeRow};
use crate::timefmt::now_ms;

/// The agent that will actually run, after fallbacks.
struct Resolved {
    name: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
}

impl Engine {
    pub(super) fn launch(&mut self, id: &str) -> Result<(), EngineError> {
        let Some(task) = self.by_id.get(id).cloned() else {
            return Ok(());
        };
        let Some(current) = self.tasks.get(id).cloned() else {
            return Ok(());
        };
        let attempt = current.attempts + 1;
        let log_path = self.log_path(id, attempt);
        let mut row = AttemptRow {
            task_id: id.to_string(),
            attempt,
            agent: task.agent.clone(),
            status: AttemptStatus::Running,
            started_at: now_ms(),
            ended_at: None,
            pid: None,
            exit_code: None,
            signal: None,
            cause: None,
            log_path: Some(log_path.display().to_string()),
            commit_id: None,
        };
        // Persist first: if orch dies from here on, the next run sees an
        // interrupted attempt and resumes the task.
        let started = row.clone();
        let runs = self.agent_to_run(&task.agent);
        let why = (runs != task.agent)
            .then(|| format!("agent {runs} (fallback: {} is not installed)", task.agent));
        self.transition(
            id,
            TaskState::Running,
            why,
            Some(attempt),
            |t| t.attempts = attempt,
            |b| b.put_attempt(&started),
        )?;

        let dir = self.worktree_dir(id);
        let mut known = self.store.known_worktree(id)?;
        if known == Known::No && std::fs::symlink_metadata(&dir).is_err() {
            // The intent first: a run killed while the worktree is being
            // made leaves one the next run knows it may make again.
            let mut batch = self.store.batch()?;
            batch.worktree(&WorktreeRow::creating(
                id,
                &dir.display().to_string(),
                &format!("{BRANCH_PREFIX}{id}"),
                now_ms(),
            ))?;
            batch.commit()?;
            known = Known::Creating;
        }
        let repo = self.repo.clone();
        let base = self.base_branch.clone();
        let prepared =
            tokio::task::block_in_place(|| repo.prepare_worktree(id, &dir, &base, known));
        let worktree = match prepared {
            Ok(worktree) => worktree,
            Err(err) => return self.fail_attempt(id, row, format!("worktree: {err}"), false),
        };
        if worktree.created || known != Known::Ready {
            let mut batch = self.store.batch()?;
            batch.worktree(&WorktreeRow::ready(
                id,
                &worktree.path.display().to_string(),
                &worktree.branch,
                now_ms(),
            ))?;
            batch.commit()?;
        }

        let path_str = worktree.path.display().to_string();
        let vars = Placeholders {
            prompt: &task.prompt,
            task_id: id,
            worktree: &path_str,
            branch: &worktree.branch,
        };
        let resolved = match self.resolve_agent(&task.agent, &vars, &worktree.path) {
            Ok(resolved) => resolved,
            Err(cause) => return self.fail_attempt(id, row, cause, false),
        };
        row.agent = resolved.name.clone();
        let mut env = vec![
            ("ORCH_TASK_ID".to_string(), id.to_string()),
            ("ORCH_ATTEMPT".to_string(), attempt.to_string()),
            ("ORCH_WORKTREE".to_string(), path_str.clone()),
            ("ORCH_BRANCH".to_string(), worktree.branch.clone()),
            ("ORCH_BASE_BRANCH".to_string(), self.base_branch.clone()),
        ];
        env.extend(resolved.env);
        let spec = SpawnSpec {
            command: resolved.argv,
            cwd: worktree.path.clone(),
            env,
            rows: self.opts.pty_rows,
            cols: self.opts.pty_cols,
            log_path,
            log_cap_bytes: self.opts.log_cap_bytes,
            history_lines: self.opts.history_lines,
            on_output: self.opts.output_signal.as_ref().map(|s| s.0.clone()),
        };
        let tx = self.tx.clone();
        let task_id = id.to_string();
        let on_exit = Box::new(move |exit| {
            // Runs on the agent's waiter thread, never inside the runtime.
            let _ = tx.blocking_send(Command::AgentExited {
                task: task_id,
                attempt,
                exit,
            });
        });
        let process: Arc<AgentProcess> = match AgentProcess::spawn(spec, on_exit) {
            Ok(process) => process,
            Err(err) => {
                let retryable =
                    !matches!(err, SpawnError::NotFound { .. } | SpawnError::EmptyCommand);
                return self.fail_attempt(id, row, err.to_string(), retryable);
            }
        };
        row.pid = Some(process.pid());
        let mut batch = self.store.batch()?;
        batch.put_attempt(&row)?;
        batch.commit()?;
        tracing::info!(task = id, attempt, pid = process.pid(), agent = %row.agent, "agent started");
        self.track(id, row, process, &worktree.path);
        Ok(())
    }

    /// The agent that will run for a task configured with `name`, following
    /// fallbacks past agents whose program is missing. Used for the
    /// `max_instances` limits, which apply to the agent that really runs.
    /// If none is found, `name` itself (its launch will fail and say why).
    pub(super) fn agent_to_run(&self, name: &str) -> String {
        let mut current = name.to_string();
        let mut seen = Vec::new();
        while let Some(agent) = self.config.agents.get(&current) {
            let path_var = agent.env.get("PATH").map(std::ffi::OsString::from);
            let program = agent.command.first().map(String::as_str).unwrap_or("");
            if find_program(program, &self.config.root, path_var.as_deref()).is_some() {
                return current;
            }
            seen.push(current.clone());
            match &agent.fallback {
                Some(next) if !seen.contains(next) => current = next.clone(),
                _ => break,
            }
        }
        name.to_string()
    }

    /// The agent to run for `name`: its own command if the program is found,
    /// else its fallback chain. The error is the attempt's cause.
    fn resolve_agent(
        &self,
        name: &str,
        vars: &Placeholders<'_>,
        cwd: &std::path::Path,
    ) -> Result<Resolved, String> {
        let mut current = name.to_string();
        let mut missing: Vec<String> = Vec::new();
        loop {
            let Some(agent) = self.config.agents.get(&current) else {
                return Err(format!("unknown agent {current:?}"));
            };
            let argv = agent.render_command(vars);
            let env = render_env(agent, vars);
            let path_var = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| std::ffi::OsString::from(v));
            let program = argv.first().cloned().unwrap_or_default();
            if find_program(&program, cwd, path_var.as_deref()).is_some() {
                return Ok(Resolved {
                    name: current,
                    argv,
                    env,
                });
            }
            missing.push(format!("{program:?} (agent {current})"));
            match &agent.fallback {
                Some(next)
                    if !missing
                        .iter()
                        .any(|m| m.ends_with(&format!("(agent {next})"))) =>
                {
                    current = next.clone();
                }
                _ => return Err(format!("command not found: {}", missing.join(", then "))),
            }
        }
    }
}

fn render_env(agent: &AgentConfig, vars: &Placeholders<'_>) -> Vec<(String, String)> {
    agent
        .env
        .iter()
        .map(|(k, v)| (k.clone(), vars.fill(v)))
        .collect()
}
