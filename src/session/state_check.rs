//! A `state.db` that is empty or damaged while earlier runs' worktrees,
//! logs or branches are still there is refused: starting over would run
//! every finished task again. Nothing is created or changed on the way.

use std::path::Path;

use super::SetupError;
use crate::git::Repo;
use crate::store::{DbCondition, Store};

/// Refuses an empty `state.db` when earlier runs left something behind,
/// and a damaged one in any case. A missing or healthy one, or an empty
/// one in a state directory with nothing else (a first run killed before
/// it wrote its schema), is fine.
pub(super) fn refuse_lost_state(state_dir: &Path, repo: &Repo) -> Result<(), SetupError> {
    let db = state_dir.join("state.db");
    let problem = match Store::inspect(&db)? {
        DbCondition::Missing | DbCondition::Healthy => return Ok(()),
        DbCondition::Empty => "empty".to_string(),
        DbCondition::Damaged(detail) => format!("damaged ({detail})"),
    };
    let earlier = earlier_runs(state_dir, repo)?;
    if earlier.is_empty() && problem == "empty" {
        return Ok(());
    }
    Err(SetupError::StateLost {
        db,
        problem,
        earlier,
        state_dir: state_dir.to_path_buf(),
    })
}

/// The message of [`SetupError::StateLost`].
pub(super) fn describe(db: &Path, problem: &str, earlier: &[String], state_dir: &Path) -> String {
    if earlier.is_empty() {
        return format!(
            "state database {} is {problem}; nothing was run or changed. Restore it from a backup, or remove it to start over",
            db.display()
        );
    }
    format!(
        "state database {} is {problem}, but earlier runs left {}: starting over would run finished tasks again, so nothing was run or changed. Restore state.db from a backup, or remove {} and the orch/* branches (git branch -D) to start over",
        db.display(),
        earlier.join(", "),
        state_dir.display()
    )
}

/// What earlier runs left: task worktrees and logs in the state directory,
/// `orch/*` branches in the repository.
fn earlier_runs(state_dir: &Path, repo: &Repo) -> Result<Vec<String>, SetupError> {
    let mut found = Vec::new();
    for (sub, what) in [("worktrees", "worktree(s)"), ("logs", "task log folder(s)")] {
        let dir = state_dir.join(sub);
        let count = entries(&dir)?;
        if count > 0 {
            found.push(format!("{count} {what} in {}", dir.display()));
        }
    }
    let branches = repo.orch_branches()?;
    if !branches.is_empty() {
        found.push(format!("{} orch/* branch(es)", branches.len()));
    }
    Ok(found)
}

/// Entries in `dir`; none if it does not exist.
fn entries(dir: &Path) -> Result<usize, SetupError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.count()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(source) => Err(SetupError::Io {
            context: format!("cannot read {}", dir.display()),
            source,
        }),
    }
}
