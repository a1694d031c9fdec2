//! The resolve start: the base branch merged into a task's branch in its
//! worktree, conflict markers left in place for the agent, as `git merge`
//! leaves a conflicted merge (index conflicted, MERGE_HEAD and MERGE_MSG
//! written). [`Repo::commit_all`] completes it.

use git2::build::CheckoutBuilder;
use git2::{MergeOptions, Repository, Status, StatusOptions};

use super::commit::{commit_worktree, pending_merge, OnMerge};
use super::error::git_err;
use super::markers::has_marker_line;
use super::mergetree::{merge_commits, TreeMerge};
use super::start::contains;
use super::{base_commit, count_changes, signature, GitError, Repo};

impl Repo {
    /// Merges `base` into the branch checked out in `worktree` (task
    /// `task`'s); the files left conflicting, empty when it merged cleanly
    /// (and was committed, or had nothing to merge). Leftovers are committed
    /// first. A merge already in progress is left as it is and its
    /// conflicts reported.
    pub(super) fn resolve_start(
        &self,
        worktree: &Repository,
        task: &str,
        base: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<String>, GitError> {
        let dir = worktree.workdir().unwrap_or(&self.root).to_path_buf();
        let ctx = || format!("merging {base} into orch/{task} in {}", dir.display());
        let head = worktree
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(git_err(ctx()))?;
        if !pending_merge(worktree, Some(head.id()))?.is_empty() {
            let conflicts = conflicts_in_progress(worktree)?;
            if !conflicts.is_empty() {
                notes.push(format!(
                    "a merge into orch/{task} was already in progress: left as it was"
                ));
                return Ok(conflicts);
            }
            // Resolved already (an agent staged its fix and stopped, or orch
            // died before committing): the merge commit is all that is left.
            let message = format!("orch: merge {base} into orch/{task}\n");
            commit_worktree(worktree, &dir, &message, OnMerge::Complete)?;
            notes.push(format!(
                "a resolved merge of {base} into orch/{task} was left uncommitted: committed it"
            ));
            return Ok(Vec::new());
        }
        if worktree.state() != git2::RepositoryState::Clean {
            worktree.cleanup_state().map_err(git_err(ctx()))?;
        }
        if count_changes(worktree, &dir)? > 0 {
            let message = format!("orch: uncommitted work of {task} before merging {base}");
            commit_worktree(worktree, &dir, &message, OnMerge::Complete)?;
            notes.push(format!(
                "committed uncommitted work on orch/{task} before merging {base}"
            ));
        }
        let head = worktree
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(git_err(ctx()))?;
        let base_tip = base_commit(worktree, base)?;
        if contains(worktree, head.id(), base_tip.id()).map_err(git_err(ctx()))? {
            notes.push(format!("orch/{task} already contains {base}"));
            return Ok(Vec::new());
        }
        let branch_ref = worktree
            .head()
            .ok()
            .and_then(|h| h.name().ok().map(str::to_string))
            .ok_or_else(|| GitError::msg(ctx(), "HEAD is not on a branch"))?;
        let new_tip = if contains(worktree, base_tip.id(), head.id()).map_err(git_err(ctx()))? {
            base_tip.id()
        } else {
            match merge_commits(worktree, &head, &base_tip)? {
                TreeMerge::Clean(tree) => {
                    let tree = worktree.find_tree(tree).map_err(git_err(ctx()))?;
                    let config = worktree
                        .config()
                        .map_err(git_err("reading the git config"))?;
                    let sig = signature(&config)?;
                    let message = format!("orch: merge {base} into orch/{task}\n");
                    worktree
                        .commit(None, &sig, &sig, &message, &tree, &[&head, &base_tip])
                        .map_err(git_err(ctx()))?
                }
                TreeMerge::Conflicts(files) => {
                    let annotated = worktree
                        .find_annotated_commit(base_tip.id())
                        .map_err(git_err(ctx()))?;
                    let mut merge_opts = MergeOptions::new();
                    merge_opts.find_renames(true);
                    let mut checkout = CheckoutBuilder::new();
                    checkout
                        .safe()
                        .allow_conflicts(true)
                        .overwrite_ignored(false)
                        .our_label("HEAD")
                        .their_label(base);
                    worktree
                        .merge(&[&annotated], Some(&mut merge_opts), Some(&mut checkout))
                        .map_err(git_err(ctx()))?;
                    tracing::info!(
                        task,
                        base,
                        ?files,
                        "resolve start: conflicts left for the agent"
                    );
                    return Ok(files);
                }
            }
        };
        let new_tree = worktree
            .find_commit(new_tip)
            .and_then(|c| c.tree())
            .map_err(git_err(ctx()))?;
        let mut checkout = CheckoutBuilder::new();
        checkout.safe().overwrite_ignored(false);
        worktree
            .checkout_tree(new_tree.as_object(), Some(&mut checkout))
            .map_err(git_err(ctx()))?;
        worktree
            .reference_matching(
                &branch_ref,
                new_tip,
                true,
                head.id(),
                &format!("orch: merge {base} into orch/{task}"),
            )
            .map_err(git_err(ctx()))?;
        notes.push(format!("merged {base} into orch/{task} without conflicts"));
        tracing::info!(task, base, commit = %new_tip, "resolve start: base merged cleanly");
        Ok(Vec::new())
    }
}

/// The files of a merge in progress that still conflict: conflicted in the
/// index, or changed with conflict-marker lines in them.
fn conflicts_in_progress(worktree: &Repository) -> Result<Vec<String>, GitError> {
    let ctx = "reading the conflicts of a merge in progress";
    let mut opts = StatusOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let statuses = worktree.statuses(Some(&mut opts)).map_err(git_err(ctx))?;
    let workdir = worktree
        .workdir()
        .map(|p| p.to_path_buf())
        .unwrap_or_default();
    let mut files = Vec::new();
    for entry in statuses.iter() {
        let Ok(path) = entry.path() else {
            continue;
        };
        let status = entry.status();
        let marked = status.intersects(
            Status::WT_MODIFIED | Status::WT_NEW | Status::INDEX_MODIFIED | Status::INDEX_NEW,
        ) && std::fs::read(workdir.join(path))
            .is_ok_and(|bytes| has_marker_line(&bytes));
        if status.contains(Status::CONFLICTED) || marked {
            files.push(path.to_string());
        }
    }
    files.sort();
    files.dedup();
    Ok(files)
}
