//! Git behind a trait, so the engine's jobs can run against a fake.

use std::path::Path;

use crate::git::{GitError, Known, Repo, Worktree};

/// The git work the engine hands to jobs. Each call may take long (a
/// checkout of a large tree); callers run it off the engine.
pub trait Workspace: Send + Sync {
    /// Create or reuse the worktree of `task` at `dir` on `orch/<task>`
    /// (see [`Repo::prepare_worktree`]).
    fn prepare_worktree(
        &self,
        task: &str,
        dir: &Path,
        base: &str,
        known: Known,
    ) -> Result<Worktree, GitError>;

    /// Commit everything left uncommitted in `worktree`; the new commit's
    /// id, or `None` when there was nothing to commit.
    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError>;
}

impl Workspace for Repo {
    fn prepare_worktree(
        &self,
        task: &str,
        dir: &Path,
        base: &str,
        known: Known,
    ) -> Result<Worktree, GitError> {
        Repo::prepare_worktree(self, task, dir, base, known)
    }

    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError> {
        Repo::commit_all(self, worktree, message)
    }
}
