//! `orch worktree list` and `orch worktree cleanup`: the task worktrees on
//! disk and the `orch/*` branches, including those `state.db` has no
//! record of; and removing the worktrees whose work is finished (merged,
//! cancelled or skipped), with their logs, and the branches already in
//! the base branch.

mod cleanup;
mod list;

use std::path::Path;

use crate::git::WorktreeInfo;
use crate::store::{Store, StoreError, TaskRow, WorktreeRow};

pub use cleanup::cleanup;
pub use list::list;

/// Reading the repository or the store failed.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What `state.db` says, for telling orch's worktrees and branches from
/// leftovers. Without a store (none yet) nothing is
/// recorded.
struct Records<'s> {
    store: Option<&'s Store>,
}

impl Records<'_> {
    fn task(&self, task: &str) -> Result<Option<TaskRow>, StoreError> {
        match self.store {
            Some(store) => store.task(task),
            None => Ok(None),
        }
    }

    fn worktree(&self, task: &str) -> Result<Option<WorktreeRow>, StoreError> {
        match self.store {
            Some(store) => store.worktree(task),
            None => Ok(None),
        }
    }

    /// The store records this worktree, there, as not removed.
    fn has_worktree(&self, w: &WorktreeInfo) -> Result<bool, StoreError> {
        Ok(self.worktree(&w.task_id)?.is_some_and(|row| {
            row.removed_at.is_none() && same_path(Path::new(&row.path), &w.path)
        }))
    }

    /// The store records a worktree (removed or not) on `orch/<task>`: the
    /// branch is orch's own.
    fn has_branch(&self, task: &str) -> Result<bool, StoreError> {
        Ok(self.worktree(task)?.is_some())
    }
}

/// The store read-only; `None` when there is none yet (then nothing is
/// recorded). A damaged one is an error: everything would look like a
/// leftover.
fn open_records(state_dir: &Path) -> Result<Option<Store>, StoreError> {
    match Store::open_read_only(&state_dir.join("state.db")) {
        Ok(store) => Ok(Some(store)),
        Err(StoreError::Missing { .. } | StoreError::Empty { .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

fn same_path(a: &Path, b: &Path) -> bool {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || canonical(a) == canonical(b)
}
