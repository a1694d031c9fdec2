//! Worktrees a killed orch left half-made or locked, in worktrees it
//! recorded ([`Known::Creating`], [`Known::Ready`]).

use super::*;

/// The registration directory of task `t`'s worktree.
fn admin(tmp: &TempDir) -> PathBuf {
    tmp.path().join(".git/worktrees/orch-t")
}

/// A worktree of task `t` as a run killed during its checkout leaves it:
/// registered, some files missing, no index yet.
fn half_made(tmp: &TempDir, repo: &Repo) -> PathBuf {
    let dir = wt_dir(tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    fs::remove_file(admin(tmp).join("index")).expect("no index yet");
    fs::remove_dir_all(dir.join("src")).expect("not checked out yet");
    dir
}

#[test]
fn a_half_made_worktree_is_dirty_to_an_unknown_caller_and_remade_when_recorded() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = half_made(&tmp, &repo);
    // What the next run saw before the intent was recorded.
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("dirty");
    assert!(matches!(err, GitError::DirtyWorktree { .. }), "{err:?}");

    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("remade");
    assert!(wt.created);
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    assert!(dir.join("src/lib.rs").exists());
    assert!(admin(&tmp).join("index").exists());
    assert_eq!(
        fs::read_dir(tmp.path().join(".git/worktrees"))
            .expect("registrations")
            .count(),
        1,
        "no second registration"
    );
}

#[test]
fn half_written_registrations_are_replaced_under_the_same_name() {
    for leave in [
        "dir without gitdir",
        "registration only",
        "empty dir",
        "empty .git file",
    ] {
        let (tmp, git) = fixture();
        let repo = Repo::discover(tmp.path()).expect("discover");
        let dir = wt_dir(&tmp, "t");
        let admin = admin(&tmp);
        fs::create_dir_all(&admin).expect("admin");
        match leave {
            "dir without gitdir" => {
                fs::write(admin.join("commondir"), "../..\n").expect("commondir");
                fs::create_dir_all(&dir).expect("dir");
                fs::write(
                    dir.join(".git"),
                    format!("gitdir: {}\n", fs::canonicalize(&admin).unwrap().display()),
                )
                .expect(".git");
            }
            "registration only" => {}
            // Killed between creating `.git` and writing it.
            "empty .git file" => {
                fs::create_dir_all(&dir).expect("dir");
                fs::write(dir.join(".git"), "").expect(".git");
            }
            _ => fs::create_dir_all(&dir).expect("dir"),
        }
        let wt = repo
            .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
            .unwrap_or_else(|e| panic!("{leave}: {e}"));
        assert!(wt.created, "{leave}");
        git.find_worktree("orch-t")
            .expect("same name")
            .validate()
            .expect("valid");
        assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0, "{leave}");
    }
}

#[test]
fn a_complete_recorded_worktree_is_reused_and_changes_in_it_are_kept() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    // Killed after the checkout, before it was marked ready: reused.
    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("reuse");
    assert!(!wt.created);
    // Complete, yet changed: not orch's checkout, so not touched.
    write(&dir, "notes.txt", "mine\n");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect_err("dirty");
    assert!(matches!(err, GitError::DirtyWorktree { .. }), "{err:?}");
    assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine\n");
}

#[test]
fn a_recorded_path_holding_something_else_is_left_alone() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    write(&dir, "precious.txt", "keep\n");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect_err("foreign");
    assert!(matches!(err, GitError::ForeignPath { .. }), "{err:?}");
    assert_eq!(
        fs::read_to_string(dir.join("precious.txt")).unwrap(),
        "keep\n"
    );
}

#[test]
fn lock_files_of_a_killed_git_operation_are_cleared_for_recorded_worktrees() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let locks = [
        admin(&tmp).join("index.lock"),
        admin(&tmp).join("HEAD.lock"),
        tmp.path().join(".git/refs/heads/orch/t.lock"),
    ];
    for lock in &locks {
        fs::write(lock, "").expect("lock");
    }
    write(&dir, "work.txt", "agent's work\n");
    // Not orch's to clear when it does not know the worktree.
    assert!(repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .is_err());
    assert!(locks.iter().all(|l| l.exists()));
    assert!(
        repo.commit_all(&dir, "work").is_err(),
        "the locks block a commit"
    );

    repo.prepare_worktree(&prep("t", &dir, "main", Known::Ready))
        .expect("reuse");
    assert!(locks.iter().all(|l| !l.exists()));
    assert!(repo.commit_all(&dir, "work").expect("commit").is_some());
}
