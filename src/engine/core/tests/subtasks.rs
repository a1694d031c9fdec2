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
        let (answer, mut effects) = self
            .core
            .request(Actor::Agent(task.into()), request, self.now)
            .expect("core");
        effects.extend(
            self.core
                .input(Input::Tick { heard: Vec::new() }, self.now)
                .expect("core"),
        );
        self.record(effects);
        answer
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
