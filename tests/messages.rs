//! Messages end to end: an agent tells another task's agent something with
//! `orch msg send`, the other reads it with `orch msg poll` (and what a
//! poll could not print is handed out again); a message for a task that
//! has not run yet is kept in state.db across a restart of orch, sent by a
//! person both while orch runs and while nothing does.

mod common;

use std::time::Duration;

use common::*;

/// Agents `messenger` and `inbox` (scripts under tests/agents/, with the
/// orch binary), `sh` for the rest, then `tasks`.
fn plan(repo: &TestRepo, tasks: &str) {
    repo.write_config(&format!(
        r#"[defaults]
retries = 0

[agents.messenger]
command = ["{messenger}", "{{prompt}}"]
env = {{ ORCH_BIN = "{orch}" }}

[agents.inbox]
command = ["sh", "-c", "{inbox} {{prompt}}"]
env = {{ ORCH_BIN = "{orch}" }}

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

{tasks}"#,
        messenger = agent("messenger.sh"),
        inbox = agent("inbox.sh"),
        orch = ORCH,
    ));
}

/// Every message in state.db: (id, to, from task, from attempt, state,
/// delivered attempt, text).
type Stored = (
    i64,
    String,
    Option<String>,
    Option<u32>,
    String,
    Option<u32>,
    String,
);

fn messages(repo: &TestRepo) -> Vec<Stored> {
    let db = repo.db();
    let mut stmt = db
        .prepare(
            "SELECT id, task_id, from_task, from_attempt, state, delivered_attempt, body
             FROM messages ORDER BY id",
        )
        .expect("messages table");
    stmt.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ))
    })
    .expect("query")
    .collect::<Result<_, _>>()
    .expect("rows")
}

/// The `message` events `orch events --json` shows: (task, from, to, cause).
fn message_events(repo: &TestRepo) -> Vec<(String, Option<String>, String, String)> {
    let out = repo.run(&["events", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == "message")
        .map(|e| {
            (
                e["task"].as_str().unwrap_or_default().to_string(),
                e["from"].as_str().map(str::to_string),
                e["to"].as_str().unwrap_or_default().to_string(),
                e["cause"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn log_of(repo: &TestRepo, task: &str, attempt: u32) -> String {
    std::fs::read_to_string(
        repo.state_dir()
            .join("logs")
            .join(task)
            .join(format!("{attempt}.log")),
    )
    .unwrap_or_default()
}

#[test]
fn an_agent_messages_another_which_polls_and_acknowledges_and_what_it_could_not_print_comes_again()
{
    let repo = TestRepo::new();
    plan(
        &repo,
        r#"[[tasks]]
id = "reader"
agent = "inbox"
prompt = "2 lose-first"
merge = "never"

[[tasks]]
id = "writer"
agent = "messenger"
prompt = "reader"
merge = "never"
"#,
    );
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // The writer was told where its messages went.
    let writer = log_of(&repo, "writer", 1);
    assert!(
        writer.contains("orch: message #1 kept for reader")
            && writer.contains("orch: message #2 kept for reader"),
        "{writer}"
    );
    // The reader read both, in order, as sent, each once.
    let reader = log_of(&repo, "reader", 1);
    assert!(
        reader.contains("the first poll could not print"),
        "{reader}"
    );
    let inbox = repo.git(&["show", "orch/reader:inbox.txt"]);
    assert_eq!(
        inbox,
        "#1 from task writer: schema: users(id, name)\n\
         #2 from task writer: columns:\n    id integer\n    name text\n",
    );
    let stored = messages(&repo);
    assert_eq!(stored.len(), 2, "{stored:?}");
    for (id, to, from, from_attempt, state, delivered, _) in &stored {
        assert_eq!(
            (
                to.as_str(),
                from.as_deref(),
                *from_attempt,
                state.as_str(),
                *delivered
            ),
            ("reader", Some("writer"), Some(1), "acknowledged", Some(1)),
            "message {id}"
        );
    }
    assert_eq!(stored[1].6, "columns:\n  id integer\n  name text");

    // Each step is in the event log; the first poll's messages were handed
    // out again, not lost.
    let events = message_events(&repo);
    let of = |id: &str| -> Vec<(Option<String>, String)> {
        events
            .iter()
            .filter(|(task, _, _, cause)| task == "reader" && cause.starts_with(&format!("#{id} ")))
            .map(|(_, from, to, _)| (from.clone(), to.clone()))
            .collect()
    };
    let first = of("1");
    assert_eq!(
        first.first(),
        Some(&(None, "pending".to_string())),
        "{events:?}"
    );
    assert_eq!(
        first.last(),
        Some(&(Some("delivered".into()), "acknowledged".into())),
        "{events:?}"
    );
    assert!(
        first.contains(&(Some("delivered".into()), "delivered".into())),
        "the unprinted message was handed out again: {events:?}"
    );
    assert!(events.iter().any(|(_, _, to, cause)| to == "pending"
        && cause == "#1 from task writer: schema: users(id, name)"));
    // And the progress lines said so as it happened.
    assert!(
        out.stdout.contains("message") && out.stdout.contains("#2 from task writer: columns:"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_message_for_a_task_that_has_not_run_yet_survives_a_restart_of_orch() {
    let repo = TestRepo::new();
    let go = repo.path().join("go");
    plan(
        &repo,
        &format!(
            r#"[[tasks]]
id = "hold"
agent = "sh"
prompt = "{until} {go}"
merge = "never"

[[tasks]]
id = "later"
agent = "inbox"
prompt = "2"
depends_on = ["hold"]
merge = "never"
"#,
            until = agent("until_file.sh"),
            go = go.display(),
        ),
    );
    let mut run = repo.orch(&["--no-tui"]);
    run.env("USER", "tester")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut orch = run.spawn().expect("spawn orch");
    assert!(
        wait_until(Duration::from_secs(20), || repo
            .task_state("hold")
            .as_deref()
            == Some("running")),
        "hold never started"
    );
    // From a person, while orch runs: kept for a task that waits.
    let sent = repo.run(&[
        "msg",
        "send",
        "--to",
        "later",
        "from a person, while orch runs",
    ]);
    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert!(
        sent.stdout.contains(
            "message #1 kept for later; later is pending: its agent gets it once it runs"
        ),
        "{}",
        sent.stdout
    );
    // What a person may not do, and what a task that is not there gets.
    let poll = repo.run(&["msg", "poll"]);
    assert_eq!(poll.code, 2, "{}", poll.stderr);
    assert!(
        poll.stderr.contains("for agents orch runs"),
        "{}",
        poll.stderr
    );
    let nowhere = repo.run(&["msg", "send", "--to", "nope", "hello?"]);
    assert_eq!(nowhere.code, 1, "{}", nowhere.stderr);
    assert!(
        nowhere.stderr.contains("no task \"nope\""),
        "{}",
        nowhere.stderr
    );
    let escape = repo.run(&["msg", "send", "--to", "later", "\x1b[2J"]);
    assert_eq!(escape.code, 2, "{}", escape.stderr);

    // orch is interrupted: the message waits in state.db.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(orch.id() as i32).expect("pid"),
        rustix::process::Signal::INT,
    )
    .expect("interrupt orch");
    let status = orch.wait().expect("orch ends");
    assert_eq!(status.code(), Some(130));
    let stored = messages(&repo);
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0].4, "pending");
    let status = repo.status();
    let later = status["tasks"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "later"))
        .expect("later in status");
    assert_eq!(later["unread_messages"], 1, "{later}");

    // With nothing running, a message goes straight into state.db.
    let offline = repo.run(&["msg", "send", "--to", "later", "and one while nothing ran"]);
    assert_eq!(offline.code, 0, "{}\n{}", offline.stdout, offline.stderr);
    assert_eq!(messages(&repo).len(), 2);

    std::fs::write(&go, "").expect("release hold");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let inbox = repo.git(&["show", "orch/later:inbox.txt"]);
    let lines: Vec<&str> = inbox.lines().collect();
    assert_eq!(lines.len(), 2, "{inbox}");
    assert!(
        lines[0].starts_with("#1 from user ")
            && lines[0].ends_with(": from a person, while orch runs"),
        "{inbox}"
    );
    assert!(lines[1].ends_with(": and one while nothing ran"), "{inbox}");
    assert!(messages(&repo)
        .iter()
        .all(|m| m.4 == "acknowledged" && m.2.is_none() && m.5 == Some(1)));
}
