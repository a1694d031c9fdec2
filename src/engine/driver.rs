//! The driver: the one tokio task that owns the engine core and carries out
//! its effects.
//!
//! It waits for a request (from a handle), an input (an agent exited, a
//! round of health samples, a git job finished) or the core's next wake-up;
//! hands it to the core with the time; then carries out what the core
//! decided, in order: rows are written in one transaction *before* the
//! events that describe them are published and before any job or process
//! that follows them starts. Git work runs on the blocking pool and reports
//! back as an input, so neither a large checkout nor a commit ever holds up
//! an agent's exit being recorded.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use crate::agent::backend::{AgentBackend, AgentRegistry, LocalBackend, LocalOptions};
use crate::agent::pty::SpawnError;
use crate::agent::token::{self, AgentTokens};
use crate::config::Config;
use crate::engine::clock::{Clock, SystemClock};
use crate::engine::core::{Core, CoreError, CoreOptions, PathLookup, Setup, Stored};
use crate::engine::effect::{Effect, SpawnOrder, Write};
use crate::engine::message::{
    ActionError, Actor, Answer, Event, HealthSample, Input, Request, RunOutcome, Snapshot,
    SpawnFailure,
};
use crate::engine::state::TaskState;
use crate::git::{GitError, Known, Repo, Workspace, BRANCH_PREFIX};
use crate::store::{Batch, EventRow, Store, StoreError, WorktreeRow};

#[cfg(test)]
mod tests;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("cannot start the agent backend: {0}")]
    Sampler(std::io::Error),
}

/// How a run behaves; the control room and `--no-tui` differ only here.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// "tui" or "headless", recorded in the runs table.
    pub mode: &'static str,
    /// Approve every start gate (recorded as approved by `--approve-all`).
    pub approve_all: bool,
    /// Reject a gate nobody decided on within this long; `None` waits forever.
    pub approval_timeout: Option<Duration>,
    /// End the loop once every task is settled (headless).
    pub exit_when_settled: bool,
    /// Start no agents: carry out one request (a merge, a retry queued for
    /// the next run) and end once its git work is done. For commands run
    /// while no orch runs here.
    pub one_shot: bool,
    pub pty_rows: u16,
    pub pty_cols: u16,
    /// SIGTERM to SIGKILL.
    pub stop_grace: Duration,
    pub log_cap_bytes: u64,
    pub history_lines: usize,
    pub sample_period: Duration,
    /// Called by every agent's reader after it processed output; views use
    /// it to know a redraw may be due. Must be cheap and never block.
    pub output_signal: Option<OutputSignal>,
}

/// A cheap "some agent printed something" callback.
#[derive(Clone)]
pub struct OutputSignal(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for OutputSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OutputSignal")
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            mode: "headless",
            approve_all: false,
            approval_timeout: Some(Duration::ZERO),
            exit_when_settled: true,
            one_shot: false,
            pty_rows: 50,
            pty_cols: 200,
            stop_grace: Duration::from_secs(5),
            log_cap_bytes: 16 * 1024 * 1024,
            history_lines: 10_000,
            sample_period: Duration::from_secs(1),
            output_signal: None,
        }
    }
}

/// A request on its way to the engine, with where the answer goes.
enum Envelope {
    Request {
        actor: Actor,
        request: Request,
        reply: Option<oneshot::Sender<Result<Answer, ActionError>>>,
    },
    Snapshot {
        reply: oneshot::Sender<Snapshot>,
    },
}

/// What the rest of the program holds to talk to a running engine: ask it
/// things, read its events, find running agents' terminals, see its plan
/// and whether anything is still owed.
#[derive(Clone)]
pub struct EngineHandle {
    requests: mpsc::Sender<Envelope>,
    events: broadcast::Sender<Event>,
    agents: AgentRegistry,
    tokens: AgentTokens,
    plan: watch::Receiver<Arc<Config>>,
    settled: watch::Receiver<bool>,
    mode: &'static str,
}

impl EngineHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// The plan's config as the engine sees it: `orch.toml`'s tasks (as
    /// last reloaded), then the tasks added at run time, those of earlier
    /// runs included. Current from [`Engine::new`] on, and updated before
    /// the [`Event::PlanChanged`] that announces a change; after the engine
    /// has ended, the plan it ended with.
    pub fn plan(&self) -> Arc<Config> {
        self.plan.borrow().clone()
    }

    /// [`EngineHandle::plan`], to wait for its changes.
    pub fn watch_plan(&self) -> watch::Receiver<Arc<Config>> {
        self.plan.clone()
    }

    /// Whether nothing is owed, as of the engine's last round: no agent,
    /// every task settled, no merge, merge gate, hook or push to come (see
    /// `Core::settled`). `false` until the first round.
    pub fn is_settled(&self) -> bool {
        *self.settled.borrow()
    }

    /// [`EngineHandle::is_settled`], to wait for its changes.
    pub fn watch_settled(&self) -> watch::Receiver<bool> {
        self.settled.clone()
    }

    /// The kind of run, as `runs` records it ([`EngineOptions::mode`]):
    /// "server", "headless" (a foreground `orch --no-tui`), "command".
    pub fn mode(&self) -> &'static str {
        self.mode
    }

    /// Running agents' terminals.
    pub fn agents(&self) -> &AgentRegistry {
        &self.agents
    }

    /// The `ORCH_TOKEN`s of running attempts.
    pub fn tokens(&self) -> &AgentTokens {
        &self.tokens
    }

    /// Ask for something and wait until it is done (persisted) or refused.
    pub async fn ask(&self, actor: Actor, request: Request) -> Result<(), ActionError> {
        self.answer(actor, request).await.map(drop)
    }

    /// [`EngineHandle::ask`], with what the request answers.
    pub async fn answer(&self, actor: Actor, request: Request) -> Result<Answer, ActionError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Envelope::Request {
                actor,
                request,
                reply: Some(tx),
            })
            .await
            .map_err(|_| ActionError::ShuttingDown)?;
        rx.await.map_err(|_| ActionError::ShuttingDown)?
    }

    /// Ask for something without waiting for the answer.
    pub async fn tell(&self, actor: Actor, request: Request) -> Result<(), ActionError> {
        self.requests
            .send(Envelope::Request {
                actor,
                request,
                reply: None,
            })
            .await
            .map_err(|_| ActionError::ShuttingDown)
    }

    /// Every task as it stands; `None` once the engine has stopped.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(Envelope::Snapshot { reply: tx })
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// Where a round of health samples goes; `false` once nobody listens.
pub type HealthSink = Box<dyn FnMut(Vec<HealthSample>) -> bool + Send>;

/// Builds the agent backend once the engine knows where health samples go
/// and which registry running agents' terminals are published in.
pub type MakeBackend =
    Box<dyn FnOnce(HealthSink, AgentRegistry) -> std::io::Result<Box<dyn AgentBackend>> + Send>;

/// The operating system, as the engine reaches it.
pub struct Parts {
    pub workspace: Arc<dyn Workspace>,
    pub backend: MakeBackend,
    pub clock: Arc<dyn Clock>,
}

/// The engine: its core, and what carries out the core's decisions.
pub struct Engine {
    core: Core,
    store: Store,
    backend: Box<dyn AgentBackend>,
    workspace: Arc<dyn Workspace>,
    clock: Arc<dyn Clock>,
    requests: mpsc::Receiver<Envelope>,
    inputs: mpsc::Receiver<Input>,
    inputs_tx: mpsc::Sender<Input>,
    events: broadcast::Sender<Event>,
    handle: EngineHandle,
    /// Running attempts' `ORCH_TOKEN`s (made here, at spawn: the core
    /// stays deterministic).
    tokens: AgentTokens,
    /// The plan's config, for [`EngineHandle::plan`].
    plan: watch::Sender<Arc<Config>>,
    /// The core's `settled`, for [`EngineHandle::is_settled`].
    settled: watch::Sender<bool>,
    /// Effects decided at start that need the runtime (git jobs).
    startup: Vec<Effect>,
    /// Where hooks run and pushes are made from.
    repo_root: PathBuf,
    /// Watches running agents' terminals and processes for waiting.
    watcher: crate::agent::waiting::watcher::Watcher,
}

const INBOX: usize = 1024;
const OUTBOX: usize = 4096;

/// How long one `git push` may take before it is killed (and retried).
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// The cause recorded when a git job panicked (a bug; the log has it).
const JOB_PANICKED: &str =
    "the git operation failed unexpectedly (see .orch/server.log, or stderr of a --no-tui run)";

impl Engine {
    /// Reconcile the store with `config` (closing attempts a dead orch left
    /// running) and get ready to run, with agents in local PTYs, git in
    /// `repo` and the system's clock. Nothing is started until [`Engine::run`].
    pub fn new(
        config: Config,
        store: Store,
        repo: Repo,
        base_branch: String,
        opts: EngineOptions,
    ) -> Result<(Engine, EngineHandle), EngineError> {
        let local = LocalOptions {
            rows: opts.pty_rows,
            cols: opts.pty_cols,
            log_cap_bytes: opts.log_cap_bytes,
            history_lines: opts.history_lines,
            on_output: opts.output_signal.as_ref().map(|s| s.0.clone()),
        };
        let period = opts.sample_period;
        let parts = Parts {
            workspace: Arc::new(repo),
            backend: Box::new(move |mut health: HealthSink, registry| {
                let backend = LocalBackend::start(local, period, registry, move |round| {
                    health(
                        round
                            .into_iter()
                            .map(|(task, attempt, pid, usage)| HealthSample {
                                task,
                                attempt,
                                pid,
                                cpu: usage.cpu,
                                rss: usage.rss,
                                procs: usage.procs,
                            })
                            .collect(),
                    )
                })?;
                Ok(Box::new(backend) as Box<dyn AgentBackend>)
            }),
            clock: Arc::new(SystemClock),
        };
        Engine::with_parts(config, store, base_branch, opts, parts)
    }

    /// As [`Engine::new`], with the agent backend, the git workspace and the
    /// clock given.
    pub fn with_parts(
        config: Config,
        mut store: Store,
        base_branch: String,
        opts: EngineOptions,
        parts: Parts,
    ) -> Result<(Engine, EngineHandle), EngineError> {
        let (inputs_tx, inputs) = mpsc::channel(INBOX);
        let (requests_tx, requests) = mpsc::channel(INBOX);
        let (events, _) = broadcast::channel(OUTBOX);
        let registry = AgentRegistry::default();
        let health_tx = inputs_tx.clone();
        let health: HealthSink = Box::new(move |samples| {
            let input = Input::Health {
                samples,
                heard: Vec::new(),
            };
            health_tx.blocking_send(input).is_ok()
        });
        let backend = (parts.backend)(health, registry.clone()).map_err(EngineError::Sampler)?;
        let watch_tx = inputs_tx.clone();
        let watcher = crate::agent::waiting::watcher::Watcher::start(
            registry.clone(),
            Box::new(move |o| {
                let input = Input::Observed {
                    task: o.task,
                    attempt: o.attempt,
                    signal: o.signal,
                    seen: o.seen,
                    detail: o.detail,
                    auto_answer: o.auto_answer,
                };
                watch_tx.blocking_send(input).is_ok()
            }),
        )
        .map_err(EngineError::Sampler)?;
        let clock = parts.clock;
        let now = clock.now();
        let run_id = start_run(&mut store, opts.mode, &base_branch, now.wall_ms)?;
        let stored = read_stored(&store)?;
        let repo_root = config.root.clone();
        let setup = Setup {
            config,
            base_branch,
            run_id,
            opts: CoreOptions {
                approve_all: opts.approve_all,
                approval_timeout: opts.approval_timeout,
                exit_when_settled: opts.exit_when_settled,
                one_shot: opts.one_shot,
                stop_grace: opts.stop_grace,
                headless: opts.mode == "headless",
                orch_bin: crate::agent::which::orch_program(),
            },
            lookup: Box::new(PathLookup),
            seed: u64::try_from(now.wall_ms).unwrap_or(1),
        };
        let (core, effects) = Core::start(setup, stored, now);
        let (plan, plan_rx) = watch::channel(Arc::new(core.config().clone()));
        // Not known before the first round: nothing ends on it meanwhile.
        let (settled, settled_rx) = watch::channel(false);
        let tokens = AgentTokens::default();
        let handle = EngineHandle {
            requests: requests_tx,
            events: events.clone(),
            agents: registry,
            tokens: tokens.clone(),
            plan: plan_rx,
            settled: settled_rx,
            mode: opts.mode,
        };
        let mut engine = Engine {
            core,
            store,
            backend,
            workspace: parts.workspace,
            clock,
            requests,
            inputs,
            inputs_tx,
            events,
            handle: handle.clone(),
            tokens,
            plan,
            settled,
            startup: Vec::new(),
            repo_root,
            watcher,
        };
        // The reconciled state is saved now; jobs wait for the runtime.
        let (jobs, now_effects): (Vec<Effect>, Vec<Effect>) = effects.into_iter().partition(|e| {
            matches!(
                e,
                Effect::Commit { .. }
                    | Effect::PrepareWorktree { .. }
                    | Effect::Merge(_)
                    | Effect::RunHook { .. }
                    | Effect::Push { .. }
            )
        });
        engine.execute(now_effects)?;
        engine.startup = jobs;
        Ok((engine, handle))
    }

    pub fn handle(&self) -> EngineHandle {
        self.handle.clone()
    }

    /// Tasks in plan order, as they stand.
    pub fn rows(&self) -> Vec<crate::store::TaskRow> {
        self.core.rows()
    }

    /// Run until the plan settles (headless) or a shutdown is asked for.
    pub async fn run(mut self) -> Result<RunOutcome, EngineError> {
        let result = self.run_loop().await;
        if result.is_err() {
            // The store failed: stop agents anyway, nothing else can be saved.
            for effect in self.core.emergency_stop() {
                if let Effect::Stop {
                    task,
                    attempt,
                    grace,
                } = effect
                {
                    self.backend.stop(&task, attempt, grace);
                }
            }
        }
        let outcome = result?;
        let at = self.clock.now().wall_ms;
        let mut b = self.store.batch()?;
        b.end_run(self.core.run_id(), at, outcome.exit_code)?;
        b.event(&EventRow {
            seq: 0,
            at,
            run_id: Some(self.core.run_id()),
            task_id: None,
            attempt: None,
            kind: "run_ended".into(),
            from_state: None,
            to_state: None,
            cause: Some(format!("exit code {}", outcome.exit_code)),
        })?;
        b.commit()?;
        let _ = self.events.send(Event::Finished(outcome.clone()));
        Ok(outcome)
    }

    async fn run_loop(&mut self) -> Result<RunOutcome, EngineError> {
        let startup = std::mem::take(&mut self.startup);
        self.execute(startup)?;
        self.tick()?;
        loop {
            if let Some(outcome) = self.core.outcome() {
                return Ok(outcome);
            }
            let wake = self.core.next_wake(self.clock.now());
            tokio::select! {
                Some(envelope) = self.requests.recv() => self.on_envelope(envelope)?,
                Some(input) = self.inputs.recv() => self.on_input(input)?,
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            // Take whatever else is already queued before deciding on time.
            while let Ok(input) = self.inputs.try_recv() {
                self.on_input(input)?;
            }
            while let Ok(envelope) = self.requests.try_recv() {
                self.on_envelope(envelope)?;
            }
            self.tick()?;
        }
    }

    /// Bring the plan up to date; then say whether anything is still owed
    /// (every round ends with a tick, so this follows every change).
    fn tick(&mut self) -> Result<(), EngineError> {
        let heard = self.backend.heard();
        let effects = self.core.input(Input::Tick { heard }, self.clock.now())?;
        self.execute(effects)?;
        let settled = self.core.settled();
        self.settled.send_if_modified(|was| {
            let changed = *was != settled;
            *was = settled;
            changed
        });
        Ok(())
    }

    fn on_envelope(&mut self, envelope: Envelope) -> Result<(), EngineError> {
        match envelope {
            Envelope::Snapshot { reply } => {
                let _ = reply.send(self.core.snapshot());
                Ok(())
            }
            Envelope::Request {
                actor,
                request,
                reply,
            } => {
                let (answer, effects) = self.core.answer(actor, request, self.clock.now())?;
                let done = self.execute(effects);
                if let Some(reply) = reply {
                    let _ = reply.send(match &done {
                        Ok(()) => answer,
                        Err(err) => Err(ActionError::Store(err.to_string())),
                    });
                }
                done
            }
        }
    }

    fn on_input(&mut self, input: Input) -> Result<(), EngineError> {
        let input = match input {
            Input::AgentExited {
                task,
                attempt,
                exit,
            } => {
                self.backend.release(&task, attempt);
                self.tokens.remove(&task, attempt);
                Input::AgentExited {
                    task,
                    attempt,
                    exit,
                }
            }
            Input::Health { samples, .. } => Input::Health {
                samples,
                heard: self.backend.heard(),
            },
            other => other,
        };
        let effects = self.core.input(input, self.clock.now())?;
        self.execute(effects)
    }

    /// Carry out effects in order. Rows are collected and written in one
    /// transaction before the events that follow them are published, and
    /// before any job or process starts.
    fn execute(&mut self, effects: Vec<Effect>) -> Result<(), EngineError> {
        let mut queue: VecDeque<Effect> = effects.into();
        let mut writes: Vec<Write> = Vec::new();
        let mut events: Vec<Event> = Vec::new();
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Persist(write) => writes.push(write),
                Effect::Publish(event) => events.push(event),
                other => {
                    let other = self.record_intent(other, &mut writes);
                    self.flush(&mut writes, &mut events)?;
                    if let Some(input) = self.carry_out(other)? {
                        let more = self.core.input(input, self.clock.now())?;
                        queue.extend(more);
                    }
                }
            }
        }
        self.flush(&mut writes, &mut events)
    }

    /// A worktree job's intent, written with the rows before it: whenever
    /// nothing occupies the path (a new worktree, or a recorded one whose
    /// directory is gone: not found, not merely unreadable), the row says
    /// `creating` and the job is told so,
    /// so a kill during the checkout leaves one the next run knows it may
    /// make again, never a half-made tree taken for the agent's work. A
    /// directory already there is never orch's to remake.
    fn record_intent(&self, mut effect: Effect, writes: &mut Vec<Write>) -> Effect {
        if let Effect::PrepareWorktree { prepare, .. } = &mut effect {
            let absent = matches!(
                std::fs::symlink_metadata(&prepare.dir),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound
            );
            if absent {
                writes.push(Write::Worktree(WorktreeRow::creating(
                    &prepare.task,
                    &prepare.dir.display().to_string(),
                    &format!("{BRANCH_PREFIX}{}", prepare.task),
                    self.clock.now().wall_ms,
                )));
                // What the store knew decides what an existing branch is:
                // one it never recorded is not built on (`Known::No` stays).
                if prepare.known != Known::No {
                    prepare.known = Known::Creating;
                }
            }
        }
        effect
    }

    /// One effect that is not a write or an event. A result the core must
    /// hear about at once (a spawn) is returned as an input.
    fn carry_out(&mut self, effect: Effect) -> Result<Option<Input>, EngineError> {
        Ok(match effect {
            Effect::Persist(_) | Effect::Publish(_) => None,
            Effect::Type {
                task,
                attempt,
                bytes,
            } => {
                if let Some(terminal) = self.handle.agents().get(&task, Some(attempt)) {
                    if let Err(err) = terminal.write_input(&bytes) {
                        tracing::warn!(%task, "cannot type into the agent: {err}");
                    }
                }
                None
            }
            Effect::PrepareWorktree { attempt, prepare } => {
                let report = |task, attempt, result| Input::WorktreeReady {
                    task,
                    attempt,
                    result,
                };
                self.git_job(prepare.task.clone(), attempt, report, move |git| {
                    git.prepare_worktree(&prepare)
                });
                None
            }
            Effect::Merge(request) => {
                let report = |task, _, result| Input::Merged { task, result };
                self.git_job(request.task.clone(), 0, report, move |git| {
                    git.merge(&request)
                });
                None
            }
            Effect::RunHook {
                hook,
                task,
                argv,
                timeout,
            } => {
                self.hook_job(hook, task, argv, timeout);
                None
            }
            Effect::Push {
                task,
                remote,
                refspec,
            } => {
                self.push_job(task, remote, refspec);
                None
            }
            Effect::Commit {
                task,
                attempt,
                worktree,
                message,
            } => {
                let report = |task, attempt, result| Input::Committed {
                    task,
                    attempt,
                    result,
                };
                self.git_job(task, attempt, report, move |git| {
                    git.commit_all(&worktree, &message)
                });
                None
            }
            Effect::Spawn(order) => Some(self.spawn(order)),
            Effect::Stop {
                task,
                attempt,
                grace,
            } => {
                self.backend.stop(&task, attempt, grace);
                None
            }
            Effect::KillLeftover { pid, worktree } => {
                self.backend.kill_leftover(pid, &worktree);
                None
            }
        })
    }

    fn spawn(&mut self, mut order: SpawnOrder) -> Input {
        // The attempt's token, registered before the agent can use it and
        // set last, so no agent config's `env` can replace it.
        let token = match token::generate() {
            Ok(token) => token,
            Err(err) => {
                return Input::Spawned {
                    task: order.task,
                    attempt: order.attempt,
                    result: Err(SpawnFailure {
                        cause: format!("cannot make the agent's ORCH_TOKEN: {err}"),
                        retryable: true,
                    }),
                }
            }
        };
        self.tokens.insert(&token, &order.task, order.attempt);
        order.env.retain(|(k, _)| k != "ORCH_TOKEN");
        order.env.push(("ORCH_TOKEN".to_string(), token));
        // The orch that runs it, for `orch heartbeat` and `orch msg` where
        // orch is not on PATH (a build run with `cargo run`); an agent's
        // config may name another.
        if !order.env.iter().any(|(k, _)| k == "ORCH_BIN") {
            order
                .env
                .push(("ORCH_BIN".to_string(), crate::agent::which::orch_program()));
        }
        let tx = self.inputs_tx.clone();
        let (task, attempt) = (order.task.clone(), order.attempt);
        let on_exit = Box::new(move |exit| {
            // Runs on the agent's waiter thread, never inside the runtime.
            let _ = tx.blocking_send(Input::AgentExited {
                task,
                attempt,
                exit,
            });
        });
        let result = self.backend.spawn(&order, on_exit);
        match &result {
            Ok(_) => self
                .watcher
                .watch(&order.task, order.attempt, order.screen.clone()),
            Err(_) => self.tokens.remove(&order.task, order.attempt),
        }
        let result = result.map_err(|err| {
            let retryable = !matches!(
                err,
                SpawnError::NotFound { .. } | SpawnError::EmptyCommand | SpawnError::Sandbox(_)
            );
            SpawnFailure {
                cause: err.to_string(),
                retryable,
            }
        });
        Input::Spawned {
            task: order.task,
            attempt: order.attempt,
            result,
        }
    }

    /// Run `work` against the workspace on tokio's blocking pool; its
    /// result comes back as the input `report` makes of it. Jobs run in
    /// parallel: one task's large checkout never holds up another task's
    /// commit or worktree. A job that panics reports a failure instead (and
    /// the panic goes to the log), so its attempt always ends and the run
    /// can too.
    fn git_job<T: Send + 'static>(
        &self,
        task: String,
        attempt: u32,
        report: fn(String, u32, Result<T, String>) -> Input,
        work: impl FnOnce(&dyn Workspace) -> Result<T, GitError> + Send + 'static,
    ) {
        let workspace = self.workspace.clone();
        let tx = self.inputs_tx.clone();
        let failed = report(task.clone(), attempt, Err(JOB_PANICKED.into()));
        tokio::task::spawn_blocking(move || {
            let done = crate::panic_guard::catch(|| work(workspace.as_ref()));
            let input = match done {
                Ok(result) => report(task, attempt, result.map_err(|e| e.to_string())),
                Err(_) => failed,
            };
            // The engine has stopped if this fails; nobody waits for it.
            let _ = tx.blocking_send(input);
        });
    }

    /// Run a hook on the blocking pool, in the repository's root; its
    /// summary comes back as an input.
    fn hook_job(&self, hook: &'static str, task: String, argv: Vec<String>, timeout: Duration) {
        let tx = self.inputs_tx.clone();
        let cwd = self.repo_root.clone();
        tokio::task::spawn_blocking(move || {
            let summary = crate::panic_guard::catch(|| {
                crate::ops::hooks::run_hook(&argv, &cwd, timeout).summary()
            })
            .unwrap_or_else(|_| JOB_PANICKED.to_string());
            let _ = tx.blocking_send(Input::HookDone {
                hook,
                task,
                summary,
            });
        });
    }

    /// Push on the blocking pool; the result comes back as an input.
    fn push_job(&self, task: String, remote: String, refspec: String) {
        let tx = self.inputs_tx.clone();
        let root = self.repo_root.clone();
        tokio::task::spawn_blocking(move || {
            let result = crate::panic_guard::catch(|| {
                crate::ops::push::push(&root, &remote, &refspec, PUSH_TIMEOUT)
            })
            .unwrap_or_else(|_| Err(JOB_PANICKED.to_string()));
            let _ = tx.blocking_send(Input::Pushed {
                task,
                what: format!("{refspec} to {remote}"),
                result,
            });
        });
    }

    /// Write the collected rows in one transaction, then publish the events.
    fn flush(
        &mut self,
        writes: &mut Vec<Write>,
        events: &mut Vec<Event>,
    ) -> Result<(), EngineError> {
        if !writes.is_empty() {
            let run_id = self.core.run_id();
            let mut batch = self.store.batch()?;
            for write in writes.drain(..) {
                apply(&mut batch, run_id, write)?;
            }
            batch.commit()?;
        }
        for event in events.drain(..) {
            if let Event::PlanChanged { config, .. } = &event {
                // Whoever hears of the change finds the new plan.
                self.plan.send_replace(Arc::new(config.as_ref().clone()));
            }
            // With no view subscribed (a headless run before its reporter
            // starts) there is nobody to tell, which is fine.
            let _ = self.events.send(event);
        }
        Ok(())
    }
}

fn apply(batch: &mut Batch<'_>, run_id: i64, write: Write) -> Result<(), StoreError> {
    match write {
        Write::Task(row) => batch.put_task(&row),
        Write::Attempt(row) => batch.put_attempt(&row),
        Write::Approval(row) => batch.approval(&row),
        Write::StateEvent { row, from, attempt } => {
            batch.state_event(Some(run_id), &row, from, attempt)
        }
        Write::Event(row) => batch.event(&row),
        Write::Sample(row) => batch.sample(&row),
        Write::Worktree(row) => batch.worktree(&row),
        Write::Merge(row) => batch.merge(&row),
        Write::AddedTask(row) => batch.put_added_task(&row),
        Write::Message(row) => batch.put_message(&row),
    }
}

fn start_run(store: &mut Store, mode: &str, base: &str, at: i64) -> Result<i64, StoreError> {
    let pid = std::process::id();
    let mut batch = store.batch()?;
    let run_id = batch.start_run(pid, mode, base, at)?;
    batch.event(&EventRow {
        seq: 0,
        at,
        run_id: Some(run_id),
        task_id: None,
        attempt: None,
        kind: "run_started".into(),
        from_state: None,
        to_state: None,
        cause: Some(format!("{mode} run, pid {pid}")),
    })?;
    batch.commit()?;
    Ok(run_id)
}

/// What the core needs of the store to pick up where the last run ended.
fn read_stored(store: &Store) -> Result<Stored, StoreError> {
    let tasks = store.tasks()?;
    let mut stored = Stored {
        running_attempts: store.running_attempts()?,
        added: store.added_tasks()?,
        messages: store.unacknowledged_messages()?,
        last_message_id: store.last_message_id()?,
        ..Stored::default()
    };
    for task in &tasks {
        if task.state == TaskState::Rejected {
            if let Some(last) = store.approvals(&task.id)?.pop() {
                stored.last_approvals.insert(task.id.clone(), last);
            }
        }
        if task.state == TaskState::Running {
            if let Some(last) = store.attempts(&task.id)?.pop() {
                stored.latest_attempts.insert(task.id.clone(), last);
            }
        }
        let known = store.known_worktree(&task.id)?;
        if known != Known::No {
            stored.worktrees.insert(task.id.clone(), known);
        }
    }
    stored.tasks = tasks;
    Ok(stored)
}
