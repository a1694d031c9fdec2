//! The engine's decisions, as a pure state machine.
//!
//! [`Core`] holds plain data only: the plan, every task's row, the running
//! attempts (what orch knows of them, not their processes), gates' waiting
//! times. Each call takes an input and the current time ([`Now`]) and
//! returns the [`Effect`]s to carry out, in order; the driver
//! (`engine::driver`) carries them out and feeds the results back as
//! further inputs. Nothing here touches the store, a process, git or the
//! clock, so every decision is unit-tested with plain values (`tests.rs`).
//!
//! - `reconcile`: the state left by an earlier run, made consistent at start.
//! - `transition`: the one way a task changes state; readiness, blocking,
//!   gates and slots (`settle`).
//! - `launch`: an attempt from queued to a spawned agent.
//! - `exit`: an attempt's end, the retry policy.
//! - `health`: samples, heartbeats, timeouts and stalls, the next wake-up.
//! - `actions`: what users and flags ask for.
//! - `add`: tasks added at run time; how any task joins the plan.
//! - `subtasks`: tasks added with a parent: limits, the parent waiting for
//!   them, their work merged into it.
//! - `reload`: an edited `orch.toml` applied to the running plan.
//! - `agents`: what agents say (heartbeats: progress and note) and what
//!   they were refused (`security` events).
//! - `messages`: messages for tasks' agents, pending until one reads them.
//! - `attention`: what running agents are doing (busy, idle, waiting for
//!   an answer) from their signals; notifications, input timeouts,
//!   auto-answers.

mod actions;
mod add;
mod after;
mod agents;
mod attempts;
mod attention;
mod definitions;
mod exit;
mod gates;
mod health;
mod launch;
mod merge;
mod messages;
mod reconcile;
mod reload;
mod subtasks;
mod tasks;
mod transition;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{Config, TaskConfig};
use crate::engine::clock::Now;
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{
    ActionError, Actor, Answer, Event, Input, Paths, Request, RunOutcome, Snapshot,
};
use crate::engine::policy::{self, Level};
use crate::engine::state::TaskState;
use crate::git::Known;
use crate::store::{AddedTaskRow, ApprovalRow, AttemptRow, TaskRow};

use attempts::Attempts;
use definitions::Definitions;
use gates::Gates;
use tasks::Tasks;

pub use reconcile::Stored;

/// A decision the core refuses to make: a bug, never a user's mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreError {
    #[error("internal error: task {task:?} cannot go from {from} to {to}")]
    IllegalTransition {
        task: String,
        from: TaskState,
        to: TaskState,
    },
}

/// Is a program there to run? The one question the core asks of the
/// operating system (to follow `fallback`s past missing agents), asked
/// through a trait so tests can answer it.
pub trait ProgramLookup: Send {
    fn found(&self, program: &str, cwd: &Path, path_var: Option<&OsStr>) -> bool;
}

/// The real lookup: `PATH` (or the agent's own `PATH`), as a shell would.
#[derive(Debug, Clone, Copy, Default)]
pub struct PathLookup;

impl ProgramLookup for PathLookup {
    fn found(&self, program: &str, cwd: &Path, path_var: Option<&OsStr>) -> bool {
        crate::agent::which::find_program(program, cwd, path_var).is_some()
    }
}

/// The parts of the run's options the core decides with.
#[derive(Debug, Clone)]
pub struct CoreOptions {
    /// Approve every start gate (recorded as approved by `--approve-all`).
    pub approve_all: bool,
    /// Reject a gate nobody decided on within this long; `None` waits forever.
    pub approval_timeout: Option<Duration>,
    /// End the run once every task is settled (headless).
    pub exit_when_settled: bool,
    /// Launch nothing; end once no merge, hook or push is under way.
    pub one_shot: bool,
    /// SIGTERM to SIGKILL.
    pub stop_grace: Duration,
    /// A headless run (`--no-tui`): its `input_timeout` default is five
    /// minutes, not forever.
    pub headless: bool,
    /// The orch program agents' hooks call (`orch __hook`).
    pub orch_bin: String,
}

/// Where an attempt is between "running" and its agent's exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Its worktree is being prepared (a git job).
    Preparing,
    /// Its agent runs.
    Running,
    /// Its agent exited 0; the commit of its leftovers is under way.
    Committing,
}

/// Why orch itself stopped an attempt; decides how its exit is recorded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StopReason {
    Timeout(Duration),
    Stalled(Duration),
    /// Waited for an answer (or sat idle) past its `input_timeout`.
    NoAnswer {
        question: String,
        limit: Duration,
    },
    Cancelled,
    Shutdown,
}

/// A running attempt, as plain data.
#[derive(Debug, Clone)]
pub(crate) struct Live {
    /// The task as defined when the attempt started: a reload while its
    /// worktree is made does not change what it runs.
    pub(crate) task: TaskConfig,
    pub(crate) row: AttemptRow,
    pub(crate) phase: Phase,
    /// When the agent started (or, before that, when the attempt did).
    pub(crate) started: Instant,
    /// The last sign of life the backend reported.
    pub(crate) heard: Option<Instant>,
    pub(crate) stop: Option<StopReason>,
    pub(crate) heartbeat: Level,
    /// The agent's last health sample: published again, with the new
    /// level, when the heartbeat level changes between samples.
    pub(crate) sample: Option<crate::engine::message::HealthSample>,
    pub(crate) worktree: Option<PathBuf>,
    /// How its worktree was asked to start.
    pub(crate) mode: crate::git::StartMode,
    /// The subtasks whose work its worktree job merged in (all those done
    /// when it started): any other subtask the task has when the attempt
    /// succeeds is work it has not taken in yet.
    pub(crate) merged_children: Vec<String>,
    /// What its agent is doing, from its signals.
    pub(crate) watch: attention::Watch,
}

impl Live {
    /// The last sign of life: output, a file change, or the start.
    fn last_heard(&self) -> Instant {
        self.heard.map_or(self.started, |h| h.max(self.started))
    }
}

/// The whole engine state. See the module documentation.
pub struct Core {
    /// The plan as configured.
    defs: Definitions,
    /// Tasks added at run time, in the order they were added (those
    /// `orch.toml` now defines itself included: a reload may drop them
    /// from the file again).
    added: Vec<AddedTaskRow>,
    base_branch: String,
    paths: Paths,
    run_id: i64,
    opts: CoreOptions,
    lookup: Box<dyn ProgramLookup>,
    /// Every task's row.
    tasks: Tasks,
    /// Attempts in flight.
    live: Attempts,
    /// Gated tasks' waiting times.
    gates: Gates,
    /// What the store says of each task's worktree.
    worktrees: HashMap<String, Known>,
    /// Succeeded attempts of tasks outside the plan whose leftovers a dead
    /// orch did not commit.
    commits_pending: HashMap<String, AttemptRow>,
    run: RunFlags,
    /// The task whose merge job is under way (one at a time: each moves
    /// the base).
    merging: Option<String>,
    /// When held-up merges are tried again.
    merge_retry: HashMap<String, Instant>,
    /// Since when merges are held up by local changes (or a rebase).
    held_since: HashMap<String, Instant>,
    /// Pushes owed, and hooks running.
    follow_ups: after::FollowUps,
    /// Security events recorded per attempt (bounded: see `agents`).
    refusals: HashMap<(Option<String>, Option<u32>), u32>,
    /// Messages not acknowledged yet.
    inbox: messages::Inbox,
    /// When each task last notified that it needs someone.
    notified: HashMap<String, Instant>,
    jitter_state: u64,
    /// Transitions made so far; lets `settle` see whether a pass changed anything.
    transitions: u64,
    /// Grows with every reload.
    plan_generation: u64,
    /// What the last settle saw; an unchanged plan needs no new pass.
    last_settle: Option<SettleKey>,
    /// The time of the call being handled.
    now: Now,
    /// Effects of the call being handled, in order.
    out: Vec<Effect>,
}

/// What a settle pass depends on, besides the time (see `settle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SettleKey {
    transitions: u64,
    attempts: usize,
    slots: usize,
    plan: u64,
    shutting_down: bool,
}

/// How the run as a whole stands.
#[derive(Debug, Default, Clone, Copy)]
struct RunFlags {
    shutting_down: bool,
    /// Stopped by a request (Ctrl-C, quit, `orch stop`) while something
    /// was still owed (see [`Core::settled`]).
    interrupted: bool,
    /// An approval timed out.
    approval_gave_up: bool,
    /// A request was handled (a one-shot run ends only after its request).
    asked: bool,
}

/// What a [`Core`] is built from, besides the stored state.
pub struct Setup {
    pub config: Config,
    pub base_branch: String,
    pub run_id: i64,
    pub opts: CoreOptions,
    pub lookup: Box<dyn ProgramLookup>,
    /// Seeds the backoff jitter (any non-zero number).
    pub seed: u64,
}

impl Core {
    /// Rebuild the engine from what the store holds, reconciled with the
    /// config (the tasks added at run time after its own): attempts a dead
    /// orch left running are closed as interrupted and their tasks queued
    /// again. Nothing is decided about starting
    /// tasks until the first input (the driver's first tick).
    pub fn start(setup: Setup, mut stored: Stored, now: Now) -> (Core, Vec<Effect>) {
        let paths = Paths {
            state_dir: setup.config.root.join(&setup.config.project.state_dir),
        };
        let mut config = setup.config;
        let added = std::mem::take(&mut stored.added);
        let inbox =
            messages::Inbox::restore(std::mem::take(&mut stored.messages), stored.last_message_id);
        let from_added = definitions::merge_added(&mut config, &added);
        let mut core = Core {
            defs: Definitions::new(config, from_added),
            added,
            base_branch: setup.base_branch,
            paths,
            run_id: setup.run_id,
            opts: setup.opts,
            lookup: setup.lookup,
            tasks: Tasks::default(),
            live: Attempts::default(),
            gates: Gates::default(),
            worktrees: HashMap::new(),
            commits_pending: HashMap::new(),
            run: RunFlags::default(),
            merging: None,
            merge_retry: HashMap::new(),
            held_since: HashMap::new(),
            follow_ups: after::FollowUps::default(),
            refusals: HashMap::new(),
            inbox,
            notified: HashMap::new(),
            jitter_state: setup.seed | 1,
            transitions: 0,
            plan_generation: 0,
            last_settle: None,
            now,
            out: Vec::new(),
        };
        core.reconcile(stored);
        let effects = core.take_effects();
        (core, effects)
    }

    /// Something outside asks for something. The answer, and the effects
    /// that carry it out (the answer holds only once they are persisted);
    /// what follows from it for other tasks comes with the next tick.
    pub fn request(
        &mut self,
        actor: Actor,
        request: Request,
        now: Now,
    ) -> Result<(Result<(), ActionError>, Vec<Effect>), CoreError> {
        let (answer, effects) = self.answer(actor, request, now)?;
        Ok((answer.map(drop), effects))
    }

    /// [`Core::request`], with what the request answers (messages handed
    /// out, a message's id).
    pub fn answer(
        &mut self,
        actor: Actor,
        request: Request,
        now: Now,
    ) -> Result<(Result<Answer, ActionError>, Vec<Effect>), CoreError> {
        self.now = now;
        self.run.asked = true;
        let result = match request {
            Request::SendMessage {
                to,
                text,
                from_attempt,
            } => {
                return Ok((
                    self.send_message(&actor, &to, text, from_attempt),
                    self.take_effects(),
                ))
            }
            Request::TakeMessages {
                task,
                attempt,
                poll,
            } => {
                return Ok((
                    self.take_messages(&task, attempt, poll),
                    self.take_effects(),
                ))
            }
            Request::ReleaseMessages { task, poll } => {
                self.release_messages(&task, poll);
                return Ok((Ok(Answer::Done), self.take_effects()));
            }
            Request::AckMessages { task, attempt, ids } => {
                return Ok((self.ack_messages(&task, attempt, &ids), self.take_effects()))
            }
            Request::Approve { task, reason } => self.approve(&task, actor, reason),
            Request::Reject { task, reason } => self.reject(&task, actor, reason),
            Request::Retry { task, fresh } => self.retry(&task, fresh, &actor),
            Request::Cancel { task } => self.cancel(&task),
            Request::Merge { task } => self.merge_action(&task, &actor),
            Request::Resolve { task } => self.resolve(&task, &actor),
            Request::Skip { task, reason } => self.skip(&task, actor, reason),
            Request::AddTask(new) => Ok(self.add_task(&actor, new)),
            Request::Reload { config } => {
                self.reload(*config);
                Ok(Ok(()))
            }
            Request::Heartbeat {
                task,
                attempt,
                progress,
                note,
                activity,
                session_id,
            } => Ok(self.heartbeat(&task, attempt, progress, note, activity, session_id)),
            Request::Security {
                task,
                attempt,
                cause,
            } => {
                self.security(task, attempt, cause);
                Ok(Ok(()))
            }
            Request::Shutdown { stop_agents } => {
                // Stopping a settled plan loses nothing: the run is over,
                // not interrupted, and its exit status is its tasks'.
                self.run.interrupted = !self.settled();
                self.begin_shutdown(stop_agents);
                Ok(Ok(()))
            }
        }?;
        if let Err(err) = &result {
            tracing::info!(%err, "request refused");
        }
        Ok((result.map(|()| Answer::Done), self.take_effects()))
    }

    /// The engine's own machinery reports something. Only
    /// [`Input::Tick`] brings the rest of the plan up to date (readiness,
    /// gates, backoffs, starts): the driver ticks once after each batch of
    /// inputs and requests, so a burst of them costs one pass over the plan.
    pub fn input(&mut self, input: Input, now: Now) -> Result<Vec<Effect>, CoreError> {
        self.now = now;
        match input {
            Input::AgentExited {
                task,
                attempt,
                exit,
            } => self.on_exit(&task, attempt, exit)?,
            Input::Health { samples, heard } => {
                self.note_heard(heard);
                self.on_health(samples);
            }
            Input::Tick { heard } => {
                self.note_heard(heard);
                self.supervise();
                self.settle()?;
            }
            Input::WorktreeReady {
                task,
                attempt,
                result,
            } => self.on_worktree(&task, attempt, result)?,
            Input::Spawned {
                task,
                attempt,
                result,
            } => self.on_spawned(&task, attempt, result)?,
            Input::Committed {
                task,
                attempt,
                result,
            } => self.on_committed(&task, attempt, result)?,
            Input::Merged { task, result } => self.on_merged(&task, result)?,
            Input::HookDone {
                hook,
                task,
                summary,
            } => self.on_hook_done(hook, &task, summary),
            Input::Pushed { task, what, result } => self.on_pushed(&task, what, result),
            Input::Observed {
                task,
                attempt,
                signal,
                seen,
                detail,
                auto_answer,
            } => self.observe(&task, attempt, signal, seen, detail, auto_answer),
        }
        Ok(self.take_effects())
    }

    /// The run is over: shutting down (or, headless, every task settled)
    /// and no attempt left. The outcome to report.
    pub fn outcome(&self) -> Option<RunOutcome> {
        if !self.live.is_empty() || self.follow_ups.busy() {
            return None;
        }
        if self.opts.one_shot {
            let done = self.run.asked && !self.merges_busy(false);
            return done.then_some(RunOutcome {
                exit_code: policy::EXIT_OK,
                interrupted: false,
                approval_gave_up: false,
            });
        }
        let settled = self.tasks.all_settled() && !self.merges_busy(true);
        if !(self.run.shutting_down || (self.opts.exit_when_settled && settled)) {
            return None;
        }
        let gated = self.tasks.any_in(TaskState::AwaitingApproval);
        let interrupted = self.run.interrupted;
        let approval_gave_up = self.run.approval_gave_up || (interrupted && gated);
        let states = self.tasks.states();
        let mut exit_code = policy::run_exit_code(&states, interrupted, approval_gave_up);
        if exit_code == policy::EXIT_OK && self.merge_trouble() {
            exit_code = policy::EXIT_FAILED;
        }
        Some(RunOutcome {
            exit_code,
            interrupted,
            approval_gave_up,
        })
    }

    /// Nothing is owed: no attempt in flight, every task settled, and no
    /// merge, merge gate, hook or push still to come (by itself, or by the
    /// decision a gate asks for). A server that is settled may end, and a
    /// control room may stop it, without losing anything that would have
    /// happened; what is left (a failed task, a conflict, a manual merge)
    /// waits for a person, and the next start finds it. Stricter than a
    /// headless run's end (`outcome`): a merge held up by local changes,
    /// or a push waiting for its retry, is owed however long it waits.
    pub fn settled(&self) -> bool {
        self.live.is_empty()
            && !self.follow_ups.owed()
            && self.tasks.all_settled()
            && !self.merges_owed()
    }

    /// The plan's config as the engine sees it: `orch.toml`'s tasks (as
    /// last reloaded), then the tasks added at run time.
    pub fn config(&self) -> &Config {
        self.defs.config()
    }

    /// Tasks in plan order, as they stand.
    pub fn rows(&self) -> Vec<TaskRow> {
        self.tasks.in_order(self.defs.order())
    }

    pub fn snapshot(&self) -> Snapshot {
        let agents = self.live.in_phase(Phase::Running);
        let ran = self
            .live
            .iter()
            .filter(|(_, l)| l.phase == Phase::Running)
            .map(|(id, l)| (id.clone(), l.row.agent.clone()))
            .collect();
        Snapshot {
            tasks: self.rows(),
            agents,
            ran,
            progress: self.progress(),
            attention: self.attention(),
        }
    }

    pub fn run_id(&self) -> i64 {
        self.run_id
    }

    /// Stop every running agent now, whatever state is left: the driver
    /// calls this when it cannot go on (the store failed).
    pub fn emergency_stop(&mut self) -> Vec<Effect> {
        for (id, live) in self.live.iter() {
            if live.phase == Phase::Running {
                self.out.push(Effect::Stop {
                    task: id.clone(),
                    attempt: live.row.attempt,
                    grace: self.opts.stop_grace,
                });
            }
        }
        self.take_effects()
    }

    // ---- helpers shared by the parts -------------------------------------

    fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.out)
    }

    fn persist(&mut self, write: Write) {
        self.out.push(Effect::Persist(write));
    }

    fn publish(&mut self, event: Event) {
        self.out.push(Effect::Publish(event));
    }

    fn begin_shutdown(&mut self, stop_agents: bool) {
        self.run.shutting_down = true;
        if stop_agents {
            let grace = self.opts.stop_grace;
            for (id, live) in self.live.iter_mut() {
                if live.stop.is_none() {
                    live.stop = Some(StopReason::Shutdown);
                }
                if live.phase == Phase::Running {
                    self.out.push(Effect::Stop {
                        task: id.clone(),
                        attempt: live.row.attempt,
                        grace,
                    });
                }
            }
        } else {
            // Leave agents running; their attempts stay `running` in the
            // store and the next run closes them as interrupted. Attempts
            // still preparing or committing finish their job unobserved.
            self.live.clear();
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

    fn approval_row(
        &self,
        id: &str,
        gate: crate::store::Gate,
        verdict: crate::store::Verdict,
        by: &Actor,
        reason: Option<String>,
    ) -> ApprovalRow {
        ApprovalRow {
            task_id: id.to_string(),
            gate,
            decision: verdict,
            by: by.as_stored(),
            reason,
            at: self.now.wall_ms,
        }
    }
}
