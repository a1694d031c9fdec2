//! An agent's whole process tree: finding its processes under `/proc` and
//! signalling them without ever reaching a recycled pid.
//!
//! Agents run as session leaders (portable-pty calls `setsid` in the child),
//! so their pid is also their process-group and session id. Descendants that
//! started their own session or group are found by walking
//! `/proc/PID/task/TID/children` (cheap: it reads only our own subtree);
//! processes left in the session after the leader died, or still holding its
//! terminal, by scanning `/proc`.
//!
//! A pid read from `/proc` can be reused by an unrelated process as soon as
//! the one it named is reaped. So whatever the agent layer signals is a
//! [`ProcHandle`]: a pidfd opened *before* the process is checked to be ours,
//! so the check and every later signal refer to the same process (a pidfd
//! never follows a pid to its next owner). Group signals go through
//! `agent::pty`'s `Leader`, which holds the unreaped leader and with it the
//! group id.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

#[cfg(target_os = "linux")]
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

pub use rustix::process::Signal;
use rustix::process::{kill_process, kill_process_group, Pid};

/// Pids of `root` and every live descendant, root first. (For sampling and
/// reports; to signal them, see [`descendants`].)
pub fn tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut seen: HashSet<u32> = HashSet::from([root]);
    let mut i = 0;
    while i < out.len() {
        let pid = out[i];
        for child in children(pid) {
            if seen.insert(child) {
                out.push(child);
            }
        }
        i += 1;
    }
    out
}

/// Direct children of `pid`, from every thread's `children` file.
fn children(pid: u32) -> Vec<u32> {
    let mut kids = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return kids;
    };
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = fs::read_to_string(path) {
            kids.extend(
                text.split_ascii_whitespace()
                    .filter_map(|s| s.parse::<u32>().ok()),
            );
        }
    }
    kids
}

/// The fields of `/proc/PID/stat` that tell whose a process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    /// Not a zombie (nor dead).
    alive: bool,
    ppid: u32,
    pgrp: u32,
    session: u32,
}

fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised name (which may hold anything, ')' included):
    // state ppid pgrp session ...
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?;
    let mut number = || fields.next().and_then(|s| s.parse::<u32>().ok());
    Some(Stat {
        alive: state != "Z" && state != "X",
        ppid: number()?,
        pgrp: number()?,
        session: number()?,
    })
}

/// Is `pid` still a process (and not a zombie)?
pub fn is_alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.alive)
}

/// The parent of `pid` (0 for the first process), as `/proc` says now.
pub fn parent(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.ppid)
}

/// The session of `pid`.
pub fn session_of(pid: u32) -> Option<u32> {
    stat(pid).map(|s| s.session)
}

/// What the child reaper (`agent::reaper`) needs to know of a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildStat {
    pub pid: u32,
    /// Exited and not yet reaped.
    pub zombie: bool,
    pub session: u32,
    /// Clock ticks after boot at which it started: a pid taken again by
    /// another process has another start.
    pub started: u64,
}

/// This process's direct children, each as `/proc` says now.
pub fn own_children() -> Vec<ChildStat> {
    let me = std::process::id();
    let mut out = Vec::new();
    for pid in children(me) {
        let Ok(text) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = text.rfind(')').map(|i| &text[i + 1..]) else {
            continue;
        };
        // state ppid pgrp session ... starttime (the 20th after the name).
        let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
        let number = |i: usize| fields.get(i).and_then(|s| s.parse::<u64>().ok());
        let (Some(ppid), Some(session), Some(started)) = (number(1), number(3), number(19)) else {
            continue;
        };
        if ppid != u64::from(me) {
            continue;
        }
        out.push(ChildStat {
            pid,
            zombie: fields.first() == Some(&"Z"),
            session: u32::try_from(session).unwrap_or(0),
            started,
        });
    }
    out
}

/// The environment `pid` was started with (`/proc/PID/environ`): what it
/// was given at exec, not what it set since.
pub fn environ(pid: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
    let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
        return Vec::new();
    };
    environ
        .split(|&b| b == 0)
        .filter_map(|entry| {
            let eq = entry.iter().position(|&b| b == b'=')?;
            Some((entry[..eq].to_vec(), entry[eq + 1..].to_vec()))
        })
        .collect()
}

/// `pid`'s command line, its arguments joined by spaces (empty for a
/// zombie or a kernel thread), for what the user is told.
pub fn command_line(pid: u32) -> String {
    let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return String::new();
    };
    raw.split(|&b| b == 0)
        .filter(|arg| !arg.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A process we may signal. On Linux it holds a pidfd, so a signal reaches
/// exactly the process that was there when the handle was opened, or none;
/// elsewhere (no pidfds) it falls back to the pid.
#[derive(Debug)]
pub struct ProcHandle {
    pid: u32,
    #[cfg(target_os = "linux")]
    pidfd: Option<OwnedFd>,
}

impl ProcHandle {
    /// A handle on whatever process has `pid` now; `None` if there is none.
    /// Check that it is the process you mean *after* opening the handle.
    pub fn open(pid: u32) -> Option<ProcHandle> {
        let raw = Pid::from_raw(i32::try_from(pid).ok()?)?;
        #[cfg(target_os = "linux")]
        {
            use rustix::process::{pidfd_open, PidfdFlags};
            match pidfd_open(raw, PidfdFlags::empty()) {
                Ok(fd) => Some(ProcHandle {
                    pid,
                    pidfd: Some(fd),
                }),
                // A kernel without pidfds (before 5.3): the pid it is.
                Err(rustix::io::Errno::NOSYS) => Some(ProcHandle { pid, pidfd: None }),
                Err(_) => None,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = raw;
            Some(ProcHandle { pid })
        }
    }

    /// The process id (for logs; never to signal it by).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Send `signal`. A process that is gone is not an error worth telling.
    pub fn signal(&self, signal: Signal) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            let _ = rustix::process::pidfd_send_signal(fd, signal);
            return;
        }
        if let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, signal);
        }
    }

    /// Still running (not exited, not a zombie)?
    pub fn is_alive(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.pidfd {
            // A pidfd turns readable when its process exits.
            return !fd_readable(fd.as_fd());
        }
        is_alive(self.pid)
    }

    /// The pidfd, readable once the process has exited.
    #[cfg(target_os = "linux")]
    pub fn pidfd(&self) -> Option<BorrowedFd<'_>> {
        self.pidfd.as_ref().map(AsFd::as_fd)
    }
}

/// Is `fd` readable right now?
#[cfg(target_os = "linux")]
fn fd_readable(fd: BorrowedFd<'_>) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0)
}

/// Handles on every live descendant of `root` (not `root` itself). Each is
/// opened, then checked to still be a child of the process it was found
/// under, so none of them is a stranger that took a departed pid.
pub fn descendants(root: u32) -> Vec<ProcHandle> {
    let mut out: Vec<ProcHandle> = Vec::new();
    let mut seen: HashSet<u32> = HashSet::from([root]);
    let mut parents = vec![root];
    while let Some(parent) = parents.pop() {
        for child in children(parent) {
            if !seen.insert(child) {
                continue;
            }
            let Some(handle) = ProcHandle::open(child) else {
                continue;
            };
            if stat(child).is_some_and(|s| s.alive && s.ppid == parent) {
                parents.push(child);
                out.push(handle);
            }
        }
    }
    out
}

/// Handles on the live processes whose process group or session is
/// `leader`'s. Only meaningful while `leader` is unreaped (it then holds the
/// id): call it through `agent::pty`'s `Leader`.
pub fn session_members(leader: u32) -> Vec<ProcHandle> {
    let ours = |s: Stat| s.alive && (s.pgrp == leader || s.session == leader);
    let mut out = Vec::new();
    for pid in all_pids() {
        if pid == leader || !stat(pid).is_some_and(ours) {
            continue;
        }
        // Checked again once the handle pins the process.
        if let Some(handle) = ProcHandle::open(pid) {
            if stat(pid).is_some_and(ours) {
                out.push(handle);
            }
        }
    }
    out
}

/// Handles on the live processes with a descriptor open on `tty` (other
/// than us).
pub fn tty_holders(tty: Option<&Path>) -> Vec<ProcHandle> {
    let mut out = Vec::new();
    let Some(tty) = tty else {
        return out;
    };
    let me = std::process::id();
    let holds = |pid: u32| {
        fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
            fds.flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target == tty))
        })
    };
    for pid in all_pids() {
        if pid == me || !holds(pid) {
            continue;
        }
        if let Some(handle) = ProcHandle::open(pid) {
            if holds(pid) && is_alive(pid) {
                out.push(handle);
            }
        }
    }
    out
}

/// Handles on what an agent of an orch that was killed left running: the
/// live members of its session `session` that work in `worktree` (pass it
/// only when that leader is dead or known to be the agent), and every
/// process whose
/// environment names `worktree` as its `ORCH_WORKTREE` (helpers that
/// started sessions of their own, reparented away from the agent, carry
/// what the agent was given). Our own process is left out.
pub fn left_behind(session: Option<u32>, worktree: &Path) -> Vec<ProcHandle> {
    let me = std::process::id();
    // A relative path names a different place for every process (and two
    // repositories' `.orch/worktrees/x` would look alike): never match one.
    if !worktree.is_absolute() {
        tracing::warn!(worktree = %worktree.display(), "not looking for leftovers of a relative worktree path");
        return Vec::new();
    }
    let real = fs::canonicalize(worktree).ok();
    let names_worktree = |pid: u32| {
        let Ok(environ) = fs::read(format!("/proc/{pid}/environ")) else {
            return false;
        };
        environ.split(|&b| b == 0).any(|entry| {
            entry.strip_prefix(b"ORCH_WORKTREE=").is_some_and(|value| {
                let value = Path::new(std::ffi::OsStr::from_bytes(value));
                if !value.is_absolute() {
                    return false;
                }
                value == worktree
                    || real
                        .as_ref()
                        .is_some_and(|real| fs::canonicalize(value).is_ok_and(|v| &v == real))
            })
        })
    };
    // The session id is free again once its last member is gone, and a
    // stranger that later gets the pid may start a session under it: a
    // member counts only when it also works in the worktree.
    let works_there = |pid: u32| {
        fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| {
            cwd.starts_with(worktree) || real.as_ref().is_some_and(|real| cwd.starts_with(real))
        })
    };
    let ours = |pid: u32| {
        let member =
            stat(pid).is_some_and(|s| s.alive && session.is_some_and(|sid| s.session == sid));
        (member && works_there(pid)) || (is_alive(pid) && names_worktree(pid))
    };
    let mut out = Vec::new();
    for pid in all_pids() {
        if pid == me || !ours(pid) {
            continue;
        }
        // Checked again once the handle pins the process.
        if let Some(handle) = ProcHandle::open(pid) {
            if ours(pid) {
                out.push(handle);
            }
        }
    }
    out
}

fn all_pids() -> impl Iterator<Item = u32> {
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
}

/// Send `signal` to the process group led by `pgid`, if that leader is still
/// alive, and to each pid in `extra`. For processes orch did not start (a
/// previous run's agent found at start-up): it cannot hold them unreaped, so
/// a pid may be stale by the time it is signalled; the group is signalled
/// only while its leader is seen alive. Agents orch runs are stopped through
/// their `Leader` and [`ProcHandle`]s instead. Errors (the process already
/// gone) are expected and ignored.
pub fn signal_tree(pgid: u32, extra: &[u32], signal: Signal) {
    let leader = ProcHandle::open(pgid);
    if leader
        .as_ref()
        .is_some_and(|l| l.is_alive() && stat(pgid).is_some_and(|s| s.pgrp == pgid))
    {
        if let Some(pgid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
            let _ = kill_process_group(pgid, signal);
        }
    }
    for handle in extra.iter().filter_map(|&pid| ProcHandle::open(pid)) {
        handle.signal(signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;
    use std::time::{Duration, Instant};

    fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_all(pids: &[u32]) {
        for &pid in pids {
            if let Some(h) = ProcHandle::open(pid) {
                h.signal(Signal::KILL);
            }
        }
    }

    #[test]
    fn finds_grandchildren() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .expect("spawn sh");
        let root = child.id();
        let mut found = vec![];
        wait_until(
            || {
                found = tree(root);
                found.len() >= 3
            },
            "sh and two sleeps",
        );
        assert_eq!(found[0], root);
        let handles = descendants(root);
        let mut pids: Vec<u32> = handles.iter().map(ProcHandle::pid).collect();
        pids.sort_unstable();
        let mut expected = found[1..].to_vec();
        expected.sort_unstable();
        assert_eq!(pids, expected);
        kill_all(&found);
        let _ = child.wait();
        assert!(!is_alive(root));
        wait_until(
            || handles.iter().all(|h| !h.is_alive()),
            "handles see the sleeps die",
        );
    }

    #[test]
    fn a_handle_sees_its_process_exit_and_signals_nothing_after() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("spawn");
        let handle = ProcHandle::open(child.id()).expect("handle");
        assert!(handle.is_alive());
        handle.signal(Signal::TERM);
        let status = child.wait().expect("wait");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(Signal::TERM.as_raw())
        );
        assert!(!handle.is_alive());
        // Reaped: the pid may belong to someone else now, the handle does
        // not follow it.
        handle.signal(Signal::KILL);
    }

    #[test]
    fn session_members_and_tty_holders_are_ours() {
        // A process in its own session, and one that is not.
        let mut leader = Command::new("setsid")
            .args(["sh", "-c", "sleep 30 & wait"])
            .spawn()
            .expect("spawn setsid");
        let mut outsider = Command::new("sleep").arg("30").spawn().expect("spawn");
        let sid = leader.id();
        wait_until(|| tree(sid).len() >= 2, "sh and its sleep");
        let sh = sid;
        let members: Vec<u32> = session_members(sh).iter().map(ProcHandle::pid).collect();
        assert_eq!(members, tree(sh)[1..].to_vec(), "the sleep, not the leader");
        assert!(!members.contains(&outsider.id()));
        assert!(tty_holders(None).is_empty());
        kill_all(&tree(sh));
        kill_all(&[outsider.id()]);
        let _ = leader.wait();
        let _ = outsider.wait();
    }

    #[test]
    fn what_a_dead_agent_left_is_found_by_its_session_and_its_worktree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let other = tempfile::tempdir().expect("tempdir");
        // A leader that leaves a member in its session and exits.
        let out = Command::new("setsid")
            .args(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
            .current_dir(dir.path())
            .output()
            .expect("run setsid");
        let member: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the member's pid");
        let leader = stat(member).expect("the member runs").session;
        assert!(!is_alive(leader));
        // A helper in a session of its own that carries the worktree, and
        // one that carries another.
        let mut helper = Command::new("setsid")
            .args(["sleep", "30"])
            .env("ORCH_WORKTREE", dir.path())
            .spawn()
            .expect("spawn");
        let mut stranger = Command::new("sleep")
            .arg("30")
            .env("ORCH_WORKTREE", other.path())
            .spawn()
            .expect("spawn");
        // Until `setsid` has exec'd `sleep`, the environment reads empty
        // for a moment (during the exec).
        wait_until(
            || {
                fs::read(format!("/proc/{}/cmdline", helper.id()))
                    .is_ok_and(|c| c.starts_with(b"sleep\0"))
            },
            "the helper's exec",
        );
        let pids = |found: Vec<ProcHandle>| {
            let mut pids: Vec<u32> = found.iter().map(ProcHandle::pid).collect();
            pids.sort_unstable();
            pids
        };
        let mut both = vec![member, helper.id()];
        both.sort_unstable();
        assert_eq!(pids(left_behind(Some(leader), dir.path())), both);
        assert_eq!(pids(left_behind(None, dir.path())), vec![helper.id()]);
        // A session that only shares the id (its members work elsewhere).
        let out = Command::new("setsid")
            .args(["sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"])
            .current_dir(other.path())
            .output()
            .expect("run setsid");
        let elsewhere: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the member's pid");
        let foreign = stat(elsewhere).expect("the member runs").session;
        assert_eq!(
            pids(left_behind(Some(foreign), dir.path())),
            vec![helper.id()]
        );
        kill_all(&[member, helper.id(), stranger.id(), elsewhere]);
        let _ = helper.wait();
        let _ = stranger.wait();
        wait_until(|| !is_alive(member), "the member dies");
    }

    #[test]
    fn a_relative_worktree_path_matches_nothing() {
        // Two repositories' agents both told `./.orch/worktrees/x` are not
        // each other's leftovers.
        let relative = Path::new("./.orch/worktrees/x");
        let mut other = Command::new("sleep")
            .arg("30")
            .env("ORCH_WORKTREE", relative)
            .spawn()
            .expect("spawn");
        wait_until(
            || {
                fs::read(format!("/proc/{}/cmdline", other.id()))
                    .is_ok_and(|c| c.starts_with(b"sleep\0"))
            },
            "the exec",
        );
        assert!(left_behind(None, relative).is_empty());
        kill_all(&[other.id()]);
        let _ = other.wait();
    }
}
