//! Subtasks: added with a parent, limited in number and depth, started
//! from the parent's work; the parent waits for them, runs again with
//! their work merged in, and is blocked by one that fails.

use super::add::{new_task, plan};
use super::*;
use crate::engine::message::NewTask;

fn child(id: &str, parent: &str, deps: &[&str]) -> NewTask {
    NewTask {
        parent: Some(parent.into()),
        ..new_task(id, deps)
    }
}

impl Harness {
    /// `request` as the agent of `task` asks it.
    fn request_as_agent(&mut self, task: &str, request: Request) -> Result<(), ActionError> {
        self.answer_as(Actor::Agent(task.into()), request).map(drop)
    }

    fn refused(&mut self, task: NewTask) -> String {
        match self.add(task) {
            Err(ActionError::Refused(why)) => {
                assert!(
                    self.last
                        .iter()
                        .all(|e| !matches!(e, Effect::Persist(_) | Effect::Publish(_))),
                    "nothing is stored or told: {why}"
                );
                why
            }
            other => panic!("not refused: {other:?}"),
        }
    }
}

#[test]
fn a_subtask_is_stored_with_its_parent_and_its_work_goes_through_the_parent() {
    let mut h = start(&plan("", &["p"]));
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    assert_eq!(h.row("c").parent.as_deref(), Some("p"));
    assert_eq!(h.row("p").parent, None);
    let def = h.core.defs.task("c").expect("in the plan");
    assert_eq!(def.parent.as_deref(), Some("p"));
    assert_eq!(
        def.policy.merge,
        crate::config::MergeMode::Never,
        "its parent merges it in"
    );
    let stored = h.stored();
    let added = stored.added.last().expect("its definition is kept");
    assert_eq!(added.task.parent.as_deref(), Some("p"));
    assert!(stored
        .tasks
        .iter()
        .any(|t| t.id == "c" && t.parent.as_deref() == Some("p")));
    assert_eq!(h.core.defs.children("p"), ["c".to_string()]);
}

#[test]
fn a_subtask_needs_a_parent_that_will_run_again() {
    let mut h = start(&plan("", &["p", "q"]));
    h.run_jobs();
    let why = h.refused(child("c", "nope", &[]));
    assert_eq!(
        why,
        "the parent of subtask \"c\", \"nope\", is not a task of this plan"
    );
    h.succeed("q");
    assert_eq!(h.state("q"), TaskState::Done);
    let why = h.refused(child("c", "q", &[]));
    assert_eq!(
        why,
        "task \"q\" is done: it will not run again to take in the work of subtask \"c\""
    );
    assert!(!h.core.defs.contains("c"));
}

#[test]
fn past_max_subtasks_an_add_is_refused_and_nothing_is_stored() {
    let mut h = start(&plan("[project]\nmax_subtasks = 2\n", &["p"]));
    h.run_jobs();
    h.add(child("c1", "p", &[])).expect("first");
    h.add(child("c2", "p", &[])).expect("second");
    let why = h.refused(child("c3", "p", &[]));
    assert_eq!(
        why,
        "task \"p\" has 2 subtask(s) already, the most max_subtasks = 2 in [project] allows"
    );
    assert!(h.core.tasks.get("c3").is_none());
    // Asking for one it has again is still answered with its state.
    assert!(matches!(
        h.add(child("c1", "p", &[])),
        Err(ActionError::AlreadyExists { .. })
    ));
    // The limit is per parent.
    h.add(child("g1", "c1", &[])).expect("a grandchild");
}

#[test]
fn past_max_subtask_depth_an_add_is_refused_naming_the_chain() {
    let mut h = start(&plan("[project]\nmax_subtask_depth = 2\n", &["p"]));
    h.add(child("a", "p", &[])).expect("depth 1");
    h.add(child("b", "a", &[])).expect("depth 2");
    let why = h.refused(child("c", "b", &[]));
    assert_eq!(
        why,
        "subtask \"c\" would be nested 3 deep (p -> a -> b -> c), past max_subtask_depth = 2 in [project]"
    );
    let mut none = start(&plan("[project]\nmax_subtask_depth = 0\n", &["p"]));
    let why = none.refused(child("a", "p", &[]));
    assert!(why.contains("past max_subtask_depth = 0"), "{why}");
}

#[test]
fn subtasks_may_depend_on_each_other_but_never_on_what_waits_for_their_parent() {
    let text = plan("", &["p", "other"])
        + "[[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"p\"]\n";
    let mut h = start(&text);
    h.add(child("first", "p", &[])).expect("added");
    h.add(child("second", "p", &["first", "other"]))
        .expect("on a sibling and another task");
    let why = h.refused(child("c", "p", &["p"]));
    assert_eq!(
        why,
        "subtask \"c\" cannot depend on its parent \"p\": it starts from its parent's work already, and its parent waits for it"
    );
    let why = h.refused(child("c", "p", &["after"]));
    assert_eq!(
        why,
        "subtask \"c\" cannot depend on \"after\": \"after\" waits for \"p\", which would wait for \"c\""
    );
    // A grandchild may not depend on its grandparent either.
    let why = h.refused(child("g", "first", &["p"]));
    assert!(why.contains("\"p\" waits for \"first\""), "{why}");
}

#[test]
fn an_agent_adds_subtasks_of_its_own_task_only() {
    let mut h = start(&plan("", &["p", "q"]));
    h.run_jobs();
    let refused = h.request_as_agent("p", Request::AddTask(child("c", "q", &[])));
    assert_eq!(
        refused,
        Err(ActionError::Refused(
            "an agent may add only subtasks of its own task: use --parent p".into()
        ))
    );
    let refused = h.request_as_agent("p", Request::AddTask(new_task("c", &[])));
    assert!(matches!(refused, Err(ActionError::Refused(_))));
    h.request_as_agent("p", Request::AddTask(child("c", "p", &[])))
        .expect("its own subtask");
    let event = h
        .log
        .iter()
        .find_map(|e| match e {
            Effect::Persist(Write::Event(row)) if row.kind == "task_added" => row.cause.clone(),
            _ => None,
        })
        .expect("recorded");
    assert_eq!(event, "added by agent p");
}

impl Harness {
    /// The latest agent command started for `task`.
    fn command_of(&self, task: &str) -> Vec<String> {
        self.log
            .iter()
            .rev()
            .find_map(|e| match e {
                Effect::Spawn(order) if order.task == task => Some(order.command.clone()),
                _ => None,
            })
            .expect("a spawn")
    }

    /// The latest worktree job asked for `task`.
    fn prepare(&self, task: &str) -> crate::git::Prepare {
        self.prepare_of(task).expect("a worktree job")
    }

    fn cause(&self, id: &str) -> Option<&str> {
        self.row(id).cause.as_deref()
    }
}

/// A parent `p` whose prompt lists its subtasks, and `extra` settings.
fn parent_plan(extra: &str) -> String {
    format!(
        "{AGENTS}{extra}[[tasks]]\nid = \"p\"\nagent = \"sh\"\nprompt = \"integrate: {{children}}\"\n"
    )
}

fn ids(list: &[(String, String)]) -> Vec<&str> {
    list.iter().map(|(id, _)| id.as_str()).collect()
}

#[test]
fn a_parent_waits_for_its_subtasks_then_runs_again_with_their_work_merged_in() {
    let mut h = start(&parent_plan(""));
    h.run_jobs();
    assert!(
        h.command_of("p")[2].ends_with("integrate: "),
        "no subtasks yet"
    );
    assert!(h.prepare("p").children.is_empty());
    h.add(child("c1", "p", &[])).expect("added");
    h.run_jobs();
    h.add(child("c2", "p", &["c1"])).expect("added");
    h.add(child("c3", "p", &["c1"])).expect("added");
    assert_eq!(h.state("c1"), TaskState::Running);
    assert_eq!(
        h.prepare("c1").deps,
        ["p"],
        "it starts from its parent's work"
    );
    assert_eq!(h.state("c2"), TaskState::Pending);

    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Blocked);
    assert_eq!(h.cause("p"), Some("waiting for 3 subtask(s): c1, c2, c3"));
    assert!(h.core.outcome().is_none());
    h.run_jobs();
    h.succeed("c1");
    assert_eq!(h.prepare("c2").deps, ["p", "c1"]);
    assert_eq!(h.state("c2"), TaskState::Running);
    assert_eq!(h.state("c3"), TaskState::Running);
    assert_eq!(h.cause("p"), Some("waiting for 2 subtask(s): c2, c3"));
    h.run_jobs();
    h.succeed("c3");
    assert_eq!(h.cause("p"), Some("waiting for 1 subtask(s): c2"));
    h.succeed("c2");

    assert_eq!(h.state("p"), TaskState::Running);
    assert_eq!(h.attempt("p"), 2);
    let prepare = h.prepare("p");
    assert_eq!(
        ids(&prepare.children),
        ["c1", "c2", "c3"],
        "dependencies first"
    );
    assert_eq!(prepare.known, Known::Ready, "in the worktree it ran in");
    h.run_jobs();
    assert_eq!(
        h.command_of("p")[2],
        "integrate: c1: done\nc2: done\nc3: done"
    );
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Done, "it added no new subtasks");
    assert!(h.core.outcome().is_some_and(|o| o.exit_code == 0));
}

#[test]
fn subtasks_done_before_their_parent_ends_send_it_straight_back_to_run() {
    let mut h = start(&parent_plan(""));
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("c");
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Running, "queued and started again");
    assert_eq!(h.attempt("p"), 2);
    assert_eq!(ids(&h.prepare("p").children), ["c"]);
    let why = h.log.iter().rev().find_map(|e| match e {
        Effect::Publish(Event::Task { row, why, .. })
            if row.id == "p" && row.state == TaskState::Queued =>
        {
            why.clone()
        }
        _ => None,
    });
    assert_eq!(
        why.as_deref(),
        Some("its subtask(s) c are done: it runs again to take their work in")
    );
    h.run_jobs();
    // The second attempt adds one more: it waits again.
    h.add(child("d", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Blocked);
    assert_eq!(h.cause("p"), Some("waiting for 1 subtask(s): d"));
    h.succeed("d");
    h.run_jobs();
    assert_eq!(ids(&h.prepare("p").children), ["c", "d"]);
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Done);
}

#[test]
fn a_subtask_that_fails_blocks_its_parent_until_it_is_done() {
    let mut h = start(&parent_plan("[defaults]\nretries = 0\n"));
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("p");
    h.exit("c", 1);
    assert_eq!(h.state("c"), TaskState::NeedsReview);
    assert_eq!(h.state("p"), TaskState::Blocked);
    assert_eq!(h.cause("p"), Some("subtask c is needs_review"));
    assert!(
        h.core.outcome().is_some_and(|o| o.exit_code == 1),
        "nothing more happens without a person"
    );
    h.request(Request::Retry {
        task: "c".into(),
        fresh: false,
    })
    .expect("retried");
    assert_eq!(h.state("c"), TaskState::Running);
    assert_eq!(h.cause("p"), Some("waiting for 1 subtask(s): c"));
    h.run_jobs();
    h.succeed("c");
    assert_eq!(h.state("p"), TaskState::Running, "unblocked once c is done");
    h.run_jobs();
    assert!(h.command_of("p")[2].ends_with("integrate: c: done"));
}

#[test]
fn a_parent_s_own_failures_are_retried_as_before_and_take_its_subtasks_in_again() {
    let mut h = start(&parent_plan("[defaults]\nbackoff = \"1s\"\n"));
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.exit("p", 3);
    assert_eq!(h.state("p"), TaskState::Retrying);
    h.succeed("c");
    h.advance(2_000);
    assert_eq!(h.state("p"), TaskState::Running);
    assert_eq!(h.attempt("p"), 2);
    assert_eq!(ids(&h.prepare("p").children), ["c"]);
    h.run_jobs();
    h.exit("p", 3);
    h.advance(5_000);
    assert_eq!(h.attempt("p"), 3);
    assert_eq!(
        ids(&h.prepare("p").children),
        ["c"],
        "merging what is in already changes nothing"
    );
    h.run_jobs();
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Done);
}

#[test]
fn subtasks_whose_work_does_not_merge_leave_their_parent_for_review() {
    let mut h = start(&parent_plan(""));
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("p");
    // c's commit lands; p's worktree job is asked for and fails.
    h.exit("c", 0);
    let attempt = h.attempt("c");
    h.input(Input::Committed {
        task: "c".into(),
        attempt,
        result: Ok(None),
    });
    assert_eq!(h.state("p"), TaskState::Running);
    let attempt = h.attempt("p");
    h.input(Input::WorktreeReady {
        task: "p".into(),
        attempt,
        result: Err("the work of subtask c conflicts with its parent's in a.txt".into()),
    });
    assert_eq!(h.state("p"), TaskState::NeedsReview);
    assert!(h.cause("p").is_some_and(|c| c.contains("a.txt")));
}

#[test]
fn a_restart_keeps_a_waiting_parent_blocked_and_its_subtasks_and_resumes() {
    let text = parent_plan("");
    let mut h = start(&text);
    h.run_jobs();
    h.add(child("c1", "p", &[])).expect("added");
    h.run_jobs();
    h.add(child("c2", "p", &["c1"])).expect("added");
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Blocked);

    // orch dies with c1's agent running; the next start has the same file.
    let mut next = start_with(&text, h.stored(), options(), &[]);
    assert_eq!(next.state("p"), TaskState::Blocked, "still waiting");
    assert_eq!(next.row("c1").parent.as_deref(), Some("p"));
    assert_eq!(next.core.defs.children("p"), ["c1", "c2"]);
    assert_eq!(next.state("c1"), TaskState::Running, "resumed");
    assert_eq!(next.prepare("c1").deps, ["p"]);
    next.run_jobs();
    next.succeed("c1");
    next.run_jobs();
    next.succeed("c2");
    assert_eq!(next.state("p"), TaskState::Running);
    assert_eq!(ids(&next.prepare("p").children), ["c1", "c2"]);
    next.run_jobs();
    next.succeed("p");
    assert_eq!(next.state("p"), TaskState::Done);
}

#[test]
fn a_parent_interrupted_while_committing_takes_its_subtasks_in_once_more() {
    let text = parent_plan("");
    let mut h = start(&text);
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("c");
    // p's agent exits 0; orch dies before its leftovers are committed.
    h.exit("p", 0);
    let mut next = start_with(&text, h.stored(), options(), &[]);
    let attempt = next
        .core
        .live
        .get("p")
        .map(|l| l.row.attempt)
        .expect("live");
    next.input(Input::Committed {
        task: "p".into(),
        attempt,
        result: Ok(None),
    });
    assert_eq!(
        next.state("p"),
        TaskState::Running,
        "which subtasks its attempt took in is not known: it runs again"
    );
    assert_eq!(ids(&next.prepare("p").children), ["c"]);
}

#[test]
fn what_depends_on_a_waiting_parent_waits_and_is_blocked_only_by_a_failure() {
    let text = parent_plan("[defaults]\nretries = 0\n")
        + "[[tasks]]\nid = \"after\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"p\"]\n";
    let mut h = start(&text);
    h.run_jobs();
    h.add(child("c", "p", &[])).expect("added");
    h.run_jobs();
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Blocked);
    assert_eq!(h.state("after"), TaskState::Pending, "p is on its way");
    h.exit("c", 1);
    assert_eq!(h.state("after"), TaskState::Blocked);
    assert_eq!(h.cause("after"), Some("dependency p is blocked"));
    h.request(Request::Retry {
        task: "c".into(),
        fresh: false,
    })
    .expect("retried");
    assert_eq!(h.state("after"), TaskState::Pending);
    h.run_jobs();
    h.succeed("c");
    h.run_jobs();
    h.succeed("p");
    assert_eq!(h.state("p"), TaskState::Done);
    assert_eq!(h.state("after"), TaskState::Running);
}
