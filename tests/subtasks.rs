//! Subtasks end to end: an agent decomposes its task with `orch task add
//! --parent $ORCH_TASK_ID` from inside a headless run (over its socket),
//! the subtasks run from its work, and it runs again to integrate theirs;
//! a runaway agent is held to the limit; a failed subtask blocks its
//! parent; a restart in the middle loses nothing.

mod common;

use std::time::Duration;

use common::*;

/// A plan of one task `p` run by `agent` (a script under tests/agents/
/// with its arguments), subtasks run by `sh` (`sh_command` around their
/// prompt), and `extra` settings.
fn plan(repo: &TestRepo, agent: &str, sh_command: &str, extra: &str) {
    let config = repo.path().join("orch.toml");
    repo.write_config(&format!(
        r#"{extra}
[agents.parent]
command = [{agent}]
env = {{ ORCH_BIN = "{orch}", ORCH_CONFIG = "{config}" }}

[agents.sh]
command = ["sh", "-c", "{sh_command}"]

[[tasks]]
id = "p"
agent = "parent"
prompt = "integrate:\n{{children}}"
"#,
        orch = ORCH,
        config = config.display(),
    ));
}

fn decomposer() -> String {
    format!("\"{}\", \"{{prompt}}\"", agent("decomposer.sh"))
}

/// What `rev` holds at `path` in the repository, if anything.
fn show(repo: &TestRepo, rev: &str, path: &str) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["show", &format!("{rev}:{path}")])
        .current_dir(repo.path())
        .output()
        .expect("git show");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn parent_of(repo: &TestRepo, task: &str) -> Option<String> {
    repo.db()
        .query_row("SELECT parent FROM tasks WHERE id = ?1", [task], |r| {
            r.get(0)
        })
        .expect("a task row")
}

#[test]
fn an_agent_splits_its_task_and_integrates_its_subtasks_work() {
    let repo = TestRepo::new();
    plan(&repo, &decomposer(), "{prompt}", "");
    let out = repo.run(&["--no-tui", "--json", "report.json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = repo.read_json("report.json");
    let all = states(&report);
    for id in ["p", "p-base", "p-left", "p-right"] {
        assert_eq!(
            all.get(id).map(String::as_str),
            Some("done"),
            "{id}: {all:?}"
        );
    }
    let parent = |id: &str| {
        report["tasks"]
            .as_array()
            .and_then(|tasks| tasks.iter().find(|t| t["id"] == id))
            .map(|t| t["parent"].clone())
    };
    assert_eq!(parent("p-left"), Some(serde_json::json!("p")));
    assert_eq!(parent("p"), Some(serde_json::Value::Null));
    let status = repo.run(&["status"]);
    assert!(
        status.stdout.lines().any(|l| l.starts_with("  p-right ")),
        "nested in orch status: {status}"
    );
    assert!(
        out.stdout.lines().any(|l| l.starts_with("  p-base ")),
        "nested in the summary: {out}"
    );
    assert_eq!(repo.attempt_count("p"), 2, "it ran again to integrate");
    for id in ["p-base", "p-left", "p-right"] {
        assert_eq!(repo.attempt_count(id), 1);
        assert_eq!(parent_of(&repo, id).as_deref(), Some("p"));
    }
    assert_eq!(parent_of(&repo, "p"), None);

    // The subtasks started from the parent's work, one from another's.
    assert_eq!(
        show(&repo, "orch/p-left", "left.txt").as_deref(),
        Some("plan of p\nbase\nleft\n")
    );
    // Their work is in the parent's branch, one merge commit each, and the
    // integration on top.
    assert_eq!(
        show(&repo, "orch/p", "integration.txt").as_deref(),
        Some("plan of p\nbase\nplan of p\nbase\nleft\nplan of p\nbase\nright\n")
    );
    let log = repo.git(&["log", "--format=%s", "orch/p"]);
    for child in ["p-base", "p-left", "p-right"] {
        assert!(
            log.lines().any(|l| l == format!("Merge orch/{child}")),
            "{log}"
        );
    }
    assert!(log.starts_with("integrate the subtasks of p\n"), "{log}");
    let second = std::fs::read_to_string(repo.state_dir().join("logs/p/2.log")).expect("log");
    assert!(second.contains("p-left: done"), "{second}");
}

#[test]
fn a_runaway_agent_is_refused_past_the_limit_and_the_run_goes_on() {
    let repo = TestRepo::new();
    let runaway = format!("\"{}\", \"5\"", agent("runaway.sh"));
    plan(&repo, &runaway, "{prompt}", "[project]\nmax_subtasks = 2\n");
    let out = repo.run(&["--no-tui", "--json", "report.json"]);
    assert_eq!(out.code, 0, "{out}");
    let all = states(&repo.read_json("report.json"));
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        ["p", "p-1", "p-2"],
        "nothing past the limit was stored"
    );
    assert!(all.values().all(|s| s == "done"), "{all:?}");
    let first = std::fs::read_to_string(repo.state_dir().join("logs/p/1.log")).expect("log");
    let refused = first
        .lines()
        .filter(|l| l.contains("refused") && l.contains("max_subtasks = 2"))
        .count();
    assert_eq!(refused, 3, "{first}");
    assert_eq!(repo.attempt_count("p"), 2);
}

#[test]
fn a_subtask_that_ends_needs_review_blocks_its_parent() {
    let repo = TestRepo::new();
    plan(&repo, &decomposer(), "exit 1", "[defaults]\nretries = 0\n");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(repo.task_state("p-base").as_deref(), Some("needs_review"));
    assert_eq!(repo.task_state("p").as_deref(), Some("blocked"));
    let cause = repo.task_field("p", "cause").unwrap_or_default();
    assert!(cause.contains("subtask p-base is needs_review"), "{cause}");
    assert_eq!(repo.attempt_count("p"), 1, "it did not run again");
}

#[test]
fn a_restart_in_the_middle_keeps_the_subtasks_and_the_parent_waiting() {
    let repo = TestRepo::new();
    let release = repo.path().join("release");
    let held = format!(
        "{} {} && {{prompt}}",
        agent("until_file.sh"),
        release.display()
    );
    plan(&repo, &decomposer(), &held, "");
    let mut run = repo.spawn(&["--no-tui"]);
    assert!(
        wait_until(Duration::from_secs(30), || {
            repo.task_state("p").as_deref() == Some("blocked")
                && repo.task_state("p-base").as_deref() == Some("running")
        }),
        "the parent never waited for its subtasks"
    );
    run.kill().expect("kill -9");
    run.wait().expect("reaped");
    assert_eq!(repo.task_state("p").as_deref(), Some("blocked"));
    assert_eq!(parent_of(&repo, "p-right").as_deref(), Some("p"));

    std::fs::write(&release, "").expect("release");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    for id in ["p", "p-base", "p-left", "p-right"] {
        assert_eq!(repo.task_state(id).as_deref(), Some("done"), "{id}");
    }
    assert_eq!(
        repo.attempt_count("p"),
        2,
        "the first attempt is not run again"
    );
    assert!(show(&repo, "orch/p", "integration.txt").is_some());
}
