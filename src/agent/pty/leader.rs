//! The agent's main process while it is unreaped: the only way to signal
//! its process group.
//!
//! A pid is free for reuse the moment its process is reaped, and the agent's
//! pid is also its process-group and session id: `kill(-pid)` after the reap
//! could reach a stranger's group once pids wrap. An exited but unreaped
//! leader (a zombie) keeps its pid taken, so while it is unreaped the group
//! and session ids still name only the agent's processes. [`Leader`] owns
//! that child: group signals and session look-ups are its methods, learning
//! that it exited does not reap it (`waitid` with `WNOWAIT`), and
//! [`Leader::reap`] consumes it. Whoever holds no `Leader` cannot signal the
//! group; after the reap nobody holds one.

use std::io;
use std::os::fd::OwnedFd;

use portable_pty::Child;
use rustix::process::{kill_process_group, waitid, Pid, WaitId, WaitIdOptions, WaitIdStatus};

use super::exit::AgentExit;
use crate::agent::proc_tree::{self, ProcHandle, Signal};

/// The agent's session leader, not yet reaped.
pub(super) struct Leader {
    pid: Pid,
    me: ProcHandle,
    /// portable-pty's handle on the child. Never waited on (its `wait`
    /// reaps, and the reap has to wait until the group is cleaned up); it
    /// does nothing when dropped, after our own reap.
    _child: Box<dyn Child + Send + Sync>,
}

impl std::fmt::Debug for Leader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leader").field("pid", &self.pid).finish()
    }
}

impl Leader {
    /// Take charge of a child we just started (and so have not reaped). The
    /// child comes back if it has no process id we can use.
    pub(super) fn new(
        child: Box<dyn Child + Send + Sync>,
    ) -> Result<Leader, Box<dyn Child + Send + Sync>> {
        let Some(raw) = child.process_id() else {
            return Err(child);
        };
        let Some(pid) = i32::try_from(raw).ok().and_then(Pid::from_raw) else {
            return Err(child);
        };
        // Our unreaped child: the pid is ours, the handle cannot miss.
        let Some(me) = ProcHandle::open(raw) else {
            return Err(child);
        };
        // Ours to reap: the orphan reaper keeps its hands off.
        crate::agent::reaper::own(raw, crate::agent::reaper::Owner::Agent);
        Ok(Leader {
            pid,
            me,
            _child: child,
        })
    }

    /// The leader's pid (also its group and session id).
    pub(super) fn pid(&self) -> u32 {
        self.me.pid()
    }

    /// A descriptor that turns readable when the leader exits (a copy of
    /// its pidfd), for a thread to sleep on without holding the leader.
    /// `None` without pidfds: poll [`has_exited`](Self::has_exited).
    pub(super) fn exit_watch(&self) -> Option<OwnedFd> {
        #[cfg(target_os = "linux")]
        {
            let fd = self.me.pidfd()?;
            crate::log_err(super::sys::dup(fd), "copying an agent's pidfd")
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Send `signal` to the agent's process group (the leader included).
    pub(super) fn signal_group(&self, signal: Signal) {
        #[cfg(test)]
        journal::record(self.pid(), journal::Event::Group(signal));
        let _ = kill_process_group(self.pid, signal);
    }

    /// Live processes in the leader's group or session (not the leader).
    pub(super) fn session_members(&self) -> Vec<ProcHandle> {
        proc_tree::session_members(self.pid())
    }

    /// Live descendants of the leader, wherever their session.
    pub(super) fn descendants(&self) -> Vec<ProcHandle> {
        proc_tree::descendants(self.pid())
    }

    /// Has the leader exited? Leaves it unreaped.
    pub(super) fn has_exited(&self) -> bool {
        let peek = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        match waitid(WaitId::Pid(self.pid), peek) {
            Ok(status) => status.is_some(),
            // Not our child any more (cannot happen while we hold it):
            // nothing left to wait for.
            Err(_) => true,
        }
    }

    /// How the leader ended, once it has; leaves it unreaped.
    pub(super) fn exit_status(&self) -> Option<AgentExit> {
        let peek = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        match waitid(WaitId::Pid(self.pid), peek) {
            Ok(status) => status.as_ref().map(agent_exit),
            Err(_) => None,
        }
    }

    /// Wait for the leader to exit and collect it. After this its pid may be
    /// reused, which is why it takes the `Leader`.
    pub(super) fn reap(self) -> AgentExit {
        #[cfg(test)]
        journal::record(self.pid(), journal::Event::Reaped);
        let exit = loop {
            match waitid(WaitId::Pid(self.pid), WaitIdOptions::EXITED) {
                Ok(Some(status)) => break agent_exit(&status),
                Ok(None) => {}
                Err(e) if io::Error::from(e).kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!(pid = self.pid(), error = %e, "waiting for the agent failed");
                    break AgentExit::Code(-1);
                }
            }
        };
        crate::agent::reaper::disown(self.pid());
        exit
    }
}

fn agent_exit(status: &WaitIdStatus) -> AgentExit {
    match (status.terminating_signal(), status.exit_status()) {
        (Some(sig), _) => AgentExit::Signal(sig),
        (None, Some(code)) => AgentExit::Code(code),
        (None, None) => AgentExit::Code(-1),
    }
}

/// What each test's leaders did, in order, so tests can check that no group
/// signal ever follows the reap.
#[cfg(test)]
pub(super) mod journal {
    use std::sync::Mutex;

    use crate::agent::proc_tree::Signal;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Event {
        Group(Signal),
        Reaped,
    }

    static EVENTS: Mutex<Vec<(u32, Event)>> = Mutex::new(Vec::new());

    pub(crate) fn record(pid: u32, event: Event) {
        EVENTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((pid, event));
    }

    /// Everything the leader with `pid` did.
    pub(crate) fn of(pid: u32) -> Vec<Event> {
        EVENTS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .filter(|(p, _)| *p == pid)
            .map(|&(_, e)| e)
            .collect()
    }

    /// Panics if a group signal follows the reap (the pid may have been
    /// someone else's by then), or if the leader was reaped more than once.
    pub(crate) fn assert_no_group_signal_after_reap(pid: u32) {
        let events = of(pid);
        if let Some(reaped) = events.iter().position(|e| *e == Event::Reaped) {
            assert!(
                events[reaped + 1..].is_empty(),
                "leader {pid}: {events:?} (something after the reap)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn state_of(pid: u32) -> Option<String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_ascii_whitespace().next().map(str::to_owned)
    }

    fn session_of(pid: u32) -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let rest = &stat[stat.rfind(')')? + 1..];
        rest.split_ascii_whitespace().nth(3)?.parse().ok()
    }

    fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn an_exited_leader_stays_unreaped_until_reap_and_keeps_its_pid() {
        // setsid(1) execs in place: sleep becomes a session (and group) leader.
        let child = Command::new("setsid")
            .args(["sleep", "30"])
            .spawn()
            .expect("spawn");
        let leader = Leader::new(Box::new(child)).expect("leader");
        let pid = leader.pid();
        wait_until(|| session_of(pid) == Some(pid), "own session");
        assert!(!leader.has_exited());
        assert_eq!(leader.exit_status(), None);

        leader.signal_group(Signal::KILL);
        wait_until(|| leader.has_exited(), "exit seen");
        // Seen, not collected: still a zombie holding the pid (and so the
        // group id), however often we look.
        assert!(leader.has_exited());
        assert_eq!(state_of(pid).as_deref(), Some("Z"));
        assert_eq!(
            leader.exit_status(),
            Some(AgentExit::Signal(Signal::KILL.as_raw()))
        );
        assert!(leader.exit_watch().is_some());

        assert_eq!(leader.reap(), AgentExit::Signal(Signal::KILL.as_raw()));
        assert_ne!(state_of(pid).as_deref(), Some("Z"), "reaped");
        assert_eq!(
            journal::of(pid),
            [journal::Event::Group(Signal::KILL), journal::Event::Reaped]
        );
        journal::assert_no_group_signal_after_reap(pid);
    }

    #[test]
    fn an_exit_code_is_collected() {
        let child = Command::new("sh")
            .args(["-c", "exit 7"])
            .spawn()
            .expect("spawn");
        let leader = Leader::new(Box::new(child)).expect("leader");
        assert_eq!(leader.reap(), AgentExit::Code(7));
    }

    #[test]
    fn the_journal_catches_a_group_signal_after_the_reap() {
        // The check the agent tests rely on must be able to fail.
        let pid = u32::MAX - 7;
        journal::record(pid, journal::Event::Reaped);
        journal::record(pid, journal::Event::Group(Signal::KILL));
        let caught = std::panic::catch_unwind(|| journal::assert_no_group_signal_after_reap(pid));
        assert!(caught.is_err());
    }
}
