//! The operating system's view of waiting: is the agent's terminal's
//! foreground process group blocked reading that terminal? A shell
//! script's `read`, Python's `input()`, `cat` on its standard input, a
//! program asking "Proceed? " with a blocking read: each sits in `read(2)`
//! on the terminal, asleep, and `/proc` shows it without the agent's help.
//!
//! Two halves:
//! - [`blocked_reader`]: the decision, over plain data ([`ProcState`])
//!   from a [`ProcSource`], so it is tested with fakes;
//! - [`Proc`]: the real source, reading `/proc` (its `proc` module), and
//!   [`agent_blocked_reading`], the check for one running agent.
//!
//! What counts as reading the terminal, for one process of the group:
//! - in `read`/`readv` on a descriptor that is the terminal (its
//!   `/dev/pts/N`, or `/dev/tty`);
//! - in `select`/`pselect6` on descriptor 0 alone (`nfds` 1), for reading
//!   only, without a timeout, descriptor 0 being the terminal: GNU
//!   readline's wait for the next key (bash's prompt and `read -e`,
//!   Python's `input()` once `readline` is loaded). Nothing but a key can
//!   end that wait;
//! - where `/proc/PID/syscall` cannot be read (Yama `ptrace_scope` 2 or 3,
//!   a set-uid program, an architecture without a syscall table here): its
//!   kernel wait channel is `n_tty_read` (older kernels) or `wait_woken`
//!   (the terminal's read since 4.x, but also some socket waits) and its
//!   descriptor 0 is the terminal. Weaker: a socket read with the terminal
//!   on descriptor 0 looks the same.
//!
//! And the whole group must be asleep: a member running (`R`), in disk
//! sleep (`D`), stopped (`T`) or in any other state means no. A member in
//! `epoll`/`poll`/`ppoll`/`io_uring_enter`, or `select` with a timeout or
//! other descriptors, is an event loop (every TUI, busy or not: its wait
//! ends on a timer or a socket as well as a key) and means no as well:
//! whether it waits for its user is for the screen to tell.

mod proc;
mod syscalls;

#[cfg(test)]
mod pty_tests;
#[cfg(test)]
mod tests;

pub use proc::Proc;

/// What `/proc` says of one process, as far as this check needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcState {
    pub pid: u32,
    pub pgrp: u32,
    /// `/proc/PID/stat`'s state: `R` running, `S` asleep, `D` disk sleep,
    /// `T` stopped, `Z` zombie, ...
    pub state: char,
    /// The controlling terminal, encoded as `/proc/PID/stat` has it
    /// (see [`tty_device`]); 0: none.
    pub tty_nr: u64,
    /// From `/proc/PID/syscall`, when it could be read.
    pub syscall: Option<Syscall>,
    /// `/proc/PID/wchan`: where in the kernel it sleeps, when read.
    pub wchan: Option<String>,
}

/// What `/proc/PID/syscall` says (of the process's main thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syscall {
    /// On a CPU (or about to be).
    Running,
    /// Asleep in system call `nr` (of this architecture's table) with these
    /// arguments; `nr` -1: asleep outside any system call.
    Blocked { nr: i64, args: [u64; 6] },
}

impl Syscall {
    /// The first argument: the descriptor of a `read`.
    pub fn fd(&self) -> Option<u64> {
        match self {
            Syscall::Blocked { nr, args } if *nr >= 0 => Some(args[0]),
            _ => None,
        }
    }
}

/// Where the process data comes from: `/proc` ([`Proc`]), or a fake.
pub trait ProcSource {
    /// The processes of group `pgrp` among `session_root` and its
    /// descendants. May give only one member when that one settles the
    /// answer alone (the group is then not waiting, whatever the others
    /// do): one neither asleep (`S`) nor a zombie, whose `syscall` and
    /// `wchan` may be left unread, or one that [`disqualifies_alone`].
    fn members(&self, pgrp: u32, session_root: u32) -> Vec<ProcState>;
    /// Is descriptor `fd` of process `pid` the terminal `tty_nr` (its
    /// device, or `/dev/tty`, which is the process's controlling terminal)?
    fn fd_is_tty(&self, pid: u32, fd: u64, tty_nr: u64) -> bool;
}

/// `/dev/tty`'s device: whichever is the opener's controlling terminal.
const DEV_TTY: (u32, u32) = (5, 0);

/// A device number as `/proc/PID/stat`'s `tty_nr` encodes it (the kernel's
/// `new_encode_dev`), as (major, minor).
pub fn tty_device(tty_nr: u64) -> (u32, u32) {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    // Both masked to at most 20 bits.
    (major as u32, minor as u32)
}

/// Is a character device (major, minor) the terminal `tty_nr`, for a
/// process whose controlling terminal it is?
pub fn is_terminal_device(device: (u32, u32), tty_nr: u64) -> bool {
    tty_nr != 0 && (device == tty_device(tty_nr) || device == DEV_TTY)
}

/// What one member of the group is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// A key on the terminal.
    Terminal,
    /// An event loop's wait, or running after all: the group is not
    /// blocked reading.
    Disqualifies,
    /// Something else (a child, a timer, a pipe): neither.
    Other,
}

/// The pid of the foreground-group process blocked reading the terminal
/// `tty_nr`, if the whole group `fg_pgrp` (among `session_root` and its
/// descendants) is asleep and one of them reads the terminal (see the
/// module's doc for what counts). The first such reader when there are
/// several. `None` when the group is not waiting, or cannot be seen.
pub fn blocked_reader(
    fg_pgrp: u32,
    tty_nr: u64,
    session_root: u32,
    procs: &impl ProcSource,
) -> Option<u32> {
    if tty_nr == 0 {
        return None;
    }
    let members = procs.members(fg_pgrp, session_root);
    let live: Vec<&ProcState> = members
        .iter()
        .filter(|p| p.pgrp == fg_pgrp && !matches!(p.state, 'Z' | 'X' | 'x'))
        .collect();
    if live.is_empty() || live.iter().any(|p| p.state != 'S') {
        return None;
    }
    let mut reader = None;
    for p in live {
        match waits_for(p, tty_nr, procs) {
            Wait::Terminal => reader = reader.or(Some(p.pid)),
            Wait::Disqualifies => return None,
            Wait::Other => {}
        }
    }
    reader
}

/// Does `p`'s wait alone say its group is not blocked reading, whatever
/// the terminal and its descriptors: running after all, or asleep in an
/// event loop's `poll`/`epoll`/`io_uring` wait (by `syscall`, or by `wchan`
/// without it)? (`select` needs a look at descriptor 0 first.)
pub fn disqualifies_alone(p: &ProcState) -> bool {
    let by_wchan = || p.wchan.as_deref().is_some_and(event_loop_wchan);
    match p.syscall {
        Some(Syscall::Running) => true,
        Some(Syscall::Blocked { nr, .. }) => match syscalls::kind(nr) {
            Some(kind) => kind == syscalls::Kind::Poll,
            None => by_wchan(),
        },
        None => by_wchan(),
    }
}

/// The kernel functions an event loop's wait sleeps in.
fn event_loop_wchan(wchan: &str) -> bool {
    matches!(
        wchan_function(wchan),
        "poll_schedule_timeout"
            | "do_select"
            | "core_sys_select"
            | "do_sys_poll"
            | "ep_poll"
            | "do_epoll_wait"
            | "io_cqring_wait"
    )
}

/// `poll_schedule_timeout.constprop.0` without the compiler's suffixes.
fn wchan_function(wchan: &str) -> &str {
    wchan.split('.').next().unwrap_or(wchan)
}

/// What the sleeping process `p` waits for.
fn waits_for(p: &ProcState, tty_nr: u64, procs: &impl ProcSource) -> Wait {
    use syscalls::Kind;
    if disqualifies_alone(p) {
        return Wait::Disqualifies;
    }
    match p.syscall {
        Some(Syscall::Blocked { nr, args }) => match syscalls::kind(nr) {
            Some(Kind::Read) => {
                if procs.fd_is_tty(p.pid, args[0], tty_nr) {
                    Wait::Terminal
                } else {
                    Wait::Other
                }
            }
            Some(Kind::Select) => {
                if selects_fd0_alone_forever(&args) && procs.fd_is_tty(p.pid, 0, tty_nr) {
                    Wait::Terminal
                } else {
                    Wait::Disqualifies
                }
            }
            Some(Kind::Poll | Kind::Other) => Wait::Other,
            None => by_wchan(p, tty_nr, procs),
        },
        Some(Syscall::Running) | None => by_wchan(p, tty_nr, procs),
    }
}

/// `select(nfds, readfds, writefds, exceptfds, timeout)` (and `pselect6`,
/// the same five first): only descriptor 0 can be in the sets, it is
/// watched for reading only, and no timeout ends the wait.
fn selects_fd0_alone_forever(args: &[u64; 6]) -> bool {
    let [nfds, readfds, writefds, exceptfds, timeout, _] = *args;
    nfds == 1 && readfds != 0 && writefds == 0 && exceptfds == 0 && timeout == 0
}

/// Without the system call: the kernel function it sleeps in (the event
/// loops' were ruled out by [`disqualifies_alone`]).
fn by_wchan(p: &ProcState, tty_nr: u64, procs: &impl ProcSource) -> Wait {
    match p.wchan.as_deref().map(wchan_function) {
        Some("n_tty_read" | "wait_woken") if procs.fd_is_tty(p.pid, 0, tty_nr) => Wait::Terminal,
        _ => Wait::Other,
    }
}

/// The check for one running agent: its session leader `leader` and its
/// terminal's foreground group `fg_pgrp` (from
/// [`crate::agent::pty::AgentProcess::foreground_group`]). The pid of the
/// process blocked reading the agent's terminal, if there is one.
///
/// Reads the leader's `stat` (for the terminal) and the group leader's
/// `stat` and `syscall`; only when those do not settle it, the leader's
/// subtree (its `children` files and its processes' `stat`), and the
/// `syscall` (or `wchan`) of the group's members when all are asleep.
pub fn agent_blocked_reading(leader: u32, fg_pgrp: Option<u32>) -> Option<u32> {
    let fg_pgrp = fg_pgrp?;
    let stat = proc::with_terminal(leader)?;
    blocked_reader(fg_pgrp, stat.tty_nr, leader, &proc::Seeded(stat))
}
