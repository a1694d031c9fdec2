//! Git behind a trait, so the engine's jobs can run against a fake, and the
//! requests and answers that cross it.

use std::path::{Path, PathBuf};

use crate::git::{GitError, Known, Repo, Worktree};

/// The git work the engine hands to jobs. Each call may take long (a
/// checkout of a large tree); callers run it off the engine.
pub trait Workspace: Send + Sync {
    /// Create or reuse the worktree of `req.task` at `req.dir` on
    /// `orch/<task>` (see [`Repo::prepare_worktree`]).
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError>;

    /// Commit leftovers. When a merge is in progress in the worktree
    /// (MERGE_HEAD, from a [`StartMode::Resolve`] start) the commit is the
    /// merge commit (parents HEAD + MERGE_HEAD) and the merge state is
    /// cleaned up; conflict markers left in files ->
    /// [`GitError::MarkersLeft`]. The new commit's id, or `None` when there
    /// was nothing to commit.
    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError>;

    /// Merge `orch/<task>` into the base branch (see [`MergeOutcome`]).
    fn merge(&self, req: &MergeRequest) -> Result<MergeOutcome, GitError>;
}

/// What [`Repo::prepare_worktree`] is asked to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepare {
    pub task: String,
    /// Where the worktree goes.
    pub dir: PathBuf,
    /// The base branch's name.
    pub base: String,
    /// Dependency task ids, in plan order, whose `orch/<dep>` branches are
    /// merged in when the task's branch is created.
    pub deps: Vec<String>,
    pub known: Known,
    pub mode: StartMode,
    /// Subtasks (id, title), dependencies first, whose `orch/<child>`
    /// branches are merged into the task's branch, in its worktree, before
    /// the attempt starts (see [`Repo::prepare_worktree`]). Empty for a
    /// task without finished subtasks.
    pub children: Vec<(String, String)>,
    /// `worktree_include` globs from the config; a `.worktreeinclude` file
    /// at the repository root adds more.
    pub include: Vec<String>,
}

/// How an attempt starts in its worktree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StartMode {
    /// Reuse the task's worktree and branch where orch's own, else make them.
    #[default]
    Continue,
    /// `retry --fresh`: keep the old branch under a backup name (leftovers
    /// committed on it first) and start a new one from the base.
    Fresh,
    /// `task resolve`: merge the base into the task's branch in its
    /// worktree, conflict markers left in place for the agent.
    Resolve,
}

impl StartMode {
    /// `"continue"`, `"fresh"` or `"resolve"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMode::Continue => "continue",
            StartMode::Fresh => "fresh",
            StartMode::Resolve => "resolve",
        }
    }

    /// The inverse of [`StartMode::as_str`].
    pub fn parse(text: &str) -> Option<StartMode> {
        match text {
            "continue" => Some(StartMode::Continue),
            "fresh" => Some(StartMode::Fresh),
            "resolve" => Some(StartMode::Resolve),
            _ => None,
        }
    }
}

/// Merge `orch/<task>` into `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    pub task: String,
    /// The task's title, for the merge commit's message.
    pub title: String,
    pub base: String,
}

/// What [`Repo::merge`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// A new no-fast-forward merge commit on the base branch.
    Merged { commit: String },
    /// `orch/<task>`'s tip was already in the base branch (the base tip's id).
    AlreadyMerged { commit: String },
    /// The merge conflicts in these files; found in memory, nothing touched.
    Conflict { files: Vec<String> },
    /// The base branch is checked out and the user's changes to these files
    /// are in the way; nothing touched.
    LocalChanges { files: Vec<String> },
    /// The base cannot move now (a rebase of it under way, its checkout's
    /// directory missing); nothing was touched.
    Busy { reason: String },
}

impl Workspace for Repo {
    fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError> {
        Repo::prepare_worktree(self, req)
    }

    fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError> {
        Repo::commit_all(self, worktree, message)
    }

    fn merge(&self, req: &MergeRequest) -> Result<MergeOutcome, GitError> {
        Repo::merge(self, req)
    }
}
