//! Starting an agent: what to run, why it could not start, and the spawn
//! that sets up its PTY, leader and threads.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Instant;

use portable_pty::{Child, CommandBuilder, PtySize};

/// What points at the pane or window the server was started from (tmux's
/// pane, screen's session, a terminal emulator's window): not passed on to
/// agents, unless an agent's `env` sets them. An agent that finds them
/// drives that pane with the terminal's own commands (`tmux`, `kitty @`,
/// `wezterm cli`), which is not where it runs. `TERM_PROGRAM` stays: it
/// names the terminal whose keys orch passes on in the modes the agent
/// asks for.
const OUTER_TERMINAL_VARS: [&str; 10] = [
    "TMUX",
    "TMUX_PANE",
    "STY",
    "TERM_SESSION_ID",
    "KITTY_WINDOW_ID",
    "KITTY_PID",
    "WEZTERM_PANE",
    "WEZTERM_UNIX_SOCKET",
    "ITERM_SESSION_ID",
    "WINDOWID",
];

use super::leader::Leader;
use super::tap::OutputTap;
use super::{input, lock, reader, sys, waiter, AgentExit, AgentProcess, Shared};
use crate::agent::log_file::CappedLog;
use crate::agent::proc_tree::Signal;
use crate::agent::sandbox::{trampoline, Confine};
use crate::agent::screen::{TerminalScreen, MAX_COLS, MAX_ROWS};
use crate::agent::which::find_program;

/// Everything needed to start an agent.
#[derive(Clone)]
pub struct SpawnSpec {
    /// Program and arguments. The program is looked up like a shell would
    /// (see [`find_program`]), using `PATH` from `env` if it sets one.
    pub command: Vec<String>,
    /// Working directory; must exist.
    pub cwd: PathBuf,
    /// Added to (overriding) the inherited environment. `TERM` defaults to
    /// `xterm-256color`.
    pub env: Vec<(String, String)>,
    /// Terminal height (clamped to 1..=1000).
    pub rows: u16,
    /// Terminal width (clamped to 1..=2000).
    pub cols: u16,
    /// Raw output log (see [`CappedLog`]).
    pub log_path: PathBuf,
    /// Log size cap in bytes (0: no cap).
    pub log_cap_bytes: u64,
    /// Scrollback lines kept (see [`crate::agent::history::History`]).
    pub history_lines: usize,
    /// Called after each processed chunk of output (on the agent's reader
    /// thread, or its waiter thread when that brings a paused flood up to
    /// date), outside any lock. Must be cheap (e.g. set a "needs redraw"
    /// flag).
    pub on_output: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Run the command confined by this ruleset, through `orch __confine`
    /// (see [`crate::agent::sandbox::trampoline`]).
    pub confine: Option<Confine>,
}

impl fmt::Debug for SpawnSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpawnSpec")
            .field("command", &self.command)
            .field("cwd", &self.cwd)
            .field("env", &self.env)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .field("log_path", &self.log_path)
            .field("log_cap_bytes", &self.log_cap_bytes)
            .field("history_lines", &self.history_lines)
            .field("on_output", &self.on_output.is_some())
            .field("confine", &self.confine)
            .finish()
    }
}

/// Why an agent could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// `command` was empty (or its program was an empty string).
    #[error("empty command")]
    EmptyCommand,
    /// The program is not an executable file (on `PATH`).
    #[error("command not found: {program}")]
    NotFound {
        /// The program as configured.
        program: String,
    },
    /// No pseudo-terminal could be opened.
    #[error("could not open a pseudo-terminal: {0}")]
    Pty(String),
    /// The process could not be started.
    #[error("could not start {program}: {reason}")]
    Spawn {
        /// The program as configured.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// The agent must not start: its sandbox cannot be had here.
    #[error("sandbox: {0}")]
    Sandbox(String),
    /// The output log could not be created.
    #[error("could not create log file {}: {source}", path.display())]
    Log {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl AgentProcess {
    /// Start `spec.command` in a new PTY. `on_exit` is called exactly once,
    /// on the agent's waiter thread, after all output has been processed.
    pub fn spawn(
        spec: SpawnSpec,
        on_exit: Box<dyn FnOnce(AgentExit) + Send>,
    ) -> Result<Arc<AgentProcess>, SpawnError> {
        let program = match spec.command.first() {
            Some(p) if !p.is_empty() => p.clone(),
            _ => return Err(SpawnError::EmptyCommand),
        };
        if !spec.cwd.is_dir() {
            return Err(SpawnError::Spawn {
                program,
                reason: format!(
                    "working directory {} is not a directory",
                    spec.cwd.display()
                ),
            });
        }
        let path_var = spec
            .env
            .iter()
            .rev()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| OsStr::new(v.as_str()));
        let Some(resolved) = find_program(&program, &spec.cwd, path_var) else {
            return Err(SpawnError::NotFound { program });
        };
        let rows = spec.rows.clamp(1, MAX_ROWS);
        let cols = spec.cols.clamp(1, MAX_COLS);

        let log = CappedLog::create(&spec.log_path, spec.log_cap_bytes).map_err(|source| {
            SpawnError::Log {
                path: spec.log_path.clone(),
                source,
            }
        })?;

        let pair = portable_pty::native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .map_err(|e| SpawnError::Pty(format!("{e:#}")))?;

        // A path is passed resolved (portable-pty would search PATH for
        // "dir/prog"); a bare name as is, so argv[0] stays what was configured.
        let exec_name = if program.contains('/') {
            resolved.as_os_str()
        } else {
            OsStr::new(&program)
        };
        let mut cmd = match &spec.confine {
            None => {
                let mut cmd = CommandBuilder::new(exec_name);
                cmd.args(&spec.command[1..]);
                cmd
            }
            Some(confine) => {
                let mut cmd = CommandBuilder::new(trampoline::SELF_EXE);
                cmd.args(trampoline::args(confine, exec_name, &spec.command[1..]));
                cmd
            }
        };
        cmd.cwd(&spec.cwd);
        if !spec.env.iter().any(|(k, _)| k == "TERM") {
            cmd.env("TERM", "xterm-256color");
        }
        // The agent's terminal is orch's, not the pane the server was
        // started from.
        for var in OUTER_TERMINAL_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }

        let started_at = Instant::now();
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| SpawnError::Spawn {
                program: program.clone(),
                reason: format!("{e:#}"),
            })?;
        // Our copy of the slave must go, or the reader never sees EOF.
        drop(pair.slave);
        let master = pair.master;
        let leader = match Leader::new(child) {
            Ok(leader) => leader,
            Err(child) => return Err(abandon_child(child, &program, "no process id".into())),
        };
        let pid = leader.pid();
        let fail = |leader: Leader, reason: String| abandon(leader, &program, reason);

        let writer = match master.take_writer() {
            Ok(w) => w,
            Err(e) => return Err(fail(leader, format!("{e:#}"))),
        };
        let reader = match master
            .as_raw_fd()
            .ok_or_else(|| io::Error::other("PTY master has no file descriptor"))
            .and_then(|fd| {
                // SAFETY: the master owns `fd` and outlives this call; the
                // borrow ends with it (we keep only the duplicate).
                sys::dup(unsafe { BorrowedFd::borrow_raw(fd) })
            }) {
            // Our own descriptor: the reader owns what it reads from and is
            // not affected by the master being closed.
            Ok(fd) => std::fs::File::from(fd),
            Err(e) => return Err(fail(leader, e.to_string())),
        };
        let tty = master.tty_name();
        let exit_watch = leader.exit_watch();

        let shared = Arc::new(Shared {
            pid,
            started_at,
            last_output_ms: AtomicU64::new(0),
            log_flushed_ms: AtomicU64::new(0),
            output_seq: AtomicU64::new(0),
            input_seq: AtomicU64::new(0),
            screen: Mutex::new(TerminalScreen::new(rows, cols, spec.history_lines)),
            tap: Mutex::new(OutputTap::new()),
            log: Mutex::new(log),
            input: Mutex::new(Some(input::input_thread(writer, pid))),
            master: Mutex::new(Some(master)),
            tty,
            marks: crate::agent::reaper::Marks::from_env(&spec.env),
            leader: Mutex::new(Some(leader)),
            on_output: spec.on_output.clone(),
            wake: exit_watch.as_ref().and_then(|_| sys::Wake::new()),
            sync_armed: AtomicBool::new(false),
            waiter_idle: AtomicBool::new(false),
            log_failed: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            terminating: AtomicBool::new(false),
        });
        let fail = |reason: String| match lock(&shared.leader).take() {
            Some(leader) => abandon(leader, &program, reason),
            None => SpawnError::Spawn {
                program: program.clone(),
                reason,
            },
        };

        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let reader_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("orch-pty-read-{pid}"))
            .spawn(move || reader::reader_loop(&reader_shared, reader, &done_tx));
        if let Err(e) = spawned {
            return Err(fail(format!("reader thread: {e}")));
        }
        // The waiter takes `on_exit`; if its thread cannot start, the
        // closure comes back through this slot and is dropped uncalled.
        let slot = Arc::new(Mutex::new(Some(on_exit)));
        let waiter_slot = Arc::clone(&slot);
        let waiter_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("orch-pty-wait-{pid}"))
            .spawn(move || {
                if let Some(on_exit) = lock(&waiter_slot).take() {
                    waiter::waiter_loop(&waiter_shared, exit_watch, &done_rx, on_exit);
                }
            });
        if let Err(e) = spawned {
            drop(lock(&slot).take());
            return Err(fail(format!("waiter thread: {e}")));
        }
        tracing::debug!(pid, program = %program, "agent started");
        Ok(Arc::new(AgentProcess { shared }))
    }
}

/// Kill and reap a leader we cannot run, and make the error for it.
fn abandon(leader: Leader, program: &str, reason: String) -> SpawnError {
    leader.signal_group(Signal::KILL);
    leader.reap();
    SpawnError::Spawn {
        program: program.to_owned(),
        reason,
    }
}

/// The same for a child we could not even take charge of.
fn abandon_child(
    mut child: Box<dyn Child + Send + Sync>,
    program: &str,
    reason: String,
) -> SpawnError {
    let _ = child.kill();
    let _ = child.wait();
    SpawnError::Spawn {
        program: program.to_owned(),
        reason,
    }
}
