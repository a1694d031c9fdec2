//! Making a task's worktree ready for an attempt: reuse what is orch's,
//! set aside what is not (never building on it, never deleting it), start
//! new branches from the base and the dependencies' work, and the fresh
//! and resolve starts.

use std::path::Path;

use git2::{BranchType, ErrorCode, Repository};

use super::commit::{commit_worktree, OnMerge};
use super::error::git_err;
use super::include::Includes;
use super::start::start_commit;
use super::worktree::{branch_name, Checkout, Found};
use super::{base_commit, count_changes, GitError, Known, Prepare, Repo, StartMode, Worktree};

/// Prefix of the names old branches are kept under.
pub const BACKUP_PREFIX: &str = "orch-backup/";

impl Repo {
    /// Makes sure the worktree of `req.task` exists at `req.dir` on branch
    /// `orch/<task>`, as `req.mode` and what the store knows (`req.known`)
    /// say. A new branch starts at `req.base`'s tip with each of
    /// `req.deps`' branches merged in ([`GitError::DependenciesConflict`]
    /// when they conflict, and then nothing is touched); a new worktree gets
    /// the `worktree_include` files.
    ///
    /// [`StartMode::Continue`]:
    /// - `dir` a worktree of this repository on `orch/<task>`: reused.
    ///   [`Known::Ready`]: as is, dirty or not. `Creating`/`Removed`: if
    ///   clean. [`Known::No`]: orch does not build on it: a clean one is
    ///   removed and the task starts fresh as below, a dirty one is
    ///   [`GitError::DirtyWorktree`].
    /// - `dir` missing: the worktree is created. An existing branch is
    ///   checked out as is, unless it is unknown ([`Known::No`]): then it is
    ///   kept under a backup name (`orch-backup/<task>-<UTC time>`) and a new
    ///   branch is started. An unknown branch checked out in another
    ///   worktree is [`GitError::UnknownCheckout`], untouched.
    ///
    /// [`StartMode::Fresh`]: leftovers in the worktree are committed on the
    /// old branch, the worktree removed, the old branch kept under a backup
    /// name, and a new branch and worktree made.
    ///
    /// [`StartMode::Resolve`]: in the worktree (made from the branch if
    /// missing), leftovers are committed and the base branch is merged in
    /// as `git merge` would: conflicts leave markers in the files, the
    /// index conflicted and MERGE_HEAD set, the files listed in
    /// [`Worktree::conflicts`] (for [`Repo::commit_all`] to complete); a
    /// clean merge is committed at once.
    ///
    /// In every mode: a [`Known::Creating`] worktree half-made by a killed
    /// run is made again (see [`Repo::recover_half_made`]); lock files a
    /// killed git operation left in a recorded worktree are removed; what is
    /// not a worktree of this task is [`GitError::ForeignPath`], untouched;
    /// `base` must be an existing local branch
    /// ([`GitError::MissingBaseBranch`]); `worktree_include` globs are
    /// checked before anything is touched ([`GitError::BadInclude`]).
    ///
    /// Then, except for a resolve start, the branches of `req.children`
    /// (a parent's finished subtasks) are merged into the task's branch in
    /// its worktree, all in memory first (see `git::children`); a conflict
    /// or a change in the way is an error and merges none of them.
    pub fn prepare_worktree(&self, req: &Prepare) -> Result<Worktree, GitError> {
        let mut done = self.prepare_checkout(req)?;
        if req.mode != StartMode::Resolve && !req.children.is_empty() {
            let merged = self.merge_children(&req.task, &req.dir, &req.children)?;
            if !merged.is_empty() {
                done.notes.push(format!(
                    "merged the work of subtask(s) {} into {}",
                    merged.join(", "),
                    done.branch
                ));
            }
        }
        Ok(done)
    }

    /// [`Repo::prepare_worktree`] but for the subtasks.
    fn prepare_checkout(&self, req: &Prepare) -> Result<Worktree, GitError> {
        let task = req.task.as_str();
        let dir = req.dir.as_path();
        let branch = branch_name(task)?;
        let refname = format!("refs/heads/{branch}");
        let repo = self.open()?;
        let base_tip = base_commit(&repo, &req.base)?;
        let includes = Includes::load(&self.root, &req.include)?;
        match req.known {
            Known::No => {}
            Known::Creating => {
                self.recover_half_made(task, dir)?;
                self.clear_stale_locks(task, dir, &refname)?;
            }
            Known::Ready | Known::Removed => self.clear_stale_locks(task, dir, &refname)?,
        }
        let existing = match self.inspect(dir, &refname)? {
            Found::Foreign(reason) => {
                return Err(GitError::ForeignPath {
                    path: dir.to_path_buf(),
                    reason,
                })
            }
            Found::Ours(worktree) => Some(worktree),
            Found::Nothing => None,
        };
        let mut done = Worktree {
            path: dir.to_path_buf(),
            branch: branch.clone(),
            ..Worktree::default()
        };

        let branch_exists = match repo.find_branch(&branch, BranchType::Local) {
            Ok(_) => true,
            Err(e) if e.code() == ErrorCode::NotFound => false,
            Err(e) => return Err(git_err(format!("looking up branch {branch}"))(e)),
        };

        // An existing worktree: reused, or taken down for a fresh start.
        let mut take_down = None;
        if let Some(worktree) = existing {
            let changes = match (req.mode, req.known) {
                (StartMode::Continue, Known::Ready) => 0,
                _ => count_changes(&worktree, dir)?,
            };
            if changes > 0 && (req.known == Known::No || req.mode == StartMode::Continue) {
                return Err(GitError::DirtyWorktree {
                    path: dir.to_path_buf(),
                    changes,
                });
            }
            match (req.mode, req.known) {
                (StartMode::Resolve, _) => {
                    tracing::info!(task, path = %dir.display(), "resolve start in the worktree");
                    done.conflicts =
                        self.resolve_start(&worktree, task, &req.base, &mut done.notes)?;
                    return Ok(done);
                }
                (StartMode::Continue, Known::Ready | Known::Creating | Known::Removed) => {
                    tracing::info!(task, path = %dir.display(), known = ?req.known, "reusing worktree");
                    return Ok(done);
                }
                (StartMode::Continue, Known::No) | (StartMode::Fresh, _) => {
                    take_down = Some((worktree, changes));
                }
            }
        }

        // A new branch is computed (in memory) before anything is touched.
        let new_branch = !branch_exists
            || match req.mode {
                StartMode::Continue => req.known == Known::No,
                StartMode::Fresh => true,
                StartMode::Resolve => false,
            };
        let start = if new_branch {
            start_commit(&repo, task, base_tip, &req.deps)?
        } else {
            base_tip
        };
        if let Some((worktree, changes)) = take_down {
            if changes > 0 {
                let message = format!("orch: uncommitted work of {task} before a fresh start");
                commit_worktree(&worktree, dir, &message, OnMerge::Abandon)?;
                done.notes.push(format!(
                    "committed uncommitted work on {branch} before the fresh start"
                ));
            }
            drop(worktree);
            self.remove_worktree(task, dir, false)?;
            if req.known == Known::No {
                done.notes.push(format!(
                    "removed the worktree at {}, which orch had no record of (it had no changes)",
                    dir.display()
                ));
            }
        }
        if new_branch && branch_exists {
            let what = if req.known == Known::No {
                "the unknown branch"
            } else {
                "the old branch"
            };
            done.notes
                .push(self.set_aside(&repo, &branch, &refname, what)?);
        }
        self.create(&repo, task, dir, &branch, &refname, &start)?;
        done.created = true;
        if !includes.is_empty() {
            let index = repo.index().map_err(git_err("reading the main index"))?;
            let tracked = |path: &str| index.get_path(Path::new(path), 0).is_some();
            done.notes.extend(includes.copy(&self.root, dir, &tracked));
        }
        if req.mode == StartMode::Resolve {
            let worktree = self.open_own(dir)?;
            done.conflicts = self.resolve_start(&worktree, task, &req.base, &mut done.notes)?;
        }
        Ok(done)
    }

    /// Renames `branch` to a free backup name and says so in a note. A
    /// branch checked out anywhere is [`GitError::UnknownCheckout`] and is
    /// left alone.
    fn set_aside(
        &self,
        repo: &Repository,
        branch: &str,
        refname: &str,
        what: &str,
    ) -> Result<String, GitError> {
        if let Some(
            Checkout::Main(path) | Checkout::Linked(path) | Checkout::LockedMissing { path, .. },
        ) = self.checkout_of(repo, refname)?
        {
            return Err(GitError::UnknownCheckout {
                branch: branch.to_string(),
                path,
            });
        }
        let task = branch.strip_prefix(super::BRANCH_PREFIX).unwrap_or(branch);
        let stamp: String = crate::timefmt::rfc3339(crate::timefmt::now_ms())
            .chars()
            .take(19)
            .filter(|c| !matches!(c, '-' | ':'))
            .collect();
        let ctx = || format!("keeping {branch} under a backup name");
        let backup = backup_name(repo, task, &stamp).map_err(git_err(ctx()))?;
        let mut old = repo
            .find_branch(branch, BranchType::Local)
            .map_err(git_err(ctx()))?;
        old.rename(&backup, false).map_err(git_err(ctx()))?;
        tracing::info!(branch, backup, "kept a branch under a backup name");
        Ok(format!("kept {what} {branch} as {backup}"))
    }
}

/// `orch-backup/<task>-<stamp>`, or with `-2`, `-3`, ... when taken.
pub(super) fn backup_name(
    repo: &Repository,
    task: &str,
    stamp: &str,
) -> Result<String, git2::Error> {
    let stem = format!("{BACKUP_PREFIX}{task}-{stamp}");
    let mut name = stem.clone();
    for n in 2.. {
        match repo.find_branch(&name, BranchType::Local) {
            Err(e) if e.code() == ErrorCode::NotFound => break,
            Err(e) => return Err(e),
            Ok(_) => name = format!("{stem}-{n}"),
        }
    }
    Ok(name)
}
