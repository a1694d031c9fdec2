//! What agents tell the engine, through the socket: heartbeats (a sign of
//! life, with progress and a note) and, recorded for them, what they were
//! refused (`security` events). Which task and attempt an agent speaks for
//! is decided before it gets here (`control::identity`): a request names
//! only the attempt the caller was found to be.

use crate::agent::waiting::{Seen, Signal};
use crate::engine::core::{Core, Phase};
use crate::engine::effect::Write;
use crate::engine::message::{check_note, ActionError, Event, Progress};
use crate::store::EventRow;

/// Security events recorded for one attempt (or for agents of unknown
/// task) before the rest are only logged.
pub(crate) const SECURITY_EVENTS_KEPT: u32 = 100;

impl Core {
    /// A running attempt's agent says it is alive (see
    /// [`crate::engine::Request::Heartbeat`]). Its progress and note are
    /// persisted and published only when they change: a heartbeat that
    /// says nothing new costs no write.
    pub(super) fn heartbeat(
        &mut self,
        task: &str,
        attempt: u32,
        progress: Option<u8>,
        note: Option<String>,
        activity: Option<Seen>,
        session_id: Option<String>,
    ) -> Result<(), ActionError> {
        if progress.is_some_and(|p| p > 100) {
            return Err(ActionError::Refused(
                "progress is a percentage: 0 to 100".into(),
            ));
        }
        let note = note.map(|n| check_note(&n)).transpose()?;
        if session_id
            .as_deref()
            .is_some_and(|s| s.is_empty() || s.len() > 200 || s.chars().any(char::is_control))
        {
            return Err(ActionError::Refused(
                "a session id is one word of up to 200 characters".into(),
            ));
        }
        let now = self.now.mono;
        let Some(live) = self
            .live
            .get_mut(task)
            .filter(|l| l.row.attempt == attempt && l.phase == Phase::Running)
        else {
            return Err(ActionError::Refused(format!(
                "{task}'s attempt {attempt} is not running"
            )));
        };
        // A sign of life like output: the stall clock starts again.
        live.heard = Some(live.heard.map_or(now, |h| h.max(now)));
        let session_changed = session_id.is_some() && live.row.session_id != session_id;
        if session_changed {
            live.row.session_id = session_id.clone();
        }
        if let Some(seen) = activity {
            live.watch_word(Signal::Agent, seen.cleaned());
            self.remark(task, None);
        }
        if let Some(session) = session_id.filter(|_| session_changed) {
            self.learn_session(task, attempt, session);
        }
        let Some(live) = self.live.get_mut(task) else {
            return Ok(());
        };
        let before = (live.row.progress, live.row.note.clone());
        if let Some(progress) = progress {
            live.row.progress = Some(progress);
        }
        if let Some(note) = note {
            live.row.note = (!note.is_empty()).then_some(note);
        }
        if before == (live.row.progress, live.row.note.clone()) {
            if session_changed {
                let row = live.row.clone();
                self.persist(Write::Attempt(row));
            }
            return Ok(());
        }
        let row = live.row.clone();
        let event = Progress {
            task: task.to_string(),
            attempt,
            progress: row.progress,
            note: row.note.clone(),
        };
        self.persist(Write::Attempt(row));
        self.publish(Event::Progress(event));
        Ok(())
    }

    /// What running attempts' agents last said of their progress.
    pub(super) fn progress(&self) -> Vec<Progress> {
        self.live
            .iter()
            .filter(|(_, live)| live.row.progress.is_some() || live.row.note.is_some())
            .map(|(task, live)| Progress {
                task: task.clone(),
                attempt: live.row.attempt,
                progress: live.row.progress,
                note: live.row.note.clone(),
            })
            .collect()
    }

    /// Record what an agent tried and was refused, and tell the views. An
    /// agent that keeps trying could fill the append-only events table:
    /// past [`SECURITY_EVENTS_KEPT`] refusals of one attempt, one more
    /// event says so and the rest go to the log only.
    pub(super) fn security(&mut self, task: Option<String>, attempt: Option<u32>, cause: String) {
        tracing::warn!(task = task.as_deref().unwrap_or("?"), "security: {cause}");
        let recorded = self.refusals.entry((task.clone(), attempt)).or_insert(0);
        *recorded += 1;
        let cause = match (*recorded).cmp(&(SECURITY_EVENTS_KEPT + 1)) {
            std::cmp::Ordering::Less => cause,
            std::cmp::Ordering::Equal => format!(
                "{cause} (more than {SECURITY_EVENTS_KEPT} refusals of this attempt: \
                 further ones are only logged)"
            ),
            std::cmp::Ordering::Greater => return,
        };
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: self.now.wall_ms,
            run_id: Some(self.run_id),
            task_id: task.clone(),
            attempt,
            kind: "security".into(),
            from_state: None,
            to_state: None,
            cause: Some(cause.clone()),
        }));
        self.publish(Event::Security { task, text: cause });
    }
}
