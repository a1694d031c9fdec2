//! Landing a task on the base branch: in memory, ref only, or through the
//! user's checkout without ever touching their changes.

use super::*;

fn request(task: &str, base: &str) -> MergeRequest {
    MergeRequest {
        task: task.into(),
        title: format!("Title of {task}"),
        base: base.into(),
    }
}

fn status(root: &Path) -> Option<String> {
    git_cli(
        root,
        &[
            "status",
            "--porcelain",
            "--untracked-files=all",
            "--ignored",
        ],
    )
}

#[test]
fn a_base_not_checked_out_only_has_its_ref_moved() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(
        &git,
        "develop",
        "main",
        &[("dev.txt", Some("dev\n"))],
        "develop",
    );
    commit_files(
        &git,
        "orch/t",
        "main",
        &[("t.txt", Some("t\n")), ("README.md", Some("t's readme\n"))],
        "t",
    );
    // The user is on main, with changes of their own.
    write(tmp.path(), "README.md", "the user's edit\n");
    write(tmp.path(), "scratch.txt", "untracked\n");
    let files_before = snapshot(tmp.path());
    let status_before = status(tmp.path());
    let develop_before = tip(&git, "develop");

    let outcome = repo.merge(&request("t", "develop")).expect("merge");
    let MergeOutcome::Merged { commit } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(snapshot(tmp.path()), files_before);
    assert_eq!(status(tmp.path()), status_before);
    assert_eq!(tip(&git, "develop").to_string(), commit);
    let merged = git.find_commit(tip(&git, "develop")).expect("commit");
    assert_eq!(
        merged.parent_ids().collect::<Vec<_>>(),
        [develop_before, tip(&git, "orch/t")]
    );
    assert_eq!(blob_text(&git, merged.id(), "README.md"), "t's readme\n");
    assert_eq!(blob_text(&git, merged.id(), "dev.txt"), "dev\n");
    if let Some(rev) = git_cli(tmp.path(), &["rev-parse", "develop"]) {
        assert_eq!(rev.trim(), commit);
        let log =
            git_cli(tmp.path(), &["log", "-1", "--format=%s%n%b%n%P", "develop"]).expect("log");
        assert_eq!(
            log,
            format!(
                "Merge orch/t: Title of t\norch task t\n\n{develop_before} {}\n",
                tip(&git, "orch/t")
            )
        );
        git_cli(tmp.path(), &["fsck", "--no-progress"]);
    }
    // Again: already merged, nothing moves.
    assert_eq!(
        repo.merge(&request("t", "develop")).expect("again"),
        MergeOutcome::AlreadyMerged {
            commit: commit.clone()
        }
    );
    assert_eq!(tip(&git, "develop").to_string(), commit);
}

#[test]
fn a_conflict_is_found_in_memory_and_touches_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(
        &git,
        "orch/t",
        "main",
        &[("README.md", Some("t\n")), ("src/lib.rs", Some("// t\n"))],
        "t",
    );
    commit_on_main(
        &git,
        &[
            ("README.md", Some("main\n")),
            ("src/lib.rs", Some("// main\n")),
        ],
        "main",
    );
    let files_before = snapshot(tmp.path());
    let main_before = tip(&git, "main");
    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert_eq!(
        outcome,
        MergeOutcome::Conflict {
            files: vec!["README.md".into(), "src/lib.rs".into()]
        }
    );
    assert_eq!(tip(&git, "main"), main_before);
    assert_eq!(snapshot(tmp.path()), files_before);
    assert_eq!(git.state(), git2::RepositoryState::Clean);
    assert_eq!(status(tmp.path()).as_deref().unwrap_or(""), "");
}

/// orch/t changes README.md and src/lib.rs, adds new.txt, build.log,
/// docs/guide.md and removes nothing; main is checked out.
fn task_touching_many(tmp: &TempDir, git: &Repository) {
    write(tmp.path(), ".gitignore", "*.log\n");
    commit_everything(git, "ignore logs");
    commit_files(
        git,
        "orch/t",
        "main",
        &[
            ("README.md", Some("t's readme\n")),
            ("src/lib.rs", Some("// t's lib\n")),
            ("new.txt", Some("t's new file\n")),
            ("build.log", Some("tracked on t\n")),
            ("docs/guide.md", Some("t's guide\n")),
        ],
        "t",
    );
}

#[test]
fn the_users_changes_in_the_way_hold_the_merge_and_are_kept() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    task_touching_many(&tmp, &git);
    // Modified, staged, untracked, ignored, and a file where a directory goes.
    write(tmp.path(), "README.md", "the user's edit\n");
    write(tmp.path(), "src/lib.rs", "// staged by the user\n");
    let mut index = git.index().expect("index");
    index.add_path(Path::new("src/lib.rs")).expect("stage");
    index.write().expect("write index");
    write(tmp.path(), "src/lib.rs", "// then edited back\n");
    write(tmp.path(), "new.txt", "the user's own new.txt\n");
    write(tmp.path(), "build.log", "the user's log\n");
    write(tmp.path(), "docs", "a file, not a directory\n");
    write(tmp.path(), "unrelated.txt", "not in the way\n");
    let files_before = snapshot(tmp.path());
    let status_before = status(tmp.path());
    let main_before = tip(&git, "main");

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert_eq!(
        outcome,
        MergeOutcome::LocalChanges {
            files: ["README.md", "build.log", "docs", "new.txt", "src/lib.rs"]
                .map(String::from)
                .to_vec()
        }
    );
    assert_eq!(snapshot(tmp.path()), files_before);
    assert_eq!(status(tmp.path()), status_before);
    assert_eq!(tip(&git, "main"), main_before);
    let index = Repository::open(tmp.path())
        .expect("open")
        .index()
        .expect("index");
    let staged = index.get_path(Path::new("src/lib.rs"), 0).expect("entry");
    assert_eq!(
        git.find_blob(staged.id).expect("blob").content(),
        b"// staged by the user\n"
    );
}

#[test]
fn a_checked_out_base_is_updated_around_the_users_changes() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    write(tmp.path(), "a.txt", "a\n");
    write(tmp.path(), "gone.txt", "to be removed\n");
    commit_everything(&git, "more files");
    commit_files(
        &git,
        "orch/t",
        "main",
        &[
            ("a.txt", Some("a by t\n")),
            ("gone.txt", None),
            ("dir/new.txt", Some("new\n")),
        ],
        "t",
    );
    write(tmp.path(), "README.md", "the user's edit\n");
    write(tmp.path(), "notes.txt", "the user's notes\n");
    let main_before = tip(&git, "main");

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    let MergeOutcome::Merged { commit } = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(tip(&git, "main").to_string(), commit);
    assert_eq!(
        fs::read_to_string(tmp.path().join("a.txt")).expect("a"),
        "a by t\n"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("dir/new.txt")).expect("new"),
        "new\n"
    );
    assert!(!tmp.path().join("gone.txt").exists());
    assert_eq!(
        fs::read_to_string(tmp.path().join("README.md")).expect("readme"),
        "the user's edit\n"
    );
    assert_eq!(
        fs::read_to_string(tmp.path().join("notes.txt")).expect("notes"),
        "the user's notes\n"
    );
    let merged = git.find_commit(tip(&git, "main")).expect("commit");
    assert_eq!(
        merged.parent_ids().collect::<Vec<_>>(),
        [main_before, tip(&git, "orch/t")]
    );
    if let Some(status) = status(tmp.path()) {
        assert_eq!(status, " M README.md\n?? notes.txt\n");
    }
}

#[test]
fn a_merge_cut_short_after_the_checkout_completes() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(
        &git,
        "orch/t",
        "main",
        &[("README.md", Some("t's readme\n")), ("t.txt", Some("t\n"))],
        "t",
    );
    // What a kill between the checkout and the ref update leaves: the
    // merged files written and staged, the branch not moved yet.
    write(tmp.path(), "README.md", "t's readme\n");
    write(tmp.path(), "t.txt", "t\n");
    let mut index = git.index().expect("index");
    index.add_path(Path::new("README.md")).expect("stage");
    index.add_path(Path::new("t.txt")).expect("stage");
    index.write().expect("write index");
    // And one only written, not staged yet.
    commit_files(&git, "orch/t", "orch/t", &[("u.txt", Some("u\n"))], "u");
    write(tmp.path(), "u.txt", "u\n");

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
    if let Some(status) = status(tmp.path()) {
        assert_eq!(status, "");
    }
    assert_eq!(repo.is_dirty(tmp.path()).expect("dirty"), 0);
}

#[test]
fn a_base_checked_out_in_a_linked_worktree_is_updated_there() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let develop = git.branch("develop", &head, false).expect("branch");
    let elsewhere = tmp.path().join("develop-checkout");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(develop.get()));
    git.worktree("develop", &elsewhere, Some(&opts))
        .expect("worktree");
    commit_files(&git, "orch/t", "develop", &[("t.txt", Some("t\n"))], "t");
    let main_files = snapshot(tmp.path());

    let outcome = repo.merge(&request("t", "develop")).expect("merge");
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        fs::read_to_string(elsewhere.join("t.txt")).expect("t"),
        "t\n"
    );
    let wt = Repository::open(&elsewhere).expect("open");
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true);
    assert!(wt.statuses(Some(&mut opts)).expect("status").is_empty());
    // The main checkout (on main) is another branch: untouched.
    let mut after = snapshot(tmp.path());
    after.retain(|(p, _)| !p.starts_with("develop-checkout"));
    let mut before = main_files;
    before.retain(|(p, _)| !p.starts_with("develop-checkout"));
    assert_eq!(after, before);
}

#[test]
fn a_custom_merge_driver_is_reported_as_a_conflict() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    git.config()
        .expect("config")
        .set_str("merge.ours-only.driver", "true")
        .expect("driver");
    write(
        tmp.path(),
        ".gitattributes",
        "*.dat merge=ours-only\n*.txt merge=union\n",
    );
    write(tmp.path(), "data.dat", "one\ntwo\nthree\nfour\nfive\n");
    write(tmp.path(), "list.txt", "x\n");
    commit_everything(&git, "attributes");
    commit_files(
        &git,
        "orch/t",
        "main",
        &[
            ("data.dat", Some("ONE\ntwo\nthree\nfour\nfive\n")),
            ("list.txt", Some("x\nt\n")),
        ],
        "t",
    );
    commit_on_main(
        &git,
        &[
            ("data.dat", Some("one\ntwo\nthree\nfour\nFIVE\n")),
            ("list.txt", Some("x\nmain\n")),
        ],
        "main",
    );
    // Text merging would take both edits; orch does not run the driver.
    assert_eq!(
        repo.merge(&request("t", "main")).expect("merge"),
        MergeOutcome::Conflict {
            files: vec!["data.dat".into()]
        }
    );
}

#[test]
fn a_merged_branch_is_deleted_and_an_unmerged_one_kept() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(&git, "orch/t", "main", &[("t.txt", Some("t\n"))], "t");
    assert!(!repo.delete_branch_if_merged("t", "main").expect("unmerged"));
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_ok());
    assert!(!repo
        .delete_branch_if_merged("missing", "main")
        .expect("missing"));
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("worktree");
    repo.merge(&request("t", "main")).expect("merge");
    let err = repo
        .delete_branch_if_merged("t", "main")
        .expect_err("checked out");
    assert!(err.to_string().contains("checked out at"), "{err}");
    repo.remove_worktree("t", &dir, false).expect("remove");
    assert!(repo.delete_branch_if_merged("t", "main").expect("merged"));
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
}

#[test]
fn a_users_worktree_whose_directory_is_gone_holds_the_merge_and_is_not_pruned() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let develop = git.branch("develop", &head, false).expect("branch");
    let elsewhere = tmp.path().join("develop-checkout");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(develop.get()));
    git.worktree("develop", &elsewhere, Some(&opts))
        .expect("worktree");
    commit_files(&git, "orch/t", "develop", &[("t.txt", Some("t\n"))], "t");
    // Like a drive that is not mounted right now.
    let away = tmp.path().join("away");
    fs::rename(&elsewhere, &away).expect("move away");
    let before = tip(&git, "develop");

    let outcome = repo.merge(&request("t", "develop")).expect("merge");
    let MergeOutcome::Busy { reason } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.contains("develop-checkout"), "{reason}");
    assert_eq!(tip(&git, "develop"), before);
    fs::rename(&away, &elsewhere).expect("back");
    assert!(
        git_cli(&elsewhere, &["status", "--porcelain"]).is_some(),
        "the user's worktree still works"
    );
}

#[test]
fn a_rebase_of_the_base_under_way_holds_the_merge() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(&git, "orch/t", "main", &[("t.txt", Some("t\n"))], "t");
    // What `git rebase` leaves while it stops on a conflict.
    let state = tmp.path().join(".git/rebase-merge");
    fs::create_dir_all(&state).expect("state");
    fs::write(state.join("head-name"), "refs/heads/main\n").expect("head-name");
    let before = tip(&git, "main");

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    let MergeOutcome::Busy { reason } = outcome else {
        panic!("{outcome:?}");
    };
    assert!(reason.contains("rebase of main"), "{reason}");
    assert_eq!(tip(&git, "main"), before);
    fs::remove_dir_all(&state).expect("rebase over");
    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_tracked_link_the_merge_turns_into_a_directory_is_not_in_the_way() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let outside = tempfile::tempdir().expect("outside");
    write(outside.path(), "o.txt", "outside\n");
    let root = tmp.path();
    let run = |args: &[&str]| git_cli(root, args).unwrap_or_else(|| panic!("git {args:?}"));
    std::os::unix::fs::symlink(outside.path(), root.join("link")).expect("symlink");
    run(&["add", "link"]);
    commit_cli(root, "link");
    run(&["checkout", "-q", "-b", "orch/t"]);
    fs::remove_file(root.join("link")).expect("rm link");
    write(root, "link/o.txt", "inside\n");
    commit_cli(root, "dir");
    run(&["checkout", "-q", "main"]);
    assert!(fs::symlink_metadata(root.join("link"))
        .expect("link")
        .file_type()
        .is_symlink());
    drop(git);

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        fs::read_to_string(root.join("link/o.txt")).expect("inside"),
        "inside\n"
    );
    assert_eq!(
        fs::read_to_string(outside.path().join("o.txt")).expect("outside"),
        "outside\n",
        "nothing was written through the old link"
    );
}

#[test]
fn a_merge_turning_a_file_into_a_directory_cut_short_completes() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let root = tmp.path();
    let run = |args: &[&str]| git_cli(root, args).unwrap_or_else(|| panic!("git {args:?}"));
    write(root, "b.txt", "a file\n");
    run(&["add", "b.txt"]);
    commit_cli(root, "b");
    run(&["checkout", "-q", "-b", "orch/t"]);
    fs::remove_file(root.join("b.txt")).expect("rm");
    write(root, "b.txt/x.txt", "now a directory\n");
    commit_cli(root, "dir");
    run(&["checkout", "-q", "main"]);
    drop(git);
    // What a kill between the checkout and the ref's move leaves: the
    // merged files checked out, main's ref where it was.
    run(&["read-tree", "-m", "-u", "HEAD", "orch/t"]);
    assert!(root.join("b.txt").is_dir());

    let outcome = repo.merge(&request("t", "main")).expect("merge");
    assert!(
        matches!(outcome, MergeOutcome::Merged { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        fs::read_to_string(root.join("b.txt/x.txt")).expect("x"),
        "now a directory\n"
    );
    assert_eq!(run(&["status", "--porcelain"]).trim(), "");
}

#[test]
fn a_name_that_is_not_utf8_is_never_checked_out_half_way() {
    use std::os::unix::ffi::OsStrExt;
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let root = tmp.path();
    let run = |args: &[&str]| git_cli(root, args).unwrap_or_else(|| panic!("git {args:?}"));
    run(&["checkout", "-q", "-b", "orch/t"]);
    fs::write(
        root.join(std::ffi::OsStr::from_bytes(b"non\xffutf")),
        "odd\n",
    )
    .expect("odd");
    commit_cli(root, "odd");
    run(&["checkout", "-q", "main"]);
    drop(git);
    let before = snapshot(root);

    let err = repo.merge(&request("t", "main")).expect_err("refused");
    assert!(err.to_string().contains("not UTF-8"), "{err}");
    assert_eq!(snapshot(root), before);
    assert_eq!(run(&["status", "--porcelain"]).trim(), "");
}

/// Stages everything in the checkout at `root` and commits it with the git
/// CLI, on whatever branch is checked out.
fn commit_cli(root: &Path, message: &str) {
    for args in [
        &["add", "-A"][..],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "-m",
            message,
        ][..],
    ] {
        git_cli(root, args).unwrap_or_else(|| panic!("git {args:?}"));
    }
}
