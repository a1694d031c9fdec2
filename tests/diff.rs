//! `orch diff` as a user meets it: a finished task's changes, the work
//! left in its worktree, `--stat`, plain text when piped, and the refusals.

mod common;

use common::*;

const PLAN: &str = r#"
[defaults]
retries = 0

[agents.sh]
command = ["sh", "-c", "{prompt}"]

[[tasks]]
id = "work"
agent = "sh"
prompt = "printf 'hello\n' > new.txt && printf 'more\n' >> README.md"

[[tasks]]
id = "broken"
agent = "sh"
prompt = "exit 1"

[[tasks]]
id = "after"
agent = "sh"
prompt = "true"
depends_on = ["broken"]
"#;

fn ran() -> TestRepo {
    let repo = TestRepo::new();
    repo.write_config(PLAN);
    let out = repo.run(&["--no-tui"]);
    assert_eq!(out.code, 1, "broken fails the run\n{out}");
    assert_eq!(repo.task_state("work").as_deref(), Some("done"));
    repo
}

#[test]
fn a_task_diff_is_its_changes_against_the_base_in_plain_text_when_piped() {
    let repo = ran();
    // A pager would swallow the output: piped, none is used.
    let out = repo
        .orch(&["diff", "work"])
        .env("GIT_PAGER", "false")
        .output()
        .expect("orch diff");
    let out = RunResult::from(out);
    assert_eq!(out.code, 0, "{out}");
    let git = repo.git(&["diff", "main...orch/work"]);
    assert_eq!(out.stdout, git, "{out}");
    assert!(out.stdout.contains("+hello\n") && !out.stdout.contains('\x1b'));

    let out = repo.run(&["diff", "work", "--stat"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout,
        " README.md | 1 +\n new.txt   | 1 +\n 2 files changed, 2 insertions(+)\n"
    );
}

#[test]
fn work_left_in_the_worktree_shows_before_it_is_committed() {
    let repo = ran();
    let worktree = repo.state_dir().join("worktrees").join("work");
    std::fs::write(worktree.join("later.txt"), "not committed\n").expect("write");
    std::fs::write(worktree.join("new.txt"), "hello\nedited\n").expect("write");
    let out = repo.run(&["diff", "work", "--stat"]);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(
        out.stdout,
        " README.md | 1 +\n later.txt | 1 +\n new.txt   | 2 ++\n 3 files changed, 4 insertions(+)\n"
    );
}

#[test]
fn unknown_and_unstarted_tasks_are_refused_with_reasons() {
    let repo = ran();
    let out = repo.run(&["diff", "wrok"]);
    assert_eq!(out.code, 2, "{out}");
    assert!(
        out.stderr
            .contains("no task \"wrok\" in orch.toml; did you mean \"work\"?"),
        "{out}"
    );
    assert!(out.stdout.is_empty());
    let out = repo.run(&["diff", "after"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr
            .contains("there is no branch orch/after yet (the task has not started)"),
        "{out}"
    );
}
