//! What a killed orch leaves in the worktrees it recorded: a checkout cut
//! short, a registration (`<common dir>/worktrees/<name>`) half-written,
//! lock files of an interrupted git operation. Only worktrees the store
//! recorded are handled here, and only in ways that cannot lose work: a
//! half-made worktree is deleted only while it is recorded as being made
//! and no agent has run in it (the caller's [`Known::Creating`]), so all it
//! can hold is part of orch's own checkout.
//!
//! [`Known::Creating`]: super::Known::Creating

use std::fs;
use std::path::{Path, PathBuf};

use super::error::io_err;
use super::worktree::worktree_name;
use super::{canonical, GitError, Repo};

impl Repo {
    /// Leaves `dir` either absent or a complete worktree. `dir` is the
    /// worktree of `task_id`, recorded as being made, with no agent run in
    /// it. The checkout writes the registration's `index` last, so a
    /// worktree without one was cut short: its directory (only if its
    /// `.git` points at one of this task's registrations, or it is empty)
    /// and its registration are removed; so is a directory holding nothing
    /// but an empty `.git` (killed before that file was written).
    /// Registrations of the task left without a `gitdir` (killed while
    /// writing them) go too. Anything else at `dir` is left for
    /// [`Repo::prepare_worktree`] to refuse.
    pub(super) fn recover_half_made(&self, task_id: &str, dir: &Path) -> Result<(), GitError> {
        let ctx = || format!("recovering the half-made worktree {}", dir.display());
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(ctx())(e)),
            Ok(meta) if !meta.is_dir() => return Ok(()),
            Ok(_) => match self.registration_of(task_id, dir) {
                Some(admin) if admin.join("index").exists() => return Ok(()),
                Some(_) => {
                    tracing::warn!(task = task_id, path = %dir.display(), "removing a worktree whose checkout was cut short; making it again");
                    fs::remove_dir_all(dir).map_err(io_err(ctx()))?;
                }
                None if is_empty_dir(dir) => fs::remove_dir(dir).map_err(io_err(ctx()))?,
                // Killed between creating `.git` and writing its one line.
                None if holds_only_an_empty_git_file(dir) => {
                    tracing::warn!(task = task_id, path = %dir.display(), "removing a worktree whose creation was cut short; making it again");
                    fs::remove_dir_all(dir).map_err(io_err(ctx()))?;
                }
                None => return Ok(()),
            },
        }
        for admin in self.task_registrations(task_id)? {
            if registration_is_leftover(&admin, dir, task_id) {
                tracing::warn!(task = task_id, registration = %admin.display(), "removing a half-written worktree registration");
                fs::remove_dir_all(&admin).map_err(io_err(ctx()))?;
            }
        }
        Ok(())
    }

    /// Removes the lock files an interrupted git operation leaves behind
    /// and that would make the next one fail: the branch's ref lock and the
    /// index and HEAD locks of `dir`'s registration. Called only while no
    /// agent of the task runs, for worktrees orch recorded, so nothing else
    /// can be holding them.
    pub(super) fn clear_stale_locks(
        &self,
        task_id: &str,
        dir: &Path,
        refname: &str,
    ) -> Result<(), GitError> {
        let mut locks = vec![self.common_dir.join(format!("{refname}.lock"))];
        if let Some(admin) = self.registration_of(task_id, dir) {
            locks.push(admin.join("index.lock"));
            locks.push(admin.join("HEAD.lock"));
        }
        for lock in locks {
            match fs::remove_file(&lock) {
                Ok(()) => {
                    tracing::warn!(task = task_id, lock = %lock.display(), "removed a lock file left by an interrupted git operation");
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(format!("removing {}", lock.display()))(e)),
            }
        }
        Ok(())
    }

    /// The registration `dir/.git` points at, if it is one of `task_id`'s
    /// (whether or not it still exists).
    fn registration_of(&self, task_id: &str, dir: &Path) -> Option<PathBuf> {
        let text = fs::read_to_string(dir.join(".git")).ok()?;
        let admin = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
        let name = admin.file_name()?.to_str()?;
        let parent = canonical(admin.parent()?);
        (parent == canonical(&self.common_dir.join("worktrees")) && is_task_name(task_id, name))
            .then_some(admin)
    }

    /// This task's registration directories: `orch-<task>` and
    /// `orch-<task>-<n>`, as [`Repo::prepare_worktree`] names them.
    fn task_registrations(&self, task_id: &str) -> Result<Vec<PathBuf>, GitError> {
        let dir = self.common_dir.join("worktrees");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(format!("reading {}", dir.display()))(e)),
        };
        Ok(entries
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| is_task_name(task_id, n))
            })
            .map(|e| e.path())
            .collect())
    }
}

/// Whether `name` is one of the registration names of `task_id`.
fn is_task_name(task_id: &str, name: &str) -> bool {
    let preferred = worktree_name(task_id);
    name == preferred
        || name
            .strip_prefix(preferred.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A registration a killed creation of `dir` left: it points at `dir`,
/// which is gone, or it never got its `gitdir` file. Either is useless to
/// git (`git worktree prune` removes both) and blocks the name. One without
/// a `gitdir` says nothing of whose it is, so only the task's own first
/// name counts: `orch-a-1` may be task `a`'s second registration, or task
/// `a-1`'s first, being written right now.
fn registration_is_leftover(admin: &Path, dir: &Path, task_id: &str) -> bool {
    match fs::read_to_string(admin.join("gitdir")) {
        Ok(gitdir) => {
            let gitdir = PathBuf::from(gitdir.trim());
            !dir.exists()
                && gitdir
                    .parent()
                    .is_some_and(|wt| resolved(wt) == resolved(dir))
        }
        Err(_) => admin
            .file_name()
            .is_some_and(|name| name.to_str() == Some(worktree_name(task_id).as_str())),
    }
}

/// `path` with its parent's symlinks resolved, for paths that may be gone.
fn resolved(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => canonical(parent).join(name),
        _ => canonical(path),
    }
}

/// Whether `dir`'s only entry is an empty regular file `.git`.
fn holds_only_an_empty_git_file(dir: &Path) -> bool {
    let Ok(mut entries) = fs::read_dir(dir) else {
        return false;
    };
    let only = match (entries.next(), entries.next()) {
        (Some(Ok(entry)), None) => entry,
        _ => return false,
    };
    only.file_name() == ".git"
        && fs::symlink_metadata(only.path()).is_ok_and(|m| m.is_file() && m.len() == 0)
}

fn is_empty_dir(dir: &Path) -> bool {
    fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_without_gitdir_is_a_leftover_only_under_the_tasks_own_name() {
        let root = tempfile::tempdir().expect("tempdir");
        let own = root.path().join("orch-a");
        let other = root.path().join("orch-a-1");
        fs::create_dir_all(&own).expect("own");
        fs::create_dir_all(&other).expect("other");
        let dir = root.path().join("worktrees/a");
        assert!(registration_is_leftover(&own, &dir, "a"));
        // Task a-1's first registration, whose gitdir may be on its way.
        assert!(!registration_is_leftover(&other, &dir, "a"));
        assert!(registration_is_leftover(&other, &dir, "a-1"));
    }
}
