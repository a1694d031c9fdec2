//! The command line as a user meets it: bad input, `check`, `status`, `logs`.

mod common;

use common::*;

#[test]
fn bad_configs_are_refused_with_positions_and_nothing_is_written() {
    let cases: &[(&str, &[&str])] = &[
        (
            "[defaults]\nretires = 2\n",
            &["orch.toml:2:1", "unknown key \"retires\""],
        ),
        (
            "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\ndepends_on = [\"b\"]\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\ndepends_on = [\"a\"]\n",
            &["dependency cycle: a -> b -> a"],
        ),
        (
            "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"cluade\"\n",
            &["orch.toml:5:9", "unknown agent \"cluade\""],
        ),
        ("[defaults]\ntimeout = \"5 minutes\"\n", &["orch.toml:2:11", "invalid duration"]),
        ("[project\n", &["orch.toml:1:"]),
        (
            "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
            &["duplicate task id \"a\""],
        ),
    ];
    for (toml, expected) in cases {
        let repo = TestRepo::new();
        repo.write_config(toml);
        for args in [&["--no-tui"][..], &["check"][..]] {
            let out = repo.run(args);
            assert_eq!(out.code, 2, "{args:?} on {toml}\n{out}");
            for needle in *expected {
                assert!(
                    out.stderr.contains(needle),
                    "missing {needle:?} for {toml}\n{out}"
                );
            }
            assert!(!repo.state_dir().exists(), "bad config wrote .orch/");
        }
    }
}

#[test]
fn every_error_is_reported_at_once() {
    let repo = TestRepo::new();
    repo.write_config(
        "[defaults]\nretires = 2\nbackoff = \"soon\"\n[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"nope\"\ndepends_on = [\"zz\"]\n",
    );
    let out = repo.run(&["check"]);
    assert_eq!(out.code, 2);
    for needle in ["retires", "soon", "unknown agent \"nope\"", "\"zz\""] {
        assert!(out.stderr.contains(needle), "missing {needle}\n{out}");
    }
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let repo = TestRepo::new();
    for args in [&["--no-tui"][..], &["check"][..]] {
        let out = repo.run(args);
        assert_eq!(out.code, 2, "{out}");
        assert!(out.stderr.contains("no orch.toml here"), "{out}");
        assert!(out.stderr.contains("--config"), "{out}");
    }
    assert!(!repo.state_dir().exists());
}

#[test]
fn not_a_git_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("orch.toml"),
        "[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(ORCH)
        .arg("--no-tui")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not inside a git repository"), "{stderr}");
}

#[test]
fn missing_base_branch_is_refused() {
    let repo = TestRepo::new();
    repo.write_config(
        "[project]\nbase_branch = \"trunk\"\n[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
    );
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr.contains("base branch \"trunk\" does not exist"),
        "{out}"
    );
    assert!(out.stderr.contains("main"), "should list branches: {out}");
    assert!(!repo.state_dir().exists(), "a refused run wrote .orch/");
}

#[test]
fn missing_base_branch_is_found_by_check_and_run_at_its_value() {
    let repo = TestRepo::new();
    repo.write_config(
        "[project]\nbase_branch = \"mian\"\n[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
    );
    for args in [&["--no-tui"][..], &["check"][..]] {
        let out = repo.run(args);
        assert_eq!(out.code, 2, "{args:?}\n{out}");
        assert!(
            out.stderr.contains(
                "orch.toml:2:15: base branch \"mian\" does not exist (local branches: main); did you mean \"main\"?"
            ),
            "{args:?}\n{out}"
        );
        assert!(!repo.state_dir().exists(), "{args:?} wrote .orch/");
    }
}

#[test]
fn config_mistakes_that_used_to_slip_through_are_refused() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "orch.toml: the plan is empty: no [[tasks]] are defined"),
        (
            b"[agents.sh]\ncommand = [\"true\"]\n",
            "orch.toml: the plan is empty",
        ),
        (
            b"[agents.sh]\ncommand = [\"sh\", \"-c\", \"{promt}\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
            "orch.toml:2:25: unknown placeholder \"{promt}\" in command[2]",
        ),
        (
            b"[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\ntitle = \"caf\xE9\"\n",
            "orch.toml:6:13: invalid UTF-8: byte 0xE9 is not valid here",
        ),
        (
            b"[defaults]\nmerge = \"never\"\n[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\napproval = \"before_merge\"\n",
            "orch.toml:8:12: approval = \"before_merge\" cannot be used with merge = \"never\" (from [defaults])",
        ),
        (
            b"[hooks]\non_attention = [\"notify-send\", \"{cause}\"]\n[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
            "orch.toml:2:33: \"{cause}\" cannot be used in on_attention[1]: only on_fail has a cause",
        ),
    ];
    for (bytes, expected) in cases {
        let repo = TestRepo::new();
        std::fs::write(repo.path().join("orch.toml"), bytes).unwrap();
        for args in [&["--no-tui"][..], &["check"][..]] {
            let out = repo.run(args);
            assert_eq!(out.code, 2, "{args:?} on {expected}\n{out}");
            assert!(
                out.stderr.contains(expected),
                "{args:?}: missing {expected:?}\n{out}"
            );
            assert!(
                !repo.state_dir().exists(),
                "{args:?} on {expected} wrote .orch/"
            );
        }
    }
}

#[test]
fn check_reports_each_agent_command() {
    let repo = TestRepo::new();
    repo.write_config(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n[agents.ghost]\ncommand = [\"orch-no-such-agent-xyz\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
    );
    let out = repo.run(&["check"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        out.stdout
            .contains("ok (1 task(s), 2 agent(s), 1 stage(s))"),
        "{out}"
    );
    assert!(out.stdout.contains("agent sh: sh found at"), "{out}");
    assert!(
        out.stdout
            .contains("agent ghost: orch-no-such-agent-xyz NOT FOUND"),
        "{out}"
    );
    assert!(!repo.state_dir().exists());

    // A task that uses the missing agent makes check fail.
    repo.write_config(
        "[agents.ghost]\ncommand = [\"orch-no-such-agent-xyz\"]\n[[tasks]]\nid = \"a\"\nagent = \"ghost\"\n",
    );
    let out = repo.run(&["check"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("ghost"), "{out}");
}

#[test]
fn status_and_logs_read_the_store_after_a_run() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"w\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n",
        agent("worker.sh")
    ));
    assert_eq!(repo.run(&["status"]).code, 1, "no state yet");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let status = repo.status();
    assert_eq!(status["running_instance"], serde_json::Value::Null);
    assert_eq!(status["tasks"][0]["id"], "w");
    assert_eq!(status["tasks"][0]["state"], "done");
    assert_eq!(status["tasks"][0]["last_attempt"]["exit_code"], 0);
    let text = repo.run(&["status"]);
    assert!(text.stdout.contains("no orch running"), "{text}");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.starts_with("w ") && l.contains("done")),
        "{text}"
    );
    let logs = repo.run(&["logs", "w"]);
    assert_eq!(logs.code, 0);
    // Raw bytes: colours and cursor moves included.
    assert!(
        logs.stdout.contains("\u{1b}[1;32mdone"),
        "{:?}",
        logs.stdout
    );
    // Plain: what the terminal showed, no escape codes, no carriage returns.
    let plain = repo.run(&["logs", "w", "--plain"]);
    assert_eq!(plain.code, 0, "{plain}");
    assert!(plain.stdout.contains("done"), "{plain}");
    assert!(
        !plain.stdout.contains('\u{1b}') && !plain.stdout.contains('\r'),
        "{:?}",
        plain.stdout
    );
    assert_eq!(repo.run(&["logs", "w", "--plain", "--raw"]).code, 2);
    // Run again: nothing to do, and it says how to run it again.
    let again = repo.run(&["--no-tui"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again
            .stdout
            .contains("plan finished: `orch task retry TASK` runs a task again"),
        "{again}"
    );
    let none = repo.run(&["logs", "nope"]);
    assert_eq!(none.code, 2, "{none}");
    assert!(
        none.stderr.contains("no task \"nope\" in"),
        "an unknown task, not a task without attempts: {none}"
    );
    // A task of the plan that has not run yet.
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"w\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n[[tasks]]\nid = \"later\"\nagent = \"sh\"\nprompt = \"true\"\n",
        agent("worker.sh")
    ));
    let later = repo.run(&["logs", "later"]);
    assert_eq!(later.code, 1, "{later}");
    assert!(later.stderr.contains("has not run yet"), "{later}");
}

#[test]
fn help_lists_the_commands_and_exit_codes() {
    let out = std::process::Command::new(ORCH)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--no-tui",
        "--junit",
        "--json",
        "--approve-all",
        "--approval-timeout",
        "init",
        "completions",
        "check",
        "status",
        "logs",
        "130",
    ] {
        assert!(help.contains(needle), "missing {needle}\n{help}");
    }
    let out = std::process::Command::new(ORCH)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn worktree_list_and_cleanup() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[defaults]\nretries = 0\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"ok\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n[[tasks]]\nid = \"bad\"\nagent = \"sh\"\nprompt = \"echo half-done > wip.txt; exit 1\"\n",
        agent("worker.sh")
    ));
    assert_eq!(repo.run(&["--no-tui"]).code, 1);

    let out = repo.run(&["worktree", "list", "--json"]);
    assert_eq!(out.code, 0, "{out}");
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let entry = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["task"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id} in {listed}"))
    };
    assert_eq!(entry("ok")["state"], "done");
    assert_eq!(entry("ok")["dirty"], false);
    assert_eq!(entry("ok")["leftover"], false);
    assert_eq!(entry("bad")["state"], "needs_review");
    assert_eq!(entry("bad")["dirty"], true);

    // Default: only finished work goes. ok is done but not merged, bad
    // needs review: both stay, and the output says why.
    let out = repo.run(&["worktree", "cleanup"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("kept ok: done but not merged"), "{out}");
    assert!(
        out.stdout.contains("kept bad: the task is needs_review"),
        "{out}"
    );
    assert!(out.stdout.contains("nothing to clean up"), "{out}");
    assert!(repo.state_dir().join("worktrees/ok").exists());

    // Merged (by hand here; the store says so): its worktree, logs and
    // branch go.
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge ok", "orch/ok"]);
    set_task(&repo, "ok", "merge_state = 'merged'");
    assert!(repo.state_dir().join("logs/ok/1.log").exists());
    let out = repo.run(&["worktree", "cleanup"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!repo.state_dir().join("worktrees/ok").exists());
    assert!(out.stdout.contains("1 log file(s)"), "{out}");
    assert!(
        out.stdout
            .contains("branch orch/ok deleted (it is in main)"),
        "{out}"
    );
    assert!(!repo.state_dir().join("logs/ok").exists());
    assert!(repo.state_dir().join("logs/bad/1.log").exists());
    assert!(repo.state_dir().join("worktrees/bad/wip.txt").exists());
    assert!(!repo
        .git(&["branch", "--list", "orch/ok"])
        .contains("orch/ok"));
    let removal = repo
        .db()
        .query_row(
            "SELECT cause FROM events WHERE task_id = 'ok' AND kind = 'worktree_removed'",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert!(removal.contains("branch orch/ok deleted"), "{removal}");

    // A dirty worktree is kept unless named with --force.
    let out = repo.run(&["worktree", "cleanup", "bad"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("kept bad: it has uncommitted changes"),
        "{out}"
    );
    assert!(repo.state_dir().join("worktrees/bad/wip.txt").exists());
    let out = repo.run(&["worktree", "cleanup", "--force"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(repo.state_dir().join("worktrees/bad/wip.txt").exists());
    let out = repo.run(&["worktree", "cleanup", "bad", "--force"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!repo.state_dir().join("worktrees/bad").exists());
    assert!(!repo.state_dir().join("logs/bad").exists());
    // Its work is not merged: the branch stays.
    assert!(
        out.stdout
            .contains("branch orch/bad kept: its work is not merged"),
        "{out}"
    );
    assert!(repo
        .git(&["branch", "--list", "orch/bad"])
        .contains("orch/bad"));
    let text = repo.run(&["worktree", "list"]);
    assert!(text.stdout.contains("no task worktrees"), "{text}");
    assert!(!text.stdout.contains("leftovers"), "{text}");
    // Naming a task that has nothing to remove fails.
    let out = repo.run(&["worktree", "cleanup", "nope"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("kept nope: it has no worktree"),
        "{out}"
    );
}

/// Change a task's row in state.db as the engine would have.
fn set_task(repo: &TestRepo, task: &str, assignment: &str) {
    let changed = repo
        .db()
        .execute(
            &format!("UPDATE tasks SET {assignment} WHERE id = ?1"),
            [task],
        )
        .unwrap();
    assert_eq!(changed, 1, "no task {task}");
}

/// Everything cleanup could change: refs, worktrees, files under the state
/// directory, and the store's worktree rows and events.
fn cleanup_snapshot(repo: &TestRepo) -> String {
    let mut files: Vec<String> = Vec::new();
    let mut dirs = vec![repo.state_dir()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path.clone());
            }
            files.push(path.display().to_string());
        }
    }
    files.retain(|f| !f.contains("state.db"));
    files.sort();
    let db = repo.db();
    let rows: Vec<String> = db
        .prepare("SELECT task_id, path, removed_at FROM worktrees ORDER BY task_id")
        .unwrap()
        .query_map([], |r| {
            Ok(format!(
                "{} {} {:?}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let events: i64 = db
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    format!(
        "{}\n{}\n{}\n{}\nevents {events}",
        repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"]),
        repo.git(&["worktree", "list", "--porcelain"]),
        files.join("\n"),
        rows.join("\n")
    )
}

#[test]
fn cleanup_takes_merged_cancelled_and_skipped_work_and_a_dry_run_changes_nothing() {
    let repo = TestRepo::new();
    let task = |id: &str| {
        format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n",
            agent("worker.sh")
        )
    };
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n{}{}{}{}",
        task("merged"),
        task("cancelled"),
        task("skipped"),
        task("pending-merge")
    ));
    assert_eq!(repo.run(&["--no-tui"]).code, 0);
    repo.git(&["merge", "-q", "--no-ff", "-m", "merge", "orch/merged"]);
    set_task(&repo, "merged", "merge_state = 'merged'");
    set_task(&repo, "cancelled", "state = 'cancelled'");
    set_task(&repo, "skipped", "skipped = 1");
    // Leftovers of another state directory, or made by hand.
    repo.git(&["branch", "orch/stray"]);
    repo.git(&["branch", "orch-backup/merged-20260101T000000"]);
    repo.git(&["worktree", "add", "-q", "-b", "orch/ghost", ".orch/ghost"]);

    let text = repo.run(&["worktree", "list"]);
    assert_eq!(text.code, 0, "{text}");
    let leftovers = text
        .stdout
        .split_once("leftovers state.db has no record of")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| panic!("no leftovers in {text}"));
    for needle in [
        "worktree  orch/ghost",
        "branch    orch/stray",
        "no worktree",
        "backup    orch-backup/merged-20260101T000000",
        "kept by orch under a backup name",
    ] {
        assert!(leftovers.contains(needle), "missing {needle:?} in {text}");
    }
    for ours in ["orch/merged", "orch/cancelled", "orch/skipped"] {
        assert!(
            !leftovers.contains(&format!("{ours} ")),
            "{ours} is not a leftover: {text}"
        );
    }
    let out = repo.run(&["worktree", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<(String, String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_string(),
                l["branch"].as_str().unwrap().to_string(),
                l["leftover"].as_bool().unwrap(),
            )
        })
        .collect();
    let kind = |k: &str, b: &str, leftover: bool| (k.to_string(), b.to_string(), leftover);
    assert_eq!(
        kinds,
        [
            kind("worktree", "orch/cancelled", false),
            kind("worktree", "orch/ghost", true),
            kind("worktree", "orch/merged", false),
            kind("worktree", "orch/pending-merge", false),
            kind("worktree", "orch/skipped", false),
            kind("branch", "orch/stray", true),
            kind("backup", "orch-backup/merged-20260101T000000", true),
        ]
    );

    let before = cleanup_snapshot(&repo);
    let dry = repo.run(&["worktree", "cleanup", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry}");
    for needle in [
        "would remove merged: worktree",
        "branch orch/merged would be deleted (it is in main)",
        "1 log file(s) in",
        "would remove cancelled: worktree",
        "branch orch/cancelled kept: its work is not merged",
        "would remove skipped: worktree",
        "would keep pending-merge: done but not merged",
        "would keep ghost: state.db has no record of this worktree",
    ] {
        assert!(dry.stdout.contains(needle), "missing {needle:?} in {dry}");
    }
    assert!(!dry.stdout.contains("stray"), "{dry}");
    assert_eq!(
        cleanup_snapshot(&repo),
        before,
        "a dry run changed something"
    );

    let out = repo.run(&["worktree", "cleanup"]);
    assert_eq!(out.code, 0, "{out}");
    for gone in ["merged", "cancelled", "skipped"] {
        assert!(
            !repo.state_dir().join("worktrees").join(gone).exists(),
            "{gone}\n{out}"
        );
    }
    assert!(repo.state_dir().join("worktrees/pending-merge").exists());
    assert!(repo.state_dir().join("ghost").exists());
    let branches = repo.git(&["branch", "--list"]);
    assert!(!branches.contains("orch/merged\n"), "{branches}");
    for kept in [
        "orch/cancelled",
        "orch/skipped",
        "orch/pending-merge",
        "orch/stray",
        "orch/ghost",
        "orch-backup/merged-20260101T000000",
    ] {
        assert!(branches.contains(kept), "{kept} lost:\n{branches}");
    }
    // What the dry run said is what happened.
    assert!(out.stdout.contains("removed merged: worktree"), "{out}");
    assert!(
        out.stdout
            .contains("kept pending-merge: done but not merged"),
        "{out}"
    );
    // A second run: the kept branches are named, nothing else to do.
    let again = repo.run(&["worktree", "cleanup"]);
    assert_eq!(again.code, 0, "{again}");
    assert!(
        again.stdout.contains(
            "kept cancelled: its branch orch/cancelled holds work not merged (no worktree)"
        ),
        "{again}"
    );
    assert!(again.stdout.contains("nothing to clean up"), "{again}");
}

#[test]
fn cleanup_refuses_while_an_orch_holds_the_state_directory() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n",
        agent("worker.sh")
    ));
    assert_eq!(repo.run(&["--no-tui"]).code, 0);
    set_task(&repo, "t", "skipped = 1");
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(repo.state_dir().join("orch.lock"))
        .unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
    for args in [
        &["worktree", "cleanup"][..],
        &["worktree", "cleanup", "--dry-run"][..],
    ] {
        let out = repo.run(args);
        assert_eq!(out.code, 2, "{args:?}\n{out}");
        assert!(
            out.stderr.contains("another orch is already running"),
            "{args:?}\n{out}"
        );
        assert!(repo.state_dir().join("worktrees/t").exists());
    }
    drop(lock);
    let out = repo.run(&["worktree", "cleanup"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!repo.state_dir().join("worktrees/t").exists());
}

#[test]
fn init_writes_a_plan_that_runs_with_the_agent_clis_found_and_never_overwrites() {
    let repo = TestRepo::new();
    // No orch.toml: the hint names `orch init`.
    let missing = repo.run(&["check"]);
    assert_eq!(missing.code, 2, "{missing}");
    assert!(missing.stderr.contains("orch init"), "{missing}");

    // A fake `claude` and `aider` on PATH, nothing else of theirs.
    let bin = repo.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for name in ["claude", "aider"] {
        let path = bin.join(name);
        std::fs::write(&path, "#!/bin/sh\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let out = repo.orch(&["init"]).env("PATH", &path).output().unwrap();
    let out = common::RunResult::from(out);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("agents found: claude, aider"), "{out}");
    let text = std::fs::read_to_string(repo.path().join("orch.toml")).unwrap();
    assert!(text.contains("base_branch  = \"main\""), "{text}");
    assert!(
        text.contains("[agents.claude]\ncommand  = [\"claude\", \"{prompt}\"]"),
        "{text}"
    );
    assert!(text.contains("kind     = \"claude-code\""), "{text}");
    assert!(text.contains("fallback = \"aider\""), "{text}");
    assert!(!text.contains("[agents.codex]"), "{text}");
    assert!(text.contains("agent  = \"claude\""), "{text}");
    // It loads and its agents are found.
    let check = repo.orch(&["check"]).env("PATH", &path).output().unwrap();
    let check = common::RunResult::from(check);
    assert_eq!(check.code, 0, "{check}");

    // Never overwritten.
    std::fs::write(repo.path().join("orch.toml"), "# mine\n").unwrap();
    let again = repo.run(&["init"]);
    assert_eq!(again.code, 2, "{again}");
    assert!(again.stderr.contains("never overwrites"), "{again}");
    assert_eq!(
        std::fs::read_to_string(repo.path().join("orch.toml")).unwrap(),
        "# mine\n"
    );
}

#[test]
fn init_with_no_agent_cli_writes_a_shell_task_that_runs_to_done() {
    let repo = TestRepo::new();
    // A PATH with no agent CLI on it, whatever this machine has installed.
    let empty = tempfile::tempdir().unwrap();
    let out = repo
        .orch(&["init"])
        .env("PATH", empty.path())
        .output()
        .unwrap();
    let out = common::RunResult::from(out);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("no agent CLI found"), "{out}");
    let run = repo.run(&["--no-tui"]);
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(repo.task_state("first").as_deref(), Some("done"));
}

#[test]
fn completions_are_printed_for_each_shell() {
    let repo = TestRepo::new();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef orch"),
        ("fish", "complete -c orch"),
    ] {
        let out = repo.run(&["completions", shell]);
        assert_eq!(out.code, 0, "{shell}: {out}");
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
        assert!(
            out.stdout.contains("heartbeat"),
            "{shell}: subcommands listed"
        );
    }
    assert_eq!(repo.run(&["completions", "tcsh"]).code, 2);
}
