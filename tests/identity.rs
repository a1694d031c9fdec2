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
