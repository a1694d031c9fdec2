//! `orch msg send` and `orch msg poll`, in the server: a message handed to
//! the engine (which keeps it in `state.db` for its task), and an agent's
//! poll: its messages in batches, each acknowledged by the client once it
//! has printed them, waiting for the first one if asked to.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::commands::reply;
use super::conn::{Conn, Outgoing};
use super::identity::Caller;
use super::protocol::{self, kind, Mail, Mailbag, Reply};
use super::server::Shared;
use crate::engine::{ActionError, Actor, Answer, Event, Request, TaskState};
use crate::store::MessageState;

/// The longest a poll waits for its first message.
pub const POLL_WAIT_MAX: Duration = Duration::from_secs(3600);

/// A waiting poll looks again this often: each look is a sign of life, so
/// an agent waiting for a message is never taken for stalled.
const LOOK_EVERY: Duration = Duration::from_secs(30);

/// A message from the caller (an agent: its task; else the user).
pub async fn send(shared: &Shared, caller: &Caller, to: String, text: String) -> Reply {
    let (actor, from_attempt) = match caller.attempt() {
        Some(id) => (Actor::Agent(id.task.clone()), Some(id.attempt)),
        None => (Actor::current_user(), None),
    };
    let request = Request::SendMessage {
        to: to.clone(),
        text,
        from_attempt,
    };
    match shared.handle.answer(actor, request).await {
        Ok(Answer::Sent {
            id,
            to_state,
            running,
        }) => reply(true, sent_line(id, &to, to_state, running), 0),
        Ok(_) => reply(true, format!("orch: message for {to} kept"), 0),
        Err(err) => reply(false, format!("orch: {err}"), 1),
    }
}

/// What `orch msg send` says of a message kept for `to`.
pub fn sent_line(id: i64, to: &str, state: TaskState, running: bool) -> String {
    let when = if running {
        "its agent gets it with `orch msg poll`".to_string()
    } else if state.is_settled() && state != TaskState::Blocked {
        format!("{to} is {state}: its agent gets it only if the task runs again")
    } else {
        format!("{to} is {state}: its agent gets it once it runs")
    };
    format!("orch: message #{id} kept for {to}; {when}")
}

/// Numbers polls, so the engine knows which holds what.
static POLLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// An agent's poll: batches of its messages until none is left, each
/// acknowledged by the client before the next; with nothing there, wait
/// up to `wait` for the first. Ends with a reply saying how many were
/// read. What the poll was handed and did not acknowledge (the client
/// left, or acknowledged nothing) is released for the next poll.
pub async fn poll(shared: &Shared, mut conn: Conn, caller: &Caller, wait: Duration) {
    let Some(id) = caller.attempt().cloned() else {
        let refused = reply(
            false,
            "orch: orch msg poll is for agents: run it from an agent orch started \
             (ORCH_SOCKET and ORCH_TOKEN are set there)"
                .into(),
            1,
        );
        conn.finish(Outgoing::json(kind::REPLY, &refused)).await;
        return;
    };
    let poll = POLLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let actor = Actor::Agent(id.task.clone());
    let deadline = tokio::time::Instant::now() + wait.min(POLL_WAIT_MAX);
    // Subscribed before the first look, so a message sent in between wakes it.
    let mut events = shared.handle.subscribe();
    let mut read = 0usize;
    let outcome: Result<(), String> = loop {
        let take = Request::TakeMessages {
            task: id.task.clone(),
            attempt: id.attempt,
            poll,
        };
        let (messages, remaining) = match shared.handle.answer(actor.clone(), take).await {
            Ok(Answer::Messages {
                messages,
                remaining,
            }) => (messages, remaining),
            Ok(_) => (Vec::new(), 0),
            Err(err) => break Err(err.to_string()),
        };
        if !messages.is_empty() {
            let bag = Mailbag {
                messages: messages.iter().map(Mail::of).collect(),
            };
            let Some(frame) = Outgoing::json(kind::MESSAGES, &bag) else {
                break Err("cannot encode the messages".into());
            };
            if conn.outbox.send(frame).await.is_err() {
                break Ok(());
            }
            // However long the client takes to print them: it holds them.
            let Some(ids) = acknowledged(&mut conn).await else {
                break Ok(());
            };
            let ack = Request::AckMessages {
                task: id.task.clone(),
                attempt: id.attempt,
                ids,
            };
            let acked = match shared.handle.answer(actor.clone(), ack).await {
                Ok(Answer::Acknowledged(n)) => n,
                Ok(_) => 0,
                Err(err) => break Err(err.to_string()),
            };
            read += acked;
            // A client that acknowledges nothing is done (or playing).
            if remaining > 0 && acked > 0 {
                continue;
            }
            break Ok(());
        }
        if read > 0 || tokio::time::Instant::now() >= deadline {
            break Ok(());
        }
        match wait_for_mail(&mut events, &mut conn, &id.task, deadline).await {
            Woke::Look => {}
            Woke::Gone => break Ok(()),
            Woke::Ended => break Err(ActionError::ShuttingDown.to_string()),
        }
    };
    let release = Request::ReleaseMessages {
        task: id.task.clone(),
        poll,
    };
    let _ = shared.handle.tell(actor, release).await;
    let answer = match outcome {
        Ok(()) => reply(true, format!("orch: {read} message(s) read"), 0),
        Err(err) => reply(false, format!("orch: {err}"), 1),
    };
    conn.finish(Outgoing::json(kind::REPLY, &answer)).await;
}

/// The ids the client says it printed; `None` if it said something else,
/// or left.
async fn acknowledged(conn: &mut Conn) -> Option<Vec<i64>> {
    let frame = conn.inbox.recv().await?;
    protocol::decode::<Vec<i64>>(&frame, kind::ACK).ok()
}

enum Woke {
    /// A message came for the task, the time is up (or [`LOOK_EVERY`]
    /// passed), or events were missed: look again.
    Look,
    /// The client left (or spoke out of turn).
    Gone,
    /// The engine ended.
    Ended,
}

async fn wait_for_mail(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    conn: &mut Conn,
    task: &str,
    deadline: tokio::time::Instant,
) -> Woke {
    let look = deadline.min(tokio::time::Instant::now() + LOOK_EVERY);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::Message(row)) if row.to_task == task && row.state == MessageState::Pending => {
                    return Woke::Look
                }
                Ok(Event::Finished(_)) | Err(RecvError::Closed) => return Woke::Ended,
                Err(RecvError::Lagged(_)) => return Woke::Look,
                Ok(_) => {}
            },
            _ = conn.inbox.recv() => return Woke::Gone,
            _ = tokio::time::sleep_until(look) => return Woke::Look,
        }
    }
}
