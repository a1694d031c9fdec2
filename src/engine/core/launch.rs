//! One attempt, from queued to a running agent: record `running` (and the
//! attempt) first, then ask for the worktree (a git job), then resolve the
//! agent (following fallbacks past missing programs) and ask for the spawn.
//! Each step's result comes back as an input.

use crate::agent::backend::Started;
use crate::agent::sandbox::SandboxRequest;
use crate::config::{AgentConfig, Placeholders, SandboxMode};
use crate::engine::core::{Core, CoreError, Live, Phase, StopReason};
use crate::engine::effect::{Effect, SpawnOrder, Write};
use crate::engine::message::{Event, SpawnFailure};
use crate::engine::policy::Level;
use crate::engine::state::TaskState;
use crate::git::{Known, Prepare, StartMode, Worktree};
use crate::store::{AttemptRow, AttemptStatus, WorktreeRow};

/// The agent that will actually run, after fallbacks.
struct Resolved {
    name: String,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    sandbox: SandboxMode,
    writable: Vec<std::path::PathBuf>,
    /// It continues the conversation `vars.session_id` (its `resume`).
    resumed: bool,
    screen: crate::engine::effect::ScreenPatterns,
    /// Its `auto_answer` rules as they were at the launch: the watcher's
    /// rule numbers refer to these, whatever a reload does.
    auto_answers: Vec<crate::config::AutoAnswer>,
}

impl Core {
    /// Start an attempt of `id` with the agent `runs` (its configured agent
    /// or the fallback that will really run).
    pub(super) fn launch(&mut self, id: &str, runs: String) -> Result<(), CoreError> {
        let Some(task) = self.defs.task(id).cloned() else {
            return Ok(());
        };
        let Some(current) = self.tasks.get(id) else {
            return Ok(());
        };
        let attempt = current.attempts + 1;
        let mode = current.next_start;
        // A resolve start merges the base and leaves markers for the agent;
        // the subtasks were taken in by the attempt that made it done.
        let children = if mode == StartMode::Resolve {
            Vec::new()
        } else {
            self.children_to_merge(id)
        };
        let log_path = self.paths.log(id, attempt);
        let row = AttemptRow {
            task_id: id.to_string(),
            attempt,
            agent: runs.clone(),
            status: AttemptStatus::Running,
            started_at: self.now.wall_ms,
            ended_at: None,
            pid: None,
            exit_code: None,
            signal: None,
            cause: None,
            log_path: Some(log_path.display().to_string()),
            commit_id: None,
            progress: None,
            note: None,
            activity: None,
            session_id: None,
            resumed: None,
            sandbox: None,
        };
        // Persisted before anything else happens: if orch dies from here on,
        // the next run sees an interrupted attempt and resumes the task.
        let why = (runs != task.agent)
            .then(|| format!("agent {runs} (fallback: {} is not installed)", task.agent));
        self.transition(
            id,
            TaskState::Running,
            why,
            Some(attempt),
            |t| t.attempts = attempt,
            vec![Write::Attempt(row.clone())],
        )?;
        self.live.insert(
            id,
            Live {
                task: task.clone(),
                row,
                phase: Phase::Preparing,
                started: self.now.mono,
                heard: None,
                stop: None,
                heartbeat: Level::Ok,
                sample: None,
                worktree: None,
                mode,
                merged_children: children.iter().map(|(c, _)| c.clone()).collect(),
                watch: super::attention::Watch::new(self.now.mono, self.now.wall_ms),
            },
        );
        let prepare = Prepare {
            task: id.to_string(),
            dir: self.paths.worktree(id),
            base: self.base_branch.clone(),
            deps: self.start_deps(id),
            known: self.worktrees.get(id).copied().unwrap_or(Known::No),
            mode,
            include: self.defs.config().project.worktree_include.clone(),
            children,
        };
        self.out.push(Effect::PrepareWorktree { attempt, prepare });
        Ok(())
    }

    /// The branches a new `orch/ID` is made from: a subtask's parent's
    /// first (as it stands when the subtask starts), then its dependencies',
    /// in plan order. A skipped dependency's branch holds work nobody
    /// accepted (or none): its own dependencies stand in for it.
    pub(super) fn start_deps(&self, id: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        if let Some(parent) = self.defs.parent(id) {
            out.push(parent.to_string());
            seen.push(parent.to_string());
        }
        let mut todo: Vec<String> = self
            .defs
            .plan()
            .dependencies(id)
            .iter()
            .rev()
            .cloned()
            .collect();
        while let Some(dep) = todo.pop() {
            if seen.contains(&dep) {
                continue;
            }
            seen.push(dep.clone());
            if self.tasks.get(&dep).is_some_and(|t| t.skipped) {
                todo.extend(self.defs.plan().dependencies(&dep).iter().rev().cloned());
            } else {
                out.push(dep);
            }
        }
        out
    }

    pub(super) fn on_worktree(
        &mut self,
        id: &str,
        attempt: u32,
        result: Result<Worktree, String>,
    ) -> Result<(), CoreError> {
        let Some(live) = self.live.take(id, attempt, Phase::Preparing) else {
            return Ok(());
        };
        let worktree = match (result, live.stop.clone()) {
            (Ok(worktree), _) => worktree,
            // Cancelled or shut down meanwhile: that decides, not the job.
            (Err(_), Some(stop)) => return self.end_stopped(id, live.row, stop),
            (Err(err), None) => {
                return self.fail_attempt(id, live.row, format!("worktree: {err}"), false)
            }
        };
        // Recorded as ready before any agent runs in it: from then on its
        // changes are the agents' work, never remade.
        let known = self.worktrees.get(id).copied().unwrap_or(Known::No);
        if worktree.created || known != Known::Ready {
            self.persist(Write::Worktree(WorktreeRow::ready(
                id,
                &worktree.path.display().to_string(),
                &worktree.branch,
                self.now.wall_ms,
            )));
            self.worktrees.insert(id.to_string(), Known::Ready);
        }
        for note in &worktree.notes {
            self.note(id, "worktree", note.clone());
        }
        if live.mode != StartMode::Continue {
            if let Some(mut row) = self.tasks.get(id).cloned() {
                if live.mode == StartMode::Resolve {
                    // Still resolving until an attempt commits the merge:
                    // a retry (or a crash) starts as a resolve again, in
                    // the worktree as it is.
                    row.conflicts = worktree.conflicts.clone();
                } else {
                    // Done with: a crash from here on continues here. A
                    // fresh start starts a new conversation too.
                    if live.mode == StartMode::Fresh {
                        row.session_id = None;
                    }
                    row.next_start = StartMode::Continue;
                }
                self.persist(Write::Task(row.clone()));
                self.tasks.put(row);
            }
        }
        if let Some(stop) = live.stop.clone() {
            // Cancelled or shut down while its worktree was being made:
            // nothing was started, so it ends here.
            return self.end_stopped(id, live.row, stop);
        }
        if live.mode == StartMode::Resolve && worktree.conflicts.is_empty() {
            return self.resolved_without_agent(id, live.row);
        }
        let task = live.task.clone();
        let path_str = worktree.path.display().to_string();
        let conflicts = worktree.conflicts.join(", ");
        let children = self.children_text(id);
        let session = match live.mode {
            StartMode::Fresh => None,
            _ => self.tasks.get(id).and_then(|t| t.session_id.clone()),
        };
        let prompt = if live.mode == StartMode::Resolve {
            resolve_prompt(&task.prompt, &self.base_branch, &conflicts)
        } else {
            task.prompt.clone()
        };
        let vars = Placeholders {
            prompt: &prompt,
            task_id: id,
            worktree: &path_str,
            branch: &worktree.branch,
            conflicts: &conflicts,
            children: &children,
            session_id: session.as_deref().unwrap_or(""),
        };
        let resolved = match self.resolve_agent(&task.agent, &vars, &worktree.path) {
            Ok(resolved) => resolved,
            Err(cause) => return self.fail_attempt(id, live.row, cause, false),
        };
        let mut env = vec![
            ("ORCH_CONFLICTS".to_string(), worktree.conflicts.join("\n")),
            ("ORCH_TASK_ID".to_string(), id.to_string()),
            ("ORCH_ATTEMPT".to_string(), attempt.to_string()),
            ("ORCH_WORKTREE".to_string(), path_str.clone()),
            ("ORCH_BRANCH".to_string(), worktree.branch.clone()),
            ("ORCH_BASE_BRANCH".to_string(), self.base_branch.clone()),
            // The link in the state directory: where the socket really is
            // (a path too long for a socket lives elsewhere) is for the
            // client to follow. `ORCH_TOKEN` is the driver's to add.
            (
                "ORCH_SOCKET".to_string(),
                self.paths
                    .state_dir
                    .join(crate::control::socket::SOCKET_NAME)
                    .display()
                    .to_string(),
            ),
        ];
        env.extend(resolved.env);
        // The agent's own writes are confined where the kernel does it; the
        // paths that decide how are all the engine's to give.
        let sandbox = (resolved.sandbox != SandboxMode::None).then(|| SandboxRequest {
            mode: resolved.sandbox,
            writable: resolved.writable,
            repo: self.defs.config().root.clone(),
            state_dir: self.paths.state_dir.clone(),
            branch: worktree.branch.clone(),
        });
        let mut live = live;
        if resolved.resumed {
            if let Some(session) = &session {
                live.row.resumed = Some(session.clone());
                self.note(id, "resume", format!("continues conversation {session}"));
            }
        }
        live.row.agent = resolved.name;
        live.worktree = Some(worktree.path.clone());
        live.watch.answer_rules = resolved.auto_answers;
        self.out.push(Effect::Spawn(SpawnOrder {
            task: id.to_string(),
            attempt,
            command: resolved.argv,
            cwd: worktree.path,
            env,
            log_path: self.paths.log(id, attempt),
            sandbox,
            screen: resolved.screen,
        }));
        self.live.insert(id, live);
        Ok(())
    }

    pub(super) fn on_spawned(
        &mut self,
        id: &str,
        attempt: u32,
        result: Result<Started, SpawnFailure>,
    ) -> Result<(), CoreError> {
        let Some(mut live) = self.live.take(id, attempt, Phase::Preparing) else {
            return Ok(());
        };
        let started = match result {
            Ok(started) => started,
            Err(failure) => {
                return self.fail_attempt(id, live.row, failure.cause, failure.retryable);
            }
        };
        let pid = started.pid;
        live.row.pid = Some(pid);
        live.row.sandbox = Some(started.sandbox.to_string());
        for note in started.notes {
            self.note(id, "sandbox", note);
        }
        live.phase = Phase::Running;
        live.started = self.now.mono;
        live.heard = None;
        tracing::info!(task = id, attempt, pid, agent = %live.row.agent, "agent started");
        self.persist(Write::Attempt(live.row.clone()));
        self.publish(Event::AgentStarted {
            task: id.to_string(),
            attempt,
            agent: live.row.agent.clone(),
        });
        if live.stop.is_some() {
            self.out.push(Effect::Stop {
                task: id.to_string(),
                attempt,
                grace: self.opts.stop_grace,
            });
        }
        self.live.insert(id, live);
        Ok(())
    }

    /// The agent that will run for a task configured with `name`, following
    /// fallbacks past agents whose program is missing. Used for the
    /// `max_instances` limits, which apply to the agent that really runs.
    /// If none is found, `name` itself (its launch will fail and say why).
    pub(super) fn agent_to_run(&self, name: &str) -> String {
        let mut current = name.to_string();
        let mut seen = Vec::new();
        while let Some(agent) = self.defs.agent(&current) {
            let path_var = agent.env.get("PATH").map(std::ffi::OsString::from);
            let program = agent.command.first().map(String::as_str).unwrap_or("");
            if self
                .lookup
                .found(program, &self.defs.config().root, path_var.as_deref())
            {
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
        let mut tried: Vec<String> = Vec::new();
        loop {
            let Some(agent) = self.defs.agent(&current) else {
                return Err(format!("unknown agent {current:?}"));
            };
            // A conversation to continue, with an agent that can: its
            // `resume` command instead of its command.
            let resume = agent.resume();
            let resumed = !vars.session_id.is_empty() && !resume.is_empty();
            let argv = if resumed {
                resume.iter().map(|a| vars.fill_resume(a)).collect()
            } else {
                agent.render_command(vars)
            };
            let argv = crate::agent::kinds::wire_hooks(agent.kind, argv, &self.opts.orch_bin);
            let env = render_env(agent, vars);
            let path_var = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| std::ffi::OsString::from(v));
            let program = argv.first().cloned().unwrap_or_default();
            if self.lookup.found(&program, cwd, path_var.as_deref()) {
                return Ok(Resolved {
                    name: current,
                    argv,
                    env,
                    sandbox: agent.sandbox,
                    writable: agent.writable.clone(),
                    resumed,
                    screen: crate::engine::effect::ScreenPatterns {
                        kind: agent.screen_kind(),
                        waiting: agent.waiting_patterns.clone(),
                        auto_answer: agent
                            .auto_answer
                            .iter()
                            .map(|a| a.pattern.clone())
                            .collect(),
                    },
                    auto_answers: agent.auto_answer.clone(),
                });
            }
            missing.push(format!("{program:?} (agent {current})"));
            tried.push(current.clone());
            match &agent.fallback {
                Some(next) if !tried.contains(next) => current = next.clone(),
                _ => return Err(format!("command not found: {}", missing.join(", then "))),
            }
        }
    }

    /// A resolve attempt whose base merged cleanly after all (the base
    /// moved on): the merge commit is made, nothing is left for the agent,
    /// and the task is done again, so its merge is tried once more.
    fn resolved_without_agent(&mut self, id: &str, mut row: AttemptRow) -> Result<(), CoreError> {
        row.status = AttemptStatus::Succeeded;
        row.ended_at = Some(self.now.wall_ms);
        row.cause = Some("the base merged in cleanly: nothing to resolve".into());
        let why = format!(
            "attempt {}: {} merged in cleanly, nothing to resolve",
            row.attempt, self.base_branch
        );
        let attempt = row.attempt;
        self.transition(
            id,
            TaskState::Done,
            Some(why),
            Some(attempt),
            |t| t.cause = None,
            vec![Write::Attempt(row)],
        )
    }

    /// An attempt orch stopped before (or instead of) its agent running.
    pub(super) fn end_stopped(
        &mut self,
        id: &str,
        mut row: AttemptRow,
        stop: StopReason,
    ) -> Result<(), CoreError> {
        row.ended_at = Some(self.now.wall_ms);
        let attempt = row.attempt;
        match stop {
            StopReason::Cancelled => {
                row.status = AttemptStatus::Cancelled;
                row.cause = Some("cancelled".into());
                let why = Some("cancelled by user".to_string());
                self.transition(
                    id,
                    TaskState::Cancelled,
                    why,
                    Some(attempt),
                    |_| {},
                    vec![Write::Attempt(row)],
                )
            }
            StopReason::Shutdown
            | StopReason::Timeout(_)
            | StopReason::Stalled(_)
            | StopReason::NoAnswer { .. } => {
                row.status = AttemptStatus::Interrupted;
                row.cause = Some("orch was stopped".into());
                let why = Some(format!("attempt {attempt} interrupted: orch was stopped"));
                self.transition(
                    id,
                    TaskState::Queued,
                    why,
                    Some(attempt),
                    |_| {},
                    vec![Write::Attempt(row)],
                )
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

/// The prompt of a resolve attempt: the task's own, where `{conflicts}`
/// names the files; a prompt that does not use it is told in a sentence
/// appended to it.
fn resolve_prompt(prompt: &str, base: &str, conflicts: &str) -> String {
    if crate::config::mentions_placeholder(prompt, "conflicts") {
        return prompt.to_string();
    }
    format!(
        "{prompt}\n\nMerging {base} into this branch conflicted in: {conflicts}. \
         The conflict markers are in place in those files. Resolve each conflict so that the \
         changes of both sides survive, remove every marker, and finish; orch commits the merge \
         and tries it again."
    )
}
