//! The decision over fakes, and the parsers of `/proc`'s files.

use std::collections::HashSet;

use super::proc::{parse_stat, parse_syscall};
use super::syscalls::{EPOLL_PWAIT, PSELECT6, READ, WAIT4};
use super::*;

/// `/dev/pts/3`, as `/proc/PID/stat` encodes it.
const TTY: u64 = (136 << 8) | 3;
const SESSION: u32 = 100;

/// A fake `/proc`: these processes, and these (pid, fd) on the terminal.
struct Fake {
    procs: Vec<ProcState>,
    ttys: HashSet<(u32, u64)>,
}

impl ProcSource for Fake {
    fn members(&self, pgrp: u32, session_root: u32) -> Vec<ProcState> {
        assert_eq!(session_root, SESSION);
        self.procs
            .iter()
            .filter(|p| p.pgrp == pgrp)
            .cloned()
            .collect()
    }

    fn fd_is_tty(&self, pid: u32, fd: u64, tty_nr: u64) -> bool {
        tty_nr == TTY && self.ttys.contains(&(pid, fd))
    }
}

fn asleep(pid: u32, pgrp: u32, syscall: Option<Syscall>) -> ProcState {
    ProcState {
        pid,
        pgrp,
        state: 'S',
        tty_nr: TTY,
        syscall,
        wchan: None,
    }
}

fn in_call(nr: i64, args: [u64; 6]) -> Option<Syscall> {
    Some(Syscall::Blocked { nr, args })
}

fn reading(fd: u64) -> Option<Syscall> {
    in_call(READ, [fd, 0x7ffd_0000, 1, 0, 0, 0])
}

fn waiting_child() -> Option<Syscall> {
    in_call(WAIT4, [u64::MAX, 0x7ffd_0000, 0, 0, 0, 0])
}

/// Every member's descriptors 0 to 2 on the terminal.
fn fake(procs: Vec<ProcState>) -> Fake {
    let ttys = procs
        .iter()
        .flat_map(|p| (0..3).map(move |fd| (p.pid, fd)))
        .collect();
    Fake { procs, ttys }
}

fn decide(fg: u32, procs: &Fake) -> Option<u32> {
    blocked_reader(fg, TTY, SESSION, procs)
}

#[test]
fn a_lone_reader_of_the_terminal_is_found() {
    let procs = fake(vec![asleep(100, 100, reading(0))]);
    assert_eq!(decide(100, &procs), Some(100));
}

#[test]
fn a_read_of_something_else_is_not_a_read_of_the_terminal() {
    // Descriptor 5 is a pipe.
    let procs = fake(vec![asleep(100, 100, reading(5))]);
    assert_eq!(decide(100, &procs), None);
    // Standard input redirected from a file.
    let mut procs = fake(vec![asleep(100, 100, reading(0))]);
    procs.ttys.remove(&(100, 0));
    assert_eq!(decide(100, &procs), None);
}

#[test]
fn the_reader_may_be_a_child_of_a_waiting_shell() {
    let procs = fake(vec![
        asleep(100, 100, waiting_child()),
        asleep(101, 100, reading(0)),
    ]);
    assert_eq!(decide(100, &procs), Some(101));
}

#[test]
fn anyone_running_or_in_disk_sleep_or_stopped_means_not_waiting() {
    for state in ['R', 'D', 'T', 't'] {
        let mut busy = asleep(101, 100, None);
        busy.state = state;
        let procs = fake(vec![asleep(100, 100, reading(0)), busy]);
        assert_eq!(decide(100, &procs), None, "a member in {state}");
    }
    // Asleep by `stat`, running by the time `syscall` was read.
    let procs = fake(vec![
        asleep(100, 100, reading(0)),
        asleep(101, 100, Some(Syscall::Running)),
    ]);
    assert_eq!(decide(100, &procs), None);
}

#[test]
fn zombies_of_the_group_do_not_count() {
    let mut zombie = asleep(101, 100, None);
    zombie.state = 'Z';
    let procs = fake(vec![asleep(100, 100, reading(0)), zombie.clone()]);
    assert_eq!(decide(100, &procs), Some(100));
    // A group of nothing but zombies waits for nothing.
    assert_eq!(decide(100, &fake(vec![zombie])), None);
}

#[test]
fn an_event_loop_is_not_blocked_reading() {
    let epoll = in_call(EPOLL_PWAIT, [4, 0x7ffd_0000, 1024, u64::MAX, 0, 8]);
    assert_eq!(decide(100, &fake(vec![asleep(100, 100, epoll)])), None);
    // Even beside a reader of the terminal: the loop may be the one to act.
    let procs = fake(vec![asleep(100, 100, reading(0)), asleep(101, 100, epoll)]);
    assert_eq!(decide(100, &procs), None);
}

#[test]
fn select_on_the_terminal_alone_without_timeout_is_reading_it() {
    // readline's wait for a key: pselect6(1, &{0}, NULL, NULL, NULL, &mask).
    let readline = [1, 0x7ffd_0000, 0, 0, 0, 0x7ffd_1000];
    let procs = fake(vec![asleep(100, 100, in_call(PSELECT6, readline))]);
    assert_eq!(decide(100, &procs), Some(100));
    // With a timeout (bash's `read -t`), other descriptors, or descriptor
    // 0 not the terminal: an event loop's wait.
    let mut timeout = readline;
    timeout[4] = 0x7ffd_2000;
    let mut more_fds = readline;
    more_fds[0] = 4;
    let mut writes = readline;
    writes[2] = 0x7ffd_3000;
    for args in [timeout, more_fds, writes] {
        let procs = fake(vec![asleep(100, 100, in_call(PSELECT6, args))]);
        assert_eq!(decide(100, &procs), None, "{args:x?}");
    }
    let mut procs = fake(vec![asleep(100, 100, in_call(PSELECT6, readline))]);
    procs.ttys.clear();
    assert_eq!(decide(100, &procs), None);
}

#[test]
fn only_the_foreground_group_counts() {
    // A background job reads the terminal; the foreground one sleeps.
    let procs = fake(vec![
        asleep(100, 100, waiting_child()),
        asleep(101, 101, in_call(35, [0x7ffd_0000, 0, 0, 0, 0, 0])),
        asleep(102, 102, reading(0)),
    ]);
    assert_eq!(decide(101, &procs), None);
    assert_eq!(decide(102, &procs), Some(102));
    // A group nobody is in (its last member just left).
    assert_eq!(decide(103, &procs), None);
}

#[test]
fn no_terminal_no_reader() {
    let procs = fake(vec![asleep(100, 100, reading(0))]);
    assert_eq!(blocked_reader(100, 0, SESSION, &procs), None);
    // The reader's descriptor is a terminal, but not this one.
    assert_eq!(blocked_reader(100, TTY + 1, SESSION, &procs), None);
}

#[test]
fn the_first_of_several_readers_is_named() {
    let procs = fake(vec![
        asleep(100, 100, waiting_child()),
        asleep(101, 100, reading(0)),
        asleep(102, 100, reading(2)),
    ]);
    assert_eq!(decide(100, &procs), Some(101));
}

#[test]
fn without_syscall_the_wait_channel_and_descriptor_0_decide() {
    let by = |wchan: &str| {
        let mut p = asleep(100, 100, None);
        p.wchan = Some(wchan.to_string());
        p
    };
    for wchan in ["wait_woken", "n_tty_read"] {
        assert_eq!(decide(100, &fake(vec![by(wchan)])), Some(100), "{wchan}");
        let mut procs = fake(vec![by(wchan)]);
        procs.ttys.remove(&(100, 0));
        assert_eq!(decide(100, &procs), None, "{wchan}, stdin not the terminal");
    }
    for wchan in [
        "poll_schedule_timeout.constprop.0",
        "do_epoll_wait",
        "ep_poll",
        "do_select",
    ] {
        assert_eq!(decide(100, &fake(vec![by(wchan)])), None, "{wchan}");
        let procs = fake(vec![by("wait_woken"), {
            let mut p = by(wchan);
            p.pid = 101;
            p
        }]);
        assert_eq!(decide(100, &procs), None, "reader beside {wchan}");
    }
    for wchan in ["hrtimer_nanosleep", "do_wait", "0", ""] {
        assert_eq!(decide(100, &fake(vec![by(wchan)])), None, "{wchan}");
    }
    // Neither syscall nor wchan readable: nothing to go on.
    assert_eq!(decide(100, &fake(vec![asleep(100, 100, None)])), None);
}

#[test]
fn asleep_outside_a_system_call_is_neither() {
    let off = Some(Syscall::Blocked {
        nr: -1,
        args: [0; 6],
    });
    assert_eq!(off.and_then(|s| s.fd()), None);
    let procs = fake(vec![asleep(100, 100, off), asleep(101, 100, reading(0))]);
    assert_eq!(decide(100, &procs), Some(101));
}

#[test]
fn terminal_devices_decode_as_the_kernel_encodes_them() {
    assert_eq!(tty_device(34817), (136, 1));
    // Pseudo-terminals past 255 spill into the high minor bits.
    let pts_300: u64 = (300 & 0xff) | (136 << 8) | ((300 & !0xff) << 12);
    assert_eq!(tty_device(pts_300), (136, 300));
    assert!(is_terminal_device((136, 300), pts_300));
    assert!(is_terminal_device((5, 0), pts_300), "/dev/tty");
    assert!(!is_terminal_device((136, 301), pts_300));
    assert!(!is_terminal_device((5, 0), 0), "no terminal at all");
}

#[test]
fn stat_lines_parse_whatever_the_name() {
    let line = "4242 (a) b (c)) S 1 4240 4200 34817 4240 4194560 113 0 0 0";
    let stat = parse_stat(4242, line).expect("parses");
    assert_eq!(
        (stat.pid, stat.state, stat.pgrp, stat.session, stat.tty_nr),
        (4242, 'S', 4240, 4200, 34817)
    );
    let detached = parse_stat(7, "7 (d) R 1 7 7 0 -1 0").expect("parses");
    assert_eq!((detached.state, detached.tty_nr), ('R', 0));
    assert_eq!(detached.threads, 0, "not in the line: not known");
    let full = "9 (node) S 1 9 9 34817 9 4194560 5 0 0 0 1 2 0 0 20 0 11 0 99 1 2";
    assert_eq!(parse_stat(9, full).map(|s| s.threads), Some(11));
    assert_eq!(parse_stat(7, "7 (cut"), None);
    assert_eq!(parse_stat(7, "7 (x) S 1 7"), None);
}

#[test]
fn syscall_lines_parse() {
    assert_eq!(parse_syscall("running\n"), Some(Syscall::Running));
    assert_eq!(
        parse_syscall("0 0x0 0x7ffe8fa3c0df 0x1 0x8 0x2 0x1 0x7ffe8fa3c0c8 0x7f1c2a\n"),
        Some(Syscall::Blocked {
            nr: 0,
            args: [0, 0x7ffe_8fa3_c0df, 1, 8, 2, 1]
        })
    );
    assert_eq!(
        parse_syscall("-1 0x7ffe8fa3c0c8 0x7f1c2a\n"),
        Some(Syscall::Blocked {
            nr: -1,
            args: [0; 6]
        })
    );
    assert_eq!(parse_syscall("0 0x0 0x1"), None, "cut short");
    assert_eq!(parse_syscall(""), None);
    assert_eq!(
        parse_syscall("0 0x0 0x7ffe 0x1 0x8 0x2 0x1 0x7ff 0x7f").and_then(|s| s.fd()),
        Some(0)
    );
}
