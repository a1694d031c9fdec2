//! A killed orch, a damaged store, racing starts: nothing is lost, nothing
//! is run twice, and what orch cannot use it refuses without touching.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;

const TASKS: [&str; 2] = ["a", "b"];

/// Tasks `a` and `b`, each recording its start in `ledger`.
fn plan(ledger: &Path) -> String {
    let l = agent("ledger.sh");
    let mut toml = String::from(
        "[defaults]\nretries = 0\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n",
    );
    for id in TASKS {
        toml.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"{l} {} 0\"\n",
            ledger.display()
        ));
    }
    toml
}

/// The task whose worktree is being checked out right now: its directory
/// is registered but the registration has no index yet (the checkout
/// writes it last).
fn being_made(repo: &TestRepo) -> Option<&'static str> {
    TASKS.into_iter().find(|id| {
        repo.state_dir()
            .join("worktrees")
            .join(id)
            .join(".git")
            .exists()
            && !repo
                .path()
                .join(format!(".git/worktrees/orch-{id}/index"))
                .exists()
    })
}

/// Polls `pred` every 2 ms until it returns something or `timeout` passes.
fn poll<T>(timeout: Duration, mut pred: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(found) = pred() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn sigkill(child: &mut std::process::Child) {
    // SAFETY: plain kill(2) of our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    let _ = child.wait();
}

/// 2,000 files were enough to lose tasks this way; 12,000 make the
/// checkout last long enough to catch every time while keeping the test
/// to three checkouts of a few seconds in all.
#[test]
fn a_kill_while_a_worktree_is_made_loses_no_task() {
    let repo = TestRepo::with_many_files(12_000);
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger));

    // Kill orch in the middle of a checkout; a run that slips past the
    // moment resumes on the next try with the tasks left.
    let mut caught = None;
    for _ in 0..3 {
        let mut child = repo.spawn(&["--no-tui"]);
        let found = poll(Duration::from_secs(60), || {
            if let Some(id) = being_made(&repo) {
                return Some(Some(id));
            }
            child.try_wait().ok().flatten().map(|_| None)
        })
        .flatten();
        sigkill(&mut child);
        if let Some(id) = found.filter(|_| being_made(&repo).is_some()) {
            caught = Some(id);
            break;
        }
    }
    let id = caught.expect("never caught a worktree half-made");
    let recorded: String = repo
        .db()
        .query_row(
            "SELECT state FROM worktrees WHERE task_id = ?1",
            [id],
            |r| r.get(0),
        )
        .expect("the worktree was recorded before it was made");
    assert_eq!(recorded, "creating");

    let out = repo.run(&["--no-tui", "--json", "r.json"]);
    assert_eq!(out.code, 0, "{out}");
    let report = repo.read_json("r.json");
    for (task, state) in states(&report) {
        assert_eq!(state, "done", "{task}\n{out}");
    }
    let runs = ledger_lines(&ledger)
        .iter()
        .filter(|l| l.starts_with(&format!("{id} ")))
        .count();
    assert_eq!(runs, 1, "{id} ran once, in a whole worktree");
    let dir = repo.state_dir().join("worktrees").join(id);
    assert!(dir.join("d119/f99.txt").exists());
}

/// Names, sizes and contents of the files under `dir` (worktrees aside),
/// to show nothing was touched.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.ends_with("worktrees") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn an_emptied_or_damaged_state_db_is_refused_and_nothing_is_touched() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger));
    assert_eq!(repo.run(&["--no-tui"]).code, 0);
    assert_eq!(ledger_lines(&ledger).len(), 2);
    let db = repo.state_dir().join("state.db");
    let exclude = repo.path().join(".git/info/exclude");

    for damage in [&b""[..], &b"garbage, not a database"[..]] {
        std::fs::write(&db, damage).unwrap();
        let before = snapshot(&repo.state_dir());
        let exclude_before = std::fs::read(&exclude).unwrap();
        let out = repo.run(&["--no-tui"]);
        assert_eq!(out.code, 2, "{out}");
        let what = if damage.is_empty() {
            "is empty"
        } else {
            "is damaged"
        };
        for needle in [
            what,
            "earlier runs left 2 worktree(s)",
            "2 orch/* branch(es)",
            "Restore state.db",
            "remove",
        ] {
            assert!(out.stderr.contains(needle), "missing {needle:?}\n{out}");
        }
        assert_eq!(snapshot(&repo.state_dir()), before, "{out}");
        assert_eq!(std::fs::read(&exclude).unwrap(), exclude_before);
        // status says what is wrong instead of showing an empty plan.
        let status = repo.run(&["status"]);
        assert_ne!(status.code, 0, "{status}");
    }
    assert_eq!(ledger_lines(&ledger).len(), 2, "nothing ran again");
}

#[test]
fn an_empty_state_db_with_nothing_else_starts_over() {
    let repo = TestRepo::new();
    let ledger = repo.path().join("ledger.txt");
    repo.write_config(&plan(&ledger));
    std::fs::create_dir_all(repo.state_dir()).unwrap();
    std::fs::write(repo.state_dir().join("state.db"), "").unwrap();
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(ledger_lines(&ledger).len(), 2);
}

#[test]
fn a_committed_file_named_like_the_state_dir_is_a_usage_error() {
    let repo = TestRepo::new();
    std::fs::write(repo.path().join(".orch"), "not a directory\n").unwrap();
    repo.git(&["add", ".orch"]);
    repo.git(&["commit", "-q", "-m", "a file called .orch"]);
    repo.write_config(&plan(&repo.path().join("ledger.txt")));
    let exclude = std::fs::read(repo.path().join(".git/info/exclude")).unwrap_or_default();
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(out.stderr.contains(".orch is not a directory"), "{out}");
    assert!(out.stderr.contains("state_dir"), "{out}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join(".orch")).unwrap(),
        "not a directory\n"
    );
    assert_eq!(
        std::fs::read(repo.path().join(".git/info/exclude")).unwrap_or_default(),
        exclude
    );
}

/// The pid in a refusal: "(pid N)".
fn refused_pid(stderr: &str) -> Option<u32> {
    let rest = &stderr[stderr.find("(pid ")? + 5..];
    rest[..rest.find(')')?].parse().ok()
}

#[test]
fn racing_starts_name_the_winner_and_status_names_the_running_instance() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"long\"\nagent = \"sh\"\nprompt = \"{} {} 30\"\n",
        agent("ledger.sh"),
        repo.path().join("ledger.txt").display()
    ));
    for round in 0..3 {
        // A state directory with a dead orch's pid in its lock file.
        std::fs::create_dir_all(repo.state_dir()).unwrap();
        std::fs::write(repo.state_dir().join("orch.lock"), "4194999\n").unwrap();
        let mut children: Vec<_> = (0..6).map(|_| repo.spawn(&["--no-tui"])).collect();
        // Five are refused and exit; one runs on.
        let mut exited = [false; 6];
        let all_refused = poll(Duration::from_secs(20), || {
            for (done, child) in exited.iter_mut().zip(children.iter_mut()) {
                *done = *done || child.try_wait().ok().flatten().is_some();
            }
            (exited.iter().filter(|&&e| e).count() == 5).then_some(())
        });
        assert!(all_refused.is_some(), "round {round}: not five refusals");
        let mut running = Vec::new();
        let mut refused = Vec::new();
        for (done, child) in exited.into_iter().zip(children) {
            if done {
                refused.push(child.wait_with_output().unwrap());
            } else {
                running.push(child);
            }
        }
        let mut winner = running.pop().expect("one orch runs");
        assert!(running.is_empty());
        for out in &refused {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{stderr}");
            assert_eq!(
                refused_pid(&stderr),
                Some(winner.id()),
                "round {round}: {stderr}"
            );
        }
        for _ in 0..10 {
            let status = repo.status();
            assert_eq!(status["running_instance"], winner.id(), "{status}");
        }
        assert_eq!(
            std::fs::read_to_string(repo.state_dir().join("orch.lock")).unwrap(),
            format!("{}\n", winner.id())
        );
        sigkill(&mut winner);
        let status = repo.status();
        assert_eq!(
            status["running_instance"],
            serde_json::Value::Null,
            "{status}"
        );
    }
}
