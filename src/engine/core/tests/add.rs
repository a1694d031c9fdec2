//! Tasks added at run time: checked and resolved as `[[tasks]]` entries,
//! run like any task, answered idempotently, kept across reloads and
//! restarts (a restart is played from what the effects persisted).

use std::collections::HashMap;

use super::*;
use crate::engine::message::NewTask;
use crate::store::{AddedTaskRow, ORIGIN_CLI, ORIGIN_CONFIG};

pub(super) fn new_task(id: &str, deps: &[&str]) -> NewTask {
    NewTask {
        id: id.into(),
        agent: "sh".into(),
        prompt: format!("make {id}"),
        title: None,
        depends_on: deps.iter().map(|d| d.to_string()).collect(),
        parent: None,
    }
}

/// `ids` as tasks of the `sh` agent, with `extra` before them.
pub(super) fn plan(extra: &str, ids: &[&str]) -> String {
    let mut text = format!("{AGENTS}{extra}");
    for id in ids {
        text.push_str(&format!(
            "[[tasks]]\nid = \"{id}\"\nagent = \"sh\"\nprompt = \"make {id}\"\n"
        ));
    }
    text
}

impl Harness {
    pub(super) fn add(&mut self, task: NewTask) -> Result<(), ActionError> {
        self.request(Request::AddTask(task))
    }

    pub(super) fn reload(&mut self, text: &str) {
        self.request(Request::Reload {
            config: Box::new(config(text)),
        })
        .expect("reload");
    }

    /// What a store would hold after every write so far: each task's last
    /// row, its attempts, the added tasks.
    pub(super) fn stored(&self) -> Stored {
        let mut tasks: Vec<TaskRow> = Vec::new();
        let mut attempts: HashMap<(String, u32), AttemptRow> = HashMap::new();
        let mut added = Vec::new();
        let mut messages: Vec<crate::store::MessageRow> = Vec::new();
        for effect in &self.log {
            match effect {
                Effect::Persist(Write::Message(m)) => {
                    match messages.iter_mut().find(|known| known.id == m.id) {
                        Some(known) => *known = m.clone(),
                        None => messages.push(m.clone()),
                    }
                }
                Effect::Persist(Write::Task(row)) => {
                    match tasks.iter_mut().find(|t| t.id == row.id) {
                        Some(known) => *known = row.clone(),
                        None => tasks.push(row.clone()),
                    }
                }
                Effect::Persist(Write::Attempt(a)) => {
                    attempts.insert((a.task_id.clone(), a.attempt), a.clone());
                }
                Effect::Persist(Write::AddedTask(row)) => added.push(row.clone()),
                _ => {}
            }
        }
        let running_attempts: Vec<AttemptRow> = attempts
            .values()
            .filter(|a| a.status == AttemptStatus::Running)
            .cloned()
            .collect();
        let latest_attempts = tasks
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .filter_map(|t| {
                let a = attempts.get(&(t.id.clone(), t.attempts))?;
                Some((t.id.clone(), a.clone()))
            })
            .collect();
        let last_message_id = messages.iter().map(|m| m.id).max().unwrap_or(0);
        messages.retain(|m| m.state != crate::store::MessageState::Acknowledged);
        Stored {
            tasks,
            running_attempts,
            latest_attempts,
            added,
            messages,
            last_message_id,
            ..Stored::default()
        }
    }

    /// The `task_added` events persisted so far.
    fn added_events(&self) -> Vec<EventRow> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Event(row)) if row.kind == "task_added" => Some(row.clone()),
                _ => None,
            })
            .collect()
    }

    /// Persist and publish effects of the latest call: none means nothing
    /// changed.
    fn changes(&self) -> usize {
        self.last
            .iter()
            .filter(|e| matches!(e, Effect::Persist(_) | Effect::Publish(_)))
            .count()
    }
}

use crate::store::EventRow;

#[test]
fn an_added_task_runs_like_any_other_and_is_recorded_before_it_is_shown() {
    let mut h = start(&plan("", &["a"]));
    h.add(new_task("b", &[])).expect("added");
    assert_eq!(h.state("b"), TaskState::Running, "started on the same tick");
    assert_eq!(h.row("b").origin, ORIGIN_CLI);
    assert_eq!(h.row("a").origin, ORIGIN_CONFIG);
    let def = h.core.defs.task("b").expect("in the plan");
    assert_eq!(def.title, "b");
    assert_eq!(def.policy, h.core.defs.config().defaults);

    // Everything about it is persisted before anyone is told.
    let first_publish = h
        .last
        .iter()
        .position(|e| matches!(e, Effect::Publish(_)))
        .expect("published");
    let stored_def = h
        .last
        .iter()
        .position(|e| matches!(e, Effect::Persist(Write::AddedTask(row)) if row.task.id == "b"));
    assert!(stored_def.is_some_and(|at| at < first_publish));
    let Some(Effect::Publish(Event::PlanChanged { config, rows })) = h.last.get(first_publish)
    else {
        panic!(
            "the plan change comes first: {:?}",
            h.last.get(first_publish)
        );
    };
    assert!(config.tasks.iter().any(|t| t.id == "b"));
    assert!(rows.iter().any(|r| r.id == "b" && r.origin == ORIGIN_CLI));
    let events = h.added_events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].task_id.as_deref(), Some("b"));
    assert_eq!(events[0].cause.as_deref(), Some("added by tester"));
    assert_eq!(events[0].to_state.as_deref(), Some("pending"));
    let AddedTaskRow {
        origin, added_by, ..
    } = h.stored().added.pop().expect("stored");
    assert_eq!((origin.as_str(), added_by.as_str()), (ORIGIN_CLI, "tester"));

    h.run_jobs();
    h.succeed("b");
    assert_eq!(h.state("b"), TaskState::Done);
}

#[test]
fn adding_an_id_again_answers_with_its_state_and_runs_nothing_twice() {
    let mut h = start(&plan("", &["a"]));
    h.add(new_task("b", &[])).expect("added");
    h.run_jobs();
    let answer = h.add(NewTask {
        prompt: "something else".into(),
        ..new_task("b", &[])
    });
    assert_eq!(
        answer,
        Err(ActionError::AlreadyExists {
            task: "b".into(),
            state: TaskState::Running,
        })
    );
    assert_eq!(
        answer.map_err(|e| e.to_string()),
        Err("task \"b\" already exists; it is running".to_string())
    );
    assert_eq!(h.changes(), 0, "nothing changed");
    assert!(h.prepares().is_empty() && h.spawns().is_empty());
    assert_eq!(
        h.core.defs.task("b").map(|t| t.prompt.as_str()),
        Some("make b")
    );

    h.succeed("b");
    assert_eq!(
        h.add(new_task("b", &[])),
        Err(ActionError::AlreadyExists {
            task: "b".into(),
            state: TaskState::Done,
        })
    );
    assert!(h.prepares().is_empty(), "a done task never runs again");
    assert_eq!(h.persisted_attempts("b").last().map(|a| a.attempt), Some(1));

    // An id orch.toml defines is just as taken.
    assert_eq!(
        h.add(new_task("a", &[])),
        Err(ActionError::AlreadyExists {
            task: "a".into(),
            state: TaskState::Running,
        })
    );
    assert_eq!(h.changes(), 0);
    assert_eq!(h.added_events().len(), 1);
}

#[test]
fn a_task_that_could_not_be_in_the_file_is_refused_with_the_reason() {
    let mut h = start(&plan("", &["api"]));
    let refused = |h: &mut Harness, task: NewTask| match h.add(task) {
        Err(ActionError::Refused(why)) => {
            assert_eq!(h.changes(), 0, "{why}");
            why
        }
        other => panic!("not refused: {other:?}"),
    };
    let why = refused(
        &mut h,
        NewTask {
            agent: "shh".into(),
            ..new_task("docs", &[])
        },
    );
    assert_eq!(
        why,
        "unknown agent \"shh\" for task \"docs\" (defined agents: sh); did you mean \"sh\"?"
    );
    let why = refused(&mut h, new_task("docs", &["apj"]));
    assert_eq!(
        why,
        "task \"docs\" depends on \"apj\", which is not a task; did you mean \"api\"?"
    );
    let why = refused(&mut h, new_task("no/slash", &[]));
    assert!(why.starts_with("invalid task id \"no/slash\""), "{why}");
    let why = refused(
        &mut h,
        NewTask {
            prompt: "fix {prompt}".into(),
            ..new_task("docs", &[])
        },
    );
    assert!(why.contains("\"{prompt}\" cannot be used in the prompt of task \"docs\""));
    let why = refused(
        &mut h,
        NewTask {
            prompt: String::new(),
            agent: "nope".into(),
            ..new_task("docs", &[])
        },
    );
    assert_eq!(why.lines().count(), 2, "every problem at once: {why}");
    assert!(!h.core.defs.contains("docs"));
    assert!(h.core.tasks.get("docs").is_none());
}

#[test]
fn a_dependency_on_a_running_task_waits_for_it() {
    let mut h = start(&plan("", &["a"]));
    h.run_jobs();
    h.add(new_task("b", &["a"])).expect("added");
    assert_eq!(h.state("b"), TaskState::Pending);
    assert!(h.prepares().is_empty());
    // One added task may depend on another.
    h.add(new_task("c", &["b"])).expect("added");
    assert_eq!(h.state("c"), TaskState::Pending);
    h.succeed("a");
    assert_eq!(h.state("b"), TaskState::Running);
    assert_eq!(h.state("c"), TaskState::Pending);
    h.run_jobs();
    h.succeed("b");
    assert_eq!(h.state("c"), TaskState::Running);
}

#[test]
fn a_reload_keeps_added_tasks_and_drops_their_vanished_dependencies() {
    let text = plan("[project]\nmax_parallel = 1\n", &["a", "c"]);
    let mut h = start(&text);
    h.run_jobs();
    assert_eq!(h.state("c"), TaskState::Queued);
    h.add(new_task("b", &["c"])).expect("added");
    h.add(new_task("d", &[])).expect("added");
    assert_eq!(h.state("b"), TaskState::Pending);

    // The edit does not mention them, and drops c.
    let edited = plan(
        "[project]\nmax_parallel = 1\n[defaults]\nretries = 7\n",
        &["a"],
    );
    h.reload(&edited);
    assert!(!h.core.defs.contains("c"));
    let b = h.core.defs.task("b").expect("b stays");
    assert!(b.depends_on.is_empty(), "the edge to c is gone");
    assert_eq!(b.policy.retries, 7, "resolved with the new [defaults]");
    assert_eq!(h.state("b"), TaskState::Queued);
    assert_eq!(h.row("b").origin, ORIGIN_CLI);
    let Some(Event::PlanChanged { config: shown, .. }) = h.last.iter().find_map(|e| match e {
        Effect::Publish(event @ Event::PlanChanged { .. }) => Some(event.clone()),
        _ => None,
    }) else {
        panic!("no plan change published");
    };
    let ids: Vec<&str> = shown.tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "d"]);

    // orch.toml takes the id over: its definition wins; dropped from the
    // file again, the added definition is back.
    let takes_d =
        format!("{edited}[[tasks]]\nid = \"d\"\nagent = \"sh\"\nprompt = \"from the file\"\n");
    h.reload(&takes_d);
    assert_eq!(
        h.core.defs.task("d").map(|t| t.prompt.as_str()),
        Some("from the file")
    );
    assert_eq!(h.row("d").origin, ORIGIN_CONFIG);
    h.reload(&edited);
    assert_eq!(
        h.core.defs.task("d").map(|t| t.prompt.as_str()),
        Some("make d")
    );
    assert_eq!(h.row("d").origin, ORIGIN_CLI);
    let origins: Vec<String> = h
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::Persist(Write::Task(row)) if row.id == "d" => Some(row.origin.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(origins.last().map(String::as_str), Some(ORIGIN_CLI));
    assert!(origins.iter().any(|o| o == ORIGIN_CONFIG), "{origins:?}");
}

#[test]
fn added_tasks_survive_a_restart_and_resume_where_they_were() {
    let text = plan("", &["a"]);
    let mut h = start(&text);
    h.run_jobs();
    h.add(new_task("b", &["a"])).expect("added");
    h.add(new_task("c", &[])).expect("added");
    h.run_jobs();
    h.succeed("c");
    assert_eq!(h.state("c"), TaskState::Done);
    h.succeed("a");
    assert_eq!(h.state("b"), TaskState::Running);
    h.run_jobs();

    // orch dies with b's agent running; the next start has the same file.
    let next = start_with(&text, h.stored(), options(), &[]);
    let ids: Vec<&str> = next.core.defs.order().iter().map(String::as_str).collect();
    assert_eq!(ids, ["a", "c", "b"]);
    assert_eq!(
        next.core.defs.task("b").map(|t| t.depends_on.clone()),
        Some(vec!["a".to_string()])
    );
    assert_eq!(next.state("c"), TaskState::Done, "done never runs again");
    assert_eq!(next.row("c").origin, ORIGIN_CLI);
    assert_eq!(next.state("b"), TaskState::Running);
    assert_eq!(
        next.attempt("b"),
        2,
        "resumed after the interrupted attempt"
    );
    assert_eq!(next.prepares(), vec![("b".to_string(), 2, Known::No)]);
    assert!(next
        .log
        .iter()
        .all(|e| !matches!(e, Effect::Persist(Write::AddedTask(_)))));
}

#[test]
fn at_a_restart_orch_toml_wins_over_an_added_task_of_the_same_id() {
    let mut h = start(&plan("", &["a"]));
    h.add(new_task("b", &[])).expect("added");
    let stored = h.stored();
    let file = plan("", &["a"])
        + "[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"the file's b\"\nretries = 0\n";
    let next = start_with(&file, stored, options(), &[]);
    let b = next.core.defs.task("b").expect("b");
    assert_eq!((b.prompt.as_str(), b.policy.retries), ("the file's b", 0));
    assert_eq!(
        next.core
            .defs
            .order()
            .iter()
            .filter(|id| *id == "b")
            .count(),
        1
    );
    assert_eq!(next.row("b").origin, ORIGIN_CONFIG);
}
