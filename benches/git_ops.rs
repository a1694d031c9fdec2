//! orch's git operations next to the git CLI doing the same, on a generated
//! repository of 20,000 files (about 80 MB): worktree create and remove, a
//! no-fast-forward merge of a 50-file change into the checked-out base, and
//! a diff stat. Each is the median of a few runs, orch and git taking turns
//! in the same run on the same repository.
//!
//! `cargo bench --bench git_ops` (add `-- FILES RUNS` for another size or
//! number of runs). The repository goes in `$TMPDIR`; on a busy disk,
//! `TMPDIR=/dev/shm` takes the disk's noise out and leaves what the two
//! programs do.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Repository, Signature};
use orch::git::{Known, MergeOutcome, MergeRequest, Prepare, Repo, StartMode};

/// Bytes per generated file: 20,000 of them make about 80 MB.
const FILE_BYTES: usize = 4096;
/// Files per directory.
const PER_DIR: usize = 100;
/// Files a merged change touches.
const CHANGED: usize = 50;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic text that compresses like source code does not: lines of
/// pseudo-random words.
fn contents(seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(FILE_BYTES);
    while out.len() < FILE_BYTES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word = format!("{:x} ", x % 0xFFFF_FFFF);
        out.extend_from_slice(word.as_bytes());
        if x.is_multiple_of(9) {
            out.push(b'\n');
        }
    }
    out.truncate(FILE_BYTES - 1);
    out.push(b'\n');
    out
}

fn path_of(i: usize) -> String {
    format!("dir{:03}/file{:05}.txt", i / PER_DIR, i)
}

fn new_repo(files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    for i in 0..files {
        let path = dir.path().join(path_of(i));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, contents(i as u64)).expect("write");
    }
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "init"]);
    // Packed, as a real repository's history mostly is.
    git(dir.path(), &["repack", "-adq"]);
    // Worktrees go under .orch/, as orch's do; keep them out of status.
    std::fs::write(dir.path().join(".git/info/exclude"), ".orch/\n").expect("exclude");
    dir
}

/// A branch `name` off `from` changing `CHANGED` files spread over the tree.
fn branch_with_change(repo: &Repository, name: &str, from: &str, files: usize, round: usize) {
    let parent = repo
        .find_branch(from, git2::BranchType::Local)
        .and_then(|b| b.get().peel_to_commit())
        .expect("base");
    let mut update = TreeUpdateBuilder::new();
    for k in 0..CHANGED {
        let i = (k * (files / CHANGED) + round) % files;
        let blob = repo
            .blob(&contents((round * 1_000_003 + i) as u64))
            .expect("blob");
        update.upsert(path_of(i), blob, FileMode::Blob);
    }
    let tree = update
        .create_updated(repo, &parent.tree().expect("tree"))
        .expect("tree");
    let tree = repo.find_tree(tree).expect("tree");
    let sig = Signature::now("bench", "bench@example.com").expect("sig");
    repo.commit(
        Some(&format!("refs/heads/{name}")),
        &sig,
        &sig,
        &format!("change {round}"),
        &tree,
        &[&parent],
    )
    .expect("commit");
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Times `f`, after writing back what earlier steps left dirty in the page
/// cache, so that one step's writeback is not billed to the next.
fn timed(f: impl FnOnce()) -> Duration {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let start = Instant::now();
    f();
    start.elapsed()
}

struct Row {
    what: &'static str,
    orch: Option<Duration>,
    git: Option<Duration>,
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<usize>().ok());
    let files = args.next().unwrap_or(20_000);
    let runs = args.next().unwrap_or(7);

    let made = Instant::now();
    let tmp = new_repo(files);
    let root = tmp.path();
    let megabytes = files * FILE_BYTES / 1_000_000;
    eprintln!(
        "generated {files} files ({megabytes} MB) in {:.1} s at {}",
        made.elapsed().as_secs_f64(),
        root.display()
    );
    let repo = Repo::discover(root).expect("repo");
    let raw = Repository::open(root).expect("open");
    let mut rows = Vec::new();

    // Worktree create and remove, taking turns.
    let (mut orch_add, mut git_add, mut orch_rm, mut git_rm) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs {
        let task = format!("w{run}");
        let dir = root.join(".orch/worktrees").join(&task);
        orch_add.push(timed(|| {
            let wt = repo
                .prepare_worktree(&Prepare {
                    task: task.clone(),
                    dir: dir.clone(),
                    base: "main".into(),
                    deps: vec![],
                    known: Known::Creating,
                    mode: StartMode::Continue,
                    include: vec![],
                    children: vec![],
                })
                .expect("orch worktree");
            assert!(wt.created);
        }));
        let cli_dir = root.join(".orch/cli").join(&task);
        let cli_dir_text = cli_dir.display().to_string();
        let cli_branch = format!("cli/{task}");
        git_add.push(timed(|| {
            git(
                root,
                &[
                    "worktree",
                    "add",
                    "-q",
                    "-b",
                    &cli_branch,
                    &cli_dir_text,
                    "main",
                ],
            );
        }));
        orch_rm.push(timed(|| {
            repo.remove_worktree(&task, &dir, false)
                .expect("orch remove");
        }));
        git_rm.push(timed(|| {
            git(root, &["worktree", "remove", &cli_dir_text]);
        }));
    }
    rows.push(Row {
        what: "worktree create",
        orch: Some(median(orch_add)),
        git: Some(median(git_add)),
    });
    rows.push(Row {
        what: "worktree remove",
        orch: Some(median(orch_rm)),
        git: Some(median(git_rm)),
    });

    // A 50-file change merged --no-ff into the checked-out main; and into a
    // branch that is not checked out (orch moves only the ref).
    let (mut orch_merge, mut git_merge, mut orch_ref) = (vec![], vec![], vec![]);
    raw.branch(
        "side",
        &raw.head().and_then(|h| h.peel_to_commit()).expect("head"),
        false,
    )
    .expect("side");
    for run in 0..runs {
        let task = format!("m{run}");
        branch_with_change(&raw, &format!("orch/{task}"), "main", files, 2 * run);
        orch_merge.push(timed(|| {
            let outcome = repo
                .merge(&MergeRequest {
                    task: task.clone(),
                    title: "bench".into(),
                    base: "main".into(),
                })
                .expect("orch merge");
            assert!(
                matches!(outcome, MergeOutcome::Merged { .. }),
                "{outcome:?}"
            );
        }));
        let cli = format!("cli-m{run}");
        branch_with_change(&raw, &cli, "main", files, 2 * run + 1);
        git_merge.push(timed(|| {
            git(root, &["merge", "-q", "--no-ff", "-m", "bench", &cli]);
        }));
        let side_task = format!("s{run}");
        branch_with_change(&raw, &format!("orch/{side_task}"), "side", files, 2 * run);
        orch_ref.push(timed(|| {
            let outcome = repo
                .merge(&MergeRequest {
                    task: side_task.clone(),
                    title: "bench".into(),
                    base: "side".into(),
                })
                .expect("orch merge");
            assert!(
                matches!(outcome, MergeOutcome::Merged { .. }),
                "{outcome:?}"
            );
        }));
    }
    assert_eq!(
        git(root, &["status", "--porcelain"]),
        "",
        "the checkout stays clean"
    );
    rows.push(Row {
        what: "merge --no-ff, 50 files, base checked out",
        orch: Some(median(orch_merge)),
        git: Some(median(git_merge)),
    });
    rows.push(Row {
        what: "merge --no-ff, 50 files, base not checked out",
        orch: Some(median(orch_ref)),
        git: None,
    });

    // Diff stat of a task (no worktree) against its merge base, as `orch
    // diff --stat` computes it, beside `git diff --stat A...B`.
    branch_with_change(&raw, "orch/d", "main", files, 99);
    let mut orch_diff = Vec::new();
    let mut git_diff = Vec::new();
    for _ in 0..runs {
        orch_diff.push(timed(|| {
            let diff = repo.task_diff("d", "main", None).expect("diff");
            drop(diff.stat_text(80));
        }));
        git_diff.push(timed(|| {
            drop(git(root, &["diff", "--stat", "main...orch/d"]))
        }));
    }
    rows.push(Row {
        what: "diff --stat, 50 files",
        orch: Some(median(orch_diff)),
        git: Some(median(git_diff)),
    });

    println!("git operations on {files} files ({megabytes} MB), median of {runs} runs");
    println!(
        "{:<48} {:>10} {:>10} {:>8}",
        "operation", "orch ms", "git ms", "orch/git"
    );
    let ms = |d: Option<Duration>| {
        d.map_or("-".to_string(), |d| {
            format!("{:.1}", d.as_secs_f64() * 1000.0)
        })
    };
    for row in rows {
        let ratio = match (row.orch, row.git) {
            (Some(o), Some(g)) => format!("{:.2}", o.as_secs_f64() / g.as_secs_f64()),
            _ => "-".into(),
        };
        println!(
            "{:<48} {:>10} {:>10} {:>8}",
            row.what,
            ms(row.orch),
            ms(row.git),
            ratio
        );
    }
}
