//! Where a new task branch starts: the base branch's tip with each
//! dependency's branch merged in, in memory, before anything is created.

use git2::{Commit, ErrorCode, Oid, Repository};

use super::error::git_err;
use super::mergetree::{merge_commits, TreeMerge};
use super::{signature, GitError, BRANCH_PREFIX};

/// The commit `orch/<task>` starts at: `base_tip` with `orch/<dep>` of each
/// of `deps` (in order) merged in. A dependency whose tip is already in the
/// commit so far adds nothing; one the commit so far is an ancestor of is
/// fast-forwarded to; otherwise a merge commit is written (an object only:
/// no ref moves). A dependency without a branch (it was skipped) is left
/// out. Any conflict is [`GitError::DependenciesConflict`], and no ref or
/// file has been touched.
pub(super) fn start_commit<'r>(
    repo: &'r Repository,
    task: &str,
    base_tip: Commit<'r>,
    deps: &[String],
) -> Result<Commit<'r>, GitError> {
    let mut current = base_tip;
    let mut merged_in = Vec::new();
    for dep in deps {
        let branch = format!("{BRANCH_PREFIX}{dep}");
        let ctx = || format!("starting orch/{task} from {branch}");
        let dep_tip = match repo.refname_to_id(&format!("refs/heads/{branch}")) {
            Ok(id) => repo.find_commit(id).map_err(git_err(ctx()))?,
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => {
                tracing::info!(task, dep = %dep, "dependency has no branch; nothing of it to merge");
                continue;
            }
            Err(e) => return Err(git_err(ctx())(e)),
        };
        if contains(repo, current.id(), dep_tip.id()).map_err(git_err(ctx()))? {
            continue;
        }
        merged_in.push(dep.clone());
        if contains(repo, dep_tip.id(), current.id()).map_err(git_err(ctx()))? {
            current = dep_tip;
            continue;
        }
        let tree = match merge_commits(repo, &current, &dep_tip)? {
            TreeMerge::Clean(tree) => tree,
            TreeMerge::Conflicts(files) => {
                return Err(GitError::DependenciesConflict {
                    files,
                    deps: merged_in,
                })
            }
        };
        let tree = repo.find_tree(tree).map_err(git_err(ctx()))?;
        let config = repo.config().map_err(git_err("reading the git config"))?;
        let sig = signature(&config)?;
        let message = format!(
            "orch: start {task} from {dep}\n\nMerge {branch} into the start of orch/{task}.\n"
        );
        let id = repo
            .commit(None, &sig, &sig, &message, &tree, &[&current, &dep_tip])
            .map_err(git_err(ctx()))?;
        current = repo.find_commit(id).map_err(git_err(ctx()))?;
    }
    if !merged_in.is_empty() {
        tracing::info!(task, deps = ?merged_in, start = %current.id(), "branch starts from its dependencies");
    }
    Ok(current)
}

/// Whether commit `tip` contains commit `other` (equal, or a descendant).
pub(super) fn contains(repo: &Repository, tip: Oid, other: Oid) -> Result<bool, git2::Error> {
    Ok(tip == other || repo.graph_descendant_of(tip, other)?)
}
