//! Git behind a trait, so the engine's jobs can run against a fake.

use std::path::{Path, PathBuf};

use crate::git::{GitError, Known, Repo, Worktree};

/// How an attempt's worktree starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Reuse the worktree and branch as they are (create them if missing).
    #[default]
    Continue,
    /// Keep the old branch under a backup name and start anew from the base.
    Fresh,
    /// Merge the base in, leaving conflict markers for the agent to resolve.
    Resolve,
}

impl StartMode {
    pub const ALL: &'static [StartMode] =
        &[StartMode::Continue, StartMode::Fresh, StartMode::Resolve];

    pub fn as_str(self) -> &'static str {
        match self {
            StartMode::Continue => "continue",
            StartMode::Fresh => "fresh",
            StartMode::Resolve => "resolve",
        }
    }

    pub fn parse(s: &str) -> Option<StartMode> {
        Self::ALL.iter().copied().find(|m| m.as_str() == s)
    }
}

/// What a worktree job is asked to make ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    pub task: String,
    pub dir: PathBuf,
    /// The base branch.
    pub base: String,
    /// Dependency task ids, in plan order, whose `orch/DEP` branches are
    /// merged in when the task's branch is created.
    pub deps: Vec<String>,
    pub known: Known,
    pub mode: StartMode,
    /// `worktree_include` globs.
    pub include: Vec<String>,
}

/// What a merge job is asked to do: `orch/TASK` onto `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    pub task: String,
    pub title: String,
    pub base: String,
}

/// How a merge went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// A new no-fast-forward merge commit on the base branch.
    Merged { commit: String },
    /// The branch's tip was already in the base (the base's tip).
    AlreadyMerged { commit: String },
    /// Found in memory; nothing was touched.
    Conflict { files: Vec<String> },
    /// The base is checked out and the user's changes are in the way;
    /// nothing was touched.
    LocalChanges { files: Vec<String> },
}

/// The git work the engine hands to jobs. Each call may take long (a
/// checkout of a large tree); callers run it off the engine.
pub trait Workspace: Send + Sync {
    /// Create or reuse the worktree of a task (see [`Repo::prepare_worktree`]).
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError>;

    /// Commit everything left uncommitted in `worktree`; the new commit's
    /// id, or `None` when there was nothing to commit.
    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError>;

    /// Merge `orch/TASK` onto the base branch.
    fn merge(&self, req: &MergeRequest) -> Result<MergeOutcome, GitError>;
}

impl Workspace for Repo {
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError> {
        Repo::prepare_worktree(self, &req.task, &req.dir, &req.base, req.known)
    }

    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError> {
        Repo::commit_all(self, worktree, message)
    }

    fn merge(&self, req: &MergeRequest) -> Result<MergeOutcome, GitError> {
        Err(GitError::msg(
            format!("merging orch/{}", req.task),
            "merging is being built",
        ))
    }
}
