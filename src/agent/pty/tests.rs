use super::input::INPUT_QUEUE;
use super::leader::journal;
use super::*;
use crate::agent::proc_tree::{self, Signal};
use std::path::Path;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

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
        confine: None,
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
    assert_eq!(exit, AgentExit::Signal(Signal::KILL.as_raw()));
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
    rest.split_ascii_whitespace().nth(3)?.parse().ok()
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
    assert_eq!(exit, AgentExit::Signal(Signal::TERM.as_raw()));
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
    assert_eq!(a.wait_exit(), AgentExit::Signal(Signal::KILL.as_raw()));
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
        AgentExit::Signal(Signal::TERM.as_raw())
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

/// The pid from `key=PID` on the agent's screen.
fn pid_on_screen(a: &Agent, key: &str) -> u32 {
    a.screen_text()
        .split(&format!("{key}="))
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{key}=PID on screen"))
}

#[test]
fn leftovers_are_stopped_before_the_leader_is_reaped() {
    // The background sleep (deaf to the hang-up) stays in the agent's
    // group after the leader exits: it must be signalled through the group
    // while the leader still holds the pid, never after the reap.
    let a = start(&[
        "sh",
        "-c",
        "trap '' HUP; sleep 1000 & echo \"bg=$!\"; exit 0",
    ]);
    assert_eq!(a.wait_exit(), AgentExit::Code(0));
    let pid = a.proc.pid();
    let bg = pid_on_screen(&a, "bg");
    wait_until(|| !proc_tree::is_alive(bg), "background job gone");
    let events = journal::of(pid);
    assert_eq!(events.last(), Some(&journal::Event::Reaped), "{events:?}");
    assert!(
        events.contains(&journal::Event::Group(Signal::TERM)),
        "{events:?}"
    );
    journal::assert_no_group_signal_after_reap(pid);

    // Reported exited: stopping it again signals nothing.
    a.proc.terminate(Duration::ZERO);
    drop(a.proc);
    assert_eq!(journal::of(pid), events);
}

#[test]
fn the_grace_period_ending_after_the_reap_sends_no_group_signal() {
    // The leader dies at once on SIGTERM and is reaped; a descendant that
    // ignores SIGTERM escaped to its own session without the terminal, so
    // nothing holds the reap back. When the grace period ends the group's
    // id may already be someone else's: only the escaped process itself
    // (through its pidfd) may be killed.
    let a = start(&[
        "sh",
        "-c",
        "(trap '' TERM; exec setsid sleep 1000 </dev/null >/dev/null 2>&1) & echo \"escaped=$!\"; sleep 1000",
    ]);
    a.wait_for_screen("escaped=");
    let pid = a.proc.pid();
    let escaped = pid_on_screen(&a, "escaped");
    wait_until(
        || session_of(escaped) == Some(escaped),
        "escaped into its own session",
    );
    a.proc.terminate(Duration::from_secs(1));
    assert_eq!(a.wait_exit(), AgentExit::Signal(Signal::TERM.as_raw()));
    wait_until(
        || !proc_tree::is_alive(escaped),
        "escaped process killed after the grace",
    );
    let events = journal::of(pid);
    assert_eq!(events.last(), Some(&journal::Event::Reaped), "{events:?}");
    journal::assert_no_group_signal_after_reap(pid);
}

/// A client's replica of the agent's terminal: a plain vt100 parser fed
/// the repaint, then the stream.
fn replica(sub: &OutputSubscription) -> vt100::Parser {
    let rows = std::num::NonZeroU16::new(sub.rows).expect("rows");
    let cols = std::num::NonZeroU16::new(sub.cols).expect("cols");
    let mut parser = vt100::Parser::new(rows, cols, 0);
    parser.process(&sub.repaint);
    parser
}

/// Apply streamed items to a client's replica; returns the output bytes.
fn replay(client: &mut vt100::Parser, items: Vec<TapItem>) -> usize {
    let mut bytes = 0;
    for item in items {
        match item {
            TapItem::Output(chunk) => {
                bytes += chunk.len();
                client.process(&chunk);
            }
            TapItem::Resized { rows, cols } => client.screen_mut().set_size(
                std::num::NonZeroU16::new(rows).expect("rows"),
                std::num::NonZeroU16::new(cols).expect("cols"),
            ),
        }
    }
    bytes
}

/// Everything from `stream` until it closes, on a thread of its own.
fn collect(
    mut stream: tokio::sync::broadcast::Receiver<TapItem>,
) -> thread::JoinHandle<Result<Vec<TapItem>, RecvError>> {
    thread::spawn(move || {
        let mut items = Vec::new();
        loop {
            match stream.blocking_recv() {
                Ok(item) => items.push(item),
                Err(RecvError::Closed) => return Ok(items),
                Err(lagged) => return Err(lagged),
            }
        }
    })
}

#[test]
fn a_client_attaching_mid_stream_ends_with_the_agents_screen() {
    // Colours, cursor moves, line clears, a title and multi-byte text, in
    // writes of every size. The client attaches as the second part starts
    // streaming; the last part comes only once it is attached.
    let script = r#"part() { i=$1; while [ $i -le $2 ]; do
        printf '\033[3%dmline %d\033[0m héllo 日本 ✓\r\n' $((i % 8)) $i
        if [ $((i % 9)) -eq 0 ]; then printf '\033]0;t%d\007\033[%d;%dH\033[44m*\033[0m\033[K\033[24;1H' $i $((i % 20 + 1)) $((i % 70 + 1)); fi
        if [ $i -eq 250 ]; then printf '\033[?1h\033[?2004h\033[2J\033[H'; fi
        i=$((i+1)); done; }
        part 1 100; echo gate; read _; part 101 400; read _; echo end"#;
    let a = start(&["sh", "-c", script]);
    a.wait_for_screen("gate");
    a.proc.write_input(b"\r").expect("write");
    let sub = a.proc.subscribe_output();
    assert_eq!((sub.rows, sub.cols), (24, 80));
    let mut client = replica(&sub);
    let collector = collect(sub.stream);
    a.wait_for_screen("line 400");
    a.proc.write_input(b"\r").expect("write");
    assert_eq!(a.wait_exit(), AgentExit::Code(0));
    let items = collector
        .join()
        .expect("collector")
        .expect("no lag at this pace");
    assert!(!items
        .iter()
        .any(|item| matches!(item, TapItem::Resized { .. })));
    let streamed = replay(&mut client, items);
    assert!(streamed > 0, "the attach was mid-stream");
    let agent = lock(a.proc.screen());
    assert!(agent.screen().contents().contains("end"));
    assert!(agent.screen().application_cursor());
    assert_eq!(
        client.screen().state_formatted(),
        agent.screen().state_formatted()
    );
}

#[test]
fn the_stream_carries_resizes_in_order() {
    let a = start(&["sh", "-c", "echo ready; read _; stty size; read _"]);
    a.wait_for_screen("ready");
    let sub = a.proc.subscribe_output();
    let mut client = replica(&sub);
    let collector = collect(sub.stream);
    a.proc.resize(30, 100).expect("resize");
    a.proc.write_input(b"\r").expect("write");
    a.wait_for_screen("30 100");
    a.proc.write_input(b"\r").expect("write");
    assert_eq!(a.wait_exit(), AgentExit::Code(0));
    let items = collector.join().expect("collector").expect("no lag");
    assert_eq!(
        items.first(),
        Some(&TapItem::Resized {
            rows: 30,
            cols: 100
        })
    );
    replay(&mut client, items);
    let agent = lock(a.proc.screen());
    assert_eq!(
        client.screen().state_formatted(),
        agent.screen().state_formatted()
    );
}

#[test]
fn a_subscriber_that_never_reads_holds_up_nothing() {
    let a = start(&["seq", "1", "200000"]);
    let mut sub = a.proc.subscribe_output();
    assert_eq!(a.wait_exit(), AgentExit::Code(0));
    assert_eq!(lock(a.proc.screen()).tail_text(1), ["200000"]);
    assert!(matches!(
        sub.stream.try_recv(),
        Err(TryRecvError::Lagged(_))
    ));
    // What is left is the newest output, then the end.
    let rest: Vec<TapItem> = std::iter::from_fn(|| sub.stream.try_recv().ok()).collect();
    assert!(rest.len() <= TAP_CAPACITY);
    assert!(matches!(rest.last(), Some(TapItem::Output(b)) if b.ends_with(b"200000\r\n")));
    assert_eq!(sub.stream.try_recv(), Err(TryRecvError::Closed));
    // Attaching after the exit: the final screen, a closed stream.
    let mut late = a.proc.subscribe_output();
    assert!(!late.repaint.is_empty());
    assert_eq!(late.stream.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn the_agents_terminal_queries_are_answered_from_its_screen() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agents/queries.sh");
    let a = start(&["bash", script]);
    assert_eq!(a.wait_exit(), AgentExit::Code(0));
    let text = a.screen_text();
    // "ready" left the cursor on row 1, column 6.
    assert!(text.contains("cpr=$'\\E[1;6'"), "{text}");
    assert!(text.contains("da=$'\\E[?1;2'"), "{text}");
    assert!(text.contains("bg=$'\\E]11;rgb:"), "{text}");
    assert!(!text.contains("timeout"), "{text}");
}
