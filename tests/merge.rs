//! Work flowing along the graph, with the real binary in real repositories:
//! dependents build on their dependencies' work, merges land on the base
//! (or wait, or conflict) without touching the user's uncommitted files,
//! conflicts go back to the agent, and what orch does not know is never
//! built on.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{agent, TestRepo};

const AGENTS: &str = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n";

fn builder(inputs: &str) -> String {
    format!("{} {inputs}", agent("builder.sh"))
}

/// design -> (api, storage) -> release; each reads its dependencies' output.
fn diamond(merge: &str) -> String {
    format!(
        "{AGENTS}[defaults]\nmerge = \"{merge}\"\nretries = 0\n\
         [[tasks]]\nid = \"design\"\ntitle = \"Design it\"\nagent = \"sh\"\nprompt = \"{}\"\n\
         [[tasks]]\nid = \"api\"\nagent = \"sh\"\nprompt = \"{}\"\ndepends_on = [\"design\"]\n\
         [[tasks]]\nid = \"storage\"\nagent = \"sh\"\nprompt = \"{}\"\ndepends_on = [\"design\"]\n\
         [[tasks]]\nid = \"release\"\nagent = \"sh\"\nprompt = \"{}\"\ndepends_on = [\"api\", \"storage\"]\n",
        builder(""),
        builder("out-design.txt"),
        builder("out-design.txt"),
        builder("out-design.txt out-api.txt out-storage.txt"),
    )
}

fn task<'a>(report: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    report["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {report}"))
}

/// Every file of the main checkout (outside `.git` and `.orch`) with a hash
/// of its bytes.
fn snapshot(root: &Path) -> BTreeMap<String, u64> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let name = entry.file_name();
            if name == ".git" || name == ".orch" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let mut h = std::collections::hash_map::DefaultHasher::new();
                bytes.hash(&mut h);
                let rel = path.strip_prefix(root).expect("rel").display().to_string();
                out.insert(rel, h.finish());
            }
        }
    }
    out
}

#[test]
fn under_manual_each_task_builds_on_its_dependencies_and_nothing_is_merged() {
    let repo = TestRepo::new();
    repo.write_config(&diamond("manual"));
    repo.git(&["add", "orch.toml"]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    let main_before = repo.git(&["rev-parse", "main"]);
    let out = repo.run(&["--no-tui", "--json", "report.json"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        repo.git(&["rev-parse", "main"]),
        main_before,
        "manual merges nothing"
    );
    let release = repo.state_dir().join("worktrees/release");
    for file in [
        "out-design.txt",
        "out-api.txt",
        "out-storage.txt",
        "out-release.txt",
    ] {
        assert!(
            release.join(file).exists(),
            "{file} missing in release's worktree"
        );
    }
    let report = repo.read_json("report.json");
    assert_eq!(task(&report, "release")["merge_state"], "unmerged");

    // The operator merges in dependency order; out of order waits.
    let early = repo.run(&["worktree", "merge", "release"]);
    assert_eq!(early.code, 1, "{early}");
    assert!(early.stdout.contains("waiting"), "{early}");
    for id in ["design", "api", "storage"] {
        let out = repo.run(&["worktree", "merge", id]);
        assert_eq!(out.code, 0, "merge {id}: {out}");
    }
    // release's merge was asked for: it lands once its dependencies have.
    let status = repo.status();
    assert_eq!(
        task(&status, "release")["merge_state"],
        "merged",
        "{status}"
    );
    let merges = repo.git(&["log", "--merges", "--format=%s", "main"]);
    assert!(merges.contains("design"), "{merges}");
    assert!(merges.contains("Design it"), "{merges}");
    assert!(repo.path().join("out-release.txt").exists());
    let again = repo.run(&["worktree", "merge", "design"]);
    assert_eq!(again.code, 1, "{again}");
    assert!(again.stderr.contains("already merged"), "{again}");
}

#[test]
fn under_auto_a_diamond_lands_on_main_in_dependency_order() {
    let repo = TestRepo::new();
    repo.write_config(&diamond("auto"));
    repo.git(&["add", "orch.toml"]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    let out = repo.run(&[
        "--no-tui",
        "--json",
        ".orch/report.json",
        "--junit",
        ".orch/junit.xml",
    ]);
    assert_eq!(out.code, 0, "{out}");
    // First-parent history of main: one no-ff merge commit per task, in order.
    let subjects = repo.git(&["log", "--first-parent", "--format=%s", "main"]);
    let order: Vec<&str> = ["design", "api", "storage", "release"]
        .into_iter()
        .filter(|id| subjects.contains(&format!("orch/{id}")))
        .collect();
    assert_eq!(order.len(), 4, "{subjects}");
    let pos = |id: &str| subjects.find(&format!("orch/{id}")).expect("merge");
    // `git log` lists newest first.
    assert!(
        pos("release") < pos("api") && pos("api") < pos("design"),
        "{subjects}"
    );
    assert!(pos("storage") < pos("design"), "{subjects}");
    let parents = repo.git(&["log", "-1", "--format=%P", "main"]);
    assert_eq!(
        parents.split_whitespace().count(),
        2,
        "a merge commit: {parents}"
    );
    for file in [
        "out-design.txt",
        "out-api.txt",
        "out-storage.txt",
        "out-release.txt",
    ] {
        assert!(
            repo.path().join(file).exists(),
            "{file} not on main's checkout"
        );
    }
    let report = repo.read_json(".orch/report.json");
    for id in ["design", "api", "storage", "release"] {
        assert_eq!(task(&report, id)["merge_state"], "merged", "{id}");
    }
    assert_eq!(
        repo.git(&["status", "--porcelain"]).trim(),
        "",
        "checkout clean"
    );
}

#[test]
fn before_merge_is_a_gate_approved_or_rejected() {
    let plan = format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{}\"\nmerge = \"auto\"\napproval = \"before_merge\"\n",
        builder("")
    );
    let repo = TestRepo::new();
    repo.write_config(&plan);
    let out = repo.run(&["--no-tui", "--approve-all"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(repo.path().join("out-t.txt").exists(), "merged onto main");
    let by: String = repo
        .db()
        .query_row(
            "SELECT by FROM approvals WHERE task_id = 't' AND gate = 'before_merge'",
            [],
            |r| r.get(0),
        )
        .expect("approval recorded");
    assert_eq!(by, "--approve-all");

    let repo = TestRepo::new();
    repo.write_config(&plan);
    let out = repo.run(&["--no-tui", "--approval-timeout", "0s"]);
    assert_eq!(out.code, 3, "{out}");
    assert_eq!(repo.task_state("t").as_deref(), Some("rejected"));
    assert!(!repo.path().join("out-t.txt").exists(), "nothing merged");
}

#[test]
fn dependencies_that_conflict_keep_the_dependent_from_starting() {
    let plan = format!(
        "{AGENTS}[defaults]\nretries = 0\n\
         [[tasks]]\nid = \"left\"\nagent = \"sh\"\nprompt = \"echo left > README.md\"\n\
         [[tasks]]\nid = \"right\"\nagent = \"sh\"\nprompt = \"echo right > README.md\"\n\
         [[tasks]]\nid = \"both\"\nagent = \"sh\"\nprompt = \"{}\"\ndepends_on = [\"left\", \"right\"]\n",
        builder("")
    );
    let repo = TestRepo::new();
    repo.write_config(&plan);
    let out = repo.run(&["--no-tui", "--json", "report.json"]);
    assert_eq!(out.code, 1, "{out}");
    let report = repo.read_json("report.json");
    let both = task(&report, "both");
    assert_eq!(both["state"], "needs_review", "{both}");
    assert!(
        both["cause"].as_str().unwrap_or("").contains("README.md"),
        "{both}"
    );
    assert!(!repo
        .state_dir()
        .join("worktrees/both/out-both.txt")
        .exists());
}

#[test]
fn a_conflict_with_the_base_changes_nothing_and_a_resolve_attempt_fixes_it() {
    let plan = format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{} README.md from-task '{{conflicts}}'\"\n",
        agent("resolver.sh")
    );
    let repo = TestRepo::new();
    repo.write_config(&plan);
    repo.git(&["add", "orch.toml"]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    assert_eq!(repo.run(&["--no-tui"]).code, 0);
    // Meanwhile main moves on, touching the same line.
    std::fs::write(repo.path().join("README.md"), "test repo\nfrom-main\n").expect("write");
    repo.git(&["commit", "-q", "-am", "main moves on"]);
    let main_before = repo.git(&["rev-parse", "main"]);
    let files_before = snapshot(repo.path());
    let worktree = repo.state_dir().join("worktrees/t");
    let worktree_before = snapshot(&worktree);

    let out = repo.run(&["worktree", "merge", "t"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("conflict"), "{out}");
    assert!(out.stdout.contains("README.md"), "{out}");
    assert_eq!(repo.git(&["rev-parse", "main"]), main_before);
    assert_eq!(
        snapshot(repo.path()),
        files_before,
        "the checkout is unchanged"
    );
    assert_eq!(
        snapshot(&worktree),
        worktree_before,
        "the worktree is unchanged"
    );
    let status = repo.status();
    let t = task(&status, "t");
    assert_eq!(t["merge_state"], "conflict", "{t}");

    let out = repo.run(&["task", "resolve", "t"]);
    assert_eq!(out.code, 0, "{out}");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let readme = std::fs::read_to_string(repo.path().join("README.md")).expect("readme");
    assert!(
        readme.contains("from-main") && readme.contains("from-task"),
        "{readme}"
    );
    assert!(!readme.contains("<<<<<<<"), "{readme}");
    let prompt: String = repo
        .db()
        .query_row(
            "SELECT cause FROM events WHERE task_id = 't' AND cause LIKE 'resolve requested%'",
            [],
            |r| r.get(0),
        )
        .expect("resolve recorded");
    assert!(prompt.contains("README.md"), "{prompt}");
}

#[test]
fn the_users_uncommitted_work_on_the_checked_out_base_is_never_touched() {
    let repo = TestRepo::new();
    let config: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    std::fs::write(repo.path().join("config.txt"), &config).expect("write");
    let plan = format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nmerge = \"auto\"\n\
         prompt = \"sed -i 's/^line 1$/line 1 by the task/' config.txt && echo new > created.txt\"\n"
    );
    repo.write_config(&plan);
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    // The user's edit to a file the merge changes, an untracked file where
    // the merge creates one, and an edit the merge does not touch.
    let users_config = config.replace("line 20", "line 20 by the user");
    std::fs::write(repo.path().join("config.txt"), &users_config).expect("write");
    std::fs::write(repo.path().join("created.txt"), "mine\n").expect("write");
    std::fs::write(repo.path().join("README.md"), "my notes\n").expect("write");
    let before = snapshot(repo.path());
    let head_before = repo.git(&["rev-parse", "main"]);

    // The run waits while the user's changes are in the way.
    let mut run = repo.spawn(&["--no-tui", "--json", ".orch/report.json"]);
    let waiting = common::wait_until(std::time::Duration::from_secs(30), || {
        let Ok(out) = repo.orch(&["status", "--json"]).output() else {
            return false;
        };
        serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|status| {
            status["tasks"]
                .as_array()
                .and_then(|tasks| tasks.iter().find(|t| t["id"] == "t"))
                .is_some_and(|t| t["merge_state"] == "waiting")
        })
    });
    assert!(waiting, "never waited");
    assert_eq!(
        snapshot(repo.path()),
        before,
        "nothing the user had was touched"
    );
    assert_eq!(repo.git(&["rev-parse", "main"]), head_before);
    let status = repo.status();
    let note = task(&status, "t")["merge_note"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        note.contains("config.txt") && note.contains("created.txt"),
        "{note}"
    );
    assert!(!note.contains("README.md"), "{note}");

    // The user commits their edit and moves their file away: it merges,
    // and the edit the merge does not touch is still there, uncommitted.
    repo.git(&["add", "config.txt"]);
    repo.git(&["commit", "-q", "-m", "my edit"]);
    std::fs::rename(
        repo.path().join("created.txt"),
        repo.path().join("mine.txt"),
    )
    .expect("mv");
    let code = run.wait().expect("the run ends").code();
    assert_eq!(code, Some(0));
    let report = repo.read_json(".orch/report.json");
    assert_eq!(task(&report, "t")["merge_state"], "merged");
    let merged = std::fs::read_to_string(repo.path().join("config.txt")).expect("read");
    assert!(merged.contains("line 1 by the task") && merged.contains("line 20 by the user"));
    assert_eq!(
        std::fs::read_to_string(repo.path().join("README.md")).unwrap(),
        "my notes\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("mine.txt")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(repo.path().join("created.txt")).unwrap(),
        "new\n"
    );
    let status = repo.git(&["status", "--porcelain"]);
    assert!(status.contains(" M README.md"), "{status}");
    assert!(!status.contains("config.txt"), "{status}");
}

#[test]
fn a_base_branch_that_is_not_checked_out_only_has_its_ref_moved() {
    let repo = TestRepo::new();
    repo.git(&["branch", "integration"]);
    let plan = format!(
        "[project]\nbase_branch = \"integration\"\n{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nmerge = \"auto\"\nprompt = \"{}\"\n",
        builder("")
    );
    repo.write_config(&plan);
    let before = snapshot(repo.path());
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        snapshot(repo.path()),
        before,
        "the checkout of main is untouched"
    );
    let files = repo.git(&["ls-tree", "--name-only", "integration"]);
    assert!(files.contains("out-t.txt"), "{files}");
    assert_eq!(
        repo.git(&["rev-parse", "--abbrev-ref", "HEAD"]).trim(),
        "main"
    );
}

#[test]
fn a_branch_from_an_earlier_state_dir_is_kept_aside_and_never_built_on() {
    let repo = TestRepo::new();
    repo.git(&["checkout", "-q", "-b", "orch/t"]);
    std::fs::write(repo.path().join("stale.txt"), "old work\n").expect("write");
    repo.git(&["add", "stale.txt"]);
    repo.git(&["commit", "-q", "-m", "old work"]);
    repo.git(&["checkout", "-q", "main"]);
    let stale = repo.git(&["rev-parse", "orch/t"]);
    repo.write_config(&format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{}\"\n",
        builder("")
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(
        !repo.state_dir().join("worktrees/t/stale.txt").exists(),
        "started clean"
    );
    let backups = repo.git(&[
        "branch",
        "--list",
        "orch-backup/*",
        "--format=%(refname:short) %(objectname)",
    ]);
    assert!(backups.contains(stale.trim()), "kept: {backups}");
    let named = backups.split_whitespace().next().unwrap_or("");
    assert!(out.stdout.contains(named), "says which: {out}");
}

#[test]
fn a_fresh_retry_keeps_the_old_branch_and_starts_on_the_base() {
    let repo = TestRepo::new();
    let flag = repo.path().join("fail-once");
    std::fs::write(&flag, "").expect("flag");
    let plan = format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nretries = 0\n\
         prompt = \"echo attempt >> attempts.txt; if [ -e {} ]; then exit 3; fi\"\n",
        flag.display()
    );
    repo.write_config(&plan);
    assert_eq!(repo.run(&["--no-tui"]).code, 1);
    let old = repo.git(&["rev-parse", "orch/t"]);
    std::fs::remove_file(&flag).expect("rm");
    let out = repo.run(&["task", "retry", "--fresh", "t"]);
    assert_eq!(out.code, 0, "{out}");
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let attempts = std::fs::read_to_string(repo.state_dir().join("worktrees/t/attempts.txt"))
        .expect("attempts");
    assert_eq!(
        attempts, "attempt\n",
        "the fresh start does not see the old attempt"
    );
    let backups = repo.git(&[
        "branch",
        "--list",
        "orch-backup/*",
        "--format=%(objectname)",
    ]);
    assert!(!backups.trim().is_empty(), "old branch kept");
    let kept = repo.git(&["log", "--format=%H", backups.lines().next().unwrap_or("")]);
    assert!(
        kept.contains(old.trim()) || backups.contains(old.trim()),
        "{kept}"
    );
}

#[test]
fn included_files_are_copied_into_new_worktrees() {
    let repo = TestRepo::new();
    std::fs::write(repo.path().join(".gitignore"), ".env\n").expect("write");
    std::fs::write(repo.path().join(".env"), "SECRET=1\n").expect("write");
    repo.git(&["add", ".gitignore"]);
    repo.git(&["commit", "-q", "-m", "ignore .env"]);
    repo.write_config(&format!(
        "[project]\nworktree_include = [\".env\"]\n{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"cat .env > seen.txt\"\n"
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let seen =
        std::fs::read_to_string(repo.state_dir().join("worktrees/t/seen.txt")).expect("seen");
    assert_eq!(seen, "SECRET=1\n");
    let tree = repo.git(&["ls-tree", "-r", "--name-only", "orch/t"]);
    assert!(
        !tree.contains(".env"),
        "an ignored file stays out of the commit: {tree}"
    );
}

#[test]
fn merges_are_pushed_to_the_remote_and_a_failing_hook_does_not_fail_the_run() {
    let repo = TestRepo::new();
    let remote = tempfile::tempdir().expect("tempdir");
    let status = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(remote.path())
        .status()
        .expect("git init --bare");
    assert!(status.success());
    repo.write_config(&format!(
        "[project]\nremote = \"{}\"\npush = \"on_merge\"\n\
         [hooks]\non_done = [\"sh\", \"-c\", \"echo hook for {{task}} >&2; exit 3\"]\n\
         {AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nmerge = \"auto\"\nprompt = \"{}\"\n",
        remote.path().display(),
        builder("")
    ));
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let pushed = std::process::Command::new("git")
        .args(["rev-parse", "main"])
        .current_dir(remote.path())
        .output()
        .expect("rev-parse");
    assert_eq!(
        String::from_utf8_lossy(&pushed.stdout).trim(),
        repo.git(&["rev-parse", "main"]).trim()
    );
    let hook: String = repo
        .db()
        .query_row(
            "SELECT cause FROM events WHERE kind = 'hook' AND task_id = 't'",
            [],
            |r| r.get(0),
        )
        .expect("hook in the event log");
    assert!(hook.contains("hook for t") && hook.contains('3'), "{hook}");
}

#[test]
fn a_merge_from_the_command_line_lands_on_the_base_of_the_run_not_on_the_checkout() {
    let repo = TestRepo::new();
    repo.write_config(&format!(
        "{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"{}\"\n",
        builder("")
    ));
    assert_eq!(repo.run(&["--no-tui"]).code, 0);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    let feature_before = repo.git(&["rev-parse", "feature"]);
    // Even with no branch checked out at all.
    repo.git(&["checkout", "-q", "--detach", "feature"]);
    let out = repo.run(&["worktree", "merge", "t"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("using main"), "{out}");
    assert_eq!(repo.git(&["rev-parse", "feature"]), feature_before);
    let files = repo.git(&["ls-tree", "--name-only", "main"]);
    assert!(files.contains("out-t.txt"), "{files}");
    let diff = repo.run(&["diff", "t", "--stat"]);
    assert_eq!(diff.code, 0, "{diff}");
    assert!(
        diff.stdout.trim().is_empty(),
        "against main, nothing is left: {diff}"
    );
}
