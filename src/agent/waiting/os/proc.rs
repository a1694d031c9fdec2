//! The real [`ProcSource`]: `/proc`, read as little as the check needs.
//!
//! Members of the foreground group are found among the agent's own
//! subtree (its processes' `task/*/children` files, as
//! [`crate::agent::proc_tree::tree`] walks it, but stopping as soon as the
//! answer is known and skipping the `task` listing of a single-threaded
//! process), never by scanning all of `/proc`, and only when the group's
//! leader does not settle the answer alone. Each process is `stat`ed; an
//! asleep member's `syscall` file is read, and `wchan` only where
//! `syscall` cannot be (it needs ptrace access, which Yama's
//! `ptrace_scope` 2 or 3 refuses; `wchan` and the descriptors need only
//! read access). A process gone in between is simply left out.

use std::collections::{HashSet, VecDeque};
use std::fs;
use std::io::Read;

use super::{disqualifies_alone, is_terminal_device, ProcSource, ProcState, Syscall};

/// `/proc` itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct Proc;

impl ProcSource for Proc {
    fn members(&self, pgrp: u32, session_root: u32) -> Vec<ProcState> {
        members(pgrp, session_root, None)
    }

    fn fd_is_tty(&self, pid: u32, fd: u64, tty_nr: u64) -> bool {
        fd_is_tty(pid, fd, tty_nr)
    }
}

/// `/proc`, with one process's `stat` just read (the agent's leader, for
/// its terminal): used instead of reading it again.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seeded(pub(super) Stat);

impl ProcSource for Seeded {
    fn members(&self, pgrp: u32, session_root: u32) -> Vec<ProcState> {
        members(pgrp, session_root, Some(self.0))
    }

    fn fd_is_tty(&self, pid: u32, fd: u64, tty_nr: u64) -> bool {
        fd_is_tty(pid, fd, tty_nr)
    }
}

/// The members of `pgrp` among `session_root`'s subtree (see
/// [`ProcSource::members`]). The group's leader (pid `pgrp`) is looked at
/// first: awake, or asleep in an event loop's wait, it settles the answer
/// alone, without walking the tree. That is the usual case: a busy agent,
/// or a TUI in its loop. Otherwise the subtree is walked breadth first and
/// each member looked at as it is met, so the walk stops at the first
/// member that settles it (a wrapper shell's busy or looping child).
fn members(pgrp: u32, session_root: u32, seed: Option<Stat>) -> Vec<ProcState> {
    let stat_of = |pid: u32| match seed {
        Some(stat) if stat.pid == pid => Some(stat),
        _ => read_stat(pid),
    };
    // Each member's state, and whether it settles the answer alone.
    let look = |stat: Stat| {
        let mut state = stat.into_state();
        if !dormant(stat.state) {
            return (state, true);
        }
        if stat.state == 'S' {
            read_wait(&mut state);
        }
        let settles = disqualifies_alone(&state);
        (state, settles)
    };
    let mut leader = None;
    if let Some(stat) = stat_of(pgrp).filter(|s| s.pgrp == pgrp && s.session == session_root) {
        let (state, settles) = look(stat);
        if settles {
            return vec![state];
        }
        leader = Some((stat, state));
    }
    let mut out = Vec::new();
    let mut queue = VecDeque::from([session_root]);
    let mut seen = HashSet::from([session_root]);
    while let Some(pid) = queue.pop_front() {
        let stat = match leader.take_if(|(stat, _)| stat.pid == pid) {
            Some((stat, state)) => {
                out.push(state);
                stat
            }
            None => {
                // Gone: its children went to a reaper, out of this tree.
                let Some(stat) = stat_of(pid) else {
                    continue;
                };
                if stat.pgrp == pgrp {
                    let (state, settles) = look(stat);
                    if settles {
                        return vec![state];
                    }
                    out.push(state);
                }
                stat
            }
        };
        for child in children(pid, stat.threads) {
            if seen.insert(child) {
                queue.push_back(child);
            }
        }
    }
    out
}

/// The children of `pid`: from its one `children` file when it has one
/// thread, else from every thread's (a child's parent is the thread that
/// forked it). `threads` 0: not known.
fn children(pid: u32, threads: u32) -> Vec<u32> {
    let parse = |text: String| -> Vec<u32> {
        text.split_ascii_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect()
    };
    if threads == 1 {
        return fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .map(parse)
            .unwrap_or_default();
    }
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(parse)
        .collect()
}

/// Fill in what the asleep `p` waits in: its `syscall`, else its `wchan`.
fn read_wait(p: &mut ProcState) {
    p.syscall = read_syscall(p.pid);
    if p.syscall.is_none() {
        p.wchan = read_small(&format!("/proc/{}/wchan", p.pid));
    }
}

fn fd_is_tty(pid: u32, fd: u64, tty_nr: u64) -> bool {
    use rustix::fs::{major, minor, stat, FileType};
    match stat(format!("/proc/{pid}/fd/{fd}")) {
        Ok(st) => {
            FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                && is_terminal_device((major(st.st_rdev), minor(st.st_rdev)), tty_nr)
        }
        Err(_) => false,
    }
}

/// Asleep or a zombie: not doing anything, yet.
fn dormant(state: char) -> bool {
    matches!(state, 'S' | 'Z' | 'X' | 'x')
}

/// The `stat` of `pid` if it is alive and has a controlling terminal.
pub(super) fn with_terminal(pid: u32) -> Option<Stat> {
    read_stat(pid).filter(|s| s.tty_nr != 0 && !matches!(s.state, 'Z' | 'X' | 'x'))
}

/// The controlling terminal of `pid` (as `/proc/PID/stat` encodes it), if
/// it is alive and has one.
#[cfg(test)]
pub(super) fn controlling_tty(pid: u32) -> Option<u64> {
    with_terminal(pid).map(|s| s.tty_nr)
}

/// The fields of `/proc/PID/stat` this check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stat {
    pub(super) pid: u32,
    pub(super) state: char,
    pub(super) pgrp: u32,
    pub(super) session: u32,
    pub(super) tty_nr: u64,
    /// 0: not known.
    pub(super) threads: u32,
}

impl Stat {
    fn into_state(self) -> ProcState {
        ProcState {
            pid: self.pid,
            pgrp: self.pgrp,
            state: self.state,
            tty_nr: self.tty_nr,
            syscall: None,
            wchan: None,
        }
    }
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(pid, &read_small(&format!("/proc/{pid}/stat"))?)
}

/// `pid (comm) state ppid pgrp session tty_nr ...`; the name may hold
/// anything, `)` and spaces included, so fields count from the last `)`.
pub(super) fn parse_stat(pid: u32, text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    let session = fields.next()?.parse().ok()?;
    // A signed int in the kernel; never negative for a real device.
    let tty_nr = fields.next()?.parse::<i64>().ok()?;
    // tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
    // priority nice num_threads.
    let threads = fields.nth(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Some(Stat {
        pid,
        state,
        pgrp,
        session,
        tty_nr: u64::try_from(tty_nr).unwrap_or(0),
        threads,
    })
}

fn read_syscall(pid: u32) -> Option<Syscall> {
    parse_syscall(&read_small(&format!("/proc/{pid}/syscall"))?)
}

/// `running`; `-1 SP PC` (asleep outside a system call); or
/// `NR ARG1 .. ARG6 SP PC`, the number in decimal and the rest in hex.
pub(super) fn parse_syscall(text: &str) -> Option<Syscall> {
    let text = text.trim();
    if text == "running" {
        return Some(Syscall::Running);
    }
    let mut fields = text.split_ascii_whitespace();
    let nr: i64 = fields.next()?.parse().ok()?;
    let mut args = [0u64; 6];
    if nr >= 0 {
        for arg in &mut args {
            let field = fields.next()?;
            *arg = u64::from_str_radix(field.strip_prefix("0x")?, 16).ok()?;
        }
    }
    Some(Syscall::Blocked { nr, args })
}

/// The start of a small `/proc` file (all of `syscall` or `wchan`; of
/// `stat`, at least the fields before the memory addresses), without a
/// heap buffer for the reading. A process name that is not UTF-8 comes out
/// mangled, which the fields after it do not mind.
pub(super) fn read_small(path: &str) -> Option<String> {
    let mut file = fs::File::open(path).ok()?;
    let mut buf = [0u8; 1024];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf[..len]).into_owned())
}
