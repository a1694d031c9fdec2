//! One line per state change: time, task, state, attempt, cause.

use std::collections::HashMap;
use std::io::Write;

use crate::config::Config;
use crate::engine::policy::Level;
use crate::engine::{Event, HealthView, TaskState};
use crate::store::TaskRow;
use crate::timefmt;

pub struct Progress {
    id_width: usize,
    max_attempts: HashMap<String, u32>,
    /// Last (heartbeat, cpu) level reported per task: health lines are
    /// printed only when a level changes, not once a second.
    health: HashMap<String, (Level, Level)>,
}

impl Progress {
    /// Lines for the tasks of `config`: the engine's plan
    /// (`EngineHandle::plan`), the tasks added at run time included.
    pub fn new(config: &Config) -> Self {
        let mut progress = Progress {
            id_width: 4,
            max_attempts: HashMap::new(),
            health: HashMap::new(),
        };
        progress.learn(config);
        progress
    }

    /// The plan is now `config` (a task was added, orch.toml reloaded):
    /// its tasks' attempt budgets, and ids as wide as the widest so far.
    fn learn(&mut self, config: &Config) {
        let widest = config.tasks.iter().map(|t| t.id.len()).max().unwrap_or(4);
        self.id_width = self.id_width.max(widest.clamp(4, 32));
        self.max_attempts = config
            .tasks
            .iter()
            .map(|t| (t.id.clone(), t.max_attempts()))
            .collect();
    }

    /// The line for an event, if it deserves one.
    pub fn line(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::PlanChanged { config, .. } => {
                self.learn(config);
                None
            }
            Event::Task { row, why, .. } => {
                if row.state != TaskState::Running {
                    self.health.remove(&row.id);
                }
                Some(self.task_line(row, why.as_deref()))
            }
            Event::Merge { row, why } => Some(self.plain_line(
                row.updated_at,
                &row.id,
                &format!("merge {}", row.merge_state),
                why,
            )),
            Event::Note { task, text } => Some(self.plain_line(timefmt::now_ms(), task, "", text)),
            Event::Health(view) => self.health_line(view),
            Event::Progress(said) => Some(self.plain_line(
                timefmt::now_ms(),
                &said.task,
                "progress",
                &format!("attempt {}: {}", said.attempt, said.text()),
            )),
            Event::Message(row) => Some(self.message_line(row)),
            Event::Attention(a) if !a.notify => Some(self.plain_line(
                a.activity.since,
                &a.task,
                &a.activity.state,
                &attention_text(a),
            )),
            Event::Security { task, text } => Some(self.plain_line(
                timefmt::now_ms(),
                task.as_deref().unwrap_or("orch"),
                "security",
                text,
            )),
            Event::Finished(outcome) if outcome.interrupted => Some(format!(
                "{}  {:<w$}  interrupted: agents stopped, state saved; run orch again to resume",
                timefmt::clock(timefmt::now_ms()),
                "orch",
                w = self.id_width
            )),
            _ => None,
        }
    }

    /// A message's step: sent (with its text), handed out, read.
    fn message_line(&self, row: &crate::store::MessageRow) -> String {
        use crate::store::MessageState;
        let from = row.from_label();
        let (at, what) = match row.state {
            MessageState::Pending => (
                row.sent_at,
                format!(
                    "#{} from {from}: {}",
                    row.id,
                    crate::engine::message::message_preview(&row.text, 100)
                ),
            ),
            MessageState::Delivered => (
                row.delivered_at.unwrap_or(row.sent_at),
                format!(
                    "#{} from {from} handed to attempt {}",
                    row.id,
                    row.delivered_attempt.unwrap_or(0)
                ),
            ),
            MessageState::Acknowledged => (
                row.acked_at.unwrap_or(row.sent_at),
                format!("#{} from {from} read", row.id),
            ),
        };
        self.plain_line(at, &row.to_task, "message", &what)
    }

    fn health_line(&mut self, view: &HealthView) -> Option<String> {
        let task = &view.sample.task;
        let before = self
            .health
            .insert(task.clone(), (view.heartbeat, view.cpu))
            .unwrap_or((Level::Ok, Level::Ok));
        let mut notes = Vec::new();
        if view.heartbeat != before.0 {
            notes.push(match view.heartbeat {
                Level::Ok => "output again".to_string(),
                _ => format!(
                    "heartbeat warning: no output for {}",
                    timefmt::short_duration(view.heartbeat_age)
                ),
            });
        }
        if view.cpu != before.1 {
            notes.push(format!(
                "cpu {}: {:.0}% of a core, {} MiB",
                view.cpu.as_str(),
                view.sample.cpu,
                view.sample.rss / (1024 * 1024)
            ));
        }
        if notes.is_empty() {
            return None;
        }
        Some(format!(
            "{}  {:<w$}  {:<17}  {:<13}  {}",
            timefmt::clock(timefmt::now_ms()),
            task,
            "running",
            format!("attempt {}", view.sample.attempt),
            notes.join("; "),
            w = self.id_width
        ))
    }

    /// A line in the columns of the task lines, with no attempt column.
    fn plain_line(&self, at: i64, task: &str, what: &str, text: &str) -> String {
        let line = format!(
            "{}  {:<w$}  {:<17}  {:<13}  {}",
            timefmt::clock(at),
            task,
            what,
            "",
            text,
            w = self.id_width
        );
        line.trim_end().to_string()
    }

    fn task_line(&self, row: &TaskRow, why: Option<&str>) -> String {
        let max = self.max_attempts.get(&row.id).copied().unwrap_or(1);
        let attempt = if row.attempts > 0 {
            format!("attempt {}/{}", row.attempts, max.max(row.attempts))
        } else {
            String::new()
        };
        let mut line = format!(
            "{}  {:<w$}  {:<17}  {:<13}",
            timefmt::clock(row.updated_at),
            row.id,
            row.state.as_str(),
            attempt,
            w = self.id_width
        );
        if let Some(why) = why {
            line.push_str("  ");
            line.push_str(why);
        } else if row.state == TaskState::Running {
            line.push_str("  started");
        }
        line.truncate(line.trim_end().len());
        line
    }

    /// Print the lines of `events` until the run's `Finished` (or the end
    /// of the stream); a reporter that fell behind says how many it missed.
    pub async fn follow(mut self, mut events: tokio::sync::broadcast::Receiver<Event>) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(event) => {
                    self.print(&event);
                    if matches!(event, Event::Finished(_)) {
                        break;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    println!("orch: output fell behind; {missed} progress line(s) skipped (state.db has them all)");
                }
                Err(RecvError::Closed) => break,
            }
        }
    }

    /// Print `event`'s line, if any. Errors writing stdout (a closed pipe)
    /// must not stop the run.
    pub fn print(&mut self, event: &Event) {
        if let Some(line) = self.line(event) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// What an agent's mark says, for its progress line: the question (or
/// that it finished its turn, or works again) and which signal said so.
fn attention_text(a: &crate::engine::message::Attention) -> String {
    let what = match (a.activity.state.as_str(), &a.activity.question) {
        ("waiting", Some(q)) => format!("waiting for input: {q}"),
        ("idle", _) => "idle: finished its turn, waiting for the next prompt".to_string(),
        ("busy", _) => "working again".to_string(),
        (state, _) => state.to_string(),
    };
    match (&a.activity.signal, &a.activity.detail) {
        (Some(signal), Some(detail)) => {
            format!("{what} (attempt {}; {signal}: {detail})", a.attempt)
        }
        (Some(signal), None) => format!("{what} (attempt {}; {signal})", a.attempt),
        _ => format!("{what} (attempt {})", a.attempt),
    }
}
