//! A parent task taking in its subtasks' work: each `orch/<child>` merged
//! into `orch/<parent>`, checked out in the parent's worktree, before the
//! parent's next attempt starts.
//!
//! As for a merge onto the base (`git::merge`), everything is found in
//! memory first: one merge commit per subtask (`Merge orch/<child>:
//! <title>`), chained in the order given (dependencies first), written as
//! objects only. A conflict in any of them touches nothing. Only when all
//! merge cleanly is the worktree updated (the paths that change, refused
//! where a change of someone's is in the way) and the branch moved,
//! compare-and-swap.

use std::path::Path;

use git2::{BranchType, ErrorCode};

use super::error::git_err;
use super::merge::update_checkout;
use super::mergetree::{merge_commits, TreeMerge};
use super::start::contains;
use super::worktree::branch_name;
use super::{signature, GitError, Repo, BRANCH_PREFIX};

impl Repo {
    /// Merges the branch of each of `children` (id, title) into
    /// `orch/<task>`, checked out at `dir`; the ids of those that brought
    /// something (a branch already in it, or missing, brings nothing).
    /// [`GitError::SubtasksConflict`] or [`GitError::SubtasksInTheWay`]
    /// leave the branch and the worktree as they were.
    pub(super) fn merge_children(
        &self,
        task: &str,
        dir: &Path,
        children: &[(String, String)],
    ) -> Result<Vec<String>, GitError> {
        let branch = branch_name(task)?;
        let refname = format!("refs/heads/{branch}");
        let ctx = || format!("merging the subtasks of {task} into {branch}");
        let repo = self.open()?;
        let tip = repo
            .find_reference(&refname)
            .and_then(|r| r.peel_to_commit())
            .map_err(git_err(ctx()))?;
        let mut current = tip.clone();
        let mut merged: Vec<String> = Vec::new();
        for (child, title) in children {
            let child_branch = format!("{BRANCH_PREFIX}{child}");
            let child_tip = match repo.find_branch(&child_branch, BranchType::Local) {
                Ok(found) => found.get().peel_to_commit().map_err(git_err(ctx()))?,
                Err(e) if e.code() == ErrorCode::NotFound => {
                    tracing::info!(task, child = %child, "subtask has no branch; nothing of it to merge");
                    continue;
                }
                Err(e) => return Err(git_err(ctx())(e)),
            };
            if contains(&repo, current.id(), child_tip.id()).map_err(git_err(ctx()))? {
                continue;
            }
            let tree = match merge_commits(&repo, &current, &child_tip)? {
                TreeMerge::Clean(tree) => repo.find_tree(tree).map_err(git_err(ctx()))?,
                TreeMerge::Conflicts(files) => {
                    return Err(GitError::SubtasksConflict {
                        child: child.clone(),
                        files,
                        merged,
                    })
                }
            };
            let config = repo.config().map_err(git_err("reading the git config"))?;
            let sig = signature(&config)?;
            let title = title.trim();
            let subject = if title.is_empty() || title == child {
                format!("Merge {child_branch}")
            } else {
                format!("Merge {child_branch}: {title}")
            };
            let message = format!("{subject}\n\norch subtask {child} of {task}\n");
            let id = repo
                .commit(None, &sig, &sig, &message, &tree, &[&current, &child_tip])
                .map_err(git_err(ctx()))?;
            current = repo.find_commit(id).map_err(git_err(ctx()))?;
            merged.push(child.clone());
        }
        if merged.is_empty() {
            return Ok(merged);
        }
        let worktree = self.open_own(dir)?;
        let old_tree = tip.tree().map_err(git_err(ctx()))?;
        let new_tree = current.tree().map_err(git_err(ctx()))?;
        let in_the_way = update_checkout(&worktree, dir, &old_tree, &new_tree)?;
        if !in_the_way.is_empty() {
            return Err(GitError::SubtasksInTheWay {
                path: dir.to_path_buf(),
                files: in_the_way,
            });
        }
        let log = format!("orch: merged subtasks {}", merged.join(", "));
        repo.reference_matching(&refname, current.id(), true, tip.id(), &log)
            .map_err(git_err(ctx()))?;
        tracing::info!(task, children = ?merged, commit = %current.id(), "took in the subtasks' work");
        Ok(merged)
    }
}
