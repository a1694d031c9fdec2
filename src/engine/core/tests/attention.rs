//! Agents that need someone: marks from the agent's word, the screen and
//! the operating system, the most urgent standing; cleared by input; never
//! stalled; ended by `input_timeout`; notified once they stood a moment;
//! auto-answers typed, refused on risky tasks, suspended when they loop.

use super::*;
use crate::agent::waiting::{Seen, Signal};
use crate::engine::message::Attention;

fn waiting(q: &str) -> Seen {
    Seen::Waiting { question: q.into() }
}

impl Harness {
    fn say(&mut self, task: &str, seen: Seen) {
        let attempt = self.attempt(task);
        let request = Request::Heartbeat {
            task: task.into(),
            attempt,
            progress: None,
            note: None,
            activity: Some(seen),
            session_id: None,
        };
        self.answer_as(Actor::Agent(task.into()), request)
            .expect("heard");
    }

    fn see(&mut self, task: &str, signal: Signal, seen: Option<Seen>, auto: Option<usize>) {
        let attempt = self.attempt(task);
        self.input(Input::Observed {
            task: task.into(),
            attempt,
            signal,
            seen,
            detail: format!("{} rule", signal.as_str()),
            auto_answer: auto,
        });
    }

    fn attentions(&self) -> Vec<Attention> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::Publish(Event::Attention(a)) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }

    /// The mark as the attempt row stores it: (state, signal, question).
    fn mark(&self, task: &str) -> (String, Option<String>, Option<String>) {
        let row = self.persisted_attempts(task).pop().expect("attempt row");
        let m = row.activity.expect("a mark");
        (m.state, m.signal, m.question)
    }

    fn events_of(&self, kind: &str) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Event(row)) if row.kind == kind => row.cause.clone(),
                _ => None,
            })
            .collect()
    }
}

fn mark(
    state: &str,
    signal: &str,
    question: Option<&str>,
) -> (String, Option<String>, Option<String>) {
    (
        state.into(),
        Some(signal.into()),
        question.map(str::to_string),
    )
}

#[test]
fn the_most_urgent_word_stands_and_input_clears_every_word() {
    let mut h = start(&one_task("input_timeout = 0\n"));
    h.run_jobs();
    h.see("t", Signal::Os, Some(waiting("Name?")), None);
    assert_eq!(h.mark("t"), mark("waiting", "os", Some("Name?")));
    let shown = h.attentions();
    assert_eq!(shown.len(), 1);
    assert!(!shown[0].notify, "not at once");
    // The agent's own word beats the OS's at the same urgency.
    h.say("t", waiting("Allow   the\ncommand?"));
    assert_eq!(
        h.mark("t"),
        mark("waiting", "agent", Some("Allow the command?")),
        "one line"
    );
    // An idle word does not hide a question another signal sees.
    h.see("t", Signal::Screen, Some(Seen::Idle), None);
    assert_eq!(h.mark("t").0, "waiting");
    // Someone typed: every word is gone, the agent works.
    h.see("t", Signal::Input, Some(Seen::Busy), None);
    assert_eq!(h.mark("t"), mark("busy", "input", None));
    assert!(h.core.snapshot().attention.is_empty());
    // A signal may take its word back.
    h.see("t", Signal::Screen, Some(Seen::Idle), None);
    assert_eq!(h.mark("t"), mark("idle", "screen", None));
    h.see("t", Signal::Screen, None, None);
    assert_eq!(h.mark("t").0, "busy");
    // The same word again changes nothing and costs no write.
    h.see("t", Signal::Screen, None, None);
    assert!(h.attentions().is_empty());
}

#[test]
fn a_waiting_agent_is_never_stalled_and_input_timeout_ends_it_with_the_question() {
    let text = one_task(
        "retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\ninput_timeout = \"2m\"\n",
    );
    let mut h = start(&text);
    h.run_jobs();
    h.say("t", waiting("Proceed? (y/n)"));
    // Silent for a minute: past heartbeat_stall, still not stopped.
    for _ in 0..6 {
        h.advance(10_000);
        assert!(h.stops().is_empty(), "a waiting agent is not stalled");
    }
    // Notified once, after it stood a moment.
    let notified: Vec<Attention> = h
        .log
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(Event::Attention(a)) if a.notify => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(notified.len(), 1, "{notified:?}");
    h.advance(60_000);
    assert_eq!(h.stops(), ["t"], "no answer within input_timeout");
    h.exit("t", 143);
    assert_eq!(h.state("t"), TaskState::NeedsReview);
    assert_eq!(
        h.row("t").cause.as_deref(),
        Some("no answer to: Proceed? (y/n) (failed 1 of 1 allowed)")
    );
}

#[test]
fn a_busy_agent_still_stalls_and_headless_runs_wait_five_minutes_by_default() {
    let text = one_task("retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\n");
    let mut h = start(&text);
    h.run_jobs();
    h.say("t", Seen::Busy);
    h.advance(21_000);
    assert_eq!(h.stops(), ["t"], "busy and silent: stalled");

    let text = one_task("retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\n");
    let mut h = start(&text);
    h.run_jobs();
    h.say("t", Seen::Idle);
    h.advance(299_000);
    assert!(h.stops().is_empty());
    h.advance(2_000);
    assert_eq!(h.stops(), ["t"], "headless: five minutes");
    h.exit("t", 143);
    assert!(
        h.row("t")
            .cause
            .as_deref()
            .is_some_and(|c| c.starts_with("no answer within 5m: the agent was idle")),
        "{:?}",
        h.row("t").cause
    );
}

#[test]
fn the_control_room_waits_forever_by_default() {
    let text = one_task("retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\n");
    let opts = CoreOptions {
        headless: false,
        exit_when_settled: false,
        ..options()
    };
    let mut h = start_with(&text, Stored::default(), opts, &[]);
    h.run_jobs();
    h.say("t", waiting("Which file?"));
    // Up to the attempt's wall-time `timeout` (30m), which still applies.
    for _ in 0..25 {
        h.advance(60_000);
    }
    assert!(h.stops().is_empty());
}

#[test]
fn notifications_run_on_attention_once_per_new_mark_and_not_for_a_prompt_answered_at_once() {
    let text = format!(
        "[hooks]\non_attention = [\"notify\", \"{{task}}\", \"{{reason}}\", \"{{question}}\"]\n{}",
        one_task("input_timeout = 0\n")
    );
    let mut h = start(&text);
    h.run_jobs();
    let hooks = |h: &Harness| -> Vec<Vec<String>> {
        h.log
            .iter()
            .filter_map(|e| match e {
                Effect::RunHook { argv, .. } => Some(argv.clone()),
                _ => None,
            })
            .collect()
    };
    // Answered within a moment: nobody is bothered.
    h.say("t", waiting("Quick?"));
    h.advance(300);
    h.see("t", Signal::Input, Some(Seen::Busy), None);
    h.advance(2_000);
    assert!(hooks(&h).is_empty());
    // Left standing: one hook.
    h.say("t", waiting("Deploy?"));
    h.advance(1_500);
    assert_eq!(hooks(&h), [["notify", "t", "waiting for input", "Deploy?"]]);
    // Flapping within the rate limit: no more.
    for _ in 0..5 {
        h.see("t", Signal::Input, Some(Seen::Busy), None);
        h.say("t", waiting("Deploy?"));
        h.advance(1_500);
    }
    assert_eq!(hooks(&h).len(), 1);
    h.advance(30_000);
    h.see("t", Signal::Input, Some(Seen::Busy), None);
    h.say("t", Seen::Idle);
    h.advance(1_500);
    assert_eq!(
        hooks(&h).len(),
        2,
        "after the rate limit, a new mark notifies"
    );
}

fn auto_plan(risk: &str) -> String {
    format!(
        "[agents.sh]\ncommand = [\"sh\", \"-c\", \"{{prompt}}\"]\n\
         auto_answer = [{{ pattern = 'Proceed\\? \\(y/n\\)', answer = \"y\\r\" }}]\n\
         [[tasks]]\nid = \"t\"\nagent = \"sh\"\nprompt = \"x\"\nrisk = \"{risk}\"\ninput_timeout = 0\n"
    )
}

fn typed(h: &Harness) -> Vec<Vec<u8>> {
    h.log
        .iter()
        .filter_map(|e| match e {
            Effect::Type { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_auto_answer_is_typed_recorded_and_suspended_when_it_loops() {
    let mut h = start_with(&auto_plan("low"), Stored::default(), options(), &[]);
    h.run_jobs();
    h.see(
        "t",
        Signal::Screen,
        Some(waiting("Proceed? (y/n)")),
        Some(0),
    );
    assert_eq!(typed(&h), [b"y\r".to_vec()]);
    assert_eq!(h.mark("t"), mark("busy", "input", None), "answered");
    assert_eq!(
        h.events_of("auto_answer"),
        ["typed \"y\\r\" (rule \"Proceed\\\\? \\\\(y/n\\\\)\") to: Proceed? (y/n)"]
    );
    for _ in 0..10 {
        h.advance(1_000);
        h.see(
            "t",
            Signal::Screen,
            Some(waiting("Proceed? (y/n)")),
            Some(0),
        );
    }
    assert_eq!(typed(&h).len(), 5, "at most five a minute");
    assert_eq!(h.events_of("auto_answer_suspended").len(), 1);
    assert_eq!(
        h.mark("t").0,
        "waiting",
        "suspended: the task waits for someone"
    );
}

#[test]
fn an_auto_answer_is_never_used_on_a_high_risk_task() {
    let mut opts = options();
    opts.approve_all = true;
    let mut h = start_with(&auto_plan("high"), Stored::default(), opts, &[]);
    h.run_jobs();
    assert_eq!(h.state("t"), TaskState::Running);
    h.see(
        "t",
        Signal::Screen,
        Some(waiting("Proceed? (y/n)")),
        Some(0),
    );
    h.see(
        "t",
        Signal::Screen,
        Some(waiting("Proceed? (y/n)")),
        Some(0),
    );
    assert!(typed(&h).is_empty());
    assert_eq!(h.events_of("auto_answer_refused").len(), 1, "said once");
    assert_eq!(h.mark("t").0, "waiting");
}

#[test]
fn a_reported_session_is_kept_on_the_attempt_and_the_task() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    let request = Request::Heartbeat {
        task: "t".into(),
        attempt: 1,
        progress: None,
        note: None,
        activity: Some(Seen::Idle),
        session_id: Some("0199c0de".into()),
    };
    h.answer_as(Actor::Agent("t".into()), request)
        .expect("heard");
    assert_eq!(h.row("t").session_id.as_deref(), Some("0199c0de"));
    let row = h.persisted_attempts("t").pop().expect("attempt");
    assert_eq!(row.session_id.as_deref(), Some("0199c0de"));
    assert_eq!(h.events_of("session"), ["conversation 0199c0de"]);
    let bad = Request::Heartbeat {
        task: "t".into(),
        attempt: 1,
        progress: None,
        note: None,
        activity: None,
        session_id: Some("a\nb".into()),
    };
    assert!(h.answer_as(Actor::Agent("t".into()), bad).is_err());
}

#[test]
fn an_auto_answer_types_the_rule_the_attempt_was_launched_with_after_a_reload() {
    let mut h = start_with(&auto_plan("low"), Stored::default(), options(), &[]);
    h.run_jobs();
    // The file now puts another rule first: the running attempt's screen
    // rules (and their numbers) are still the ones it was launched with.
    let edited = auto_plan("low").replace(
        "auto_answer = [",
        "auto_answer = [{ pattern = 'Delete\\?', answer = \"n\\r\" }, ",
    );
    assert_ne!(edited, auto_plan("low"));
    h.request(Request::Reload {
        config: Box::new(config(&edited)),
    })
    .expect("reload");
    h.see(
        "t",
        Signal::Screen,
        Some(waiting("Proceed? (y/n)")),
        Some(0),
    );
    assert_eq!(typed(&h), [b"y\r".to_vec()]);
}

#[test]
fn the_agent_s_busy_outdates_the_screen_s_idle_but_not_its_question() {
    let mut h = start(&one_task("input_timeout = 0\n"));
    h.run_jobs();
    // The startup screen settled on its input box; then the agent's hook
    // says a turn began (its spinner may never settle).
    h.see("t", Signal::Screen, Some(Seen::Idle), None);
    assert_eq!(h.mark("t").0, "idle");
    h.say("t", Seen::Busy);
    assert_eq!(h.mark("t").0, "busy");
    // A question on the screen is not outdated by a hook's busy.
    h.see("t", Signal::Screen, Some(waiting("Allow rm?")), None);
    h.say("t", Seen::Busy);
    assert_eq!(h.mark("t"), mark("waiting", "screen", Some("Allow rm?")));
}
