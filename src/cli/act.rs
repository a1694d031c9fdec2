//! Commands that change the plan from the command line: `orch task
//! retry/resolve/cancel/skip` and `orch worktree merge`.
//!
//! They take the run lock and run the engine for one request, starting no
//! agent: the request is decided and recorded by the same engine core a
//! run uses, its git work (a merge) is carried out, and the command ends.
//! A task queued this way (a retry, a resolve) runs the next time orch runs
//! here. While an orch runs here the lock is held and the command says so:
//! that orch's control room has the same actions on its keys.

use std::path::Path;
use std::time::Duration;

use crate::engine::{Actor, Engine, EngineOptions, Request, TaskState};
use crate::headless::Progress;
use crate::session::{self, Session, SetupError};
use crate::store::Store;

/// Carry out `request` on the plan at `config_path`; the exit status.
pub fn run(config_path: &Path, request: Request) -> i32 {
    let config = match session::load_config(config_path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return err.exit_code();
        }
    };
    let Some(task) = request.task().map(str::to_string) else {
        return 2;
    };
    if !config.tasks.iter().any(|t| t.id == task) && !added_at_run_time(&config, &task) {
        let known: Vec<&str> = config.tasks.iter().map(|t| t.id.as_str()).collect();
        eprintln!(
            "orch: no task {task:?} in {} (tasks: {})",
            config.path.display(),
            known.join(", ")
        );
        return 2;
    }
    let mut config = config;
    // With no base_branch configured, a run's base is the branch checked
    // out when it started: the plan's work is meant for that one, whatever
    // is checked out now (another branch, or a detached HEAD).
    if config.project.base_branch.is_none() {
        if let Some(code) = use_last_run_base(&mut config) {
            return code;
        }
    }
    let session = match Session::open(config) {
        Ok(session) => session,
        Err(err @ SetupError::Locked { .. }) => {
            eprintln!("orch: {err}");
            eprintln!(
                "orch: that orch owns this plan; use its control room (keys in `?`), \
                 or run this again once it has ended"
            );
            return err.exit_code();
        }
        Err(err) => {
            eprintln!("orch: {err}");
            return err.exit_code();
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("orch: cannot start the async runtime: {err}");
            return 1;
        }
    };
    runtime.block_on(carry_out(session, request, &task))
}

/// Whether `task` was added at run time (`orch task add`): state.db keeps
/// its definition, and the engine puts it back in the plan.
pub(super) fn added_at_run_time(config: &crate::config::Config, task: &str) -> bool {
    let db = session::absolute(&config.root.join(&config.project.state_dir)).join("state.db");
    Store::open_read_only(&db)
        .and_then(|store| store.added_tasks())
        .is_ok_and(|added| added.iter().any(|a| a.task.id == task))
}

/// Sets `config`'s base branch to the last run's, saying so when it is
/// not what is checked out; an exit status when that branch is gone.
fn use_last_run_base(config: &mut crate::config::Config) -> Option<i32> {
    let repo = crate::git::Repo::discover(&config.root).ok()?;
    let state_dir = session::absolute(&config.root.join(&config.project.state_dir));
    let db = state_dir.join("state.db");
    if !db.exists() {
        return None;
    }
    let last = Store::open_read_only(&db)
        .ok()?
        .last_run_base()
        .ok()
        .flatten()?;
    if repo.check_branch(&last).is_err() {
        eprintln!(
            "orch: {last}, the base branch of the last run here, no longer exists; \
             set base_branch in the config to say where the work goes"
        );
        return Some(2);
    }
    match repo.current_branch() {
        Ok(current) if current == last => {}
        Ok(current) => eprintln!(
            "orch: using {last}, the base branch of the last run here ({current} is checked \
             out now; set base_branch in the config to choose)"
        ),
        Err(_) => eprintln!(
            "orch: using {last}, the base branch of the last run here (set base_branch in the \
             config to choose)"
        ),
    }
    config.project.base_branch = Some(last);
    None
}

async fn carry_out(session: Session, request: Request, task: &str) -> i32 {
    let Session {
        config,
        repo,
        base_branch,
        state_dir,
        store,
        lock,
        ..
    } = session;
    let opts = EngineOptions {
        mode: "command",
        one_shot: true,
        approval_timeout: None,
        exit_when_settled: false,
        ..EngineOptions::default()
    };
    let merge = matches!(request, Request::Merge { .. });
    let (engine, handle) = match Engine::new(config.clone(), store, repo, base_branch.clone(), opts)
    {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let progress = Progress::new(&config);
    let events = handle.subscribe();
    let printer = tokio::spawn(progress.follow(events));
    let run = tokio::spawn(engine.run());
    let answer = handle.answer(Actor::current_user(), request).await;
    let refused = answer.is_err();
    if let Ok(crate::engine::Answer::Sent {
        id,
        to_state,
        running,
    }) = &answer
    {
        println!(
            "{}",
            crate::control::mail::sent_line(*id, task, *to_state, *running)
        );
    }
    if let Err(err) = answer {
        eprintln!("orch: {err}");
        let _ = handle
            .tell(
                Actor::current_user(),
                Request::Shutdown { stop_agents: false },
            )
            .await;
    }
    let outcome = run.await;
    let _ = tokio::time::timeout(Duration::from_secs(2), printer).await;
    drop(handle);
    match outcome {
        Ok(Ok(_)) => {}
        Ok(Err(err)) => {
            eprintln!("orch: {err}");
            return 1;
        }
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    }
    drop(lock);
    if refused {
        return 1;
    }
    let row = Store::open_read_only(&state_dir.join("state.db")).and_then(|store| store.task(task));
    let row = match row {
        Ok(Some(row)) => row,
        Ok(None) => return 1,
        Err(err) => {
            eprintln!("orch: cannot read the result: {err}");
            return 1;
        }
    };
    if !merge {
        if row.state == TaskState::Queued || row.state == TaskState::AwaitingApproval {
            println!(
                "orch: {task} is {}; it runs the next time orch runs here (`orch` or `orch --no-tui`)",
                row.state
            );
        } else {
            println!("orch: {task} is {}", row.state);
        }
        return 0;
    }
    let (message, code) = crate::control::commands::merge_answer(&row);
    println!("{message}");
    code
}
