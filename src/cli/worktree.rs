//! `orch worktree list` and `orch worktree cleanup`: the task worktrees on
//! disk, and removing those whose work is finished with their logs
//! (branches are kept).

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
/// none are named, and the logs of each removed one. Dirty worktrees are
/// kept unless `force`. Needs no orch running on this state directory (its
/// lock is taken).
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
                let logs = session.state_dir.join("logs").join(&w.task_id);
                let logs_note = match prune_logs(&logs) {
                    Ok(0) => String::new(),
                    Ok(n) => format!("; {n} log file(s) in {} removed", logs.display()),
                    Err(err) => {
                        eprintln!("orch: kept the logs of {}: {err}", w.task_id);
                        code = 1;
                        String::new()
                    }
                };
                println!(
                    "removed {} (branch {} kept{logs_note})",
                    w.path.display(),
                    w.branch
                );
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

/// Deletes a task's attempt logs (`N.log` and rotated `N.log.1`) in
/// `dir`, then `dir` if that left it empty. Only those files: a task id
/// with a slash keeps its logs in a folder under another task's.
fn prune_logs(dir: &Path) -> std::io::Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let attempt = name
            .strip_suffix(".log")
            .or_else(|| name.strip_suffix(".log.1"));
        if attempt.is_some_and(|n| n.parse::<u32>().is_ok()) && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::DirectoryNotEmpty => Err(e),
        _ => Ok(removed),
    }
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
        removed_at: Some(now),
        ..WorktreeRow::ready(task, &path.display().to_string(), branch, created_at)
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
