//! Merging two commits in memory, as `git merge-tree` does: nothing on disk
//! changes but new objects. Used to start a branch from its dependencies,
//! to merge a task into the base branch and to decide whether a resolve
//! start has conflicts at all.
//!
//! libgit2 runs the built-in `text`, `binary` and `union` drivers named by
//! `.gitattributes` (read from the repository's checkout and index, as it
//! does for a merge). orch runs no custom merge driver (`merge=<name>` with
//! a `merge.<name>.driver` command): libgit2 would quietly fall back to a
//! text merge, so a path changed on both sides whose attribute names one is
//! reported as a conflict instead.

use std::collections::BTreeSet;
use std::path::Path;

use git2::{
    AttrCheckFlags, AttrValue, Commit, DiffOptions, ErrorCode, MergeOptions, Oid, Repository,
};

use super::error::git_err;
use super::GitError;

/// The result of [`merge_commits`].
pub(super) enum TreeMerge {
    /// Merged cleanly into this tree (written to the object database).
    Clean(Oid),
    /// These paths conflict, sorted.
    Conflicts(Vec<String>),
}

/// Merges `theirs` into `ours` in memory. When `ours` is an ancestor of
/// `theirs` the result is `theirs`' tree, with no merge machinery run.
/// Callers deal with `theirs` already being in `ours`.
pub(super) fn merge_commits(
    repo: &Repository,
    ours: &Commit<'_>,
    theirs: &Commit<'_>,
) -> Result<TreeMerge, GitError> {
    let ctx = || format!("merging {} into {}", theirs.id(), ours.id());
    let base = match repo.merge_base(ours.id(), theirs.id()) {
        Ok(id) => Some(id),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(git_err(ctx())(e)),
    };
    if base == Some(ours.id()) {
        return Ok(TreeMerge::Clean(theirs.tree_id()));
    }
    let mut opts = MergeOptions::new();
    opts.find_renames(true);
    let mut index = repo
        .merge_commits(ours, theirs, Some(&opts))
        .map_err(git_err(ctx()))?;
    let mut conflicts = BTreeSet::new();
    if index.has_conflicts() {
        for conflict in index.conflicts().map_err(git_err(ctx()))? {
            let conflict = conflict.map_err(git_err(ctx()))?;
            for entry in [conflict.our, conflict.their, conflict.ancestor]
                .into_iter()
                .flatten()
            {
                conflicts.insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
        }
    }
    let ancestor_tree = match base {
        Some(id) => Some(
            repo.find_commit(id)
                .and_then(|c| c.tree())
                .map_err(git_err(ctx()))?,
        ),
        None => None,
    };
    for path in custom_driver_paths(repo, ancestor_tree.as_ref(), ours, theirs)? {
        conflicts.insert(path);
    }
    if !conflicts.is_empty() {
        return Ok(TreeMerge::Conflicts(conflicts.into_iter().collect()));
    }
    let tree = index.write_tree_to(repo).map_err(git_err(ctx()))?;
    Ok(TreeMerge::Clean(tree))
}

/// Paths changed on both sides of the merge whose `merge` attribute names
/// a driver other than git's built-in ones.
fn custom_driver_paths(
    repo: &Repository,
    ancestor: Option<&git2::Tree<'_>>,
    ours: &Commit<'_>,
    theirs: &Commit<'_>,
) -> Result<Vec<String>, GitError> {
    let ctx = || format!("comparing {} and {}", ours.id(), theirs.id());
    let changed = |side: &Commit<'_>| -> Result<BTreeSet<String>, GitError> {
        let tree = side.tree().map_err(git_err(ctx()))?;
        let mut opts = DiffOptions::new();
        opts.ignore_submodules(true);
        let diff = repo
            .diff_tree_to_tree(ancestor, Some(&tree), Some(&mut opts))
            .map_err(git_err(ctx()))?;
        Ok(diff
            .deltas()
            .flat_map(|d| [d.old_file().path(), d.new_file().path()])
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .collect())
    };
    let ours_changed = changed(ours)?;
    let theirs_changed = changed(theirs)?;
    let mut found = Vec::new();
    for path in ours_changed.intersection(&theirs_changed) {
        let value = repo
            .get_attr(Path::new(path), "merge", AttrCheckFlags::FILE_THEN_INDEX)
            .map_err(git_err(format!("reading the merge attribute of {path}")))?;
        if let AttrValue::String(driver) = AttrValue::from_string(value) {
            if !matches!(driver, "text" | "binary" | "union") {
                tracing::info!(
                    path,
                    driver,
                    "a custom merge driver is not run: reported as a conflict"
                );
                found.push(path.clone());
            }
        }
    }
    Ok(found)
}
