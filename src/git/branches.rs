//! Branch housekeeping for `orch worktree cleanup` and `orch worktree
//! list`: whether a task's branch is contained in the base branch,
//! deleting it when it is, and the backup branches orch keeps.

use git2::{BranchType, ErrorCode, Oid, Repository};

use super::error::git_err;
use super::prepare::BACKUP_PREFIX;
use super::{base_commit, local_branches, GitError, Repo, BRANCH_PREFIX};

impl Repo {
    /// Is `orch/<task>`'s tip in `base` (what `git branch -d` checks)?
    /// `false` when the branch does not exist.
    pub fn branch_merged(&self, task: &str, base: &str) -> Result<bool, GitError> {
        let repo = self.open()?;
        Ok(merged_tip(&repo, task, base)?.is_some())
    }

    /// Local branches named `orch-backup/...`, sorted: earlier work orch
    /// found in its way and kept.
    pub fn backup_branches(&self) -> Result<Vec<String>, GitError> {
        let repo = self.open()?;
        let mut names = local_branches(&repo)?;
        names.retain(|name| name.starts_with(BACKUP_PREFIX));
        Ok(names)
    }

    /// The commit local branch `branch` points at, as hex.
    pub fn branch_tip(&self, branch: &str) -> Result<Option<String>, GitError> {
        let repo = self.open()?;
        let tip = match repo.find_branch(branch, BranchType::Local) {
            Ok(found) => found.get().target().map(|id| id.to_string()),
            Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => None,
            Err(e) => return Err(git_err(format!("looking up branch {branch}"))(e)),
        };
        Ok(tip)
    }
}

/// The tip of `orch/<task>` when `base`'s tip contains it; `None` when it
/// does not or the branch does not exist.
fn merged_tip(repo: &Repository, task: &str, base: &str) -> Result<Option<Oid>, GitError> {
    let branch = format!("{BRANCH_PREFIX}{task}");
    if task.is_empty() || !git2::Branch::name_is_valid(&branch).unwrap_or(false) {
        return Err(GitError::msg(
            format!("task id {task:?}"),
            "not usable in a branch name",
        ));
    }
    let ctx = || format!("checking whether {branch} is merged into {base}");
    let tip = match repo.find_branch(&branch, BranchType::Local) {
        Ok(found) => found.get().peel_to_commit().map_err(git_err(ctx()))?.id(),
        Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(ctx())(e)),
    };
    let base_tip = base_commit(repo, base)?.id();
    let contained = base_tip == tip
        || repo
            .graph_descendant_of(base_tip, tip)
            .map_err(git_err(ctx()))?;
    Ok(contained.then_some(tip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn commit(git: &Repository, branch: &str, parents: &[Oid], file: &str) -> Oid {
        let sig = git2::Signature::now("t", "t@example.com").expect("sig");
        let blob = git.blob(file.as_bytes()).expect("blob");
        let mut tree = git.treebuilder(None).expect("tree");
        tree.insert(file, blob, 0o100644).expect("insert");
        let tree = git.find_tree(tree.write().expect("write")).expect("tree");
        let parents: Vec<_> = parents
            .iter()
            .map(|id| git.find_commit(*id).expect("parent"))
            .collect();
        let parents: Vec<_> = parents.iter().collect();
        git.commit(
            Some(&format!("refs/heads/{branch}")),
            &sig,
            &sig,
            file,
            &tree,
            &parents,
        )
        .expect("commit")
    }

    #[test]
    fn only_a_branch_contained_in_the_base_is_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main");
        let git = Repository::init_opts(dir.path(), &opts).expect("init");
        let root = commit(&git, "main", &[], "a");
        let work = commit(&git, "orch/t", &[root], "t");
        commit(&git, "orch/u", &[root], "u");
        git.branch(
            "orch-backup/t-20260101T000000",
            &git.find_commit(work).expect("c"),
            false,
        )
        .expect("backup");
        let repo = Repo::discover(Path::new(dir.path())).expect("repo");

        assert!(!repo.branch_merged("t", "main").expect("check"));
        assert!(!repo.delete_branch_if_merged("t", "main").expect("unmerged"));
        assert!(!repo
            .delete_branch_if_merged("gone", "main")
            .expect("missing"));
        // main merges orch/t: now contained, and deleted.
        commit(&git, "main", &[root, work], "m");
        assert!(repo.branch_merged("t", "main").expect("check"));
        assert_eq!(
            repo.branch_tip("orch/t").expect("tip"),
            Some(work.to_string())
        );
        assert!(repo.delete_branch_if_merged("t", "main").expect("merged"));
        assert_eq!(repo.branch_tip("orch/t").expect("tip"), None);
        assert_eq!(repo.orch_branches().expect("branches"), ["orch/u"]);
        assert_eq!(
            repo.backup_branches().expect("backups"),
            ["orch-backup/t-20260101T000000"]
        );
        assert!(repo.delete_branch_if_merged("../x", "main").is_err());
        // Contained but checked out: refused, kept.
        git.branch("orch/h", &git.find_commit(root).expect("c"), false)
            .expect("branch");
        git.set_head("refs/heads/orch/h").expect("checkout");
        assert!(repo.delete_branch_if_merged("h", "main").is_err());
        assert!(repo.branch_tip("orch/h").expect("tip").is_some());
    }
}
