//! Agents and orch: what each agent is given (`ORCH_SOCKET`, `ORCH_TOKEN`),
//! orch as the subreaper of what agents leave behind, who a client on the
//! socket is, and what an agent may ask.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;

/// The parent and state of `pid` per `/proc`.
fn parent_and_state(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.to_string();
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

fn sh_config(defaults: &str, tasks: &str) -> String {
    format!(
        "[defaults]\nretries = 0\n{defaults}\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n{tasks}"
    )
}

fn touch(path: &Path) {
    std::fs::write(path, "").expect("touch");
}

#[test]
fn an_agent_s_orphan_stays_orch_s_and_is_stopped_and_reaped_when_its_attempt_ends() {
    let repo = TestRepo::new();
    let pidfile = repo.path().join("orphan.pid");
    let go = repo.path().join("go");
    let hold = repo.path().join("hold");
    repo.write_config(&sh_config(
        "",
        &format!(
            "[[tasks]]\nid = \"parent\"\nagent = \"sh\"\nprompt = \"{} {} {}\"\n\
             [[tasks]]\nid = \"keeper\"\nagent = \"sh\"\nprompt = \"{} {}\"\n",
            agent("orphaner.sh"),
            pidfile.display(),
            go.display(),
            agent("until_file.sh"),
            hold.display(),
        ),
    ));
    let mut orch = repo.spawn(&["--no-tui"]);
    let orch_pid = orch.id();
    assert!(
        wait_until(Duration::from_secs(20), || !pids_in(&pidfile).is_empty()),
        "the agent never started its orphan"
    );
    let orphan = pids_in(&pidfile)[0];
    // Its parent subshell is gone: the sleep is orch's now, not init's.
    let adopted = wait_until(Duration::from_secs(10), || {
        parent_and_state(orphan).is_some_and(|(ppid, _)| ppid == orch_pid)
    });
    if !adopted {
        kill_leftovers(repo.path());
        let _ = orch.kill();
    }
    assert!(adopted, "orphan {orphan}: {:?}", parent_and_state(orphan));

    // The attempt ends: its orphan is stopped and, once a zombie, reaped by
    // orch (which still runs: "keeper" holds it open).
    touch(&go);
    let reaped = wait_until(Duration::from_secs(15), || {
        parent_and_state(orphan).is_none_or(|(ppid, _)| ppid != orch_pid)
    });
    let still_running = orch.try_wait().expect("try_wait").is_none();
    let left = parent_and_state(orphan);
    touch(&hold);
    let status = orch.wait().expect("wait");
    if !reaped {
        kill_leftovers(repo.path());
    }
    assert!(reaped, "orphan {orphan} left as {left:?}");
    assert!(still_running, "orch ended before it could be seen reaping");
    assert_eq!(status.code(), Some(0));
    assert_eq!(repo.task_state("parent").as_deref(), Some("done"));
    assert_nothing_left(repo.path());
}

/// The `security` events in state.db: (task, cause).
fn security_events(repo: &TestRepo) -> Vec<(Option<String>, String)> {
    let db = repo.db();
    let mut query = db
        .prepare("SELECT task_id, cause FROM events WHERE kind = 'security' ORDER BY seq")
        .expect("query");
    query
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn an_agent_can_approve_nothing_with_its_token_without_it_or_from_an_orphan() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger");
    let go = repo.path().join("go");
    let config = repo.path().join("orch.toml");
    repo.write_config(&sh_config(
        "",
        &format!(
            "[[tasks]]\nid = \"agent\"\nagent = \"sh\"\nprompt = \"{} {ORCH} {} gated {} {}\"\n\
             [[tasks]]\nid = \"gated\"\nagent = \"sh\"\nprompt = \"true\"\napproval = \"before_start\"\n",
            agent("approver.sh"),
            config.display(),
            ledger.display(),
            go.display(),
        ),
    ));
    let mut orch = repo.spawn(&["--no-tui", "--approval-timeout", "5m"]);
    let tried = wait_until(Duration::from_secs(30), || ledger_lines(&ledger).len() == 4);
    let lines = ledger_lines(&ledger);
    if !tried {
        touch(&go);
        let _ = orch.kill();
        kill_leftovers(repo.path());
    }
    assert!(tried, "{lines:#?}");
    for (line, how) in lines.iter().zip(["token", "no-token", "setsid", "own"]) {
        assert!(line.starts_with(&format!("{how} 1 ")), "{lines:#?}");
        assert!(line.contains("agents may only"), "{lines:#?}");
    }
    assert_eq!(
        repo.task_state("gated").as_deref(),
        Some("awaiting_approval")
    );
    // Each refusal is recorded for the agent's task, naming the process
    // (pid and command line) and what it tried.
    let events = security_events(&repo);
    assert_eq!(events.len(), 4, "{events:#?}");
    for (i, (task, cause)) in events.iter().enumerate() {
        assert_eq!(task.as_deref(), Some("agent"), "{events:#?}");
        assert!(cause.starts_with("pid "), "{cause}");
        assert!(cause.contains(" approve "), "{cause}");
        let tried = if i == 3 {
            "tried approve agent"
        } else {
            "tried approve gated"
        };
        assert!(cause.contains(tried), "{cause}");
        assert!(cause.contains("the agent of agent attempt 1"), "{cause}");
    }
    // The operator, whatever ORCH_TOKEN this test may have inherited, may.
    let out = repo.run(&["approve", "gated"]);
    assert_eq!(out.code, 0, "{out}");
    touch(&go);
    let status = orch.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    assert_eq!(repo.task_state("gated").as_deref(), Some("done"));
    assert_nothing_left(repo.path());
}

#[test]
fn heartbeats_carry_progress_and_a_note_to_status_and_keep_a_silent_agent_alive() {
    let repo = TestRepo::new();
    let go = repo.path().join("go");
    // Silent for far longer than the stall: only its heartbeats say it lives.
    repo.write_config(&sh_config(
        "heartbeat_warn = \"1s\"\nheartbeat_stall = \"2s\"",
        &format!(
            "[[tasks]]\nid = \"quiet\"\nagent = \"sh\"\nprompt = \"{} {ORCH} 8 {}\"\n",
            agent("heartbeats.sh"),
            go.display(),
        ),
    ));
    let mut orch = repo.spawn(&["--no-tui"]);
    // (Null until the run has written its store.)
    let last_attempt = |repo: &TestRepo| -> serde_json::Value {
        let Ok(out) = repo.orch(&["status", "--json"]).output() else {
            return serde_json::Value::Null;
        };
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        status["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["id"] == "quiet").cloned())
            .map(|t| t["last_attempt"].clone())
            .unwrap_or_default()
    };
    let mut seen = serde_json::Value::Null;
    let said = wait_until(Duration::from_secs(30), || {
        seen = last_attempt(&repo);
        seen["progress"] == 100
    });
    if !said {
        touch(&go);
        let _ = orch.kill();
        kill_leftovers(repo.path());
    }
    assert!(said, "{seen:#}");
    assert_eq!(seen["note"], "all steps done", "{seen:#}");
    assert_eq!(seen["status"], "running", "{seen:#}");
    // Well past heartbeat_stall since its only line of output: still running.
    assert_eq!(repo.task_state("quiet").as_deref(), Some("running"));
    let text = repo.run(&["status"]);
    assert!(text.stdout.contains("100%"), "{text}");
    assert!(text.stdout.contains("all steps done"), "{text}");
    touch(&go);
    let out = orch.wait_with_output().expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("progress"), "{stdout}");
    assert!(stdout.contains("step 1 of 8"), "{stdout}");
    assert_eq!(repo.task_state("quiet").as_deref(), Some("done"));
    // The attempt keeps what its agent last said.
    assert_eq!(last_attempt(&repo)["progress"], 100);
}

#[test]
fn heartbeat_outside_an_agent_is_a_usage_error() {
    let repo = TestRepo::new();
    let out = repo
        .orch(&["heartbeat", "--progress", "5"])
        .env_remove("ORCH_SOCKET")
        .env_remove("ORCH_TOKEN")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ORCH_SOCKET is not set"), "{stderr}");
    let out = repo
        .orch(&["heartbeat", "--progress", "101"])
        .env("ORCH_SOCKET", "/nowhere")
        .env("ORCH_TOKEN", "x")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "out of range");
}

#[test]
fn an_agent_stopped_at_its_timeout_takes_its_orphan_with_it() {
    let repo = TestRepo::new();
    let pidfile = repo.path().join("orphan.pid");
    let never = repo.path().join("never");
    repo.write_config(&sh_config(
        "timeout = \"2s\"",
        &format!(
            "[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} {} {}\"\n",
            agent("orphaner.sh"),
            pidfile.display(),
            never.display(),
        ),
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    let orphan = pids_in(&pidfile)
        .first()
        .copied()
        .expect("an orphan was started");
    let gone = wait_until(Duration::from_secs(5), || !pid_alive(orphan));
    if !gone {
        kill_leftovers(repo.path());
    }
    assert!(gone, "orphan {orphan} outlived its attempt");
}
