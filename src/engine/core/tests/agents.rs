//! Heartbeats and security events: what agents say, and what they were
//! refused, as the core records it.

use super::*;
use crate::engine::message::Progress;

fn heartbeat(task: &str, attempt: u32, progress: Option<u8>, note: Option<&str>) -> Request {
    Request::Heartbeat {
        task: task.into(),
        attempt,
        progress,
        note: note.map(str::to_string),
        activity: None,
        session_id: None,
    }
}

fn published_progress(h: &Harness) -> Vec<Progress> {
    h.last
        .iter()
        .filter_map(|e| match e {
            Effect::Publish(Event::Progress(p)) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn heartbeats_keep_a_silent_agent_from_stalling_and_carry_its_progress() {
    let text = one_task("retries = 0\nheartbeat_warn = \"10s\"\nheartbeat_stall = \"20s\"\n");
    let mut h = start(&text);
    h.run_jobs();
    // Silent, but heartbeating every 15 s: never stalled.
    for _ in 0..4 {
        h.advance(15_000);
        assert!(h.stops().is_empty());
        assert_eq!(h.request(heartbeat("t", 1, None, None)), Ok(()));
        assert!(
            published_progress(&h).is_empty(),
            "nothing new: nothing published"
        );
        assert!(!h
            .last
            .iter()
            .any(|e| matches!(e, Effect::Persist(Write::Attempt(_)))));
    }
    assert_eq!(
        h.request(heartbeat("t", 1, Some(42), Some("parsing"))),
        Ok(())
    );
    let said = Progress {
        task: "t".into(),
        attempt: 1,
        progress: Some(42),
        note: Some("parsing".into()),
    };
    assert_eq!(published_progress(&h), vec![said.clone()]);
    let stored = h.persisted_attempts("t").pop().expect("attempt row");
    assert_eq!(
        (stored.progress, stored.note.as_deref()),
        (Some(42), Some("parsing"))
    );
    assert_eq!(h.core.snapshot().progress, vec![said]);
    // Each is kept until said otherwise; an empty note clears the note.
    assert_eq!(h.request(heartbeat("t", 1, Some(60), None)), Ok(()));
    assert_eq!(published_progress(&h)[0].note.as_deref(), Some("parsing"));
    assert_eq!(h.request(heartbeat("t", 1, None, Some(""))), Ok(()));
    assert_eq!(published_progress(&h)[0].progress, Some(60));
    assert_eq!(published_progress(&h)[0].note, None);
    // Then silence: stalled 20 s after the last heartbeat.
    h.advance(19_000);
    assert!(h.stops().is_empty());
    h.advance(1_000);
    assert_eq!(h.stops(), vec!["t".to_string()]);
    // The attempt's row keeps what its agent last said.
    h.exit("t", 143);
    let last = h.persisted_attempts("t").pop().expect("attempt row");
    assert_eq!(last.status, AttemptStatus::Failed);
    assert_eq!(last.progress, Some(60));
}

#[test]
fn a_heartbeat_is_refused_unless_its_attempt_runs_and_says_something_sane() {
    let mut h = start(&one_task(""));
    // Its worktree is still being made: no agent runs yet.
    assert!(matches!(
        h.request(heartbeat("t", 1, None, None)),
        Err(ActionError::Refused(_))
    ));
    h.run_jobs();
    assert!(
        h.request(heartbeat("t", 2, None, None)).is_err(),
        "not its attempt"
    );
    assert!(h.request(heartbeat("nope", 1, None, None)).is_err());
    assert!(h.request(heartbeat("t", 1, Some(101), None)).is_err());
    let long = "x".repeat(crate::engine::message::NOTE_MAX + 1);
    assert!(h.request(heartbeat("t", 1, None, Some(&long))).is_err());
    assert!(
        h.request(heartbeat("t", 1, None, Some("\u{1b}[2Jgone")))
            .is_err(),
        "escape sequences never reach a terminal"
    );
    assert!(published_progress(&h).is_empty());
    h.succeed("t");
    assert!(
        h.request(heartbeat("t", 1, Some(100), None)).is_err(),
        "over"
    );
}

#[test]
fn a_refused_agent_is_recorded_as_a_security_event_and_shown() {
    let mut h = start(&one_task(""));
    let cause =
        "pid 77 (orch approve t), the agent of t attempt 1, tried approve t: no".to_string();
    let request = Request::Security {
        task: Some("t".into()),
        attempt: Some(1),
        cause: cause.clone(),
    };
    assert_eq!(h.request(request), Ok(()));
    assert!(h.last.iter().any(|e| matches!(
        e,
        Effect::Persist(Write::Event(row))
            if row.kind == "security"
                && row.task_id.as_deref() == Some("t")
                && row.attempt == Some(1)
                && row.cause.as_deref() == Some(cause.as_str())
    )));
    assert!(h.last.iter().any(|e| matches!(
        e,
        Effect::Publish(Event::Security { task: Some(t), text }) if t == "t" && *text == cause
    )));
}

#[test]
fn an_agent_that_keeps_trying_cannot_fill_the_event_log() {
    let mut h = start(&one_task(""));
    let kept = super::super::agents::SECURITY_EVENTS_KEPT;
    let mut recorded = 0;
    for i in 0..kept + 50 {
        let request = Request::Security {
            task: Some("t".into()),
            attempt: Some(1),
            cause: format!("try {i}"),
        };
        assert_eq!(h.request(request), Ok(()));
        recorded += h
            .last
            .iter()
            .filter(|e| matches!(e, Effect::Persist(Write::Event(row)) if row.kind == "security"))
            .count();
    }
    assert_eq!(
        recorded,
        kept as usize + 1,
        "the kept ones and one that says so"
    );
    // Another attempt's are its own.
    let other = Request::Security {
        task: Some("t".into()),
        attempt: Some(2),
        cause: "first".into(),
    };
    assert_eq!(h.request(other), Ok(()));
    assert!(h
        .last
        .iter()
        .any(|e| matches!(e, Effect::Persist(Write::Event(_)))));
}
