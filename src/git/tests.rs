//! Tests against real temporary repositories, built with git2.

use std::fs;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository, RepositoryInitOptions, WorktreeAddOptions};
use tempfile::TempDir;

use super::*;

/// A fresh repository on branch `main` with one commit holding `README.md`
/// and `src/lib.rs`, and a local identity.
fn fixture() -> (TempDir, Repository) {
    let tmp = TempDir::new().expect("tempdir");
    let mut opts = RepositoryInitOptions::new();
    opts.initial_head("main");
    let repo = Repository::init_opts(tmp.path(), &opts).expect("init");
    {
        let mut config = repo.config().expect("config");
        config.set_str("user.name", "Test User").expect("name");
        config
            .set_str("user.email", "test@example.com")
            .expect("email");
    }
    write(tmp.path(), "README.md", "hello\n");
    write(tmp.path(), "src/lib.rs", "// lib\n");
    commit_everything(&repo, "initial");
    (tmp, repo)
}

fn write(root: &Path, rel: &str, contents: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, contents).expect("write");
}

/// Commits the whole working tree of `repo` on its HEAD branch.
fn commit_everything(repo: &Repository, message: &str) -> Oid {
    let mut index = repo.index().expect("index");
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .expect("add");
    index.update_all(["*"], None).expect("update");
    index.write().expect("write index");
    let tree = repo
        .find_tree(index.write_tree().expect("tree"))
        .expect("find tree");
    let sig = git2::Signature::now("Test User", "test@example.com").expect("sig");
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .expect("commit")
}

/// A [`StartMode::Continue`] request without dependencies or includes.
fn prep(task: &str, dir: &Path, base: &str, known: Known) -> Prepare {
    Prepare {
        task: task.into(),
        dir: dir.to_path_buf(),
        base: base.into(),
        deps: vec![],
        known,
        mode: StartMode::Continue,
        include: vec![],
        children: vec![],
    }
}

fn wt_dir(tmp: &TempDir, task: &str) -> PathBuf {
    tmp.path().join(".orch").join("worktrees").join(task)
}

fn head_of(path: &Path) -> (String, Oid) {
    let repo = Repository::open(path).expect("open worktree");
    let head = repo.head().expect("head");
    (
        head.name().expect("name").to_string(),
        head.target().expect("target"),
    )
}

fn tip(repo: &Repository, branch: &str) -> Oid {
    repo.find_branch(branch, git2::BranchType::Local)
        .expect("branch")
        .get()
        .target()
        .expect("target")
}

fn tree_paths(repo: &Repository, commit: Oid) -> Vec<String> {
    let tree = repo
        .find_commit(commit)
        .expect("commit")
        .tree()
        .expect("tree");
    let mut paths = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(git2::ObjectType::Blob) {
            paths.push(format!("{dir}{}", entry.name().unwrap_or("?")));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk");
    paths.sort();
    paths
}

fn local_branch_names(repo: &Repository) -> Vec<String> {
    let mut names: Vec<String> = repo
        .branches(Some(git2::BranchType::Local))
        .expect("branches")
        .map(|b| {
            b.expect("branch")
                .0
                .name()
                .expect("name")
                .expect("utf8")
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// Commits `files` (path, `Some(contents)` or `None` to delete) on
/// `branch`, created from `from` when missing, without touching any
/// checkout.
fn commit_files(
    repo: &Repository,
    branch: &str,
    from: &str,
    files: &[(&str, Option<&str>)],
    message: &str,
) -> Oid {
    let parent_name = if repo.find_branch(branch, git2::BranchType::Local).is_ok() {
        branch
    } else {
        from
    };
    let parent = repo
        .find_commit(tip(repo, parent_name))
        .expect("parent commit");
    let mut update = git2::build::TreeUpdateBuilder::new();
    for (path, contents) in files {
        match contents {
            Some(text) => {
                let blob = repo.blob(text.as_bytes()).expect("blob");
                update.upsert(*path, blob, git2::FileMode::Blob);
            }
            None => {
                update.remove(*path);
            }
        }
    }
    let tree = update
        .create_updated(repo, &parent.tree().expect("tree"))
        .expect("tree");
    let tree = repo.find_tree(tree).expect("find tree");
    let sig = git2::Signature::now("Test User", "test@example.com").expect("sig");
    repo.commit(
        Some(&format!("refs/heads/{branch}")),
        &sig,
        &sig,
        message,
        &tree,
        &[&parent],
    )
    .expect("commit")
}

/// Commits `files` on main, which the fixture's main worktree has checked
/// out, and brings that checkout along.
fn commit_on_main(repo: &Repository, files: &[(&str, Option<&str>)], message: &str) -> Oid {
    let id = commit_files(repo, "main", "main", files, message);
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .expect("main's checkout follows");
    id
}

/// Runs the git CLI in `cwd`; `None` when git is not installed.
fn git_cli(cwd: &Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .ok()?;
    assert!(out.status.success(), "git {args:?}: {out:?}");
    Some(String::from_utf8(out.stdout).expect("utf8"))
}

/// Every file under `root` but `.git`, with a hash of its bytes.
fn snapshot(root: &Path) -> Vec<(PathBuf, Oid)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Oid)>) {
        for entry in fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().expect("type").is_dir() {
                walk(root, &path, out);
            } else {
                let hash = Oid::hash_file(git2::ObjectType::Blob, &path).expect("hash");
                out.push((
                    path.strip_prefix(root).expect("under root").to_path_buf(),
                    hash,
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn blob_text(repo: &Repository, commit: Oid, path: &str) -> String {
    let tree = repo
        .find_commit(commit)
        .expect("commit")
        .tree()
        .expect("tree");
    let entry = tree.get_path(Path::new(path)).expect("path in tree");
    let blob = repo.find_blob(entry.id()).expect("blob");
    String::from_utf8(blob.content().to_vec()).expect("utf8")
}

// ---------------------------------------------------------------- discover

#[test]
fn repo_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Repo>();
    assert_send_sync::<GitError>();
}

#[test]
fn discover_from_a_subdirectory_finds_the_root() {
    let (tmp, _repo) = fixture();
    let sub = tmp.path().join("src").join("deep");
    fs::create_dir_all(&sub).expect("mkdir");
    let repo = Repo::discover(&sub).expect("discover");
    assert_eq!(repo.root(), fs::canonicalize(tmp.path()).expect("canon"));
}

#[test]
fn discover_outside_a_repository_is_not_a_repo() {
    let tmp = TempDir::new().expect("tempdir");
    let err = Repo::discover(tmp.path()).expect_err("not a repo");
    assert!(matches!(err, GitError::NotARepo { ref path } if path == tmp.path()));
    assert!(err.to_string().ends_with("is not inside a git repository"));
    let missing = tmp.path().join("does/not/exist");
    let err = Repo::discover(&missing).expect_err("missing path");
    assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
}

#[test]
fn discover_a_bare_repository_is_not_a_repo() {
    let tmp = TempDir::new().expect("tempdir");
    Repository::init_bare(tmp.path()).expect("init bare");
    let err = Repo::discover(tmp.path()).expect_err("bare");
    assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
}

#[test]
fn discover_inside_a_linked_worktree_finds_the_main_repository() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("prepare");
    let again = Repo::discover(&dir.join("src")).expect("discover in worktree");
    assert_eq!(again.root(), repo.root());
    assert_eq!(again, repo);
}

// ---------------------------------------------------------- current_branch

#[test]
fn current_branch_names_the_checked_out_branch() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    assert_eq!(repo.current_branch().expect("branch"), "main");

    let head = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch("feature/x", &head, false).expect("branch");
    git.set_head("refs/heads/feature/x").expect("set head");
    assert_eq!(repo.current_branch().expect("branch"), "feature/x");
}

#[test]
fn current_branch_without_commits_is_no_commits() {
    let tmp = TempDir::new().expect("tempdir");
    Repository::init(tmp.path()).expect("init");
    let repo = Repo::discover(tmp.path()).expect("discover");
    let err = repo.current_branch().expect_err("no commits");
    assert!(matches!(err, GitError::NoCommits), "{err:?}");
}

#[test]
fn current_branch_on_a_detached_head_is_detached() {
    let (tmp, git) = fixture();
    let id = tip(&git, "main");
    git.set_head_detached(id).expect("detach");
    let repo = Repo::discover(tmp.path()).expect("discover");
    let err = repo.current_branch().expect_err("detached");
    assert!(matches!(err, GitError::DetachedHead), "{err:?}");
    assert!(err.to_string().contains("base_branch"));
}

// ------------------------------------------------------------ check_branch

#[test]
fn check_branch_accepts_an_existing_branch() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    repo.check_branch("main").expect("main exists");
}

#[test]
fn missing_base_branch_lists_local_branches() {
    let (tmp, git) = fixture();
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch("develop", &head, false).expect("branch");
    let repo = Repo::discover(tmp.path()).expect("discover");

    let err = repo.check_branch("trunk").expect_err("missing");
    match &err {
        GitError::MissingBaseBranch { branch, local } => {
            assert_eq!(branch, "trunk");
            assert_eq!(local, &["develop".to_string(), "main".to_string()]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "base branch \"trunk\" does not exist (local branches: develop, main)"
    );

    let err = repo.check_branch("not..valid").expect_err("invalid name");
    assert!(matches!(err, GitError::MissingBaseBranch { .. }), "{err:?}");
}

// ---------------------------------------------------------------- exclude

#[test]
fn exclude_appends_once_and_takes_effect() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let info = tmp.path().join(".git").join("info");
    let _ = fs::remove_dir_all(&info);

    repo.exclude(".orch/").expect("exclude");
    repo.exclude(".orch/").expect("exclude again");
    repo.exclude("*.log").expect("another");
    repo.exclude(".orch/").expect("exclude a third time");
    let text = fs::read_to_string(info.join("exclude")).expect("read");
    assert_eq!(text, ".orch/\n*.log\n");

    write(tmp.path(), ".orch/worktrees/x/file", "x");
    assert!(git
        .status_should_ignore(Path::new(".orch/worktrees/x/file"))
        .expect("ignored?"));
}

#[test]
fn exclude_keeps_existing_content_without_trailing_newline() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let info = tmp.path().join(".git").join("info");
    fs::create_dir_all(&info).expect("mkdir");
    fs::write(info.join("exclude"), "# comment\ntarget").expect("write");
    repo.exclude("target").expect("already present");
    repo.exclude(".orch/").expect("exclude");
    let text = fs::read_to_string(info.join("exclude")).expect("read");
    assert_eq!(text, "# comment\ntarget\n.orch/\n");
    assert!(repo.exclude("two\nlines").is_err());
    assert!(repo.exclude("  ").is_err());
}

#[test]
fn exclude_from_a_worktree_repo_writes_the_common_dir() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("prepare");
    let via_worktree = Repo::discover(&dir).expect("discover");
    via_worktree.exclude("scratch/").expect("exclude");
    let text = fs::read_to_string(tmp.path().join(".git/info/exclude")).expect("read");
    assert!(text.lines().any(|l| l == "scratch/"), "{text}");
}

// ------------------------------------------------------- prepare_worktree

#[test]
fn prepare_creates_a_worktree_from_the_base_branch() {
    let (tmp, git) = fixture();
    // A base branch other than the current one, with a file of its own.
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch("develop", &head, false).expect("branch");
    git.set_head("refs/heads/develop").expect("set head");
    write(tmp.path(), "DEVELOP.md", "develop only\n");
    let develop_tip = commit_everything(&git, "develop work");
    git.set_head("refs/heads/main").expect("back to main");
    git.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .expect("checkout main");

    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t1");
    let wt = repo
        .prepare_worktree(&prep("t1", &dir, "develop", Known::No))
        .expect("prepare");
    assert_eq!(
        wt,
        Worktree {
            path: dir.clone(),
            branch: "orch/t1".into(),
            created: true,
            notes: vec![],
            conflicts: vec![],
        }
    );
    assert_eq!(
        fs::read_to_string(dir.join("DEVELOP.md")).expect("file"),
        "develop only\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("src/lib.rs")).expect("file"),
        "// lib\n"
    );
    assert_eq!(head_of(&dir), ("refs/heads/orch/t1".into(), develop_tip));
    assert_eq!(tip(&git, "orch/t1"), develop_tip);
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    // The main worktree is untouched.
    assert_eq!(repo.current_branch().expect("branch"), "main");
    assert!(!tmp.path().join("DEVELOP.md").exists());
}

#[test]
fn prepare_applies_line_ending_filters_where_attributes_or_config_ask() {
    let (tmp, git) = fixture();
    write(tmp.path(), "deep/sub/.gitattributes", "*.txt eol=crlf\n");
    write(tmp.path(), "deep/sub/a.txt", "one\ntwo\n");
    write(tmp.path(), "plain.txt", "one\ntwo\n");
    commit_everything(&git, "attributes deep down");
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "attrs");
    repo.prepare_worktree(&prep("attrs", &dir, "main", Known::Creating))
        .expect("prepare");
    assert_eq!(
        fs::read(dir.join("deep/sub/a.txt")).expect("a"),
        b"one\r\ntwo\r\n"
    );
    assert_eq!(
        fs::read(dir.join("plain.txt")).expect("plain"),
        b"one\ntwo\n"
    );
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);

    git.config()
        .expect("config")
        .set_str("core.autocrlf", "true")
        .expect("autocrlf");
    let dir = wt_dir(&tmp, "crlf");
    repo.prepare_worktree(&prep("crlf", &dir, "main", Known::Creating))
        .expect("prepare");
    assert_eq!(
        fs::read(dir.join("plain.txt")).expect("plain"),
        b"one\r\ntwo\r\n"
    );
}

#[test]
fn prepare_reuses_a_known_dirty_worktree_untouched() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    write(&dir, "work.txt", "in progress\n");
    write(&dir, "README.md", "edited\n");

    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Ready))
        .expect("reuse");
    assert!(!wt.created);
    assert_eq!(wt.branch, "orch/t");
    assert_eq!(
        fs::read_to_string(dir.join("work.txt")).expect("file"),
        "in progress\n"
    );
    assert_eq!(
        fs::read_to_string(dir.join("README.md")).expect("file"),
        "edited\n"
    );
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 2);
}

#[test]
fn prepare_refuses_an_unknown_dirty_worktree() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    write(&dir, "work.txt", "someone's work\n");

    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("dirty");
    assert!(
        matches!(err, GitError::DirtyWorktree { ref path, changes: 1 } if path == &dir),
        "{err:?}"
    );
    assert_eq!(
        fs::read_to_string(dir.join("work.txt")).expect("still there"),
        "someone's work\n"
    );
}

#[test]
fn prepare_reuses_a_recorded_clean_worktree() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    for known in [Known::Creating, Known::Removed, Known::Ready] {
        let wt = repo
            .prepare_worktree(&prep("t", &dir, "main", known))
            .expect("reuse");
        assert!(!wt.created, "{known:?}");
        assert!(wt.notes.is_empty(), "{known:?}: {:?}", wt.notes);
    }
}

#[test]
fn prepare_starts_fresh_over_an_unknown_clean_worktree() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let old_tip = tip(&git, "orch/t");
    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("fresh");
    assert!(wt.created);
    assert_eq!(wt.notes.len(), 2, "{:?}", wt.notes);
    assert!(
        wt.notes[0].starts_with("removed the worktree at"),
        "{:?}",
        wt.notes
    );
    assert!(
        wt.notes[1].starts_with("kept the unknown branch orch/t as orch-backup/t-"),
        "{:?}",
        wt.notes
    );
    let backups: Vec<String> = local_branch_names(&git)
        .into_iter()
        .filter(|b| b.starts_with("orch-backup/t-"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(tip(&git, &backups[0]), old_tip);
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
}

#[test]
fn prepare_refuses_a_foreign_directory_and_leaves_it_alone() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    write(&dir, "notes.txt", "mine\n");

    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("foreign");
    match &err {
        GitError::ForeignPath { path, reason } => {
            assert_eq!(path, &dir);
            assert!(reason.contains("not a git worktree"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(
        fs::read_to_string(dir.join("notes.txt")).expect("untouched"),
        "mine\n"
    );
    assert_eq!(fs::read_dir(&dir).expect("dir").count(), 1);
    // Nothing was created on the git side either.
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
    assert!(git.worktrees().expect("worktrees").is_empty());
}

#[test]
fn prepare_refuses_an_empty_directory_and_a_file() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "empty");
    fs::create_dir_all(&dir).expect("mkdir");
    let err = repo
        .prepare_worktree(&prep("empty", &dir, "main", Known::Ready))
        .expect_err("foreign");
    assert!(
        matches!(&err, GitError::ForeignPath { reason, .. } if reason.contains("empty directory")),
        "{err:?}"
    );
    assert!(dir.is_dir());

    let file = wt_dir(&tmp, "file");
    fs::write(&file, "x").expect("write file");
    let err = repo
        .prepare_worktree(&prep("file", &file, "main", Known::Ready))
        .expect_err("foreign");
    assert!(
        matches!(&err, GitError::ForeignPath { reason, .. } if reason.contains("file")),
        "{err:?}"
    );
    assert_eq!(fs::read_to_string(&file).expect("file"), "x");
}

#[test]
fn prepare_refuses_a_worktree_on_another_branch() {
    let (tmp, git) = fixture();
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let other = git.branch("other", &head, false).expect("branch");
    let dir = wt_dir(&tmp, "t");
    fs::create_dir_all(dir.parent().expect("parent")).expect("mkdir");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(other.get()));
    git.worktree("other-wt", &dir, Some(&opts))
        .expect("add worktree");
    write(&dir, "scratch.txt", "keep\n");

    let repo = Repo::discover(tmp.path()).expect("discover");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Ready))
        .expect_err("foreign");
    assert!(
        matches!(&err, GitError::ForeignPath { reason, .. } if reason.contains("on branch other")),
        "{err:?}"
    );
    assert_eq!(head_of(&dir).0, "refs/heads/other");
    assert!(dir.join("scratch.txt").exists());
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
}

#[test]
fn prepare_refuses_another_repository_and_its_worktrees() {
    let (tmp, _git) = fixture();
    let (other_tmp, other_git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");

    // A whole other repository at the path.
    let dir = wt_dir(&tmp, "a");
    fs::create_dir_all(&dir).expect("mkdir");
    Repository::init(&dir).expect("init");
    let err = repo
        .prepare_worktree(&prep("a", &dir, "main", Known::Ready))
        .expect_err("foreign");
    assert!(
        matches!(&err, GitError::ForeignPath { reason, .. } if reason.contains("another git repository")),
        "{err:?}"
    );
    assert!(dir.join(".git").is_dir());

    // A worktree of another repository on a branch named like ours.
    let head = other_git.head().expect("head").peel_to_commit().expect("c");
    let branch = other_git.branch("orch/b", &head, false).expect("branch");
    let dir = wt_dir(&tmp, "b");
    fs::create_dir_all(dir.parent().expect("parent")).expect("mkdir");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    other_git
        .worktree("orch-b", &dir, Some(&opts))
        .expect("add worktree");
    let err = repo
        .prepare_worktree(&prep("b", &dir, "main", Known::Ready))
        .expect_err("foreign");
    assert!(
        matches!(&err, GitError::ForeignPath { reason, .. } if reason.contains("worktree of another git repository")),
        "{err:?}"
    );
    assert!(dir.join("README.md").exists());
    drop(other_tmp);
}

#[test]
fn prepare_recreates_a_worktree_whose_directory_was_deleted() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    write(&dir, "work.txt", "w\n");
    let first = repo.commit_all(&dir, "work").expect("commit").expect("id");
    fs::remove_dir_all(&dir).expect("delete by hand");

    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Ready))
        .expect("recreate");
    assert!(wt.created);
    assert_eq!(head_of(&dir).1.to_string(), first);
    assert!(dir.join("work.txt").exists());
    let names: Vec<String> = git
        .worktrees()
        .expect("worktrees")
        .iter()
        .flatten()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ["orch-t"]);
}

#[test]
fn prepare_checks_out_an_existing_task_branch_without_resetting_it() {
    let (tmp, git) = fixture();
    // orch/t has a commit main does not have; main then moves on too.
    let base = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch("orch/t", &base, false).expect("branch");
    git.set_head("refs/heads/orch/t").expect("set head");
    write(tmp.path(), "earlier.txt", "earlier work\n");
    let earlier = commit_everything(&git, "earlier attempt");
    git.set_head("refs/heads/main").expect("main");
    git.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .expect("checkout");
    write(tmp.path(), "later.txt", "later on main\n");
    commit_everything(&git, "main moves on");
    fs::remove_file(tmp.path().join("earlier.txt")).ok();

    // orch recorded the task's worktree (cleanup removed it since): the
    // branch is orch's own.
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Removed))
        .expect("prepare");
    assert!(wt.created);
    assert!(wt.notes.is_empty(), "{:?}", wt.notes);
    assert_eq!(head_of(&dir), ("refs/heads/orch/t".into(), earlier));
    assert_eq!(tip(&git, "orch/t"), earlier);
    assert!(dir.join("earlier.txt").exists());
    assert!(!dir.join("later.txt").exists());
}

#[test]
fn prepare_with_a_missing_base_creates_nothing() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "trunk", Known::No))
        .expect_err("missing base");
    assert!(
        matches!(&err, GitError::MissingBaseBranch { branch, .. } if branch == "trunk"),
        "{err:?}"
    );
    assert!(!dir.exists());
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
}

#[test]
fn prepare_rejects_unusable_task_ids() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    for bad in ["", "a..b", "a b", "x.lock", "-/"] {
        let dir = wt_dir(&tmp, "bad");
        let err = repo
            .prepare_worktree(&prep(bad, &dir, "main", Known::No))
            .expect_err(bad);
        assert!(matches!(err, GitError::Git { .. }), "{bad}: {err:?}");
        assert!(!dir.exists());
    }
}

#[test]
fn prepare_handles_task_ids_with_slashes() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = tmp.path().join(".orch/worktrees/epic-1/step-2");
    let wt = repo
        .prepare_worktree(&prep("epic-1/step-2", &dir, "main", Known::No))
        .expect("prepare");
    assert_eq!(wt.branch, "orch/epic-1/step-2");
    assert!(git.find_worktree("orch-epic-1-step-2").is_ok());
    let listed = repo.list_worktrees().expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].task_id, "epic-1/step-2");
}

#[test]
fn prepare_refuses_a_branch_checked_out_elsewhere() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let moved = tmp.path().join("moved");
    let err = repo
        .prepare_worktree(&prep("t", &moved, "main", Known::Creating))
        .expect_err("already checked out");
    assert!(err.to_string().contains("already checked out"), "{err}");
    assert!(!moved.exists());
    assert_eq!(git.worktrees().expect("worktrees").len(), 1);
    // Unknown to orch: named, and the branch is not set aside either.
    let err = repo
        .prepare_worktree(&prep("t", &moved, "main", Known::No))
        .expect_err("unknown checkout");
    match &err {
        GitError::UnknownCheckout { branch, path } => {
            assert_eq!(branch, "orch/t");
            assert_eq!(path, &fs::canonicalize(&dir).expect("canon"));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("git worktree remove"), "{err}");
    assert!(!moved.exists());
    assert!(local_branch_names(&git)
        .iter()
        .all(|b| !b.starts_with("orch-backup/")));
}

#[test]
fn prepare_registers_the_worktree_as_libgit2_and_git_do() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let registration = git.find_worktree("orch-t").expect("registered");
    registration.validate().expect("valid");
    assert_eq!(
        fs::canonicalize(registration.path()).expect("canon"),
        fs::canonicalize(&dir).expect("canon")
    );
    assert!(!registration.is_prunable(None).expect("prunable?"));
    let opened = Repository::open_from_worktree(&registration).expect("open");
    assert_eq!(
        opened.head().expect("head").name().ok(),
        Some("refs/heads/orch/t")
    );
    let admin = fs::canonicalize(tmp.path().join(".git/worktrees/orch-t")).expect("admin");
    assert_eq!(
        fs::read_to_string(dir.join(".git")).expect(".git file"),
        format!("gitdir: {}/\n", admin.display())
    );
    assert_eq!(
        fs::read_to_string(admin.join("HEAD")).expect("HEAD"),
        "ref: refs/heads/orch/t\n"
    );
    // The index matches the checkout.
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    assert_eq!(opened.index().expect("index").len(), 2);
}

#[test]
fn prepare_prunes_a_stale_record_of_the_branch_under_another_name() {
    let (tmp, git) = fixture();
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let branch = git.branch("orch/t", &head, false).expect("branch");
    let old = tmp.path().join("old-place");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(branch.get()));
    git.worktree("old", &old, Some(&opts))
        .expect("add worktree");
    fs::remove_dir_all(&old).expect("delete by hand");

    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    let wt = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("prepare");
    assert!(wt.created);
    let names: Vec<String> = git
        .worktrees()
        .expect("worktrees")
        .iter()
        .flatten()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ["orch-t"]);
}

#[test]
fn prepare_refuses_a_branch_held_by_a_locked_worktree_whose_directory_is_gone() {
    let (tmp, git) = fixture();
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let branch = git.branch("orch/t", &head, false).expect("branch");
    let old = tmp.path().join("on-a-usb-stick");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(branch.get())).lock(true);
    git.worktree("old", &old, Some(&opts))
        .expect("add worktree");
    fs::remove_dir_all(&old).expect("unmounted");

    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Creating))
        .expect_err("checked out in the locked worktree");
    assert!(err.to_string().contains("already checked out"), "{err}");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("unknown checkout");
    assert!(matches!(err, GitError::UnknownCheckout { .. }), "{err:?}");
    assert!(!dir.exists());
    assert!(git.find_worktree("old").is_ok());
    assert_eq!(git.worktrees().expect("worktrees").len(), 1);
}

#[test]
fn prepare_refuses_a_branch_checked_out_in_the_main_worktree() {
    let (tmp, git) = fixture();
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    git.branch("orch/t", &head, false).expect("branch");
    git.set_head("refs/heads/orch/t").expect("set head");
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::Ready))
        .expect_err("checked out in the main worktree");
    assert!(err.to_string().contains("already checked out"), "{err}");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("unknown checkout");
    assert!(
        matches!(&err, GitError::UnknownCheckout { path, .. } if path == repo.root()),
        "{err:?}"
    );
    assert!(!dir.exists());
    assert!(git.worktrees().expect("worktrees").is_empty());
}

// -------------------------------------------------------------- commit_all

#[test]
fn commit_all_commits_new_modified_and_deleted_files() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let before = tip(&git, "orch/t");

    assert_eq!(repo.commit_all(&dir, "nothing").expect("clean"), None);

    write(&dir, ".gitignore", "target/\n*.log\n");
    write(&dir, "new/file.rs", "fn main() {}\n");
    write(&dir, "README.md", "changed\n");
    fs::remove_file(dir.join("src/lib.rs")).expect("delete");
    write(&dir, "target/debug/out", "binary");
    write(&dir, "run.log", "log");

    let id = repo
        .commit_all(&dir, "task t: first attempt")
        .expect("commit")
        .expect("something to commit");
    let id = Oid::from_str(&id).expect("hex id");
    assert_eq!(tip(&git, "orch/t"), id);
    assert_eq!(tip(&git, "main"), before, "main untouched");

    let commit = git.find_commit(id).expect("commit");
    assert_eq!(commit.message().ok(), Some("task t: first attempt"));
    assert_eq!(commit.parent_ids().collect::<Vec<_>>(), [before]);
    assert_eq!(commit.author().name().ok(), Some("Test User"));
    assert_eq!(commit.committer().email().ok(), Some("test@example.com"));
    assert_eq!(
        tree_paths(&git, id),
        [".gitignore", "README.md", "new/file.rs"]
    );
    assert_eq!(blob_text(&git, id, "README.md"), "changed\n");

    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 0);
    assert_eq!(repo.commit_all(&dir, "again").expect("clean"), None);
    assert_eq!(tip(&git, "orch/t"), id);
}

#[test]
fn commit_all_refuses_a_path_outside_the_repository() {
    let (tmp, _git) = fixture();
    let (other, _other_git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    write(other.path(), "x.txt", "x");
    let err = repo.commit_all(other.path(), "m").expect_err("foreign");
    assert!(matches!(err, GitError::ForeignPath { .. }), "{err:?}");
    let plain = TempDir::new().expect("tempdir");
    let err = repo.commit_all(plain.path(), "m").expect_err("plain");
    assert!(matches!(err, GitError::NotARepo { .. }), "{err:?}");
}

#[test]
fn signature_falls_back_to_orch() {
    let config = git2::Config::new().expect("empty config");
    let sig = signature(&config).expect("signature");
    assert_eq!(sig.name().ok(), Some("orch"));
    assert_eq!(sig.email().ok(), Some("orch@localhost"));

    let tmp = TempDir::new().expect("tempdir");
    let path = tmp.path().join("config");
    fs::write(&path, "[user]\n\tname = Ada\n\temail = ada@example.com\n").expect("write");
    let config = git2::Config::open(&path).expect("config");
    let sig = signature(&config).expect("signature");
    assert_eq!(sig.name().ok(), Some("Ada"));
    assert_eq!(sig.email().ok(), Some("ada@example.com"));
}

// -------------------------------------------------------------- is_dirty

#[test]
fn is_dirty_counts_changes_but_not_ignored_files() {
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    assert_eq!(repo.is_dirty(&dir).expect("clean"), 0);
    repo.exclude("*.tmp").expect("exclude");
    write(&dir, "scratch.tmp", "ignored");
    assert_eq!(repo.is_dirty(&dir).expect("ignored"), 0);
    write(&dir, "README.md", "changed");
    write(&dir, "untracked/a.txt", "a");
    write(&dir, "untracked/b.txt", "b");
    fs::remove_file(dir.join("src/lib.rs")).expect("delete");
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 3);
}

// ------------------------------------------------------- list and remove

#[test]
fn list_and_remove_worktrees() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let a = wt_dir(&tmp, "a");
    let b = wt_dir(&tmp, "b");
    repo.prepare_worktree(&prep("b", &b, "main", Known::No))
        .expect("b");
    repo.prepare_worktree(&prep("a", &a, "main", Known::No))
        .expect("a");
    // A worktree that is not orch's.
    let head = git.head().expect("head").peel_to_commit().expect("commit");
    let other = git.branch("other", &head, false).expect("branch");
    let mut opts = WorktreeAddOptions::new();
    opts.reference(Some(other.get()));
    git.worktree("other", &tmp.path().join("other"), Some(&opts))
        .expect("other worktree");
    write(&b, "dirty.txt", "uncommitted\n");

    let listed = repo.list_worktrees().expect("list");
    let main_tip = tip(&git, "main").to_string();
    assert_eq!(
        listed,
        [
            WorktreeInfo {
                task_id: "a".into(),
                path: fs::canonicalize(&a).expect("canon"),
                branch: "orch/a".into(),
                head: main_tip.clone(),
                dirty: false,
            },
            WorktreeInfo {
                task_id: "b".into(),
                path: fs::canonicalize(&b).expect("canon"),
                branch: "orch/b".into(),
                head: main_tip,
                dirty: true,
            },
        ]
    );

    // Dirty: refused without force, and nothing is touched.
    let err = repo.remove_worktree("b", &b, false).expect_err("dirty");
    assert!(
        matches!(err, GitError::DirtyWorktree { changes: 1, .. }),
        "{err:?}"
    );
    assert!(b.join("dirty.txt").exists());

    // Wrong task for the path: foreign, even with force.
    let err = repo.remove_worktree("a", &b, true).expect_err("foreign");
    assert!(matches!(err, GitError::ForeignPath { .. }), "{err:?}");
    assert!(b.join("dirty.txt").exists());

    repo.remove_worktree("b", &b, true).expect("forced");
    repo.remove_worktree("a", &a, false).expect("clean");
    assert!(!a.exists() && !b.exists());
    assert!(git.find_branch("orch/a", git2::BranchType::Local).is_ok());
    assert!(git.find_branch("orch/b", git2::BranchType::Local).is_ok());
    let names: Vec<String> = git
        .worktrees()
        .expect("worktrees")
        .iter()
        .flatten()
        .flatten()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ["other"]);
    assert!(repo.list_worktrees().expect("list").is_empty());

    // Removing again is a no-op; the task can be prepared again from its branch.
    repo.remove_worktree("a", &a, false).expect("idempotent");
    let wt = repo
        .prepare_worktree(&prep("b", &b, "main", Known::No))
        .expect("again");
    assert!(wt.created);
}

#[test]
fn remove_prunes_the_record_of_a_deleted_directory() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    fs::remove_dir_all(&dir).expect("delete by hand");
    repo.remove_worktree("t", &dir, false).expect("remove");
    assert!(git.worktrees().expect("worktrees").is_empty());
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_ok());
}

// ------------------------------------------------------ git CLI interop

/// The git CLI, when installed, sees orch's worktrees as ordinary ones.
#[test]
fn git_cli_agrees() {
    let Ok(version) = std::process::Command::new("git").arg("--version").output() else {
        return;
    };
    if !version.status.success() {
        return;
    }
    let (tmp, _git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.exclude(".orch/").expect("exclude");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    write(&dir, "x.txt", "x\n");
    repo.commit_all(&dir, "x").expect("commit").expect("id");

    let git = |cwd: &Path, args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(cwd)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8(out.stdout).expect("utf8")
    };
    assert_eq!(git(&dir, &["status", "--porcelain"]), "");
    assert_eq!(git(tmp.path(), &["status", "--porcelain"]), "");
    let list = git(tmp.path(), &["worktree", "list", "--porcelain"]);
    assert!(list.contains("branch refs/heads/orch/t"), "{list}");
    let log = git(tmp.path(), &["log", "--format=%s", "orch/t"]);
    assert_eq!(log, "x\ninitial\n");
    git(tmp.path(), &["fsck", "--no-progress"]);
}

#[test]
fn failed_add_cleans_up_what_it_created() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    // A file where libgit2 wants the worktrees/ directory makes the add fail.
    fs::write(tmp.path().join(".git/worktrees"), "in the way").expect("write");
    let dir = wt_dir(&tmp, "t");
    let err = repo
        .prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect_err("add fails");
    assert!(matches!(err, GitError::Git { .. }), "{err:?}");
    assert!(!dir.exists());
    assert!(git.find_branch("orch/t", git2::BranchType::Local).is_err());
}

#[test]
fn commit_all_with_a_nested_repository() {
    let (tmp, git) = fixture();
    let repo = Repo::discover(tmp.path()).expect("discover");
    let dir = wt_dir(&tmp, "t");
    repo.prepare_worktree(&prep("t", &dir, "main", Known::No))
        .expect("create");
    let (nested_tmp, _nested) = fixture();
    let nested = dir.join("vendor/dep");
    fs::create_dir_all(dir.join("vendor")).expect("mkdir");
    fs::rename(nested_tmp.path(), &nested).expect("move nested repo in");
    write(&dir, "top.txt", "top\n");
    let id = repo
        .commit_all(&dir, "with nested")
        .expect("commit")
        .expect("something to commit");
    let id = Oid::from_str(&id).expect("oid");
    assert_eq!(tree_paths(&git, id), ["README.md", "src/lib.rs", "top.txt"]);
    // The nested repository stays, uncommitted.
    assert!(nested.join("README.md").exists());
    assert_eq!(repo.is_dirty(&dir).expect("dirty"), 1);
}

mod children;
mod include;
mod merge;
mod recover;
mod start;
