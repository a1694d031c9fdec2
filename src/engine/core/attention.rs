//! Agents that need a human: what each running attempt's agent is doing
//! (busy, idle after its turn, waiting for an answer), combined from three
//! signals, each recorded with what it saw:
//!
//! - the agent (`orch heartbeat --waiting/--idle/--busy`, its own hooks
//!   calling it): [`crate::engine::Request::Heartbeat`]'s `activity`;
//! - the screen and the operating system, watched off the engine
//!   (`agent::waiting::watcher`): [`Input::Observed`].
//!
//! Each signal's latest word is kept until it changes its mind or someone
//! types into the agent (which clears every word: whatever was asked has
//! been answered). The mark shown is the most urgent word any signal has:
//! waiting over idle over busy, the agent's own word first among equals,
//! then the screen's, then the operating system's. A marked attempt never
//! stalls; `input_timeout` decides how long it may wait.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::agent::waiting::{Seen, Signal};
use crate::config::{format_duration, HookVars, Risk};
use crate::engine::core::{Core, Live, Phase, StopReason};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{Attention, Event};
use crate::store::{ActivityRow, EventRow};

/// A mark must stand this long before anyone is notified of it: a prompt
/// answered at once (an auto-answer, a user who was attached) never rings.
pub(crate) const NOTIFY_AFTER: Duration = Duration::from_secs(1);
/// One task notifies at most once in this long.
pub(crate) const NOTIFY_EVERY: Duration = Duration::from_secs(30);
/// An auto-answer rule that fires more than this many times in a minute
/// for one attempt is suspended for it.
pub(crate) const AUTO_ANSWER_MAX: usize = 5;
const AUTO_ANSWER_WINDOW: Duration = Duration::from_secs(60);

/// One signal's word.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Word {
    pub(crate) seen: Seen,
    /// What decided it: a rule, a hook, a pid.
    pub(crate) detail: String,
}

/// What the engine knows of one running attempt's agent's activity.
#[derive(Debug, Clone)]
pub(crate) struct Watch {
    words: HashMap<Signal, Word>,
    /// The mark in force, and since when (wall ms, and on the engine's clock).
    pub(crate) seen: Seen,
    pub(crate) signal: Option<Signal>,
    pub(crate) detail: String,
    pub(crate) since_ms: i64,
    pub(crate) since: Instant,
    /// When the current mark may notify (it has stood [`NOTIFY_AFTER`]).
    notify_at: Option<Instant>,
    /// Auto-answer uses per rule, newest last.
    answers: HashMap<usize, VecDeque<Instant>>,
    suspended: Vec<usize>,
    /// The agent's `auto_answer` rules as launched (the screen's rule
    /// numbers refer to these).
    pub(crate) answer_rules: Vec<crate::config::AutoAnswer>,
}

impl Watch {
    pub(crate) fn new(now: Instant, now_ms: i64) -> Watch {
        Watch {
            words: HashMap::new(),
            seen: Seen::Busy,
            signal: None,
            detail: String::new(),
            since_ms: now_ms,
            since: now,
            notify_at: None,
            answers: HashMap::new(),
            suspended: Vec::new(),
            answer_rules: Vec::new(),
        }
    }

    /// Waiting or idle: someone is needed.
    pub(crate) fn needs_someone(&self) -> bool {
        self.seen != Seen::Busy
    }

    /// The most urgent word, and whose.
    fn decide(&self) -> (Seen, Option<Signal>, String) {
        let rank = |seen: &Seen| match seen {
            Seen::Waiting { .. } => 2,
            Seen::Idle => 1,
            Seen::Busy => 0,
        };
        let order = [Signal::Agent, Signal::Screen, Signal::Os];
        let best = order
            .iter()
            .filter_map(|s| self.words.get(s).map(|w| (*s, w)))
            .max_by_key(|(s, w)| {
                (
                    rank(&w.seen),
                    std::cmp::Reverse(order.iter().position(|o| o == s)),
                )
            });
        match best {
            Some((signal, word)) if word.seen != Seen::Busy => {
                (word.seen.clone(), Some(signal), word.detail.clone())
            }
            _ => (Seen::Busy, None, String::new()),
        }
    }
}

impl Live {
    /// The agent's own word (`orch heartbeat --waiting/--idle/--busy`).
    /// Its "busy" is news the screen's "idle" (its input box, read before
    /// the turn began) has not caught up with: that word goes. A question
    /// on the screen stays until the screen or input says otherwise.
    pub(crate) fn watch_word(&mut self, signal: Signal, seen: Seen) {
        if signal == Signal::Agent
            && seen == Seen::Busy
            && self.watch.words.get(&Signal::Screen).map(|w| &w.seen) == Some(&Seen::Idle)
        {
            self.watch.words.remove(&Signal::Screen);
        }
        self.watch.words.insert(
            signal,
            Word {
                seen,
                detail: "orch heartbeat".into(),
            },
        );
    }
}

impl Core {
    /// The conversation a running attempt's agent reported: kept on the
    /// attempt, and on the task for its next attempt to resume (where its
    /// agent has a `resume` command).
    pub(super) fn learn_session(&mut self, id: &str, attempt: u32, session: String) {
        if let Some(mut row) = self.tasks.get(id).cloned() {
            if row.session_id.as_deref() != Some(session.as_str()) {
                row.session_id = Some(session.clone());
                self.persist(Write::Task(row.clone()));
                self.tasks.put(row);
            }
        }
        self.record(id, attempt, "session", format!("conversation {session}"));
    }

    /// A signal's word on a running attempt's agent: `seen` `None`
    /// withdraws its last word. `Signal::Input` (someone typed) clears
    /// every word.
    pub(super) fn observe(
        &mut self,
        task: &str,
        attempt: u32,
        signal: Signal,
        seen: Option<Seen>,
        detail: String,
        auto_answer: Option<usize>,
    ) {
        let Some(live) = self
            .live
            .get_mut(task)
            .filter(|l| l.row.attempt == attempt && l.phase == Phase::Running)
        else {
            return;
        };
        match (signal, seen) {
            (Signal::Input, _) => live.watch.words.clear(),
            (signal, Some(seen)) => {
                let seen = seen.cleaned();
                live.watch.words.insert(signal, Word { seen, detail });
            }
            (signal, None) => {
                live.watch.words.remove(&signal);
            }
        }
        let by = match signal {
            Signal::Input => Some(Signal::Input),
            _ => None,
        };
        self.remark(task, by);
        if let Some(rule) = auto_answer {
            self.auto_answer(task, rule);
        }
    }

    /// Make the mark what the words say; persist and publish a change.
    /// `by` names the signal of a mark that no word decides (input).
    pub(super) fn remark(&mut self, task: &str, by: Option<Signal>) {
        let now = self.now;
        let Some(live) = self.live.get_mut(task) else {
            return;
        };
        let (seen, signal, detail) = live.watch.decide();
        let signal = signal.or(by);
        let w = &mut live.watch;
        let same_kind = std::mem::discriminant(&w.seen) == std::mem::discriminant(&seen);
        if w.seen == seen && w.signal == signal && w.detail == detail {
            return;
        }
        if !same_kind {
            w.since = now.mono;
            w.since_ms = now.wall_ms;
            w.notify_at = (seen != Seen::Busy).then(|| now.mono + NOTIFY_AFTER);
        }
        w.seen = seen;
        w.signal = signal;
        w.detail = detail;
        live.row.activity = Some(activity_row(&live.watch));
        let row = live.row.clone();
        let view = attention_of(task, live, false);
        self.persist(Write::Attempt(row));
        self.publish(Event::Attention(view));
    }

    /// Marks that have stood long enough notify (once per
    /// [`NOTIFY_EVERY`] per task: a hook and the views' bell); marks past
    /// their `input_timeout` end their attempt. Called with the
    /// supervision round.
    pub(super) fn attend(&mut self) {
        let now = self.now.mono;
        let headless = self.opts.headless;
        let grace = self.opts.stop_grace;
        let mut notify = Vec::new();
        for (id, live) in self.live.iter_mut() {
            if live.phase != Phase::Running || live.stop.is_some() || !live.watch.needs_someone() {
                continue;
            }
            if live.watch.notify_at.is_some_and(|at| at <= now) {
                live.watch.notify_at = None;
                let recent = self
                    .notified
                    .get(id)
                    .is_some_and(|at| now < *at + NOTIFY_EVERY);
                if !recent {
                    notify.push(id.clone());
                }
            }
            let Some(task) = self.defs.task(id) else {
                continue;
            };
            let Some(limit) = task.policy.input_timeout_in(headless) else {
                continue;
            };
            if now.saturating_duration_since(live.watch.since) >= limit {
                let question = question_of(&live.watch);
                tracing::info!(task = %id, "no answer within {limit:?}: stopping the attempt");
                live.stop = Some(StopReason::NoAnswer { question, limit });
                self.out.push(Effect::Stop {
                    task: id.clone(),
                    attempt: live.row.attempt,
                    grace,
                });
            }
        }
        for id in notify {
            self.notify(&id);
        }
    }

    /// Tell the views to ring, and run `on_attention`.
    fn notify(&mut self, id: &str) {
        let Some(live) = self.live.get(id) else {
            return;
        };
        self.notified.insert(id.to_string(), self.now.mono);
        let view = attention_of(id, live, true);
        let reason = reason_of(&live.watch);
        let question = question_of(&live.watch);
        self.publish(Event::Attention(view));
        self.run_attention_hook(
            id,
            HookVars::Attention {
                task: id,
                reason: &reason,
                question: &question,
            },
        );
    }

    /// When an attention deadline (a notification, an input timeout) is
    /// next due.
    pub(super) fn next_attention(&self) -> Option<Instant> {
        let headless = self.opts.headless;
        self.live
            .iter()
            .filter(|(_, l)| l.phase == Phase::Running && l.watch.needs_someone())
            .flat_map(|(id, l)| {
                let timeout = self
                    .defs
                    .task(id)
                    .and_then(|t| t.policy.input_timeout_in(headless))
                    .map(|limit| l.watch.since + limit);
                [l.watch.notify_at, timeout]
            })
            .flatten()
            .min()
    }

    /// The screen asked what auto-answer rule `rule` of the agent matches:
    /// type the answer, unless the task is high-risk or the rule fired too
    /// often (then it is suspended for the attempt and the mark stands).
    fn auto_answer(&mut self, id: &str, rule: usize) {
        let now = self.now.mono;
        let Some(live) = self.live.get_mut(id) else {
            return;
        };
        if live.watch.suspended.contains(&rule) {
            return;
        }
        let Some(answer) = live.watch.answer_rules.get(rule).cloned() else {
            return;
        };
        let question = question_of(&live.watch);
        let attempt = live.row.attempt;
        let risk = live.task.risk;
        if risk >= Risk::High {
            if live.watch.answers.insert(rule, VecDeque::new()).is_none() {
                let cause = format!(
                    "auto-answer {:?} not used: the task's risk is {} (answer it yourself): {question}",
                    answer.pattern.source,
                    risk.as_str()
                );
                self.record(id, attempt, "auto_answer_refused", cause);
            }
            return;
        }
        let uses = live.watch.answers.entry(rule).or_default();
        while uses
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > AUTO_ANSWER_WINDOW)
        {
            uses.pop_front();
        }
        if uses.len() >= AUTO_ANSWER_MAX {
            live.watch.suspended.push(rule);
            let cause = format!(
                "auto-answer {:?} suspended: it answered {AUTO_ANSWER_MAX} times within a minute; \
                 answer it yourself: {question}",
                answer.pattern.source
            );
            self.record(id, attempt, "auto_answer_suspended", cause);
            return;
        }
        uses.push_back(now);
        let bytes = answer.answer.clone().into_bytes();
        let cause = format!(
            "typed {:?} (rule {:?}) to: {question}",
            answer.answer, answer.pattern.source
        );
        self.out.push(Effect::Type {
            task: id.to_string(),
            attempt,
            bytes,
        });
        self.record(id, attempt, "auto_answer", cause);
        // Answered: the question is gone.
        if let Some(live) = self.live.get_mut(id) {
            live.watch.words.clear();
        }
        self.remark(id, Some(Signal::Input));
    }

    /// An event about an attempt.
    fn record(&mut self, id: &str, attempt: u32, kind: &str, cause: String) {
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: self.now.wall_ms,
            run_id: Some(self.run_id),
            task_id: Some(id.to_string()),
            attempt: Some(attempt),
            kind: kind.into(),
            from_state: None,
            to_state: None,
            cause: Some(cause.clone()),
        }));
        self.publish(Event::Note {
            task: id.to_string(),
            text: cause,
        });
    }

    /// Every running attempt that needs someone, for a view that just
    /// (re)subscribed.
    pub(super) fn attention(&self) -> Vec<Attention> {
        self.live
            .iter()
            .filter(|(_, l)| l.phase == Phase::Running && l.watch.needs_someone())
            .map(|(id, l)| attention_of(id, l, false))
            .collect()
    }

    /// The cause an attempt ends with when nobody answered it.
    pub(super) fn no_answer_cause(question: &str, limit: Duration) -> String {
        if question.is_empty() {
            format!(
                "no answer within {}: the agent was idle, waiting for its next prompt",
                format_duration(limit)
            )
        } else {
            format!("no answer to: {question}")
        }
    }
}

fn activity_row(w: &Watch) -> ActivityRow {
    ActivityRow {
        state: w.seen.as_str().to_string(),
        since: w.since_ms,
        signal: w.signal.map(|s| s.as_str().to_string()),
        detail: (!w.detail.is_empty()).then(|| w.detail.clone()),
        question: match &w.seen {
            Seen::Waiting { question } => Some(question.clone()),
            _ => None,
        },
    }
}

fn attention_of(task: &str, live: &Live, notify: bool) -> Attention {
    Attention {
        task: task.to_string(),
        attempt: live.row.attempt,
        activity: activity_row(&live.watch),
        notify,
    }
}

/// The question of a waiting mark (empty when idle).
fn question_of(w: &Watch) -> String {
    match &w.seen {
        Seen::Waiting { question } => question.clone(),
        _ => String::new(),
    }
}

/// A mark as a reason in a few words.
fn reason_of(w: &Watch) -> String {
    match &w.seen {
        Seen::Waiting { .. } => "waiting for input".into(),
        Seen::Idle => "idle: finished its turn".into(),
        Seen::Busy => "busy".into(),
    }
}
