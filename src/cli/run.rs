//! Running the plan: setup, the engine, progress and reports.

use std::time::Duration;

use crate::cli::Cli;
use crate::engine::{Actor, Engine, EngineOptions, Request, TaskState};
use crate::headless::{report, Progress, RunReport};
use crate::session::{self, Session};
use crate::store::Store;
use crate::timefmt::now_ms;

pub fn run(cli: &Cli) -> i32 {
    let config = match session::load_config(&cli.config) {
        Ok(config) => config,
        Err(err) => {
            // A server keeps the last good config while the file has a bad
            // edit: a control room still connects to it (and shows the
            // error there).
            if let Some(code) = reconnect_despite(cli) {
                return code;
            }
            eprintln!("{err}");
            eprintln!(
                "{}: the config has errors; nothing was run",
                cli.config.display()
            );
            return err.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("orch-engine")
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orch: cannot start the async runtime: {err}");
            return 1;
        }
    };
    use std::io::IsTerminal;
    let has_terminal = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let tui = !cli.no_tui && has_terminal;
    // The control room's keys and colours are checked before anything is
    // written, like the config.
    let style = if tui {
        let choice = crate::ui::UiChoice {
            theme: cli.theme.clone(),
            keymap: cli.keymap.clone(),
            no_color: crate::ui::no_color_wanted(),
            in_tmux: false,
        };
        match crate::ui::load_style(&config, &choice) {
            Ok(style) => Some(style),
            Err(err) => {
                eprintln!("{err}");
                return 2;
            }
        }
    } else {
        None
    };
    if style.is_some() {
        let state_dir = crate::session::absolute(&config.root.join(&config.project.state_dir));
        return runtime.block_on(control_room(cli, &state_dir));
    }
    let session = match Session::open(config) {
        Ok(session) => session,
        Err(err) => {
            eprintln!("orch: {err}");
            return err.exit_code();
        }
    };
    if !cli.no_tui {
        eprintln!("orch: no terminal for the control room; running headless (as --no-tui)");
    }
    init_tracing_to(std::io::stderr());
    runtime.block_on(headless(cli, session))
}

/// With `orch.toml` unreadable: the control room of a server that already
/// runs here, if this is a terminal and one answers; `None` otherwise.
fn reconnect_despite(cli: &Cli) -> Option<i32> {
    use std::io::IsTerminal;
    if cli.no_tui || !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return None;
    }
    let state_dir = super::state_dir_for(&cli.config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        crate::control::socket::connect(&state_dir).await.ok()?;
        let theme = cli.theme.clone();
        let keymap = cli.keymap.clone();
        match crate::control::client::control_room(&state_dir, theme, keymap).await {
            Ok(code) => Some(code),
            Err(err) => {
                eprintln!("orch: {err}");
                Some(1)
            }
        }
    })
}

/// `orch` on a terminal: connect to this repository's server, starting it
/// in the background first if none answers, and show its control room.
async fn control_room(cli: &Cli, state_dir: &std::path::Path) -> i32 {
    use crate::control::client::{self, ClientError};
    use crate::control::daemon;
    let theme = cli.theme.clone();
    let keymap = cli.keymap.clone();
    let mut started = false;
    loop {
        // A server that was just ending is gone by now (`client::connect`
        // waits for it): this orch starts the next one.
        match client::control_room(state_dir, theme.clone(), keymap.clone()).await {
            Ok(code) => return code,
            Err(ClientError::NotRunning(_)) if !started => {
                started = true;
                let (cols, rows) = crossterm::terminal::size().unwrap_or((120, 40));
                let args = daemon::ServerArgs {
                    config: cli.config.clone(),
                    cols,
                    rows,
                };
                if let Err(code) =
                    tokio::task::block_in_place(|| daemon::start_in_background(&args))
                {
                    // Another orch may have started one at the same moment.
                    if crate::session::lock_holder(state_dir).is_some()
                        && wait_for_socket(state_dir).await
                    {
                        continue;
                    }
                    return code;
                }
            }
            Err(err) => {
                eprintln!("orch: {err}");
                return 1;
            }
        }
    }
}

/// Whether a socket answers within a few seconds.
async fn wait_for_socket(state_dir: &std::path::Path) -> bool {
    for _ in 0..100 {
        if crate::control::socket::connect(state_dir).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Headless, logs go to stderr (never mixed with the progress lines on
/// stdout); a server's go to `server.log` (see `control::server_log`).
/// `ORCH_LOG` sets the filter (default: warnings only). No colours.
pub(crate) fn init_tracing_to<W: std::io::Write + Send + 'static>(writer: W) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(writer))
        .try_init();
}

async fn headless(cli: &Cli, session: Session) -> i32 {
    let Session {
        config,
        repo,
        base_branch,
        state_dir,
        store,
        lock,
        ..
    } = session;
    let started = now_ms();
    // Agents' orphans stay ours, to be known and stopped (and reaped).
    let reaper = crate::agent::reaper::adopt_orphans();
    let (signal, output) = crate::control::server::output_signal();
    let opts = EngineOptions {
        mode: "headless",
        approve_all: cli.approve_all,
        approval_timeout: Some(cli.approval_timeout),
        exit_when_settled: true,
        output_signal: Some(signal),
        ..EngineOptions::default()
    };
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
    // The engine's plan: the file's tasks and those added at run time.
    let plan = handle.plan();
    let progress = Progress::new(&plan);
    {
        let snapshot = engine.rows();
        let done: Vec<&str> = snapshot
            .iter()
            .filter(|t| t.state == TaskState::Done)
            .map(|t| t.id.as_str())
            .collect();
        println!(
            "orch: {} task(s) from {} on base branch {} (state in {})",
            plan.tasks.len(),
            cli.config.display(),
            base_branch,
            state_dir.display()
        );
        if !done.is_empty() {
            println!("orch: already done, not run again: {}", done.join(", "));
        }
        if snapshot.iter().all(|t| t.state.is_settled()) {
            println!(
                "orch: {}",
                crate::session::run_again_hint(&state_dir, false)
            );
        }
        for row in snapshot
            .iter()
            .filter(|t| t.state.is_settled() && t.state != TaskState::Done)
        {
            println!(
                "orch: {} is {} from an earlier run{}",
                row.id,
                row.state,
                row.cause
                    .as_ref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            );
        }
    }

    // Another step of the job can approve, watch or attach meanwhile.
    let served = crate::control::daemon::serve_socket(
        handle.clone(),
        (&state_dir, &repo, &base_branch),
        output,
    )
    .await;
    let events = handle.subscribe();
    let printer = tokio::spawn(progress.follow(events));
    let stopper = handle.clone();
    let signals = tokio::spawn(async move {
        wait_for_interrupt().await;
        eprintln!("orch: interrupted; stopping agents (state is saved, run again to resume)");
        let stop = Request::Shutdown { stop_agents: true };
        let _ = stopper.tell(Actor::current_user(), stop).await;
    });

    let outcome = engine.run().await;
    signals.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), printer).await;
    let exit_code = match outcome {
        Ok(outcome) => outcome.exit_code,
        Err(err) => {
            eprintln!("orch: the run stopped: {err}");
            1
        }
    };
    // Tasks added during the run are in the plan it ended with.
    let plan = handle.plan();
    let code = write_reports(cli, &plan, &state_dir, &base_branch, exit_code, started);
    let bye = crate::control::protocol::Bye {
        message: format!("orch: the headless run ended with exit status {code}"),
        code,
    };
    crate::control::daemon::end_socket(served, &state_dir, bye).await;
    if let Some(reaper) = reaper {
        reaper.abort();
    }
    drop(lock);
    code
}

/// Ctrl-C, SIGTERM or SIGHUP.
async fn wait_for_interrupt() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        _ = async { match hup.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
    }
}

fn write_reports(
    cli: &Cli,
    config: &crate::config::Config,
    state_dir: &std::path::Path,
    base_branch: &str,
    exit_code: i32,
    started: i64,
) -> i32 {
    let store = match Store::open_read_only(&state_dir.join("state.db")) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("orch: cannot read the results: {err}");
            return exit_code.max(1);
        }
    };
    let report = match RunReport::collect(&store, config, base_branch, exit_code, started, now_ms())
    {
        Ok(report) => report,
        Err(err) => {
            eprintln!("orch: cannot read the results: {err}");
            return exit_code.max(1);
        }
    };
    println!();
    print!("{}", report.summary());
    let mut code = exit_code;
    for (path, contents, what) in [
        (&cli.json, report.to_json(), "JSON report"),
        (&cli.junit, report.to_junit(), "JUnit report"),
    ] {
        if let Some(path) = path {
            match report::write_file(path, &contents) {
                Ok(path) => println!("orch: wrote {what} to {}", path.display()),
                Err(err) => {
                    eprintln!("orch: cannot write {what} to {}: {err}", path.display());
                    if code == 0 {
                        code = 1;
                    }
                }
            }
        }
    }
    code
}
