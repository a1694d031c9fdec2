//! Shared helpers for the integration tests: temporary git repositories,
//! running the real `orch` binary, and waiting for conditions with deadlines.
#![allow(dead_code)]

pub mod tmux;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const ORCH: &str = env!("CARGO_BIN_EXE_orch");

/// Absolute path of a test agent script.
pub fn agent(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A temporary git repository with one commit on `main`.
pub struct TestRepo {
    pub dir: tempfile::TempDir,
}

impl TestRepo {
    pub fn new() -> TestRepo {
        TestRepo::new_in(&std::env::temp_dir())
    }

    /// The same repository made under `parent` (for a sandboxed agent,
    /// whose temp directory must not hold the repository).
    pub fn new_in(parent: &Path) -> TestRepo {
        let dir = tempfile::Builder::new()
            .prefix("orch-test-")
            .tempdir_in(parent)
            .expect("tempdir");
        let repo = TestRepo { dir };
        repo.git(&["init", "-q", "-b", "main"]);
        std::fs::write(repo.path().join("README.md"), "test repo\n").expect("write");
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "initial"]);
        repo
    }

    /// A repository whose `main` has one more commit adding `files` small
    /// files (100 to a directory), the size at which checkouts take long
    /// enough to be interrupted. Built with git2 from one shared blob, so
    /// making it costs little; the main worktree is left as it was (only
    /// task worktrees check the files out).
    pub fn with_many_files(files: usize) -> TestRepo {
        let repo = TestRepo::new();
        let git = git2::Repository::open(repo.path()).expect("open");
        let blob = git.blob(b"a small file\n").expect("blob");
        let head = git.head().expect("head").peel_to_commit().expect("commit");
        let mut root = git
            .treebuilder(Some(&head.tree().expect("tree")))
            .expect("root");
        for d in 0..files.div_ceil(100) {
            let mut sub = git.treebuilder(None).expect("tree");
            for f in 0..100.min(files - d * 100) {
                sub.insert(format!("f{f}.txt"), blob, 0o100644)
                    .expect("file");
            }
            let sub = sub.write().expect("write tree");
            root.insert(format!("d{d}"), sub, 0o040000).expect("dir");
        }
        let tree = git
            .find_tree(root.write().expect("write root"))
            .expect("tree");
        let sig = git2::Signature::now("test", "test@example.com").expect("sig");
        git.commit(Some("HEAD"), &sig, &sig, "many files", &tree, &[&head])
            .expect("commit");
        repo
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(self.path())
            .env("GIT_AUTHOR_NAME", "test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn write_config(&self, toml: &str) {
        std::fs::write(self.path().join("orch.toml"), toml).expect("write orch.toml");
    }

    pub fn orch(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ORCH);
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("ORCH_CONFIG")
            .env_remove("ORCH_SOCKET")
            .env_remove("ORCH_TOKEN")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Run orch to completion.
    pub fn run(&self, args: &[&str]) -> RunResult {
        let out = self.orch(args).output().expect("run orch");
        RunResult::from(out)
    }

    /// Start orch in the background with piped output.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.orch(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn orch")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path().join(".orch")
    }

    /// `orch status --json`, parsed.
    pub fn status(&self) -> serde_json::Value {
        let out = self.run(&["status", "--json"]);
        assert_eq!(out.code, 0, "status failed: {}", out.stderr);
        serde_json::from_str(&out.stdout).expect("status json")
    }

    /// The state of one task per `orch status --json`.
    pub fn task_state(&self, id: &str) -> Option<String> {
        self.task_field(id, "state")
    }

    /// A text field of one task per `orch status --json`.
    pub fn task_field(&self, id: &str, field: &str) -> Option<String> {
        let out = self.orch(&["status", "--json"]).output().ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        v["tasks"]
            .as_array()?
            .iter()
            .find(|t| t["id"] == id)
            .and_then(|t| t[field].as_str().map(str::to_string))
    }

    /// How many attempts of `task` state.db records.
    pub fn attempt_count(&self, task: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT COUNT(*) FROM attempts WHERE task_id = ?1",
                [task],
                |r| r.get(0),
            )
            .expect("count attempts")
    }

    pub fn read_json(&self, rel: &str) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path().join(rel)).expect("read report");
        serde_json::from_str(&text).expect("parse report")
    }

    /// Rows of a query against state.db, via the sqlite3-free route: the
    /// JSON report. (Tests that need raw tables open the db with rusqlite.)
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.state_dir().join("state.db")).expect("open state.db")
    }
}

pub struct RunResult {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for RunResult {
    fn from(out: Output) -> Self {
        RunResult {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Display for RunResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Poll `pred` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut pred: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if pred() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

/// The lines of a ledger file the test agents append to (none if missing).
pub fn ledger_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Task ids from a report's `tasks` array, keyed to their state.
pub fn states(report: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    report["tasks"]
        .as_array()
        .expect("tasks array")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_string(),
                t["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The live processes that belong to `dir`: working in it (or below), or
/// naming a path in it on their command line (a server's `--config`, an
/// agent's arguments). `(pid, command line)`, this test process left out.
pub fn processes_of(dir: &Path) -> Vec<(u32, String)> {
    let mut roots = vec![dir.to_path_buf()];
    if let Ok(real) = dir.canonicalize() {
        if real != dir {
            roots.push(real);
        }
    }
    let names: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    let me = std::process::id();
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me || !pid_alive(pid) {
            continue;
        }
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| String::from_utf8_lossy(&raw).replace('\0', " "))
            .unwrap_or_default();
        let works_there = cwd.is_some_and(|cwd| roots.iter().any(|r| cwd.starts_with(r)));
        let names_it = names
            .iter()
            .any(|n| cmdline.contains(&format!("{n}/")) || cmdline.split(' ').any(|arg| arg == n));
        if (works_there || names_it) && pid_alive(pid) {
            found.push((pid, cmdline.trim_end().to_string()));
        }
    }
    found
}

/// SIGKILL to whatever still runs for `dir` (a failed test's cleanup).
pub fn kill_leftovers(dir: &Path) {
    for (pid, _) in processes_of(dir) {
        // SAFETY: plain kill(2) of a process the test started (found by
        // its directory just now).
        unsafe {
            libc::kill(pid as i32, libc::SIGKILL);
        }
    }
}

/// The pid of the orch running for `repo` (the run lock's holder), from
/// `orch status --json`.
pub fn server_pid(repo: &TestRepo) -> Option<u32> {
    repo.status()["running_instance"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
}

/// The pids a test agent wrote to `path`, one a line (none yet if missing).
pub fn pids_in(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Fail unless every process of `dir` is gone (given a few seconds: a
/// closed terminal's shell takes a moment to hear it). SIGKILLs what is
/// left, so a failed check leaves nothing running.
pub fn assert_nothing_left(dir: &Path) {
    let mut left = Vec::new();
    let gone = wait_until(Duration::from_secs(10), || {
        left = processes_of(dir);
        left.is_empty()
    });
    if !gone {
        kill_leftovers(dir);
    }
    assert!(
        gone,
        "processes left behind in {}: {left:#?}",
        dir.display()
    );
}

/// A directory to use as `PATH` that has every program of `/usr/bin` and
/// `/bin` but the agent CLIs (claude, codex, aider, gemini): a plan's
/// fallbacks are taken however this machine is set up.
pub fn path_without_agent_clis() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for from in ["/usr/bin", "/bin"] {
        let Ok(entries) = std::fs::read_dir(from) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            if ["claude", "codex", "aider", "gemini"]
                .iter()
                .any(|a| name == *a)
            {
                continue;
            }
            let link = dir.path().join(&name);
            if !link.exists() {
                let _ = std::os::unix::fs::symlink(entry.path(), link);
            }
        }
    }
    dir
}
