//! Starting a task's branch: from its dependencies' work, over branches
//! orch does not know, fresh, and resolving a conflict with the base.

use super::*;

fn with_deps(task: &str, dir: &Path, deps: &[&str]) -> Prepare {
    Prepare {
        deps: deps.iter().map(|d| d.to_string()).collect(),
        ..prep(task, dir, "main", Known::Creating)
    }
}

fn with_mode(task: &str, dir: &Path, known: Known, mode: StartMode) -> Prepare {
    Prepare {
        mode,
        ..prep(task, dir, "main", known)
    }
}

/// Runs task `task` as an agent would: prepare, write `file`, commit.
fn run_task(repo: &Repo, tmp: &TempDir, task: &str, deps: &[&str], file: &str) -> Worktree {
    let dir = wt_dir(tmp, task);
    let wt = repo
        .prepare_worktree(&with_deps(task, &dir, deps))
        .expect("prepare");
    write(&dir, file, &format!("{task}\n"));
    repo.commit_all(&dir, &format!("{task} work"))
        .expect("commit")
        .expect("something committed");
    wt
}

#[test]
fn a_diamond_sees_its_dependencies_work() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    run_task(&repo, &tmp, "a", &[], "a.txt");
    run_task(&repo, &tmp, "b", &["a"], "b.txt");
    run_task(&repo, &tmp, "c", &["a"], "c.txt");
    assert!(wt_dir(&tmp, "b").join("a.txt").exists());
    assert!(wt_dir(&tmp, "c").join("a.txt").exists());
    let b_tip = tip(&git, "orch/b");
    let c_tip = tip(&git, "orch/c");

    // A skipped dependency has no branch: nothing of it to merge.
    let d = wt_dir(&tmp, "d");
    let wt = repo
        .prepare_worktree(&with_deps("d", &d, &["b", "c", "skipped"]))
        .expect("prepare d");
    assert!(wt.created);
    for file in ["a.txt", "b.txt", "c.txt", "README.md"] {
        assert!(d.join(file).exists(), "{file}");
    }
    assert_eq!(repo.is_dirty(&d).expect("dirty"), 0);
    // b is fast-forwarded to; c is merged in with a commit naming it.
    let start = git.find_commit(tip(&git, "orch/d")).expect("start commit");
    assert_eq!(start.parent_ids().collect::<Vec<_>>(), [b_tip, c_tip]);
    assert!(
        String::from_utf8_lossy(start.message_bytes()).starts_with("orch: start d from c\n"),
        "{:?}",
        start.message_bytes()
    );
    // Dependencies already in the start add nothing.
    let e = wt_dir(&tmp, "e");
    repo.prepare_worktree(&with_deps("e", &e, &["a", "d", "b"]))
        .expect("prepare e");
    assert_eq!(tip(&git, "orch/e"), start.id());
    if let Some(log) = git_cli(tmp.path(), &["log", "--format=%s", "orch/d"]) {
        assert!(log.starts_with("orch: start d from c\n"), "{log}");
    }
}

#[test]
fn a_dependency_already_on_the_base_adds_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    run_task(&repo, &tmp, "a", &[], "a.txt");
    let merged = repo
        .merge(&MergeRequest {
            task: "a".into(),
            title: "A".into(),
            base: "main".into(),
        })
        .expect("merge");
    let MergeOutcome::Merged { commit } = merged else {
        panic!("{merged:?}");
    };
    let b = wt_dir(&tmp, "b");
    repo.prepare_worktree(&with_deps("b", &b, &["a"]))
        .expect("prepare");
    assert_eq!(tip(&git, "orch/b").to_string(), commit);
}

#[test]
fn conflicting_dependencies_create_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    commit_files(
        &git,
        "orch/a",
        "main",
        &[("README.md", Some("from a\n")), ("a.txt", Some("a\n"))],
        "a",
    );
    commit_files(
        &git,
        "orch/b",
        "main",
        &[("README.md", Some("from b\n"))],
        "b",
    );
    let dir = wt_dir(&tmp, "c");
    let err = repo
        .prepare_worktree(&with_deps("c", &dir, &["a", "b"]))
        .expect_err("conflict");
    match &err {
        GitError::DependenciesConflict { files, deps } => {
            assert_eq!(files, &["README.md"]);
            assert_eq!(deps, &["a", "b"]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("README.md"), "{err}");
    assert!(!dir.exists());
    assert!(git.find_branch("orch/c", git2::BranchType::Local).is_err());
    assert!(git.worktrees().expect("worktrees").is_empty());
}

#[test]
fn an_unknown_branch_is_kept_under_a_backup_name() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let old = commit_files(
        &git,
        "orch/t",
        "main",
        &[("stale.txt", Some("old run\n"))],
        "old run",
    );
    let dir = wt_dir(&tmp, "t");
    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("prepare");
    assert!(wt.created);
    assert_eq!(tip(&git, "orch/t"), tip(&git, "main"));
    assert!(!dir.join("stale.txt").exists());
    let backups: Vec<String> = local_branch_names(&git)
        .into_iter()
        .filter(|b| b.starts_with(BACKUP_PREFIX))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(tip(&git, &backups[0]), old);
    assert_eq!(
        wt.notes,
        [format!("kept the unknown branch orch/t as {}", backups[0])]
    );
    // orch-backup/t-YYYYMMDDTHHMMSS
    let stamp = backups[0].strip_prefix("orch-backup/t-").expect("prefix");
    assert_eq!(stamp.len(), 15, "{stamp}");
    assert_eq!(&stamp[8..9], "T");
    assert!(stamp
        .chars()
        .filter(|c| *c != 'T')
        .all(|c| c.is_ascii_digit()));
}

#[test]
fn backup_names_are_unique() {
    let (_tmp, git) = fixture();
    let name = super::super::prepare::backup_name(&git, "t", "20260101T000000").expect("name");
    assert_eq!(name, "orch-backup/t-20260101T000000");
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch(&name, &head, false).expect("taken");
    git.branch("orch-backup/t-20260101T000000-2", &head, false)
        .expect("taken too");
    let name = super::super::prepare::backup_name(&git, "t", "20260101T000000").expect("name");
    assert_eq!(name, "orch-backup/t-20260101T000000-3");
}

#[test]
fn a_fresh_start_keeps_the_old_work_committed_on_a_backup() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("create");
    write(&dir, "committed.txt", "first attempt\n");
    repo.commit_all(&dir, "first attempt").expect("commit");
    write(&dir, "README.md", "half-done edit\n");
    write(&dir, "new.txt", "never committed\n");
    // The base moved on meanwhile.
    commit_on_main(&git, &[("later.txt", Some("later\n"))], "main moves on");

    let wt = repo
        .prepare_worktree(&with_mode("t", &dir, Known::Ready, StartMode::Fresh))
        .expect("fresh");
    assert!(wt.created);
    assert_eq!(wt.notes.len(), 2, "{:?}", wt.notes);
    assert_eq!(
        wt.notes[0],
        "committed uncommitted work on orch/t before the fresh start"
    );
    assert!(
        wt.notes[1].starts_with("kept the old branch orch/t as orch-backup/t-"),
        "{:?}",
        wt.notes
    );
    let backup = wt.notes[1].rsplit(' ').next().expect("name");
    let kept = tip(&git, backup);
    assert_eq!(blob_text(&git, kept, "README.md"), "half-done edit\n");
    assert_eq!(blob_text(&git, kept, "new.txt"), "never committed\n");
    assert_eq!(blob_text(&git, kept, "committed.txt"), "first attempt\n");
    // The new branch is the current base, checked out clean.
    assert_eq!(tip(&git, "orch/t"), tip(&git, "main"));
    assert_eq!(head_of(&dir).1, tip(&git, "main"));
    assert!(dir.join("later.txt").exists());
    assert!(!dir.join("new.txt").exists());
    assert_eq!(
        fs::read_to_string(dir.join("README.md")).expect("readme"),
        "hello\n"
    );
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
}

/// Task `t` changed README.md one way, main another; `t`'s worktree exists.
fn conflicting_with_main(tmp: &TempDir, git: &Repository, repo: &Repo) -> PathBuf {
    let dir = wt_dir(tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("create");
    write(&dir, "README.md", "hello from t\n");
    repo.commit_all(&dir, "t edits the readme").expect("commit");
    commit_on_main(
        git,
        &[
            ("README.md", Some("hello from main\n")),
            ("main.txt", Some("m\n")),
        ],
        "main edits it too",
    );
    dir
}

#[test]
fn resolve_leaves_markers_and_commit_all_completes_the_merge() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = conflicting_with_main(&tmp, &git, &repo);
    let conflict = repo
        .merge(&MergeRequest {
            task: "t".into(),
            title: "T".into(),
            base: "main".into(),
        })
        .expect("merge");
    assert_eq!(
        conflict,
        MergeOutcome::Conflict {
            files: vec!["README.md".into()]
        }
    );
    write(&dir, "leftover.txt", "uncommitted\n");
    let before = tip(&git, "orch/t");

    let wt = repo
        .prepare_worktree(&with_mode("t", &dir, Known::Ready, StartMode::Resolve))
        .expect("resolve");
    assert!(!wt.created);
    assert_eq!(wt.conflicts, ["README.md"]);
    assert_eq!(
        wt.notes,
        ["committed uncommitted work on orch/t before merging main"]
    );
    let leftovers = tip(&git, "orch/t");
    assert_ne!(leftovers, before);
    assert_eq!(blob_text(&git, leftovers, "leftover.txt"), "uncommitted\n");
    let readme = fs::read_to_string(dir.join("README.md")).expect("readme");
    assert!(
        readme.starts_with("<<<<<<< HEAD\nhello from t\n=======\nhello from main\n>>>>>>> main"),
        "{readme}"
    );
    assert!(dir.join("main.txt").exists());
    let wt_repo = Repository::open(&dir).expect("open");
    assert_eq!(wt_repo.state(), git2::RepositoryState::Merge);
    if let Some(status) = git_cli(&dir, &["status", "--porcelain"]) {
        assert!(status.contains("UU README.md"), "{status}");
    }

    // Markers left: refused, nothing committed, the conflict still staged.
    let err = repo.commit_all(&dir, "resolved?").expect_err("markers");
    assert!(
        matches!(&err, GitError::MarkersLeft { files } if files == &["README.md"]),
        "{err:?}"
    );
    assert_eq!(tip(&git, "orch/t"), leftovers);
    assert!(Repository::open(&dir)
        .expect("open")
        .index()
        .expect("index")
        .has_conflicts());

    write(&dir, "README.md", "hello from t and main\n");
    let id = repo
        .commit_all(&dir, "merge main")
        .expect("commit")
        .expect("merge commit");
    let commit = git
        .find_commit(Oid::from_str(&id).expect("oid"))
        .expect("commit");
    assert_eq!(
        commit.parent_ids().collect::<Vec<_>>(),
        [leftovers, tip(&git, "main")]
    );
    assert_eq!(
        Repository::open(&dir).expect("open").state(),
        git2::RepositoryState::Clean
    );
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    // And now it lands.
    let landed = repo
        .merge(&MergeRequest {
            task: "t".into(),
            title: "T".into(),
            base: "main".into(),
        })
        .expect("merge");
    assert!(matches!(landed, MergeOutcome::Merged { .. }), "{landed:?}");
}

#[test]
fn a_merge_the_agent_committed_itself_is_fine() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = conflicting_with_main(&tmp, &git, &repo);
    let wt = repo
        .prepare_worktree(&with_mode("t", &dir, Known::Ready, StartMode::Resolve))
        .expect("resolve");
    assert_eq!(wt.conflicts, ["README.md"]);
    write(&dir, "README.md", "resolved\n");
    if git_cli(&dir, &["add", "README.md"]).is_none() {
        return;
    }
    git_cli(
        &dir,
        &[
            "-c",
            "core.hooksPath=/dev/null",
            "commit",
            "--no-edit",
            "-q",
        ],
    );
    assert_eq!(repo.commit_all(&dir, "nothing left").expect("commit"), None);
    let head = git.find_commit(tip(&git, "orch/t")).expect("head");
    assert_eq!(head.parent_count(), 2);
}

#[test]
fn a_clean_resolve_commits_the_merge() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect("create");
    write(&dir, "t.txt", "t\n");
    repo.commit_all(&dir, "t").expect("commit");
    let before = tip(&git, "orch/t");
    commit_files(&git, "main", "main", &[("main.txt", Some("m\n"))], "main");
    // The worktree went away meanwhile (cleanup): made again from the branch.
    repo.remove_worktree("t", &dir, false).expect("remove");

    let wt = repo
        .prepare_worktree(&with_mode("t", &dir, Known::Removed, StartMode::Resolve))
        .expect("resolve");
    assert!(wt.created);
    assert!(wt.conflicts.is_empty());
    let merged = git.find_commit(tip(&git, "orch/t")).expect("commit");
    assert_eq!(
        merged.parent_ids().collect::<Vec<_>>(),
        [before, tip(&git, "main")]
    );
    assert!(dir.join("main.txt").exists() && dir.join("t.txt").exists());
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    assert_eq!(
        Repository::open(&dir).expect("open").state(),
        git2::RepositoryState::Clean
    );
}

#[test]
fn a_resolved_merge_left_uncommitted_is_committed_by_the_next_resolve_start() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = conflicting_with_main(&tmp, &git, &repo);
    repo.prepare_worktree(&with_mode("t", &dir, Known::Ready, StartMode::Resolve))
        .expect("resolve");
    // The agent fixed and staged the file, then stopped without committing.
    write(&dir, "README.md", "hello from both\n");
    git_cli(&dir, &["add", "README.md"]).expect("git add");
    let before = tip(&git, "orch/t");

    let wt = repo
        .prepare_worktree(&with_mode("t", &dir, Known::Ready, StartMode::Resolve))
        .expect("resolve again");
    assert!(wt.conflicts.is_empty(), "{:?}", wt.conflicts);
    let merged = git.find_commit(tip(&git, "orch/t")).expect("commit");
    assert_ne!(merged.id(), before);
    assert_eq!(merged.parent_count(), 2, "the merge commit");
    assert_eq!(
        blob_text(&git, merged.id(), "README.md"),
        "hello from both\n"
    );
    assert_eq!(
        Repository::open(&dir).expect("open").state(),
        git2::RepositoryState::Clean
    );
}
