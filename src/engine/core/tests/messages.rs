//! Messages for tasks' agents: kept pending until an agent of the task
//! polls, handed out again until acknowledged (a restart included),
//! bounded per task, each step stored and told.

use super::*;
use crate::engine::message::{Answer, DELIVERY_MAX, UNREAD_MAX};
use crate::store::{MessageRow, MessageState};

impl Harness {
    fn send(
        &mut self,
        from: Option<(&str, u32)>,
        to: &str,
        text: &str,
    ) -> Result<Answer, ActionError> {
        let actor = match from {
            Some((task, _)) => Actor::Agent(task.into()),
            None => Actor::User("tester".into()),
        };
        let request = Request::SendMessage {
            to: to.into(),
            text: text.into(),
            from_attempt: from.map(|(_, attempt)| attempt),
        };
        self.answer_as(actor, request)
    }

    /// The messages `attempt` of `task` is handed (and how many wait).
    fn take(&mut self, task: &str, attempt: u32) -> Result<(Vec<MessageRow>, usize), ActionError> {
        self.take_for(task, attempt, 1)
    }

    /// The same, for poll `poll`.
    fn take_for(
        &mut self,
        task: &str,
        attempt: u32,
        poll: u64,
    ) -> Result<(Vec<MessageRow>, usize), ActionError> {
        let request = Request::TakeMessages {
            task: task.into(),
            attempt,
            poll,
        };
        match self.answer_as(Actor::Agent(task.into()), request)? {
            Answer::Messages {
                messages,
                remaining,
            } => Ok((messages, remaining)),
            other => panic!("not messages: {other:?}"),
        }
    }

    fn ack(&mut self, task: &str, attempt: u32, ids: &[i64]) -> Result<Answer, ActionError> {
        let request = Request::AckMessages {
            task: task.into(),
            attempt,
            ids: ids.to_vec(),
        };
        self.answer_as(Actor::Agent(task.into()), request)
    }

    /// The `message` events of the latest call: (task, from, to, cause).
    fn message_events(&self) -> Vec<(String, Option<String>, String, String)> {
        self.last
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Event(row)) if row.kind == "message" => Some((
                    row.task_id.clone().unwrap_or_default(),
                    row.from_state.clone(),
                    row.to_state.clone().unwrap_or_default(),
                    row.cause.clone().unwrap_or_default(),
                )),
                _ => None,
            })
            .collect()
    }

    /// Each message row the latest call stored, and whether it was told.
    fn message_writes(&self) -> Vec<MessageRow> {
        let written: Vec<MessageRow> = self
            .last
            .iter()
            .filter_map(|e| match e {
                Effect::Persist(Write::Message(m)) => Some(m.clone()),
                _ => None,
            })
            .collect();
        let told: Vec<MessageRow> = self
            .last
            .iter()
            .filter_map(|e| match e {
                Effect::Publish(Event::Message(m)) => Some(m.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(written, told, "every message stored is told, as stored");
        written
    }
}

/// Task `a`, then `b` which depends on it.
fn chain() -> String {
    format!(
        "{AGENTS}[[tasks]]\nid = \"a\"\nagent = \"sh\"\nprompt = \"x\"\n\
         [[tasks]]\nid = \"b\"\nagent = \"sh\"\nprompt = \"y\"\ndepends_on = [\"a\"]\n"
    )
}

fn ids(messages: &[MessageRow]) -> Vec<i64> {
    messages.iter().map(|m| m.id).collect()
}

#[test]
fn a_message_waits_for_a_task_that_has_not_started_then_is_delivered_and_acknowledged() {
    let mut h = start(&chain());
    h.run_jobs();
    assert_eq!(h.state("a"), TaskState::Running);
    let sent = h.send(Some(("a", 1)), "b", "the schema is in schema.sql\nuse it");
    assert_eq!(
        sent,
        Ok(Answer::Sent {
            id: 1,
            to_state: TaskState::Pending,
            running: false
        })
    );
    let stored = h.message_writes();
    assert_eq!(stored.len(), 1);
    let m = &stored[0];
    assert_eq!(
        (
            m.to_task.as_str(),
            m.from_task.as_deref(),
            m.from_attempt,
            m.state
        ),
        ("b", Some("a"), Some(1), MessageState::Pending)
    );
    assert_eq!(m.sender, "agent a");
    assert_eq!(m.text, "the schema is in schema.sql\nuse it");
    assert_eq!(
        h.message_events(),
        vec![(
            "b".into(),
            None,
            "pending".into(),
            "#1 from task a: the schema is in schema.sql use it".into()
        )]
    );
    // Not running: nothing to hand out to it yet.
    assert!(matches!(h.take("b", 1), Err(ActionError::Refused(_))));
    h.succeed("a");
    h.run_jobs();
    assert_eq!(h.state("b"), TaskState::Running);

    let (handed, remaining) = h.take("b", 1).expect("b runs");
    assert_eq!((ids(&handed), remaining), (vec![1], 0));
    assert_eq!(handed[0].state, MessageState::Delivered);
    assert_eq!(handed[0].delivered_attempt, Some(1));
    assert_eq!(h.message_writes(), handed);
    assert_eq!(
        h.message_events(),
        vec![(
            "b".into(),
            Some("pending".into()),
            "delivered".into(),
            "#1 from task a".into()
        )]
    );

    assert_eq!(h.ack("b", 1, &[1]), Ok(Answer::Acknowledged(1)));
    let read = h.message_writes();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].state, MessageState::Acknowledged);
    assert_eq!(read[0].acked_at, Some(h.now.wall_ms));
    assert_eq!(
        h.message_events(),
        vec![(
            "b".into(),
            Some("delivered".into()),
            "acknowledged".into(),
            "#1 from task a".into()
        )]
    );
    // Read: never handed out again, and no longer in the snapshot.
    let (again, _) = h.take("b", 1).expect("b runs");
    assert!(again.is_empty());
    assert!(h.message_writes().is_empty());
    assert!(h.core.unread_messages().is_empty());
}

#[test]
fn a_message_not_acknowledged_is_handed_out_again_also_to_the_attempt_after_a_restart() {
    let text = one_task("");
    let mut h = start(&text);
    h.run_jobs();
    h.send(None, "t", "from a person").expect("kept");
    assert_eq!(h.message_writes()[0].sender, "tester");
    assert_eq!(h.message_writes()[0].from_task, None);
    let (first, _) = h.take("t", 1).expect("running");
    assert_eq!(ids(&first), vec![1]);
    // The poll died before it acknowledged: the same attempt gets it again,
    // and the log says so.
    h.advance(1_000);
    let (second, _) = h.take("t", 1).expect("running");
    assert_eq!(ids(&second), vec![1]);
    assert_eq!(second[0].delivered_at, Some(h.now.wall_ms));
    assert_eq!(h.message_writes(), second);
    assert_eq!(
        h.message_events()[0].3,
        "#1 from user tester, handed out again (not acknowledged)"
    );
    assert_eq!(h.core.unread_messages(), second);

    // orch is killed; the next run finds the message delivered, not read.
    let stored = h.stored();
    assert_eq!(stored.messages.len(), 1);
    assert_eq!(stored.last_message_id, 1);
    let mut h = start_with(&text, stored, options(), &[]);
    h.run_jobs();
    assert_eq!(h.attempt("t"), 2);
    let (third, _) = h.take("t", 2).expect("running again");
    assert_eq!(ids(&third), vec![1]);
    assert_eq!(third[0].delivered_attempt, Some(2));
    assert_eq!(
        h.message_events(),
        vec![(
            "t".into(),
            Some("delivered".into()),
            "delivered".into(),
            "#1 from user tester, handed out again (not acknowledged)".into()
        )]
    );
    // An acknowledgement in the name of the dead attempt counts for nothing.
    h.ack("t", 1, &[1]).expect_err("attempt 1 is not running");
    h.ack("t", 2, &[1]).expect("read");
    assert_eq!(h.message_writes()[0].state, MessageState::Acknowledged);
    // Ids go on from the last one given, read or not.
    let Ok(Answer::Sent { id, .. }) = h.send(None, "t", "next") else {
        panic!("not kept");
    };
    assert_eq!(id, 2);
}

#[test]
fn a_task_keeps_a_bounded_number_of_unread_messages_and_hands_them_out_in_batches() {
    let mut h = start(&chain());
    h.run_jobs();
    for n in 0..UNREAD_MAX {
        h.send(Some(("a", 1)), "b", &format!("message {n}"))
            .expect("within the bound");
    }
    let refused = h.send(Some(("a", 1)), "b", "one too many");
    assert!(
        matches!(&refused, Err(ActionError::Refused(why)) if why.contains("has 100 messages it has not read")),
        "{refused:?}"
    );
    assert!(
        h.message_writes().is_empty(),
        "nothing is kept past the bound"
    );
    // Another task's inbox is its own.
    h.send(Some(("b", 1)), "a", "hello").expect("a has room");

    h.succeed("a");
    h.run_jobs();
    let (batch, remaining) = h.take("b", 1).expect("b runs");
    assert_eq!(batch.len(), DELIVERY_MAX);
    assert_eq!(remaining, UNREAD_MAX - DELIVERY_MAX);
    assert_eq!(batch[0].text, "message 0", "oldest first");
    // Acknowledging ids it was not handed (or that are not its task's)
    // changes nothing.
    h.ack("b", 1, &[UNREAD_MAX as i64, 10_000])
        .expect("answered");
    assert!(h.message_writes().is_empty());
    h.ack("b", 1, &ids(&batch)).expect("read");
    assert_eq!(h.message_writes().len(), DELIVERY_MAX);
    // Room again.
    h.send(None, "b", "now there is room").expect("kept");
}

#[test]
fn messages_to_unknown_tasks_and_messages_that_are_not_text_are_refused() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    assert_eq!(
        h.send(None, "nope", "hi"),
        Err(ActionError::UnknownTask("nope".into()))
    );
    for bad in ["", "  \n", "\x1b[2Jwipe the screen", &"x".repeat(4097)] {
        assert!(
            matches!(h.send(None, "t", bad), Err(ActionError::Refused(_))),
            "{bad:?} kept"
        );
    }
    assert!(h.message_writes().is_empty());
    h.send(None, "t", "tabs\tand\nlines are fine\n")
        .expect("kept");
    assert_eq!(h.message_writes()[0].text, "tabs\tand\nlines are fine");
}

#[test]
fn a_message_one_poll_holds_is_not_handed_to_another_until_it_is_released() {
    let mut h = start(&one_task(""));
    h.run_jobs();
    h.send(None, "t", "only one").expect("kept");
    let (first, _) = h.take_for("t", 1, 7).expect("running");
    assert_eq!(ids(&first), vec![1]);
    let (second, _) = h.take_for("t", 1, 8).expect("running");
    assert!(second.is_empty(), "poll 7 holds it");
    h.answer_as(
        Actor::Agent("t".into()),
        Request::ReleaseMessages {
            task: "t".into(),
            poll: 7,
        },
    )
    .expect("released");
    let (third, _) = h.take_for("t", 1, 8).expect("running");
    assert_eq!(ids(&third), vec![1], "released: the next poll has it");
    assert_eq!(h.ack("t", 1, &[1]), Ok(Answer::Acknowledged(1)));
}
