//! Git plumbing for orch: finding the repository, per-task worktrees on
//! `orch/<task>` branches started from the base and their dependencies'
//! work, committing an agent's work, and merging a task into the base.
//!
//! Everything goes through libgit2 (`git2`), except that worktree
//! registrations (`.git/worktrees/<name>`) are written and scanned as the
//! small files they are, so that adding a worktree does not open every other
//! one; the git CLI is never run, so no git hook runs either.
//! [`Repo`] stores only paths and opens a `git2::Repository` per call, so it
//! is `Send + Sync` and cheap to share between tasks.
//!
//! Safety rule of the module: a path orch did not create, or a worktree with
//! changes orch does not know about, is refused with an error and never
//! modified or deleted; a branch orch has no record of is kept under a
//! backup name, never built on or deleted; the user's checkout is only
//! updated where no change of theirs is in the way.

mod branches;
mod children;
mod commit;
mod diff;
mod error;
mod filters;
mod include;
mod markers;
mod merge;
mod mergetree;
mod prepare;
mod recover;
mod resolve;
mod start;
mod workspace;
mod worktree;

#[cfg(test)]
mod tests;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use git2::{BranchType, ErrorCode, Repository, Signature, Status, StatusOptions};

pub use diff::{classify, DiffFile, LineKind, StatLine, TaskDiff};
pub use error::GitError;
pub use include::INCLUDE_FILE;
pub use prepare::BACKUP_PREFIX;
pub use workspace::{MergeOutcome, MergeRequest, Prepare, StartMode, Workspace};
pub use worktree::{Known, Worktree, WorktreeInfo};

use error::{git_err, io_err};

/// Prefix of the branches orch creates, one per task.
pub const BRANCH_PREFIX: &str = "orch/";

/// Author and committer used when the repository config has no identity.
const FALLBACK_NAME: &str = "orch";
const FALLBACK_EMAIL: &str = "orch@localhost";

/// A git repository with a working tree, found by [`Repo::discover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repo {
    /// The main worktree's root, canonicalized.
    root: PathBuf,
    /// The common git directory (`<root>/.git` usually), canonicalized.
    common_dir: PathBuf,
}

impl Repo {
    /// Finds the repository enclosing `start`. Started inside a linked
    /// worktree, it returns the main repository. A bare repository is
    /// [`GitError::NotARepo`]: orch needs a working tree.
    pub fn discover(start: &Path) -> Result<Repo, GitError> {
        tune_libgit2();
        let not_a_repo = || GitError::NotARepo {
            path: start.to_path_buf(),
        };
        let found = match Repository::discover(start) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => return Err(not_a_repo()),
            Err(e) => {
                return Err(git_err(format!(
                    "looking for a git repository at {}",
                    start.display()
                ))(e))
            }
        };
        let main = if found.is_worktree() {
            Repository::open(found.commondir()).map_err(git_err(format!(
                "opening the main repository of the worktree at {}",
                start.display()
            )))?
        } else {
            found
        };
        if main.is_bare() {
            return Err(not_a_repo());
        }
        let Some(workdir) = main.workdir() else {
            return Err(not_a_repo());
        };
        let repo = Repo {
            root: canonical(workdir),
            common_dir: canonical(main.commondir()),
        };
        tracing::debug!(root = %repo.root.display(), "found git repository");
        Ok(repo)
    }

    /// The main worktree's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The git directory every worktree shares (`<root>/.git` usually).
    pub fn common_dir(&self) -> &Path {
        &self.common_dir
    }

    /// The branch the main worktree has checked out.
    pub fn current_branch(&self) -> Result<String, GitError> {
        let repo = self.open()?;
        let head = match repo.head() {
            Ok(head) => head,
            Err(e) if e.code() == ErrorCode::UnbornBranch => return Err(GitError::NoCommits),
            Err(e) => return Err(git_err("reading HEAD")(e)),
        };
        if !head.is_branch() {
            return Err(GitError::DetachedHead);
        }
        let name = head.name().map_err(git_err("reading HEAD"))?;
        name.strip_prefix("refs/heads/")
            .map(str::to_string)
            .ok_or_else(|| GitError::msg("reading HEAD", "HEAD is not a local branch"))
    }

    /// Checks that the local branch `branch` exists.
    pub fn check_branch(&self, branch: &str) -> Result<(), GitError> {
        let repo = self.open()?;
        base_commit(&repo, branch).map(|_| ())
    }

    /// Local branches named `orch/...`, sorted: what earlier runs leave.
    pub fn orch_branches(&self) -> Result<Vec<String>, GitError> {
        let repo = self.open()?;
        let mut names = local_branches(&repo)?;
        names.retain(|name| name.starts_with(BRANCH_PREFIX));
        Ok(names)
    }

    /// Appends `pattern` as a line to the common git dir's `info/exclude`
    /// unless a line equal to it is already there. Creates `info/` if needed.
    pub fn exclude(&self, pattern: &str) -> Result<(), GitError> {
        let pattern = pattern.trim_end();
        if pattern.is_empty() || pattern.contains(['\n', '\r']) {
            return Err(GitError::Io {
                context: format!("adding {pattern:?} to info/exclude"),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "an exclude pattern must be one non-empty line",
                ),
            });
        }
        let info = self.common_dir.join("info");
        fs::create_dir_all(&info).map_err(io_err(format!("creating {}", info.display())))?;
        let path = info.join("exclude");
        let existing = match fs::read(&path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        if existing.lines().any(|line| line.trim_end() == pattern) {
            return Ok(());
        }
        let mut line = String::new();
        if !existing.is_empty() && !existing.ends_with('\n') {
            line.push('\n');
        }
        line.push_str(pattern);
        line.push('\n');
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut file| file.write_all(line.as_bytes()))
            .map_err(io_err(format!("writing {}", path.display())))?;
        tracing::debug!(pattern, "added to info/exclude");
        Ok(())
    }

    /// The number of changed, staged, deleted or untracked entries in
    /// `worktree` (an untracked directory counts once; ignored files do not
    /// count).
    pub fn is_dirty(&self, worktree: &Path) -> Result<usize, GitError> {
        let repo = self.open_own(worktree)?;
        count_changes(&repo, worktree)
    }

    /// Opens the main repository.
    fn open(&self) -> Result<Repository, GitError> {
        Repository::open(&self.root).map_err(git_err(format!(
            "opening the git repository at {}",
            self.root.display()
        )))
    }

    /// Opens the worktree rooted exactly at `path` and checks that it
    /// belongs to this repository.
    fn open_own(&self, path: &Path) -> Result<Repository, GitError> {
        let repo = match Repository::open(path) {
            Ok(repo) => repo,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError::NotARepo {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => {
                return Err(git_err(format!(
                    "opening the git worktree at {}",
                    path.display()
                ))(e))
            }
        };
        if canonical(repo.commondir()) != self.common_dir {
            return Err(GitError::ForeignPath {
                path: path.to_path_buf(),
                reason: format!(
                    "a git repository other than {} (git dir {})",
                    self.root.display(),
                    repo.commondir().display()
                ),
            });
        }
        Ok(repo)
    }
}

/// Process-wide libgit2 settings, applied once. libgit2 re-hashes every
/// object it reads to verify it, which git does not do (it checks on
/// `fsck`): a fifth of a large checkout's CPU time went there.
fn tune_libgit2() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// The tip commit of local branch `branch`, or [`GitError::MissingBaseBranch`].
fn base_commit<'r>(repo: &'r Repository, branch: &str) -> Result<git2::Commit<'r>, GitError> {
    let missing = || -> Result<git2::Commit<'r>, GitError> {
        Err(GitError::MissingBaseBranch {
            branch: branch.to_string(),
            local: local_branches(repo)?,
        })
    };
    if !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return missing();
    }
    match repo.find_branch(branch, BranchType::Local) {
        Ok(found) => found
            .get()
            .peel_to_commit()
            .map_err(git_err(format!("resolving branch {branch}"))),
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => missing(),
        Err(e) => Err(git_err(format!("looking up branch {branch}"))(e)),
    }
}

/// Names of all local branches, sorted.
fn local_branches(repo: &Repository) -> Result<Vec<String>, GitError> {
    let ctx = "listing local branches";
    let mut names = Vec::new();
    for entry in repo
        .branches(Some(BranchType::Local))
        .map_err(git_err(ctx))?
    {
        let (branch, _) = entry.map_err(git_err(ctx))?;
        if let Some(name) = branch.name().map_err(git_err(ctx))? {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// See [`Repo::is_dirty`].
fn count_changes(repo: &Repository, path: &Path) -> Result<usize, GitError> {
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .include_ignored(false)
        .exclude_submodules(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(git_err(format!("reading the status of {}", path.display())))?;
    Ok(statuses
        .iter()
        .filter(|entry| {
            let status = entry.status();
            status != Status::CURRENT && !status.contains(Status::IGNORED)
        })
        .count())
}

/// Author/committer from `user.name`/`user.email`, each falling back to
/// `orch <orch@localhost>` when unset or empty.
fn signature(config: &git2::Config) -> Result<Signature<'static>, GitError> {
    let get = |key: &str, fallback: &str| {
        config
            .get_string(key)
            .ok()
            .map(|value| value.trim().to_string())
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| fallback.to_string())
    };
    let name = get("user.name", FALLBACK_NAME);
    let email = get("user.email", FALLBACK_EMAIL);
    Signature::now(&name, &email).map_err(git_err(format!(
        "building the commit signature {name} <{email}>"
    )))
}

/// `path` with symlinks and `..` resolved when it exists; otherwise `path`
/// without a trailing separator.
fn canonical(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap_or_else(|_| path.components().collect())
}
