//! Agent processes in pseudo-terminals.
//!
//! Each agent runs as a session leader in its own PTY (portable-pty calls
//! `setsid` and `TIOCSCTTY` in the child, so its pid is also its process-group
//! id). Two threads serve it:
//!
//! * the **reader** drains the PTY master (64 KiB buffer, taking everything
//!   already queued in one go) and feeds every byte to the [`CappedLog`] and
//!   the [`TerminalScreen`], whether or not anyone is watching (an undrained
//!   PTY blocks the agent). It parses inline: a separate parse thread only
//!   added context switches, and on a small machine the agent's own output
//!   path (the kernel's tty work) competes with us for CPU. Plain-text floods
//!   go through the screen's fast path with the vt100 catch-up deferred
//!   ([`TerminalScreen::process_deferred`]): the reader syncs the screen at
//!   most every 15 ms while output streams in;
//! * the **waiter** waits for the leader to exit on a pidfd. Meanwhile it
//!   syncs the screen 15 ms after the reader left work pending (woken through
//!   an eventfd), so the end of a burst always shows, and flushes the
//!   buffered log once the agent has been quiet for 200 ms. When the leader
//!   exits it reaps it with `wait()`; whatever is left of its process group
//!   or session (or still holds its terminal) gets SIGTERM, then SIGKILL
//!   after 2 s, so the PTY reaches end-of-file and nothing leaks. It then
//!   waits (up to 3 s) for the reader to drain everything, flushes the log
//!   and only then calls `on_exit`, exactly once: when `on_exit` runs, the
//!   screen holds all of the agent's output.
//!
//! Memory per agent is bounded: the live screen, the history ring and fixed
//! buffers, whatever the agent prints.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize};

use super::log_file::CappedLog;
use super::proc_tree;
use super::screen::{TerminalScreen, MAX_COLS, MAX_ROWS};
use super::which::find_program;

/// Read buffer of the reader thread.
const READ_BUFFER: usize = 64 * 1024;
/// The reader feeds the screen at most this much per lock, so a UI thread
/// rendering the screen never waits long.
const SCREEN_SLICE: usize = 16 * 1024;
/// While output streams in, the screen is brought up to date this often
/// (see `TerminalScreen::process_deferred`), and this long after it stops.
const SYNC_INTERVAL: Duration = Duration::from_millis(15);
/// Flush the log once the agent has been quiet this long.
const LOG_IDLE_FLUSH_MS: i32 = 200;
/// After the leader exits: SIGTERM to leftovers, SIGKILL after this.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// After that: how long to wait for the reader to reach end-of-file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// Grace given by `Drop` to an agent nobody holds any more.
const DROP_GRACE: Duration = Duration::from_secs(2);
/// After the leader exits without EOF following, look this long before
/// searching every process for holders of the terminal.
const HOLDER_SCAN_AFTER: Duration = Duration::from_millis(100);
/// Polling step while waiting for processes to die.
const POLL_STEP: Duration = Duration::from_millis(20);

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
    /// Scrollback lines kept (see [`super::history::History`]).
    pub history_lines: usize,
    /// Called after each processed chunk of output (on the agent's reader
    /// thread, or its waiter thread when that brings a paused flood up to
    /// date), outside any lock. Must be cheap (e.g. set a "needs redraw"
    /// flag).
    pub on_output: Option<Arc<dyn Fn() + Send + Sync>>,
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
            .finish()
    }
}

/// How an agent's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentExit {
    /// Exited with this status code (-1: status unknown).
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl AgentExit {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        *self == AgentExit::Code(0)
    }
}

impl fmt::Display for AgentExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AgentExit::Code(code) => write!(f, "exit code {code}"),
            AgentExit::Signal(sig) => match signal_name(sig) {
                Some(name) => write!(f, "killed by signal {sig} ({name})"),
                None => write!(f, "killed by signal {sig}"),
            },
        }
    }
}

const SIGNAL_NAMES: &[(i32, &str)] = &[
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGSYS, "SIGSYS"),
];

/// "SIGKILL" for 9, and so on.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    SIGNAL_NAMES
        .iter()
        .find(|&&(n, _)| n == sig)
        .map(|&(_, name)| name)
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

/// State shared by the handle and the agent's threads.
struct Shared {
    pid: u32,
    started_at: Instant,
    /// Milliseconds since `started_at` of the last output, plus one; 0: none.
    last_output_ms: AtomicU64,
    output_seq: AtomicU64,
    screen: Mutex<TerminalScreen>,
    log: Mutex<CappedLog>,
    /// Keystrokes and pastes for the agent, written by a thread of its own
    /// (`input_thread`): a write blocks while the agent does not read its
    /// input, and that must hold up neither the UI nor the waiter.
    input: Mutex<Option<std::sync::mpsc::SyncSender<Vec<u8>>>>,
    master: Mutex<Option<Box<dyn MasterPty + Send>>>,
    /// The slave's path (`/dev/pts/N`), to find processes still holding it.
    tty: Option<PathBuf>,
    /// Milliseconds since `started_at` of the last log flush by the waiter.
    log_flushed_ms: AtomicU64,
    /// The leader was reaped: its pid must no longer be used for tree walks.
    leader_exited: AtomicBool,
    /// Called after output was processed (see [`SpawnSpec::on_output`]).
    on_output: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Wakes the waiter (an eventfd) to bring the screen up to date when the
    /// reader left work pending; `None` when the waiter cannot watch it, and
    /// then the reader never defers.
    wake: Option<OwnedFd>,
    /// The reader asked the waiter for a sync that has not happened yet.
    sync_armed: AtomicBool,
    /// A log write failed: logging stopped.
    log_failed: AtomicBool,
    /// All output processed and `on_exit` about to run or done.
    exited: AtomicBool,
    terminating: AtomicBool,
}

/// A running (or finished) agent. Shared as `Arc<AgentProcess>`.
///
/// Dropping the last handle of an agent that is still running terminates it
/// (SIGTERM, SIGKILL after 2 s): nothing outlives its handle.
pub struct AgentProcess {
    shared: Arc<Shared>,
}

impl fmt::Debug for AgentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentProcess")
            .field("pid", &self.shared.pid)
            .field("exited", &self.has_exited())
            .finish()
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind that
    // is still usable; keep going rather than cascade the panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let mut cmd = if program.contains('/') {
            CommandBuilder::new(resolved.as_os_str())
        } else {
            CommandBuilder::new(&program)
        };
        cmd.args(&spec.command[1..]);
        cmd.cwd(&spec.cwd);
        if !spec.env.iter().any(|(k, _)| k == "TERM") {
            cmd.env("TERM", "xterm-256color");
        }
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }

        let started_at = Instant::now();
        let mut child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| SpawnError::Spawn {
                program: program.clone(),
                reason: format!("{e:#}"),
            })?;
        // Our copy of the slave must go, or the reader never sees EOF.
        drop(pair.slave);
        let master = pair.master;

        let Some(pid) = child.process_id() else {
            return Err(abandon(&mut child, None, &program, "no process id".into()));
        };
        let writer = match master.take_writer() {
            Ok(w) => w,
            Err(e) => return Err(abandon(&mut child, Some(pid), &program, format!("{e:#}"))),
        };
        let reader = match dup_master(master.as_ref()) {
            Ok(f) => f,
            Err(e) => return Err(abandon(&mut child, Some(pid), &program, e.to_string())),
        };
        let tty = master.tty_name();
        let pidfd = open_pidfd(pid);

        let shared = Arc::new(Shared {
            pid,
            started_at,
            last_output_ms: AtomicU64::new(0),
            log_flushed_ms: AtomicU64::new(0),
            output_seq: AtomicU64::new(0),
            screen: Mutex::new(TerminalScreen::new(rows, cols, spec.history_lines)),
            log: Mutex::new(log),
            input: Mutex::new(Some(input_thread(writer, pid))),
            master: Mutex::new(Some(master)),
            tty,
            leader_exited: AtomicBool::new(false),
            on_output: spec.on_output.clone(),
            wake: pidfd.as_ref().and_then(|_| open_eventfd()),
            sync_armed: AtomicBool::new(false),
            log_failed: AtomicBool::new(false),
            exited: AtomicBool::new(false),
            terminating: AtomicBool::new(false),
        });

        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let reader_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("orch-pty-read-{pid}"))
            .spawn(move || reader_loop(&reader_shared, reader, &done_tx));
        if let Err(e) = spawned {
            return Err(abandon(
                &mut child,
                Some(pid),
                &program,
                format!("reader thread: {e}"),
            ));
        }
        // The waiter takes the child; if its thread cannot start, the closure
        // (and the child in it) comes back through this slot to be cleaned up.
        let slot = Arc::new(Mutex::new(Some((child, on_exit))));
        let waiter_slot = Arc::clone(&slot);
        let waiter_shared = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name(format!("orch-pty-wait-{pid}"))
            .spawn(move || {
                if let Some((child, on_exit)) = lock(&waiter_slot).take() {
                    waiter_loop(&waiter_shared, child, pidfd, &done_rx, on_exit);
                }
            });
        if let Err(e) = spawned {
            let reason = format!("waiter thread: {e}");
            if let Some((mut child, _)) = lock(&slot).take() {
                return Err(abandon(&mut child, Some(pid), &program, reason));
            }
            return Err(SpawnError::Spawn { program, reason });
        }
        tracing::debug!(pid, program = %program, "agent started");
        Ok(Arc::new(AgentProcess { shared }))
    }

    /// The agent's pid (also its process-group and session id).
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// When the process was started.
    pub fn started_at(&self) -> Instant {
        self.shared.started_at
    }

    /// When output last arrived (millisecond resolution), if ever.
    pub fn last_output_at(&self) -> Option<Instant> {
        match self.shared.last_output_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.shared.started_at + Duration::from_millis(ms - 1)),
        }
    }

    /// Bumped after each processed chunk of output.
    pub fn output_seq(&self) -> u64 {
        self.shared.output_seq.load(Ordering::Acquire)
    }

    /// The agent's terminal. Hold the lock briefly: the reader needs it.
    pub fn screen(&self) -> &Mutex<TerminalScreen> {
        &self.shared.screen
    }

    /// Send keystrokes / pasted text to the agent. Never blocks: the bytes
    /// are queued for the agent's input thread. When the queue is full (the
    /// agent has not been reading its input for a while) they are refused
    /// with `WouldBlock`.
    pub fn write_input(&self, bytes: &[u8]) -> io::Result<()> {
        use std::sync::mpsc::TrySendError;
        let input = lock(&self.shared.input);
        let Some(tx) = input.as_ref() else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "agent has exited",
            ));
        };
        match tx.try_send(bytes.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "the agent is not reading its input; keys dropped",
            )),
            Err(TrySendError::Disconnected(_)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "agent has exited",
            )),
        }
    }

    /// Resize the screen and the PTY together (the agent gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let rows = rows.clamp(1, MAX_ROWS);
        let cols = cols.clamp(1, MAX_COLS);
        // Screen first: output the agent draws for the new size after its
        // SIGWINCH is then parsed at the new size.
        lock(&self.shared.screen).resize(rows, cols);
        if let Some(master) = lock(&self.shared.master).as_ref() {
            master
                .resize(PtySize {
                    rows,
                    cols,
                    pixel_width: 0,
                    pixel_height: 0,
                })
                .map_err(|e| io::Error::other(format!("{e:#}")))?;
        }
        Ok(())
    }

    /// Stop the agent without blocking: SIGTERM to its process group and to
    /// every descendant (also those that moved to their own session), then
    /// SIGKILL to whatever remains after `grace`, from a background thread.
    /// Calling it again does nothing.
    pub fn terminate(&self, grace: Duration) {
        terminate_shared(&self.shared, grace);
    }

    /// True once the agent exited and all its output was processed (just
    /// before `on_exit` runs).
    pub fn has_exited(&self) -> bool {
        self.shared.exited.load(Ordering::Acquire)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if !self.has_exited() {
            terminate_shared(&self.shared, DROP_GRACE);
        }
    }
}

fn terminate_shared(shared: &Arc<Shared>, grace: Duration) {
    if shared.exited.load(Ordering::Acquire) || shared.terminating.swap(true, Ordering::AcqRel) {
        return;
    }
    let pid = shared.pid;
    let snapshot = if shared.leader_exited.load(Ordering::Acquire) {
        Vec::new()
    } else {
        proc_tree::tree(pid)
    };
    tracing::debug!(pid, processes = snapshot.len(), "terminating agent");
    proc_tree::signal_tree(pid, &snapshot, libc::SIGTERM);
    let for_killer = Arc::clone(shared);
    let killer = move || {
        let shared = for_killer;
        let deadline = Instant::now() + grace;
        loop {
            let leader_gone = shared.leader_exited.load(Ordering::Acquire);
            if leader_gone && !snapshot.iter().any(|&p| proc_tree::is_alive(p)) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::sleep(POLL_STEP.min(deadline - now));
        }
        let mut pids: Vec<u32> = snapshot
            .iter()
            .copied()
            .filter(|&p| proc_tree::is_alive(p))
            .collect();
        if !shared.leader_exited.load(Ordering::Acquire) {
            pids.extend(proc_tree::tree(pid));
        }
        tracing::debug!(pid, remaining = pids.len(), "grace over, killing agent");
        proc_tree::signal_tree(pid, &pids, libc::SIGKILL);
    };
    if let Err(e) = thread::Builder::new()
        .name(format!("orch-pty-kill-{pid}"))
        .spawn(killer)
    {
        // Without a thread there is no grace period: kill now.
        tracing::warn!(pid, error = %e, "no thread for the grace period; killing at once");
        let pids = if shared.leader_exited.load(Ordering::Acquire) {
            Vec::new()
        } else {
            proc_tree::tree(pid)
        };
        proc_tree::signal_tree(pid, &pids, libc::SIGKILL);
    }
}

/// Kill and reap a child we cannot run, and make the error for it.
fn abandon(
    child: &mut Box<dyn Child + Send + Sync>,
    pid: Option<u32>,
    program: &str,
    reason: String,
) -> SpawnError {
    if let Some(pid) = pid {
        proc_tree::signal_tree(pid, &[pid], libc::SIGKILL);
    } else {
        let _ = child.kill();
    }
    let _ = child.wait();
    SpawnError::Spawn {
        program: program.to_owned(),
        reason,
    }
}

/// Our own descriptor for the master, so the reader owns what it reads from
/// and is not affected by the master being closed.
fn dup_master(master: &dyn MasterPty) -> io::Result<File> {
    let fd = master
        .as_raw_fd()
        .ok_or_else(|| io::Error::other("PTY master has no file descriptor"))?;
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor we own for the duration
    // of the call; it returns a new descriptor or -1.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a freshly duplicated descriptor nothing else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// Leave this much room for a read that is worth making.
const MIN_READ: usize = 4096;

/// Bytes waiting in the PTY's input queue. (`FIONREAD`, not `poll`: a PTY's
/// poll waits for the kernel's buffer-flush work, which shows in a flood.)
fn bytes_ready(fd: RawFd) -> usize {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer we pass.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    if rc == 0 {
        usize::try_from(n).unwrap_or(0)
    } else {
        0
    }
}

/// Read what the PTY has: block for the first bytes, then keep taking what is
/// already there (without waiting) while the buffer has room. Batching a
/// flood this way means far fewer, larger `process` calls. Returns (bytes
/// read, end-of-file seen).
fn read_available(pty: &mut File, buf: &mut [u8], pid: u32) -> (usize, bool) {
    let fd = pty.as_raw_fd();
    let mut n = 0;
    loop {
        if n > 0 && (buf.len() - n < MIN_READ || bytes_ready(fd) == 0) {
            return (n, false);
        }
        match pty.read(&mut buf[n..]) {
            Ok(0) => return (n, true),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Linux: EIO once every holder of the slave side closed it = EOF.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => return (n, true),
            Err(e) => {
                tracing::warn!(pid, error = %e, "reading agent output failed");
                return (n, true);
            }
        }
    }
}

/// Drain the PTY into the log and the screen until EOF.
fn reader_loop(shared: &Shared, mut pty: File, done: &SyncSender<()>) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut last_sync: Option<Instant> = None;
    loop {
        let (n, eof) = read_available(&mut pty, &mut buf, shared.pid);
        if n == 0 {
            break;
        }
        let ms = u64::try_from(shared.started_at.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
        shared.last_output_ms.store(ms + 1, Ordering::Relaxed);
        let chunk = &buf[..n];
        log_op(shared, |log| log.write(chunk));
        for piece in chunk.chunks(SCREEN_SLICE) {
            screen_op(shared, |screen| screen.process_deferred(piece));
        }
        // Bring the screen up to date at most every SYNC_INTERVAL while
        // output streams in (plain-text floods then skip most of vt100's
        // work); in between, the waiter is asked to sync shortly, in case
        // this was the last output for a while.
        let due = match last_sync {
            None => true,
            Some(t) => t.elapsed() >= SYNC_INTERVAL,
        };
        if eof || due || shared.wake.is_none() {
            screen_op(shared, TerminalScreen::sync);
            last_sync = Some(Instant::now());
        } else if !shared.sync_armed.swap(true, Ordering::AcqRel) {
            if let Some(wake) = &shared.wake {
                signal_eventfd(wake);
            }
        }
        shared.output_seq.fetch_add(1, Ordering::Release);
        notify_output(shared);
        if eof {
            break;
        }
    }
    log_op(shared, CappedLog::flush);
    let _ = done.try_send(());
}

fn notify_output(shared: &Shared) {
    if let Some(cb) = &shared.on_output {
        cb();
    }
}

/// A pidfd for `pid` (readable once it exits), if the kernel has them.
#[cfg(target_os = "linux")]
fn open_pidfd(pid: u32) -> Option<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open(2) takes a pid and flags and returns a new
    // descriptor or -1. The child is not reaped yet, so the pid is ours.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = RawFd::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: a fresh descriptor nothing else owns.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn open_pidfd(_pid: u32) -> Option<OwnedFd> {
    None
}

#[cfg(target_os = "linux")]
fn open_eventfd() -> Option<OwnedFd> {
    // SAFETY: eventfd(2) returns a new descriptor or -1.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    // SAFETY: a fresh descriptor nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn open_eventfd() -> Option<OwnedFd> {
    None
}

fn signal_eventfd(fd: &OwnedFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a local u64 to an eventfd we own. A full
    // counter (EAGAIN) still leaves it readable, which is all we need.
    unsafe {
        libc::write(fd.as_raw_fd(), (&one as *const u64).cast(), 8);
    }
}

fn drain_eventfd(fd: RawFd) {
    let mut count: u64 = 0;
    // SAFETY: reads 8 bytes into a local u64; non-blocking.
    unsafe {
        libc::read(fd, (&mut count as *mut u64).cast(), 8);
    }
}

/// Run `op` on the screen. A parser bug must not stop the draining (the
/// agent would block): after a panic the screen starts afresh, keeping its
/// history.
fn screen_op(shared: &Shared, op: impl FnOnce(&mut TerminalScreen)) {
    let mut screen = lock(&shared.screen);
    if crate::panic_guard::catch(|| op(&mut screen)).is_err() {
        tracing::error!(pid = shared.pid, "terminal parser panicked; screen reset");
        screen.reset_keeping_history();
    }
}

/// Run `op` on the log unless logging already failed; the first failure is
/// reported and stops logging (the agent keeps running).
fn log_op(shared: &Shared, op: impl FnOnce(&mut CappedLog) -> io::Result<()>) {
    if shared.log_failed.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = op(&mut lock(&shared.log)) {
        if !shared.log_failed.swap(true, Ordering::Relaxed) {
            tracing::warn!(pid = shared.pid, error = %e, "agent log failed; logging stopped");
        }
    }
}

/// Longest a byte waits in the log buffer while output keeps trickling in
/// (a spinner never leaves the agent quiet for [`LOG_IDLE_FLUSH_MS`]).
const LOG_MAX_FLUSH_DELAY_MS: u64 = 1000;

/// Flush the log if the agent has been quiet for [`LOG_IDLE_FLUSH_MS`], or
/// the last flush is [`LOG_MAX_FLUSH_DELAY_MS`] old.
fn flush_log_if_idle(shared: &Shared) {
    let last = shared.last_output_ms.load(Ordering::Relaxed);
    let now = u64::try_from(shared.started_at.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
    let idle_ms = LOG_IDLE_FLUSH_MS.unsigned_abs().into();
    let flushed = shared.log_flushed_ms.load(Ordering::Relaxed);
    let idle = last != 0 && now.saturating_sub(last) >= idle_ms;
    let overdue = now.saturating_sub(flushed) >= LOG_MAX_FLUSH_DELAY_MS;
    if idle || overdue {
        log_op(shared, |log| {
            if log.has_buffered() {
                log.flush()
            } else {
                Ok(())
            }
        });
        shared.log_flushed_ms.store(now, Ordering::Relaxed);
    }
}

/// Block until the leader has exited (without reaping it). Meanwhile bring
/// the screen up to date when the reader asks, and flush the log each time
/// the agent has been quiet for a while.
fn wait_for_exit(
    shared: &Shared,
    child: &mut Box<dyn Child + Send + Sync>,
    pidfd: Option<&OwnedFd>,
) {
    let Some(pidfd) = pidfd else {
        // No pidfd: poll the child (std caches the status for the final
        // wait). The reader does not defer screen work in this mode.
        let as_dyn: &mut dyn Child = &mut **child;
        loop {
            match as_dyn.try_wait() {
                Ok(None) => {
                    thread::sleep(Duration::from_millis(
                        LOG_IDLE_FLUSH_MS.unsigned_abs().into(),
                    ));
                    flush_log_if_idle(shared);
                }
                Ok(Some(_)) | Err(_) => return,
            }
        }
    };
    let wake = shared.wake.as_ref().map_or(-1, AsRawFd::as_raw_fd);
    loop {
        let armed = shared.sync_armed.load(Ordering::Acquire);
        let timeout = if armed {
            i32::try_from(SYNC_INTERVAL.as_millis()).unwrap_or(LOG_IDLE_FLUSH_MS)
        } else {
            LOG_IDLE_FLUSH_MS
        };
        // A negative fd (no eventfd) is ignored by poll.
        let mut fds = [
            libc::pollfd {
                fd: pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on two pollfds we own.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout) };
        if n > 0 && fds[0].revents != 0 {
            return; // the leader exited
        }
        if n > 0 && fds[1].revents != 0 {
            // Asked to sync soon: wait a sync interval first, so a stream
            // still in full flow is not interrupted.
            drain_eventfd(wake);
            flush_log_if_idle(shared);
            continue;
        }
        if n == 0 {
            sync_if_asked(shared);
            flush_log_if_idle(shared);
        }
    }
}

/// The sync the reader asked for (see `reader_loop`).
fn sync_if_asked(shared: &Shared) {
    if shared.sync_armed.swap(false, Ordering::AcqRel) {
        let mut synced = false;
        screen_op(shared, |screen| {
            synced = screen.has_pending();
            screen.sync();
        });
        if synced {
            notify_output(shared);
        }
    }
}

fn waiter_loop(
    shared: &Shared,
    mut child: Box<dyn Child + Send + Sync>,
    pidfd: Option<OwnedFd>,
    done: &Receiver<()>,
    on_exit: Box<dyn FnOnce(AgentExit) + Send>,
) {
    let pid = shared.pid;
    wait_for_exit(shared, &mut child, pidfd.as_ref());
    drop(pidfd);
    let exit = wait_child(&mut child);
    shared.leader_exited.store(true, Ordering::Release);
    tracing::debug!(pid, %exit, "agent leader exited");

    let mut eof = false;
    let mut check_eof = |timeout: Duration| -> bool {
        if !eof {
            eof = match done.recv_timeout(timeout) {
                Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
        }
        eof
    };

    // Leftovers: the process group and session outlive their leader, and a
    // process that moved away may still hold the terminal open.
    let exited_at = Instant::now();
    let mut targets = session_members(pid);
    if !targets.is_empty() {
        tracing::debug!(pid, leftovers = ?targets, "terminating what the agent left behind");
        proc_tree::signal_tree(pid, &targets, libc::SIGTERM);
    }
    let deadline = exited_at + LEFTOVER_GRACE;
    let mut looked_for_holders = false;
    let clean = loop {
        let eof_now = check_eof(Duration::ZERO);
        if !targets.is_empty() {
            targets.retain(|&p| proc_tree::is_alive(p));
            // Leftovers may still be forking.
            let newcomers: Vec<u32> = session_members(pid)
                .into_iter()
                .filter(|p| !targets.contains(p))
                .collect();
            if !newcomers.is_empty() {
                proc_tree::signal_tree(pid, &newcomers, libc::SIGTERM);
                targets.extend(newcomers);
            }
        }
        if eof_now && targets.is_empty() {
            break true;
        }
        if !eof_now
            && !looked_for_holders
            && targets.is_empty()
            && exited_at.elapsed() >= HOLDER_SCAN_AFTER
        {
            // Nothing left in the session, yet no EOF: a process that left
            // the session still holds the terminal.
            looked_for_holders = true;
            let holders = tty_holders(shared.tty.as_deref());
            if !holders.is_empty() {
                tracing::debug!(pid, holders = ?holders, "terminating processes holding the agent's terminal");
                proc_tree::signal_tree(pid, &holders, libc::SIGTERM);
                targets.extend(holders);
            }
        }
        let now = Instant::now();
        if now >= deadline {
            break false;
        }
        check_eof(POLL_STEP.min(deadline - now));
    };
    if !clean {
        targets.retain(|&p| proc_tree::is_alive(p));
        for p in session_members(pid)
            .into_iter()
            .chain(tty_holders(shared.tty.as_deref()))
        {
            if !targets.contains(&p) {
                targets.push(p);
            }
        }
        if !targets.is_empty() {
            tracing::debug!(pid, leftovers = ?targets, "killing what the agent left behind");
        }
        proc_tree::signal_tree(pid, &targets, libc::SIGKILL);
    }
    if !check_eof(DRAIN_TIMEOUT) {
        tracing::warn!(
            pid,
            "agent output did not reach end-of-file; a process outside its tree still holds the terminal"
        );
    }
    log_op(shared, CappedLog::flush);
    // Normally the reader synced at EOF; if it is stuck, show what it read.
    shared.sync_armed.store(true, Ordering::Release);
    sync_if_asked(shared);
    // The terminal is no longer needed for resizing or input. Dropping the
    // queue ends the input thread once any write in progress returns; the
    // lock is only ever held for a queue operation, never for a write.
    drop(lock(&shared.input).take());
    drop(lock(&shared.master).take());
    shared.exited.store(true, Ordering::Release);
    tracing::debug!(pid, %exit, "agent finished");
    on_exit(exit);
}

/// Chunks of input queued for an agent at most (keystrokes, pastes).
const INPUT_QUEUE: usize = 256;

/// Start the thread that writes input to the agent's PTY; returns its queue.
/// A write blocks while the agent's input buffer is full; only this thread
/// waits. If the thread cannot be started, input is refused (the queue's
/// receiver is gone).
fn input_thread(
    mut writer: Box<dyn Write + Send>,
    pid: u32,
) -> std::sync::mpsc::SyncSender<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(INPUT_QUEUE);
    let spawned = std::thread::Builder::new()
        .name(format!("orch-input-{pid}"))
        .spawn(move || {
            for chunk in rx {
                if let Err(err) = writer.write_all(&chunk).and_then(|()| writer.flush()) {
                    tracing::debug!(pid, "input to the agent stopped: {err}");
                    return;
                }
            }
        });
    crate::log_err(spawned, "starting an agent's input thread");
    tx
}

fn wait_child(child: &mut Box<dyn Child + Send + Sync>) -> AgentExit {
    use std::os::unix::process::ExitStatusExt;
    // portable-pty's Unix child is a std::process::Child; its own ExitStatus
    // keeps only a signal *description*, so take the raw status from std.
    let as_dyn: &mut dyn Child = &mut **child;
    if let Some(std_child) = as_dyn.downcast_mut::<std::process::Child>() {
        return match std_child.wait() {
            Ok(status) => match status.signal() {
                Some(sig) => AgentExit::Signal(sig),
                None => AgentExit::Code(status.code().unwrap_or(-1)),
            },
            Err(e) => {
                tracing::warn!(error = %e, "waiting for the agent failed");
                AgentExit::Code(-1)
            }
        };
    }
    match child.wait() {
        Ok(status) => match status.signal() {
            Some(desc) => AgentExit::Signal(signal_from_description(desc).unwrap_or(0)),
            None => AgentExit::Code(i32::try_from(status.exit_code()).unwrap_or(-1)),
        },
        Err(e) => {
            tracing::warn!(error = %e, "waiting for the agent failed");
            AgentExit::Code(-1)
        }
    }
}

/// Map portable-pty's signal description (`strsignal` text or "Signal N")
/// back to a number.
fn signal_from_description(desc: &str) -> Option<i32> {
    if let Some(n) = desc.strip_prefix("Signal ").and_then(|n| n.parse().ok()) {
        return Some(n);
    }
    (1..65).find(|&sig| {
        // SAFETY: strsignal returns a pointer to a NUL-terminated string (or
        // NULL), valid until the next call on this thread; copied at once.
        let p = unsafe { libc::strsignal(sig) };
        // SAFETY: checked non-null; a C string from libc.
        !p.is_null() && unsafe { std::ffi::CStr::from_ptr(p) }.to_bytes() == desc.as_bytes()
    })
}

/// Live processes (not zombies) whose process group or session is `leader`'s.
fn session_members(leader: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the parenthesised name: state ppid pgrp session ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_ascii_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|s| s.parse::<u32>().ok());
        let session = fields.next().and_then(|s| s.parse::<u32>().ok());
        let alive = !matches!(state, Some("Z" | "X") | None);
        if alive && (pgrp == Some(leader) || session == Some(leader)) {
            out.push(pid);
        }
    }
    out
}

/// Processes with a descriptor open on `tty` (other than us).
fn tty_holders(tty: Option<&Path>) -> Vec<u32> {
    let mut out = Vec::new();
    let Some(tty) = tty else {
        return out;
    };
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == tty));
        if holds && proc_tree::is_alive(pid) {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    const DEADLINE: Duration = Duration::from_secs(20);

    struct Agent {
        proc: Arc<AgentProcess>,
        exits: Receiver<AgentExit>,
        exit_calls: Arc<AtomicUsize>,
        outputs: Arc<AtomicUsize>,
        _dir: tempfile::TempDir,
        log: PathBuf,
    }

    fn spec(command: &[&str], dir: &Path) -> SpawnSpec {
        SpawnSpec {
            command: command.iter().map(|s| s.to_string()).collect(),
            cwd: dir.to_owned(),
            env: Vec::new(),
            rows: 24,
            cols: 80,
            log_path: dir.join("logs/task/1.log"),
            log_cap_bytes: 1 << 20,
            history_lines: 1000,
            on_output: None,
        }
    }

    fn start_with(command: &[&str], tweak: impl FnOnce(&mut SpawnSpec)) -> Agent {
        let dir = tempfile::tempdir().expect("tempdir");
        let outputs = Arc::new(AtomicUsize::new(0));
        let mut s = spec(command, dir.path());
        let counter = Arc::clone(&outputs);
        s.on_output = Some(Arc::new(move || {
            counter.fetch_add(1, Ordering::Relaxed);
        }));
        tweak(&mut s);
        let log = s.log_path.clone();
        let (tx, exits) = mpsc::channel();
        let exit_calls = Arc::new(AtomicUsize::new(0));
        let calls = Arc::clone(&exit_calls);
        let proc = AgentProcess::spawn(
            s,
            Box::new(move |exit| {
                calls.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(exit);
            }),
        )
        .expect("spawn");
        Agent {
            proc,
            exits,
            exit_calls,
            outputs,
            _dir: dir,
            log,
        }
    }

    fn start(command: &[&str]) -> Agent {
        start_with(command, |_| {})
    }

    impl Agent {
        fn wait_exit(&self) -> AgentExit {
            let exit = self
                .exits
                .recv_timeout(DEADLINE)
                .expect("on_exit within deadline");
            assert!(self.proc.has_exited());
            exit
        }

        fn screen_text(&self) -> String {
            lock(self.proc.screen()).screen().contents()
        }

        fn wait_for_screen(&self, needle: &str) {
            wait_until(
                || self.screen_text().contains(needle),
                &format!("{needle:?} on screen"),
            );
        }
    }

    fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn output_reaches_screen_and_log_and_exit_code_propagates() {
        let a = start(&["sh", "-c", "echo hello; echo world; exit 3"]);
        assert_eq!(a.wait_exit(), AgentExit::Code(3));
        let text = a.screen_text();
        assert!(text.contains("hello\nworld"), "{text:?}");
        let log = crate::agent::log_file::read_log(&a.log).expect("log");
        assert_eq!(log, b"hello\r\nworld\r\n");
        assert!(a.proc.output_seq() > 0);
        assert!(a.outputs.load(Ordering::Relaxed) > 0);
        assert!(a
            .proc
            .last_output_at()
            .is_some_and(|t| t >= a.proc.started_at()));
        assert_eq!(a.exit_calls.load(Ordering::SeqCst), 1);
        assert_eq!(AgentExit::Code(3).to_string(), "exit code 3");
        assert!(AgentExit::Code(0).success() && !AgentExit::Code(3).success());
    }

    #[test]
    fn killed_by_signal_is_reported_as_a_signal() {
        let a = start(&["sh", "-c", "kill -9 $$"]);
        let exit = a.wait_exit();
        assert_eq!(exit, AgentExit::Signal(libc::SIGKILL));
        assert_eq!(exit.to_string(), "killed by signal 9 (SIGKILL)");
        assert!(!exit.success());
    }

    #[test]
    fn env_and_term_reach_the_agent() {
        let a = start_with(&["sh", "-c", "echo \"$TERM/$ORCH_TEST\""], |s| {
            s.env.push(("ORCH_TEST".into(), "yes".into()));
        });
        a.wait_exit();
        assert!(a.screen_text().contains("xterm-256color/yes"));
    }

    #[test]
    fn colour_and_cursor_render() {
        let a = start(&[
            "printf",
            r"junk\n\033[2J\033[H\033[31mred\033[0m plain\033[3;5H\033[44mX",
        ]);
        a.wait_exit();
        let guard = lock(a.proc.screen());
        let s = guard.screen();
        let r = s.cell(0, 0).expect("cell");
        assert_eq!(r.contents(), "r");
        assert_eq!(r.fgcolor(), vt100::Color::Idx(1));
        let p = s.cell(0, 4).expect("cell");
        assert_eq!(p.contents(), "p");
        assert_eq!(p.fgcolor(), vt100::Color::Default);
        let x = s.cell(2, 4).expect("cell");
        assert_eq!((x.contents(), x.bgcolor()), ("X", vt100::Color::Idx(4)));
        assert!(!s.contents().contains("junk"));
    }

    #[test]
    fn history_holds_departed_lines_in_order_with_styles() {
        let script = r#"i=1; while [ $i -le 200 ]; do
            if [ $((i % 10)) -eq 0 ]; then printf '\033[32mgreen %d\033[0m\n' $i; else echo "line $i"; fi
            i=$((i+1)); done"#;
        let a = start_with(&["sh", "-c", script], |s| {
            s.rows = 10;
            s.history_lines = 150;
        });
        a.wait_exit();
        let guard = lock(a.proc.screen());
        let h = guard.history();
        // 200 lines, 9 still on screen above the cursor row: 191 left, the
        // ring keeps the newest 150 (lines 42..=191).
        assert_eq!(h.len(), 150);
        for (k, line) in h.iter().enumerate() {
            let i = k + 42;
            if i % 10 == 0 {
                assert_eq!(line.text(), format!("green {i}"));
                assert_eq!(line.runs().len(), 1);
                assert_eq!(line.runs()[0].fg, vt100::Color::Idx(2));
                assert_eq!(line.runs()[0].len as usize, line.text().len());
            } else {
                assert_eq!(line.text(), format!("line {i}"));
                assert!(line.runs().is_empty());
            }
        }
        assert_eq!(guard.tail_text(2), ["line 199", "green 200"]);
    }

    fn session_of(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_ascii_whitespace().nth(4)?.parse().ok()
    }

    #[test]
    fn terminate_kills_the_whole_tree_including_setsid_grandchildren() {
        let a = start(&[
            "sh",
            "-c",
            "setsid sleep 1000 & echo \"escaped=$!\"; sleep 1000 & sleep 1000",
        ]);
        a.wait_for_screen("escaped=");
        let pid = a.proc.pid();
        let mut tree = Vec::new();
        wait_until(
            || {
                tree = proc_tree::tree(pid);
                tree.len() >= 4
            },
            "sh and three sleeps",
        );
        let escaped: u32 = a
            .screen_text()
            .split("escaped=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .expect("escaped pid");
        assert!(tree.contains(&escaped));
        wait_until(
            || session_of(escaped).is_some_and(|s| s != pid),
            "grandchild in its own session",
        );

        a.proc.terminate(Duration::from_secs(2));
        a.proc.terminate(Duration::from_secs(2)); // idempotent
        let exit = a.wait_exit();
        assert_eq!(exit, AgentExit::Signal(libc::SIGTERM));
        wait_until(
            || tree.iter().all(|&p| !proc_tree::is_alive(p)),
            "whole tree dead",
        );
        assert_eq!(a.exit_calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn sigterm_ignorers_are_killed_after_the_grace() {
        let a = start(&[
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 1; done",
        ]);
        a.wait_for_screen("ready");
        let pid = a.proc.pid();
        a.proc.terminate(Duration::from_millis(300));
        assert_eq!(a.wait_exit(), AgentExit::Signal(libc::SIGKILL));
        assert!(!proc_tree::is_alive(pid));
    }

    #[test]
    fn leftovers_are_cleaned_up_when_the_leader_exits() {
        // The background sleep keeps the terminal open; it must be stopped so
        // the reader reaches EOF and on_exit can fire.
        let a = start(&["sh", "-c", "sleep 1000 & echo \"bg=$!\"; exit 0"]);
        assert_eq!(a.wait_exit(), AgentExit::Code(0));
        let bg: u32 = a
            .screen_text()
            .split("bg=")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .expect("bg pid");
        wait_until(|| !proc_tree::is_alive(bg), "background job gone");
    }

    #[test]
    fn missing_program_is_not_found() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = AgentProcess::spawn(
            spec(&["orch-no-such-program-xyz", "arg"], dir.path()),
            Box::new(|_| {}),
        )
        .expect_err("must fail");
        assert!(
            matches!(&err, SpawnError::NotFound { program } if program == "orch-no-such-program-xyz")
        );
        assert_eq!(
            err.to_string(),
            "command not found: orch-no-such-program-xyz"
        );

        // PATH from the spec's env is the one searched.
        let mut s = spec(&["sh"], dir.path());
        s.env
            .push(("PATH".into(), dir.path().display().to_string()));
        assert!(matches!(
            AgentProcess::spawn(s, Box::new(|_| {})),
            Err(SpawnError::NotFound { .. })
        ));

        let empty = AgentProcess::spawn(spec(&[], dir.path()), Box::new(|_| {}));
        assert!(matches!(empty, Err(SpawnError::EmptyCommand)));
    }

    #[test]
    fn flood_keeps_history_memory_bounded() {
        let a = start_with(&["yes", "flood line"], |s| {
            s.rows = 50;
            s.cols = 200;
            s.history_lines = 2000;
            s.log_cap_bytes = 64 * 1024;
        });
        wait_until(
            || lock(a.proc.screen()).bytes_processed() > 4 << 20,
            "4 MiB of output",
        );
        a.proc.terminate(Duration::from_secs(2));
        a.wait_exit();
        let guard = lock(a.proc.screen());
        let h = guard.history();
        assert_eq!(h.len(), 2000);
        assert!(h.bytes_used() <= 2000 * 64, "{} bytes", h.bytes_used());
        assert!(h
            .iter()
            .all(|l| l.text() == "flood line" && l.runs().is_empty()));
        let log = crate::agent::log_file::read_log(&a.log).expect("log");
        assert!(log.len() <= 2 * 64 * 1024);
    }

    #[test]
    fn a_burst_then_silence_shows_up_in_full() {
        // The reader may leave the end of a plain flood pending; the waiter
        // must bring the screen up to date although no more output comes.
        let a = start_with(&["sh", "-c", "seq 1 30000; read _"], |s| s.rows = 20);
        wait_until(
            || lock(a.proc.screen()).tail_text(1) == ["30000"],
            "last line on screen",
        );
        {
            let guard = lock(a.proc.screen());
            assert_eq!(guard.history().len(), 1000);
            assert_eq!(guard.history().get(999).map(|l| l.text()), Some("29981"));
            assert_eq!(guard.screen().contents().lines().next(), Some("29982"));
        }
        a.proc.write_input(b"\r").expect("write");
        assert_eq!(a.wait_exit(), AgentExit::Code(0));
    }

    #[test]
    fn input_reaches_the_agent() {
        let a = start(&["sh", "-c", "echo ready; read line; echo \"got $line\""]);
        a.wait_for_screen("ready");
        a.proc.write_input(b"hello there\r").expect("write");
        assert_eq!(a.wait_exit(), AgentExit::Code(0));
        assert!(a.screen_text().contains("got hello there"));
        assert!(a.proc.write_input(b"x").is_err());
    }

    #[test]
    fn a_trickling_agent_reaches_its_log_file_while_it_runs() {
        // A line every 100 ms: never quiet for the idle flush.
        let a = start(&[
            "sh",
            "-c",
            "i=0; while [ $i -lt 100 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done",
        ]);
        wait_until(
            || std::fs::read(&a.log).is_ok_and(|b| String::from_utf8_lossy(&b).contains("tick 5")),
            "log on disk during the run",
        );
        assert!(!a.proc.has_exited());
        a.proc.terminate(Duration::from_millis(100));
        a.wait_exit();
    }

    #[test]
    fn a_paste_to_an_agent_that_does_not_read_never_blocks_and_exit_is_reported() {
        let a = start(&["sh", "-c", "stty raw -echo; echo ready; sleep 30"]);
        a.wait_for_screen("ready");
        // Far more than the PTY's input buffer holds: the first chunks are
        // queued, then input is refused; no call blocks.
        let chunk = vec![b'x'; 64 * 1024];
        let mut refused = false;
        for _ in 0..(INPUT_QUEUE + 8) {
            if let Err(err) = a.proc.write_input(&chunk) {
                assert_eq!(err.kind(), io::ErrorKind::WouldBlock, "{err}");
                refused = true;
                break;
            }
        }
        assert!(refused, "a full input queue must refuse more input");
        a.proc.terminate(Duration::from_millis(200));
        a.wait_exit();
        assert!(a.proc.write_input(b"x").is_err());
    }

    #[test]
    fn resize_reaches_screen_and_agent() {
        let a = start(&["sh", "-c", "echo ready; read _; stty size"]);
        a.wait_for_screen("ready");
        a.proc.resize(30, 100).expect("resize");
        assert_eq!(lock(a.proc.screen()).size(), (30, 100));
        a.proc.write_input(b"\r").expect("write");
        a.wait_exit();
        assert!(a.screen_text().contains("30 100"));
    }

    #[test]
    fn dropping_the_last_handle_stops_the_agent() {
        let a = start(&["sleep", "1000"]);
        let pid = a.proc.pid();
        let Agent { proc, exits, .. } = a;
        drop(proc);
        assert_eq!(
            exits.recv_timeout(DEADLINE).expect("exit"),
            AgentExit::Signal(libc::SIGTERM)
        );
        assert!(!proc_tree::is_alive(pid));
    }

    #[test]
    fn bad_working_directory_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = spec(&["sh"], dir.path());
        s.cwd = dir.path().join("missing");
        assert!(matches!(
            AgentProcess::spawn(s, Box::new(|_| {})),
            Err(SpawnError::Spawn { .. })
        ));
    }

    #[test]
    fn signal_descriptions_map_back() {
        assert_eq!(signal_from_description("Signal 12"), Some(12));
        let desc = portable_pty::ExitStatus::from(
            <std::process::ExitStatus as std::os::unix::process::ExitStatusExt>::from_raw(
                libc::SIGKILL,
            ),
        );
        assert_eq!(
            desc.signal().and_then(signal_from_description),
            Some(libc::SIGKILL)
        );
        assert_eq!(signal_name(libc::SIGTERM), Some("SIGTERM"));
        assert_eq!(AgentExit::Signal(77).to_string(), "killed by signal 77");
    }
}
