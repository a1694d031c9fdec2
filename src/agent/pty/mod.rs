//! Agent processes in pseudo-terminals.
//!
//! Each agent runs as a session leader in its own PTY (portable-pty calls
//! `setsid` and `TIOCSCTTY` in the child, so its pid is also its process-group
//! id). Three threads serve it:
//!
//! * the **reader** ([`reader`]) drains the PTY master (64 KiB buffer, taking
//!   everything already queued in one go) and feeds every byte to the
//!   [`CappedLog`], the [`TerminalScreen`] and the output tap ([`tap`]),
//!   whether or not anyone is watching (an undrained PTY blocks the agent).
//!   It parses inline: a separate parse thread only added context switches,
//!   and on a small machine the agent's own output path (the kernel's tty
//!   work) competes with us for CPU. Plain-text floods go through the
//!   screen's fast path with the vt100 catch-up deferred
//!   ([`TerminalScreen::process_deferred`]): the reader syncs the screen at
//!   most every 15 ms while output streams in;
//! * the **waiter** ([`waiter`]) waits for the leader to exit on a pidfd.
//!   Meanwhile it syncs the screen 15 ms after the reader left work pending
//!   (woken through an eventfd), so the end of a burst always shows, and
//!   flushes the buffered log once the agent has been quiet for 200 ms. When
//!   the leader exits it learns so *without reaping it* ([`leader`]): while
//!   it is unreaped its pid cannot be reused, so its process group and
//!   session still name only the agent's processes. Whatever is left of them
//!   (or still holds its terminal) gets SIGTERM, then SIGKILL after 2 s, so
//!   the PTY reaches end-of-file and nothing leaks; only then is the leader
//!   reaped. The waiter then waits (up to 3 s) for the reader to drain
//!   everything, flushes the log and calls `on_exit`, exactly once: when
//!   `on_exit` runs, the screen holds all of the agent's output;
//! * the **input writer** ([`input`]) writes keystrokes and pastes, so a
//!   write the agent does not read blocks nobody else.
//!
//! Stopping ([`stop`]) signals the group through the unreaped leader and
//! every descendant through a pidfd: no signal ever reaches a recycled pid.
//! System calls go through rustix ([`sys`]); `/proc` walking lives in
//! [`super::proc_tree`].
//!
//! Memory per agent is bounded: the live screen, the history ring, the tap's
//! ring and fixed buffers, whatever the agent prints.

mod exit;
mod input;
mod leader;
mod reader;
mod spawn;
mod stop;
mod sys;
pub mod tap;
mod waiter;

#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use portable_pty::{MasterPty, PtySize};

pub use exit::{signal_name, AgentExit};
pub use spawn::{SpawnError, SpawnSpec};
pub use tap::{OutputSubscription, TapItem, TAP_CAPACITY};

use super::log_file::CappedLog;
use super::screen::{TerminalScreen, MAX_COLS, MAX_ROWS};
use leader::Leader;
use tap::OutputTap;

/// Grace given by `Drop` to an agent nobody holds any more.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// State shared by the handle and the agent's threads.
struct Shared {
    pid: u32,
    started_at: Instant,
    /// Milliseconds since `started_at` of the last output, plus one; 0: none.
    last_output_ms: AtomicU64,
    output_seq: AtomicU64,
    /// Grows with every write of keys or text for the agent (someone
    /// typed, or an auto-answer): whatever it asked has been answered.
    input_seq: AtomicU64,
    screen: Mutex<TerminalScreen>,
    /// Locked only inside the screen lock (see [`tap`]).
    tap: Mutex<OutputTap>,
    log: Mutex<CappedLog>,
    /// Keystrokes and pastes for the agent, written by a thread of its own
    /// ([`input::input_thread`]): a write blocks while the agent does not
    /// read its input, and that must hold up neither the UI nor the waiter.
    input: Mutex<Option<SyncSender<Vec<u8>>>>,
    master: Mutex<Option<Box<dyn MasterPty + Send>>>,
    /// The slave's path (`/dev/pts/N`), to find processes still holding it.
    tty: Option<PathBuf>,
    /// What its processes carry in their environment (`ORCH_TOKEN`, task
    /// and attempt): finds its orphans, reparented to orch (the subreaper),
    /// which are neither its descendants nor in its session any more.
    marks: Option<crate::agent::reaper::Marks>,
    /// Milliseconds since `started_at` of the last log flush by the waiter.
    log_flushed_ms: AtomicU64,
    /// The leader until the waiter reaps it (then `None`): the only way to
    /// signal the agent's process group. Held only for a signal or a
    /// `/proc` walk, never across a wait.
    leader: Mutex<Option<Leader>>,
    /// Called after output was processed (see [`SpawnSpec::on_output`]).
    on_output: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Wakes the waiter to bring the screen up to date when the reader left
    /// work pending; `None` when the waiter cannot watch it, and then the
    /// reader never defers.
    wake: Option<sys::Wake>,
    /// The reader asked the waiter for a sync that has not happened yet.
    sync_armed: AtomicBool,
    /// The waiter sleeps without a deadline (nothing to flush or sync):
    /// the reader wakes it when it writes to the log.
    waiter_idle: AtomicBool,
    /// A log write failed: logging stopped.
    log_failed: AtomicBool,
    /// All output processed and `on_exit` about to run or done.
    exited: AtomicBool,
    terminating: AtomicBool,
}

impl Shared {
    /// The agent's orphans now (see [`crate::agent::reaper::orphans_of`]).
    fn orphans(&self) -> Vec<crate::agent::proc_tree::ProcHandle> {
        self.marks
            .as_ref()
            .map(crate::agent::reaper::orphans_of)
            .unwrap_or_default()
    }

    /// Run `f` with the leader, unless it has been reaped.
    fn with_leader<R>(&self, f: impl FnOnce(&Leader) -> R) -> Option<R> {
        lock(&self.leader).as_ref().map(f)
    }

    /// Run `op` on the screen (see [`guarded`]).
    /// Write the screen's answers to the agent's queries to its input, in
    /// order with anything typed. Never blocks: an agent that does not read
    /// its input loses the answers, as it loses keys.
    fn answer(&self, replies: Vec<u8>) {
        let input = lock(&self.input);
        if let Some(tx) = input.as_ref() {
            if tx.try_send(replies).is_err() {
                tracing::debug!(pid = self.pid, "terminal query answers dropped: input full");
            }
        }
    }

    fn screen_op(&self, op: impl FnOnce(&mut TerminalScreen)) {
        guarded(self.pid, &mut lock(&self.screen), op);
    }

    /// Run `op` on the log unless logging already failed; the first failure
    /// is reported and stops logging (the agent keeps running).
    fn log_op(&self, op: impl FnOnce(&mut CappedLog) -> io::Result<()>) {
        if self.log_failed.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = op(&mut lock(&self.log)) {
            if !self.log_failed.swap(true, Ordering::Relaxed) {
                tracing::warn!(pid = self.pid, error = %e, "agent log failed; logging stopped");
            }
        }
    }

    fn notify_output(&self) {
        if let Some(cb) = &self.on_output {
            cb();
        }
    }

    /// Milliseconds since the start, plus one (0 stays "never").
    fn now_ms(&self) -> u64 {
        u64::try_from(self.started_at.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }
}

/// Run `op` on a locked screen. A parser bug must not stop the draining
/// (the agent would block): after a panic the screen starts afresh, keeping
/// its history.
fn guarded(pid: u32, screen: &mut TerminalScreen, op: impl FnOnce(&mut TerminalScreen)) {
    if crate::panic_guard::catch(|| op(screen)).is_err() {
        tracing::error!(pid, "terminal parser panicked; screen reset");
        screen.reset_keeping_history();
    }
}

fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves plain data behind that
    // is still usable; keep going rather than cascade the panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
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

impl AgentProcess {
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

    /// For a client attaching now: a full repaint of the screen and,
    /// subscribed in the same instant, the output that follows it (see
    /// [`tap`]: nothing lost or doubled in between). Cheap to hold while
    /// idle; a subscriber that falls [`TAP_CAPACITY`] pieces behind is told
    /// it lagged and should subscribe again.
    pub fn subscribe_output(&self) -> OutputSubscription {
        let mut screen = lock(&self.shared.screen);
        guarded(self.shared.pid, &mut screen, TerminalScreen::sync);
        lock(&self.shared.tap).subscribe(screen.screen())
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
            Ok(()) => {
                self.shared.input_seq.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
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

    /// Grows with every write for the agent ([`AgentProcess::write_input`]).
    pub fn input_seq(&self) -> u64 {
        self.shared.input_seq.load(Ordering::Relaxed)
    }

    /// Resize the screen and the PTY together (the agent gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let rows = rows.clamp(1, MAX_ROWS);
        let cols = cols.clamp(1, MAX_COLS);
        // Screen first: output the agent draws for the new size after its
        // SIGWINCH is then parsed at the new size.
        {
            let mut screen = lock(&self.shared.screen);
            screen.resize(rows, cols);
            let (rows, cols) = screen.size();
            lock(&self.shared.tap).resized(rows, cols);
        }
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
        stop::terminate(&self.shared, grace);
    }

    /// True once the agent exited and all its output was processed (just
    /// before `on_exit` runs).
    pub fn has_exited(&self) -> bool {
        self.shared.exited.load(Ordering::Acquire)
    }

    /// The terminal's foreground process group now (`tcgetpgrp` on the
    /// master): the job whose reads get what is typed, the agent itself or
    /// whatever it runs in the foreground. `None` once the agent has exited
    /// (its session leader gone, the terminal has no foreground group) or
    /// its terminal is closed. For [`crate::agent::waiting::os`].
    pub fn foreground_group(&self) -> Option<u32> {
        if self.has_exited() {
            return None;
        }
        let master = lock(&self.shared.master);
        let pgrp = master.as_ref()?.process_group_leader()?;
        u32::try_from(pgrp).ok().filter(|&p| p > 0)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if !self.has_exited() {
            stop::terminate(&self.shared, DROP_GRACE);
        }
    }
}
