//! Landing a task: `orch/<task>` merged into the base branch with a
//! no-fast-forward merge commit, conflicts found in memory first.
//!
//! The user's checkout is sacred. A base branch not checked out anywhere
//! only has its ref moved. A checked-out one is updated like `git merge`
//! updates it (working tree and index, only the paths the merge changes),
//! and only when none of those paths holds a change of the user's: a
//! modified, staged, deleted, untracked or ignored file in the way, or a
//! file where the merge needs a directory and the other way round, is
//! [`MergeOutcome::LocalChanges`] with nothing touched. A path that already
//! holds what the merge would write is not in the way, so a merge cut short
//! between the checkout and the ref update completes on the next try. The
//! ref moves last, compare-and-swap; if the branch moved meanwhile, the
//! merge is computed again.
//!
//! No git hooks run (orch's own `[hooks]` are its way to run commands), no
//! custom merge driver runs (see [`super::mergetree`]) and `rerere` is not
//! consulted: a conflict goes back to the task's agent instead.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{BranchType, ErrorCode, ObjectType, Oid, Repository, Status, Tree};

use super::error::git_err;
use super::mergetree::{merge_commits, TreeMerge};
use super::start::contains;
use super::worktree::{branch_name, Checkout};
use super::{base_commit, signature, GitError, MergeOutcome, MergeRequest, Repo};

/// How often a merge is computed again when the base branch moves under it.
const ROUNDS: usize = 5;

impl Repo {
    /// Merges `orch/<req.task>` into `req.base` (see the module doc and
    /// [`MergeOutcome`]). The commit's message is `Merge orch/<task>:
    /// <title>` with `orch task <task>` as its body.
    pub fn merge(&self, req: &MergeRequest) -> Result<MergeOutcome, GitError> {
        let branch = branch_name(&req.task)?;
        let base_ref = format!("refs/heads/{}", req.base);
        let ctx = || format!("merging {branch} into {}", req.base);
        let repo = self.open()?;
        for _ in 0..ROUNDS {
            let base_tip = base_commit(&repo, &req.base)?;
            let task_tip = repo
                .find_branch(&branch, BranchType::Local)
                .and_then(|b| b.get().peel_to_commit())
                .map_err(git_err(ctx()))?;
            if contains(&repo, base_tip.id(), task_tip.id()).map_err(git_err(ctx()))? {
                return Ok(MergeOutcome::AlreadyMerged {
                    commit: base_tip.id().to_string(),
                });
            }
            let tree = match merge_commits(&repo, &base_tip, &task_tip)? {
                TreeMerge::Clean(tree) => repo.find_tree(tree).map_err(git_err(ctx()))?,
                TreeMerge::Conflicts(files) => {
                    tracing::info!(task = %req.task, base = %req.base, ?files, "merge conflicts");
                    return Ok(MergeOutcome::Conflict { files });
                }
            };
            let config = repo.config().map_err(git_err("reading the git config"))?;
            let sig = signature(&config)?;
            let title = req.title.trim();
            let subject = if title.is_empty() {
                format!("Merge {branch}")
            } else {
                format!("Merge {branch}: {title}")
            };
            let message = format!("{subject}\n\norch task {}\n", req.task);
            let commit = repo
                .commit(None, &sig, &sig, &message, &tree, &[&base_tip, &task_tip])
                .map_err(git_err(ctx()))?;

            if let Some(reason) = self.operation_on(&req.base) {
                return Ok(MergeOutcome::Busy { reason });
            }
            let checkout = match self.checkout_of_users(&repo, &base_ref)? {
                None => None,
                Some(Checkout::Main(path) | Checkout::Linked(path)) => Some(path),
                Some(Checkout::LockedMissing { name, path }) => {
                    return Ok(MergeOutcome::Busy {
                        reason: format!(
                            "{} is checked out in the worktree {name} at {}, whose directory is missing: \
                             bring it back (or `git worktree prune` it)",
                            req.base,
                            path.display()
                        ),
                    })
                }
            };
            if let Some(path) = &checkout {
                let worktree = if path == &self.root {
                    self.open()?
                } else {
                    self.open_own(path)?
                };
                let old_tree = base_tip.tree().map_err(git_err(ctx()))?;
                let in_the_way = update_checkout(&worktree, path, &old_tree, &tree)?;
                if !in_the_way.is_empty() {
                    tracing::info!(task = %req.task, base = %req.base, files = ?in_the_way, "merge waits: local changes in the way");
                    return Ok(MergeOutcome::LocalChanges { files: in_the_way });
                }
            }
            match repo.reference_matching(&base_ref, commit, true, base_tip.id(), &subject) {
                Ok(_) => {
                    tracing::info!(task = %req.task, base = %req.base, %commit, checked_out = checkout.is_some(), "merged");
                    return Ok(MergeOutcome::Merged {
                        commit: commit.to_string(),
                    });
                }
                Err(e) if e.code() == ErrorCode::Modified => {
                    tracing::info!(base = %req.base, "base branch moved during the merge; merging again");
                }
                Err(e) => return Err(git_err(ctx())(e)),
            }
        }
        Err(GitError::msg(
            ctx(),
            "the base branch kept moving while the merge was computed",
        ))
    }

    /// Deletes `orch/<task>` if its tip is in `base` (what `git branch -d`
    /// checks); `false` when it is not merged or does not exist. A branch
    /// checked out in a worktree is an error: remove the worktree first.
    pub fn delete_branch_if_merged(&self, task: &str, base: &str) -> Result<bool, GitError> {
        let branch = branch_name(task)?;
        let ctx = || format!("deleting the merged branch {branch}");
        let repo = self.open()?;
        let mut found = match repo.find_branch(&branch, BranchType::Local) {
            Ok(found) => found,
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(false),
            Err(e) => return Err(git_err(ctx())(e)),
        };
        let tip = found.get().peel_to_commit().map_err(git_err(ctx()))?;
        let base_tip = base_commit(&repo, base)?;
        if !contains(&repo, base_tip.id(), tip.id()).map_err(git_err(ctx()))? {
            return Ok(false);
        }
        if let Some(
            Checkout::Main(path) | Checkout::Linked(path) | Checkout::LockedMissing { path, .. },
        ) = self.checkout_of(&repo, &format!("refs/heads/{branch}"))?
        {
            return Err(GitError::msg(
                ctx(),
                &format!("it is checked out at {}", path.display()),
            ));
        }
        found.delete().map_err(git_err(ctx()))?;
        tracing::info!(branch, base, "deleted a merged branch");
        Ok(true)
    }
}

/// An entry of a tree: (blob id, file mode).
type Entry = Option<(Oid, i32)>;

fn entry_of(tree: &Tree<'_>, path: &str) -> Entry {
    tree.get_path(Path::new(path))
        .ok()
        .filter(|e| e.kind() != Some(ObjectType::Tree))
        .map(|e| (e.id(), e.filemode()))
}

/// Updates the checkout of `worktree` (root `root`, HEAD at `old`) to
/// `new` for exactly the paths that differ between them, unless a change of
/// the user's is in the way: then those paths, sorted, and nothing touched.
pub(super) fn update_checkout(
    worktree: &Repository,
    root: &Path,
    old: &Tree<'_>,
    new: &Tree<'_>,
) -> Result<Vec<String>, GitError> {
    let ctx = || format!("updating the checkout at {}", root.display());
    // The trees were found through another handle on the repository.
    let old = &worktree.find_tree(old.id()).map_err(git_err(ctx()))?;
    let new = &worktree.find_tree(new.id()).map_err(git_err(ctx()))?;
    let diff = worktree
        .diff_tree_to_tree(Some(old), Some(new), None)
        .map_err(git_err(ctx()))?;
    // Every path the merge writes or removes, with its old and new entry.
    let mut changed: BTreeMap<String, (Entry, Entry)> = BTreeMap::new();
    for delta in diff.deltas() {
        for file in [delta.old_file(), delta.new_file()] {
            let Some(raw) = file.path() else {
                continue;
            };
            // Checked and checked out by name: a name that is not UTF-8
            // would be left out of both, its index entry staged wrong.
            let Some(path) = raw.to_str() else {
                return Err(GitError::msg(
                    ctx(),
                    &format!(
                        "the merge changes {}, whose name is not UTF-8: orch does not check such \
                         a path out into your checkout; merge it with git",
                        raw.display()
                    ),
                ));
            };
            changed
                .entry(path.to_string())
                .or_insert_with(|| (entry_of(old, path), entry_of(new, path)));
        }
    }
    let mut index = worktree.index().map_err(git_err(ctx()))?;
    let mut in_the_way = BTreeSet::new();
    // Paths already as the merge leaves them in the working tree, whose
    // index entry is brought along by hand.
    let mut index_only = Vec::new();
    let mut to_check_out = Vec::new();
    for (path, (before, after)) in &changed {
        // A file (or link) where the merge needs a directory.
        if after.is_some() {
            for parent in Path::new(path).ancestors().skip(1) {
                if parent.as_os_str().is_empty() {
                    break;
                }
                let blocked = fs::symlink_metadata(root.join(parent)).is_ok_and(|m| !m.is_dir());
                let removed = parent
                    .to_str()
                    .and_then(|p| changed.get(p))
                    .is_some_and(|(_, after)| after.is_none());
                if blocked && !removed {
                    in_the_way.insert(parent.to_string_lossy().into_owned());
                }
            }
        }
        let clean = worktree
            .status_file(Path::new(path))
            .is_ok_and(|s| s == Status::CURRENT);
        if clean {
            to_check_out.push(path.clone());
            continue;
        }
        let staged = staged_entry(&index, path);
        let index_side = match staged {
            Staged::Conflicted => {
                in_the_way.insert(path.clone());
                continue;
            }
            Staged::Entry(e) if e == *before => Side::Old,
            Staged::Entry(e) if e == *after => Side::New,
            Staged::Entry(_) => {
                in_the_way.insert(path.clone());
                continue;
            }
        };
        match workdir_side(worktree, root, path, before, after, &changed) {
            Some(Side::New) => {
                if index_side == Side::Old {
                    index_only.push(path.clone());
                }
            }
            Some(Side::Old) if index_side == Side::Old => to_check_out.push(path.clone()),
            _ => {
                in_the_way.insert(path.clone());
            }
        }
    }
    if !in_the_way.is_empty() {
        return Ok(in_the_way.into_iter().collect());
    }

    for path in &index_only {
        let path = Path::new(path);
        let staged = if root.join(path).exists() {
            index.add_path(path)
        } else {
            index.remove_path(path)
        };
        staged.map_err(git_err(ctx()))?;
    }
    if !index_only.is_empty() {
        index.write().map_err(git_err(ctx()))?;
    }
    // An empty path list would mean the whole tree.
    if !to_check_out.is_empty() {
        let mut checkout = CheckoutBuilder::new();
        checkout
            .safe()
            .overwrite_ignored(false)
            .disable_pathspec_match(true);
        for path in &to_check_out {
            checkout.path(path.as_str());
        }
        worktree
            .checkout_tree(new.as_object(), Some(&mut checkout))
            .map_err(git_err(ctx()))?;
    }
    tracing::debug!(root = %root.display(), updated = to_check_out.len(), already = index_only.len(), "checkout updated for a merge");
    Ok(Vec::new())
}

/// Which side of a merge a path's content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

enum Staged {
    Conflicted,
    Entry(Entry),
}

fn staged_entry(index: &git2::Index, path: &str) -> Staged {
    let p = Path::new(path);
    if (1..=3).any(|stage| index.get_path(p, stage).is_some()) {
        return Staged::Conflicted;
    }
    Staged::Entry(index.get_path(p, 0).map(|e| (e.id, e.mode as i32)))
}

/// Whether the working tree's `path` holds the old entry, the new one, or
/// something else (`None`: in the way).
fn workdir_side(
    repo: &Repository,
    root: &Path,
    path: &str,
    before: &Entry,
    after: &Entry,
    changed: &BTreeMap<String, (Entry, Entry)>,
) -> Option<Side> {
    let full = root.join(path);
    // Missing: what a removal leaves; or an addition not made yet.
    let missing = || match (before, after) {
        (_, None) => Some(Side::New),
        (None, Some(_)) => Some(Side::Old),
        _ => None,
    };
    // A parent that is a symbolic link leads out of the checkout: the path
    // is not there. If the merge replaces that link (with a directory,
    // say), the link is checked on its own and this path counts as
    // missing; a link the merge leaves alone is the user's way in.
    let mut parent = std::path::PathBuf::new();
    for part in Path::new(path)
        .parent()
        .into_iter()
        .flat_map(Path::components)
    {
        parent.push(part);
        if fs::symlink_metadata(root.join(&parent)).is_ok_and(|m| m.file_type().is_symlink()) {
            let key = parent.to_string_lossy();
            return if changed.contains_key(key.as_ref()) {
                missing()
            } else {
                None
            };
        }
    }
    let Ok(meta) = fs::symlink_metadata(&full) else {
        return missing();
    };
    if meta.is_dir() {
        // A directory where the merge puts a file: fine only if all it holds
        // is tracked files the merge removes (each checked on its own).
        if before.is_some() && after.is_none() {
            // A file the merge turns into a directory, already done (a
            // merge cut short before its ref moved): fine if all it holds
            // is files the merge adds (each checked on its own).
            return only_files(&full, path, changed, |after| after.is_some()).then_some(Side::New);
        }
        if before.is_some() || after.is_none() {
            return None;
        }
        return only_files(&full, path, changed, |after| after.is_none()).then_some(Side::Old);
    }
    let (actual, mode) = if meta.file_type().is_symlink() {
        let target = fs::read_link(&full).ok()?;
        let id = Oid::hash_object(ObjectType::Blob, target.as_os_str().as_encoded_bytes()).ok()?;
        (id, i32::from(git2::FileMode::Link))
    } else {
        use std::os::unix::fs::PermissionsExt;
        let mode = if meta.permissions().mode() & 0o111 != 0 {
            git2::FileMode::BlobExecutable
        } else {
            git2::FileMode::Blob
        };
        (
            Oid::hash_file(ObjectType::Blob, &full).ok()?,
            i32::from(mode),
        )
    };
    let side_of = |id: Oid| {
        if *after == Some((id, mode)) {
            Some(Side::New)
        } else if *before == Some((id, mode)) {
            Some(Side::Old)
        } else {
            None
        }
    };
    side_of(actual).or_else(|| {
        // Content filters (line endings, `filter=`) make the file's bytes
        // differ from the blob's: compare what git would stage.
        let filtered = repo.blob_path(&full).ok()?;
        (filtered != actual).then(|| side_of(filtered)).flatten()
    })
}

/// Whether every file under the directory `full` (the path `rel`) is one
/// the merge removes.
/// Every file under the directory `full` (`rel` in the repository) is a
/// path the merge changes, with `wanted` true of its merged side.
fn only_files(
    full: &Path,
    rel: &str,
    changed: &BTreeMap<String, (Entry, Entry)>,
    wanted: impl Fn(&Entry) -> bool + Copy,
) -> bool {
    let Ok(entries) = fs::read_dir(full) else {
        return false;
    };
    entries.flatten().all(|entry| {
        let name = entry.file_name();
        let child_rel = format!("{rel}/{}", name.to_string_lossy());
        let child: PathBuf = full.join(&name);
        match entry.file_type() {
            Ok(kind) if kind.is_dir() => only_files(&child, &child_rel, changed, wanted),
            Ok(_) => changed
                .get(&child_rel)
                .is_some_and(|(_, after)| wanted(after)),
            Err(_) => false,
        }
    })
}
