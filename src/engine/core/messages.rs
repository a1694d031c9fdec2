//! Messages between agents (`orch msg send --to TASK`, `orch msg poll`):
//! kept for their task until an agent of it reads them, through restarts.
//!
//! A message goes `pending` (sent, kept for its task, whether or not an
//! agent of it runs yet) -> `delivered` (handed to a running attempt's
//! poll) -> `acknowledged` (that poll printed it). A message delivered but
//! never acknowledged (the poll was killed, the attempt crashed) is handed
//! out again by the next poll, of that attempt or a later one: nothing is
//! lost between the store and the agent, and nothing is read twice once
//! acknowledged. Each step is a row write and a `message` event.

use std::collections::HashMap;

use crate::engine::core::{Core, Phase};
use crate::engine::effect::Write;
use crate::engine::message::{
    check_message, message_preview, ActionError, Actor, Answer, Event, DELIVERY_MAX, UNREAD_MAX,
};
use crate::store::{EventRow, MessageRow, MessageState};

/// How much of a message an event's cause quotes.
const PREVIEW_CHARS: usize = 80;

/// The messages not acknowledged yet, per task they are for, oldest first.
#[derive(Debug, Default)]
pub(super) struct Inbox {
    by_task: HashMap<String, Vec<MessageRow>>,
    /// The last id given; ids only grow.
    last_id: i64,
    /// Messages a poll holds (handed to it, not acknowledged yet): by id,
    /// the poll. Not stored: after a restart no poll holds anything.
    held: HashMap<i64, u64>,
}

impl Inbox {
    /// What the store held: messages not acknowledged, and the last id.
    pub(super) fn restore(messages: Vec<MessageRow>, last_id: i64) -> Inbox {
        let mut inbox = Inbox {
            by_task: HashMap::new(),
            last_id,
            held: HashMap::new(),
        };
        for m in messages {
            inbox.last_id = inbox.last_id.max(m.id);
            inbox.by_task.entry(m.to_task.clone()).or_default().push(m);
        }
        inbox
    }

    fn unread(&self, task: &str) -> usize {
        self.by_task.get(task).map_or(0, Vec::len)
    }

    /// Every message not acknowledged, oldest first.
    #[cfg(test)]
    pub(super) fn all(&self) -> Vec<MessageRow> {
        let mut all: Vec<MessageRow> = self.by_task.values().flatten().cloned().collect();
        all.sort_by_key(|m| m.id);
        all
    }
}

impl Core {
    /// Keep a message for `to`'s agent (see
    /// [`crate::engine::Request::SendMessage`]).
    pub(super) fn send_message(
        &mut self,
        actor: &Actor,
        to: &str,
        text: String,
        from_attempt: Option<u32>,
    ) -> Result<Answer, ActionError> {
        let Some(to_state) = self.tasks.state(to) else {
            return Err(ActionError::UnknownTask(to.to_string()));
        };
        let text = check_message(&text)?;
        if self.inbox.unread(to) >= UNREAD_MAX {
            return Err(ActionError::Refused(format!(
                "{to} has {UNREAD_MAX} messages it has not read yet; no more are kept for it \
                 until its agent reads them (orch msg poll)"
            )));
        }
        let from_task = match actor {
            Actor::Agent(task) => Some(task.clone()),
            _ => None,
        };
        self.inbox.last_id += 1;
        let row = MessageRow {
            id: self.inbox.last_id,
            to_task: to.to_string(),
            sender: actor.as_stored(),
            from_attempt: from_attempt.filter(|_| from_task.is_some()),
            from_task,
            text,
            sent_at: self.now.wall_ms,
            state: MessageState::Pending,
            delivered_at: None,
            delivered_attempt: None,
            acked_at: None,
        };
        let id = row.id;
        self.record_message(&row, None);
        self.inbox
            .by_task
            .entry(to.to_string())
            .or_default()
            .push(row);
        Ok(Answer::Sent {
            id,
            to_state,
            running: self.live.get(to).is_some_and(|l| l.phase == Phase::Running),
        })
    }

    /// Hand a running attempt's agent its task's unread messages (see
    /// [`crate::engine::Request::TakeMessages`]).
    pub(super) fn take_messages(
        &mut self,
        task: &str,
        attempt: u32,
        poll: u64,
    ) -> Result<Answer, ActionError> {
        self.running_agent(task, attempt)?;
        let now = self.now;
        if let Some(live) = self.live.get_mut(task) {
            live.heard = Some(live.heard.map_or(now.mono, |h| h.max(now.mono)));
        }
        let mut handed = Vec::new();
        let mut remaining = 0;
        let mut changed = Vec::new();
        let held = &mut self.inbox.held;
        if let Some(unread) = self.inbox.by_task.get_mut(task) {
            for m in unread.iter_mut() {
                // Another poll (of this attempt) has it in hand.
                if held.get(&m.id).is_some_and(|p| *p != poll) {
                    continue;
                }
                if handed.len() >= DELIVERY_MAX {
                    remaining += 1;
                    continue;
                }
                // Handed out again (the last poll did not acknowledge it):
                // recorded too, so the log shows every hand-out.
                let from = m.state;
                m.state = MessageState::Delivered;
                m.delivered_at = Some(now.wall_ms);
                m.delivered_attempt = Some(attempt);
                changed.push((m.clone(), from));
                held.insert(m.id, poll);
                handed.push(m.clone());
            }
        }
        for (row, from) in changed {
            self.record_message(&row, Some(from));
        }
        Ok(Answer::Messages {
            messages: handed,
            remaining,
        })
    }

    /// The agent printed these messages (see
    /// [`crate::engine::Request::AckMessages`]).
    pub(super) fn ack_messages(
        &mut self,
        task: &str,
        attempt: u32,
        ids: &[i64],
    ) -> Result<Answer, ActionError> {
        self.running_agent(task, attempt)?;
        let Some(unread) = self.inbox.by_task.get_mut(task) else {
            return Ok(Answer::Acknowledged(0));
        };
        let (read, kept): (Vec<MessageRow>, Vec<MessageRow>) =
            std::mem::take(unread).into_iter().partition(|m| {
                ids.contains(&m.id)
                    && m.state == MessageState::Delivered
                    && m.delivered_attempt == Some(attempt)
            });
        *unread = kept;
        if unread.is_empty() {
            self.inbox.by_task.remove(task);
        }
        let count = read.len();
        for mut row in read {
            self.inbox.held.remove(&row.id);
            row.state = MessageState::Acknowledged;
            row.acked_at = Some(self.now.wall_ms);
            self.record_message(&row, Some(MessageState::Delivered));
        }
        Ok(Answer::Acknowledged(count))
    }

    /// Poll `poll` of `task`'s agent ended without acknowledging what it
    /// held (see [`crate::engine::Request::ReleaseMessages`]).
    pub(super) fn release_messages(&mut self, task: &str, poll: u64) {
        let ids: Vec<i64> = self
            .inbox
            .by_task
            .get(task)
            .map(|unread| unread.iter().map(|m| m.id).collect())
            .unwrap_or_default();
        for id in ids {
            if self.inbox.held.get(&id) == Some(&poll) {
                self.inbox.held.remove(&id);
            }
        }
    }

    /// Messages not acknowledged yet, oldest first.
    #[cfg(test)]
    pub(super) fn unread_messages(&self) -> Vec<MessageRow> {
        self.inbox.all()
    }

    /// Refused unless `attempt` of `task` is running its agent.
    fn running_agent(&self, task: &str, attempt: u32) -> Result<(), ActionError> {
        if self.live.is(task, attempt, Phase::Running) {
            Ok(())
        } else {
            Err(ActionError::Refused(format!(
                "{task}'s attempt {attempt} is not running"
            )))
        }
    }

    /// Write the message as it now stands and its event, then tell the
    /// views (and any poll waiting for it).
    fn record_message(&mut self, row: &MessageRow, from: Option<MessageState>) {
        let from_who = row.from_label();
        let cause = match row.state {
            MessageState::Pending => format!(
                "#{} from {from_who}: {}",
                row.id,
                message_preview(&row.text, PREVIEW_CHARS)
            ),
            MessageState::Delivered if from == Some(MessageState::Delivered) => {
                format!(
                    "#{} from {from_who}, handed out again (not acknowledged)",
                    row.id
                )
            }
            _ => format!("#{} from {from_who}", row.id),
        };
        self.persist(Write::Message(row.clone()));
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: self.now.wall_ms,
            run_id: Some(self.run_id),
            task_id: Some(row.to_task.clone()),
            attempt: row.delivered_attempt,
            kind: "message".into(),
            from_state: from.map(|s| s.as_str().to_string()),
            to_state: Some(row.state.as_str().to_string()),
            cause: Some(cause),
        }));
        self.publish(Event::Message(row.clone()));
    }
}
