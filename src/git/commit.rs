//! Committing what an agent left in its worktree, including the merge a
//! resolve attempt was handed.

use std::path::Path;

use git2::{ErrorCode, IndexAddOption, Oid, Repository, RepositoryState};

use super::error::git_err;
use super::start::contains;
use super::{signature, GitError, Repo};

/// What a commit does with a merge in progress (MERGE_HEAD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OnMerge {
    /// Complete it: the commit gets MERGE_HEAD as a second parent, and is
    /// refused while conflict markers are left.
    Complete,
    /// Give it up: everything is committed as it is, markers and all, as an
    /// ordinary commit (the leftovers of a branch about to be set aside).
    Abandon,
}

impl Repo {
    /// Stages everything in `worktree` (new files, changes and deletions;
    /// ignored files stay out) and commits it on the worktree's branch.
    /// Returns the new commit's id, or `None` when there was nothing to
    /// commit.
    ///
    /// With a merge in progress (MERGE_HEAD, left by a resolve start) the
    /// commit is the merge commit, parents HEAD and MERGE_HEAD, made even
    /// when the tree equals HEAD's, and the merge state files are removed.
    /// A changed file (one whose content is neither HEAD's nor MERGE_HEAD's)
    /// with a line starting `<<<<<<< ` or `>>>>>>> ` is
    /// [`GitError::MarkersLeft`], and nothing is committed or staged.
    pub fn commit_all(&self, worktree: &Path, message: &str) -> Result<Option<String>, GitError> {
        let repo = self.open_own(worktree)?;
        commit_worktree(&repo, worktree, message, OnMerge::Complete)
    }
}

/// See [`Repo::commit_all`] and [`OnMerge`].
pub(super) fn commit_worktree(
    repo: &Repository,
    worktree: &Path,
    message: &str,
    on_merge: OnMerge,
) -> Result<Option<String>, GitError> {
    let ctx = || format!("committing in {}", worktree.display());
    let head = repo.find_reference("HEAD").map_err(git_err(ctx()))?;
    let target = head.symbolic_target().map_err(git_err(ctx()))?;
    let Some(branch_ref) = target.map(str::to_string) else {
        return Err(GitError::msg(ctx(), "HEAD is detached, not on a branch"));
    };
    let parent = match repo.refname_to_id(&branch_ref) {
        Ok(id) => Some(repo.find_commit(id).map_err(git_err(ctx()))?),
        Err(e) if e.code() == ErrorCode::NotFound => None,
        Err(e) => return Err(git_err(ctx())(e)),
    };
    let merge_heads = pending_merge(repo, parent.as_ref().map(|p| p.id()))?;
    let in_merge = repo.state() == RepositoryState::Merge;

    let mut index = repo.index().map_err(git_err(ctx()))?;
    // libgit2 cannot stage an untracked nested repository (an agent's
    // `git clone` or `git init`); leave those out instead of failing.
    let mut nested = Vec::new();
    let mut skip_nested = |path: &Path, _: &[u8]| -> i32 {
        // They come as directory paths; files and submodules do not.
        if path.as_os_str().as_encoded_bytes().ends_with(b"/") {
            nested.push(path.to_path_buf());
            1
        } else {
            0
        }
    };
    index
        .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut skip_nested))
        .map_err(git_err(format!("staging files in {}", worktree.display())))?;
    if !nested.is_empty() {
        tracing::warn!(
            worktree = %worktree.display(),
            ?nested,
            "not committing nested git repositories"
        );
    }
    index.update_all(["*"], None).map_err(git_err(format!(
        "staging deletions in {}",
        worktree.display()
    )))?;
    // A conflicted path the agent deleted keeps its conflict entries
    // through `update_all`: deleting it is its resolution.
    if index.has_conflicts() {
        let mut gone = Vec::new();
        for conflict in index.conflicts().map_err(git_err(ctx()))? {
            let conflict = conflict.map_err(git_err(ctx()))?;
            if let Some(entry) = conflict.our.or(conflict.their).or(conflict.ancestor) {
                gone.push(String::from_utf8_lossy(&entry.path).into_owned());
            }
        }
        for path in gone {
            let path = Path::new(&path);
            let staged = if worktree.join(path).exists() {
                index.add_path(path)
            } else {
                index.remove_path(path)
            };
            staged.map_err(git_err(format!(
                "staging {} in {}",
                path.display(),
                worktree.display()
            )))?;
        }
    }
    let tree_id = index.write_tree().map_err(git_err(ctx()))?;
    let merging = on_merge == OnMerge::Complete && !merge_heads.is_empty();
    if merging {
        let markers =
            super::markers::files_with_markers(repo, parent.as_ref(), tree_id, &merge_heads)?;
        if !markers.is_empty() {
            tracing::info!(worktree = %worktree.display(), files = ?markers, "merge not committed: conflict markers left");
            return Err(GitError::MarkersLeft { files: markers });
        }
    }
    index.write().map_err(git_err(format!(
        "writing the index of {}",
        worktree.display()
    )))?;
    let unchanged = match &parent {
        Some(parent) => parent.tree_id() == tree_id,
        None => index.is_empty(),
    };
    if unchanged && !merging {
        if in_merge {
            repo.cleanup_state().map_err(git_err(ctx()))?;
        }
        return Ok(None);
    }

    let tree = repo.find_tree(tree_id).map_err(git_err(ctx()))?;
    let config = repo.config().map_err(git_err("reading the git config"))?;
    let signature = signature(&config)?;
    let mut parents: Vec<git2::Commit<'_>> = parent.into_iter().collect();
    if merging {
        for id in &merge_heads {
            parents.push(repo.find_commit(*id).map_err(git_err(ctx()))?);
        }
    }
    let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
    let id = repo
        .commit(
            Some("HEAD"),
            &signature,
            &signature,
            message,
            &tree,
            &parent_refs,
        )
        .map_err(git_err(ctx()))?;
    if in_merge {
        repo.cleanup_state().map_err(git_err(ctx()))?;
    }
    tracing::info!(commit = %id, branch = %branch_ref, merge = merging, "committed worktree changes");
    Ok(Some(id.to_string()))
}

/// The commits of a merge in progress (MERGE_HEAD) that `head` does not
/// contain yet; empty when no merge is in progress.
pub(super) fn pending_merge(repo: &Repository, head: Option<Oid>) -> Result<Vec<Oid>, GitError> {
    if repo.state() != RepositoryState::Merge {
        return Ok(Vec::new());
    }
    let ctx = "reading MERGE_HEAD";
    let text = match std::fs::read_to_string(repo.path().join("MERGE_HEAD")) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(super::error::io_err(ctx)(e)),
    };
    let mut heads = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let id = Oid::from_str(line).map_err(git_err(ctx))?;
        let merged = match head {
            Some(head) => contains(repo, head, id).map_err(git_err(ctx))?,
            None => false,
        };
        if !merged {
            heads.push(id);
        }
    }
    Ok(heads)
}
