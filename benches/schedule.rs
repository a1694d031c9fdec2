//! Scheduling overhead: 500 trivial tasks (`true`) with `max_parallel = 8`,
//! end to end through the real engine (store writes, worktrees, PTYs,
//! commits), next to worktree creation alone for the same 500 tasks.
//!
//! `cargo bench --bench schedule` (add `-- N` for another task count).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use orch::engine::{Engine, EngineOptions};
use orch::git::Repo;
use orch::session::{load_config, Session};

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

fn new_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    // A small but real tree: 50 files.
    for i in 0..50 {
        std::fs::write(dir.path().join(format!("file{i}.txt")), format!("{i}\n")).expect("write");
    }
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    dir
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(500);

    // 1. Worktree creation alone.
    let dir = new_repo();
    let repo = Repo::discover(dir.path()).expect("repo");
    let start = Instant::now();
    for i in 0..n {
        let id = format!("t{i}");
        repo.prepare_worktree(&orch::git::Prepare {
            task: id.clone(),
            dir: dir.path().join(".orch/worktrees").join(&id),
            base: "main".into(),
            deps: vec![],
            known: orch::git::Known::No,
            mode: orch::git::StartMode::Continue,
            include: vec![],
            children: vec![],
        })
        .expect("worktree");
    }
    let wt = start.elapsed();

    // 2. The whole engine.
    let dir = new_repo();
    let mut toml = String::from(
        "[project]\nmax_parallel = 8\n[defaults]\nretries = 0\n[agents.true]\ncommand = [\"true\"]\n",
    );
    for i in 0..n {
        toml.push_str(&format!("[[tasks]]\nid = \"t{i}\"\nagent = \"true\"\n"));
    }
    std::fs::write(dir.path().join("orch.toml"), toml).expect("write config");
    let config = load_config(&dir.path().join("orch.toml")).expect("config");
    let session = Session::open(config).expect("session");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let start = Instant::now();
    let outcome = runtime.block_on(async {
        let (engine, _handle) = Engine::new(
            session.config,
            session.store,
            session.repo,
            session.base_branch,
            EngineOptions::default(),
        )
        .expect("engine");
        engine.run().await.expect("run")
    });
    let total = start.elapsed();
    assert_eq!(outcome.exit_code, 0);

    println!("scheduling {n} trivial tasks, max_parallel = 8");
    println!(
        "  worktree creation alone : {:>8.1} worktrees/s ({:.2} ms each)",
        n as f64 / wt.as_secs_f64(),
        wt.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "  whole engine            : {:>8.1} tasks/s     ({:.2} ms each; {:.2} s total)",
        n as f64 / total.as_secs_f64(),
        total.as_secs_f64() * 1000.0 / n as f64,
        total.as_secs_f64()
    );
}
