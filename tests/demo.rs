//! The repository's own `orch.toml`, the demo the README's first command
//! runs: copied with its scripted agents into a fresh repository and run
//! headless, it ends with every task done, and shows what it claims to
//! (a fallback, a retry, gates, progress, messages, subtasks, a sandbox).

mod common;

use std::path::Path;

use common::TestRepo;

fn copy_demo(repo: &TestRepo) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("orch.toml"), repo.path().join("orch.toml")).expect("orch.toml");
    let agents = repo.path().join("tests/agents");
    std::fs::create_dir_all(&agents).expect("agents dir");
    for entry in std::fs::read_dir(root.join("tests/agents")).expect("agents") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let to = agents.join(path.file_name().expect("name"));
            std::fs::copy(&path, &to).expect("copy agent");
        }
    }
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "the demo plan"]);
}

#[test]
fn the_demo_plan_runs_every_task_to_done_and_shows_its_features() {
    // Outside the temp directory, so the confined agent is confined.
    let repo = TestRepo::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")));
    copy_demo(&repo);
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = common::path_without_agent_clis();
    let out = common::RunResult::from(
        repo.orch(&["--no-tui", "--approve-all"])
            .env("TMPDIR", scratch.path())
            // The plan's own waits, shortened: its question is left
            // unanswered (its default taken), its build log is a second.
            .env("DEMO_ASK_WAIT", "3")
            .env("DEMO_BUILD_SECONDS", "1")
            .env("PATH", path.path())
            .output()
            .expect("run the demo"),
    );
    assert_eq!(out.code, 0, "{out}");
    let status = repo.status();
    let tasks = status["tasks"].as_array().expect("tasks");
    assert!(tasks.len() >= 15, "{status}");
    for task in tasks {
        assert_eq!(task["state"], "done", "{task}");
    }
    for seen in [
        "fallback: claude is not installed",
        "retry in",
        "approved by --approve-all",
        "added by agent tests",
        "merged the work of subtask(s) tests-base, tests-left, tests-right",
        "#1 from task storage: schema: users(id, name)",
        "waiting for input: Which database shall I use, sqlite or postgres?",
    ] {
        assert!(out.stdout.contains(seen), "missing {seen:?}\n{out}");
    }
    // storage started from choose-db's answer (the default, unanswered).
    let storage =
        std::fs::read_to_string(repo.state_dir().join("logs/storage/1.log")).expect("log");
    assert!(storage.contains("database: sqlite"), "{storage}");
    let db = repo.db();
    let unread: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM messages WHERE state != 'acknowledged'",
            [],
            |r| r.get(0),
        )
        .expect("messages");
    assert_eq!(unread, 0);
    let progress: Option<u8> = db
        .query_row(
            "SELECT progress FROM attempts WHERE task_id = 'design' ORDER BY attempt DESC",
            [],
            |r| r.get(0),
        )
        .expect("design's attempt");
    assert_eq!(progress, Some(100));
    let sandbox: String = db
        .query_row(
            "SELECT sandbox FROM attempts WHERE task_id = 'docs' ORDER BY attempt DESC",
            [],
            |r| r.get(0),
        )
        .expect("docs's attempt");
    let docs = std::fs::read_to_string(repo.state_dir().join("logs/docs/1.log")).expect("log");
    match orch::agent::sandbox::kernel::support() {
        orch::agent::sandbox::Support::Available(abi)
            if abi >= orch::agent::sandbox::rules::FULL_ABI =>
        {
            assert_eq!(sandbox, "worktree");
            assert!(docs.contains("refused by the kernel"), "{docs}");
        }
        _ => assert_ne!(sandbox, "worktree"),
    }
}
