//! `worktree_include`: untracked and ignored files copied into new worktrees.

use super::*;

#[test]
fn included_files_are_copied_into_a_new_worktree() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    write(tmp.path(), ".gitignore", ".env\n.orch/\nbig/\n");
    write(tmp.path(), "config/app.toml", "tracked\n");
    commit_everything(&git, "ignore .env");
    // Another task's worktree with a .env of its own: never walked into.
    let other = wt_dir(&tmp, "other");
    repo.prepare_worktree(&prep("other", &other, "main", Known::Creating))
        .expect("other");
    write(&other, ".env", "other worktree's\n");
    write(tmp.path(), ".env", "SECRET=1\n");
    write(tmp.path(), "config/local.toml", "untracked\n");
    write(
        tmp.path(),
        "config/app.toml",
        "the user's edit of a tracked file\n",
    );
    write(tmp.path(), "big/nested/.env", "deep\n");
    write(
        tmp.path(),
        INCLUDE_FILE,
        "# local config\nconfig/*.toml\n\n**/nested/.env\n",
    );

    let dir = wt_dir(&tmp, "t");
    let wt = repo
        .prepare_worktree(&Prepare {
            include: vec![".env".into(), "missing.txt".into()],
            ..prep("t", &dir, "main", Known::Creating)
        })
        .expect("prepare");
    assert_eq!(
        wt.notes,
        ["copied 3 included files (.env, big/nested/.env, config/local.toml)"]
    );
    assert_eq!(
        fs::read_to_string(dir.join(".env")).expect(".env"),
        "SECRET=1\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("config/local.toml")).expect("local"),
        "untracked\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("big/nested/.env")).expect("deep"),
        "deep\n"
    );
    // Tracked files come from the checkout, not the user's edits.
    assert_eq!(
        fs::read_to_string(dir.join("config/app.toml")).expect("app"),
        "tracked\n"
    );
    assert!(!dir.join(".orch").exists());
    // The ignored copies are invisible to git; the untracked one is
    // untracked there too (what the agent commits, unless ignored).
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 1);

    // Reused, nothing is copied again.
    let again = repo
        .prepare_worktree(&Prepare {
            include: vec![".env".into()],
            ..prep("t", &dir, "main", Known::Ready)
        })
        .expect("reuse");
    assert!(again.notes.is_empty());
}

#[test]
fn a_glob_leaving_the_repository_creates_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    for glob in ["../outside", "/etc/hostname"] {
        let err = repo
            .prepare_worktree(&Prepare {
                include: vec![glob.into()],
                ..prep("t", &dir, "main", Known::Creating)
            })
            .expect_err("refused");
        assert!(
            matches!(&err, GitError::BadInclude { glob: g, .. } if g == glob),
            "{err:?}"
        );
    }
    write(tmp.path(), INCLUDE_FILE, "config/../../x\n");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect_err("refused");
    assert!(matches!(err, GitError::BadInclude { .. }), "{err:?}");
    assert!(!dir.exists());
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
}
