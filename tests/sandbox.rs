//! Agents confined by the kernel (`sandbox = "worktree"`, Landlock): a
//! headless run whose agent writes where it may and tries where it must
//! not, checked afterwards on disk; a sandbox that would expose the
//! checkout, refused; and what `orch check` says of both.

mod common;

use std::path::{Path, PathBuf};

use common::{agent, TestRepo};
use orch::agent::sandbox::{kernel, rules::FULL_ABI, Support};

/// The repository must not be under the temp directory, which a confined
/// agent may write whole.
fn repo() -> TestRepo {
    TestRepo::new_in(Path::new(env!("CARGO_TARGET_TMPDIR")))
}

/// orch with a temp directory of its own: wherever the repository was
/// cloned (under /tmp, say), the confined agent's temp directory never
/// holds the checkout.
fn run(repo: &TestRepo, tmp: &Path, args: &[&str]) -> common::RunResult {
    common::RunResult::from(
        repo.orch(args)
            .env("TMPDIR", tmp)
            .output()
            .expect("run orch"),
    )
}

/// The ABI of this kernel; these tests are about a kernel that confines.
fn abi() -> u8 {
    match kernel::support() {
        Support::Available(abi) if abi >= FULL_ABI => abi,
        other => panic!("these tests need Landlock ABI {FULL_ABI} or later: {other:?}"),
    }
}

/// A sibling task, then the confined agent (which depends on it, so the
/// sibling's worktree exists while it runs). `extra` goes into the
/// confined agent's table.
fn plan(repo: &TestRepo, probe: &Path, extra: &str) -> String {
    let root = repo.path().display();
    format!(
        r#"
[defaults]
retries = 2
backoff = "50ms"
merge = "never"

[agents.sh]
command = ["sh", "-c", "{{prompt}}"]

[agents.confined]
command = ["{script}"]
sandbox = "worktree"
env = {{ CHECKOUT = "{root}", SIBLING = "{root}/.orch/worktrees/sibling", PROBE_TMP = "{probe}" }}
{extra}

[[tasks]]
id = "sibling"
agent = "sh"
prompt = "echo sibling > sibling.txt"

[[tasks]]
id = "confined"
agent = "confined"
depends_on = ["sibling"]
"#,
        script = agent("confined.sh"),
        probe = probe.display(),
    )
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref())
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.as_ref().display()))
}

/// The last attempt of `task` per `orch status --json`.
fn last_attempt(repo: &TestRepo, task: &str) -> serde_json::Value {
    let status = repo.status();
    let tasks = status["tasks"].as_array().expect("tasks");
    let row = tasks.iter().find(|t| t["id"] == task).expect("task");
    row["last_attempt"].clone()
}

#[test]
fn a_confined_agent_writes_its_own_work_and_nothing_of_anyone_else() {
    abi();
    let repo = repo();
    let scratch = tempfile::tempdir().expect("temp dir");
    let probe = scratch.path().join("probe");
    repo.write_config(&plan(&repo, &probe, ""));
    repo.git(&["add", "orch.toml"]);
    repo.git(&["commit", "-q", "-m", "plan"]);
    let git = repo.path().join(".git");
    let before = |rel: &str| read(git.join(rel));
    let (config, index, readme) = (
        before("config"),
        before("index"),
        read(repo.path().join("README.md")),
    );
    let main = repo.git(&["rev-parse", "main"]);
    let sibling_head = || repo.git(&["rev-parse", "orch/sibling"]);

    let out = run(&repo, scratch.path(), &["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");

    let worktree = repo.state_dir().join("worktrees/confined");
    let report = String::from_utf8(read(worktree.join("sandbox-report.txt"))).expect("utf-8");
    let errors = String::from_utf8_lossy(&read(worktree.join("sandbox-errors.txt"))).into_owned();
    let mut expected: Vec<String> = ["worktree", "tmp", "dev-null", "tty", "commit"]
        .iter()
        .map(|what| format!("wrote {what}"))
        .collect();
    expected.extend(
        [
            "checkout",
            "checkout-new",
            "sibling",
            "config",
            "hooks",
            "main-ref",
            "sibling-ref",
            "main-ref-file",
            "index",
            "truncate",
        ]
        .iter()
        .map(|what| format!("denied {what}")),
    );
    expected.push("NoNewPrivs:\t1".into());
    let lines: Vec<&str> = report.lines().collect();
    assert_eq!(lines, expected, "errors the agent saw:\n{errors}");
    // Refused by the kernel, not by chance: each try said so.
    assert!(errors.matches("Permission denied").count() >= 9, "{errors}");

    // What it may write, it wrote.
    assert_eq!(read(worktree.join("work.txt")), b"mine\n");
    assert_eq!(read(&probe), b"scratch\n");
    let log = repo.git(&["log", "--format=%s", "orch/confined"]);
    assert!(log.lines().any(|s| s == "agent: work"), "{log}");

    // Nothing else changed.
    assert_eq!(read(repo.path().join("README.md")), readme);
    assert!(!repo.path().join("new-file").exists());
    let sibling = repo.state_dir().join("worktrees/sibling");
    assert_eq!(read(sibling.join("README.md")), readme);
    assert_eq!(before("config"), config);
    assert_eq!(before("index"), index);
    assert!(!git.join("hooks/x").exists());
    assert_eq!(repo.git(&["rev-parse", "main"]), main);
    let sibling_done = repo.git(&["log", "-1", "--format=%s", "orch/sibling"]);
    assert!(sibling_done.starts_with("orch: sibling"), "{sibling_done}");
    assert_ne!(sibling_head(), repo.git(&["rev-parse", "orch/confined"]));

    // The level is recorded per attempt and shown by status.
    assert_eq!(last_attempt(&repo, "confined")["sandbox"], "worktree");
    assert_eq!(last_attempt(&repo, "sibling")["sandbox"], "none");
}

#[test]
fn a_sandbox_that_would_expose_the_checkout_is_refused_and_not_retried() {
    let abi = abi();
    let repo = repo();
    let probe = PathBuf::from("/nonexistent/probe");
    let scratch = tempfile::tempdir().expect("temp dir");
    // The repository's parent holds the checkout.
    repo.write_config(&plan(&repo, &probe, "writable = [\"..\"]"));

    let check = run(&repo, scratch.path(), &["check"]);
    assert_eq!(check.code, 1, "{check}");
    assert!(
        check
            .stdout
            .contains("agent confined: sandbox = \"worktree\" CANNOT RUN HERE: writable path")
            && check.stdout.contains("holds the repository's checkout"),
        "{check}"
    );
    assert!(
        check.stdout.contains(&format!(
            "agent sh: sandbox = \"none\" (Landlock ABI {abi} here)"
        )),
        "{check}"
    );
    assert!(check.stderr.contains("cannot be had here"), "{check}");

    let out = run(&repo, scratch.path(), &["--no-tui"]);
    assert_eq!(out.code, 1, "{out}");
    assert_eq!(repo.task_state("confined").as_deref(), Some("needs_review"));
    let attempt = last_attempt(&repo, "confined");
    assert_eq!(attempt["attempt"], 1, "not retried: {attempt}");
    assert!(attempt["pid"].is_null(), "never started: {attempt}");
    assert!(attempt["sandbox"].is_null(), "{attempt}");
    let cause = attempt["cause"].as_str().unwrap_or_default();
    assert!(
        cause.starts_with("sandbox: writable path")
            && cause.contains("holds the repository's checkout"),
        "{cause}"
    );
}

#[test]
fn check_says_how_each_sandboxed_agent_is_confined_here() {
    let abi = abi();
    let repo = repo();
    repo.write_config(&plan(
        &repo,
        Path::new("/tmp/unused"),
        "writable = [\"~/.orch-test-no-such-dir\"]",
    ));
    let scratch = tempfile::tempdir().expect("temp dir");
    let out = run(&repo, scratch.path(), &["check"]);
    assert_eq!(out.code, 0, "{out}");
    for line in [
        format!(
            "agent confined: sandbox = \"worktree\": writes confined by Landlock (ABI {abi} here)"
        ),
        "agent confined: writable path".into(),
        "orch-test-no-such-dir does not exist: not granted".into(),
    ] {
        assert!(out.stdout.contains(&line), "missing {line:?}\n{out}");
    }
}

#[test]
fn best_effort_confines_without_what_cannot_be_granted_soundly_and_says_so() {
    abi();
    let repo = repo();
    let scratch = tempfile::tempdir().expect("temp dir");
    // The repository's parent holds the checkout: nothing sound to grant.
    repo.write_config(
        r#"
[defaults]
retries = 0
merge = "never"

[agents.loose]
command = ["sh", "-c", "echo ran > ran.txt"]
sandbox = "best-effort"
writable = [".."]

[[tasks]]
id = "loose"
agent = "loose"
"#,
    );
    let check = run(&repo, scratch.path(), &["check"]);
    assert_eq!(check.code, 0, "{check}");
    assert!(
        check
            .stdout
            .contains("agent loose: sandbox = \"best-effort\"")
            && check.stdout.contains("not granted: writable path")
            && check.stdout.contains("holds the repository's checkout"),
        "{check}"
    );
    let out = run(&repo, scratch.path(), &["--no-tui"]);
    assert_eq!(out.code, 0, "{out}");
    let attempt = last_attempt(&repo, "loose");
    assert_eq!(
        attempt["sandbox"], "worktree",
        "confined all the same: {attempt}"
    );
    let events = repo.run(&["events"]);
    assert!(
        events.stdout.contains("not granted: writable path"),
        "the reason is recorded: {}",
        events.stdout
    );
}
