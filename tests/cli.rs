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
            b"[defaults]\nmerge = \"sometimes\"\n[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
            "orch.toml:2:9: merge must be one of \"auto\", \"manual\", \"never\"",
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
    let none = repo.run(&["logs", "nope"]);
    assert_eq!(none.code, 1);
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
    assert_eq!(entry("bad")["state"], "needs_review");
    assert_eq!(entry("bad")["dirty"], true);

    // Default: only finished tasks' worktrees go; branches stay.
    assert!(repo.state_dir().join("logs/ok/1.log").exists());
    let out = repo.run(&["worktree", "cleanup"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!repo.state_dir().join("worktrees/ok").exists());
    // Its logs go with it, and the output says so; the others' stay.
    assert!(out.stdout.contains("1 log file(s)"), "{out}");
    assert!(!repo.state_dir().join("logs/ok").exists());
    assert!(repo.state_dir().join("logs/bad/1.log").exists());
    assert!(repo.state_dir().join("worktrees/bad/wip.txt").exists());
    assert!(repo
        .git(&["branch", "--list", "orch/ok"])
        .contains("orch/ok"));

    // A dirty worktree is kept unless forced.
    let out = repo.run(&["worktree", "cleanup", "bad"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(repo.state_dir().join("worktrees/bad/wip.txt").exists());
    let out = repo.run(&["worktree", "cleanup", "bad", "--force"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!repo.state_dir().join("worktrees/bad").exists());
    assert!(!repo.state_dir().join("logs/bad").exists());
    let text = repo.run(&["worktree", "list"]);
    assert!(text.stdout.contains("no task worktrees"), "{text}");
}
