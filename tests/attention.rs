//! Agents that need a human, end to end: a Claude Code stand-in whose own
//! hooks (passed with `--settings`) tell orch it is busy, asks a
//! permission, and is idle; the waiting agent is never taken for stalled;
//! killed with orch (kill -9), it is relaunched with `--resume` and its
//! session id; and a headless agent nobody answers ends at
//! `input_timeout` with its question.

mod common;

use std::time::Duration;

use common::*;

/// The task's last attempt per `orch status --json`; null while nothing
/// can be read yet (the run is starting).
fn last_attempt(repo: &TestRepo, task: &str) -> serde_json::Value {
    let out = repo.run(&["status", "--json"]);
    let Ok(status) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
        return serde_json::Value::Null;
    };
    status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == task))
        .map(|t| t["last_attempt"].clone())
        .unwrap_or_default()
}

#[test]
fn claude_s_hooks_mark_it_waiting_it_never_stalls_and_resumes_its_conversation_after_kill_9() {
    let repo = TestRepo::new();
    let go = repo.path().join("go");
    let log = repo.path().join("claude-runs.log");
    repo.write_config(&format!(
        r#"[defaults]
retries = 1
heartbeat_warn = "1s"
heartbeat_stall = "2s"
input_timeout = 0

[agents.claude]
command = ["{claude}", "--model", "opus", "{{prompt}}"]
kind = "claude-code"
env = {{ FAKE_CLAUDE_GO = "{go}", FAKE_CLAUDE_LOG = "{log}" }}

[[tasks]]
id = "fix"
agent = "claude"
prompt = "fix the tests"
merge = "never"
"#,
        claude = agent("bin/claude"),
        go = go.display(),
        log = log.display(),
    ));
    let mut orch = repo.spawn(&["--no-tui"]);
    let waiting = wait_until(Duration::from_secs(30), || {
        last_attempt(&repo, "fix")["activity"]["state"] == "waiting"
    });
    assert!(
        waiting,
        "never marked waiting: {}",
        last_attempt(&repo, "fix")
    );
    let attempt = last_attempt(&repo, "fix");
    assert_eq!(attempt["activity"]["question"], "Allow Bash? make test");
    assert_eq!(attempt["activity"]["signal"], "agent");
    let session = attempt["session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(session.starts_with("fake-"), "{attempt}");
    // Well past heartbeat_stall without a byte of output: still there.
    std::thread::sleep(Duration::from_secs(4));
    let attempt = last_attempt(&repo, "fix");
    assert_eq!(attempt["status"], "running", "{attempt}");
    assert_eq!(attempt["attempt"], 1, "not stalled and retried: {attempt}");

    // orch dies; the next run continues the conversation.
    orch.kill().expect("kill -9 orch");
    let _ = orch.wait();
    std::fs::write(&go, "").expect("answer");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let runs = std::fs::read_to_string(&log).expect("runs");
    let lines: Vec<&str> = runs.lines().collect();
    assert_eq!(lines.len(), 2, "{runs}");
    assert_eq!(lines[0], "settings=yes resume= prompt=fix the tests");
    assert_eq!(
        lines[1],
        format!("settings=yes resume={session} prompt="),
        "resumed with its session id"
    );
    let attempt = last_attempt(&repo, "fix");
    assert_eq!(attempt["attempt"], 2);
    assert_eq!(attempt["resumed"], session.as_str());
    assert!(
        out.stdout
            .contains(&format!("continues conversation {session}")),
        "{out}"
    );
    // The turn's end was heard: idle, then the agent exited.
    assert_eq!(attempt["activity"]["state"], "idle", "{attempt}");
    kill_leftovers(repo.path());
}

#[test]
fn a_headless_agent_nobody_answers_ends_at_input_timeout_with_its_question() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"[defaults]
retries = 0
heartbeat_warn = "1s"
heartbeat_stall = "30s"
input_timeout = "2s"

[agents.asker]
command = ["sh", "-c", "{{prompt}}"]
env = {{ ORCH_BIN = "{orch}" }}

[[tasks]]
id = "ask"
agent = "asker"
prompt = "printf 'Overwrite config? (y/n) '; $ORCH_BIN heartbeat --waiting 'Overwrite config? (y/n)'; sleep 60"
"#,
        orch = ORCH,
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(repo.task_state("ask").as_deref(), Some("needs_review"));
    let attempt = last_attempt(&repo, "ask");
    assert_eq!(
        attempt["cause"], "no answer to: Overwrite config? (y/n)",
        "{attempt}"
    );
    assert!(
        out.stdout
            .contains("waiting for input: Overwrite config? (y/n)"),
        "the progress line says what it asked: {out}"
    );
}

#[test]
fn an_agent_reading_its_terminal_is_seen_waiting_by_the_os_and_ends_at_input_timeout() {
    let repo = TestRepo::new();
    repo.write_config(
        r#"[defaults]
retries = 0
heartbeat_warn = "1s"
heartbeat_stall = "2s"
input_timeout = "4s"

[agents.sh]
command = ["sh", "-c", "{prompt}"]

[[tasks]]
id = "name"
agent = "sh"
prompt = "printf 'Project name: '; read name; echo \"called $name\""
"#,
    );
    let mut orch = repo.spawn(&["--no-tui"]);
    let seen = wait_until(Duration::from_secs(20), || {
        last_attempt(&repo, "name")["activity"]["signal"] == "os"
    });
    let attempt = last_attempt(&repo, "name");
    assert!(seen, "the OS never saw it read: {attempt}");
    assert_eq!(attempt["activity"]["state"], "waiting");
    // No screen rule knows "Project name: ": the OS alone said so.
    assert_eq!(attempt["activity"]["question"], "Project name:");
    let status = orch.wait().expect("orch ends");
    assert_eq!(status.code(), Some(1));
    let attempt = last_attempt(&repo, "name");
    assert_eq!(
        attempt["cause"], "no answer to: Project name:",
        "not stalled at 2s: ended by input_timeout; {attempt}"
    );
}

#[test]
fn a_waiting_pattern_on_the_screen_marks_an_agent_that_does_not_read_its_terminal() {
    let repo = TestRepo::new();
    repo.write_config(
        r#"[defaults]
retries = 0
heartbeat_warn = "1s"
heartbeat_stall = "2s"
input_timeout = "4s"

[agents.deployer]
command = ["sh", "-c", "{prompt}"]
waiting_patterns = ['\(yes/no\)\s*$']

[[tasks]]
id = "deploy"
agent = "deployer"
prompt = '''printf '\033[1mApprove deploy?\033[0m (yes/no) '; sleep 60'''
"#,
    );
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    let attempt = last_attempt(&repo, "deploy");
    assert_eq!(
        attempt["cause"], "no answer to: Approve deploy? (yes/no)",
        "{attempt}"
    );
    assert!(
        out.stdout.contains("screen: waiting_patterns[0]"),
        "which signal, and which rule: {out}"
    );
}

#[test]
fn a_generic_prompt_after_a_spinner_is_seen_on_the_screen_with_no_pattern_written() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        r#"[defaults]
retries = 0
heartbeat_warn = "1s"
heartbeat_stall = "2s"
input_timeout = "3s"

[agents.gen]
command = ["{agent}"]

[[tasks]]
id = "gen"
agent = "gen"
"#,
        agent = agent("spinner_ask.sh")
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    let attempt = last_attempt(&repo, "gen");
    assert_eq!(
        attempt["cause"], "no answer to: Delete 3 generated files? [y/N]",
        "the generic [y/N] preset, not stalled at 2s: {attempt}"
    );
    assert!(
        out.stdout.contains("screen: generic [y/N]"),
        "which signal, and which rule: {out}"
    );
    // The spinner never passed for a question.
    let marks: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains("waiting for input"))
        .collect();
    assert!(!marks.is_empty(), "{out}");
    assert!(
        marks
            .iter()
            .all(|l| l.contains("Delete 3 generated files?")),
        "a spinner frame was taken for a question: {marks:?}"
    );
}

fn auto_answer_plan(repo: &TestRepo, risk: &str) {
    repo.write_config(&format!(
        r#"[defaults]
retries = 0
input_timeout = "4s"

[agents.asker]
command = ["sh", "-c", "{{prompt}}"]
auto_answer = [{{ pattern = 'Proceed\? \(y/n\)', answer = "y\r" }}]

[[tasks]]
id = "ask"
agent = "asker"
risk = "{risk}"
merge = "never"
prompt = "printf 'Proceed? (y/n) '; read answer; echo \"you said: $answer\"; [ \"$answer\" = y ]"
"#
    ));
}

#[test]
fn an_auto_answer_is_typed_for_the_agent_and_recorded_but_never_on_a_high_risk_task() {
    let repo = TestRepo::new();
    auto_answer_plan(&repo, "low");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let events = repo.run(&["events"]);
    assert!(
        events
            .stdout
            .contains("typed \"y\\r\" (rule \"Proceed\\\\? \\\\(y/n\\\\)\") to: Proceed? (y/n)"),
        "{}",
        events.stdout
    );

    let repo = TestRepo::new();
    auto_answer_plan(&repo, "high");
    let out = repo.run(&["--no-tui", "--approve-all"]);
    assert_eq!(out.code, 1, "{out}");
    let attempt = last_attempt(&repo, "ask");
    assert_eq!(
        attempt["cause"], "no answer to: Proceed? (y/n)",
        "{attempt}"
    );
    let events = repo.run(&["events"]);
    assert!(
        events.stdout.contains("auto_answer_refused"),
        "{}",
        events.stdout
    );
    assert!(!events.stdout.contains("typed \"y"), "{}", events.stdout);
}
