//! The engine loop. It alone changes task state; every change is written to
//! the store in one batch, then published as an [`Event`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::agent::activity::{latest, Activity};
use crate::agent::pty::{AgentExit, AgentProcess};
use crate::agent::sampler::Sampler;
use crate::config::{Config, TaskConfig};
use crate::engine::message::{
    ActionError, Command, Decision, Event, HealthSample, HealthView, Reply, RunOutcome, Snapshot,
};
use crate::engine::policy::{self, AfterFailure, Level};
use crate::engine::schedule::{self, Candidate, Readiness};
use crate::engine::state::TaskState;
use crate::git::Repo;
use crate::plan::Plan;
use crate::store::{
    ApprovalRow, AttemptRow, AttemptStatus, Batch, SampleRow, Store, StoreError, TaskRow,
};
use crate::timefmt::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: task {task:?} cannot go from {from} to {to}")]
    IllegalTransition {
        task: String,
        from: TaskState,
        to: TaskState,
    },
    #[error("cannot start the health sampler: {0}")]
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

/// What the rest of the program holds to talk to a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub commands: mpsc::Sender<Command>,
    events: broadcast::Sender<Event>,
}

impl EngineHandle {
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Send a command that carries a reply and wait for the answer.
    pub async fn ask(&self, make: impl FnOnce(Reply) -> Command) -> Result<(), ActionError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| ActionError::ShuttingDown)?;
        rx.await.map_err(|_| ActionError::ShuttingDown)?
    }

    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Snapshot { reply: tx })
            .await
            .ok()?;
        rx.await.ok()
    }
}

/// Why orch itself stopped an attempt; decides how its exit is recorded.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum StopReason {
    Timeout(Duration),
    Stalled(Duration),
    Cancelled,
    Shutdown,
}

/// A running attempt.
pub(super) struct Live {
    attempt: AttemptRow,
    process: Arc<AgentProcess>,
    /// File changes in the worktree: a heartbeat beside terminal output.
    activity: Activity,
    started: Instant,
    stop: Option<StopReason>,
    heartbeat: Level,
}

impl Live {
    /// The last sign of life: output, a file change, or the start.
    fn last_heard(&self) -> Instant {
        latest(self.process.last_output_at(), self.activity.last_change()).unwrap_or(self.started)
    }
}

pub struct Engine {
    pub(super) config: Config,
    pub(super) plan: Plan,
    /// Task ids, dependencies before dependents (stage-major, config order within a stage).
    pub(super) order: Vec<String>,
    pub(super) by_id: HashMap<String, TaskConfig>,
    pub(super) store: Store,
    pub(super) repo: Arc<Repo>,
    pub(super) base_branch: String,
    pub(super) state_dir: PathBuf,
    pub(super) run_id: i64,
    pub(super) opts: EngineOptions,
    pub(super) tasks: BTreeMap<String, TaskRow>,
    pub(super) live: HashMap<String, Live>,
    /// When each gated task started waiting, for the approval timeout.
    pub(super) waiting_since: HashMap<String, Instant>,
    pub(super) rx: mpsc::Receiver<Command>,
    pub(super) tx: mpsc::Sender<Command>,
    pub(super) events: broadcast::Sender<Event>,
    pub(super) sampler: Option<Sampler>,
    pub(super) shutting_down: bool,
    pub(super) interrupted: bool,
    pub(super) approval_gave_up: bool,
    pub(super) jitter_state: u64,
    /// Transitions made so far; lets `settle` see whether a pass changed anything.
    pub(super) transitions: u64,
}

const INBOX: usize = 1024;
const OUTBOX: usize = 4096;

impl Engine {
    /// Reconcile the store with `config` (closing attempts a dead orch left
    /// running) and get ready to run. Nothing is spawned until [`Engine::run`].
    pub fn new(
        config: Config,
        store: Store,
        repo: Repo,
        base_branch: String,
        opts: EngineOptions,
    ) -> Result<(Engine, EngineHandle), EngineError> {
        let (tx, rx) = mpsc::channel(INBOX);
        let (events, _) = broadcast::channel(OUTBOX);
        let plan = Plan::new(&config.tasks);
        let order: Vec<String> = plan.stages().into_iter().flatten().collect();
        let by_id = config
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.clone()))
            .collect();
        let state_dir = config.root.join(&config.project.state_dir);
        let mut engine = Engine {
            config,
            plan,
            order,
            by_id,
            store,
            repo: Arc::new(repo),
            base_branch,
            state_dir,
            run_id: 0,
            opts,
            tasks: BTreeMap::new(),
            live: HashMap::new(),
            waiting_since: HashMap::new(),
            rx,
            tx: tx.clone(),
            events: events.clone(),
            sampler: None,
            shutting_down: false,
            interrupted: false,
            approval_gave_up: false,
            jitter_state: (now_ms() as u64) | 1,
            transitions: 0,
        };
        engine.run_id = engine.start_run()?;
        engine.reconcile()?;
        let handle = EngineHandle {
            commands: tx,
            events,
        };
        Ok((engine, handle))
    }

    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            commands: self.tx.clone(),
            events: self.events.clone(),
        }
    }

    /// Run until the plan settles (headless) or a shutdown is asked for.
    pub async fn run(mut self) -> Result<RunOutcome, EngineError> {
        let health_tx = self.tx.clone();
        self.sampler = Some(
            Sampler::start(self.opts.sample_period, move |batch| {
                let samples = batch
                    .into_iter()
                    .map(|(task, attempt, pid, usage)| HealthSample {
                        task,
                        attempt,
                        pid,
                        cpu: usage.cpu,
                        rss: usage.rss,
                        procs: usage.procs,
                    })
                    .collect();
                health_tx.blocking_send(Command::Health(samples)).is_ok()
            })
            .map_err(EngineError::Sampler)?,
        );
        let result = self.run_loop().await;
        if result.is_err() {
            // The store failed: stop agents anyway, nothing else can be saved.
            for live in self.live.values() {
                live.process.terminate(self.opts.stop_grace);
            }
        }
        let outcome = result?;
        let mut b = self.store.batch()?;
        b.end_run(self.run_id, now_ms(), outcome.exit_code)?;
        b.event(&crate::store::EventRow {
            seq: 0,
            at: now_ms(),
            run_id: Some(self.run_id),
            task_id: None,
            attempt: None,
            kind: "run_ended".into(),
            from_state: None,
            to_state: None,
            cause: Some(format!("exit code {}", outcome.exit_code)),
        })?;
        b.commit()?;
        self.publish(Event::Finished(outcome.clone()));
        Ok(outcome)
    }

    async fn run_loop(&mut self) -> Result<RunOutcome, EngineError> {
        loop {
            self.settle()?;
            if self.live.is_empty() {
                let settled = self.tasks.values().all(|t| t.state.is_settled());
                if self.shutting_down || (self.opts.exit_when_settled && settled) {
                    break;
                }
            }
            let wake = self.next_wake();
            tokio::select! {
                command = self.rx.recv() => match command {
                    Some(command) => self.apply(command)?,
                    // Every handle is gone (they include our own clone, so this
                    // cannot happen while we run); treat it as a shutdown.
                    None => self.begin_shutdown(true),
                },
                _ = tokio::time::sleep_until(wake.into()) => {}
            }
            // Drain whatever else is already queued before settling again.
            while let Ok(command) = self.rx.try_recv() {
                self.apply(command)?;
            }
            self.supervise();
        }
        let gated = self
            .tasks
            .values()
            .any(|t| t.state == TaskState::AwaitingApproval);
        let approval_gave_up = self.approval_gave_up || (self.interrupted && gated);
        let states: Vec<TaskState> = self.tasks.values().map(|t| t.state).collect();
        Ok(RunOutcome {
            exit_code: policy::run_exit_code(&states, self.interrupted, approval_gave_up),
            interrupted: self.interrupted,
            approval_gave_up,
        })
    }

    /// The next moment something time-based can happen.
    fn next_wake(&self) -> Instant {
        let now = Instant::now();
        let mut wake = now + Duration::from_secs(3600);
        if !self.live.is_empty() {
            // Timeouts and heartbeats are checked about once a second.
            wake = wake.min(now + Duration::from_secs(1));
        }
        let now_wall = now_ms();
        for task in self.tasks.values() {
            if let (TaskState::Retrying, Some(at)) = (task.state, task.retry_at) {
                let ms = u64::try_from(at.saturating_sub(now_wall)).unwrap_or(0);
                wake = wake.min(now + Duration::from_millis(ms));
            }
        }
        if let Some(timeout) = self.opts.approval_timeout {
            for since in self.waiting_since.values() {
                if let Some(at) = since.checked_add(timeout) {
                    wake = wake.min(at);
                }
            }
        }
        wake
    }

    fn apply(&mut self, command: Command) -> Result<(), EngineError> {
        match command {
            Command::AgentExited {
                task,
                attempt,
                exit,
            } => self.on_exit(&task, attempt, exit)?,
            Command::Health(samples) => self.on_health(samples)?,
            Command::Approve {
                task,
                decision,
                reply,
            } => {
                let result = self.approve(&task, decision);
                answer(reply, result)?;
            }
            Command::Reject {
                task,
                decision,
                reply,
            } => {
                let result = self.reject(&task, decision);
                answer(reply, result)?;
            }
            Command::Retry { task, reply } => {
                let result = self.retry(&task);
                answer(reply, result)?;
            }
            Command::Cancel { task, reply } => {
                let result = self.cancel(&task);
                answer(reply, result)?;
            }
            Command::Skip {
                task,
                reason,
                reply,
            } => {
                let result = self.skip(&task, reason);
                answer(reply, result)?;
            }
            Command::Reload { config } => self.reload(*config)?,
            Command::Snapshot { reply } => {
                let _ = reply.send(Snapshot {
                    tasks: self.ordered_rows(),
                    agents: self
                        .live
                        .iter()
                        .map(|(id, l)| (id.clone(), l.attempt.attempt, l.process.clone()))
                        .collect(),
                });
            }
            Command::Shutdown { stop_agents } => {
                self.interrupted = true;
                self.begin_shutdown(stop_agents);
            }
        }
        Ok(())
    }

    fn begin_shutdown(&mut self, stop_agents: bool) {
        self.shutting_down = true;
        if stop_agents {
            for live in self.live.values_mut() {
                if live.stop.is_none() {
                    live.stop = Some(StopReason::Shutdown);
                }
                live.process.terminate(self.opts.stop_grace);
            }
        } else {
            // Leave agents running; their attempts stay `running` in the
            // store and the next run closes them as interrupted.
            self.live.clear();
        }
    }

    /// Tasks in plan order, as they stand.
    pub fn rows(&self) -> Vec<TaskRow> {
        self.ordered_rows()
    }

    fn ordered_rows(&self) -> Vec<TaskRow> {
        self.order
            .iter()
            .filter_map(|id| self.tasks.get(id).cloned())
            .collect()
    }

    // ---- state changes -------------------------------------------------

    /// Tell the views. With no view subscribed (a headless run before its
    /// reporter starts) there is nobody to tell, which is fine.
    pub(super) fn publish(&self, event: Event) {
        let _ = self.events.send(event);
    }

    /// Persist `id -> to` (plus whatever `extra` adds to the same batch),
    /// then publish it.
    pub(super) fn transition(
        &mut self,
        id: &str,
        to: TaskState,
        why: Option<String>,
        attempt: Option<u32>,
        edit: impl FnOnce(&mut TaskRow),
        extra: impl FnOnce(&mut Batch<'_>) -> Result<(), StoreError>,
    ) -> Result<(), EngineError> {
        let Some(current) = self.tasks.get(id) else {
            return Ok(());
        };
        let from = current.state;
        if !from.can_become(to) {
            return Err(EngineError::IllegalTransition {
                task: id.to_string(),
                from,
                to,
            });
        }
        let mut row = current.clone();
        row.state = to;
        row.updated_at = now_ms();
        match to {
            TaskState::Done => row.cause = why.clone().filter(|_| row.attempts == 0),
            TaskState::Retrying
            | TaskState::NeedsReview
            | TaskState::Blocked
            | TaskState::Rejected
            | TaskState::Cancelled => row.cause = why.clone(),
            _ => {}
        }
        if to != TaskState::Retrying {
            row.retry_at = None;
        }
        edit(&mut row);
        let mut batch = self.store.batch()?;
        batch.put_task(&row)?;
        extra(&mut batch)?;
        let mut event_row = row.clone();
        event_row.cause = why.clone();
        batch.state_event(Some(self.run_id), &event_row, Some(from), attempt)?;
        batch.commit()?;
        if to == TaskState::AwaitingApproval {
            self.waiting_since.insert(id.to_string(), Instant::now());
        } else {
            self.waiting_since.remove(id);
        }
        self.tasks.insert(id.to_string(), row.clone());
        self.transitions += 1;
        self.publish(Event::Task {
            row,
            from: Some(from),
            attempt,
            why,
        });
        Ok(())
    }

    /// Bring every task to where the plan says it should be: readiness,
    /// blocking, gates, retries whose backoff elapsed, approval timeouts;
    /// then start what fits in the free slots.
    fn settle(&mut self) -> Result<(), EngineError> {
        // Each pass can enable more moves (a rejection blocks dependents, a
        // launch that fails at once frees a slot): repeat until nothing
        // changes. Every pass that continues made at least one transition,
        // and each task can only make finitely many, so this ends.
        loop {
            let before = self.transitions;
            self.settle_pass()?;
            if self.transitions == before {
                return Ok(());
            }
        }
    }

    fn settle_pass(&mut self) -> Result<(), EngineError> {
        let now_wall = now_ms();
        for id in self.order.clone() {
            let Some(state) = self.tasks.get(&id).map(|t| t.state) else {
                continue;
            };
            let readiness =
                schedule::readiness(&self.plan, &id, |dep| self.tasks.get(dep).map(|t| t.state));
            match (state, readiness) {
                (TaskState::Pending, Readiness::Blocked)
                | (TaskState::Queued, Readiness::Blocked)
                | (TaskState::AwaitingApproval, Readiness::Blocked) => {
                    let why = self.block_reason(&id);
                    self.transition(&id, TaskState::Blocked, Some(why), None, |_| {}, |_| Ok(()))?;
                }
                (TaskState::Blocked, Readiness::Waiting) => {
                    let why = Some("dependency no longer blocked".to_string());
                    self.transition(&id, TaskState::Pending, why, None, |_| {}, |_| Ok(()))?;
                }
                // Ready before, but the plan changed under it (a reload added
                // a dependency that is not done): wait again.
                (TaskState::Queued | TaskState::AwaitingApproval, Readiness::Waiting) => {
                    let why = Some("waiting on a dependency added to the plan".to_string());
                    self.transition(&id, TaskState::Pending, why, None, |_| {}, |_| Ok(()))?;
                }
                (TaskState::Pending | TaskState::Blocked, Readiness::Ready) => {
                    self.make_ready(&id)?;
                }
                (TaskState::Queued, Readiness::Ready) if self.gated(&id) => {
                    self.make_ready(&id)?;
                }
                (TaskState::Retrying, _) => {
                    let due = self
                        .tasks
                        .get(&id)
                        .and_then(|t| t.retry_at)
                        .is_none_or(|at| at <= now_wall);
                    if due && !self.shutting_down {
                        let why = Some("backoff elapsed".to_string());
                        self.transition(&id, TaskState::Queued, why, None, |_| {}, |_| Ok(()))?;
                    }
                }
                _ => {}
            }
        }
        self.decide_gates()?;
        if !self.shutting_down {
            self.start_ready()?;
        }
        Ok(())
    }

    fn gated(&self, id: &str) -> bool {
        let approved = self.tasks.get(id).is_some_and(|t| t.approved);
        !approved && self.by_id.get(id).is_some_and(|t| t.needs_start_approval())
    }

    fn make_ready(&mut self, id: &str) -> Result<(), EngineError> {
        if self.gated(id) {
            let risk = self.by_id.get(id).map_or("low", |t| t.risk.as_str());
            let why = Some(format!("approval required before start (risk {risk})"));
            self.transition(
                id,
                TaskState::AwaitingApproval,
                why,
                None,
                |_| {},
                |_| Ok(()),
            )
        } else if self
            .tasks
            .get(id)
            .is_some_and(|t| t.state != TaskState::Queued)
        {
            self.transition(id, TaskState::Queued, None, None, |_| {}, |_| Ok(()))
        } else {
            Ok(())
        }
    }

    fn block_reason(&self, id: &str) -> String {
        let culprits: Vec<String> = self
            .plan
            .dependencies(id)
            .iter()
            .filter_map(|dep| {
                let state = self.tasks.get(dep)?.state;
                state
                    .blocks_dependents()
                    .then(|| format!("dependency {dep} is {state}"))
            })
            .collect();
        culprits.join(", ")
    }

    /// `--approve-all` and the approval timeout.
    fn decide_gates(&mut self) -> Result<(), EngineError> {
        let waiting: Vec<String> = self
            .order
            .iter()
            .filter(|id| {
                self.tasks
                    .get(*id)
                    .is_some_and(|t| t.state == TaskState::AwaitingApproval)
            })
            .cloned()
            .collect();
        for id in waiting {
            if self.opts.approve_all {
                let decision = Decision {
                    by: "--approve-all".into(),
                    reason: None,
                };
                self.record_approval(&id, decision)?;
                continue;
            }
            let Some(timeout) = self.opts.approval_timeout else {
                continue;
            };
            // A task that was already waiting when this run started (it
            // came from the store) starts its wait now.
            let since = *self
                .waiting_since
                .entry(id.clone())
                .or_insert_with(Instant::now);
            let expired = since.elapsed() >= timeout;
            if expired {
                let decision = Decision {
                    by: "timeout".into(),
                    reason: Some("approval timed out".into()),
                };
                self.record_rejection(&id, decision)?;
                self.approval_gave_up = true;
            }
        }
        Ok(())
    }

    fn start_ready(&mut self) -> Result<(), EngineError> {
        // Runs on every settle pass: with every slot taken there is nothing
        // to pick, and resolving agents (PATH lookups) would be wasted.
        if self.live.len() >= self.config.project.max_parallel {
            return Ok(());
        }
        let mut by_agent: BTreeMap<String, usize> = BTreeMap::new();
        for live in self.live.values() {
            *by_agent.entry(live.attempt.agent.clone()).or_default() += 1;
        }
        let queued_ids: Vec<(String, String)> = self
            .order
            .iter()
            .filter(|id| {
                self.tasks
                    .get(*id)
                    .is_some_and(|t| t.state == TaskState::Queued)
            })
            .filter_map(|id| Some((id.clone(), self.by_id.get(id)?.agent.clone())))
            .collect();
        if queued_ids.is_empty() {
            return Ok(());
        }
        // Limits apply to the agent that will really run (after fallbacks);
        // resolved once per agent name per round.
        let mut resolved: HashMap<String, String> = HashMap::new();
        let queued: Vec<(String, String)> = queued_ids
            .into_iter()
            .map(|(id, agent)| {
                let runs = resolved
                    .entry(agent.clone())
                    .or_insert_with(|| self.agent_to_run(&agent))
                    .clone();
                (id, runs)
            })
            .collect();
        let candidates: Vec<Candidate<'_>> = queued
            .iter()
            .map(|(id, agent)| Candidate { id, agent })
            .collect();
        let agents = &self.config.agents;
        let picked: Vec<String> = schedule::pick_starts(
            &candidates,
            self.live.len(),
            &by_agent,
            self.config.project.max_parallel,
            |agent| agents.get(agent).and_then(|a| a.max_instances),
        )
        .into_iter()
        .map(str::to_string)
        .collect();
        for id in picked {
            self.launch(&id)?;
        }
        Ok(())
    }

    // ---- agents ----------------------------------------------------------

    pub(super) fn track(
        &mut self,
        id: &str,
        attempt: AttemptRow,
        process: Arc<AgentProcess>,
        worktree: &std::path::Path,
    ) {
        if let Some(sampler) = &self.sampler {
            sampler.track(id, attempt.attempt, process.pid());
        }
        self.publish(Event::AgentStarted {
            task: id.to_string(),
            attempt: attempt.attempt,
            process: process.clone(),
        });
        self.live.insert(
            id.to_string(),
            Live {
                attempt,
                started: process.started_at(),
                activity: Activity::watch(worktree),
                process,
                stop: None,
                heartbeat: Level::Ok,
            },
        );
    }

    /// Timeouts and heartbeats of running attempts.
    fn supervise(&mut self) {
        let now = Instant::now();
        for (id, live) in self.live.iter_mut() {
            if live.stop.is_some() {
                continue;
            }
            let Some(task) = self.by_id.get(id) else {
                continue;
            };
            let policy = &task.policy;
            let since_output = now - live.last_heard();
            let reason = if now - live.started >= policy.timeout {
                Some(StopReason::Timeout(policy.timeout))
            } else if policy::heartbeat_level(since_output, policy) == Level::Critical {
                Some(StopReason::Stalled(policy.heartbeat_stall))
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::info!(task = %id, ?reason, "stopping attempt");
                live.stop = Some(reason);
                live.process.terminate(self.opts.stop_grace);
            }
        }
    }

    /// Record a round of samples in one transaction, then publish them.
    fn on_health(&mut self, samples: Vec<HealthSample>) -> Result<(), EngineError> {
        let now = Instant::now();
        let at = now_ms();
        let mut views = Vec::with_capacity(samples.len());
        for sample in samples {
            let Some(live) = self.live.get_mut(&sample.task) else {
                continue;
            };
            let Some(task) = self.by_id.get(&sample.task) else {
                continue;
            };
            if live.attempt.attempt != sample.attempt {
                continue;
            }
            let age = now - live.last_heard();
            let heartbeat = policy::heartbeat_level(age, &task.policy);
            let cpu = policy::cpu_level(sample.cpu, &task.policy);
            if heartbeat != live.heartbeat {
                live.heartbeat = heartbeat;
                if heartbeat == Level::Warn {
                    tracing::info!(task = %sample.task, "heartbeat warning: no output for {age:?}");
                }
            }
            views.push(HealthView {
                sample,
                heartbeat_age: age,
                heartbeat,
                cpu,
            });
        }
        if views.is_empty() {
            return Ok(());
        }
        let mut batch = self.store.batch()?;
        for view in &views {
            batch.sample(&SampleRow {
                task_id: view.sample.task.clone(),
                attempt: view.sample.attempt,
                at,
                cpu: view.sample.cpu,
                rss: view.sample.rss,
                procs: view.sample.procs,
            })?;
        }
        batch.commit()?;
        for view in views {
            self.publish(Event::Health(view));
        }
        Ok(())
    }

    fn on_exit(&mut self, id: &str, attempt: u32, exit: AgentExit) -> Result<(), EngineError> {
        let Some(live) = self.live.remove(id) else {
            return Ok(());
        };
        if live.attempt.attempt != attempt {
            self.live.insert(id.to_string(), live);
            return Ok(());
        }
        if let Some(sampler) = &self.sampler {
            sampler.untrack(id, attempt);
        }
        let mut row = live.attempt;
        row.ended_at = Some(now_ms());
        match exit {
            AgentExit::Code(code) => row.exit_code = Some(code),
            AgentExit::Signal(signal) => row.signal = Some(signal),
        }
        match live.stop {
            Some(StopReason::Shutdown) => {
                row.status = AttemptStatus::Interrupted;
                row.cause = Some("orch was stopped".into());
                let why = Some(format!("attempt {attempt} interrupted: orch was stopped"));
                self.transition(
                    id,
                    TaskState::Queued,
                    why,
                    Some(attempt),
                    |_| {},
                    |b| b.put_attempt(&row),
                )
            }
            Some(StopReason::Cancelled) => {
                row.status = AttemptStatus::Cancelled;
                row.cause = Some("cancelled".into());
                let why = Some("cancelled by user".to_string());
                self.transition(
                    id,
                    TaskState::Cancelled,
                    why,
                    Some(attempt),
                    |_| {},
                    |b| b.put_attempt(&row),
                )
            }
            Some(StopReason::Timeout(limit)) => {
                let cause = format!("timed out after {}", crate::config::format_duration(limit));
                self.fail_attempt(id, row, cause, true)
            }
            Some(StopReason::Stalled(limit)) => {
                let cause = format!(
                    "stalled: no output for {}",
                    crate::config::format_duration(limit)
                );
                self.fail_attempt(id, row, cause, true)
            }
            None if exit.success() => self.succeed_attempt(id, row),
            None => self.fail_attempt(id, row, exit_cause(exit), true),
        }
    }

    fn succeed_attempt(&mut self, id: &str, mut row: AttemptRow) -> Result<(), EngineError> {
        let attempt = row.attempt;
        let worktree = self.worktree_dir(id);
        let message = format!(
            "orch: {} (task {id}, attempt {attempt})\n\nChanges the agent left uncommitted when it finished.",
            self.by_id.get(id).map_or(id, |t| t.title.as_str())
        );
        let repo = self.repo.clone();
        let committed = tokio::task::block_in_place(|| repo.commit_all(&worktree, &message));
        match committed {
            Ok(commit) => {
                row.status = AttemptStatus::Succeeded;
                row.commit_id = commit;
                self.transition(
                    id,
                    TaskState::Done,
                    None,
                    Some(attempt),
                    |t| t.cause = None,
                    |b| b.put_attempt(&row),
                )
            }
            Err(err) => {
                let cause =
                    format!("agent succeeded but its changes could not be committed: {err}");
                self.fail_attempt(id, row, cause, false)
            }
        }
    }

    /// Record a failed attempt and apply the retry policy.
    pub(super) fn fail_attempt(
        &mut self,
        id: &str,
        mut row: AttemptRow,
        cause: String,
        retryable: bool,
    ) -> Result<(), EngineError> {
        let attempt = row.attempt;
        row.status = AttemptStatus::Failed;
        row.ended_at.get_or_insert_with(now_ms);
        row.cause = Some(cause.clone());
        let Some(task) = self.by_id.get(id) else {
            return Ok(());
        };
        let policy = task.policy.clone();
        let failures = self.tasks.get(id).map_or(0, |t| t.failures) + 1;
        match policy::after_failure(failures, policy.retries, retryable) {
            AfterFailure::Retry => {
                let jitter = self.next_jitter();
                let delay = policy::backoff_delay(&policy, failures, jitter);
                let retry_at = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                let why = format!(
                    "attempt {attempt} failed: {cause}; retry in {}",
                    crate::timefmt::short_duration(delay)
                );
                self.transition(
                    id,
                    TaskState::Retrying,
                    Some(why),
                    Some(attempt),
                    |t| {
                        t.failures = failures;
                        t.retry_at = Some(retry_at);
                        t.cause = Some(cause.clone());
                    },
                    |b| b.put_attempt(&row),
                )
            }
            AfterFailure::NeedsReview => {
                let why = if retryable {
                    format!(
                        "{cause} (failed {failures} of {} allowed)",
                        policy.retries + 1
                    )
                } else {
                    cause.clone()
                };
                self.transition(
                    id,
                    TaskState::NeedsReview,
                    Some(why.clone()),
                    Some(attempt),
                    |t| {
                        t.failures = failures;
                        t.cause = Some(why);
                    },
                    |b| b.put_attempt(&row),
                )
            }
        }
    }

    /// A number in [0, 1) for backoff jitter (xorshift; no need for more).
    fn next_jitter(&mut self) -> f64 {
        let mut x = self.jitter_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.jitter_state = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn worktree_dir(&self, id: &str) -> PathBuf {
        self.state_dir.join("worktrees").join(id)
    }

    pub(super) fn log_path(&self, id: &str, attempt: u32) -> PathBuf {
        self.state_dir
            .join("logs")
            .join(id)
            .join(format!("{attempt}.log"))
    }

    // ---- user actions ----------------------------------------------------

    fn require(
        &self,
        id: &str,
        action: &'static str,
        wanted: &'static str,
        ok: impl Fn(TaskState) -> bool,
    ) -> Result<TaskState, ActionError> {
        let state = self
            .tasks
            .get(id)
            .map(|t| t.state)
            .ok_or_else(|| ActionError::UnknownTask(id.to_string()))?;
        if ok(state) {
            Ok(state)
        } else {
            Err(ActionError::WrongState {
                task: id.to_string(),
                state,
                action,
                wanted,
            })
        }
    }

    fn approve(&mut self, id: &str, decision: Decision) -> Result<(), ActionError> {
        self.require(id, "approve", "awaiting_approval", |s| {
            s == TaskState::AwaitingApproval
        })?;
        self.record_approval(id, decision).map_err(store_to_action)
    }

    fn record_approval(&mut self, id: &str, decision: Decision) -> Result<(), EngineError> {
        let approval = ApprovalRow {
            task_id: id.to_string(),
            gate: "before_start".into(),
            decision: "approved".into(),
            by: decision.by.clone(),
            reason: decision.reason.clone(),
            at: now_ms(),
        };
        let why = Some(match &decision.reason {
            Some(reason) => format!("approved by {}: {reason}", decision.by),
            None => format!("approved by {}", decision.by),
        });
        self.transition(
            id,
            TaskState::Queued,
            why,
            None,
            |t| t.approved = true,
            |b| b.approval(&approval),
        )
    }

    fn reject(&mut self, id: &str, decision: Decision) -> Result<(), ActionError> {
        self.require(id, "reject", "awaiting_approval", |s| {
            s == TaskState::AwaitingApproval
        })?;
        self.record_rejection(id, decision).map_err(store_to_action)
    }

    fn record_rejection(&mut self, id: &str, decision: Decision) -> Result<(), EngineError> {
        let reason = decision
            .reason
            .clone()
            .unwrap_or_else(|| "no reason given".into());
        let approval = ApprovalRow {
            task_id: id.to_string(),
            gate: "before_start".into(),
            decision: "rejected".into(),
            by: decision.by.clone(),
            reason: Some(reason.clone()),
            at: now_ms(),
        };
        let why = if decision.by == "timeout" {
            reason
        } else {
            format!("rejected by {}: {reason}", decision.by)
        };
        self.transition(
            id,
            TaskState::Rejected,
            Some(why),
            None,
            |_| {},
            |b| b.approval(&approval),
        )
    }

    fn retry(&mut self, id: &str) -> Result<(), ActionError> {
        let before = self.require(id, "retry", "needs_review, rejected or retrying", |s| {
            matches!(
                s,
                TaskState::NeedsReview | TaskState::Rejected | TaskState::Retrying
            )
        })?;
        // A human retry grants a fresh retry budget; a rejected task asks
        // for approval again.
        let why = Some("retry requested by user".to_string());
        self.transition(
            id,
            TaskState::Queued,
            why,
            None,
            |t| {
                t.failures = 0;
                if before == TaskState::Rejected {
                    t.approved = false;
                }
            },
            |_| Ok(()),
        )
        .map_err(store_to_action)?;
        if self.gated(id) {
            self.make_ready(id).map_err(store_to_action)?;
        }
        Ok(())
    }

    fn cancel(&mut self, id: &str) -> Result<(), ActionError> {
        self.require(id, "cancel", "not done or cancelled", |s| {
            !matches!(s, TaskState::Done | TaskState::Cancelled)
        })?;
        if let Some(live) = self.live.get_mut(id) {
            // Recorded when the agent has exited.
            live.stop = Some(StopReason::Cancelled);
            live.process.terminate(self.opts.stop_grace);
            return Ok(());
        }
        let why = Some("cancelled by user".to_string());
        self.transition(id, TaskState::Cancelled, why, None, |_| {}, |_| Ok(()))
            .map_err(store_to_action)
    }

    fn skip(&mut self, id: &str, reason: Option<String>) -> Result<(), ActionError> {
        let state = self.require(id, "skip", "not running, done or cancelled", |s| {
            !matches!(
                s,
                TaskState::Done | TaskState::Cancelled | TaskState::Running
            )
        })?;
        if state == TaskState::AwaitingApproval {
            // Skipping a gated task answers its gate first, so the approvals
            // table says who decided it would not run.
            let decision = Decision {
                by: "user".into(),
                reason: Some("skipped".into()),
            };
            self.record_rejection(id, decision)
                .map_err(store_to_action)?;
        }
        let why = match reason {
            Some(reason) => format!("skipped by user: {reason}"),
            None => "skipped by user".to_string(),
        };
        let cause = why.clone();
        self.transition(
            id,
            TaskState::Done,
            Some(why),
            None,
            |t| {
                t.skipped = true;
                t.cause = Some(cause);
            },
            |_| Ok(()),
        )
        .map_err(store_to_action)
    }
}

/// The cause of a failed exit. Shells report a child killed by signal n as
/// exit code 128+n; say so, because "exit code 139" alone hides a segfault.
fn exit_cause(exit: AgentExit) -> String {
    match exit {
        AgentExit::Code(code) if (129..=128 + 64).contains(&code) => format!(
            "exit code {code} (128+{n}: a process it ran was {})",
            AgentExit::Signal(code - 128),
            n = code - 128
        ),
        other => other.to_string(),
    }
}

fn answer(reply: Option<Reply>, result: Result<(), ActionError>) -> Result<(), EngineError> {
    if let Err(err) = &result {
        tracing::info!("action refused: {err}");
    }
    if let Some(reply) = reply {
        let _ = reply.send(result);
    }
    Ok(())
}

fn store_to_action(err: EngineError) -> ActionError {
    ActionError::Store(err.to_string())
}
