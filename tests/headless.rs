//! Headless runs of the real binary with real PTY agents in real temporary
//! git repositories.

mod common;

use std::time::Duration;

use common::*;

/// The ledger written by agents that log "start ID" and "end ID" shows
/// `tasks` runs, none overlapping another.
fn assert_ran_one_at_a_time(ledger: &std::path::Path, tasks: usize) {
    let lines: Vec<String> = std::fs::read_to_string(ledger)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 2 * tasks, "{lines:?}");
    for pair in lines.chunks(2) {
        assert!(pair[0].starts_with("start "), "{lines:?}");
        assert_eq!(
            pair[0].strip_prefix("start "),
            pair[1].strip_prefix("end "),
            "two runs overlapped: {lines:?}"
        );
    }
}

fn config(defaults: &str, tasks: &str) -> String {
    let retries = if defaults.contains("retries") {
        ""
    } else {
        "retries = 0"
    };
    format!(
        r#"
[project]
max_parallel = 4

[defaults]
{retries}
backoff = "50ms"
backoff_max = "200ms"
{defaults}

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

{tasks}
"#
    )
}

#[test]
fn diamond_runs_in_order_and_commits_each_branch() {
    let repo = TestRepo::new();
    let w = agent("worker.sh");
    repo.write_config(&config(
        "",
        &format!(
            r#"
[[tasks]]
id = "d"
agent = "sh"
prompt = "{w} 2 0.05"
depends_on = ["b", "c"]

[[tasks]]
id = "a"
agent = "sh"
prompt = "{w} 2 0.05"

[[tasks]]
id = "b"
agent = "sh"
prompt = "{w} 2 0.05"
depends_on = ["a"]

[[tasks]]
id = "c"
agent = "sh"
prompt = "{w} 2 0.05"
depends_on = ["a"]
"#
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "report.json", "--junit", "junit.xml"]);
    assert_eq!(out.code, 0, "{out}");
    let report = repo.read_json("report.json");
    assert_eq!(
        report["stages"],
        serde_json::json!([["a"], ["b", "c"], ["d"]])
    );
    for state in states(&report).values() {
        assert_eq!(state, "done");
    }
    for task in report["tasks"].as_array().unwrap() {
        assert_eq!(task["merge_state"], "unmerged", "{task}");
        assert_eq!(task["conflicts"], serde_json::json!([]), "{task}");
        assert_eq!(
            task["branch"],
            format!("orch/{}", task["id"].as_str().unwrap())
        );
    }
    // d started only after b and c ended.
    let attempt = |id: &str| {
        report["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap()["attempts"][0]
            .clone()
    };
    let d_start = attempt("d")["started_at"].as_str().unwrap().to_string();
    for dep in ["b", "c"] {
        let end = attempt(dep)["ended_at"].as_str().unwrap().to_string();
        assert!(end <= d_start, "{dep} ended {end}, d started {d_start}");
    }
    // Each task's uncommitted edits were committed on its own branch.
    for id in ["a", "b", "c", "d"] {
        let files = repo.git(&["ls-tree", "--name-only", &format!("orch/{id}")]);
        assert!(
            files.contains(&format!("notes-{id}.md")),
            "orch/{id}: {files}"
        );
        let msg = repo.git(&["log", "-1", "--format=%s", &format!("orch/{id}")]);
        assert!(msg.contains(id) && msg.contains("attempt 1"), "{msg}");
    }
    // The main checkout is untouched and .orch is excluded from git.
    let status = repo.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(!status.contains(".orch"), "{status}");
    assert!(!status.contains("notes-"), "{status}");
    let exclude = std::fs::read_to_string(repo.path().join(".git/info/exclude")).unwrap();
    assert!(exclude.contains(".orch"), "{exclude}");
    let junit = std::fs::read_to_string(repo.path().join("junit.xml")).unwrap();
    assert!(junit.contains("tests=\"4\" failures=\"0\""), "{junit}");
    // Progress lines name the transitions.
    assert!(out.stdout.contains("running"), "{out}");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.contains(" d ") && l.contains("done")),
        "{out}"
    );
}

#[test]
fn failure_blocks_dependents_while_independent_work_finishes() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "",
        &format!(
            r#"
[[tasks]]
id = "broken"
agent = "sh"
prompt = "{fail} 4"

[[tasks]]
id = "after-broken"
agent = "sh"
prompt = "{ok}"
depends_on = ["broken"]

[[tasks]]
id = "later"
agent = "sh"
prompt = "{ok}"
depends_on = ["after-broken"]

[[tasks]]
id = "independent"
agent = "sh"
prompt = "{ok} 3 0.05"
"#,
            fail = agent("fail.sh"),
            ok = agent("worker.sh"),
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json", "--junit", "j.xml"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let s = states(&report);
    assert_eq!(s["broken"], "needs_review");
    assert_eq!(s["after-broken"], "blocked");
    assert_eq!(s["later"], "blocked");
    assert_eq!(s["independent"], "done");
    let broken = &report["tasks"][0];
    assert_eq!(broken["attempts"][0]["exit_code"], 4);
    assert!(
        broken["cause"].as_str().unwrap().contains("exit code 4"),
        "{broken}"
    );
    let junit = std::fs::read_to_string(repo.path().join("j.xml")).unwrap();
    assert!(junit.contains("failures=\"3\""), "{junit}");
    assert!(
        junit.contains("cannot make the tests pass"),
        "screen tail missing: {junit}"
    );
    assert!(
        junit.contains("blocked: dependency broken is needs_review"),
        "{junit}"
    );
}

#[test]
fn fails_then_succeeds_on_retry() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "retries = 2",
        &format!(
            "[[tasks]]\nid = \"flaky\"\nagent = \"sh\"\nprompt = \"{} 2\"\n",
            agent("flaky.sh")
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = repo.read_json("r.json");
    let attempts = report["tasks"][0]["attempts"].as_array().unwrap().clone();
    assert_eq!(attempts.len(), 2, "{report}");
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[0]["exit_code"], 7);
    assert_eq!(attempts[1]["status"], "succeeded");
    assert!(out.stdout.contains("retrying"), "{out}");
    // The same worktree served both attempts; the branch has the fix.
    let files = repo.git(&["ls-tree", "--name-only", "orch/flaky"]);
    assert!(files.contains("flaky-flaky.txt"), "{files}");
}

#[test]
fn exhausted_retries_end_in_needs_review() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "retries = 2",
        &format!(
            "[[tasks]]\nid = \"never\"\nagent = \"sh\"\nprompt = \"{}\"\n",
            agent("fail.sh")
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    assert_eq!(report["tasks"][0]["state"], "needs_review");
    assert_eq!(report["tasks"][0]["attempts"].as_array().unwrap().len(), 3);
}

#[test]
fn timeout_stops_the_attempt() {
    let repo = TestRepo::new();
    let pidfile = repo.path().join("pids");
    repo.write_config(&config(
        "timeout = \"1s\"",
        &format!(
            "[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} {}\"\n",
            agent("spawner.sh"),
            pidfile.display()
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let cause = report["tasks"][0]["cause"].as_str().unwrap().to_string();
    assert!(cause.contains("timed out after 1s"), "{cause}");
    // No helper of the agent survives, not even the one in its own session.
    let pids = std::fs::read_to_string(&pidfile).unwrap();
    for pid in pids.split_whitespace().map(|p| p.parse::<u32>().unwrap()) {
        assert!(
            wait_until(Duration::from_secs(5), || !pid_alive(pid)),
            "pid {pid} survived"
        );
    }
}

#[test]
fn silent_agent_is_stalled() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "heartbeat_warn = \"300ms\"\nheartbeat_stall = \"1s\"",
        &format!(
            "[[tasks]]\nid = \"hung\"\nagent = \"sh\"\nprompt = \"{}\"\n",
            agent("silent.sh")
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let cause = report["tasks"][0]["cause"].as_str().unwrap();
    assert!(cause.contains("stalled: no output for 1s"), "{cause}");
}

#[test]
fn a_process_that_ignores_sigterm_is_killed() {
    let repo = TestRepo::new();
    let pidfile = repo.path().join("pid");
    // The agent command is the script itself, so the session leader is the
    // process that ignores SIGTERM.
    repo.write_config(&format!(
        "[defaults]\nretries = 0\ntimeout = \"500ms\"\n[agents.stubborn]\ncommand = [\"{}\", \"{}\"]\n[[tasks]]\nid = \"s\"\nagent = \"stubborn\"\n",
        agent("stubborn.sh"),
        pidfile.display()
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    assert_eq!(report["tasks"][0]["attempts"][0]["signal"], 9, "{report}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!pid_alive(pid));
}

#[test]
fn crash_by_signal_is_a_failure_with_its_cause() {
    let repo = TestRepo::new();
    // Run directly, the crash is the leader's own death by signal; under a
    // shell it is the shell's exit code 128+n. Both must say what happened.
    repo.write_config(&format!(
        "[defaults]\nretries = 0\n[agents.crash]\ncommand = [\"{c}\"]\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}; exit $?\"]\n[[tasks]]\nid = \"direct\"\nagent = \"crash\"\n[[tasks]]\nid = \"wrapped\"\nagent = \"sh\"\nprompt = \"{c}\"\n",
        c = agent("crash.sh")
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let direct = report["tasks"][0]["cause"].as_str().unwrap();
    assert!(
        direct.contains("signal 11") && direct.contains("SIGSEGV"),
        "{direct}"
    );
    assert_eq!(report["tasks"][0]["attempts"][0]["signal"], 11);
    let wrapped = report["tasks"][1]["cause"].as_str().unwrap();
    assert!(
        wrapped.contains("exit code 139") && wrapped.contains("SIGSEGV"),
        "{wrapped}"
    );
}

#[test]
fn missing_command_fails_that_task_only() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"
[defaults]
retries = 3
backoff = "10ms"

[agents.ghost]
command = ["orch-no-such-agent-xyz", "{{prompt}}"]

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "ghostly"
agent = "ghost"

[[tasks]]
id = "fine"
agent = "sh"
prompt = "{ok}"
"#,
        ok = agent("worker.sh")
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let s = states(&report);
    assert_eq!(s["ghostly"], "needs_review");
    assert_eq!(s["fine"], "done");
    let ghostly = &report["tasks"][0];
    assert!(
        ghostly["cause"]
            .as_str()
            .unwrap()
            .contains("command not found"),
        "{ghostly}"
    );
    // Not retried: a missing program does not appear by waiting.
    assert_eq!(ghostly["attempts"].as_array().unwrap().len(), 1);
}

#[test]
fn fallback_agent_runs_when_the_first_is_missing() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"
[agents.fancy]
command = ["orch-no-such-agent-xyz"]
fallback = "sh"

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "t"
agent = "fancy"
prompt = "{ok} 1 0"
"#,
        ok = agent("worker.sh")
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = repo.read_json("r.json");
    assert_eq!(report["tasks"][0]["attempts"][0]["agent"], "sh");
    assert!(
        out.stdout
            .contains("agent sh (fallback: fancy is not installed)"),
        "{out}"
    );
}

#[test]
fn flood_keeps_memory_bounded_and_caps_the_log() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "",
        &format!(
            "[[tasks]]\nid = \"flood\"\nagent = \"sh\"\nprompt = \"{} 3000000\"\n",
            agent("flood.sh")
        ),
    ));
    let mut child = repo.spawn(&["--no-tui"]);
    let pid = child.id();
    let mut peak_kib = 0u64;
    while child.try_wait().expect("wait").is_none() {
        if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // ~21 MB of output went through; orch's memory stays far below what an
    // unbounded buffer or scrollback would need.
    assert!(
        peak_kib > 0 && peak_kib < 150 * 1024,
        "peak RSS {peak_kib} KiB"
    );
    let logs = repo.state_dir().join("logs/flood");
    let mut total = 0;
    for entry in std::fs::read_dir(&logs).unwrap().flatten() {
        let len = entry.metadata().unwrap().len();
        assert!(
            len <= 16 * 1024 * 1024 + 65536,
            "{:?} is {len} bytes",
            entry.path()
        );
        total += len;
    }
    assert!(total > 0);
    // The end of the flood is kept.
    let out = repo.run(&["logs", "flood"]);
    assert!(
        out.stdout.trim_end().ends_with("flood finished"),
        "tail: {:?}",
        &out.stdout[out.stdout.len().saturating_sub(200)..]
    );
}

#[test]
fn approval_timeout_rejects_and_exits_3_then_approve_all_runs_it() {
    let repo = TestRepo::new();
    let ok = agent("worker.sh");
    repo.write_config(&config(
        "",
        &format!(
            r#"
[[tasks]]
id = "risky"
agent = "sh"
prompt = "{ok} 1 0"
risk = "high"

[[tasks]]
id = "after-risky"
agent = "sh"
prompt = "{ok} 1 0"
depends_on = ["risky"]

[[tasks]]
id = "gated"
agent = "sh"
prompt = "{ok} 1 0"
approval = "before_start"

[[tasks]]
id = "free"
agent = "sh"
prompt = "{ok} 1 0"
"#
        ),
    ));
    let out = repo.run(&[
        "--no-tui",
        "--approval-timeout",
        "300ms",
        "--json",
        "r.json",
    ]);
    assert_eq!(out.code, 3, "{out}");
    let s = states(&repo.read_json("r.json"));
    assert_eq!(s["risky"], "rejected");
    assert_eq!(s["gated"], "rejected");
    assert_eq!(s["after-risky"], "blocked");
    assert_eq!(s["free"], "done");
    let db = repo.db();
    let (by, reason): (String, String) = db
        .query_row(
            "SELECT by, reason FROM approvals WHERE task_id = 'risky'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(
        (by.as_str(), reason.as_str()),
        ("timeout", "approval timed out")
    );

    let out = repo.run(&["--no-tui", "--approve-all", "--json", "r.json"]);
    assert_eq!(out.code, 0, "{out}");
    let s = states(&repo.read_json("r.json"));
    assert!(s.values().all(|v| v == "done"), "{s:?}");
    let approved: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM approvals WHERE decision = 'approved' AND by = '--approve-all'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved, 2);
}

#[test]
fn singleton_agent_never_runs_twice_at_once() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger");
    repo.write_config(&format!(
        r#"
[project]
max_parallel = 8

[agents.solo]
command = ["sh", "-c", "echo start $ORCH_TASK_ID >> {l}; sleep 0.3; echo end $ORCH_TASK_ID >> {l}"]
max_instances = 1

[[tasks]]
id = "one"
agent = "solo"

[[tasks]]
id = "two"
agent = "solo"

[[tasks]]
id = "three"
agent = "solo"
"#,
        l = ledger.display()
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_ran_one_at_a_time(&ledger, 3);
}

#[test]
fn dirty_foreign_directory_at_worktree_path_is_refused_untouched() {
    let repo = TestRepo::new();
    let dir = repo.state_dir().join("worktrees/t");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("precious.txt"), "do not lose me").unwrap();
    repo.write_config(&config(
        "",
        &format!(
            "[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{}\"\n",
            agent("worker.sh")
        ),
    ));
    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("r.json");
    let cause = report["tasks"][0]["cause"].as_str().unwrap();
    assert!(cause.starts_with("worktree:"), "{cause}");
    assert_eq!(
        std::fs::read_to_string(dir.join("precious.txt")).unwrap(),
        "do not lose me"
    );
}

#[test]
fn agent_commits_are_kept_on_the_branch() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "",
        &format!(
            "[[tasks]]\nid = \"c\"\nagent = \"sh\"\nprompt = \"{}\"\n",
            agent("committer.sh")
        ),
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let log = repo.git(&["log", "--format=%s", "orch/c"]);
    assert!(log.starts_with("add src/c.rs"), "{log}");
}

#[test]
fn fallback_agents_count_against_their_own_max_instances() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger");
    repo.write_config(&format!(
        r#"
[project]
max_parallel = 8

[agents.claude]
command = ["orch-no-such-agent-xyz"]
max_instances = 1
fallback = "sh"

[agents.sh]
command = ["sh", "-c", "echo start $ORCH_TASK_ID >> {l}; sleep 0.3; echo end $ORCH_TASK_ID >> {l}"]
max_instances = 1

[[tasks]]
id = "one"
agent = "claude"

[[tasks]]
id = "two"
agent = "claude"

[[tasks]]
id = "three"
agent = "sh"
"#,
        l = ledger.display()
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_ran_one_at_a_time(&ledger, 3);
}

#[test]
fn a_gate_left_waiting_by_an_interrupted_run_waits_again_in_the_next() {
    let repo = TestRepo::new();
    repo.write_config(&config(
        "",
        &format!(
            "[[tasks]]\nid = \"gate\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\nrisk = \"critical\"\n",
            agent("worker.sh")
        ),
    ));
    // A timeout far beyond any clock must not overflow anything.
    let huge = "18000000000000000000s";
    for run in 0..2 {
        let mut child = repo.spawn(&["--no-tui", "--approval-timeout", huge]);
        assert!(
            wait_until(Duration::from_secs(10), || {
                repo.task_state("gate").as_deref() == Some("awaiting_approval")
            }),
            "run {run}: the gate never waited"
        );
        // Still waiting a moment later: not rejected at once.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            repo.task_state("gate").as_deref(),
            Some("awaiting_approval"),
            "run {run}"
        );
        // SAFETY: plain kill(2) of our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "run {run}");
    }
}
