//! The driver with a fake agent backend and a git workspace whose jobs can
//! be held up: what the engine records while git is slow.

use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use crate::agent::backend::{OnExit, Started};
use crate::agent::pty::AgentExit;
use crate::engine::message::Heard;
use crate::git::{GitError, Known, MergeOutcome, MergeRequest, Prepare, Worktree};
use crate::store::AttemptStatus;

/// What the fakes do for a worktree: make its directory, report it made.
fn make_dir(req: &Prepare) -> Result<Worktree, GitError> {
    std::fs::create_dir_all(&req.dir).map_err(|source| GitError::Io {
        context: format!("creating {}", req.dir.display()),
        source,
    })?;
    Ok(Worktree {
        path: req.dir.clone(),
        branch: format!("orch/{}", req.task),
        created: true,
        ..Worktree::default()
    })
}

/// What the fakes answer to a merge.
fn merged() -> MergeOutcome {
    MergeOutcome::Merged {
        commit: "0123456789abcdef".into(),
    }
}

/// Worktree creation for one task blocks until the test lets it go.
struct SlowWorkspace {
    slow_task: String,
    entered: Mutex<std_mpsc::Sender<()>>,
    release: Mutex<std_mpsc::Receiver<()>>,
}

impl SlowWorkspace {
    /// Holds up `task`'s worktree job: the receiver hears when it starts,
    /// the sender lets it go.
    fn holding(task: &str) -> (SlowWorkspace, std_mpsc::Receiver<()>, std_mpsc::Sender<()>) {
        let (entered_tx, entered_rx) = std_mpsc::channel();
        let (release_tx, release_rx) = std_mpsc::channel();
        let workspace = SlowWorkspace {
            slow_task: task.into(),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        };
        (workspace, entered_rx, release_tx)
    }
}

impl Workspace for SlowWorkspace {
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError> {
        let made = make_dir(req);
        if req.task == self.slow_task {
            let _ = self.entered.lock().map(|tx| tx.send(()));
            let _ = self.release.lock().map(|rx| rx.recv());
        }
        made
    }

    fn commit_all(&self, _worktree: &Path, _message: &str) -> Result<Option<String>, GitError> {
        Ok(None)
    }

    fn merge(&self, _req: &MergeRequest) -> Result<MergeOutcome, GitError> {
        Ok(merged())
    }
}

/// Agents that exit 0 as soon as they start.
struct InstantAgents {
    next_pid: u32,
}

impl AgentBackend for InstantAgents {
    fn spawn(&mut self, _order: &SpawnOrder, on_exit: OnExit) -> Result<Started, SpawnError> {
        self.next_pid += 1;
        std::thread::spawn(move || on_exit(AgentExit::Code(0)));
        Ok(Started::unconfined(self.next_pid))
    }
    fn stop(&mut self, _task: &str, _attempt: u32, _grace: Duration) {}
    fn heard(&self) -> Vec<Heard> {
        Vec::new()
    }
    fn release(&mut self, _task: &str, _attempt: u32) {}
    fn kill_leftover(&mut self, _pid: u32, _worktree: &Path) {}
}

/// An engine over `store` with `workspace` and agents that exit 0 at once,
/// and a runtime to run it on.
fn engine(
    config: crate::config::Config,
    store: Store,
    workspace: Arc<dyn Workspace>,
) -> (Engine, tokio::runtime::Runtime) {
    let parts = Parts {
        workspace,
        backend: Box::new(|_health, _registry| {
            Ok(Box::new(InstantAgents { next_pid: 100 }) as Box<dyn AgentBackend>)
        }),
        clock: Arc::new(SystemClock),
    };
    let (engine, _handle) = Engine::with_parts(
        config,
        store,
        "main".into(),
        EngineOptions::default(),
        parts,
    )
    .expect("engine");
    (engine, runtime())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The plan `text` in `dir`, and a new store in its state directory (with
/// that store's path).
fn plan_in(dir: &Path, text: &str) -> (crate::config::Config, Store, std::path::PathBuf) {
    let config = crate::config::parse(text, &dir.join("orch.toml")).expect("config");
    let state_dir = dir.join(".orch");
    std::fs::create_dir_all(&state_dir).expect("state dir");
    let db = state_dir.join("state.db");
    let store = Store::open(&db).expect("store");
    (config, store, db)
}

/// Let the held-up worktree job go and wait for the run to end.
fn release_and_finish(
    runtime: &tokio::runtime::Runtime,
    release: &std_mpsc::Sender<()>,
    run: tokio::task::JoinHandle<Result<RunOutcome, EngineError>>,
) -> RunOutcome {
    release.send(()).expect("release");
    runtime
        .block_on(run)
        .expect("engine task")
        .expect("engine run")
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_exit_is_recorded_while_another_worktree_is_still_being_made() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text =
        "[project]\nmax_parallel = 2\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
        [[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"true\"\n\
        [[tasks]]\nid = \"quick\"\nagent = \"sh\"\nprompt = \"true\"\n";
    let (config, store, db) = plan_in(dir.path(), text);
    let (workspace, entered_rx, release_tx) = SlowWorkspace::holding("slow");
    let (engine, runtime) = engine(config, store, Arc::new(workspace));
    let run = runtime.spawn(engine.run());

    entered_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the slow worktree job started");
    // While git is busy with "slow", "quick" runs, exits and is recorded.
    let reader = Store::open_read_only(&db).expect("reader");
    wait_until("quick to be done", || {
        reader
            .task("quick")
            .ok()
            .flatten()
            .is_some_and(|t| t.state == TaskState::Done)
    });
    let attempts = reader.attempts("quick").expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].status, AttemptStatus::Succeeded);
    assert_eq!(attempts[0].exit_code, Some(0));
    assert_eq!(
        reader.task("slow").ok().flatten().map(|t| t.state),
        Some(TaskState::Running),
        "slow is still waiting for its worktree"
    );

    let outcome = release_and_finish(&runtime, &release_tx, run);
    assert_eq!(outcome.exit_code, 0);
}

/// Records what each worktree job was told, or panics when asked to.
struct RecordingWorkspace {
    seen: Arc<Mutex<Vec<Known>>>,
    panic: bool,
}

impl Workspace for RecordingWorkspace {
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError> {
        let known = req.known;
        if let Ok(mut seen) = self.seen.lock() {
            seen.push(known);
        }
        assert!(!self.panic, "a bug in a git job");
        make_dir(req)
    }

    fn commit_all(&self, _worktree: &Path, _message: &str) -> Result<Option<String>, GitError> {
        Ok(None)
    }

    fn merge(&self, _req: &MergeRequest) -> Result<MergeOutcome, GitError> {
        Ok(merged())
    }
}

/// Run a one-task plan to the end with `workspace`; the store's path.
fn run_one(
    dir: &Path,
    workspace: RecordingWorkspace,
    before: impl FnOnce(&mut Store),
) -> (RunOutcome, std::path::PathBuf) {
    let text = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
        [[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"true\"\nretries = 0\n";
    let (config, mut store, db) = plan_in(dir, text);
    before(&mut store);
    let (engine, runtime) = engine(config, store, Arc::new(workspace));
    let outcome = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), engine.run()).await })
        .expect("the run ended")
        .expect("engine run");
    (outcome, db)
}

#[test]
fn a_git_job_that_panics_fails_its_attempt_and_the_run_ends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workspace = RecordingWorkspace {
        seen: seen.clone(),
        panic: true,
    };
    let (outcome, db) = run_one(dir.path(), workspace, |_| {});
    assert_eq!(outcome.exit_code, 1);
    let reader = Store::open_read_only(&db).expect("reader");
    let task = reader.task("t").ok().flatten().expect("task");
    assert_eq!(task.state, TaskState::NeedsReview);
    assert!(
        task.cause
            .as_deref()
            .is_some_and(|c| c.contains("failed unexpectedly")),
        "{:?}",
        task.cause
    );
}

#[test]
fn a_recorded_worktree_whose_directory_is_gone_is_made_with_its_intent_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workspace = RecordingWorkspace {
        seen: seen.clone(),
        panic: false,
    };
    let worktree = dir.path().join(".orch/worktrees/t");
    let (outcome, db) = run_one(dir.path(), workspace, |store| {
        // An earlier run made it and an agent ran in it; then someone
        // deleted the directory.
        let mut row = crate::store::TaskRow::pending("t", "t", "sh", 1);
        row.state = TaskState::Queued;
        row.attempts = 1;
        let mut batch = store.batch().expect("batch");
        batch.put_task(&row).expect("task");
        batch
            .worktree(&WorktreeRow::ready(
                "t",
                &worktree.display().to_string(),
                "orch/t",
                1,
            ))
            .expect("worktree");
        batch.commit().expect("commit");
    });
    assert_eq!(outcome.exit_code, 0);
    let seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        vec![Known::Creating],
        "the job was told it is being made"
    );
    let reader = Store::open_read_only(&db).expect("reader");
    let row = reader.worktree("t").ok().flatten().expect("row");
    assert_eq!(row.state, crate::store::WorktreeState::Ready);
}

#[test]
fn a_task_added_to_a_running_engine_is_stored_runs_and_is_kept_by_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
        [[tasks]]\nid = \"slow\"\nagent = \"sh\"\nprompt = \"true\"\n";
    let (config, store, db) = plan_in(dir.path(), text);
    let (workspace, entered_rx, release_tx) = SlowWorkspace::holding("slow");
    let (first, runtime) = engine(config.clone(), store, Arc::new(workspace));
    let handle = first.handle();
    let run = runtime.spawn(first.run());
    entered_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the slow worktree job started");

    let new = crate::engine::message::NewTask {
        id: "extra".into(),
        agent: "sh".into(),
        prompt: "true".into(),
        title: Some("An extra task".into()),
        depends_on: Vec::new(),
        parent: None,
    };
    let alice = Actor::User("alice".into());
    let add = |new: crate::engine::message::NewTask| {
        runtime.block_on(handle.ask(alice.clone(), Request::AddTask(new)))
    };
    add(new.clone()).expect("added");
    // The answer comes once it is stored.
    let reader = Store::open_read_only(&db).expect("reader");
    let stored = reader.added_tasks().expect("added tasks");
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (&stored[0].task, stored[0].added_by.as_str()),
        (&new, "alice")
    );
    wait_until("extra to be done", || {
        reader
            .task("extra")
            .ok()
            .flatten()
            .is_some_and(|t| t.state == TaskState::Done)
    });
    let row = reader.task("extra").ok().flatten().expect("row");
    assert_eq!(
        (row.title.as_str(), row.origin.as_str()),
        ("An extra task", "cli")
    );
    assert_eq!(
        add(new.clone()),
        Err(ActionError::AlreadyExists {
            task: "extra".into(),
            state: TaskState::Done,
        })
    );
    let added_events: Vec<_> = reader
        .events(Some("extra"), 100)
        .expect("events")
        .into_iter()
        .filter(|e| e.kind == "task_added")
        .collect();
    assert_eq!(added_events.len(), 1);
    assert_eq!(added_events[0].cause.as_deref(), Some("added by alice"));

    let outcome = release_and_finish(&runtime, &release_tx, run);
    assert_eq!(outcome.exit_code, 0);
    drop(runtime);

    // The next start, with the same orch.toml: the added task is in the
    // plan, done, and nothing runs again.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let workspace = RecordingWorkspace {
        seen: seen.clone(),
        panic: false,
    };
    let store = Store::open(&db).expect("store");
    let (next, runtime) = engine(config, store, Arc::new(workspace));
    let rows = next.rows();
    let extra = rows
        .iter()
        .find(|r| r.id == "extra")
        .expect("still planned");
    assert_eq!(
        (extra.state, extra.origin.as_str()),
        (TaskState::Done, "cli")
    );
    let outcome = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), next.run()).await })
        .expect("the run ended")
        .expect("engine run");
    assert_eq!(outcome.exit_code, 0);
    assert!(
        seen.lock().map(|s| s.is_empty()).unwrap_or(false),
        "nothing ran again"
    );
    assert_eq!(reader.attempts("extra").expect("attempts").len(), 1);
}

/// Agents that run until the test lets them exit; every spawn's order is
/// kept, and each agent's exit waits under its task's name.
#[derive(Default, Clone)]
struct HeldAgents {
    orders: Arc<Mutex<Vec<SpawnOrder>>>,
    exits: Arc<Mutex<std::collections::HashMap<String, OnExit>>>,
}

impl AgentBackend for HeldAgents {
    fn spawn(&mut self, order: &SpawnOrder, on_exit: OnExit) -> Result<Started, SpawnError> {
        self.orders.lock().expect("orders").push(order.clone());
        self.exits
            .lock()
            .expect("exits")
            .insert(order.task.clone(), on_exit);
        Ok(Started::unconfined(4000 + order.attempt))
    }
    fn stop(&mut self, _task: &str, _attempt: u32, _grace: Duration) {}
    fn heard(&self) -> Vec<Heard> {
        Vec::new()
    }
    fn release(&mut self, _task: &str, _attempt: u32) {}
    fn kill_leftover(&mut self, _pid: u32, _worktree: &Path) {}
}

fn env_of<'o>(order: &'o SpawnOrder, name: &str) -> Option<&'o str> {
    order
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn each_attempt_s_agent_gets_its_socket_and_a_token_valid_while_it_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // An agent config's own ORCH_TOKEN never replaces the attempt's.
    let text =
        "[project]\nmax_parallel = 2\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n\
        env = { ORCH_TOKEN = \"forged\" }\n\
        [[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"true\"\n\
        [[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"true\"\n";
    let (config, store, _db) = plan_in(dir.path(), text);
    let agents = HeldAgents::default();
    let backend = agents.clone();
    let parts = Parts {
        workspace: Arc::new(RecordingWorkspace {
            seen: Arc::default(),
            panic: false,
        }),
        backend: Box::new(move |_health, _registry| Ok(Box::new(backend) as Box<dyn AgentBackend>)),
        clock: Arc::new(SystemClock),
    };
    let (engine, handle) = Engine::with_parts(
        config,
        store,
        "main".into(),
        EngineOptions::default(),
        parts,
    )
    .expect("engine");
    let runtime = runtime();
    let run = runtime.spawn(engine.run());
    wait_until("both agents to start", || {
        agents.orders.lock().expect("orders").len() == 2
    });
    let orders = agents.orders.lock().expect("orders").clone();
    let socket = dir.path().join(".orch").join("orch.sock");
    let mut tokens = Vec::new();
    for order in &orders {
        assert_eq!(env_of(order, "ORCH_TASK_ID"), Some(order.task.as_str()));
        assert_eq!(env_of(order, "ORCH_ATTEMPT"), Some("1"));
        assert_eq!(
            env_of(order, "ORCH_SOCKET").map(std::path::PathBuf::from),
            Some(socket.clone())
        );
        let exe = std::env::current_exe().expect("this program");
        assert_eq!(
            env_of(order, "ORCH_BIN").map(std::path::PathBuf::from),
            Some(exe),
            "the orch that runs it"
        );
        let token = env_of(order, "ORCH_TOKEN").expect("a token").to_string();
        assert!(crate::agent::token::well_formed(&token), "{token}");
        let id = handle.tokens().lookup(&token).expect("registered");
        assert_eq!((id.task.as_str(), id.attempt), (order.task.as_str(), 1));
        tokens.push((order.task.clone(), token));
    }
    assert_ne!(tokens[0].1, tokens[1].1);

    // The first agent exits: its token is void, the other's still good.
    let exit = |task: &str| {
        let on_exit = agents.exits.lock().expect("exits").remove(task);
        on_exit.expect("an exit waiting")(AgentExit::Code(0));
    };
    exit(&tokens[0].0);
    wait_until("the ended attempt's token to be void", || {
        handle.tokens().lookup(&tokens[0].1).is_none()
    });
    assert!(handle.tokens().lookup(&tokens[1].1).is_some());
    exit(&tokens[1].0);
    let outcome = runtime
        .block_on(run)
        .expect("engine task")
        .expect("engine run");
    assert_eq!(outcome.exit_code, 0);
    assert!(handle.tokens().is_empty());
}
