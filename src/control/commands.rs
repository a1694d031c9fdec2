//! One command from the command line (`orch approve`, `orch task add`,
//! `orch stop`, ...), in the server: decoded, carried to the engine as a
//! request of the user at the other end, and answered with one line and
//! the exit status the command ends with.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;

use super::conn::{Conn, Outgoing};
use super::identity::{self, Caller};
use super::protocol::{self, kind, Bye, Command, Reply};
use super::server::{record_security, Shared};
use crate::engine::{ActionError, Actor, Event, Request};
use crate::store::{MergeState, TaskRow};

/// How long a command may take to arrive after the hello.
const COMMAND_WITHIN: Duration = Duration::from_secs(10);

/// How long `orch worktree merge` waits for the merge's outcome.
const MERGE_WITHIN: Duration = Duration::from_secs(120);

/// Serve one command of `caller` (see `control::identity`): an agent's is
/// held to what agents may do, and what it may not is refused and recorded.
pub async fn serve(shared: Arc<Shared>, mut conn: Conn, caller: Caller) {
    let command = match tokio::time::timeout(COMMAND_WITHIN, conn.inbox.recv()).await {
        Ok(Some(frame)) => match protocol::decode::<Command>(&frame, kind::COMMAND) {
            Ok(command) => command,
            Err(err) => {
                tracing::warn!("dropping a command client: {err}");
                return;
            }
        },
        _ => return,
    };
    if caller.is_agent() {
        if let Err(why) = identity::agent_may(&command, caller.attempt()) {
            // What an agent may do, from one orch cannot place, is refused
            // but is no offence.
            if !matches!(
                command,
                Command::Heartbeat { .. } | Command::MsgSend { .. } | Command::MsgPoll { .. }
            ) {
                record_security(&shared, &caller, &identity::what(&command), &why).await;
            }
            let reply = reply(false, format!("orch: {why}"), 1);
            conn.finish(Outgoing::json(kind::REPLY, &reply)).await;
            return;
        }
    }
    match command {
        Command::Watch => return watch(&shared, conn).await,
        Command::Stop => return stop(&shared, conn).await,
        Command::Heartbeat {
            progress,
            note,
            activity,
            session_id,
        } => {
            let said = Said {
                progress,
                note,
                activity,
                session_id,
            };
            let reply = heartbeat(&shared, &caller, said).await;
            conn.finish(Outgoing::json(kind::REPLY, &reply)).await;
        }
        Command::MsgPoll { wait_ms } => {
            return super::mail::poll(&shared, conn, &caller, Duration::from_millis(wait_ms)).await
        }
        Command::MsgSend { to, text } => {
            let reply = super::mail::send(&shared, &caller, to, text).await;
            conn.finish(Outgoing::json(kind::REPLY, &reply)).await;
        }
        command => {
            let reply = answer(&shared, &caller, command).await;
            conn.finish(Outgoing::json(kind::REPLY, &reply)).await;
        }
    }
}

/// What a heartbeat says.
struct Said {
    progress: Option<u8>,
    note: Option<String>,
    activity: Option<crate::agent::waiting::Seen>,
    session_id: Option<String>,
}

/// An agent's heartbeat, for the attempt it was found to be.
async fn heartbeat(shared: &Shared, caller: &Caller, said: Said) -> Reply {
    let Said {
        progress,
        note,
        activity,
        session_id,
    } = said;
    let Some(id) = caller.attempt() else {
        return reply(
            false,
            "orch: orch heartbeat is for agents: run it from an agent orch started              (ORCH_SOCKET and ORCH_TOKEN are set there)"
                .into(),
            1,
        );
    };
    let request = Request::Heartbeat {
        task: id.task.clone(),
        attempt: id.attempt,
        progress,
        note,
        activity,
        session_id,
    };
    match shared
        .handle
        .ask(Actor::Agent(id.task.clone()), request)
        .await
    {
        Ok(()) => reply(true, String::new(), 0),
        Err(err) => reply(false, format!("orch: {err}"), 1),
    }
}

pub(super) fn reply(ok: bool, message: String, code: i32) -> Reply {
    Reply { ok, message, code }
}

async fn answer(shared: &Shared, caller: &Caller, command: Command) -> Reply {
    // An agent's request carries its task, so the engine can check it
    // (a subtask's parent must be the agent's own task).
    let actor = match caller.attempt() {
        Some(id) => Actor::Agent(id.task.clone()),
        None => Actor::current_user(),
    };
    let handle = &shared.handle;
    let (request, task) = match command {
        Command::Approve { task, reason } => (
            Request::Approve {
                task: task.clone(),
                reason,
            },
            task,
        ),
        Command::Reject { task, reason } => (
            Request::Reject {
                task: task.clone(),
                reason: Some(reason),
            },
            task,
        ),
        Command::Retry { task, fresh } => (
            Request::Retry {
                task: task.clone(),
                fresh,
            },
            task,
        ),
        Command::Cancel { task } => (Request::Cancel { task: task.clone() }, task),
        Command::Skip { task, reason } => (
            Request::Skip {
                task: task.clone(),
                reason,
            },
            task,
        ),
        Command::Resolve { task } => (Request::Resolve { task: task.clone() }, task),
        Command::AddTask(new) => {
            let task = new.id.clone();
            (Request::AddTask(new), task)
        }
        Command::Merge { task } => return merge(shared, actor, task).await,
        // `serve` answers these itself.
        Command::Watch
        | Command::Stop
        | Command::Heartbeat { .. }
        | Command::MsgSend { .. }
        | Command::MsgPoll { .. } => {
            return reply(false, "orch: not a one-answer command".into(), 2)
        }
    };
    let what = verb(&request);
    match handle.ask(actor, request).await {
        Ok(()) => {
            let row = current(shared, &task).await;
            let state = row.map_or_else(String::new, |row| format!("; it is {}", row.state));
            reply(true, format!("orch: {what} {task}{state}"), 0)
        }
        Err(ActionError::AlreadyExists { task, state }) => reply(
            true,
            format!("orch: {task} is already in the plan; it is {state} (nothing was changed)"),
            0,
        ),
        Err(err) => reply(false, format!("orch: {err}"), 1),
    }
}

fn verb(request: &Request) -> &'static str {
    match request {
        Request::Approve { .. } => "approved",
        Request::Reject { .. } => "rejected",
        Request::Retry { fresh: true, .. } => "queued a fresh start of",
        Request::Retry { .. } => "queued",
        Request::Cancel { .. } => "cancelled",
        Request::Skip { .. } => "skipped",
        Request::Resolve { .. } => "handed the conflict back to",
        Request::AddTask(_) => "added",
        Request::Merge { .. } => "merged",
        Request::Reload { .. }
        | Request::Shutdown { .. }
        | Request::Heartbeat { .. }
        | Request::Security { .. }
        | Request::SendMessage { .. }
        | Request::TakeMessages { .. }
        | Request::AckMessages { .. }
        | Request::ReleaseMessages { .. } => "did",
    }
}

async fn current(shared: &Shared, task: &str) -> Option<TaskRow> {
    shared
        .handle
        .snapshot()
        .await?
        .tasks
        .into_iter()
        .find(|t| t.id == task)
}

/// Ask for the merge, then wait for its outcome: the answer `orch worktree
/// merge` gives (0 merged, 1 conflict or waiting, 3 waiting for approval).
async fn merge(shared: &Shared, actor: Actor, task: String) -> Reply {
    let mut events = shared.handle.subscribe();
    if let Err(err) = shared
        .handle
        .ask(actor, Request::Merge { task: task.clone() })
        .await
    {
        return reply(false, format!("orch: {err}"), 1);
    }
    let outcome = tokio::time::timeout(MERGE_WITHIN, async {
        loop {
            match events.recv().await {
                Ok(Event::Merge { row, .. }) if row.id == task => return Some(row),
                Ok(Event::Task { row, .. })
                    if row.id == task && row.merge_state == MergeState::AwaitingApproval =>
                {
                    return Some(row)
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return None,
            }
        }
    })
    .await;
    let row = match outcome {
        Ok(Some(row)) => row,
        Ok(None) => return reply(false, "orch: the server stopped".into(), 1),
        Err(_) => match current(shared, &task).await {
            Some(row) => row,
            None => return reply(false, format!("orch: no task {task:?}"), 1),
        },
    };
    let (message, code) = merge_answer(&row);
    reply(code == 0, message, code)
}

/// What a merge came to, as a line and an exit status.
pub fn merge_answer(row: &TaskRow) -> (String, i32) {
    let task = &row.id;
    let note = row.merge_note.clone().unwrap_or_default();
    match row.merge_state {
        MergeState::Merged => (format!("orch: {task} {note}"), 0),
        MergeState::AwaitingApproval => (
            format!(
                "orch: {task}'s merge waits for approval (approval = \"before_merge\"); \
                 approve it with `orch approve {task}` or in the control room"
            ),
            3,
        ),
        state => (format!("orch: {task}'s merge is {state}: {note}"), 1),
    }
}

/// `orch stop`: answered at once, then the engine stops its agents; the
/// connection stays open until the server ends, so the command can wait
/// for that.
async fn stop(shared: &Shared, conn: Conn) {
    let running = shared.handle.agents().len();
    let mut message = if running == 0 {
        "orch: stopping the server".to_string()
    } else {
        format!("orch: stopping {running} agent(s) and the server")
    };
    let mut events = shared.handle.subscribe();
    let asked = shared
        .handle
        .tell(
            Actor::current_user(),
            Request::Shutdown { stop_agents: true },
        )
        .await;
    match asked {
        Ok(()) => {}
        // Stopping already (a control room's quit): wait for it all the same.
        Err(ActionError::ShuttingDown) => message = "orch: the server is already stopping".into(),
        Err(err) => {
            let reply = reply(false, format!("orch: {err}"), 1);
            conn.finish(Outgoing::json(kind::REPLY, &reply)).await;
            return;
        }
    }
    if let Some(m) = Outgoing::json(kind::REPLY, &reply(true, message, 0)) {
        if conn.outbox.send(m).await.is_err() {
            return;
        }
    }
    // Hold the connection until the engine has ended.
    loop {
        match events.recv().await {
            Ok(Event::Finished(_)) | Err(RecvError::Closed) => break,
            _ => {}
        }
    }
    let mut ending = shared.ending.clone();
    let bye = tokio::time::timeout(Duration::from_secs(10), ending.wait_for(|b| b.is_some()))
        .await
        .ok()
        .and_then(|b| b.ok().and_then(|b| b.clone()));
    conn.finish(bye.and_then(|b| Outgoing::json(kind::BYE, &b)))
        .await;
}

/// Wake the follower whenever something is published; one wake stands for
/// any number of events (a full queue drops the extra ones).
async fn watch(shared: &Shared, mut conn: Conn) {
    let mut events = shared.handle.subscribe();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(Event::Finished(_)) | Err(RecvError::Closed) => break,
                Ok(_) | Err(RecvError::Lagged(_)) => {
                    let wake = Outgoing { kind: kind::WAKE, payload: Vec::new() };
                    match conn.outbox.try_send(wake) {
                        Ok(()) | Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {}
                        Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => return,
                    }
                }
            },
            // The follower closed, or sent something it should not have.
            _ = conn.inbox.recv() => return,
        }
    }
    let bye = Bye {
        message: String::new(),
        code: 0,
    };
    conn.finish(Outgoing::json(kind::BYE, &bye)).await;
}
