//! The server and its clients against a real orch, as users would use
//! them: a headless run that serves the socket (approve and add tasks from
//! another process), clients that break the protocol, several control rooms
//! and attached terminals at once (in tmux), `orch stop` and a killed
//! server, each leaving no process behind.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::tmux::Tmux;
use common::*;

fn plan(repo: &TestRepo) {
    repo.write_config(&format!(
        r#"
[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "gate"
agent = "sh"
prompt = "{worker} 1 0"
risk = "high"
"#,
        worker = agent("worker.sh"),
    ));
}

fn wait_for_socket(repo: &TestRepo) -> UnixStream {
    let path = repo.state_dir().join("orch.sock");
    let mut stream = None;
    assert!(
        wait_until(Duration::from_secs(20), || {
            stream = UnixStream::connect(&path).ok();
            stream.is_some()
        }),
        "the run never served its socket"
    );
    stream.expect("connected")
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = u32::try_from(payload.len() + 1)
        .expect("small")
        .to_be_bytes()
        .to_vec();
    bytes.push(kind);
    bytes.extend_from_slice(payload);
    bytes
}

/// Whether the server closes `stream` (end of file) within 20 s, as
/// opposed to answering or leaving it open.
fn closed_by_server(stream: &mut UnixStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    // Closed with our bytes unread, the connection is reset.
    match stream.read(&mut buf) {
        Ok(0) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    }
}

/// Read one frame: (kind, payload); `None` once the server closed.
fn read_frame(stream: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 5];
    stream.read_exact(&mut header).ok()?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let mut payload = vec![0u8; len - 1];
    stream.read_exact(&mut payload).ok()?;
    Some((header[4], payload))
}

#[test]
fn a_headless_run_is_approved_and_extended_from_another_process() {
    let repo = TestRepo::new();
    plan(&repo);
    let run = repo.spawn(&[
        "--no-tui",
        "--approval-timeout",
        "60s",
        "--json",
        "report.json",
        "--junit",
        "report.xml",
    ]);
    drop(wait_for_socket(&repo));
    assert!(wait_until(Duration::from_secs(10), || {
        repo.task_state("gate").as_deref() == Some("awaiting_approval")
    }));
    // A task added meanwhile joins the run; adding it again changes nothing.
    let add = [
        "task",
        "add",
        "--id",
        "extra",
        "--agent",
        "sh",
        "--prompt",
        "true",
        "--depends-on",
        "gate",
    ];
    let out = repo.run(&add);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("added extra"), "{}", out.stdout);
    let again = repo.run(&add);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("already in the plan"),
        "{}",
        again.stdout
    );
    let unknown = repo.run(&[
        "task", "add", "--id", "x", "--agent", "nope", "--prompt", "p",
    ]);
    assert_eq!(unknown.code, 1);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);

    let out = repo.run(&["approve", "gate", "--reason", "reviewed"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let result = run.wait_with_output().expect("the run ends");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert_eq!(result.status.code(), Some(0), "{stdout}");
    assert_eq!(repo.task_state("extra").as_deref(), Some("done"));
    // The added task is the run's like the others: its progress lines
    // know its attempts, and the summary and both reports have it.
    let line = |id: &str, what: &str| {
        stdout
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(id) && l.contains(what))
    };
    assert!(line("extra", "attempt 1/3"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("extra ") && l.contains("done")),
        "{stdout}"
    );
    let report = repo.read_json("report.json");
    assert_eq!(
        states(&report).get("extra").map(String::as_str),
        Some("done"),
        "{report}"
    );
    let junit = std::fs::read_to_string(repo.path().join("report.xml")).expect("junit");
    assert!(junit.contains("tests=\"2\""), "{junit}");
    assert!(junit.contains("name=\"extra\""), "{junit}");
    let by: String = repo
        .db()
        .query_row(
            "SELECT reason FROM approvals WHERE task_id = 'gate'",
            [],
            |r| r.get(0),
        )
        .expect("the approval is recorded");
    assert_eq!(by, "reviewed");
    // The added task is stored with its origin: the next run keeps it
    // (done, so it does not run again).
    let origin: String = repo
        .db()
        .query_row("SELECT origin FROM tasks WHERE id = 'extra'", [], |r| {
            r.get(0)
        })
        .expect("stored");
    assert_eq!(origin, "cli");
    let next = repo.run(&["--no-tui", "--json", "next.json"]);
    assert_eq!(next.code, 0, "{}{}", next.stdout, next.stderr);
    assert_eq!(repo.attempt_count("extra"), 1);
    assert!(next.stdout.contains("orch: 2 task(s) from"), "{next}");
    assert!(
        next.stdout
            .contains("already done, not run again: gate, extra"),
        "{next}"
    );
    assert_eq!(states(&repo.read_json("next.json")).len(), 2);
    // The event log has the addition, as JSON lines.
    let events = repo.run(&["events", "--json"]);
    assert_eq!(events.code, 0, "{}", events.stderr);
    let added: Vec<serde_json::Value> = events
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|e: &serde_json::Value| e["kind"] == "task_added")
        .collect();
    assert_eq!(added.len(), 1, "{}", events.stdout);
    assert_eq!(added[0]["task"], "extra");
    // With nothing running, commands that need a run say so.
    let out = repo.run(&["approve", "gate"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("nothing is running"), "{}", out.stderr);
}

#[test]
fn garbage_oversized_and_foreign_clients_are_dropped_and_the_server_goes_on() {
    let repo = TestRepo::new();
    plan(&repo);
    let mut run = repo.spawn(&["--no-tui", "--approval-timeout", "60s"]);
    // Garbage: not a frame at all. The server closes the connection (not
    // just ignores it).
    let mut garbage = wait_for_socket(&repo);
    garbage.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert!(
        closed_by_server(&mut garbage),
        "garbage was answered or kept open"
    );
    // Oversized: announces 1 GiB.
    let mut big = wait_for_socket(&repo);
    big.write_all(&[0x40, 0, 0, 0, 1]).expect("write");
    assert!(closed_by_server(&mut big));
    // A control room claiming a 65535x65535 terminal is drawn at a bounded
    // size instead of taking the server down.
    let mut huge = wait_for_socket(&repo);
    let hello = format!(
        r#"{{"protocol":{},"orch":"{}","role":{{"as":"control_room","cols":65535,"rows":65535}}}}"#,
        orch::control::protocol::PROTOCOL,
        env!("CARGO_PKG_VERSION")
    );
    huge.write_all(&frame(1, hello.as_bytes())).expect("write");
    huge.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    assert_eq!(read_frame(&mut huge).map(|f| f.0), Some(2), "welcomed");
    assert_eq!(
        read_frame(&mut huge).map(|f| f.0),
        Some(20),
        "a frame drawn"
    );
    drop(huge);
    // Attaching to what does not run is refused before any session starts.
    let mut nope = wait_for_socket(&repo);
    let hello = format!(
        r#"{{"protocol":{},"orch":"{}","role":{{"as":"attach","task":"nope","cols":80,"rows":24}}}}"#,
        orch::control::protocol::PROTOCOL,
        env!("CARGO_PKG_VERSION")
    );
    nope.write_all(&frame(1, hello.as_bytes())).expect("write");
    nope.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let (kind, payload) = read_frame(&mut nope).expect("an answer");
    assert_eq!(kind, 3, "refused: {}", String::from_utf8_lossy(&payload));
    assert!(String::from_utf8_lossy(&payload).contains("no task"));
    // Another protocol version: refused with what to do.
    let mut old = wait_for_socket(&repo);
    let hello = br#"{"protocol":999,"orch":"0.0.1","role":{"as":"command"}}"#;
    old.write_all(&frame(1, hello)).expect("write");
    let (kind, payload) = read_frame(&mut old).expect("an answer");
    assert_eq!(kind, 3, "refused");
    let reason = String::from_utf8_lossy(&payload);
    assert!(reason.contains("orch stop"), "{reason}");
    // A second server for the same state dir is refused, naming the pid.
    let second = repo.run(&["--no-tui"]);
    assert_eq!(second.code, 2);
    assert!(
        second.stderr.contains(&format!("pid {}", run.id())),
        "{}",
        second.stderr
    );
    // The run goes on and still answers.
    let out = repo.run(&["approve", "gate"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let status = run.wait().expect("the run ends");
    assert_eq!(status.code(), Some(0));
    assert!(!repo.state_dir().join("orch.sock").exists());
}

/// A plan whose tasks each wait until the test creates `go-ID` in the
/// repository, so the test decides when each one finishes.
fn held_tasks(repo: &TestRepo, ids: &[&str]) -> String {
    let mut toml = String::from("[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n");
    for id in ids {
        toml.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"{} {}\"\n",
            agent("until_file.sh"),
            repo.path().join(format!("go-{id}")).display()
        ));
    }
    toml
}

fn release(repo: &TestRepo, id: &str) {
    std::fs::write(repo.path().join(format!("go-{id}")), "").expect("write go file");
}

/// The task whose output a control room shows (its selection).
fn shown(screen: &str) -> Option<&str> {
    screen.split("Output: ").nth(1)?.split_whitespace().next()
}

#[test]
fn two_control_rooms_each_have_their_own_view_of_the_same_tasks() {
    let repo = TestRepo::new();
    repo.write_config(&held_tasks(&repo, &["alpha", "beta", "gamma"]));
    let big = Tmux::start_sized("rooms-big", repo.path(), ORCH, (200, 50));
    big.wait_for("waiting for go-alpha");
    let small = Tmux::start_sized("rooms-small", repo.path(), ORCH, (100, 30));
    small.wait_for("waiting for go-alpha");
    // Both show the same live tasks, each drawn at its own size.
    for (room, cols) in [(&big, 200), (&small, 100)] {
        let screen = room.wait_until("three running tasks", |s| {
            ["▶ alpha", "▶ beta", "▶ gamma"]
                .iter()
                .all(|t| s.contains(t))
        });
        let top = screen.lines().next().unwrap_or_default();
        assert_eq!(top.chars().count(), cols, "{screen}");
        assert!(top.ends_with('╮'), "{screen}");
        assert_eq!(shown(&screen), Some("alpha"), "{screen}");
    }
    let pid = server_pid(&repo).expect("a server runs");

    // The selection moves in one room only.
    big.keys(&["Down"]);
    big.wait_until("beta selected", |s| shown(s) == Some("beta"));
    big.wait_for("waiting for go-beta");
    small.keys(&["Down", "Down"]);
    small.wait_until("gamma selected", |s| shown(s) == Some("gamma"));
    small.wait_for("waiting for go-gamma");
    // The big room, redrawn since (its clock ticks), kept its own.
    let before = big.screen();
    let after = big.wait_until("a redraw", |s| s != before);
    assert_eq!(shown(&after), Some("beta"), "{after}");

    // One room detaches; the other keeps working and follows the plan.
    big.keys(&["C-]"]);
    let screen = big.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    assert!(screen.contains("3 agent(s) keep running"), "{screen}");
    release(&repo, "alpha");
    small.wait_for("✓ alpha");
    small.keys(&["Up"]);
    small.wait_until("beta selected", |s| shown(s) == Some("beta"));
    assert!(pid_alive(pid), "the server went with the room that left");
    // A room that connects now sees the same tasks, with a view of its own.
    let again = Tmux::start_sized("rooms-again", repo.path(), ORCH, (120, 40));
    let screen = again.wait_for("✓ alpha");
    assert_eq!(shown(&screen), Some("alpha"), "{screen}");
    release(&repo, "beta");
    release(&repo, "gamma");
    small.wait_for("✓3");
    again.wait_for("✓3");

    // One room detaches, and at once the last one quits with nothing
    // running: that ends the server, the room that left no longer counts.
    again.keys(&["C-]"]);
    let screen = again.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    small.keys(&["q"]);
    let screen = small.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    assert!(screen.contains("3/3 task(s) done"), "{screen}");
    assert!(wait_until(Duration::from_secs(10), || !pid_alive(pid)));
    drop((big, small, again));
    assert_nothing_left(repo.path());
}

/// A plan of one task, `id`, whose agent runs `prompt` in sh.
fn one_task(id: &str, prompt: &str) -> String {
    format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\
         [[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"{prompt}\"\n"
    )
}

/// The last size `sizer.sh` reported on `screen` ("ROWSxCOLS").
fn last_size(screen: &str) -> Option<&str> {
    screen
        .lines()
        .rev()
        .filter_map(|l| l.split("size=").nth(1))
        .filter_map(|rest| rest.split(|c: char| c != 'x' && !c.is_ascii_digit()).next())
        .find(|size| !size.is_empty())
}

#[test]
fn two_attached_terminals_share_an_agent_and_its_size_follows_the_latest() {
    let repo = TestRepo::new();
    repo.write_config(&one_task("sz", &agent("sizer.sh")));
    // A control room shows the agent all along.
    let room = Tmux::start("attach2-room", repo.path(), ORCH);
    let screen = room.wait_for("size=");
    let pane = last_size(&screen).expect("a size").to_string();
    let attach = format!("{ORCH} attach sz");

    let first = Tmux::start_sized("attach2-first", repo.path(), &attach, (120, 40));
    first.wait_until("40x120", |s| last_size(s) == Some("40x120"));
    let second = Tmux::start_sized("attach2-second", repo.path(), &attach, (90, 25));
    // The newest client sizes the PTY; everyone sees the agent say so.
    for view in [&second, &first, &room] {
        view.wait_until("25x90", |s| last_size(s) == Some("25x90"));
    }
    // What either client types reaches the agent; the echo is everywhere.
    // (One at a time: two typists at once interleave, as on any terminal.)
    first.line("from-first");
    for view in [&first, &second, &room] {
        view.wait_for("you typed: from-first");
    }
    second.line("from-second");
    for view in [&first, &second, &room] {
        view.wait_for("you typed: from-second");
    }

    // The newest leaves: the size goes back to the other client's, which
    // is still attached.
    second.keys(&["C-]"]);
    let screen = second.wait_for("ORCH-EXIT=");
    assert!(screen.contains("detached from sz"), "{screen}");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    first.wait_until("40x120 again", |s| last_size(s) == Some("40x120"));
    first.line("still-here");
    first.wait_for("you typed: still-here");
    room.wait_for("you typed: still-here");
    // The last one leaves: back to the control room's pane.
    first.keys(&["C-]"]);
    first.wait_for("ORCH-EXIT=0");
    room.wait_until(&format!("{pane} again"), |s| last_size(s) == Some(&pane));
    assert_eq!(repo.task_state("sz").as_deref(), Some("running"));

    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    room.wait_for("ORCH-EXIT=");
    drop((room, first, second));
    assert_nothing_left(repo.path());
}

/// A foreground `orch --no-tui` run: stopped as a user would (SIGTERM:
/// agents stopped, state saved) if the test leaves it running.
struct Foreground {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Foreground {
    fn start(repo: &TestRepo) -> Foreground {
        Foreground {
            child: repo.spawn(&["--no-tui"]),
            dir: repo.path().to_path_buf(),
        }
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SAFETY: plain kill(2) of our own child, not yet reaped.
            unsafe {
                libc::kill(self.child.id() as i32, libc::SIGTERM);
            }
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            kill_leftovers(&self.dir);
        }
    }
}

/// The words of `stty -a` on `screen`.
fn stty_flags(screen: &str) -> Vec<&str> {
    screen
        .split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn attach_from_a_shell_gives_the_terminal_back_as_it_was() {
    let repo = TestRepo::new();
    repo.write_config(&one_task("modal", &agent("modal.sh")));
    // A headless run serves the same socket as the server.
    let _run = Foreground::start(&repo);
    assert!(wait_until(Duration::from_secs(20), || {
        repo.task_state("modal").as_deref() == Some("running")
    }));
    let shell = Tmux::start_sized(
        "restore",
        repo.path(),
        "PS1='pane$ ' bash --norc --noprofile -i",
        (100, 30),
    );
    shell.wait_for("pane$");
    let flags =
        "#{alternate_on} #{keypad_cursor_flag} #{keypad_flag} #{mouse_any_flag} #{cursor_flag}";
    assert_eq!(shell.pane(flags), "0 0 0 0 1");

    // Attached, the agent's modes are the terminal's.
    shell.line(&format!("{ORCH} attach modal"));
    shell.wait_for("modes on");
    assert!(
        wait_until(Duration::from_secs(20), || shell.pane(flags) == "1 1 1 1 0"),
        "attached: {}",
        shell.pane(flags)
    );
    shell.line("hello");
    shell.wait_for("you typed: hello");

    // Ctrl-] gives the shell its terminal back as it was.
    shell.keys(&["C-]"]);
    let screen = shell.wait_until("the prompt after the detach", |s| {
        s.contains("detached from modal") && s.trim_end().ends_with("pane$")
    });
    assert!(
        !screen.contains("modes on"),
        "alternate screen not left:\n{screen}"
    );
    assert_eq!(shell.pane(flags), "0 0 0 0 1");
    shell.line("stty -a");
    let screen = shell.wait_until("stty's answer", |s| {
        s.contains("icanon") && s.trim_end().ends_with("pane$")
    });
    let words = stty_flags(&screen);
    for on in ["icanon", "echo", "isig", "icrnl", "opost", "onlcr"] {
        assert!(words.contains(&on), "{on} is off:\n{screen}");
    }
    shell.keys(&["C-l"]);
    shell.line("echo restored-$((1+1))");
    shell.wait_for("restored-2");

    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    drop(shell);
    assert_nothing_left(repo.path());
}

/// One attempt's status and cause, from state.db.
fn attempt(repo: &TestRepo, task: &str, n: u32) -> (String, Option<String>) {
    repo.db()
        .query_row(
            "SELECT status, cause FROM attempts WHERE task_id = ?1 AND attempt = ?2",
            rusqlite::params![task, n],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the attempt is recorded")
}

#[test]
fn a_server_killed_with_sigkill_resumes_and_leaves_no_process_behind() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    let pids = repo.path().join("pids.txt");
    repo.write_config(&format!(
        "[defaults]\nretries = 0\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\
         [[tasks]]\nid = \"quick\"\nagent = \"sh\"\nprompt = \"{worker} 1 0\"\n\
         [[tasks]]\nid = \"long\"\nagent = \"sh\"\nprompt = \"{survivor} {ledger} {pids}\"\n\
         [[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"{worker} 1 0\"\ndepends_on = [\"long\"]\n",
        worker = agent("worker.sh"),
        survivor = agent("survivor.sh"),
        ledger = ledger.display(),
        pids = pids.display(),
    ));
    let room = Tmux::start("kill9-room", repo.path(), ORCH);
    assert!(wait_until(Duration::from_secs(20), || {
        pids_in(&pids).len() == 3 && repo.task_state("quick").as_deref() == Some("done")
    }));
    let server = server_pid(&repo).expect("a server runs");
    let cmdline = std::fs::read(format!("/proc/{server}/cmdline")).expect("its command line");
    assert!(String::from_utf8_lossy(&cmdline).contains("__server"));
    // SAFETY: plain kill(2) of the server the test started.
    unsafe {
        libc::kill(server as i32, libc::SIGKILL);
    }
    assert!(wait_until(Duration::from_secs(10), || !pid_alive(server)));
    // The control room says so and gives the terminal back.
    let screen = room.wait_for("ORCH-EXIT=");
    assert!(
        screen.contains("lost the connection to the server"),
        "{screen}"
    );
    assert!(screen.contains("ORCH-EXIT=1"), "{screen}");
    assert!(
        repo.state_dir().join("orch.sock").exists(),
        "no stale socket to replace"
    );

    // Nothing runs, and status says so without claiming the attempt runs.
    let status = repo.status();
    assert_eq!(
        status["running_instance"],
        serde_json::Value::Null,
        "{status}"
    );
    let long = status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "long"))
        .expect("long in status")
        .clone();
    assert_ne!(long["state"], "running", "{long}");
    assert_eq!(long["last_attempt"]["status"], "interrupted", "{long}");
    let text = repo.run(&["status"]);
    assert!(text.stdout.contains("no orch running"), "{text}");
    let row = text
        .stdout
        .lines()
        .find(|l| l.starts_with("long "))
        .unwrap_or_default();
    assert!(
        row.contains("queued") && row.contains("orch stopped"),
        "{text}"
    );

    // orch again: a new server on a new socket resumes the plan.
    let again = Tmux::start("kill9-again", repo.path(), ORCH);
    again.wait_for("✓3");
    let second = server_pid(&repo).expect("a new server runs");
    assert_ne!(second, server);
    // What the killed server's agent left running is gone now.
    for pid in pids_in(&pids) {
        assert!(
            wait_until(Duration::from_secs(10), || !pid_alive(pid)),
            "pid {pid} of the killed server's agent still runs"
        );
    }
    // The interrupted attempt is closed as such and not held against the
    // task (retries = 0, yet it ran again); done tasks did not run twice.
    let (status, cause) = attempt(&repo, "long", 1);
    assert_eq!(status, "interrupted");
    assert_eq!(cause.as_deref(), Some("orch stopped while the attempt ran"));
    assert_eq!(attempt(&repo, "long", 2).0, "succeeded");
    assert_eq!(ledger_lines(&ledger), vec!["long 1", "long 2"]);
    assert_eq!(repo.attempt_count("quick"), 1);
    let files = repo.git(&["ls-tree", "--name-only", "orch/long"]);
    assert!(files.contains("done-long.txt"), "{files}");

    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    let screen = again.wait_for("ORCH-EXIT=");
    assert!(screen.contains("3/3 task(s) done"), "{screen}");
    assert!(!repo.state_dir().join("orch.sock").exists());
    drop((room, again));
    assert_nothing_left(repo.path());
}

#[test]
fn orch_stop_leaves_no_process_behind() {
    let repo = TestRepo::new();
    let pids = |name: &str| repo.path().join(format!("{name}.pids"));
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\
         [[tasks]]\nid = \"spawner\"\nagent = \"sh\"\nprompt = \"{} {}\"\n\
         [[tasks]]\nid = \"stubborn\"\nagent = \"sh\"\nprompt = \"{} {}\"\n\
         [[tasks]]\nid = \"sizer\"\nagent = \"sh\"\nprompt = \"{} {}\"\n",
        agent("spawner.sh"),
        pids("spawner").display(),
        agent("stubborn.sh"),
        pids("stubborn").display(),
        agent("sizer.sh"),
        pids("sizer").display(),
    ));
    let room = Tmux::start("stop-room", repo.path(), ORCH);
    // Helpers in a session of their own and in the background, an agent
    // that ignores SIGTERM and SIGHUP, and one in bash.
    assert!(wait_until(Duration::from_secs(20), || {
        pids_in(&pids("spawner")).len() == 2
            && pids_in(&pids("stubborn")).len() == 1
            && pids_in(&pids("sizer")).len() == 1
    }));
    let server = server_pid(&repo).expect("a server runs");
    let agents: Vec<u32> = ["spawner", "stubborn", "sizer"]
        .iter()
        .flat_map(|name| pids_in(&pids(name)))
        .collect();
    assert!(agents.iter().all(|&pid| pid_alive(pid)));

    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("stopping 3 agent(s)"), "{out}");
    // Once stop has answered, the server and every agent are gone.
    assert!(!pid_alive(server), "the server outlived orch stop");
    let alive: Vec<u32> = agents.iter().copied().filter(|&p| pid_alive(p)).collect();
    assert!(alive.is_empty(), "agents outlived orch stop: {alive:?}");
    let screen = room.wait_for("ORCH-EXIT=");
    assert!(screen.contains("0/3 task(s) done"), "{screen}");
    // Stopped, not failed: the next start resumes them.
    for task in ["spawner", "stubborn", "sizer"] {
        assert_eq!(repo.task_state(task).as_deref(), Some("queued"), "{task}");
    }
    drop(room);
    assert_nothing_left(repo.path());
}

#[test]
fn a_task_added_at_run_time_is_shown_operated_and_counted_after_a_restart() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[defaults]\nretries = 0\n{}",
        one_task("first", &format!("{} 1 0", agent("worker.sh")))
    ));
    let room = Tmux::start("added-room", repo.path(), ORCH);
    room.wait_for("✓ first");
    let add = [
        "task",
        "add",
        "--id",
        "extra",
        "--agent",
        "sh",
        "--prompt",
        &agent("fail.sh"),
    ];
    let out = repo.run(&add);
    assert_eq!(out.code, 0, "{out}");
    assert!(wait_until(Duration::from_secs(20), || {
        repo.task_state("extra").as_deref() == Some("needs_review")
    }));
    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    let screen = room.wait_for("ORCH-EXIT=");
    assert!(screen.contains("1/2 task(s) done"), "{screen}");

    // A new server has the task orch.toml does not name in its plan: the
    // control room shows it, and it can be selected and retried.
    let again = Tmux::start("added-again", repo.path(), ORCH);
    again.wait_for("! extra");
    again.keys(&["Down"]);
    again.wait_until("extra selected", |s| shown(s) == Some("extra"));
    again.keys(&["r"]);
    assert!(wait_until(Duration::from_secs(20), || {
        repo.attempt_count("extra") == 2
            && repo.task_state("extra").as_deref() == Some("needs_review")
    }));
    // Nothing is owed (a failed task waits for a person): q ends the
    // server, whose goodbye counts the added task in its status.
    again.keys(&["q"]);
    let screen = again.wait_for("ORCH-EXIT=");
    assert!(screen.contains("1/2 task(s) done"), "{screen}");
    assert!(screen.contains("ORCH-EXIT=1"), "{screen}");
    drop((room, again));
    assert_nothing_left(repo.path());
}

#[test]
fn a_settled_server_does_not_end_under_a_client_that_is_still_connecting() {
    let repo = TestRepo::new();
    repo.write_config(&one_task("w", &format!("{} 1 0", agent("worker.sh"))));
    let room = Tmux::start(
        "arriving-room",
        repo.path(),
        &format!("ORCH_SERVER_LINGER=1s {ORCH}"),
    );
    room.wait_for("✓1");
    let server = server_pid(&repo).expect("a server runs");
    // Connected, not yet said hello, when the room leaves.
    let slow = UnixStream::connect(repo.state_dir().join("orch.sock")).expect("connect");
    room.keys(&["C-]"]);
    room.wait_for("ORCH-EXIT=0");
    assert!(
        !wait_until(Duration::from_secs(3), || !pid_alive(server)),
        "the server ended under a client that was connecting"
    );
    // Its hello never comes: it is dropped, and then the server ends.
    drop(slow);
    assert!(
        wait_until(Duration::from_secs(20), || !pid_alive(server)),
        "the server did not end once nobody was connected"
    );
    drop(room);
    assert_nothing_left(repo.path());
}

#[test]
fn a_server_owing_a_merge_gate_stays_until_it_is_decided_and_says_how_the_run_ended() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "{}merge = \"auto\"\napproval = \"before_merge\"\n",
        one_task("w", &format!("{} 1 0", agent("worker.sh")))
    ));
    let linger = "ORCH_SERVER_LINGER=1s";
    let room = Tmux::start("gate-room", repo.path(), &format!("{linger} {ORCH}"));
    assert!(wait_until(Duration::from_secs(20), || {
        repo.task_field("w", "merge_state").as_deref() == Some("awaiting_approval")
    }));
    let server = server_pid(&repo).expect("a server runs");
    room.keys(&["C-]"]);
    room.wait_for("ORCH-EXIT=0");
    // Done, but its merge is owed a decision: no client for many times the
    // linger, and the server is still there to be asked.
    assert!(
        !wait_until(Duration::from_secs(4), || !pid_alive(server)),
        "the server ended with a merge gate waiting"
    );
    // q asks rather than stopping it, and detaches by default.
    let viewer = Tmux::start("gate-viewer", repo.path(), ORCH);
    viewer.wait_for("w");
    viewer.keys(&["q"]);
    viewer.wait_for("s: stop and quit");
    viewer.keys(&["Esc"]);
    // orch stop ends it; the goodbye carries the run's status: interrupted,
    // the gate still waiting.
    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{out}");
    let screen = viewer.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=130"), "{screen}");
    assert!(screen.contains("1/1 task(s) done"), "{screen}");
    assert!(screen.contains("1 merge(s) waiting"), "{screen}");
    assert!(!pid_alive(server));

    // The next server asks again; decided, the merge lands and the server
    // ends by itself once nobody is connected, the run ended well.
    let again = Tmux::start("gate-again", repo.path(), &format!("{linger} {ORCH}"));
    again.wait_for("w");
    let second = server_pid(&repo).expect("a new server runs");
    again.keys(&["C-]"]);
    again.wait_for("ORCH-EXIT=0");
    let out = repo.run(&["approve", "w"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        wait_until(Duration::from_secs(20), || !pid_alive(second)),
        "the server did not end once the plan settled"
    );
    assert_eq!(
        repo.task_field("w", "merge_state").as_deref(),
        Some("merged")
    );
    let code: i32 = repo
        .db()
        .query_row(
            "SELECT exit_code FROM runs ORDER BY id DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("the run is recorded");
    assert_eq!(code, 0);
    drop((room, viewer, again));
    assert_nothing_left(repo.path());
}

#[test]
fn a_control_room_on_a_headless_run_detaches_by_default_and_never_stops_it_unasked() {
    let repo = TestRepo::new();
    plan(&repo);
    let mut run = repo.spawn(&["--no-tui", "--approval-timeout", "10m"]);
    drop(wait_for_socket(&repo));
    assert!(wait_until(Duration::from_secs(10), || {
        repo.task_state("gate").as_deref() == Some("awaiting_approval")
    }));
    let room = Tmux::start("headless-room", repo.path(), ORCH);
    room.wait_for("gate");
    room.keys(&["q"]);
    room.wait_for("d / Enter: detach (default)");
    room.keys(&["Enter"]);
    let screen = room.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    assert!(screen.contains("detached"), "{screen}");
    assert!(run.try_wait().expect("the run").is_none(), "the run ended");
    let out = repo.run(&["approve", "gate"]);
    assert_eq!(out.code, 0, "{out}");
    let status = run.wait().expect("the run ends");
    assert_eq!(status.code(), Some(0));
    drop(room);
    assert_nothing_left(repo.path());
}
