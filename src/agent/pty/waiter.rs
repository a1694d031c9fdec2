//! The waiter thread: waits for the leader to exit (keeping the screen and
//! the log current meanwhile), stops what it left behind while the leader is
//! still unreaped, reaps it, and reports the exit once all output is in.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::reader::SYNC_INTERVAL;
use super::{lock, sys, AgentExit, Shared};
use crate::agent::log_file::CappedLog;
use crate::agent::proc_tree::{self, ProcHandle, Signal};

/// Flush the log once the agent has been quiet this long.
const LOG_IDLE_FLUSH: Duration = Duration::from_millis(200);
/// Longest a byte waits in the log buffer while output keeps trickling in
/// (a spinner never leaves the agent quiet for [`LOG_IDLE_FLUSH`]).
const LOG_MAX_FLUSH_DELAY_MS: u64 = 1000;
/// After the leader exits: SIGTERM to leftovers, SIGKILL after this.
const LEFTOVER_GRACE: Duration = Duration::from_secs(2);
/// After that: how long to wait for the reader to reach end-of-file.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// After the leader exits without EOF following, look this long before
/// searching every process for holders of the terminal.
const HOLDER_SCAN_AFTER: Duration = Duration::from_millis(100);
/// Polling step while waiting for processes to die.
pub(super) const POLL_STEP: Duration = Duration::from_millis(20);

/// Flush the log if the agent has been quiet for [`LOG_IDLE_FLUSH`], or
/// the last flush is [`LOG_MAX_FLUSH_DELAY_MS`] old.
fn flush_log_if_idle(shared: &Shared) {
    let last = shared.last_output_ms.load(Ordering::Relaxed);
    let now = shared.now_ms();
    let idle_ms = u64::try_from(LOG_IDLE_FLUSH.as_millis()).unwrap_or(u64::MAX);
    let flushed = shared.log_flushed_ms.load(Ordering::Relaxed);
    let idle = last != 0 && now.saturating_sub(last) >= idle_ms;
    let overdue = now.saturating_sub(flushed) >= LOG_MAX_FLUSH_DELAY_MS;
    if idle || overdue {
        shared.log_op(|log| {
            if log.has_buffered() {
                log.flush()
            } else {
                Ok(())
            }
        });
        shared.log_flushed_ms.store(now, Ordering::Relaxed);
    }
}

/// How long the waiter sleeps when nothing is owed (the reader wakes it
/// sooner as soon as there is).
const IDLE_WAIT: Duration = Duration::from_secs(60);

/// Nothing buffered in the log and no sync asked for; from here on the
/// reader wakes the waiter when it writes. Checked after saying so, so a
/// write racing the check is never missed.
fn quiet(shared: &Shared) -> bool {
    shared.waiter_idle.store(true, Ordering::Release);
    let mut buffered = true;
    shared.log_op(|log| {
        buffered = log.has_buffered();
        Ok(())
    });
    if buffered || shared.sync_armed.load(Ordering::Acquire) {
        shared.waiter_idle.store(false, Ordering::Release);
        return false;
    }
    true
}

/// Block until the leader has exited (without reaping it). Meanwhile bring
/// the screen up to date when the reader asks, and flush the log each time
/// the agent has been quiet for a while.
fn wait_for_exit(shared: &Shared, exit_watch: Option<&OwnedFd>) {
    let Some(exit_watch) = exit_watch else {
        // No pidfd: look every so often. The reader does not defer screen
        // work in this mode.
        while !shared.with_leader(|l| l.has_exited()).unwrap_or(true) {
            thread::sleep(LOG_IDLE_FLUSH);
            flush_log_if_idle(shared);
        }
        return;
    };
    loop {
        let timeout = if shared.sync_armed.load(Ordering::Acquire) {
            SYNC_INTERVAL
        } else if quiet(shared) {
            // Nothing to flush or sync: sleep until the agent prints
            // (the reader wakes us) or exits. An idle agent costs nothing.
            IDLE_WAIT
        } else {
            LOG_IDLE_FLUSH
        };
        let wake = shared.wake.as_ref();
        let ready = sys::wait_readable(exit_watch.as_fd(), wake.map(sys::Wake::fd), timeout);
        if ready.first {
            return; // the leader exited
        }
        if ready.second {
            // Asked to sync soon: wait a sync interval first, so a stream
            // still in full flow is not interrupted.
            if let Some(wake) = wake {
                wake.clear();
            }
            flush_log_if_idle(shared);
            continue;
        }
        sync_if_asked(shared);
        flush_log_if_idle(shared);
    }
}

/// The sync the reader asked for (see `reader_loop`).
fn sync_if_asked(shared: &Shared) {
    if shared.sync_armed.swap(false, Ordering::AcqRel) {
        let mut synced = false;
        shared.screen_op(|screen| {
            synced = screen.has_pending();
            screen.sync();
        });
        if synced {
            shared.notify_output();
        }
    }
}

pub(super) fn waiter_loop(
    shared: &Shared,
    exit_watch: Option<OwnedFd>,
    done: &Receiver<()>,
    on_exit: Box<dyn FnOnce(AgentExit) + Send>,
) {
    let pid = shared.pid;
    wait_for_exit(shared, exit_watch.as_ref());
    drop(exit_watch);
    if let Some(Some(exit)) = shared.with_leader(|l| l.exit_status()) {
        tracing::debug!(pid, %exit, "agent leader exited");
    }

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
    stop_leftovers(shared, &mut check_eof);
    // The group is cleaned up (or given up on): only now may the pid go.
    let exit = lock(&shared.leader)
        .take()
        .map_or(AgentExit::Code(-1), |leader| leader.reap());

    if !check_eof(DRAIN_TIMEOUT) {
        tracing::warn!(
            pid,
            "agent output did not reach end-of-file; a process outside its tree still holds the terminal"
        );
    }
    shared.log_op(CappedLog::flush);
    // Normally the reader synced at EOF; if it is stuck, show what it read.
    shared.sync_armed.store(true, Ordering::Release);
    sync_if_asked(shared);
    {
        let _screen = lock(&shared.screen);
        lock(&shared.tap).close();
    }
    // The terminal is no longer needed for resizing or input. Dropping the
    // queue ends the input thread once any write in progress returns; the
    // lock is only ever held for a queue operation, never for a write.
    drop(lock(&shared.input).take());
    drop(lock(&shared.master).take());
    shared.exited.store(true, Ordering::Release);
    tracing::debug!(pid, %exit, "agent finished");
    on_exit(exit);
}

/// Signal `signal` to the leader's group and to each of `targets`.
fn signal_all(shared: &Shared, targets: &[ProcHandle], signal: Signal) {
    shared.with_leader(|l| l.signal_group(signal));
    for target in targets {
        target.signal(signal);
    }
}

/// The leader exited, unreaped: stop what it left. The process group and
/// session outlive their leader, a process that moved away may still hold
/// the terminal open, and one that left the session and lost its parent is
/// orch's child now (its orphan). SIGTERM, then SIGKILL after [`LEFTOVER_GRACE`];
/// returns early once nothing is left and the reader saw end-of-file.
fn stop_leftovers(shared: &Shared, check_eof: &mut impl FnMut(Duration) -> bool) {
    let pid = shared.pid;
    // Its session, and its orphans: processes that left the session and
    // were reparented to orch when their parent exited.
    let members = || {
        let mut found = shared
            .with_leader(|l| l.session_members())
            .unwrap_or_default();
        let orphans = new_ones(&found, shared.orphans());
        found.extend(orphans);
        found
    };
    let exited_at = Instant::now();
    let mut targets = members();
    if !targets.is_empty() {
        tracing::debug!(pid, leftovers = ?pids(&targets), "terminating what the agent left behind");
        signal_all(shared, &targets, Signal::TERM);
    }
    let deadline = exited_at + LEFTOVER_GRACE;
    let mut looked_for_holders = false;
    let clean = loop {
        let eof_now = check_eof(Duration::ZERO);
        if !targets.is_empty() {
            targets.retain(ProcHandle::is_alive);
            // Leftovers may still be forking.
            let newcomers = new_ones(&targets, members());
            if !newcomers.is_empty() {
                signal_all(shared, &newcomers, Signal::TERM);
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
            let holders = proc_tree::tty_holders(shared.tty.as_deref());
            if !holders.is_empty() {
                tracing::debug!(pid, holders = ?pids(&holders), "terminating processes holding the agent's terminal");
                signal_all(shared, &holders, Signal::TERM);
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
        targets.retain(ProcHandle::is_alive);
        let more = new_ones(&targets, members());
        targets.extend(more);
        let holders = new_ones(&targets, proc_tree::tty_holders(shared.tty.as_deref()));
        targets.extend(holders);
        if !targets.is_empty() {
            tracing::debug!(pid, leftovers = ?pids(&targets), "killing what the agent left behind");
        }
        signal_all(shared, &targets, Signal::KILL);
    }
}

/// Those of `found` that are not in `known` yet.
fn new_ones(known: &[ProcHandle], found: Vec<ProcHandle>) -> Vec<ProcHandle> {
    found
        .into_iter()
        .filter(|f| !known.iter().any(|k| k.pid() == f.pid()))
        .collect()
}

fn pids(handles: &[ProcHandle]) -> Vec<u32> {
    handles.iter().map(ProcHandle::pid).collect()
}
