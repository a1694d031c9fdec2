//! End to end: the real binary in tmux, driven with send-keys and read with
//! capture-pane, as a user sees it (`common::tmux`).

mod common;

use std::time::Duration;

use common::tmux::Tmux;
use common::*;

#[test]
fn navigate_approve_attach_type_detach_quit() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"
[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "gate"
agent = "sh"
prompt = "{worker} 1 0"
risk = "high"

[[tasks]]
id = "ask"
agent = "sh"
prompt = "{ask}"

[[tasks]]
id = "after"
agent = "sh"
prompt = "{worker} 1 0"
depends_on = ["gate"]
"#,
        worker = agent("worker.sh"),
        ask = agent("ask.sh"),
    ));
    let tmux = Tmux::start("attach", repo.path(), common::ORCH);
    // The gate and the agent asking its question (seen reading its
    // terminal) both need you.
    tmux.wait_for("Needs you 2");
    tmux.wait_for("Shall I proceed");

    // Approve the gated task (the oldest approval, from any pane).
    tmux.keys(&["a"]);
    tmux.wait_for("approved gate");
    tmux.wait_for("Needs you 1");

    // From the queue, Enter attaches straight to the waiting agent.
    tmux.keys(&["3", "Enter"]);
    tmux.wait_for("attached to ask");
    tmux.keys(&["C-]"]);

    // Select the asking agent in the task list and attach to it (the
    // attach above selected it: go to the top first, and see it there).
    tmux.keys(&["1", "Up", "Up", "Up", "Up"]);
    let mut screen = tmux.wait_for("Output: gate");
    for _ in 0..5 {
        if screen.contains("Output: ask") {
            break;
        }
        tmux.keys(&["Down"]);
        std::thread::sleep(Duration::from_millis(150));
        screen = tmux.screen();
    }
    assert!(screen.contains("Output: ask"), "{screen}");
    tmux.keys(&["Enter"]);
    tmux.wait_for("attached to ask");

    // Detach and come back: the control room is intact.
    tmux.keys(&["C-]"]);
    tmux.wait_for("Output: ask");
    tmux.keys(&["Enter"]);
    tmux.wait_for("attached to ask");

    // Answer the agent's question through its own terminal.
    tmux.keys(&["y", "Enter"]);
    tmux.wait_for("you said: y");
    // The agent finishes; orch returns to the control room by itself.
    tmux.wait_for("ask finished; detached");
    tmux.wait_for("✓3");

    tmux.keys(&["q"]);
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    assert!(screen.contains("3/3 task(s) done"), "{screen}");
    // The answer reached the agent's worktree and was committed.
    let files = repo.git(&["ls-tree", "--name-only", "orch/ask"]);
    assert!(files.contains("answer-ask.txt"), "{files}");
}

#[test]
fn quit_with_running_agents_asks_first_and_resumes_next_time() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} 60\"\n",
        agent("silent.sh")
    ));
    let tmux = Tmux::start("quit", repo.path(), common::ORCH);
    tmux.wait_for("thinking...");
    tmux.keys(&["q"]);
    tmux.wait_for("1 agent(s) running");
    tmux.keys(&["n"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!tmux.screen().contains("ORCH-EXIT"));
    tmux.keys(&["q"]);
    tmux.wait_for("1 agent(s) running");
    // "s": stop the agents and quit (d would detach and leave them running).
    tmux.keys(&["s"]);
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("run orch again to resume"), "{screen}");
    assert!(screen.contains("ORCH-EXIT=130"), "{screen}");
    assert_eq!(repo.task_state("slow").as_deref(), Some("queued"));
}

#[test]
fn unknown_theme_is_refused_before_anything_runs() {
    let repo = TestRepo::new();
    repo.write_config("[agents.sh]\ncommand = [\"true\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n");
    let tmux = Tmux::start(
        "theme",
        repo.path(),
        &format!("{} --theme neon", common::ORCH),
    );
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=2"), "{screen}");
    assert!(screen.contains("neon"), "{screen}");
    assert!(
        screen.contains("dark"),
        "should list the themes there are: {screen}"
    );
    assert!(!repo.state_dir().exists());
}

#[test]
fn editing_orch_toml_adds_tasks_and_a_bad_edit_keeps_the_last_good_config() {
    let repo = TestRepo::new();
    let base = format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} 60\"\n",
        agent("silent.sh")
    );
    repo.write_config(&base);
    let tmux = Tmux::start("reload", repo.path(), common::ORCH);
    tmux.wait_for("thinking...");

    // A new task appears and runs.
    repo.write_config(&format!(
        "{base}[[tasks]]\nid = \"late\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n",
        agent("worker.sh")
    ));
    tmux.wait_for("orch.toml reloaded");
    tmux.wait_for("✓ late");

    // A bad edit is shown; nothing changes.
    repo.write_config(&format!(
        "{base}[[tasks]]\nid = \"late\"\nagent = \"nope\"\n"
    ));
    tmux.wait_for("unknown agent \"nope\"");
    tmux.wait_for("last good config in force");
    assert!(tmux.screen().contains("✓ late"));
    // While the file is bad, `orch` from another terminal still reaches
    // the running server (and sees the error there).
    let second = Tmux::start("reload-again", repo.path(), common::ORCH);
    second.wait_for("last good config in force");
    assert!(second.screen().contains("✓ late"));
    second.keys(&["C-]"]);
    second.wait_for("ORCH-EXIT=0");

    // Fixing it clears the error.
    repo.write_config(&format!(
        "{base}[[tasks]]\nid = \"late\"\nagent = \"sh\"\nprompt = \"{} 1 0\"\n",
        agent("worker.sh")
    ));
    tmux.wait_for("orch.toml reloaded");
    assert!(!tmux.screen().contains("last good config"));
    // The done task did not run again.
    let runs: i64 = repo
        .db()
        .query_row(
            "SELECT COUNT(*) FROM attempts WHERE task_id = 'late'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(runs, 1);

    tmux.keys(&["q"]);
    tmux.wait_for("1 agent(s) running");
    tmux.keys(&["s"]);
    tmux.wait_for("ORCH-EXIT=");
}

#[test]
fn sigint_from_outside_restores_the_terminal_and_stops_agents() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} 60\"\n",
        agent("silent.sh")
    ));
    let tmux = Tmux::start("sigint", repo.path(), common::ORCH);
    tmux.wait_for("thinking...");
    let pid: u32 = repo
        .db()
        .query_row("SELECT pid FROM runs ORDER BY id DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    // SAFETY: plain kill(2) of the orch we started.
    unsafe {
        libc::kill(pid as i32, libc::SIGINT);
    }
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=130"), "{screen}");
    // Back on the normal screen: the control room's frame is gone.
    assert!(
        !screen.contains("╭ Tasks"),
        "alternate screen not left:\n{screen}"
    );
    assert_eq!(repo.task_state("slow").as_deref(), Some("queued"));
}

#[test]
fn the_diff_view_follows_a_working_agent_and_the_pager_gets_the_patch() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"{} 40 0.25\"\n",
        agent("worker.sh")
    ));
    let out = tempfile::tempdir().expect("tempdir");
    let paged = out.path().join("paged.txt");
    let tmux = Tmux::start(
        "diff",
        repo.path(),
        &format!("GIT_PAGER='cat > {}' {}", paged.display(), common::ORCH),
    );
    tmux.wait_for("step 1/40 done");
    tmux.keys(&["d"]);
    tmux.wait_for("Diff: slow against main");
    // The agent's uncommitted file, its count growing as it writes.
    let count = |screen: &str| -> usize {
        screen
            .lines()
            .find_map(|l| l.split("notes-slow.md | ").nth(1))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let first = count(&tmux.wait_for("A notes-slow.md"));
    let grew = wait_until(Duration::from_secs(20), || count(&tmux.screen()) > first);
    assert!(grew, "the count stayed at {first}:\n{}", tmux.screen());
    tmux.keys(&["Enter"]);
    tmux.wait_for("+step 1 of slow");
    // The pager reads the patch; the control room is painted again whole.
    tmux.keys(&["D"]);
    assert!(
        wait_until(Duration::from_secs(20), || std::fs::read_to_string(&paged)
            .is_ok_and(
                |text| text.contains("notes-slow.md") && text.contains("step 1 of slow")
            )),
        "the pager got nothing"
    );
    tmux.wait_for("Diff: slow against main");
    tmux.wait_for("file 1 of 1");
    tmux.keys(&["q"]);
    tmux.wait_for("Output: slow");
    tmux.wait_for("✓1");
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
}

#[test]
fn a_patch_larger_than_a_frame_reaches_the_pager_and_the_room_comes_back() {
    let repo = TestRepo::new();
    repo.write_config(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n[[tasks]]\nid = \"big\"\nagent = \"sh\"\nprompt = \"seq 1 300000 > big.txt; echo written; sleep 600\"\n",
    );
    let out = tempfile::tempdir().expect("tempdir");
    let paged = out.path().join("paged.txt");
    let tmux = Tmux::start(
        "bigdiff",
        repo.path(),
        &format!("GIT_PAGER='cat > {}' {}", paged.display(), common::ORCH),
    );
    tmux.wait_for("written");
    tmux.keys(&["d"]);
    tmux.wait_for("A big.txt");
    tmux.keys(&["D"]);
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read_to_string(&paged)
            .is_ok_and(|text| text.len() > 2 << 20 && text.contains("+300000"))),
        "the pager did not get the whole patch"
    );
    // Back from the pager, the room answers keys, and the patch's file is
    // gone from the state dir.
    tmux.wait_for("Diff: big against main");
    tmux.keys(&["q"]);
    tmux.wait_for("Output: big");
    let left: Vec<_> = std::fs::read_dir(repo.path().join(".orch"))
        .expect("state dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("patch-"))
        .collect();
    assert!(left.is_empty(), "patch files left: {left:?}");
    tmux.keys(&["q"]);
    tmux.wait_for("stop agents");
    tmux.keys(&["s"]);
    tmux.wait_for("ORCH-EXIT=");
}

#[test]
fn a_done_task_is_merged_from_the_control_room_and_the_merge_gate_is_in_the_queue() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\
         [[tasks]]\nid = \"gated\"\nagent = \"sh\"\nprompt = \"{} 1 0.05\"\napproval = \"before_merge\"\n",
        agent("worker.sh")
    ));
    let tmux = Tmux::start("merge", repo.path(), common::ORCH);
    tmux.wait_for("merge  gated");
    tmux.wait_for("merge?");
    // Approve the merge gate from the queue, then merge with `m`.
    tmux.keys(&["3"]);
    tmux.keys(&["a"]);
    tmux.wait_for("unmerged");
    tmux.keys(&["1"]);
    tmux.keys(&["m"]);
    tmux.wait_for("Merge orch/gated into main?");
    tmux.keys(&["y"]);
    tmux.wait_for("merged onto main");
    let log = repo.git(&["log", "-1", "--format=%s", "main"]);
    assert_eq!(log.trim(), "Merge orch/gated: gated");
    assert!(
        repo.path().join("notes-gated.md").exists(),
        "on main's checkout"
    );
    tmux.keys(&["q"]);
    let screen = tmux.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
}

#[test]
fn agents_outlive_the_client_and_attach_and_stop_work_from_other_terminals() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"
[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[[tasks]]
id = "ask"
agent = "sh"
prompt = "{ask}"

[[tasks]]
id = "slow"
agent = "sh"
prompt = "{worker} 8 0.5"
"#,
        ask = agent("ask.sh"),
        worker = agent("worker.sh"),
    ));
    let room = Tmux::start("server-room", repo.path(), common::ORCH);
    room.wait_for("Shall I proceed");
    let pid = server_pid(&repo).expect("a server runs");
    // Killing the control room (as a closed terminal or dropped SSH would)
    // leaves the server and its agents running.
    drop(room);
    // The agent working meanwhile finishes with nobody watching.
    assert!(wait_until(Duration::from_secs(20), || {
        repo.task_state("slow").as_deref() == Some("done")
    }));
    assert!(pid_alive(pid), "the server went with its client");
    assert_eq!(repo.task_state("ask").as_deref(), Some("running"));

    // A second terminal attaches to the waiting agent and answers it.
    let attach = Tmux::start(
        "server-attach",
        repo.path(),
        &format!("{} attach ask", common::ORCH),
    );
    attach.wait_for("Shall I proceed");
    attach.keys(&["y", "Enter"]);
    let screen = attach.wait_for("ORCH-EXIT=");
    assert!(screen.contains("ask's agent exited"), "{screen}");
    assert!(screen.contains("ORCH-EXIT=0"), "{screen}");
    assert!(wait_until(Duration::from_secs(20), || {
        repo.task_state("slow").as_deref() == Some("done")
            && repo.task_state("ask").as_deref() == Some("done")
    }));
    // What was typed in the second terminal reached the agent.
    let files = repo.git(&["ls-tree", "--name-only", "orch/ask"]);
    assert!(files.contains("answer-ask.txt"), "{files}");

    // Reconnecting shows the same state.
    let again = Tmux::start("server-again", repo.path(), common::ORCH);
    again.wait_for("✓2");
    assert!(pid_alive(pid));

    // `orch stop` from elsewhere ends the server and tells the room.
    let out = repo.run(&["stop"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(!pid_alive(pid), "the server outlived orch stop");
    let screen = again.wait_for("ORCH-EXIT=");
    assert!(screen.contains("2/2 task(s) done"), "{screen}");
    assert!(!repo.state_dir().join("orch.sock").exists());
    assert_eq!(server_pid(&repo), None);
}

#[test]
fn at_80x24_and_200x50_an_agent_s_terminal_is_as_wide_as_the_output_pane() {
    for ((cols, rows), at_least) in [((80, 24), 78), ((200, 50), 100)] {
        let repo = TestRepo::new();
        repo.write_config(
            r#"
[agents.sh]
command = ["sh", "-c", "{prompt}"]

[[tasks]]
id = "size"
agent = "sh"
prompt = "while :; do echo \"size: $(stty size)\"; sleep 0.3; done"
"#,
        );
        let tmux = Tmux::start_sized("size", repo.path(), common::ORCH, (cols, rows));
        let screen = tmux.wait_for("size: ");
        let size = screen
            .lines()
            .filter_map(|l| l.split("size: ").nth(1))
            .filter_map(|s| {
                let mut words = s.split_whitespace();
                Some((
                    words.next()?.parse::<u16>().ok()?,
                    words.next()?.trim_end_matches('│').parse::<u16>().ok()?,
                ))
            })
            .next_back()
            .unwrap_or_else(|| panic!("no size in:\n{screen}"));
        assert!(
            size.1 >= at_least,
            "{cols}x{rows}: the agent's terminal is {size:?}:\n{screen}"
        );
        assert!(size.0 >= 10, "{cols}x{rows}: {size:?}");
        eprintln!("{cols}x{rows}: agent terminal {size:?}");
        tmux.keys(&["q"]);
        tmux.wait_for("stop them");
        tmux.keys(&["s"]);
        tmux.wait_for("ORCH-EXIT=");
    }
}
