//! One bounded run of a program, as hooks and pushes need it: its own
//! session (so it has no controlling terminal to prompt on, and its
//! processes can be found and stopped together), no input, stdout and
//! stderr in one pipe of which the last [`OUTPUT_LIMIT`] bytes are kept,
//! and a deadline after which everything it started is stopped.
//!
//! Why a session rather than only a process group: a program that asks
//! for a password (ssh, a credential helper) opens `/dev/tty`. With a
//! terminal it would write its prompt over the control room and wait
//! forever; in a session without one it fails at once with its own
//! message, which the user then reads in the event log.
//!
//! The main process is never reaped before its group is stopped: while it
//! is an unreaped child its pid (which is also the group and session id)
//! cannot be reused, so a group signal cannot reach a stranger.

use std::collections::VecDeque;
use std::io::{self, PipeReader, Read};
use std::os::fd::BorrowedFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::process::{kill_process_group, waitid, Pid, WaitId, WaitIdOptions};

use super::hooks::{HookOutcome, HookRun};
use crate::agent::proc_tree::{self, ProcHandle, Signal};

/// The most output kept of one run: its tail.
pub(super) const OUTPUT_LIMIT: usize = 16 * 1024;
/// Between SIGTERM and SIGKILL.
pub(super) const GRACE: Duration = Duration::from_secs(2);
/// How long to wait for the end of the output once every process that
/// could write it is gone (one that escaped the clean-up may still hold
/// the pipe; its output is not waited for).
const DRAIN: Duration = Duration::from_millis(500);
/// How often to look again while waiting for processes to go, and while
/// waiting for the exit without a pidfd.
const STEP: Duration = Duration::from_millis(20);

pub(super) fn not_started(why: String) -> HookRun {
    HookRun {
        outcome: HookOutcome::FailedToStart(why),
        output: String::new(),
    }
}

/// Run `command` (its program, arguments, directory and environment set)
/// to an outcome: see the module documentation. `grace` is the time
/// between SIGTERM and SIGKILL for what is left at the end.
pub(super) fn run(mut command: Command, timeout: Duration, grace: Duration) -> HookRun {
    let (reader, writer) = match io::pipe() {
        Ok(pipe) => pipe,
        Err(e) => return not_started(format!("cannot make a pipe for its output: {e}")),
    };
    let stderr = match writer.try_clone() {
        Ok(stderr) => stderr,
        Err(e) => return not_started(format!("cannot make a pipe for its output: {e}")),
    };
    command.stdin(Stdio::null()).stdout(writer).stderr(stderr);
    // SAFETY: the closure runs in the child between fork and exec, where
    // only async-signal-safe calls are allowed; setsid is one, and it
    // touches no memory shared with the parent.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            Ok(())
        });
    }
    let spawned = command.spawn();
    // Our copies of the pipe's write end go with the command, so the
    // output ends when the program's processes close theirs.
    drop(command);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return not_started(e.to_string()),
    };
    let Some(pid) = i32::try_from(child.id()).ok().and_then(Pid::from_raw) else {
        // Cannot happen (a child's pid is positive); a group signal to a
        // wrong id could reach everything, so none is sent.
        crate::log_err(child.kill(), "killing a child with no usable pid");
        crate::log_err(child.wait(), "reaping a child with no usable pid");
        return not_started(format!("it got an unusable process id {}", child.id()));
    };
    // Ours to reap (after its group is stopped): the orphan reaper keeps
    // its hands off until then.
    crate::agent::reaper::own(child.id(), crate::agent::reaper::Owner::Helper);
    Running {
        me: ProcHandle::open(child.id()),
        child,
        pid,
        output: Output::new(reader),
    }
    .finish(timeout, grace)
}

/// A started program, not yet reaped.
struct Running {
    child: Child,
    /// Also its session and group id, while `child` is unreaped.
    pid: Pid,
    /// Its pidfd (readable once it exits), where there are pidfds.
    me: Option<ProcHandle>,
    output: Output,
}

impl Running {
    fn finish(mut self, timeout: Duration, grace: Duration) -> HookRun {
        let deadline = Instant::now() + timeout;
        let timed_out = loop {
            if self.has_exited() {
                break false;
            }
            let now = Instant::now();
            if now >= deadline {
                break true;
            }
            self.output.pump(exit_fd(self.me.as_ref()), deadline - now);
        };
        if timed_out {
            tracing::debug!(pid = self.pid.as_raw_nonzero(), "timed out; stopping it");
        }
        self.stop_leftovers(grace);
        let status = loop {
            match self.child.wait() {
                Ok(status) => break Some(status),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(error = %e, "waiting for a hook or push failed");
                    break None;
                }
            }
        };
        crate::agent::reaper::disown(self.child.id());
        let outcome = match (timed_out, status) {
            (true, _) => HookOutcome::TimedOut,
            (false, Some(status)) => match (status.code(), status.signal()) {
                (Some(code), _) => HookOutcome::Exited(code),
                (None, Some(signal)) => HookOutcome::Signalled(signal),
                (None, None) => HookOutcome::Exited(-1),
            },
            (false, None) => HookOutcome::Exited(-1),
        };
        self.output.drain(DRAIN);
        HookRun {
            outcome,
            output: self.output.into_text(),
        }
    }

    /// Has the main process exited? Leaves it unreaped.
    fn has_exited(&self) -> bool {
        let peek = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        match waitid(WaitId::Pid(self.pid), peek) {
            Ok(status) => status.is_some(),
            // Not our child (cannot be while we hold it): nothing to wait for.
            Err(_) => true,
        }
    }

    /// Stop the main process (when it still runs) and every process of its
    /// session, group or tree: SIGTERM, then SIGKILL to what is left after
    /// `grace`, then wait until they are gone (bounded). Nothing is sent
    /// when nothing is left.
    fn stop_leftovers(&mut self, grace: Duration) {
        let pid = self.pid.as_raw_nonzero().get().unsigned_abs();
        let mut left = self.leftovers(pid);
        if self.has_exited() && left.is_empty() {
            return;
        }
        self.signal_all(&left, Signal::TERM);
        // Processes found earlier stay on the list while they live: one
        // that left the session and lost its parent is found no other way.
        let gone = |run: &mut Running, left: &mut Vec<ProcHandle>, until: Instant| loop {
            left.retain(ProcHandle::is_alive);
            for found in run.leftovers(pid) {
                if !left.iter().any(|p| p.pid() == found.pid()) {
                    left.push(found);
                }
            }
            if run.has_exited() && left.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            run.output.pump(None, STEP.min(until - now));
        };
        if gone(self, &mut left, Instant::now() + grace) {
            return;
        }
        tracing::debug!(pid, "grace over; killing what is left");
        self.signal_all(&left, Signal::KILL);
        // SIGKILL cannot be caught; this waits only for the kernel to end
        // them, so a process stuck in the kernel cannot hold us forever.
        if !gone(self, &mut left, Instant::now() + grace) {
            tracing::warn!(pid, "processes of a hook or push survived SIGKILL");
        }
    }

    /// Live processes of the program's session or group, and its
    /// descendants wherever their session.
    fn leftovers(&self, pid: u32) -> Vec<ProcHandle> {
        let mut all = proc_tree::session_members(pid);
        for handle in proc_tree::descendants(pid) {
            if !all.iter().any(|p| p.pid() == handle.pid()) {
                all.push(handle);
            }
        }
        all
    }

    fn signal_all(&self, left: &[ProcHandle], signal: Signal) {
        // The main process is unreaped, so its group id is still its own.
        let _ = kill_process_group(self.pid, signal);
        // And itself, should it have left its group.
        if let Some(me) = &self.me {
            me.signal(signal);
        }
        for process in left {
            process.signal(signal);
        }
    }
}

/// A descriptor that turns readable when `me` exits, where there are
/// pidfds.
fn exit_fd(me: Option<&ProcHandle>) -> Option<BorrowedFd<'_>> {
    #[cfg(target_os = "linux")]
    {
        me.and_then(ProcHandle::pidfd)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = me;
        None
    }
}

/// The read end of the output pipe and the tail read from it so far.
struct Output {
    /// `None` once the pipe has ended.
    reader: Option<PipeReader>,
    tail: VecDeque<u8>,
    dropped: u64,
}

impl Output {
    fn new(reader: PipeReader) -> Output {
        Output {
            reader: Some(reader),
            tail: VecDeque::new(),
            dropped: 0,
        }
    }

    /// Read what the program writes until `exit` (a pidfd) turns readable
    /// or `timeout` passes. Without `exit`, it returns at least every
    /// [`STEP`] so the caller can look at the process itself.
    fn pump(&mut self, exit: Option<BorrowedFd<'_>>, timeout: Duration) {
        let until = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= until {
                return;
            }
            let left = until - now;
            let wait = if exit.is_some() { left } else { left.min(STEP) };
            let (pipe_ready, exited) = self.wait(exit, wait);
            if pipe_ready {
                self.read_once();
            }
            if exited || (!pipe_ready && exit.is_none()) {
                return;
            }
        }
    }

    /// Read until the pipe ends or `timeout` passes.
    fn drain(&mut self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while self.reader.is_some() {
            let now = Instant::now();
            if now >= until {
                tracing::debug!("output still open after the clean-up; not waiting for it");
                return;
            }
            if self.wait(None, until - now).0 {
                self.read_once();
            }
        }
    }

    /// Sleep until the pipe is readable, `exit` is, or `timeout` passes;
    /// which of the two is ready. With the pipe ended, only `exit`.
    fn wait(&self, exit: Option<BorrowedFd<'_>>, timeout: Duration) -> (bool, bool) {
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = Vec::with_capacity(2);
        if let Some(reader) = &self.reader {
            fds.push(PollFd::new(reader, PollFlags::IN));
        }
        if let Some(exit) = exit {
            fds.push(PollFd::from_borrowed_fd(exit, PollFlags::IN));
        }
        if fds.is_empty() {
            return (false, false);
        }
        if !matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0) {
            return (false, false);
        }
        let ready = |fd: &PollFd<'_>| !fd.revents().is_empty();
        match (&self.reader, exit) {
            (Some(_), Some(_)) => (ready(&fds[0]), ready(&fds[1])),
            (Some(_), None) => (ready(&fds[0]), false),
            (None, _) => (false, ready(&fds[0])),
        }
    }

    /// One read of what is waiting (the pipe was seen readable).
    fn read_once(&mut self) {
        let Some(reader) = self.reader.as_mut() else {
            return;
        };
        let mut buf = [0u8; 8192];
        match reader.read(&mut buf) {
            Ok(0) => self.reader = None,
            Ok(n) => self.keep(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(error = %e, "reading a hook's output failed");
                self.reader = None;
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.tail.extend(bytes);
        let over = self.tail.len().saturating_sub(OUTPUT_LIMIT);
        if over > 0 {
            self.tail.drain(..over);
            self.dropped += over as u64;
        }
    }

    /// The tail as text, after a line saying how much came before it. A
    /// character cut by the tail's start is left out.
    fn into_text(mut self) -> String {
        let bytes = self.tail.make_contiguous();
        let text = if self.dropped > 0 {
            let start = bytes
                .iter()
                .take(3)
                .take_while(|&&b| b & 0b1100_0000 == 0b1000_0000)
                .count();
            let kept = String::from_utf8_lossy(&bytes[start..]);
            format!(
                "[{} earlier bytes of output dropped]\n{kept}",
                self.dropped + start as u64
            )
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        };
        text
    }
}
