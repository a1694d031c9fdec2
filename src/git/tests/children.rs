//! A parent's worktree taking in its subtasks' branches: merged in memory
//! first, one merge commit each, nothing touched when any conflicts.

use super::*;

fn request(task: &str, dir: &Path, deps: &[&str], known: Known) -> Prepare {
    Prepare {
        deps: deps.iter().map(|d| d.to_string()).collect(),
        ..prep(task, dir, "main", known)
    }
}

/// Prepare `task` (from `deps`), write `file` with `text`, commit.
fn work(repo: &Repo, tmp: &TempDir, task: &str, deps: &[&str], file: &str, text: &str) {
    let dir = wt_dir(tmp, task);
    repo.prepare_worktree(&request(task, &dir, deps, Known::Creating))
        .expect("prepare");
    write(&dir, file, text);
    repo.commit_all(&dir, &format!("{task} work"))
        .expect("commit")
        .expect("something committed");
}

fn with_children(dir: &Path, children: &[&str]) -> Prepare {
    Prepare {
        children: children
            .iter()
            .map(|c| (c.to_string(), format!("Do {c}")))
            .collect(),
        ..request("p", dir, &[], Known::Ready)
    }
}

#[test]
fn a_parent_s_worktree_gets_each_subtask_s_work_in_order() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    work(&repo, &tmp, "p", &[], "plan.md", "the plan\n");
    work(&repo, &tmp, "c1", &["p"], "one.txt", "one\n");
    work(&repo, &tmp, "c2", &["p", "c1"], "two.txt", "two\n");
    work(&repo, &tmp, "c3", &["p", "c1"], "three.txt", "three\n");
    assert!(
        wt_dir(&tmp, "c1").join("plan.md").exists(),
        "from the parent's work"
    );
    let before = tip(&git, "orch/p");

    let dir = wt_dir(&tmp, "p");
    let wt = repo
        .prepare_worktree(&with_children(&dir, &["c1", "c2", "c3", "none"]))
        .expect("merged");
    assert_eq!(
        wt.notes,
        ["merged the work of subtask(s) c1, c2, c3 into orch/p"]
    );
    for file in ["plan.md", "one.txt", "two.txt", "three.txt"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    assert_eq!(
        repo.is_dirty(&dir).expect("status"),
        0,
        "index and files agree"
    );
    let head = git.find_commit(tip(&git, "orch/p")).expect("tip");
    assert_eq!(head.parent_id(1).expect("a merge"), tip(&git, "orch/c3"));
    assert!(
        String::from_utf8_lossy(head.message_bytes()).starts_with("Merge orch/c3: Do c3\n"),
        "{:?}",
        head.message_bytes()
    );
    let mut first = head.clone();
    while first.parent_id(0).expect("parent") != before {
        first = first.parent(0).expect("parent");
    }
    assert_eq!(first.parent_id(1).expect("a merge"), tip(&git, "orch/c1"));

    // Again (the next attempt after a failure): nothing more to do.
    let again = repo
        .prepare_worktree(&with_children(&dir, &["c1", "c2", "c3"]))
        .expect("again");
    assert!(again.notes.is_empty(), "{:?}", again.notes);
    assert_eq!(tip(&git, "orch/p"), head.id());
}

#[test]
fn subtasks_that_conflict_change_nothing_and_name_the_files() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    work(&repo, &tmp, "p", &[], "plan.md", "the plan\n");
    work(&repo, &tmp, "c1", &["p"], "shared.txt", "one\n");
    work(&repo, &tmp, "c2", &["p"], "shared.txt", "two\n");
    let before = tip(&git, "orch/p");
    let dir = wt_dir(&tmp, "p");
    let err = repo
        .prepare_worktree(&with_children(&dir, &["c1", "c2"]))
        .expect_err("conflicts");
    let GitError::SubtasksConflict {
        child,
        files,
        merged,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!(
        (child.as_str(), files.as_slice()),
        ("c2", ["shared.txt".to_string()].as_slice())
    );
    assert_eq!(merged, &["c1".to_string()]);
    assert!(err.to_string().contains("shared.txt"), "{err}");
    assert_eq!(tip(&git, "orch/p"), before, "the branch did not move");
    assert!(!dir.join("shared.txt").exists(), "no file was touched");
}

#[test]
fn a_change_in_the_parent_s_worktree_in_the_way_changes_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    work(&repo, &tmp, "p", &[], "plan.md", "the plan\n");
    work(&repo, &tmp, "c", &["p"], "plan.md", "the plan, done\n");
    let dir = wt_dir(&tmp, "p");
    write(&dir, "plan.md", "someone's edit\n");
    let before = tip(&git, "orch/p");
    let err = repo
        .prepare_worktree(&with_children(&dir, &["c"]))
        .expect_err("in the way");
    assert!(
        matches!(&err, GitError::SubtasksInTheWay { files, .. } if files == &["plan.md".to_string()]),
        "{err}"
    );
    assert_eq!(tip(&git, "orch/p"), before);
    assert_eq!(
        fs::read_to_string(dir.join("plan.md")).expect("read"),
        "someone's edit\n"
    );
}
