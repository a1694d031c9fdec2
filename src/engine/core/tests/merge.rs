//! Merges as the core decides them: policies, the gate, dependency order,
//! conflicts handed back to the agent, local changes in the way, fresh
//! retries, hooks and pushes. The git work is played by hand.

use super::*;
use crate::config::PushMode;
use crate::git::{MergeOutcome, StartMode};

fn plan(tasks: &str) -> String {
    format!("{AGENTS}{tasks}")
}

/// `a` then `b` (b depends on a), with `merge` for both.
fn chain(merge: &str) -> String {
    plan(&format!(
        "[defaults]\nmerge = \"{merge}\"\n\
         [[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"make a\"\n\
         [[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"make b\"\ndepends_on = [\"a\"]\n"
    ))
}

impl Harness {
    /// The tasks whose merge the latest call asked for.
    fn merges(&self) -> Vec<String> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::Merge(req) => Some(req.task.clone()),
                _ => None,
            })
            .collect()
    }

    fn merged(&mut self, id: &str, outcome: MergeOutcome) {
        self.input(Input::Merged {
            task: id.into(),
            result: Ok(outcome),
        });
        self.run_jobs();
    }

    pub(super) fn prepare_of(&self, id: &str) -> Option<crate::git::Prepare> {
        self.log.iter().rev().find_map(|e| match e {
            Effect::PrepareWorktree { prepare, .. } if prepare.task == id => Some(prepare.clone()),
            _ => None,
        })
    }

    fn merge_state(&self, id: &str) -> MergeState {
        self.row(id).merge_state
    }
}

fn merged_as(commit: &str) -> MergeOutcome {
    MergeOutcome::Merged {
        commit: commit.into(),
    }
}

#[test]
fn auto_merges_each_task_and_its_dependent_builds_on_the_new_base() {
    let mut h = start(&chain("auto"));
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.merges(), vec!["a".to_string()]);
    // b waits for a's work to be on the base.
    assert_eq!(h.state("b"), TaskState::Pending);
    assert!(h.core.outcome().is_none(), "a merge is under way");
    h.merged("a", merged_as("m1"));
    assert_eq!(h.merge_state("a"), MergeState::Merged);
    assert_eq!(h.row("a").merge_commit.as_deref(), Some("m1"));
    assert_eq!(h.state("b"), TaskState::Running);
    let prepare = h.prepare_of("b").expect("b's worktree");
    assert_eq!(prepare.deps, vec!["a".to_string()]);
    assert_eq!(prepare.mode, StartMode::Continue);
    h.succeed("b");
    assert_eq!(h.merges(), vec!["b".to_string()]);
    h.merged("b", merged_as("m2"));
    let outcome = h.core.outcome().expect("settled");
    assert_eq!(outcome.exit_code, 0);
    assert!(h.log.iter().any(|e| matches!(
        e,
        Effect::Persist(Write::Merge(m)) if m.task_id == "b" && m.outcome == "merged"
    )));
}

#[test]
fn manual_dependents_start_from_the_branch_and_merges_keep_dependency_order() {
    let text = plan(
        "[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"manual\"\n\
         [[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"auto\"\ndepends_on = [\"a\"]\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    assert!(h.merges().is_empty(), "manual waits for an operator");
    assert_eq!(h.state("b"), TaskState::Running, "b builds on orch/a");
    h.succeed("b");
    assert!(h.merges().is_empty());
    assert_eq!(h.merge_state("b"), MergeState::Waiting);
    let note = h.row("b").merge_note.clone().unwrap_or_default();
    assert!(note.contains("dependency a"), "{note}");
    // Nothing can move without the operator: the run ends, and says so.
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(1));

    h.request(Request::Merge { task: "a".into() })
        .expect("merge a");
    assert_eq!(h.merges(), vec!["a".to_string()]);
    h.merged("a", merged_as("m1"));
    assert_eq!(h.merges(), vec!["b".to_string()]);
    h.merged("b", merged_as("m2"));
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(0));
    assert!(matches!(
        h.request(Request::Merge { task: "a".into() }),
        Err(ActionError::Refused(why)) if why.contains("already merged")
    ));
}

#[test]
fn never_keeps_the_branch_and_refuses_a_merge() {
    let mut h = start(&one_task("merge = \"never\"\n"));
    h.run_jobs();
    h.succeed("t");
    assert_eq!(h.merge_state("t"), MergeState::Never);
    assert!(h.merges().is_empty());
    assert!(matches!(
        h.request(Request::Merge { task: "t".into() }),
        Err(ActionError::Refused(why)) if why.contains("never")
    ));
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(0));
}

#[test]
fn the_merge_gate_is_approved_with_its_actor_or_rejected_with_a_reason() {
    let text = chain("auto").replace(
        "prompt = \"make a\"\n",
        "prompt = \"make a\"\napproval = \"before_merge\"\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.merge_state("a"), MergeState::AwaitingApproval);
    assert!(h.merges().is_empty());
    assert_eq!(h.state("b"), TaskState::Pending, "nothing builds on it yet");
    assert!(h.core.outcome().is_none(), "a gate waits for a human");
    h.request(Request::Approve {
        task: "a".into(),
        reason: Some("looks right".into()),
    })
    .expect("approve");
    assert_eq!(h.merges(), vec!["a".to_string()]);
    let approval = h.approvals().pop().expect("recorded");
    assert_eq!(approval.gate, Gate::BeforeMerge);
    assert_eq!(approval.decision, Verdict::Approved);
    assert_eq!(approval.by, "tester");

    // The same plan, rejected: a is rejected, b blocked.
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    h.request(Request::Reject {
        task: "a".into(),
        reason: Some("wrong approach".into()),
    })
    .expect("reject");
    assert_eq!(h.state("a"), TaskState::Rejected);
    assert!(h
        .row("a")
        .cause
        .as_deref()
        .unwrap_or("")
        .contains("wrong approach"));
    assert_eq!(h.state("b"), TaskState::Blocked);
    assert_eq!(h.approvals().pop().map(|a| a.gate), Some(Gate::BeforeMerge));
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(1));
}

#[test]
fn under_manual_the_gate_holds_dependents_until_it_is_approved() {
    let text = chain("manual").replace(
        "prompt = \"make a\"\n",
        "prompt = \"make a\"\napproval = \"before_merge\"\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.merge_state("a"), MergeState::AwaitingApproval);
    assert_eq!(h.state("b"), TaskState::Pending);
    h.request(Request::Approve {
        task: "a".into(),
        reason: None,
    })
    .expect("approve");
    assert_eq!(h.merge_state("a"), MergeState::Unmerged);
    assert!(
        h.merges().is_empty(),
        "manual: approved, still the operator's to merge"
    );
    assert_eq!(h.state("b"), TaskState::Running);
}

#[test]
fn approve_all_and_the_timeout_decide_merge_gates_too() {
    let text = one_task("merge = \"auto\"\napproval = \"before_merge\"\n");
    let mut opts = options();
    opts.approve_all = true;
    let mut h = start_with(&text, Stored::default(), opts, &[]);
    h.run_jobs();
    h.succeed("t");
    assert_eq!(h.merges(), vec!["t".to_string()]);

    let mut opts = options();
    opts.approval_timeout = Some(Duration::from_secs(30));
    let mut h = start_with(&text, Stored::default(), opts, &[]);
    h.run_jobs();
    h.succeed("t");
    h.advance(29_000);
    assert_eq!(h.merge_state("t"), MergeState::AwaitingApproval);
    h.advance(2_000);
    assert_eq!(h.state("t"), TaskState::Rejected);
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(3));
}

#[test]
fn a_conflict_blocks_auto_dependents_and_a_resolve_attempt_gets_the_files() {
    let text = chain("auto").replace(
        "prompt = \"make a\"",
        "prompt = \"make a; fix {conflicts}\"",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    h.merged(
        "a",
        MergeOutcome::Conflict {
            files: vec!["src/lib.rs".into(), "README".into()],
        },
    );
    assert_eq!(h.merge_state("a"), MergeState::Conflict);
    assert_eq!(h.row("a").conflicts, vec!["src/lib.rs", "README"]);
    assert_eq!(h.state("b"), TaskState::Blocked);
    assert!(h
        .row("b")
        .cause
        .as_deref()
        .unwrap_or("")
        .contains("conflict"));
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(1));

    h.request(Request::Resolve { task: "a".into() })
        .expect("resolve");
    assert_eq!(h.state("a"), TaskState::Running);
    let prepare = h.prepare_of("a").expect("worktree");
    assert_eq!(prepare.mode, StartMode::Resolve);
    let attempt = h.attempt("a");
    let mut wt = worktree("a");
    wt.conflicts = vec!["src/lib.rs".into()];
    h.input(Input::WorktreeReady {
        task: "a".into(),
        attempt,
        result: Ok(wt),
    });
    let spawn = h.spawns().pop().expect("spawned");
    assert_eq!(spawn.command[2], "make a; fix src/lib.rs");
    assert_eq!(
        h.row("a").next_start,
        StartMode::Resolve,
        "until the merge is made"
    );
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.row("a").next_start, StartMode::Continue);
    assert_eq!(h.merges(), vec!["a".to_string()], "tried again");
    h.merged("a", merged_as("m1"));
    assert_eq!(h.state("b"), TaskState::Running, "unblocked by the merge");
}

#[test]
fn a_resolve_prompt_without_the_placeholder_is_told_in_a_sentence() {
    let mut h = start(&one_task("merge = \"auto\"\n"));
    h.run_jobs();
    h.succeed("t");
    h.merged(
        "t",
        MergeOutcome::Conflict {
            files: vec!["a.txt".into()],
        },
    );
    assert!(matches!(
        h.request(Request::Resolve { task: "zz".into() }),
        Err(ActionError::UnknownTask(_))
    ));
    h.request(Request::Resolve { task: "t".into() })
        .expect("resolve");
    let attempt = h.attempt("t");
    let mut wt = worktree("t");
    wt.conflicts = vec!["a.txt".into()];
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt,
        result: Ok(wt),
    });
    let prompt = h.spawns().pop().expect("spawned").command[2].clone();
    assert!(prompt.starts_with("x\n\n"), "{prompt}");
    assert!(prompt.contains("conflicted in: a.txt"), "{prompt}");
    // Resolve is for conflicts only.
    h.run_jobs();
    h.succeed("t");
    assert!(matches!(
        h.request(Request::Resolve { task: "t".into() }),
        Err(ActionError::Refused(_))
    ));
}

#[test]
fn a_resolve_that_finds_no_conflict_left_needs_no_agent() {
    let mut h = start(&one_task("merge = \"auto\"\n"));
    h.run_jobs();
    h.succeed("t");
    h.merged(
        "t",
        MergeOutcome::Conflict {
            files: vec!["a.txt".into()],
        },
    );
    h.request(Request::Resolve { task: "t".into() })
        .expect("resolve");
    let attempt = h.attempt("t");
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt,
        result: Ok(worktree("t")),
    });
    assert!(h.spawns().is_empty());
    assert_eq!(h.state("t"), TaskState::Done);
    assert_eq!(h.merges(), vec!["t".to_string()]);
}

#[test]
fn local_changes_in_the_way_wait_and_are_tried_again() {
    let mut h = start(&one_task("merge = \"auto\"\n"));
    h.run_jobs();
    h.succeed("t");
    let in_the_way = MergeOutcome::LocalChanges {
        files: vec!["notes.txt".into()],
    };
    h.merged("t", in_the_way.clone());
    assert_eq!(h.merge_state("t"), MergeState::Waiting);
    let note = h.row("t").merge_note.clone().unwrap_or_default();
    assert!(note.contains("local changes in notes.txt"), "{note}");
    // Headless: the run gives the user a minute to commit before it ends.
    assert!(h.core.outcome().is_none());
    h.advance(1_000);
    assert!(h.merges().is_empty(), "not before the retry time");
    h.advance(1_500);
    assert_eq!(h.merges(), vec!["t".to_string()]);
    let events_before = h.log.len();
    h.merged("t", in_the_way);
    // The same files again: no new event, no new history row.
    assert!(!h.log[events_before..]
        .iter()
        .any(|e| matches!(e, Effect::Publish(Event::Merge { .. }))));
    h.advance(2_500);
    h.merged("t", merged_as("m1"));
    assert_eq!(h.merge_state("t"), MergeState::Merged);
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(0));
}

#[test]
fn a_headless_run_gives_up_on_local_changes_after_a_minute() {
    let mut h = start(&one_task("merge = \"auto\"\n"));
    h.run_jobs();
    h.succeed("t");
    let in_the_way = || MergeOutcome::LocalChanges {
        files: vec!["notes.txt".into()],
    };
    h.merged("t", in_the_way());
    // 28 rounds of 2.1 s: 58.8 s held so far.
    for _ in 0..28 {
        assert!(h.core.outcome().is_none(), "still giving the user time");
        h.advance(2_100);
        if !h.merges().is_empty() {
            h.merged("t", in_the_way());
        }
    }
    h.advance(2_100);
    if !h.merges().is_empty() {
        h.merged("t", in_the_way());
    }
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(1));
    assert_eq!(h.merge_state("t"), MergeState::Waiting);
}

#[test]
fn a_fresh_retry_starts_anew_but_never_on_merged_work() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.succeed("t");
    h.request(Request::Retry {
        task: "t".into(),
        fresh: true,
    })
    .expect("fresh retry of a done task");
    assert_eq!(h.state("t"), TaskState::Running);
    assert_eq!(h.prepare_of("t").map(|p| p.mode), Some(StartMode::Fresh));
    h.run_jobs();
    assert_eq!(h.row("t").next_start, StartMode::Continue);
    h.succeed("t");
    assert!(matches!(
        h.request(Request::Retry {
            task: "t".into(),
            fresh: false
        }),
        Err(ActionError::WrongState { .. })
    ));
    h.request(Request::Merge { task: "t".into() })
        .expect("merge");
    h.merged("t", merged_as("m1"));
    assert!(matches!(
        h.request(Request::Retry { task: "t".into(), fresh: true }),
        Err(ActionError::Refused(why)) if why.contains("merged")
    ));
}

#[test]
fn hooks_and_pushes_follow_done_merged_and_failed_tasks() {
    let mut config = config(&plan(
        "[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"auto\"\n\
         [[tasks]]\nid = \"f\"\nagent = \"sh\"\nprompt = \"x\"\nretries = 0\n",
    ));
    config.hooks.on_done = vec!["notify".into(), "{task} on {branch}".into()];
    config.hooks.on_merge = vec!["notify".into(), "{task} as {commit}".into()];
    config.hooks.on_fail = vec!["notify".into(), "{task}: {cause}".into()];
    config.project.push = PushMode::OnDone;
    let mut h = start_config(config, options());
    h.run_jobs();
    h.exit("f", 3);
    h.succeed("a");
    let hooks: Vec<(String, Vec<String>)> = h
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::RunHook { hook, argv, .. } => Some((hook.to_string(), argv.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(hooks[0].0, "on_fail");
    assert_eq!(hooks[0].1[1], "f: exit code 3 (failed 1 of 1 allowed)");
    assert_eq!(
        hooks[1],
        (
            "on_done".into(),
            vec!["notify".into(), "a on orch/a".into()]
        )
    );
    let pushes: Vec<String> = h
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::Push { refspec, .. } => Some(refspec.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        pushes,
        vec!["refs/heads/orch/a:refs/heads/orch/a".to_string()]
    );
    assert!(h.core.outcome().is_none(), "hooks and a push are under way");
    h.merged("a", merged_as("m1"));
    assert!(h.last.iter().any(|e| matches!(
        e,
        Effect::RunHook { hook: "on_merge", argv, .. } if argv[1] == "a as m1"
    )));
    for hook in ["on_fail", "on_done", "on_merge"] {
        h.input(Input::HookDone {
            hook,
            task: "a".into(),
            summary: "exit 0".into(),
        });
    }
    // A failed push is retried with backoff and never holds up the plan.
    h.input(Input::Pushed {
        task: "a".into(),
        what: "orch/a to origin".into(),
        result: Err("remote hung up".into()),
    });
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(1), "f failed");
    h.advance(1_000);
    assert!(!h.last.iter().any(|e| matches!(e, Effect::Push { .. })));
    h.advance(20 * 60 * 1000);
    assert!(h.last.iter().any(|e| matches!(e, Effect::Push { .. })));
    h.input(Input::Pushed {
        task: "a".into(),
        what: "orch/a to origin".into(),
        result: Ok(()),
    });
    assert!(h.row("a").pushed);
}

#[test]
fn a_one_shot_run_starts_nothing_and_ends_after_its_request() {
    let mut opts = options();
    opts.one_shot = true;
    opts.exit_when_settled = false;
    let mut stored = Stored::default();
    let mut done = stored_task("t", TaskState::Done, 1);
    done.merge_state = MergeState::Unmerged;
    stored.tasks.push(done);
    stored.tasks.push(stored_task("q", TaskState::Queued, 0));
    let text = plan(
        "[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"x\"\n\
         [[tasks]]\nid = \"q\"\nagent = \"sh\"\nprompt = \"x\"\n",
    );
    let mut h = start_with(&text, stored, opts, &[]);
    assert!(h.prepares().is_empty(), "no agent in a one-shot run");
    assert!(h.core.outcome().is_none(), "not before its request");
    h.request(Request::Merge { task: "t".into() })
        .expect("merge");
    assert!(h.core.outcome().is_none(), "its merge is under way");
    h.merged("t", merged_as("m1"));
    assert!(h.core.outcome().is_some());
    assert_eq!(h.state("q"), TaskState::Queued);
}

#[test]
fn a_skipped_dependency_is_not_built_on_nor_waited_for() {
    let mut h = start(&chain("auto"));
    let attempt = h.attempt("a");
    h.input(Input::WorktreeReady {
        task: "a".into(),
        attempt,
        result: Err("disk full".into()),
    });
    assert_eq!(h.state("a"), TaskState::NeedsReview);
    h.request(Request::Skip {
        task: "a".into(),
        reason: None,
    })
    .expect("skip");
    assert_eq!(h.state("b"), TaskState::Running);
    assert!(h.prepare_of("b").expect("b starts").deps.is_empty());
    h.run_jobs();
    h.succeed("b");
    assert_eq!(h.merges(), vec!["b".to_string()]);
}

#[test]
fn a_never_dependency_waits_for_what_it_was_built_on() {
    let text = plan(
        "[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"manual\"\n\
         [[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"never\"\ndepends_on = [\"a\"]\n\
         [[tasks]]\nid = \"c\"\nagent = \"sh\"\nprompt = \"x\"\nmerge = \"auto\"\ndepends_on = [\"b\"]\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    h.succeed("b");
    h.succeed("c");
    assert!(
        h.merges().is_empty(),
        "a's work is in c and a is not merged"
    );
    let note = h.row("c").merge_note.clone().unwrap_or_default();
    assert!(note.contains("dependency a"), "{note}");
    h.request(Request::Merge { task: "a".into() })
        .expect("merge a");
    h.merged("a", merged_as("m1"));
    assert_eq!(h.merges(), vec!["c".to_string()]);
}

#[test]
fn a_fresh_retry_starts_over_what_was_built_on_the_work() {
    let mut h = start(&chain("manual"));
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.state("b"), TaskState::Running);
    assert!(matches!(
        h.request(Request::Retry { task: "a".into(), fresh: true }),
        Err(ActionError::Refused(why)) if why.contains("b runs on a's work")
    ));
    h.succeed("b");
    h.request(Request::Retry {
        task: "a".into(),
        fresh: true,
    })
    .expect("fresh retry of a and what is built on it");
    assert_eq!(h.state("a"), TaskState::Running);
    assert_eq!(h.state("b"), TaskState::Pending, "waits for a again");
    assert_eq!(h.row("b").next_start, StartMode::Fresh);
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.prepare_of("b").map(|p| p.mode), Some(StartMode::Fresh));
    // Merged work cannot start over.
    h.run_jobs();
    h.succeed("b");
    h.request(Request::Merge { task: "a".into() })
        .expect("merge a");
    h.merged("a", merged_as("m1"));
    h.request(Request::Merge { task: "b".into() })
        .expect("merge b");
    h.merged("b", merged_as("m2"));
    assert!(matches!(
        h.request(Request::Retry {
            task: "a".into(),
            fresh: true
        }),
        Err(ActionError::Refused(_))
    ));
}

#[test]
fn skipping_a_task_puts_its_dependencies_in_its_place_and_restarts_what_it_built() {
    let text = plan(
        "[defaults]\nretries = 0\n\
         [[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n\
         [[tasks]]\nid = \"s\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"a\"]\n\
         [[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"s\"]\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    h.exit("s", 1);
    assert_eq!(h.state("t"), TaskState::Blocked);
    h.request(Request::Skip {
        task: "s".into(),
        reason: None,
    })
    .expect("skip s");
    assert_eq!(
        h.prepare_of("t").map(|p| p.deps),
        Some(vec!["a".to_string()])
    );
    h.run_jobs();
    h.succeed("t");
    // t waits for a's merge: its work is in t.
    h.request(Request::Merge { task: "t".into() })
        .expect("merge t");
    let note = h.row("t").merge_note.clone().unwrap_or_default();
    assert!(note.contains("dependency a"), "{note}");
}

#[test]
fn a_failed_resolve_attempt_is_retried_as_a_resolve() {
    let mut h = start(&one_task("merge = \"auto\"\nretries = 1\n"));
    h.run_jobs();
    h.succeed("t");
    h.merged(
        "t",
        MergeOutcome::Conflict {
            files: vec!["a.txt".into()],
        },
    );
    h.request(Request::Resolve { task: "t".into() })
        .expect("resolve");
    let attempt = h.attempt("t");
    let mut wt = worktree("t");
    wt.conflicts = vec!["a.txt".into()];
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt,
        result: Ok(wt.clone()),
    });
    h.run_jobs();
    h.exit("t", 1);
    assert_eq!(h.state("t"), TaskState::Retrying);
    h.advance(60_000);
    assert_eq!(h.prepare_of("t").map(|p| p.mode), Some(StartMode::Resolve));
    let attempt = h.attempt("t");
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt,
        result: Ok(wt),
    });
    let prompt = h.spawns().pop().expect("spawned").command[2].clone();
    assert!(prompt.contains("conflicted in: a.txt"), "{prompt}");
    h.run_jobs();
    h.succeed("t");
    assert_eq!(h.row("t").next_start, StartMode::Continue);
}

#[test]
fn a_base_that_cannot_move_now_waits_and_says_why() {
    let mut h = start(&one_task("merge = \"auto\"\n"));
    h.run_jobs();
    h.succeed("t");
    h.merged(
        "t",
        MergeOutcome::Busy {
            reason: "a rebase of main is under way at /repo".into(),
        },
    );
    assert_eq!(h.merge_state("t"), MergeState::Waiting);
    let note = h.row("t").merge_note.clone().unwrap_or_default();
    assert!(note.contains("rebase of main"), "{note}");
    h.advance(2_500);
    assert_eq!(h.merges(), vec!["t".to_string()]);
}

#[test]
fn a_merge_gate_that_timed_out_asks_again_without_rerunning_the_agent() {
    let mut stored = Stored::default();
    let mut row = stored_task("t", TaskState::Rejected, 1);
    row.cause = Some("merge approval timed out".into());
    stored.tasks.push(row);
    stored.last_approvals.insert(
        "t".into(),
        ApprovalRow {
            task_id: "t".into(),
            gate: Gate::BeforeMerge,
            decision: Verdict::Rejected,
            by: "timeout".into(),
            reason: Some("approval timed out".into()),
            at: STORED_AT,
        },
    );
    let text = one_task("merge = \"auto\"\napproval = \"before_merge\"\n");
    let h = start_with(&text, stored, options(), &[]);
    assert_eq!(h.state("t"), TaskState::Done);
    assert_eq!(h.merge_state("t"), MergeState::AwaitingApproval);
    assert!(h.prepare_of("t").is_none(), "the agent does not run again");
}

#[test]
fn skipping_work_that_others_built_on_starts_them_over_without_it() {
    let text = chain("manual").replace("[defaults]\n", "[defaults]\nretries = 0\n");
    let mut h = start(&text);
    h.run_jobs();
    h.succeed("a");
    h.succeed("b");
    h.request(Request::Retry {
        task: "a".into(),
        fresh: true,
    })
    .expect("fresh");
    h.run_jobs();
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::NeedsReview);
    assert_eq!(h.state("b"), TaskState::Blocked);
    h.request(Request::Skip {
        task: "a".into(),
        reason: None,
    })
    .expect("skip a");
    assert_eq!(h.state("b"), TaskState::Running);
    let prepare = h.prepare_of("b").expect("b starts over");
    assert_eq!(prepare.mode, StartMode::Fresh);
    assert!(prepare.deps.is_empty(), "nothing of a");
}

/// A server's options: the plan does not end the run when it settles.
fn server() -> CoreOptions {
    CoreOptions {
        exit_when_settled: false,
        ..options()
    }
}

#[test]
fn a_server_is_settled_only_once_gates_held_merges_and_pushes_are_done() {
    // A done task at its before_merge gate is owed its decision.
    let text = one_task("merge = \"auto\"\napproval = \"before_merge\"\n");
    let mut h = start_with(&text, Stored::default(), server(), &[]);
    assert!(!h.core.settled(), "a task to run");
    h.run_jobs();
    h.succeed("t");
    assert_eq!(h.merge_state("t"), MergeState::AwaitingApproval);
    assert!(h.core.tasks.all_settled() && h.core.live.is_empty());
    assert!(!h.core.settled(), "the gate waits for a decision");
    h.request(Request::Approve {
        task: "t".into(),
        reason: None,
    })
    .expect("approve");
    assert!(!h.core.settled(), "the merge job runs");
    // Held up by local changes: owed however long it waits (a headless
    // run gives up after a minute; a server keeps trying).
    h.merged(
        "t",
        MergeOutcome::LocalChanges {
            files: vec!["notes.txt".into()],
        },
    );
    for _ in 0..40 {
        h.advance(2_100);
        assert!(!h.core.settled(), "the held merge is still owed");
        if !h.merges().is_empty() {
            h.merged(
                "t",
                MergeOutcome::LocalChanges {
                    files: vec!["notes.txt".into()],
                },
            );
        }
    }
    h.advance(2_100);
    assert_eq!(h.merges(), vec!["t".to_string()]);
    h.merged("t", merged_as("m1"));
    assert!(h.core.settled());

    // A push waiting for its retry is owed; one given up for the run is not.
    let mut config = config(&one_task(""));
    config.project.push = PushMode::OnDone;
    let mut h = start_config(config, server());
    h.run_jobs();
    h.succeed("t");
    let mut failures = 0;
    while h.last.iter().any(|e| matches!(e, Effect::Push { .. })) {
        assert!(!h.core.settled(), "a push is under way");
        h.input(Input::Pushed {
            task: "t".into(),
            what: "orch/t to origin".into(),
            result: Err("remote hung up".into()),
        });
        failures += 1;
        if failures <= crate::ops::push::PUSH_RETRIES {
            assert!(!h.core.settled(), "a retry is due");
        }
        h.advance(30 * 60 * 1000);
    }
    assert_eq!(failures, crate::ops::push::PUSH_RETRIES + 1);
    assert!(h.core.settled(), "given up for this run");
}

#[test]
fn a_push_given_up_for_the_run_does_not_hold_the_run_open() {
    let mut config = config(&one_task(""));
    config.project.push = PushMode::OnDone;
    let mut h = start_config(config, options());
    h.run_jobs();
    h.succeed("t");
    for _ in 0..=crate::ops::push::PUSH_RETRIES {
        assert!(h.last.iter().any(|e| matches!(e, Effect::Push { .. })));
        assert!(h.core.outcome().is_none(), "the push is under way");
        h.input(Input::Pushed {
            task: "t".into(),
            what: "orch/t to origin".into(),
            result: Err("remote hung up".into()),
        });
        h.advance(30 * 60 * 1000);
    }
    assert!(!h.last.iter().any(|e| matches!(e, Effect::Push { .. })));
    assert_eq!(h.core.outcome().map(|o| o.exit_code), Some(0));
}

#[test]
fn stopping_a_server_interrupts_the_run_only_while_something_is_owed() {
    // Settled: the run is over and its status is its tasks' and merges'.
    let mut h = start_with(
        &one_task("merge = \"auto\"\n"),
        Stored::default(),
        server(),
        &[],
    );
    h.run_jobs();
    h.succeed("t");
    h.merged(
        "t",
        MergeOutcome::Conflict {
            files: vec!["README.md".into()],
        },
    );
    assert!(h.core.settled(), "a conflict waits for a person");
    assert!(h.core.outcome().is_none(), "a server runs until stopped");
    h.request(Request::Shutdown { stop_agents: true })
        .expect("stop");
    let outcome = h.core.outcome().expect("over");
    assert!(!outcome.interrupted);
    assert_eq!(outcome.exit_code, 1, "the merge conflicted");

    // Owed: a done task at its merge gate. Stopping interrupts the run.
    let text = one_task("merge = \"auto\"\napproval = \"before_merge\"\n");
    let mut h = start_with(&text, Stored::default(), server(), &[]);
    h.run_jobs();
    h.succeed("t");
    h.request(Request::Shutdown { stop_agents: true })
        .expect("stop");
    let outcome = h.core.outcome().expect("over");
    assert!(outcome.interrupted);
    assert_eq!(outcome.exit_code, 130);
}
