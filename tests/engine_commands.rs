//! The engine driven in-process through its command interface, as the
//! control room drives it: approve, reject, cancel, skip, retry, reload.
//! Real (tiny) agents in real temporary repositories.

mod common;

use std::time::Duration;

use common::*;
use orch::config::parse;
use orch::engine::{
    ActionError, Actor, Engine, EngineHandle, EngineOptions, Event, Request, RunOutcome, TaskState,
};
use orch::session::Session;
use tokio::sync::broadcast;

struct Run {
    handle: EngineHandle,
    events: broadcast::Receiver<Event>,
    task: tokio::task::JoinHandle<RunOutcome>,
    states: std::collections::HashMap<String, TaskState>,
}

impl Run {
    fn start(repo: &TestRepo) -> Run {
        let config = orch::config::load(&repo.path().join("orch.toml")).expect("config");
        let session = Session::open(config).expect("session");
        let opts = EngineOptions {
            mode: "tui",
            approval_timeout: None,
            exit_when_settled: false,
            ..EngineOptions::default()
        };
        let (engine, handle) = Engine::new(
            session.config,
            session.store,
            session.repo,
            session.base_branch,
            opts,
        )
        .expect("engine");
        let states = engine.rows().into_iter().map(|r| (r.id, r.state)).collect();
        let events = handle.subscribe();
        // The lock must live as long as the run; leak it into the task.
        let lock = session.lock;
        let task = tokio::spawn(async move {
            let outcome = engine.run().await.expect("run");
            drop(lock);
            outcome
        });
        Run {
            handle,
            events,
            task,
            states,
        }
    }

    /// Wait (up to 20 s) until `id` is in `state`, following events.
    async fn wait_for(&mut self, id: &str, state: TaskState) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while self.states.get(id) != Some(&state) {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("{id} never became {state}; states {:?}", self.states))
                .expect("events");
            if let Event::Task { row, .. } = event {
                self.states.insert(row.id.clone(), row.state);
            }
        }
    }

    async fn ask(&self, request: Request) -> Result<(), ActionError> {
        self.handle.ask(user(), request).await
    }

    async fn stop(self) -> RunOutcome {
        let _ = self
            .handle
            .ask(user(), Request::Shutdown { stop_agents: true })
            .await;
        self.task.await.expect("engine task")
    }
}

fn user() -> Actor {
    Actor::User("tester".into())
}

const HEAD: &str = "[defaults]\nretries = 0\nbackoff = \"10ms\"\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_reject_and_wrong_state_actions() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "{HEAD}[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"true\"\nrisk = \"high\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"true\"\napproval = \"before_start\"\n"
    ));
    let mut run = Run::start(&repo);
    run.wait_for("a", TaskState::AwaitingApproval).await;
    run.wait_for("b", TaskState::AwaitingApproval).await;
    run.ask(Request::Approve {
        task: "a".into(),
        reason: None,
    })
    .await
    .expect("approve");
    run.wait_for("a", TaskState::Done).await;
    let refused = run
        .ask(Request::Approve {
            task: "a".into(),
            reason: None,
        })
        .await;
    assert!(
        matches!(refused, Err(ActionError::WrongState { .. })),
        "{refused:?}"
    );
    let unknown = run
        .ask(Request::Retry {
            task: "zz".into(),
            fresh: false,
        })
        .await;
    assert_eq!(unknown, Err(ActionError::UnknownTask("zz".into())));
    run.ask(Request::Reject {
        task: "b".into(),
        reason: Some("not today".into()),
    })
    .await
    .expect("reject");
    run.wait_for("b", TaskState::Rejected).await;
    run.stop().await;
    let (by, reason): (String, String) = repo
        .db()
        .query_row(
            "SELECT by, reason FROM approvals WHERE task_id = 'b'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((by.as_str(), reason.as_str()), ("tester", "not today"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_running_task_stops_its_agent_and_blocks_dependents() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "{HEAD}[[tasks]]\nid = \"long\"\nagent = \"sh\"\nprompt = \"{} 60\"\n[[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"true\"\ndepends_on = [\"long\"]\n",
        agent("silent.sh")
    ));
    let mut run = Run::start(&repo);
    run.wait_for("long", TaskState::Running).await;
    run.ask(Request::Cancel {
        task: "long".into(),
    })
    .await
    .expect("cancel");
    run.wait_for("long", TaskState::Cancelled).await;
    run.wait_for("after", TaskState::Blocked).await;
    run.stop().await;
    let status: String = repo
        .db()
        .query_row(
            "SELECT status FROM attempts WHERE task_id = 'long'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(status, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_and_retry_unblock_dependents() {
    let repo = TestRepo::new();
    let flag = repo.path().join("fixed");
    repo.write_config(&format!(
        "{HEAD}[[tasks]]\nid = \"broken\"\nagent = \"sh\"\nprompt = \"test -e {f}\"\n[[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"true\"\ndepends_on = [\"broken\"]\n[[tasks]]\nid = \"other\"\nagent = \"sh\"\nprompt = \"exit 1\"\n[[tasks]]\nid = \"after-other\"\nagent = \"sh\"\nprompt = \"true\"\ndepends_on = [\"other\"]\n",
        f = flag.display()
    ));
    let mut run = Run::start(&repo);
    run.wait_for("broken", TaskState::NeedsReview).await;
    run.wait_for("after", TaskState::Blocked).await;
    run.wait_for("other", TaskState::NeedsReview).await;
    run.wait_for("after-other", TaskState::Blocked).await;

    // Retry after fixing the cause: it runs again and its dependent follows.
    std::fs::write(&flag, "").unwrap();
    run.ask(Request::Retry {
        task: "broken".into(),
        fresh: false,
    })
    .await
    .expect("retry");
    run.wait_for("broken", TaskState::Done).await;
    run.wait_for("after", TaskState::Done).await;

    // Skip: marked done without running; its dependent runs.
    run.ask(Request::Skip {
        task: "other".into(),
        reason: Some("not needed".into()),
    })
    .await
    .expect("skip");
    run.wait_for("other", TaskState::Done).await;
    run.wait_for("after-other", TaskState::Done).await;
    run.stop().await;
    let (skipped, cause): (bool, String) = repo
        .db()
        .query_row(
            "SELECT skipped, cause FROM tasks WHERE id = 'other'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(skipped);
    assert_eq!(cause, "skipped by user: not needed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_adds_tasks_and_new_dependencies_hold_back_queued_ones() {
    let repo = TestRepo::new();
    // "waiting" is queued behind a busy singleton agent when the reload
    // makes it depend on a new task.
    let plan = |extra: &str, dep: &str| {
        format!(
            "[defaults]\nretries = 0\n[agents.solo]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\nmax_instances = 1\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n[[tasks]]\nid = \"busy\"\nagent = \"solo\"\nprompt = \"sleep 2\"\n[[tasks]]\nid = \"waiting\"\nagent = \"solo\"\nprompt = \"true\"\n{dep}{extra}"
        )
    };
    repo.write_config(&plan("", ""));
    let mut run = Run::start(&repo);
    run.wait_for("busy", TaskState::Running).await;
    run.wait_for("waiting", TaskState::Queued).await;
    let edited = plan(
        &format!(
            "[[tasks]]\nid = \"first\"\nagent = \"sh\"\nprompt = \"{} 3\"\n",
            agent("silent.sh")
        ),
        "depends_on = [\"first\"]\n",
    );
    repo.write_config(&edited);
    let config = parse(&edited, &repo.path().join("orch.toml")).expect("valid edit");
    run.handle
        .ask(
            user(),
            Request::Reload {
                config: Box::new(config),
            },
        )
        .await
        .unwrap();
    run.wait_for("waiting", TaskState::Pending).await;
    run.wait_for("first", TaskState::Running).await;
    run.wait_for("first", TaskState::Done).await;
    run.wait_for("waiting", TaskState::Done).await;
    run.stop().await;
    // "waiting" started only after "first" ended.
    let db = repo.db();
    let first_end: i64 = db
        .query_row(
            "SELECT ended_at FROM attempts WHERE task_id = 'first'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let waiting_start: i64 = db
        .query_row(
            "SELECT started_at FROM attempts WHERE task_id = 'waiting'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        waiting_start >= first_end,
        "waiting started {waiting_start}, first ended {first_end}"
    );
}
