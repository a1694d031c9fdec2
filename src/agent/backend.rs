//! Agents behind two small traits, so the engine never holds a process.
//!
//! - [`AgentBackend`]: what the engine's driver asks of agents: start one,
//!   stop one, when was each last heard from, forget one that exited, and
//!   kill one a dead orch left behind. [`LocalBackend`] runs them in local
//!   PTYs (remote hosts can come later behind the same trait).
//! - [`AgentTerminal`]: what a view does with a running agent's terminal:
//!   read its screen, type into it, resize it.
//!
//! Running agents' terminals are published in an [`AgentRegistry`] beside
//! the engine's events: an event says "task T's attempt N started", the
//! registry holds its terminal for as long as it runs.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::agent::activity::{latest, Activity};
use crate::agent::proc_tree;
use crate::agent::pty::{AgentExit, AgentProcess, OutputSubscription, SpawnError, SpawnSpec};
use crate::agent::sampler::{Sampler, TreeUsage};
use crate::agent::sandbox::{self, Level};
use crate::agent::screen::TerminalScreen;
use crate::engine::effect::SpawnOrder;
use crate::engine::message::Heard;

/// A running agent's terminal, as views use it.
pub trait AgentTerminal: Send + Sync {
    fn pid(&self) -> u32;
    fn started_at(&self) -> Instant;
    /// When the agent last printed anything.
    fn last_output_at(&self) -> Option<Instant>;
    /// Grows whenever the screen changed.
    fn output_seq(&self) -> u64;
    fn screen(&self) -> &Mutex<TerminalScreen>;
    /// Queue bytes for the agent's input; never blocks.
    fn write_input(&self, bytes: &[u8]) -> io::Result<()>;
    fn resize(&self, rows: u16, cols: u16) -> io::Result<()>;
    fn has_exited(&self) -> bool;
    /// A full repaint of the screen now and the raw output after it, for a
    /// client that attaches late.
    fn subscribe_output(&self) -> OutputSubscription;
    /// Grows with every write of input (see `agent::waiting::watcher`).
    fn input_seq(&self) -> u64 {
        0
    }
    /// The terminal's foreground process group, if known.
    fn foreground_group(&self) -> Option<u32> {
        None
    }
}

impl AgentTerminal for AgentProcess {
    fn pid(&self) -> u32 {
        AgentProcess::pid(self)
    }
    fn started_at(&self) -> Instant {
        AgentProcess::started_at(self)
    }
    fn last_output_at(&self) -> Option<Instant> {
        AgentProcess::last_output_at(self)
    }
    fn output_seq(&self) -> u64 {
        AgentProcess::output_seq(self)
    }
    fn screen(&self) -> &Mutex<TerminalScreen> {
        AgentProcess::screen(self)
    }
    fn write_input(&self, bytes: &[u8]) -> io::Result<()> {
        AgentProcess::write_input(self, bytes)
    }
    fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        AgentProcess::resize(self, rows, cols)
    }
    fn has_exited(&self) -> bool {
        AgentProcess::has_exited(self)
    }
    fn subscribe_output(&self) -> OutputSubscription {
        AgentProcess::subscribe_output(self)
    }
    fn input_seq(&self) -> u64 {
        AgentProcess::input_seq(self)
    }
    fn foreground_group(&self) -> Option<u32> {
        AgentProcess::foreground_group(self)
    }
}

/// One registered agent.
#[derive(Clone)]
pub struct RegisteredAgent {
    pub attempt: u32,
    pub terminal: Arc<dyn AgentTerminal>,
}

/// The terminals of running agents, by task. Cheap to clone; shared by the
/// backend (which fills it) and the views (which read it).
#[derive(Clone, Default)]
pub struct AgentRegistry {
    inner: Arc<RwLock<HashMap<String, RegisteredAgent>>>,
}

impl std::fmt::Debug for AgentRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentRegistry")
    }
}

impl AgentRegistry {
    /// The running agent of `task`, if its attempt is `attempt` (any
    /// attempt when `None`).
    pub fn get(&self, task: &str, attempt: Option<u32>) -> Option<Arc<dyn AgentTerminal>> {
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let agent = map.get(task)?;
        attempt
            .is_none_or(|a| a == agent.attempt)
            .then(|| agent.terminal.clone())
    }

    pub fn insert(&self, task: &str, attempt: u32, terminal: Arc<dyn AgentTerminal>) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        map.insert(task.to_string(), RegisteredAgent { attempt, terminal });
    }

    pub fn remove(&self, task: &str, attempt: u32) {
        let mut map = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if map.get(task).is_some_and(|a| a.attempt == attempt) {
            map.remove(task);
        }
    }

    /// Every running agent: task, attempt and terminal.
    pub fn all(&self) -> Vec<(String, u32, Arc<dyn AgentTerminal>)> {
        let map = self.inner.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .map(|(task, a)| (task.clone(), a.attempt, a.terminal.clone()))
            .collect()
    }

    pub fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Called once when an agent's process tree is gone and its output read.
pub type OnExit = Box<dyn FnOnce(AgentExit) + Send>;

/// An agent that started: its pid and the confinement it got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub pid: u32,
    pub sandbox: Level,
    /// Worth telling the user (a `writable` path that does not exist).
    pub notes: Vec<String>,
}

impl Started {
    /// An agent started without a sandbox.
    pub fn unconfined(pid: u32) -> Started {
        Started {
            pid,
            sandbox: Level::None,
            notes: Vec::new(),
        }
    }
}

/// What the engine's driver asks of agents.
pub trait AgentBackend: Send {
    /// Start the agent of an attempt, confined as `order.sandbox` asks.
    /// `on_exit` is called once, from any thread, when it has exited.
    fn spawn(&mut self, order: &SpawnOrder, on_exit: OnExit) -> Result<Started, SpawnError>;
    /// Stop an agent's whole tree: SIGTERM, then SIGKILL after `grace`.
    fn stop(&mut self, task: &str, attempt: u32, grace: Duration);
    /// When each running agent was last heard from (output or file changes).
    fn heard(&self) -> Vec<Heard>;
    /// The agent's exit has been handled: stop watching it.
    fn release(&mut self, task: &str, attempt: u32);
    /// An agent a dead orch left running: kill it if it still works in
    /// `worktree` (a recycled pid belonging to something else is spared).
    fn kill_leftover(&mut self, pid: u32, worktree: &Path);
}

/// How the local backend sizes and records its agents.
#[derive(Clone)]
pub struct LocalOptions {
    pub rows: u16,
    pub cols: u16,
    pub log_cap_bytes: u64,
    pub history_lines: usize,
    /// Poked by every agent's reader after it processed output.
    pub on_output: Option<Arc<dyn Fn() + Send + Sync>>,
}

struct LocalAgent {
    attempt: u32,
    process: Arc<AgentProcess>,
    /// File changes in the worktree: a heartbeat beside terminal output.
    activity: Activity,
}

/// Agents in local PTYs, with their health sampled once a period and file
/// activity in their worktrees watched.
pub struct LocalBackend {
    opts: LocalOptions,
    agents: HashMap<String, LocalAgent>,
    sampler: Sampler,
    registry: AgentRegistry,
}

/// One round of samples: `(task, attempt, root pid, usage)`.
pub type SampleRound = Vec<(String, u32, u32, TreeUsage)>;

impl LocalBackend {
    /// `health` gets each round of samples; returning `false` stops sampling.
    pub fn start(
        opts: LocalOptions,
        sample_period: Duration,
        registry: AgentRegistry,
        health: impl FnMut(SampleRound) -> bool + Send + 'static,
    ) -> io::Result<LocalBackend> {
        Ok(LocalBackend {
            opts,
            agents: HashMap::new(),
            sampler: Sampler::start(sample_period, health)?,
            registry,
        })
    }
}

impl AgentBackend for LocalBackend {
    fn spawn(&mut self, order: &SpawnOrder, on_exit: OnExit) -> Result<Started, SpawnError> {
        let sandbox = sandbox::prepare(order.sandbox.as_ref(), &order.cwd, &order.env)
            .map_err(SpawnError::Sandbox)?;
        let mut env = order.env.clone();
        env.extend(sandbox.env);
        let spec = SpawnSpec {
            command: order.command.clone(),
            cwd: order.cwd.clone(),
            env,
            rows: self.opts.rows,
            cols: self.opts.cols,
            log_path: order.log_path.clone(),
            log_cap_bytes: self.opts.log_cap_bytes,
            history_lines: self.opts.history_lines,
            on_output: self.opts.on_output.clone(),
            confine: sandbox.confine,
        };
        let process = AgentProcess::spawn(spec, on_exit)?;
        let pid = process.pid();
        self.sampler.track(&order.task, order.attempt, pid);
        self.registry
            .insert(&order.task, order.attempt, process.clone());
        self.agents.insert(
            order.task.clone(),
            LocalAgent {
                attempt: order.attempt,
                activity: Activity::watch(&order.cwd),
                process,
            },
        );
        Ok(Started {
            pid,
            sandbox: sandbox.level,
            notes: sandbox.notes,
        })
    }

    fn stop(&mut self, task: &str, attempt: u32, grace: Duration) {
        if let Some(agent) = self.agents.get(task).filter(|a| a.attempt == attempt) {
            agent.process.terminate(grace);
        }
    }

    fn heard(&self) -> Vec<Heard> {
        self.agents
            .iter()
            .map(|(task, a)| Heard {
                task: task.clone(),
                attempt: a.attempt,
                at: latest(a.process.last_output_at(), a.activity.last_change()),
            })
            .collect()
    }

    fn release(&mut self, task: &str, attempt: u32) {
        if self.agents.get(task).is_some_and(|a| a.attempt == attempt) {
            self.agents.remove(task);
            self.sampler.untrack(task, attempt);
            self.registry.remove(task, attempt);
        }
    }

    fn kill_leftover(&mut self, pid: u32, worktree: &Path) {
        // The agent's session is searched only when `pid` is still the
        // agent, or gone (then its id stays reserved while the session has
        // members): a live stranger that took the pid has a session of its own.
        let mut session = Some(pid);
        if proc_tree::is_alive(pid) {
            let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
            if cwd.is_ok_and(|cwd| cwd.starts_with(worktree)) {
                tracing::warn!(pid, "stopping an agent left running by a previous orch");
                let tree = proc_tree::tree(pid);
                proc_tree::signal_tree(pid, &tree, proc_tree::Signal::KILL);
            } else {
                session = None;
            }
        }
        // A killed orch's agent loses its terminal: what ignored that, or
        // had left its session, runs on without it, reparented away.
        for process in proc_tree::left_behind(session, worktree) {
            tracing::warn!(
                pid = process.pid(),
                agent = pid,
                "stopping a process a previous orch's agent left running"
            );
            process.signal(proc_tree::Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn backend(registry: AgentRegistry) -> LocalBackend {
        let opts = LocalOptions {
            rows: 24,
            cols: 80,
            log_cap_bytes: 1 << 20,
            history_lines: 100,
            on_output: None,
        };
        LocalBackend::start(opts, Duration::from_secs(1), registry, |_| true).expect("backend")
    }

    fn order(dir: &Path, script: &str) -> SpawnOrder {
        SpawnOrder {
            task: "t".into(),
            attempt: 1,
            command: vec!["sh".into(), "-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: Vec::new(),
            log_path: dir.join("logs/1.log"),
            sandbox: None,
            screen: Default::default(),
        }
    }

    #[test]
    fn a_silent_agent_that_edits_files_is_heard() {
        let dir = tempfile::tempdir().expect("tempdir");
        let registry = AgentRegistry::default();
        let mut backend = backend(registry.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let started = backend
            .spawn(
                &order(dir.path(), "while :; do date > draft.md; sleep 0.1; done"),
                Box::new(move |exit| {
                    let _ = tx.send(exit);
                }),
            )
            .expect("spawn");
        assert!(started.pid > 0);
        assert_eq!(started.sandbox, Level::None);
        assert!(registry.get("t", Some(1)).is_some());
        assert!(registry.get("t", Some(2)).is_none(), "another attempt's");
        wait_until("a file change to be heard", || {
            backend
                .heard()
                .iter()
                .any(|h| h.task == "t" && h.at.is_some())
        });
        let terminal = registry.get("t", None).expect("registered");
        assert_eq!(terminal.last_output_at(), None, "it printed nothing");
        backend.stop("t", 1, Duration::from_millis(200));
        let exit = rx.recv_timeout(Duration::from_secs(20)).expect("exit");
        assert!(!exit.success());
        backend.release("t", 1);
        assert!(registry.is_empty());
        assert!(backend.heard().is_empty());
    }
}
