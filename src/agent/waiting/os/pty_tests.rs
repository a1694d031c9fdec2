//! The check against real agents in real terminals (through
//! [`AgentProcess`]): what reads the terminal is found, what sleeps,
//! computes, loops on events or reads from the background is not.
//!
//! A "not found" is only worth asserting once the agent is where it will
//! stay (asleep in its system call, or visibly looping): each such test
//! first waits for that, with a deadline, then checks several times.

use std::path::Path;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::proc::read_small;
use super::*;
use crate::agent::proc_tree;
use crate::agent::pty::{AgentExit, AgentProcess, SpawnSpec};

const DEADLINE: Duration = Duration::from_secs(20);

struct Agent {
    proc: Arc<AgentProcess>,
    exits: Receiver<AgentExit>,
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if !self.proc.has_exited() {
            self.proc.terminate(Duration::from_millis(200));
            let _ = self.exits.recv_timeout(DEADLINE);
        }
    }
}

fn start(command: &[&str]) -> Agent {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = SpawnSpec {
        command: command.iter().map(|s| s.to_string()).collect(),
        cwd: dir.path().to_owned(),
        env: Vec::new(),
        rows: 24,
        cols: 80,
        log_path: dir.path().join("logs/task/1.log"),
        log_cap_bytes: 1 << 20,
        history_lines: 100,
        on_output: None,
        confine: None,
    };
    let (tx, exits) = mpsc::channel();
    let proc = AgentProcess::spawn(
        spec,
        Box::new(move |exit| {
            let _ = tx.send(exit);
        }),
    )
    .expect("spawn");
    Agent {
        proc,
        exits,
        _dir: dir,
    }
}

fn script(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn have(program: &str) -> bool {
    crate::agent::which::find_program(program, Path::new("/"), None).is_some()
}

impl Agent {
    fn pid(&self) -> u32 {
        self.proc.pid()
    }

    /// The check, as the engine will make it.
    fn reader(&self) -> Option<u32> {
        agent_blocked_reading(self.pid(), self.proc.foreground_group())
    }

    fn screen_text(&self) -> String {
        self.proc
            .screen()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .screen()
            .contents()
    }

    fn wait_for_screen(&self, needle: &str) {
        wait_until(
            || self.screen_text().contains(needle),
            &format!("{needle:?} on screen"),
        );
    }

    /// Wait until the check names a reader, and return it.
    fn wait_reader(&self, what: &str) -> u32 {
        let mut found = None;
        wait_until(
            || {
                found = self.reader();
                found.is_some()
            },
            what,
        );
        found.expect("found")
    }

    /// The check says no, again and again, while the agent stays as it is.
    fn assert_never_reading(&self, what: &str) {
        for _ in 0..20 {
            assert_eq!(self.reader(), None, "{what}");
            thread::sleep(Duration::from_millis(5));
        }
        assert!(!self.proc.has_exited(), "{what}: the agent is still there");
    }

    fn exits(&self) -> AgentExit {
        self.exits.recv_timeout(DEADLINE).expect("exit in time")
    }

    /// A process of the agent's tree whose command line starts with
    /// `prefix`, once there is one.
    fn wait_process(&self, prefix: &str) -> u32 {
        let mut found = None;
        wait_until(
            || {
                found = proc_tree::tree(self.pid())
                    .into_iter()
                    .find(|&pid| proc_tree::command_line(pid).starts_with(prefix));
                found.is_some()
            },
            &format!("a process {prefix:?}"),
        );
        found.expect("found")
    }
}

fn wait_until(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

/// `pid` asleep inside a system call (by `/proc`, not by the check).
fn asleep_in_a_call(pid: u32) -> bool {
    let state = read_small(&format!("/proc/{pid}/stat"))
        .and_then(|s| s.rfind(')').map(|i| s[i + 1..].trim_start().to_owned()))
        .is_some_and(|rest| rest.starts_with('S'));
    let syscall = read_small(&format!("/proc/{pid}/syscall"));
    // Without `syscall` (Yama), being asleep has to do.
    state && syscall.is_none_or(|s| s != "running\n" && !s.starts_with("-1 "))
}

fn wait_asleep(pid: u32, what: &str) {
    wait_until(|| asleep_in_a_call(pid), &format!("{what} asleep"));
}

#[test]
fn a_shell_read_is_found_and_answering_it_ends_it() {
    let a = start(&["sh", "-c", "read x; echo \"got $x\"; sleep 60"]);
    assert_eq!(a.wait_reader("the shell's read"), a.pid());
    a.proc.write_input(b"yes\n").expect("type");
    a.wait_for_screen("got yes");
    wait_until(|| a.reader().is_none(), "the read answered");
    wait_asleep(a.wait_process("sleep"), "the sleep");
    a.assert_never_reading("after the answer, sleeping");
}

#[test]
fn a_question_before_a_read_is_found() {
    let a = start(&["sh", "-c", "printf 'Proceed? '; read answer"]);
    a.wait_for_screen("Proceed?");
    assert_eq!(a.wait_reader("the question's read"), a.pid());
    a.proc.write_input(b"y\n").expect("type");
    assert_eq!(a.exits(), AgentExit::Code(0));
    assert_eq!(a.reader(), None, "exited");
    assert_eq!(a.proc.foreground_group(), None, "exited");
}

#[test]
fn the_ask_script_is_found_waiting() {
    let a = start(&[&script("ask.sh")]);
    a.wait_for_screen("Shall I proceed?");
    assert_eq!(a.wait_reader("ask.sh's read"), a.pid());
}

#[test]
fn python_input_is_found() {
    if !have("python3") {
        eprintln!("skipped: no python3 here");
        return;
    }
    let a = start(&["python3", "-c", "input('name? ')"]);
    a.wait_for_screen("name?");
    assert_eq!(a.wait_reader("input()"), a.pid());
}

#[test]
fn readline_waiting_for_a_key_is_found() {
    // bash's `read -e` waits in pselect6 on the terminal alone, no timeout.
    if !have("bash") {
        eprintln!("skipped: no bash here");
        return;
    }
    let a = start(&[
        "bash",
        "-c",
        "read -e -p 'edit> ' x; echo \"got $x\"; sleep 60",
    ]);
    a.wait_for_screen("edit>");
    assert_eq!(a.wait_reader("readline"), a.pid());
    a.proc.write_input(b"ok\r").expect("type");
    a.wait_for_screen("got ok");
    wait_until(|| a.reader().is_none(), "readline answered");
}

#[test]
fn a_child_reading_is_found_and_named() {
    // `cat` is the shell's child (the shell has more to do after it).
    let a = start(&["sh", "-c", "cat; echo done"]);
    let cat = a.wait_process("cat");
    assert_ne!(cat, a.pid());
    assert_eq!(a.wait_reader("cat's read"), cat);
    assert_eq!(proc_tree::parent(cat), Some(a.pid()));
}

#[test]
fn a_sleep_is_not_reading() {
    let a = start(&["sleep", "60"]);
    wait_until(
        || proc_tree::command_line(a.pid()).starts_with("sleep"),
        "the exec",
    );
    wait_asleep(a.pid(), "sleep");
    a.assert_never_reading("sleep 60");
}

#[test]
fn a_busy_loop_is_not_reading() {
    let a = start(&["sh", "-c", "echo looping; while :; do :; done"]);
    a.wait_for_screen("looping");
    a.assert_never_reading("a busy loop");
}

#[test]
fn an_event_loop_on_the_terminal_is_not_reading() {
    let a = start(&[&script("event_loop.sh")]);
    a.wait_for_screen("ready");
    wait_asleep(a.pid(), "the event loop");
    a.assert_never_reading("poll with a timeout on the terminal");
}

#[test]
fn select_with_a_timeout_is_not_reading() {
    // bash's `read -t`: pselect6 on the terminal with a timeout.
    if !have("bash") {
        eprintln!("skipped: no bash here");
        return;
    }
    let a = start(&["bash", "-c", "echo ready; read -t 600 x"]);
    a.wait_for_screen("ready");
    wait_asleep(a.pid(), "read -t");
    a.assert_never_reading("read -t");
}

#[test]
fn a_background_reader_does_not_count_while_the_foreground_sleeps() {
    // Job control on: `cat` is a background job, stopped as it reads the
    // terminal (SIGTTIN), while `sleep` has the terminal.
    let a = start(&["sh", "-c", "set -m; cat & echo started; sleep 60"]);
    a.wait_for_screen("started");
    let cat = a.wait_process("cat");
    let sleep = a.wait_process("sleep");
    wait_until(
        || a.proc.foreground_group() == Some(sleep),
        "the sleep in the foreground",
    );
    wait_asleep(sleep, "the sleep");
    // The background job did try to read the terminal.
    wait_until(
        || {
            read_small(&format!("/proc/{cat}/stat"))
                .is_some_and(|s| s.rsplit(')').next().is_some_and(|r| r.starts_with(" T")))
        },
        "cat stopped by its read",
    );
    a.assert_never_reading("a background job reads");
}

#[test]
fn the_foreground_group_follows_job_control_and_ends_with_the_agent() {
    let a = start(&["sh", "-c", "read x; set -m; sleep 60; echo after"]);
    wait_until(
        || a.proc.foreground_group() == Some(a.pid()),
        "the agent in the foreground",
    );
    a.proc.write_input(b"\n").expect("type");
    let sleep = a.wait_process("sleep");
    wait_until(
        || a.proc.foreground_group() == Some(sleep),
        "the job in the foreground",
    );
    a.proc.terminate(Duration::from_millis(200));
    a.exits();
    assert_eq!(a.proc.foreground_group(), None);
    assert_eq!(a.reader(), None);
}

/// `/proc` as seen without `/proc/PID/syscall` (Yama `ptrace_scope` 2):
/// the wait channel has to do.
struct NoSyscall;

impl ProcSource for NoSyscall {
    fn members(&self, pgrp: u32, session_root: u32) -> Vec<ProcState> {
        let mut members = Proc.members(pgrp, session_root);
        for p in members.iter_mut().filter(|p| p.state == 'S') {
            p.syscall = None;
            p.wchan = read_small(&format!("/proc/{}/wchan", p.pid));
        }
        members
    }

    fn fd_is_tty(&self, pid: u32, fd: u64, tty_nr: u64) -> bool {
        Proc.fd_is_tty(pid, fd, tty_nr)
    }
}

fn reader_by_wchan(a: &Agent) -> Option<u32> {
    let fg = a.proc.foreground_group()?;
    let tty = proc::controlling_tty(a.pid())?;
    blocked_reader(fg, tty, a.pid(), &NoSyscall)
}

#[test]
fn without_syscall_the_wait_channel_finds_a_read_and_not_a_sleep() {
    let a = start(&["sh", "-c", "read x; echo \"got $x\"; sleep 60"]);
    wait_until(|| reader_by_wchan(&a) == Some(a.pid()), "read by wchan");
    a.proc.write_input(b"yes\n").expect("type");
    a.wait_for_screen("got yes");
    wait_asleep(a.wait_process("sleep"), "the sleep");
    for _ in 0..20 {
        assert_eq!(reader_by_wchan(&a), None, "sleeping");
    }
    let e = start(&[&script("event_loop.sh")]);
    e.wait_for_screen("ready");
    wait_asleep(e.pid(), "the event loop");
    for _ in 0..20 {
        assert_eq!(reader_by_wchan(&e), None, "an event loop");
    }
}

#[test]
fn the_real_source_names_only_the_foreground_group() {
    let a = start(&["sh", "-c", "set -m; sleep 60 & cat; echo done"]);
    let cat = a.wait_process("cat");
    let sleep = a.wait_process("sleep");
    wait_until(
        || a.proc.foreground_group() == Some(cat),
        "cat in the foreground",
    );
    let mut members: Vec<u32> = Proc.members(cat, a.pid()).iter().map(|p| p.pid).collect();
    members.sort_unstable();
    assert_eq!(members, vec![cat]);
    assert!(Proc.members(sleep, a.pid()).iter().all(|p| p.pid == sleep));
    assert_eq!(a.wait_reader("cat, a job of its own"), cat);
    // Its standard input is the terminal; a nonexistent descriptor is not.
    let tty = proc::controlling_tty(a.pid()).expect("a terminal");
    assert!(Proc.fd_is_tty(cat, 0, tty));
    assert!(!Proc.fd_is_tty(cat, 99, tty));
    assert!(!Proc.fd_is_tty(cat, 0, tty + 1));
    assert!(Path::new(&format!("/proc/{cat}/fd/0")).exists());
}

#[test]
fn a_busy_or_looping_group_leader_settles_it_without_the_tree() {
    let busy = start(&["sh", "-c", "echo looping; while :; do :; done"]);
    busy.wait_for_screen("looping");
    let mut seen = Vec::new();
    wait_until(
        || {
            seen = Proc.members(busy.pid(), busy.pid());
            seen.len() == 1 && seen[0].state == 'R'
        },
        "the loop seen running",
    );
    let looper = start(&[&script("event_loop.sh")]);
    looper.wait_for_screen("ready");
    wait_asleep(looper.pid(), "the event loop");
    let seen = Proc.members(looper.pid(), looper.pid());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(disqualifies_alone(&seen[0]), "{seen:?}");
}

#[test]
fn a_wrapper_shell_is_seen_through() {
    // The shell waits for its child; the child decides.
    let a = start(&[
        "sh",
        "-c",
        &format!("{}; echo done", script("event_loop.sh")),
    ]);
    a.wait_for_screen("ready");
    let looper = *proc_tree::tree(a.pid()).get(1).expect("the child");
    wait_asleep(looper, "the event loop");
    let seen = Proc.members(a.pid(), a.pid());
    assert_eq!(seen.len(), 1, "stopped at the loop: {seen:?}");
    assert_eq!(seen[0].pid, looper);
    a.assert_never_reading("a wrapped event loop");
}

#[test]
fn a_reader_started_by_another_thread_is_found() {
    // Its parent is the thread that forked it, listed in that thread's
    // `children` file only.
    if !have("python3") {
        eprintln!("skipped: no python3 here");
        return;
    }
    let program = "import subprocess, threading\n\
        t = threading.Thread(target=lambda: subprocess.run(['cat']))\n\
        t.start()\n\
        t.join()";
    let a = start(&["python3", "-c", program]);
    let cat = a.wait_process("cat");
    assert_eq!(a.wait_reader("cat, a thread's child"), cat);
}
