//! A killed or interrupted orch loses nothing: the next run resumes, done
//! tasks never run again, interrupted attempts continue in the same worktree.

mod common;

use std::time::Duration;

use common::*;

fn plan(ledger: &std::path::Path, long_secs: u32) -> String {
    let l = agent("ledger.sh");
    format!(
        r#"
[defaults]
retries = 0

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "quick"
agent = "sh"
prompt = "{l} {ledger} 0"

[[tasks]]
id = "long"
agent = "sh"
prompt = "{l} {ledger} {long_secs}"

[[tasks]]
id = "after"
agent = "sh"
prompt = "{l} {ledger} 0"
depends_on = ["quick", "long"]
"#,
        ledger = ledger.display()
    )
}

/// Each task ran exactly as often as expected ("long" twice: attempt 1
/// interrupted, attempt 2 resumed) and the dependent task ran last. quick and
/// long start together, so their relative order is not fixed.
fn assert_ran_once_each_and_long_resumed(lines: &[String]) {
    let mut sorted = lines.to_vec();
    sorted.sort();
    assert_eq!(
        sorted,
        vec!["after 1", "long 1", "long 2", "quick 1"],
        "{lines:?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some("after 1"),
        "{lines:?}"
    );
    let pos = |l: &str| lines.iter().position(|x| x == l);
    assert!(pos("long 1") < pos("long 2"), "{lines:?}");
}

#[test]
fn kill_dash_nine_then_resume_runs_nothing_twice() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger, 60));
    let mut child = repo.spawn(&["--no-tui"]);
    assert!(
        wait_until(Duration::from_secs(20), || {
            repo.task_state("quick").as_deref() == Some("done")
                && ledger_lines(&ledger).contains(&"long 1".to_string())
        }),
        "quick never finished / long never started"
    );
    let long_pid: u32 = repo
        .db()
        .query_row(
            "SELECT pid FROM attempts WHERE task_id = 'long' AND attempt = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
    // The db still says long is running: that is what a crash leaves.
    let stored: String = repo
        .db()
        .query_row("SELECT state FROM tasks WHERE id = 'long'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, "running");
    // Status, with nothing running, does not say it runs.
    assert_eq!(repo.task_state("long").as_deref(), Some("queued"));

    // Second run: the long task is quick now (an edit to a task that has not
    // finished takes effect).
    repo.write_config(&plan(&ledger, 0));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout.contains("already done, not run again: quick"),
        "{out}"
    );
    assert_ran_once_each_and_long_resumed(&ledger_lines(&ledger));
    // The agent orphaned by the kill did not survive.
    assert!(wait_until(Duration::from_secs(5), || !pid_alive(long_pid)));
    let db = repo.db();
    let status: String = db
        .query_row(
            "SELECT status FROM attempts WHERE task_id = 'long' AND attempt = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "interrupted");
    let interrupted_events: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM events WHERE kind = 'attempt_interrupted' AND task_id = 'long'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(interrupted_events, 1);
    // Attempt 2 ran in the same worktree: the branch holds its work.
    let files = repo.git(&["ls-tree", "--name-only", "orch/long"]);
    assert!(files.contains("done-long.txt"), "{files}");

    // A third run does nothing at all.
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(ledger_lines(&ledger).len(), 4);
}

#[test]
fn ctrl_c_stops_agents_saves_state_and_exits_130() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger, 60));
    let child = repo.spawn(&["--no-tui"]);
    assert!(wait_until(Duration::from_secs(20), || {
        ledger_lines(&ledger).contains(&"long 1".to_string())
            && repo.task_state("long").as_deref() == Some("running")
    }));
    let long_pid: u32 = repo
        .db()
        .query_row(
            "SELECT pid FROM attempts WHERE task_id = 'long' AND attempt = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(
        !pid_alive(long_pid),
        "agent still running after orch exited"
    );
    // Interrupted cleanly: the attempt is closed and the task queued again.
    assert_eq!(repo.task_state("long").as_deref(), Some("queued"));
    let status: String = repo
        .db()
        .query_row(
            "SELECT status FROM attempts WHERE task_id = 'long' AND attempt = 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "interrupted");

    repo.write_config(&plan(&ledger, 0));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_ran_once_each_and_long_resumed(&ledger_lines(&ledger));
}

#[test]
fn second_orch_on_the_same_state_is_refused() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger, 60));
    let child = repo.spawn(&["--no-tui"]);
    assert!(wait_until(Duration::from_secs(20), || {
        ledger_lines(&ledger).contains(&"long 1".to_string())
    }));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains("already running"), "{out}");
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
