//! The core driven by scripted inputs and a fake clock: no processes, no
//! repositories, no sleeps. Each test plays the driver's part by hand.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::agent::backend::Started;
use crate::agent::pty::AgentExit;
use crate::agent::sandbox::{Level as Confinement, SandboxRequest};
use crate::config::SandboxMode;
use crate::engine::effect::SpawnOrder;
use crate::engine::message::{HealthSample, Heard, SpawnFailure};
use crate::git::{Known, Worktree};
use crate::store::{AttemptStatus, Gate, MergeState, Verdict};

/// Programs that are "installed" unless listed as missing.
struct FakeLookup {
    missing: HashSet<String>,
}

impl ProgramLookup for FakeLookup {
    fn found(&self, program: &str, _cwd: &Path, _path: Option<&OsStr>) -> bool {
        !self.missing.contains(program)
    }
}

const AGENTS: &str = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n";

fn config(text: &str) -> Config {
    crate::config::parse(text, Path::new("/repo/orch.toml")).expect("valid config")
}

/// The worktree a prepare job reports for `task`.
fn worktree(task: &str) -> Worktree {
    Worktree {
        path: PathBuf::from(format!("/repo/.orch/worktrees/{task}")),
        branch: format!("orch/{task}"),
        created: true,
        notes: Vec::new(),
        conflicts: Vec::new(),
    }
}

/// A task as an earlier run stored it.
fn stored_task(id: &str, state: TaskState, attempts: u32) -> TaskRow {
    let mut row = TaskRow::pending(id, id, "sh", STORED_AT);
    row.state = state;
    row.attempts = attempts;
    row
}

/// An attempt a dead orch left `running`, its agent `pid`.
fn cut_attempt(task: &str, attempt: u32, pid: u32) -> AttemptRow {
    AttemptRow {
        task_id: task.into(),
        attempt,
        agent: "sh".into(),
        status: AttemptStatus::Running,
        started_at: STORED_AT,
        ended_at: None,
        pid: Some(pid),
        exit_code: None,
        signal: None,
        cause: None,
        log_path: None,
        commit_id: None,
        progress: None,
        note: None,
        activity: None,
        session_id: None,
        resumed: None,
        sandbox: None,
    }
}

/// An attempt whose agent exited 0 before a dead orch committed its work.
fn uncommitted_success(task: &str, attempt: u32) -> AttemptRow {
    AttemptRow {
        status: AttemptStatus::Succeeded,
        ended_at: Some(STORED_AT + 5),
        exit_code: Some(0),
        ..cut_attempt(task, attempt, 99)
    }
}

/// When the rows of an earlier run were written.
const STORED_AT: i64 = 1_600_000_000_000;

struct Harness {
    core: Core,
    now: Now,
    /// Every effect so far, in order.
    log: Vec<Effect>,
    /// Effects of the latest call.
    last: Vec<Effect>,
    next_pid: u32,
}

fn options() -> CoreOptions {
    CoreOptions {
        approve_all: false,
        approval_timeout: None,
        exit_when_settled: true,
        one_shot: false,
        stop_grace: Duration::from_secs(5),
        headless: true,
        orch_bin: "/bin/orch".into(),
    }
}

fn start_with(text: &str, stored: Stored, opts: CoreOptions, missing: &[&str]) -> Harness {
    start_full(config(text), stored, opts, missing)
}

fn start_config(config: Config, opts: CoreOptions) -> Harness {
    start_full(config, Stored::default(), opts, &[])
}

fn start_full(config: Config, stored: Stored, opts: CoreOptions, missing: &[&str]) -> Harness {
    let now = Now {
        mono: Instant::now(),
        wall_ms: 1_700_000_000_000,
    };
    let setup = Setup {
        config,
        base_branch: "main".into(),
        run_id: 7,
        opts,
        lookup: Box::new(FakeLookup {
            missing: missing.iter().map(|m| m.to_string()).collect(),
        }),
        seed: 42,
    };
    let (core, effects) = Core::start(setup, stored, now);
    let mut h = Harness {
        core,
        now,
        log: effects.clone(),
        last: effects,
        next_pid: 1000,
    };
    h.tick();
    h
}

fn start(text: &str) -> Harness {
    start_with(text, Stored::default(), options(), &[])
}

impl Harness {
    fn record(&mut self, effects: Vec<Effect>) {
        self.log.extend(effects.iter().cloned());
        self.last = effects;
    }

    /// An input and then a tick, as the driver does; `last` holds the
    /// effects of both.
    fn input(&mut self, input: Input) {
        let mut effects = self.core.input(input, self.now).expect("core");
        effects.extend(
            self.core
                .input(Input::Tick { heard: Vec::new() }, self.now)
                .expect("core"),
        );
        self.record(effects);
    }

    /// A request of the user and then a tick, as the driver does.
    fn request(&mut self, request: Request) -> Result<(), ActionError> {
        self.answer_as(Actor::User("tester".into()), request)
            .map(drop)
    }

    /// A request of `actor` and then a tick, with what it answers.
    fn answer_as(
        &mut self,
        actor: Actor,
        request: Request,
    ) -> Result<crate::engine::message::Answer, ActionError> {
        let (answer, mut effects) = self.core.answer(actor, request, self.now).expect("core");
        effects.extend(
            self.core
                .input(Input::Tick { heard: Vec::new() }, self.now)
                .expect("core"),
        );
        self.record(effects);
        answer
    }

    fn tick(&mut self) {
        let effects = self
            .core
            .input(Input::Tick { heard: Vec::new() }, self.now)
            .expect("core");
        self.record(effects);
    }

    /// Move both clocks forward, then tick.
    fn advance(&mut self, ms: u64) {
        self.now = self.now.plus_ms(ms);
        self.tick();
    }

    fn state(&self, id: &str) -> TaskState {
        self.core.tasks.state(id).expect("task")
    }

    fn row(&self, id: &str) -> &TaskRow {
        self.core.tasks.get(id).expect("task")
    }

    fn attempt(&self, id: &str) -> u32 {
        self.core.live.get(id).map(|l| l.row.attempt).expect("live")
    }

    /// The worktree jobs and spawns the latest call asked for.
    fn prepares(&self) -> Vec<(String, u32, Known)> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::PrepareWorktree { attempt, prepare } => {
                    Some((prepare.task.clone(), *attempt, prepare.known))
                }
                _ => None,
            })
            .collect()
    }

    fn spawns(&self) -> Vec<SpawnOrder> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::Spawn(order) => Some(order.clone()),
                _ => None,
            })
            .collect()
    }

    fn stops(&self) -> Vec<String> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::Stop { task, .. } => Some(task.clone()),
                _ => None,
            })
            .collect()
    }

    /// Finish every worktree job and spawn every agent that was asked for,
    /// until nothing more is asked.
    fn run_jobs(&mut self) {
        loop {
            let prepares = self.prepares();
            let spawns = self.spawns();
            if prepares.is_empty() && spawns.is_empty() {
                return;
            }
            let mut next = Vec::new();
            for (task, attempt, _) in prepares {
                self.input(Input::WorktreeReady {
                    task: task.clone(),
                    attempt,
                    result: Ok(worktree(&task)),
                });
                next.extend(self.last.clone());
            }
            for order in spawns {
                self.next_pid += 1;
                self.input(Input::Spawned {
                    task: order.task,
                    attempt: order.attempt,
                    result: Ok(Started::unconfined(self.next_pid)),
                });
                next.extend(self.last.clone());
            }
            self.last = next;
        }
    }

    fn exit(&mut self, id: &str, code: i32) {
        let attempt = self.attempt(id);
        self.input(Input::AgentExited {
            task: id.into(),
            attempt,
            exit: AgentExit::Code(code),
        });
    }

    /// Exit 0 and let the commit job succeed.
    fn succeed(&mut self, id: &str) {
        self.exit(id, 0);
        let attempt = self.attempt(id);
        self.input(Input::Committed {
            task: id.into(),
            attempt,
            result: Ok(Some("abc123".into())),
        });
        self.run_jobs();
    }

    fn persisted_attempts(&self, id: &str) -> Vec<AttemptRow> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Attempt(a)) if a.task_id == id => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    fn approvals(&self) -> Vec<ApprovalRow> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Approval(a)) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
}

fn one_task(prompt_extra: &str) -> String {
    format!("{AGENTS}[[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"x\"\n{prompt_extra}")
}

#[test]
fn a_task_runs_through_worktree_spawn_exit_and_commit() {
    let mut h = start(&one_task(""));
    assert_eq!(h.state("t"), TaskState::Running);
    assert_eq!(h.prepares(), vec![("t".to_string(), 1, Known::No)]);
    h.run_jobs();
    let attempts = h.persisted_attempts("t");
    assert_eq!(attempts.last().and_then(|a| a.pid), Some(1001));
    assert!(h.log.iter().any(|e| matches!(
        e,
        Effect::Publish(Event::AgentStarted { task, attempt: 1, .. }) if task == "t"
    )));
    h.succeed("t");
    assert_eq!(h.state("t"), TaskState::Done);
    assert_eq!(h.row("t").merge_state, MergeState::Unmerged);
    let last = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(last.status, AttemptStatus::Succeeded);
    assert_eq!(last.commit_id.as_deref(), Some("abc123"));
    assert!(h.core.outcome().is_some_and(|o| o.exit_code == 0));
}

#[test]
fn every_change_is_persisted_before_it_is_published() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.succeed("t");
    // Within each call's effects, a task event follows the write of its row.
    let mut written: Vec<(String, TaskState)> = Vec::new();
    for effect in &h.log {
        match effect {
            Effect::Persist(Write::Task(row)) => written.push((row.id.clone(), row.state)),
            Effect::Publish(Event::Task { row, .. }) => assert!(
                written.contains(&(row.id.clone(), row.state)),
                "{} {} published before it was written",
                row.id,
                row.state
            ),
            _ => {}
        }
    }
}

#[test]
fn the_exit_is_recorded_at_once_while_the_commit_runs() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.exit("t", 0);
    // No commit result yet: the attempt is already stored as succeeded,
    // with its exit code and end time, and the commit was asked for.
    let stored = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(stored.status, AttemptStatus::Succeeded);
    assert_eq!(stored.exit_code, Some(0));
    assert_eq!(stored.ended_at, Some(h.now.wall_ms));
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Commit { task, .. } if task == "t")));
    assert_eq!(h.state("t"), TaskState::Running);
    assert!(h.core.outcome().is_none(), "the run waits for the commit");
}

#[test]
fn a_commit_that_fails_needs_review_without_retry() {
    let mut h = start(&one_task("retries = 3\n"));
    h.run_jobs();
    h.exit("t", 0);
    h.input(Input::Committed {
        task: "t".into(),
        attempt: 1,
        result: Err("disk full".into()),
    });
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    assert!(h
        .row("t")
        .cause
        .as_deref()
        .is_some_and(|c| c.contains("could not be committed: disk full")));
}

#[test]
fn failures_retry_with_doubling_backoff_then_need_review() {
    let mut h = start(&one_task(
        "retries = 2\nbackoff = \"10s\"\nbackoff_max = \"1m\"\n",
    ));
    h.run_jobs();
    h.exit("t", 3);
    assert_eq!(h.state("t"), TaskState::Retrying);
    let first_delay = h.row("t").retry_at.expect("retry_at") - h.now.wall_ms;
    assert!((10_000..11_000).contains(&first_delay), "{first_delay}");
    // Not before the backoff has elapsed.
    h.advance(9_000);
    assert_eq!(h.state("t"), TaskState::Retrying);
    assert!(h.core.next_wake(h.now) <= h.now.mono + Duration::from_millis(2_000));
    h.advance(2_000);
    assert_eq!(h.state("t"), TaskState::Running);
    h.run_jobs();
    assert_eq!(h.attempt("t"), 2);
    h.exit("t", 3);
    let second_delay = h.row("t").retry_at.expect("retry_at") - h.now.wall_ms;
    assert!((20_000..22_000).contains(&second_delay), "{second_delay}");
    h.advance(22_000);
    h.run_jobs();
    h.exit("t", 3);
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    assert_eq!(
        h.row("t").cause.as_deref(),
        Some("exit code 3 (failed 3 of 3 allowed)")
    );
    assert!(h.core.outcome().is_some_and(|o| o.exit_code == 1));
}

#[test]
fn an_exit_by_signal_number_through_a_shell_names_the_signal() {
    let mut h = start(&one_task("retries = 0\n"));
    h.run_jobs();
    h.exit("t", 139);
    let cause = h.row("t").cause.clone().unwrap_or_default();
    assert!(cause.starts_with("exit code 139 (128+11"), "{cause}");
}

#[test]
fn a_timeout_stops_the_agent_and_counts_as_a_failure() {
    let mut h = start(&one_task(
        "retries = 0\ntimeout = \"30s\"\nheartbeat_stall = \"10m\"\n",
    ));
    h.run_jobs();
    h.advance(29_000);
    assert!(h.stops().is_empty());
    h.advance(1_000);
    assert_eq!(h.stops(), vec!["t".to_string()]);
    // Asked once only.
    h.advance(1_000);
    assert!(h.stops().is_empty());
    h.input(Input::AgentExited {
        task: "t".into(),
        attempt: 1,
        exit: AgentExit::Signal(15),
    });
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    assert!(h
        .row("t")
        .cause
        .as_deref()
        .is_some_and(|c| c.starts_with("timed out after 30s")));
}

#[test]
fn silence_warns_then_stalls_and_any_sign_of_life_resets_it() {
    let text = one_task("retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\n");
    let mut h = start(&text);
    h.run_jobs();
    let sample = || HealthSample {
        task: "t".into(),
        attempt: 1,
        pid: 1001,
        cpu: 1.0,
        rss: 1 << 20,
        procs: 1,
    };
    h.now = h.now.plus_ms(12_000);
    let samples = vec![sample()];
    h.input(Input::Health {
        samples,
        heard: Vec::new(),
    });
    let levels: Vec<Level> = h
        .last
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(Event::Health(v)) => Some(v.heartbeat),
            _ => None,
        })
        .collect();
    assert_eq!(levels, vec![Level::Warn]);
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Persist(Write::Sample(s)) if s.task_id == "t")));
    // Output at 15 s: the stall clock starts again from there.
    let heard_at = h.now.mono + Duration::from_secs(3);
    h.now = h.now.plus_ms(3_000);
    h.input(Input::Tick {
        heard: vec![Heard {
            task: "t".into(),
            attempt: 1,
            at: Some(heard_at),
        }],
    });
    h.advance(19_000);
    assert!(h.stops().is_empty(), "heard 19 s ago, stall is 20 s");
    h.advance(1_000);
    assert_eq!(h.stops(), vec!["t".to_string()]);
    h.exit("t", 143);
    assert!(h
        .row("t")
        .cause
        .as_deref()
        .is_some_and(|c| c.starts_with("stalled: no output for 20s")));
}

#[test]
fn a_heartbeat_level_that_moves_between_samples_is_published_with_the_last_sample() {
    // A quiet agent is sampled only every few seconds: the warning must
    // not wait for its next sample.
    let text = one_task("heartbeat_warn = \"10s\"\nheartbeat_stall = \"60s\"\n");
    let mut h = start(&text);
    h.run_jobs();
    h.now = h.now.plus_ms(2_000);
    h.input(Input::Health {
        samples: vec![HealthSample {
            task: "t".into(),
            attempt: 1,
            pid: 1001,
            cpu: 0.0,
            rss: 7 << 20,
            procs: 2,
        }],
        heard: Vec::new(),
    });
    let published = |h: &Harness| -> Vec<(Level, u64)> {
        h.last
            .iter()
            .filter_map(|e| match e {
                Effect::Publish(Event::Health(v)) => Some((v.heartbeat, v.sample.rss)),
                _ => None,
            })
            .collect()
    };
    assert_eq!(published(&h), vec![(Level::Ok, 7 << 20)]);
    h.advance(5_000);
    assert!(published(&h).is_empty(), "nothing moved at 7 s");
    h.advance(4_000);
    assert_eq!(
        published(&h),
        vec![(Level::Warn, 7 << 20)],
        "warned at 11 s"
    );
    h.advance(1_000);
    assert!(published(&h).is_empty(), "said once");
}

#[test]
fn approvals_gate_the_start_and_record_the_actor() {
    let text = format!(
        "{AGENTS}[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\nrisk = \"high\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\napproval = \"before_start\"\n"
    );
    let mut h = start(&text);
    assert_eq!(h.state("a"), TaskState::AwaitingApproval);
    assert_eq!(h.state("b"), TaskState::AwaitingApproval);
    let refused = h.request(Request::Retry {
        task: "a".into(),
        fresh: false,
    });
    assert!(matches!(refused, Err(ActionError::WrongState { .. })));
    assert_eq!(
        h.request(Request::Approve {
            task: "zz".into(),
            reason: None
        }),
        Err(ActionError::UnknownTask("zz".into()))
    );
    h.request(Request::Approve {
        task: "a".into(),
        reason: Some("looked fine".into()),
    })
    .expect("approve");
    assert_eq!(h.state("a"), TaskState::Running);
    h.request(Request::Reject {
        task: "b".into(),
        reason: Some("not today".into()),
    })
    .expect("reject");
    assert_eq!(h.state("b"), TaskState::Rejected);
    assert_eq!(
        h.row("b").cause.as_deref(),
        Some("rejected by tester: not today")
    );
    let approvals = h.approvals();
    assert_eq!(approvals.len(), 2);
    assert_eq!(
        (
            approvals[0].gate,
            approvals[0].decision,
            approvals[0].by.as_str()
        ),
        (Gate::BeforeStart, Verdict::Approved, "tester")
    );
    assert_eq!(approvals[1].decision, Verdict::Rejected);
    // A retry of a rejected task asks for approval again.
    h.request(Request::Retry {
        task: "b".into(),
        fresh: false,
    })
    .expect("retry");
    assert_eq!(h.state("b"), TaskState::AwaitingApproval);
}

#[test]
fn approve_all_is_recorded_as_the_flag() {
    let opts = CoreOptions {
        approve_all: true,
        ..options()
    };
    let h = start_with(
        &one_task("risk = \"critical\"\n"),
        Stored::default(),
        opts,
        &[],
    );
    assert_eq!(h.state("t"), TaskState::Running);
    assert_eq!(h.approvals()[0].by, "--approve-all");
}

#[test]
fn an_approval_timeout_rejects_and_the_next_run_asks_again() {
    let opts = CoreOptions {
        approval_timeout: Some(Duration::from_secs(60)),
        ..options()
    };
    let text = one_task("approval = \"before_start\"\n");
    let mut h = start_with(&text, Stored::default(), opts.clone(), &[]);
    assert_eq!(h.state("t"), TaskState::AwaitingApproval);
    assert_eq!(
        h.core.next_wake(h.now),
        h.now.mono + Duration::from_secs(60)
    );
    h.advance(59_000);
    assert_eq!(h.state("t"), TaskState::AwaitingApproval);
    h.advance(1_000);
    assert_eq!(h.state("t"), TaskState::Rejected);
    assert_eq!(h.row("t").cause.as_deref(), Some("approval timed out"));
    let outcome = h.core.outcome().expect("settled");
    assert!(outcome.approval_gave_up);

    // The next run: the timeout was not a person's decision, so it asks again.
    let rejection = h.approvals().pop().expect("rejection");
    assert_eq!(Actor::from_stored(&rejection.by), Actor::Timeout);
    let stored = Stored {
        tasks: vec![h.row("t").clone()],
        last_approvals: [("t".to_string(), rejection)].into(),
        ..Stored::default()
    };
    let next = start_with(&text, stored, opts.clone(), &[]);
    assert_eq!(next.state("t"), TaskState::AwaitingApproval);

    // A person's rejection stays.
    let mut by_person = h.approvals().pop().expect("rejection");
    by_person.by = "alice".into();
    let stored = Stored {
        tasks: vec![h.row("t").clone()],
        last_approvals: [("t".to_string(), by_person)].into(),
        ..Stored::default()
    };
    let next = start_with(&text, stored, opts, &[]);
    assert_eq!(next.state("t"), TaskState::Rejected);
}

#[test]
fn a_singleton_agent_runs_one_at_a_time_without_holding_up_others() {
    let text = "[agents.solo]\ncommand = [\"solo\", \"{prompt}\"]\nmax_instances = 1\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n[project]\nmax_parallel = 3\n[[tasks]]\nid = \"a\"\nagent = \"solo\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"solo\"\nprompt = \"x\"\n[[tasks]]\nid = \"c\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"d\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"e\"\nagent = \"sh\"\nprompt = \"x\"\n";
    let mut h = start(text);
    let running: Vec<_> = ["a", "b", "c", "d", "e"]
        .into_iter()
        .filter(|id| h.state(id) == TaskState::Running)
        .collect();
    assert_eq!(running, vec!["a", "c", "d"], "max_parallel 3, one solo");
    h.run_jobs();
    h.succeed("c");
    assert_eq!(h.state("b"), TaskState::Queued, "solo is still busy");
    assert_eq!(h.state("e"), TaskState::Running);
    h.run_jobs();
    h.succeed("a");
    assert_eq!(h.state("b"), TaskState::Running);
}

#[test]
fn a_missing_agent_falls_back_and_the_limits_follow_the_fallback() {
    let text = "[agents.claude]\ncommand = [\"claude\", \"{prompt}\"]\nfallback = \"sh\"\n[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\nmax_instances = 1\n[[tasks]]\nid = \"a\"\nagent = \"claude\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\n";
    let mut h = start_with(text, Stored::default(), options(), &["claude"]);
    assert_eq!(h.state("a"), TaskState::Running);
    assert_eq!(
        h.state("b"),
        TaskState::Queued,
        "the fallback sh is the singleton"
    );
    let why = h.log.iter().find_map(|e| match e {
        Effect::Publish(Event::Task { row, why, .. })
            if row.id == "a" && row.state == TaskState::Running =>
        {
            why.clone()
        }
        _ => None,
    });
    assert_eq!(
        why.as_deref(),
        Some("agent sh (fallback: claude is not installed)")
    );
    h.run_jobs();
    let attempts = h.persisted_attempts("a");
    assert_eq!(attempts.last().map(|a| a.agent.as_str()), Some("sh"));
    // A view that connects later learns it from the snapshot.
    let ran = h.core.snapshot().ran;
    assert!(
        ran.contains(&("a".to_string(), "sh".to_string())),
        "{ran:?}"
    );
}

#[test]
fn a_missing_agent_without_fallback_needs_review_at_once() {
    let text = "[agents.claude]\ncommand = [\"claude\", \"{prompt}\"]\n[[tasks]]\nid = \"t\"\nagent = \"claude\"\nprompt = \"x\"\nretries = 5\n";
    let mut h = start_with(text, Stored::default(), options(), &["claude"]);
    h.run_jobs();
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    assert!(h
        .row("t")
        .cause
        .as_deref()
        .is_some_and(|c| c.starts_with("command not found: \"claude\"")));
}

#[test]
fn a_confined_agent_is_asked_for_with_its_paths_and_its_level_is_recorded() {
    let text = "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\nsandbox = \"worktree\"\n\
                writable = [\"/var/cache/x\", \"cache\"]\n\
                [agents.free]\ncommand = [\"free\"]\n\
                [[tasks]]\nid = \"t\"\nagent = \"sh\"\n[[tasks]]\nid = \"u\"\nagent = \"free\"\n";
    let mut h = start(text);
    for id in ["t", "u"] {
        h.input(Input::WorktreeReady {
            task: id.into(),
            attempt: 1,
            result: Ok(worktree(id)),
        });
        let spawns = h.spawns();
        let expected = (id == "t").then(|| SandboxRequest {
            mode: SandboxMode::Worktree,
            writable: vec!["/var/cache/x".into(), "/repo/cache".into()],
            repo: "/repo".into(),
            state_dir: "/repo/.orch".into(),
            branch: "orch/t".into(),
        });
        assert_eq!(spawns[0].sandbox, expected, "{id}");
    }
    h.input(Input::Spawned {
        task: "t".into(),
        attempt: 1,
        result: Ok(Started {
            pid: 42,
            sandbox: Confinement::Worktree,
            notes: vec!["writable path /var/cache/x does not exist: not granted".into()],
        }),
    });
    h.input(Input::Spawned {
        task: "u".into(),
        attempt: 1,
        result: Ok(Started::unconfined(43)),
    });
    let last = |id: &str| h.persisted_attempts(id).pop().expect("attempt row");
    assert_eq!(last("t").sandbox.as_deref(), Some("worktree"));
    assert_eq!(last("u").sandbox.as_deref(), Some("none"));
    assert!(h.log.iter().any(|e| matches!(
        e,
        Effect::Persist(Write::Event(ev)) if ev.kind == "sandbox"
            && ev.task_id.as_deref() == Some("t")
            && ev.cause.as_deref().is_some_and(|c| c.contains("/var/cache/x"))
    )));
}

#[test]
fn spawn_and_worktree_failures_follow_their_retry_rules() {
    let spawn_fails = |cause: &str, retryable: bool| {
        let mut h = start(&one_task("retries = 1\n"));
        h.input(Input::WorktreeReady {
            task: "t".into(),
            attempt: 1,
            result: Ok(worktree("t")),
        });
        h.input(Input::Spawned {
            task: "t".into(),
            attempt: 1,
            result: Err(SpawnFailure {
                cause: cause.into(),
                retryable,
            }),
        });
        h
    };
    let h = spawn_fails("fork failed", true);
    assert_eq!(h.state("t"), TaskState::Retrying);
    // A sandbox the kernel cannot give: no agent ran, so no level either.
    let h = spawn_fails("sandbox: this kernel has no Landlock", false);
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    let row = h.persisted_attempts("t").pop().expect("attempt row");
    assert_eq!(row.sandbox, None);
    assert_eq!(
        row.cause.as_deref(),
        Some("sandbox: this kernel has no Landlock")
    );

    let mut h = start(&one_task("retries = 1\n"));
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt: 1,
        result: Err("a file is in the way".into()),
    });
    assert_eq!(
        h.state("t"),
        TaskState::NeedsReview,
        "waiting does not fix it"
    );
    assert_eq!(
        h.row("t").cause.as_deref(),
        Some("worktree: a file is in the way")
    );
}

#[test]
fn a_blocked_dependent_unblocks_when_its_dependency_is_retried_or_skipped() {
    let text = format!(
        "{AGENTS}[defaults]\nretries = 0\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"a\"]\n[[tasks]]\nid = \"c\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"b\"]\n"
    );
    let mut h = start(&text);
    assert_eq!(h.state("b"), TaskState::Pending);
    h.run_jobs();
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::NeedsReview);
    assert_eq!(h.state("b"), TaskState::Blocked);
    assert_eq!(h.state("c"), TaskState::Blocked);
    assert_eq!(
        h.row("b").cause.as_deref(),
        Some("dependency a is needs_review")
    );
    h.request(Request::Retry {
        task: "a".into(),
        fresh: false,
    })
    .expect("retry");
    assert_eq!(h.state("b"), TaskState::Pending);
    assert_eq!(h.state("c"), TaskState::Pending);
    h.run_jobs();
    h.exit("a", 1);
    assert_eq!(h.state("c"), TaskState::Blocked);
    h.request(Request::Skip {
        task: "a".into(),
        reason: Some("done by hand".into()),
    })
    .expect("skip");
    assert_eq!(h.state("a"), TaskState::Done);
    assert_eq!(
        h.row("a").cause.as_deref(),
        Some("skipped by user: done by hand")
    );
    assert_eq!(h.state("b"), TaskState::Running);
    assert_eq!(h.state("c"), TaskState::Pending);
}

#[test]
fn cancel_stops_a_running_agent_and_is_final() {
    let text = format!(
        "{AGENTS}[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\ndepends_on = [\"a\"]\n"
    );
    let mut h = start(&text);
    h.run_jobs();
    h.request(Request::Cancel { task: "a".into() })
        .expect("cancel");
    assert_eq!(h.stops(), vec!["a".to_string()]);
    assert_eq!(
        h.state("a"),
        TaskState::Running,
        "until the agent has exited"
    );
    h.exit("a", 143);
    assert_eq!(h.state("a"), TaskState::Cancelled);
    assert_eq!(h.state("b"), TaskState::Blocked);
    let refused = h.request(Request::Retry {
        task: "a".into(),
        fresh: false,
    });
    assert!(refused.is_err());
}

#[test]
fn a_cancel_while_the_worktree_is_made_spawns_nothing() {
    let mut h = start(&one_task(""));
    h.request(Request::Cancel { task: "t".into() })
        .expect("cancel");
    assert!(h.stops().is_empty(), "no process yet");
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt: 1,
        result: Ok(worktree("t")),
    });
    assert!(h.log.iter().all(|e| !matches!(e, Effect::Spawn(_))));
    assert_eq!(h.state("t"), TaskState::Cancelled);
    let last = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(last.status, AttemptStatus::Cancelled);
}

#[test]
fn shutdown_interrupts_attempts_which_resume_without_using_retries() {
    let mut h = start(&one_task("retries = 0\n"));
    h.run_jobs();
    h.request(Request::Shutdown { stop_agents: true })
        .expect("shutdown");
    assert_eq!(h.stops(), vec!["t".to_string()]);
    assert!(h.core.outcome().is_none(), "waits for the agent");
    h.exit("t", 143);
    assert_eq!(h.state("t"), TaskState::Queued);
    assert_eq!(h.row("t").failures, 0);
    let outcome = h.core.outcome().expect("over");
    assert!(outcome.interrupted);
    assert_eq!(outcome.exit_code, 130);
    let last = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(last.status, AttemptStatus::Interrupted);
}

#[test]
fn reconcile_closes_a_dead_runs_attempts_and_requeues_in_the_same_worktree() {
    let text = format!(
        "{AGENTS}[[tasks]]\nid = \"done\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"cut\"\nagent = \"sh\"\nprompt = \"x\"\n"
    );
    let done = stored_task("done", TaskState::Done, 1);
    let cut = stored_task("cut", TaskState::Running, 2);
    let running = cut_attempt("cut", 2, 4242);
    let stored = Stored {
        tasks: vec![done, cut],
        running_attempts: vec![running.clone()],
        latest_attempts: [("cut".to_string(), running)].into(),
        worktrees: [("cut".to_string(), Known::Ready)].into(),
        ..Stored::default()
    };
    let h = start_with(&text, stored, options(), &[]);
    assert!(h.log.iter().any(|e| matches!(
        e,
        Effect::KillLeftover { pid: 4242, worktree } if worktree.ends_with(".orch/worktrees/cut")
    )));
    let closed = h.persisted_attempts("cut");
    assert_eq!(closed[0].status, AttemptStatus::Interrupted);
    assert_eq!(h.state("done"), TaskState::Done, "done never runs again");
    // Resumed as attempt 3 in the recorded worktree.
    assert_eq!(h.state("cut"), TaskState::Running);
    assert_eq!(h.attempt("cut"), 3);
    assert_eq!(h.prepares(), vec![("cut".to_string(), 3, Known::Ready)]);
    // The kill comes before anything is started.
    let kill = h
        .log
        .iter()
        .position(|e| matches!(e, Effect::KillLeftover { .. }));
    let prepare = h
        .log
        .iter()
        .position(|e| matches!(e, Effect::PrepareWorktree { .. }));
    assert!(kill < prepare);
}

#[test]
fn an_exit_whose_commit_was_cut_short_is_committed_not_rerun() {
    let task = stored_task("t", TaskState::Running, 1);
    let finished = uncommitted_success("t", 1);
    let stored = Stored {
        tasks: vec![task],
        latest_attempts: [("t".to_string(), finished)].into(),
        worktrees: [("t".to_string(), Known::Ready)].into(),
        ..Stored::default()
    };
    let mut h = start_with(&one_task(""), stored, options(), &[]);
    assert!(h
        .log
        .iter()
        .any(|e| matches!(e, Effect::Commit { task, attempt: 1, .. } if task == "t")));
    assert!(h
        .log
        .iter()
        .all(|e| !matches!(e, Effect::PrepareWorktree { .. })));
    h.input(Input::Committed {
        task: "t".into(),
        attempt: 1,
        result: Ok(None),
    });
    assert_eq!(h.state("t"), TaskState::Done);
    assert_eq!(h.row("t").attempts, 1);
}

#[test]
fn reload_adds_tasks_keeps_known_ones_and_holds_back_on_new_dependencies() {
    let base = "[agents.solo]\ncommand = [\"solo\"]\nmax_instances = 1\n[[tasks]]\nid = \"busy\"\nagent = \"solo\"\nprompt = \"x\"\n[[tasks]]\nid = \"waiting\"\nagent = \"solo\"\nprompt = \"x\"\n";
    let mut h = start(base);
    h.run_jobs();
    assert_eq!(h.state("waiting"), TaskState::Queued);
    let edited = format!(
        "{base}depends_on = [\"first\"]\n[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"first\"\nagent = \"sh\"\nprompt = \"x\"\n"
    );
    h.request(Request::Reload {
        config: Box::new(config(&edited)),
    })
    .expect("reload");
    assert_eq!(h.state("waiting"), TaskState::Pending);
    assert_eq!(h.state("first"), TaskState::Running);
    assert_eq!(
        h.state("busy"),
        TaskState::Running,
        "running tasks keep running"
    );
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Publish(Event::PlanChanged { .. }))));

    // Removing a running task keeps it until it ends; a later edit that
    // brings a finished one back keeps its state.
    h.run_jobs();
    h.succeed("first");
    let without = "[agents.solo]\ncommand = [\"solo\"]\n[[tasks]]\nid = \"busy\"\nagent = \"solo\"\nprompt = \"x\"\n";
    h.request(Request::Reload {
        config: Box::new(config(without)),
    })
    .expect("reload");
    assert!(!h.core.tasks.contains("first"));
    h.request(Request::Reload {
        config: Box::new(config(&edited)),
    })
    .expect("reload");
    assert_eq!(h.state("first"), TaskState::Done, "an id never runs twice");
}

#[test]
fn merge_never_is_recorded_on_the_done_task() {
    let mut h = start(&one_task("merge = \"never\"\n"));
    h.run_jobs();
    h.succeed("t");
    assert_eq!(h.row("t").merge_state, MergeState::Never);
}

#[test]
fn a_stale_input_for_an_older_attempt_changes_nothing() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.input(Input::AgentExited {
        task: "t".into(),
        attempt: 9,
        exit: AgentExit::Code(1),
    });
    assert_eq!(h.state("t"), TaskState::Running);
    assert!(h.last.is_empty(), "{:?}", h.last);
}

#[test]
fn the_engine_sleeps_when_nothing_is_due() {
    let text = one_task("approval = \"before_start\"\n");
    let h = start(&text);
    assert_eq!(
        h.core.next_wake(h.now),
        h.now.mono + Duration::from_secs(3600)
    );
    let mut h = start(&one_task(""));
    h.run_jobs();
    assert_eq!(h.core.next_wake(h.now), h.now.mono + Duration::from_secs(1));
}

#[test]
fn a_cancel_while_preparing_wins_over_a_failed_worktree_job() {
    let mut h = start(&one_task("retries = 3\n"));
    h.request(Request::Cancel { task: "t".into() })
        .expect("cancel");
    h.input(Input::WorktreeReady {
        task: "t".into(),
        attempt: 1,
        result: Err("a file is in the way".into()),
    });
    assert_eq!(h.state("t"), TaskState::Cancelled);
}

#[test]
fn a_cancel_while_committing_ends_cancelled_with_the_commit_kept() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.exit("t", 0);
    h.request(Request::Cancel { task: "t".into() })
        .expect("cancel");
    assert!(h.stops().is_empty(), "the agent has already exited");
    h.input(Input::Committed {
        task: "t".into(),
        attempt: 1,
        result: Ok(Some("abc".into())),
    });
    assert_eq!(h.state("t"), TaskState::Cancelled);
    let last = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(last.commit_id.as_deref(), Some("abc"));
}

#[test]
fn a_reload_while_a_worktree_is_made_does_not_change_what_runs() {
    let base = "[agents.solo]\ncommand = [\"solo\", \"{prompt}\"]\nmax_instances = 1\n[agents.other]\ncommand = [\"other\", \"{prompt}\"]\n[[tasks]]\nid = \"a\"\nagent = \"solo\"\nprompt = \"old\"\n";
    let mut h = start(base);
    assert_eq!(h.state("a"), TaskState::Running);
    let edited = base.replace(
        "agent = \"solo\"\nprompt = \"old\"",
        "agent = \"other\"\nprompt = \"new\"",
    );
    h.request(Request::Reload {
        config: Box::new(config(&edited)),
    })
    .expect("reload");
    h.input(Input::WorktreeReady {
        task: "a".into(),
        attempt: 1,
        result: Ok(worktree("a")),
    });
    let spawns = h.spawns();
    assert_eq!(spawns.len(), 1);
    assert_eq!(
        spawns[0].command,
        vec!["solo".to_string(), "old".to_string()]
    );
}

#[test]
fn an_archived_task_whose_commit_was_cut_short_is_committed_when_it_comes_back() {
    let gone = stored_task("gone", TaskState::Running, 1);
    let finished = uncommitted_success("gone", 1);
    let stored = Stored {
        tasks: vec![gone],
        latest_attempts: [("gone".to_string(), finished)].into(),
        ..Stored::default()
    };
    let mut h = start_with(&one_task(""), stored, options(), &[]);
    let with_gone = format!(
        "{}[[tasks]]\nid = \"gone\"\nagent = \"sh\"\nprompt = \"x\"\n",
        one_task("")
    );
    h.request(Request::Reload {
        config: Box::new(config(&with_gone)),
    })
    .expect("reload");
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Commit { task, attempt: 1, .. } if task == "gone")));
    assert!(h
        .last
        .iter()
        .all(|e| !matches!(e, Effect::PrepareWorktree { prepare, .. } if prepare.task == "gone")));
    assert_eq!(h.state("gone"), TaskState::Running);
    h.input(Input::Committed {
        task: "gone".into(),
        attempt: 1,
        result: Ok(None),
    });
    assert_eq!(h.state("gone"), TaskState::Done);
    assert_eq!(h.row("gone").attempts, 1, "never run again");
}

#[test]
fn shutting_down_does_not_wake_for_backoffs_that_lead_nowhere() {
    let text = format!(
        "{AGENTS}[defaults]\nretries = 3\nbackoff = \"1s\"\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\n"
    );
    let mut h = start(&text);
    h.run_jobs();
    h.exit("a", 1);
    assert_eq!(h.state("a"), TaskState::Retrying);
    h.request(Request::Shutdown { stop_agents: true })
        .expect("shutdown");
    h.advance(5_000);
    assert_eq!(
        h.state("a"),
        TaskState::Retrying,
        "no new attempt while stopping"
    );
    assert!(
        h.core.next_wake(h.now) > h.now.mono,
        "the due backoff does not wake the engine at once"
    );
}

#[test]
fn reconcile_is_written_before_any_leftover_is_killed() {
    let cut = stored_task("t", TaskState::Running, 1);
    let running = cut_attempt("t", 1, 4242);
    let stored = Stored {
        tasks: vec![cut],
        running_attempts: vec![running.clone()],
        latest_attempts: [("t".to_string(), running)].into(),
        ..Stored::default()
    };
    let setup = Setup {
        config: config(&one_task("")),
        base_branch: "main".into(),
        run_id: 1,
        opts: options(),
        lookup: Box::new(FakeLookup {
            missing: HashSet::new(),
        }),
        seed: 1,
    };
    let now = Now {
        mono: Instant::now(),
        wall_ms: STORED_AT + 10,
    };
    let (_core, effects) = Core::start(setup, stored, now);
    let kill = effects
        .iter()
        .position(|e| matches!(e, Effect::KillLeftover { .. }))
        .expect("a kill");
    assert!(effects[kill..]
        .iter()
        .all(|e| matches!(e, Effect::KillLeftover { .. })));
    assert!(effects[..kill]
        .iter()
        .any(|e| matches!(e, Effect::Persist(Write::Task(row)) if row.state == TaskState::Queued)));
}

#[test]
fn an_attempt_being_committed_frees_its_slot() {
    let text = format!(
        "{AGENTS}[project]\nmax_parallel = 1\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"x\"\n"
    );
    let mut h = start(&text);
    assert_eq!(h.state("b"), TaskState::Queued);
    h.run_jobs();
    h.exit("a", 0);
    assert_eq!(h.state("a"), TaskState::Running, "its commit is under way");
    assert_eq!(h.state("b"), TaskState::Running, "the agent's slot is free");
}

mod add;
mod agents;
mod attention;
mod merge;
mod messages;
mod subtasks;
