//! `orch worktree list` and `orch worktree cleanup`: the task worktrees on
//! disk, and removing those whose work is finished (branches are kept).

use std::path::Path;

use serde::Serialize;

use crate::engine::TaskState;
use crate::git::Repo;
use crate::session::{self, Session};
use crate::store::{EventRow, Store, WorktreeRow};
use crate::timefmt::now_ms;

#[derive(Serialize)]
struct Listed {
    task: String,
    state: Option<TaskState>,
    branch: String,
    path: String,
    head: String,
    dirty: bool,
}

pub fn list(config_path: &Path, json: bool) -> i32 {
    let config = match session::load_config(config_path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return err.exit_code();
        }
    };
    let repo = match Repo::discover(&config.root) {
        Ok(repo) => repo,
        Err(err) => {
            eprintln!("orch: {err}");
            return 2;
        }
    };
    let state_dir = session::absolute(&config.root.join(&config.project.state_dir));
    let store = Store::open_read_only(&state_dir.join("state.db")).ok();
    let worktrees = match repo.list_worktrees() {
        Ok(list) => list,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let listed: Vec<Listed> = worktrees
        .into_iter()
        .map(|w| Listed {
            state: store
                .as_ref()
                .and_then(|s| s.task(&w.task_id).ok().flatten())
                .map(|t| t.state),
            task: w.task_id,
            branch: w.branch,
            path: w.path.display().to_string(),
            head: w.head.chars().take(12).collect(),
            dirty: w.dirty,
        })
        .collect();
    if json {
        match serde_json::to_string_pretty(&listed) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("orch: {err}");
                return 1;
            }
        }
        return 0;
    }
    if listed.is_empty() {
        println!("no task worktrees");
        return 0;
    }
    let w = listed
        .iter()
        .map(|l| l.task.len())
        .max()
        .unwrap_or(4)
        .max(4);
    println!(
        "{:<w$}  {:<17}  {:<12}  {:<5}  path",
        "task", "state", "head", "dirty"
    );
    for l in &listed {
        println!(
            "{:<w$}  {:<17}  {:<12}  {:<5}  {}",
            l.task,
            l.state.map_or("-", TaskState::as_str),
            l.head,
            if l.dirty { "yes" } else { "no" },
            l.path
        );
    }
    0
}

/// Remove the worktrees of `tasks`, or of every done or cancelled task when
/// none are named. Dirty worktrees are kept unless `force`. Needs no orch
/// running on this state directory (its lock is taken).
pub fn cleanup(config_path: &Path, tasks: &[String], force: bool) -> i32 {
    let config = match session::load_config(config_path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return err.exit_code();
        }
    };
    let mut session = match Session::open(config) {
        Ok(session) => session,
        Err(err) => {
            eprintln!("orch: {err}");
            return err.exit_code();
        }
    };
    let worktrees = match session.repo.list_worktrees() {
        Ok(list) => list,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    for named in tasks {
        if !worktrees.iter().any(|w| &w.task_id == named) {
            eprintln!("orch: task {named:?} has no worktree");
        }
    }
    let mut code = 0;
    let mut removed = 0;
    for w in worktrees {
        let state = session
            .store
            .task(&w.task_id)
            .ok()
            .flatten()
            .map(|t| t.state);
        let chosen = if tasks.is_empty() {
            matches!(state, Some(TaskState::Done | TaskState::Cancelled))
        } else {
            tasks.contains(&w.task_id)
        };
        if !chosen {
            continue;
        }
        if state == Some(TaskState::Running) && !force {
            eprintln!(
                "orch: kept {}: the store says it is running (a killed orch?); use --force",
                w.task_id
            );
            code = 1;
            continue;
        }
        match session.repo.remove_worktree(&w.task_id, &w.path, force) {
            Ok(()) => {
                removed += 1;
                println!("removed {} (branch {} kept)", w.path.display(), w.branch);
                let recorded = record_removal(&mut session.store, &w.task_id, &w.path, &w.branch);
                crate::log_err(recorded, "recording a removed worktree");
            }
            Err(err) => {
                eprintln!("orch: kept {}: {err}", w.task_id);
                code = 1;
            }
        }
    }
    if removed == 0 && code == 0 {
        println!("nothing to clean up");
    }
    code
}

fn record_removal(
    store: &mut Store,
    task: &str,
    path: &Path,
    branch: &str,
) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    let created_at = store.worktree(task)?.map_or(now, |w| w.created_at);
    let mut batch = store.batch()?;
    batch.worktree(&WorktreeRow {
        task_id: task.to_string(),
        path: path.display().to_string(),
        branch: branch.to_string(),
        created_at,
        removed_at: Some(now),
    })?;
    batch.event(&EventRow {
        seq: 0,
        at: now,
        run_id: None,
        task_id: Some(task.to_string()),
        attempt: None,
        kind: "worktree_removed".into(),
        from_state: None,
        to_state: None,
        cause: Some(format!("{} removed; branch {branch} kept", path.display())),
    })?;
    batch.commit()
}
