//! The one error type of the git module.

use std::path::PathBuf;

/// Everything that can go wrong in [`crate::git`].
///
/// The variants other than [`GitError::Git`] and [`GitError::Io`] are
/// conditions the user can fix; their messages say how.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// `path` is not inside a repository with a working tree (bare
    /// repositories count as "not a repository": orch needs a checkout).
    #[error("{} is not inside a git repository", path.display())]
    NotARepo { path: PathBuf },

    /// HEAD is an unborn branch.
    #[error(
        "the repository has no commits yet: commit something first, worktrees branch from a commit"
    )]
    NoCommits,

    /// HEAD points at a commit, not a branch, so there is no default base.
    #[error("HEAD is detached: set [project] base_branch in orch.toml")]
    DetachedHead,

    /// The base branch does not exist; `local` lists the local branches
    /// that do, sorted, so the message can suggest one.
    #[error(
        "base branch \"{branch}\" does not exist (local branches: {})",
        list_or_none(.local)
    )]
    MissingBaseBranch { branch: String, local: Vec<String> },

    /// Something orch did not create sits where a worktree should be.
    /// Nothing was touched.
    #[error(
        "{} holds {reason}, which orch did not create: refusing to touch it (move it away or use another task id)",
        path.display()
    )]
    ForeignPath { path: PathBuf, reason: String },

    /// A worktree has uncommitted changes orch does not know about.
    /// Nothing was touched.
    #[error(
        "worktree {} has {changes} uncommitted change(s): refusing to touch it (commit or discard them first)",
        path.display()
    )]
    DirtyWorktree { path: PathBuf, changes: usize },

    /// The dependencies' branches (`deps`, task ids) do not merge cleanly
    /// into the base branch and each other: the task's branch was not
    /// created and nothing was touched.
    #[error(
        "the work of dependencies {} conflicts in {}: nothing was created (merge them by hand, or make one depend on the other)",
        .deps.join(", "),
        .files.join(", ")
    )]
    DependenciesConflict {
        files: Vec<String>,
        deps: Vec<String>,
    },

    /// A subtask's branch does not merge cleanly into its parent's (after
    /// the subtasks `merged` before it): nothing was touched.
    #[error(
        "the work of subtask {child} conflicts with its parent's in {}: nothing was merged (merge orch/{child} into the parent's branch by hand, then retry the parent)",
        .files.join(", ")
    )]
    SubtasksConflict {
        child: String,
        files: Vec<String>,
        merged: Vec<String>,
    },

    /// Changes in a parent's worktree are in the way of its subtasks'
    /// work: nothing was touched.
    #[error(
        "changes in the worktree {} are in the way of its subtasks' work: {} (commit or discard them, then retry)",
        path.display(),
        .files.join(", ")
    )]
    SubtasksInTheWay { path: PathBuf, files: Vec<String> },

    /// A commit that would complete a merge still has conflict markers
    /// (`<<<<<<< ` / `>>>>>>> ` lines) in these files. Nothing was committed.
    #[error(
        "conflict markers are left in {}: resolve them (no line may start with <<<<<<< or >>>>>>>) before the merge is committed",
        .files.join(", ")
    )]
    MarkersLeft { files: Vec<String> },

    /// A task's branch that orch has no record of is checked out in a
    /// worktree orch has no record of either. Nothing was touched.
    #[error(
        "{branch} is checked out at {}, which orch has no record of: orch does not build on it (commit or move its work, then `git worktree remove {}`, and try again)",
        path.display(),
        path.display()
    )]
    UnknownCheckout { branch: String, path: PathBuf },

    /// A `worktree_include` glob (config or `.worktreeinclude`) is not
    /// usable. Nothing was created.
    #[error("worktree_include glob {glob:?} {reason}")]
    BadInclude { glob: String, reason: String },

    /// A libgit2 operation failed.
    #[error("{context}: {source}")]
    Git {
        context: String,
        source: git2::Error,
    },

    /// A filesystem operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl GitError {
    /// A [`GitError::Git`] whose cause is a message of ours rather than a
    /// libgit2 failure.
    pub(crate) fn msg(context: impl Into<String>, message: &str) -> GitError {
        GitError::Git {
            context: context.into(),
            source: git2::Error::from_str(message),
        }
    }
}

/// `map_err` adapter: wraps a libgit2 error with `context`.
pub(crate) fn git_err(context: impl Into<String>) -> impl FnOnce(git2::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Git { context, source }
}

/// `map_err` adapter: wraps an I/O error with `context`.
pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> GitError {
    let context = context.into();
    move |source| GitError::Io { context, source }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}
