//! The per-repository server: started in the background by `orch` (its
//! own session, no terminal, stdio closed once it is ready, tracing to
//! `server.log`), it owns the engine, the store and every agent's PTY,
//! serves the control socket, and ends on `orch stop`, on a control room's
//! "stop agents and quit", on SIGTERM, or by itself once the plan is
//! settled and no client has been connected for a while.
//!
//! A foreground `orch --no-tui` run serves the same socket with
//! [`serve_socket`].

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::protocol::Bye;
use super::server::{self, Feeds, Shared, SharedParts};
use super::socket;
use crate::config::watch::ConfigWatcher;
use crate::config::Config;
use crate::engine::{Actor, Engine, EngineHandle, EngineOptions, Request, RunOutcome, TaskState};
use crate::session::Session;
use crate::store::{MergeState, Store, TaskRow};

/// The line the server prints on stdout once its socket answers.
const READY: &str = "orch server ready";

/// The environment variable that sets how long a settled server with no
/// client waits before it ends (a duration such as `30s`; default 5m).
pub const LINGER_VAR: &str = "ORCH_SERVER_LINGER";
const LINGER: Duration = Duration::from_secs(300);

/// What the starter passes to the server it starts.
pub struct ServerArgs {
    pub config: PathBuf,
    pub cols: u16,
    pub rows: u16,
}

/// Start the server for `config` in the background and wait until it
/// answers. `Err` carries the exit status after its complaint was printed
/// (a bad config, a second orch, ...).
pub fn start_in_background(args: &ServerArgs) -> Result<(), i32> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().map_err(|err| {
        eprintln!("orch: cannot find my own executable to start the server: {err}");
        1
    })?;
    let mut command = Command::new(exe);
    command
        .arg("--config")
        .arg(crate::session::absolute(&args.config))
        .arg("__server")
        .arg("--cols")
        .arg(args.cols.to_string())
        .arg("--rows")
        .arg(args.rows.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: `setsid` is async-signal-safe and touches no memory of the
    // parent; it makes the server a session leader with no controlling
    // terminal, so closing this terminal (SIGHUP) never reaches it.
    unsafe {
        command.pre_exec(|| rustix::process::setsid().map(drop).map_err(Into::into));
    }
    let mut child = command.spawn().map_err(|err| {
        eprintln!("orch: cannot start the server: {err}");
        1
    })?;
    let mut line = String::new();
    if let Some(stdout) = child.stdout.take() {
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
    }
    if line.trim() == READY {
        return Ok(());
    }
    // It ended before it was ready: its complaint is on stderr.
    let mut complaint = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut complaint);
    }
    let status = child.wait().ok().and_then(|s| s.code()).unwrap_or(1);
    eprint!("{complaint}");
    if complaint.is_empty() {
        eprintln!("orch: the server ended before it was ready (exit status {status})");
    }
    Err(if status == 0 { 1 } else { status })
}

/// The server process: `orch __server`. The exit status.
pub fn server_main(args: &ServerArgs) -> i32 {
    let config = match crate::session::load_config(&args.config) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return err.exit_code();
        }
    };
    let session = match Session::open(config) {
        Ok(session) => session,
        Err(err) => {
            eprintln!("orch: {err}");
            return err.exit_code();
        }
    };
    let log = session.state_dir.join("server.log");
    match super::server_log::ServerLog::open(&log, super::server_log::CAP) {
        Ok(writer) => crate::cli::init_tracing_to(writer),
        // Said while stderr still reaches whoever started the server.
        Err(err) => eprintln!("orch: cannot open {}: {err}; logging is off", log.display()),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("orch-server")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orch: cannot start the async runtime: {err}");
            return 1;
        }
    };
    let code = runtime.block_on(serve(session, (args.cols, args.rows)));
    // Agents' threads may still be winding down; nothing else is owed.
    runtime.shutdown_timeout(Duration::from_secs(2));
    code
}

async fn serve(session: Session, (cols, rows): (u16, u16)) -> i32 {
    let Session {
        config,
        repo,
        base_branch,
        state_dir,
        store,
        lock,
    } = session;
    // Agents' orphans stay ours, to be known and stopped (and reaped).
    let reaper = crate::agent::reaper::adopt_orphans();
    let (signal, output) = server::output_signal();
    // The first client's output pane, roughly, until it says its size.
    let areas = crate::ui::layout::split(ratatui::layout::Rect::new(0, 0, cols, rows), 0, 0);
    let opts = EngineOptions {
        mode: "server",
        approve_all: false,
        approval_timeout: None,
        exit_when_settled: false,
        pty_rows: areas.output.height.saturating_sub(2).max(5),
        pty_cols: areas.output.width.saturating_sub(2).max(20),
        output_signal: Some(signal),
        ..EngineOptions::default()
    };
    let config_path = config.path.clone();
    let (engine, handle) = match Engine::new(
        config.clone(),
        store,
        repo.clone(),
        base_branch.clone(),
        opts,
    ) {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let listener = match socket::bind(&state_dir).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("orch: cannot serve the control socket: {err}");
            return 1;
        }
    };
    let (shared, feeds) = Shared::new(SharedParts {
        handle: handle.clone(),
        state_dir: state_dir.clone(),
        repo,
        base_branch,
        // The engine's plan: tasks added at run time (by earlier servers
        // too) are in it, as they are in its snapshots.
        config: (*handle.plan()).clone(),
        output,
    });
    let engine_task = tokio::spawn(engine.run());
    let accept = tokio::spawn(server::accept(listener, shared.clone()));
    let feeds = Arc::new(feeds);
    let plan = tokio::spawn(follow_plan(handle.clone(), feeds.clone()));
    let watcher = watch_config(&config_path, handle.clone(), feeds.clone());
    let idle = tokio::spawn(end_when_idle(shared.clone(), linger()));
    let signals = tokio::spawn(stop_on_signal(handle.clone()));
    say_ready();
    tracing::info!(pid = std::process::id(), "server ready");

    let outcome = engine_task.await;
    drop(watcher);
    for task in [idle, signals, plan].into_iter().chain(reaper) {
        task.abort();
    }
    let bye = match outcome {
        Ok(Ok(outcome)) => summary(&state_dir, &handle.plan(), &outcome),
        Ok(Err(err)) => Bye {
            message: format!("orch: the engine stopped: {err}"),
            code: 1,
        },
        Err(err) => Bye {
            message: format!("orch: the engine failed: {err}"),
            code: 1,
        },
    };
    let code = bye.code;
    tracing::info!("server ending: {}", bye.message);
    let _ = feeds.ending.send(Some(bye));
    wait_for_clients_to_leave(&shared).await;
    accept.abort();
    remove_socket(&state_dir);
    drop(lock);
    code
}

/// Tell the starter the server answers, then let go of its pipes: from
/// here on nothing is written to them (tracing goes to the log).
fn say_ready() {
    use std::io::Write;
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{READY}");
    let _ = out.flush();
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        Ok(null) => {
            for (what, result) in [
                ("stdin", rustix::stdio::dup2_stdin(&null)),
                ("stdout", rustix::stdio::dup2_stdout(&null)),
                ("stderr", rustix::stdio::dup2_stderr(&null)),
            ] {
                if let Err(err) = result {
                    tracing::warn!("cannot close the server's {what}: {err}");
                }
            }
        }
        Err(err) => tracing::warn!("cannot open /dev/null: {err}"),
    }
}

fn linger() -> Duration {
    std::env::var(LINGER_VAR)
        .ok()
        .and_then(|v| crate::config::parse_duration(&v).ok())
        .unwrap_or(LINGER)
}

/// The socket goes with the server (a path in the runtime directory and
/// its link both), unless another server has taken it meanwhile.
fn remove_socket(state_dir: &Path) {
    let path = socket::socket_path(state_dir);
    let _ = std::fs::remove_file(&path);
    let link = state_dir.join(socket::SOCKET_NAME);
    if link != path {
        let _ = std::fs::remove_file(&link);
    }
}

/// Give connected clients a moment to read their goodbye.
async fn wait_for_clients_to_leave(shared: &Shared) {
    let mut connected = shared.connected.subscribe();
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while shared.clients() > 0 {
            if connected.changed().await.is_err() {
                break;
            }
        }
    })
    .await;
}

/// Keep the views' idea of the plan's config the engine's, until it ends.
async fn follow_plan(handle: EngineHandle, feeds: Arc<Feeds>) {
    let mut plan = handle.watch_plan();
    while plan.changed().await.is_ok() {
        let config = plan.borrow_and_update().clone();
        let _ = feeds.config.send(config);
    }
}

/// Edits of orch.toml go to the engine; an edit that does not load stands
/// as the views' config error until a good one replaces it.
fn watch_config(path: &Path, handle: EngineHandle, feeds: Arc<Feeds>) -> Option<ConfigWatcher> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let watcher = ConfigWatcher::start(path, Duration::from_millis(300), move |result| {
        tx.blocking_send(result).is_ok()
    });
    let watcher = match watcher {
        Ok(watcher) => watcher,
        Err(err) => {
            let _ = feeds.config_error.send(Some(err.to_string()));
            return None;
        }
    };
    tokio::spawn(async move {
        while let Some(result) = rx.recv().await {
            match result {
                Ok(config) => {
                    let _ = feeds.config_error.send(None);
                    feeds.reloaded.send_modify(|n| *n += 1);
                    let reload = Request::Reload {
                        config: Box::new(config),
                    };
                    crate::log_err(
                        handle.tell(Actor::current_user(), reload).await,
                        "handing the reloaded config to the engine",
                    );
                }
                Err(errors) => {
                    let _ = feeds.config_error.send(Some(errors.to_string()));
                }
            }
        }
    });
    Some(watcher)
}

/// SIGTERM or SIGINT: stop the agents cleanly and end. SIGHUP is ignored:
/// the server has no terminal to lose.
async fn stop_on_signal(handle: EngineHandle) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    loop {
        tokio::select! {
            _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break,
            _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => break,
            _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
    }
    tracing::info!("signalled: stopping");
    let stop = Request::Shutdown { stop_agents: true };
    crate::log_err(
        handle.tell(Actor::current_user(), stop).await,
        "asking the engine to stop",
    );
}

/// End the server once the plan is settled (nothing owed: see
/// [`EngineHandle::is_settled`]) and no client has been connected for
/// `linger`. Woken only by connections coming and going and by the engine
/// saying the plan settled or unsettled: no polling.
async fn end_when_idle(shared: Arc<Shared>, linger: Duration) {
    let mut connected = shared.connected.subscribe();
    let mut settled = shared.handle.watch_settled();
    loop {
        let idle = shared.clients() == 0 && *settled.borrow_and_update();
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(linger) => {
                    if shared.handle.is_settled() && shared.end_if_idle() {
                        tracing::info!("the plan is settled and no client came for {linger:?}: ending");
                        let stop = Request::Shutdown { stop_agents: true };
                        crate::log_err(
                            shared.handle.tell(Actor::current_user(), stop).await,
                            "asking the engine to stop",
                        );
                        return;
                    }
                }
                changed = connected.changed() => if changed.is_err() { return },
                changed = settled.changed() => if changed.is_err() { return },
            }
        } else {
            tokio::select! {
                changed = connected.changed() => if changed.is_err() { return },
                changed = settled.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// How the run ended, for every client: the tasks of the engine's plan
/// (added ones included) as it saved them, and its exit status (DESIGN
/// section 5, merges counted: `RunOutcome::exit_code`).
fn summary(state_dir: &Path, plan: &Config, outcome: &RunOutcome) -> Bye {
    let ids: Vec<&str> = plan.tasks.iter().map(|t| t.id.as_str()).collect();
    let rows: Vec<TaskRow> = Store::open_read_only(&state_dir.join("state.db"))
        .ok()
        .and_then(|store| store.tasks().ok())
        .map(|rows| {
            rows.into_iter()
                .filter(|r| ids.contains(&r.id.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let done = rows.iter().filter(|r| r.state == TaskState::Done).count();
    let unmerged = rows
        .iter()
        .filter(|r| {
            r.state == TaskState::Done
                && !r.skipped
                && matches!(
                    r.merge_state,
                    MergeState::AwaitingApproval | MergeState::Waiting | MergeState::Conflict
                )
        })
        .count();
    let total = rows.len().max(ids.len());
    let mut message = format!("orch: {done}/{total} task(s) done");
    if unmerged > 0 {
        message.push_str(&format!(
            "; {unmerged} merge(s) waiting or conflicted (orch status)"
        ));
    }
    message.push_str(&format!("; state saved in {}", state_dir.display()));
    if outcome.interrupted || done < total {
        message.push_str("; run orch again to resume");
    }
    if outcome.exit_code != 0 {
        message.push_str(&format!(" (exit status {})", outcome.exit_code));
    }
    Bye {
        message,
        code: outcome.exit_code,
    }
}

/// Serve the control socket for a foreground run (`orch --no-tui`): the
/// same clients as the server's. `None` (logged, said on stderr) when the
/// socket cannot be bound; the run goes on without it.
pub async fn serve_socket(
    handle: EngineHandle,
    session: (&Path, &crate::git::Repo, &str),
    output: tokio::sync::watch::Receiver<u64>,
) -> Option<(Arc<Shared>, Arc<Feeds>, tokio::task::JoinHandle<()>)> {
    let (state_dir, repo, base_branch) = session;
    let listener = match socket::bind(state_dir).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("orch: not serving the control socket: {err}");
            return None;
        }
    };
    let config = (*handle.plan()).clone();
    let (shared, feeds) = Shared::new(SharedParts {
        handle,
        state_dir: state_dir.to_path_buf(),
        repo: repo.clone(),
        base_branch: base_branch.to_string(),
        config,
        output,
    });
    let feeds = Arc::new(feeds);
    tokio::spawn(follow_plan(shared.handle.clone(), feeds.clone()));
    let accept = tokio::spawn(server::accept(listener, shared.clone()));
    Some((shared, feeds, accept))
}

/// End a foreground run's socket: clients are told, then it is removed.
pub async fn end_socket(
    served: Option<(Arc<Shared>, Arc<Feeds>, tokio::task::JoinHandle<()>)>,
    state_dir: &Path,
    bye: Bye,
) {
    let Some((shared, feeds, accept)) = served else {
        return;
    };
    let _ = feeds.ending.send(Some(bye));
    wait_for_clients_to_leave(&shared).await;
    accept.abort();
    remove_socket(state_dir);
}
