//! The control room's state and what keys do to it.
//!
//! `App` joins the [`TaskTable`] (the tasks as the engine last published
//! them), the four panes (each owning its state: the task list its cursor
//! and grouping, the output pane its scroll, the approval queue its cursor),
//! the focus, the mode (overlays, dialogs, attach) and the style. Keys are
//! routed by focus: app-wide actions and actions on the selected task are
//! handled here, everything else is offered to the panes, the focused one
//! first. While the diff view is open it takes the keys (`[diff]` of the
//! keymap), and the task actions act on the task it shows. Key handling
//! returns [`Effect`]s for the event loop to carry out
//! (ask the engine, attach, open a pager, quit), and slow reads are queued
//! as [`Job`]s, so everything here runs in tests without a terminal, an
//! engine or a disk.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use crate::config::Config;
use crate::engine::{HealthView, TaskState};
use crate::git::TaskDiff;
use crate::store::{MergeState, TaskRow};
use crate::ui::jobs::{Job, JobDone};
use crate::ui::keymap::{Action, Context, KeyChord, Keymap, Lookup};
use crate::ui::layout;
use crate::ui::output_source::OutputSource;
use crate::ui::panes::approvals::ApprovalQueue;
use crate::ui::panes::dialog::{Confirmable, Dialog, Step};
use crate::ui::panes::diff::{self as diff_view, DiffView};
use crate::ui::panes::health::HealthPane;
use crate::ui::panes::output::{OutputKey, OutputPane};
use crate::ui::panes::overlays::{Attempts, TaskRecord};
use crate::ui::panes::tasks::TaskList;
use crate::ui::panes::{Ctx, Handled, Pane};
use crate::ui::task_table::{Replay, TaskEntry, TaskTable, FINISHED_SCREENS_KEPT};
use crate::ui::theme::Theme;

/// Two clicks on the same task row within this are a double click.
const DOUBLE_CLICK: Duration = Duration::from_millis(500);

/// How long a flash message stays in the status bar.
const FLASH_FOR: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Tasks,
    Health,
    Output,
    Approvals,
}

impl Focus {
    const ORDER: [Focus; 4] = [Focus::Tasks, Focus::Output, Focus::Approvals, Focus::Health];

    pub fn context(self) -> Context {
        match self {
            Focus::Tasks => Context::Tasks,
            Focus::Health => Context::Health,
            Focus::Output => Context::Output,
            Focus::Approvals => Context::Approvals,
        }
    }

    fn step(self, forward: bool) -> Focus {
        let i = Focus::ORDER.iter().position(|f| *f == self).unwrap_or(0);
        let n = Focus::ORDER.len();
        Focus::ORDER[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Details(String),
    Dialog(Dialog),
    /// Keys go to this task's agent.
    Attached(String),
    /// The diff view of this task (its state is `App::diff`).
    Diff(String),
}

/// A user's request the engine decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAction {
    Approve(String),
    Reject {
        task: String,
        reason: String,
    },
    Retry(String),
    /// Retry from scratch on the base branch (the old branch kept aside).
    RetryFresh(String),
    Cancel(String),
    Skip(String),
    Merge(String),
    /// Hand a conflicted merge back to the task's agent.
    Resolve(String),
}

impl EngineAction {
    /// What the status bar says once the engine agreed.
    pub fn done(&self) -> String {
        match self {
            EngineAction::Approve(task) => format!("approved {task}"),
            EngineAction::Reject { task, .. } => format!("rejected {task}"),
            EngineAction::Retry(task) => format!("retrying {task}"),
            EngineAction::RetryFresh(task) => format!("retrying {task} from scratch"),
            EngineAction::Cancel(task) => format!("cancelled {task}"),
            EngineAction::Skip(task) => format!("skipped {task}"),
            EngineAction::Merge(task) => format!("merging {task}"),
            EngineAction::Resolve(task) => format!("handing {task}'s conflicts to its agent"),
        }
    }
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Ask the engine; its answer comes back later as a flash.
    Engine(EngineAction),
    /// Open the task's latest log in `$PAGER`.
    Logs(String),
    /// Show a task's diff in the user's pager.
    Pager {
        task: String,
        diff: Arc<TaskDiff>,
    },
    /// Resize the agent to full screen and pass keys through.
    Attach(String),
    Detach(String),
    /// Bytes for the attached agent's PTY.
    Input(String, Vec<u8>),
    /// Put this text on the client's clipboard (and in the copy file).
    Copy(String),
    Redraw,
    /// Stop the agents and end the server (the last control room's quit).
    Quit,
    /// Leave this control room; the server and its agents keep running.
    Leave,
}

/// A snapshot asked for after falling behind the engine's events.
struct Resync {
    /// Tasks an event changed since it was asked for: their event is at
    /// least as new as the snapshot, so the snapshot does not overwrite them.
    touched: HashSet<String>,
    /// Fell behind again while waiting: ask for another when it arrives.
    again: bool,
}

pub struct App {
    pub table: TaskTable,
    pub task_list: TaskList,
    pub output: OutputPane,
    pub queue: ApprovalQueue,
    pub health: HealthPane,
    pub focus: Focus,
    pub mode: Mode,
    pub keymap: Keymap,
    pub theme: Theme,
    pending_keys: Vec<KeyChord>,
    /// A short message for the status bar, with when it was set.
    flash: Option<(String, Instant)>,
    /// How far the help is scrolled, and (from the last frame's size) how
    /// far it can be and a page of it.
    pub help_scroll: usize,
    help_max: usize,
    help_page: usize,
    pub user: String,
    pub title: String,
    /// The errors of the last edit of orch.toml, while the previous config
    /// stays in force.
    pub config_error: Option<String>,
    /// The details dialog's attempts, with the task they are for.
    details: Option<(String, Attempts)>,
    /// The diff view, while it is open (also under a dialog or the help).
    pub diff: Option<DiffView>,
    /// Numbers diff requests, so an answer is matched to its request.
    diff_seq: u64,
    /// The branch diffs are against and merges land on, when known.
    pub base_branch: Option<String>,
    /// Nothing is owed, as the server last said (`EngineHandle::is_settled`):
    /// only then may `q` stop the server without asking.
    pub plan_settled: bool,
    /// The server is a foreground run (`orch --no-tui`, someone's job):
    /// `q` never stops it without an explicit choice.
    pub foreground_run: bool,
    /// Slow reads waiting to be started by the event loop.
    jobs: Vec<Job>,
    /// Frames prepared so far: the clock of "least recently viewed".
    frame: u64,
    resync: Option<Resync>,
    /// An agent asked to be noticed: ring with the next frame.
    bell: bool,
    /// What the last notification is about (`task: question`).
    notice: Option<String>,
    /// The count of what needs you the terminal's title last said.
    titled: Option<usize>,
    /// The client runs inside tmux (notifications are wrapped for it).
    pub in_tmux: bool,
    /// The output pane is shown over the whole screen.
    pub zoomed: bool,
    /// The client's screen at the last frame (where the mouse points).
    screen: Rect,
    /// The last left click on a task: (when, which), for a double click.
    last_click: Option<(Instant, String)>,
    /// A left button pressed in the output pane: where, and whether it has
    /// moved since (a drag, not a click).
    drag: Option<(crate::ui::panes::copy_mode::Pos, bool)>,
}

impl App {
    pub fn new(
        config: &Config,
        rows: Vec<TaskRow>,
        keymap: Keymap,
        theme: Theme,
        now: Instant,
    ) -> App {
        let table = TaskTable::new(config, rows, now);
        let task_list = TaskList::new(&table);
        App {
            table,
            task_list,
            output: OutputPane::default(),
            queue: ApprovalQueue::default(),
            health: HealthPane,
            focus: Focus::Tasks,
            mode: Mode::Normal,
            keymap,
            theme,
            pending_keys: Vec::new(),
            flash: None,
            help_scroll: 0,
            help_max: 0,
            help_page: 1,
            user: std::env::var("USER").unwrap_or_else(|_| "user".into()),
            title: config.path.display().to_string(),
            config_error: None,
            details: None,
            diff: None,
            diff_seq: 0,
            base_branch: None,
            plan_settled: false,
            foreground_run: false,
            jobs: Vec::new(),
            frame: 0,
            resync: None,
            bell: false,
            notice: None,
            titled: None,
            in_tmux: false,
            zoomed: false,
            screen: Rect::new(0, 0, 80, 24),
            last_click: None,
            drag: None,
        }
    }

    /// Where each pane goes on a screen of `area`: the usual layout, or
    /// while zoomed the output over everything but the status bar.
    pub fn areas(&self, area: Rect) -> layout::Areas {
        if self.zoomed {
            return layout::Areas {
                tasks: Rect::default(),
                health: Rect::default(),
                output: layout::body(area),
                approvals: Rect::default(),
                status: Rect {
                    y: area.bottom().saturating_sub(1),
                    height: area.height.min(1),
                    ..area
                },
            };
        }
        layout::split(
            area,
            self.table.needs_you().len(),
            self.table.running().len(),
        )
    }

    // ---- derived views ---------------------------------------------------

    /// What the panes read.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            table: &self.table,
            theme: &self.theme,
            keymap: &self.keymap,
            focus: self.focus,
            selected: self.selected(),
        }
    }

    pub fn task(&self, id: &str) -> Option<&TaskEntry> {
        self.table.task(id)
    }

    /// The task under the cursor in the task pane.
    pub fn selected(&self) -> Option<&TaskEntry> {
        self.task_list
            .selected_index()
            .and_then(|i| self.table.tasks.get(i))
    }

    pub fn selected_id(&self) -> Option<String> {
        self.selected().map(|t| t.config.id.clone())
    }

    pub fn select_task(&mut self, id: &str) {
        let before = self.task_list.selected_index();
        self.task_list.select_task(&self.table, id);
        if self.task_list.selected_index() != before {
            self.output.show_other_task();
        }
    }

    /// The task whose screen is on show: the attached one, else the selected.
    fn shown_index(&self) -> Option<usize> {
        match &self.mode {
            Mode::Attached(id) => self.table.position(id),
            _ => self.task_list.selected_index(),
        }
    }

    /// The commands the focused pane (or the diff view) offers, for the
    /// status bar.
    pub fn focused_commands(&self) -> &'static [(Action, &'static str)] {
        if self.diff.is_some() {
            return diff_view::COMMANDS;
        }
        match self.focus {
            Focus::Tasks => self.task_list.commands(),
            Focus::Output => self.output.commands(),
            Focus::Approvals => self.queue.commands(),
            Focus::Health => self.health.commands(),
        }
    }

    /// Where keys are looked up now: the diff view's table while it is
    /// open, else the focused pane's.
    pub fn key_context(&self) -> Context {
        if self.diff.is_some() {
            Context::Diff
        } else {
            self.focus.context()
        }
    }

    /// The mode a closing dialog or overlay returns to: the diff view if it
    /// was open beneath, else the panes.
    fn under_overlay(&self) -> Mode {
        match &self.diff {
            Some(view) => Mode::Diff(view.task.clone()),
            None => Mode::Normal,
        }
    }

    /// The details dialog's attempts for `id` (loading until they arrive).
    pub fn attempts(&self, id: &str) -> &Attempts {
        match &self.details {
            Some((task, attempts)) if task == id => attempts,
            _ => &Attempts::Loading,
        }
    }

    // ---- before each frame -------------------------------------------------

    /// Decide everything the next frame needs, so drawing changes nothing:
    /// the output pane's size and scroll anchor, what the user has now seen
    /// (and which "unseen output" markers show), which finished screens stay
    /// in memory, and the log replay the selected task needs.
    pub fn prepare_frame(&mut self, area: Rect) {
        self.frame += 1;
        self.screen = area;
        self.output.zoomed = self.zoomed;
        if matches!(self.mode, Mode::Attached(_)) {
            self.output.set_attached_rows(layout::body(area).height);
        } else {
            let areas = self.areas(area);
            let inner = ratatui::widgets::Block::bordered().inner(areas.output);
            self.output.set_size((inner.height, inner.width));
            let tasks = ratatui::widgets::Block::bordered().inner(areas.tasks);
            self.task_list.fit(tasks.height);
        }
        let selected = self
            .task_list
            .selected_index()
            .and_then(|i| self.table.tasks.get(i));
        self.output.anchor(selected);
        if self.mode == Mode::Help {
            self.help_max =
                crate::ui::panes::overlays::help_max_scroll(area, &self.theme, &self.keymap);
            self.help_page = usize::from(area.height.saturating_sub(4)).max(1);
            self.help_scroll = self.help_scroll.min(self.help_max);
        }
        if let Some(view) = &mut self.diff {
            let text = diff_view::text_area(layout::body(area));
            view.set_size((text.height, text.width));
        }
        let shown = self.shown_index();
        for (i, entry) in self.table.tasks.iter_mut().enumerate() {
            let Some(output) = &entry.output else {
                continue;
            };
            if shown == Some(i) {
                entry.seen_seq = output.output_seq();
                entry.viewed = self.frame;
            }
            entry.marker_shown = output.output_seq() > entry.seen_seq;
        }
        self.table
            .bound_finished_screens(FINISHED_SCREENS_KEPT, shown);
        self.request_replay();
    }

    /// A selected task without a screen shows a replay of its last
    /// attempt's log, read by a job; asked once per attempt.
    fn request_replay(&mut self) {
        let (rows, cols) = self.output.size();
        let Some(entry) = self
            .task_list
            .selected_index()
            .and_then(|i| self.table.tasks.get_mut(i))
        else {
            return;
        };
        let attempt = entry.row.attempts;
        if entry.output.is_some() || attempt == 0 {
            return;
        }
        if matches!(entry.replay, Replay::Loading(a) | Replay::Tried(a) if a == attempt) {
            return;
        }
        entry.replay = Replay::Loading(attempt);
        self.jobs.push(Job::Replay {
            task: entry.config.id.clone(),
            attempt,
            rows: rows.max(5),
            cols: cols.max(20),
        });
    }

    /// Ask for the diff view's diff when it is due (see
    /// [`DiffView::refresh_due`]): on opening, then at most once every
    /// [`diff_view::REFRESH_EVERY`] while the task's agent prints or
    /// changes files, or the task changes. The loop calls this on every
    /// wake-up; it costs nothing when nothing is due.
    pub fn refresh_diff(&mut self, now: Instant) {
        let heard = self.diff_task_heard(now);
        let Some(view) = &mut self.diff else {
            return;
        };
        if !view.refresh_due(now, heard) {
            return;
        }
        self.diff_seq += 1;
        view.asked(self.diff_seq, now);
        self.jobs.push(Job::Diff {
            task: view.task.clone(),
            seq: self.diff_seq,
            for_pager: false,
        });
    }

    /// When the diff view's next refresh falls due, if one is waiting: the
    /// loop wakes then even if nothing else happens.
    pub fn diff_refresh_at(&self, now: Instant) -> Option<Instant> {
        let heard = self.diff_task_heard(now);
        self.diff.as_ref()?.next_refresh(heard)
    }

    /// When the diff view's task's agent last showed life (output or a
    /// file change).
    fn diff_task_heard(&self, now: Instant) -> Option<Instant> {
        let view = self.diff.as_ref()?;
        let age = self.table.task(&view.task)?.heartbeat_age(now)?;
        now.checked_sub(age)
    }

    /// The jobs asked for since the last call, for the loop to start.
    pub fn take_jobs(&mut self) -> Vec<Job> {
        std::mem::take(&mut self.jobs)
    }

    /// Would a frame drawn now differ because agents printed? True when the
    /// shown task printed, or another task's "unseen output" marker would
    /// appear.
    pub fn output_changed(&self) -> bool {
        // The diff view covers every pane that shows output; it refreshes
        // on its own clock (`diff_refresh_at`).
        if self.diff.is_some() {
            return false;
        }
        let shown = self.shown_index();
        self.table.tasks.iter().enumerate().any(|(i, t)| {
            let Some(output) = &t.output else {
                return false;
            };
            if shown == Some(i) {
                output.output_seq() != t.seen_seq
            } else {
                t.has_unseen_output() != t.marker_shown
            }
        })
    }

    // ---- engine updates and job results -------------------------------------

    /// The plan changed (orch.toml was reloaded): rebuild the task list,
    /// keeping what is known about tasks that stay (screens, health).
    pub fn reload(&mut self, config: &Config, rows: Vec<TaskRow>, now: Instant) {
        let keep = self.selected_id();
        self.table.reload(config, rows, now);
        self.task_list.rebuild_keeping(&self.table, keep.as_deref());
        match keep {
            Some(id) if self.table.position(&id).is_some() => self.select_task(&id),
            _ => self.task_list.select_first_task(),
        }
        self.queue.clamp(self.table.needs_you().len());
    }

    /// A task changed. Returns whether it is a task of this plan.
    pub fn on_task(&mut self, row: TaskRow, now: Instant) -> bool {
        let id = row.id.clone();
        let before = self.task(&id).map(|t| t.row.clone());
        if !self.table.on_task(row, now) {
            return false;
        }
        if let Some(view) = self.diff.as_mut().filter(|v| v.task == id) {
            let after = self.table.task(&id).map(|t| &t.row);
            if before.as_ref() != after {
                view.mark_stale();
            }
        }
        self.queue.clamp(self.table.needs_you().len());
        // The details dialog shows this task's attempts: read them again
        // (the old ones stay on screen until the new ones arrive).
        if matches!(&self.mode, Mode::Details(shown) if *shown == id) {
            self.jobs.push(Job::Attempts(id));
        }
        true
    }

    /// A task's agent started (or, on a resync, is running).
    /// The agent an attempt of `task` runs, as it started.
    pub fn on_agent_named(&mut self, task: &str, agent: String) {
        if let Some(entry) = self.table.task_mut(task) {
            entry.ran_agent = Some(agent);
        }
    }

    pub fn on_agent(&mut self, task: &str, output: OutputSource) {
        let selected = self.selected_id().as_deref() == Some(task);
        self.table.on_output(task, output, self.frame);
        if selected {
            // A new screen: nothing of the old one's view applies.
            self.output.show_other_task();
        }
    }

    pub fn on_health(&mut self, view: HealthView, now: Instant) {
        self.table.on_health(view, now);
    }

    /// What a running agent is doing changed (it waits, went idle, works
    /// again); one that asks to be noticed rings the terminal.
    pub fn on_attention(&mut self, attention: crate::engine::message::Attention) {
        if attention.notify {
            self.bell = true;
            let what = match &attention.activity.question {
                Some(q) => q.clone(),
                None => "idle: finished its turn".to_string(),
            };
            self.notice = Some(format!("{}: {what}", attention.task));
        }
        self.table.on_attention(attention);
        self.queue.clamp(self.table.needs_you().len());
    }

    /// Whether to ring the terminal (once) with the next frame.
    pub fn take_bell(&mut self) -> bool {
        std::mem::take(&mut self.bell)
    }

    /// What the pending notification says.
    pub fn notification_text(&self) -> Option<String> {
        self.notice.as_ref().map(|n| format!("orch: {n}"))
    }

    /// The terminal's title, when what it should say changed: how many
    /// things need you.
    pub fn take_title(&mut self) -> Option<String> {
        let needs = self.table.needs_you().len();
        if self.titled == Some(needs) {
            return None;
        }
        self.titled = Some(needs);
        Some(match needs {
            0 => "orch".to_string(),
            n => format!("orch: {n} need{} you", if n == 1 { "s" } else { "" }),
        })
    }

    /// A running agent's progress or note changed; the details dialog, if
    /// it shows that task, reads its attempts again.
    pub fn on_progress(&mut self, progress: crate::engine::message::Progress) {
        let id = progress.task.clone();
        self.table.on_progress(progress);
        if matches!(&self.mode, Mode::Details(shown) if *shown == id) {
            self.jobs.push(Job::Attempts(id));
        }
    }

    /// A message was sent, handed out or read: a sent one is flashed and
    /// marks its task; the details of either task it concerns are read
    /// again.
    pub fn on_message(&mut self, row: &crate::store::MessageRow) {
        if row.state == crate::store::MessageState::Pending {
            let from = row.from_label();
            self.note_event(&row.to_task);
            self.flash(format!(
                "message #{} {from} → {}: {}",
                row.id,
                row.to_task,
                crate::engine::message::message_preview(&row.text, 60)
            ));
        }
        if let Mode::Details(shown) = &self.mode {
            if *shown == row.to_task || row.from_task.as_deref() == Some(shown.as_str()) {
                self.jobs.push(Job::Attempts(shown.clone()));
            }
        }
    }

    /// A job finished. A replay that comes back after the selection moved
    /// on is kept for its own task (it is not shown for the wrong one); one
    /// overtaken by a live agent or a newer attempt is dropped. A diff asked
    /// for the pager opens it (the effect).
    pub fn on_job_done(&mut self, done: JobDone) -> Vec<Effect> {
        match done {
            JobDone::Attempts { task, result } => self.on_attempts(&task, result),
            JobDone::Replay {
                task,
                attempt,
                output,
            } => self.on_replay(&task, attempt, output),
            JobDone::Diff {
                task,
                seq,
                for_pager: false,
                result,
            } => {
                if let Some(view) = self.diff.as_mut().filter(|v| v.task == task) {
                    view.on_result(seq, result);
                }
            }
            JobDone::Diff {
                task,
                for_pager: true,
                result,
                ..
            } => return self.page_diff(task, result),
        }
        Vec::new()
    }

    fn page_diff(&mut self, task: String, result: Result<Arc<TaskDiff>, String>) -> Vec<Effect> {
        match result {
            Ok(diff) if diff.files.is_empty() => {
                self.flash(format!("{task} has no changes to show"));
                vec![Effect::Redraw]
            }
            Ok(diff) => vec![Effect::Pager { task, diff }],
            Err(err) => {
                self.flash(err);
                vec![Effect::Redraw]
            }
        }
    }

    fn on_attempts(&mut self, task: &str, result: Result<TaskRecord, String>) {
        if !matches!(&self.mode, Mode::Details(shown) if shown == task) {
            return;
        }
        let attempts = match result {
            Ok(rows) => Attempts::Loaded(rows),
            Err(err) => Attempts::Failed(err),
        };
        self.details = Some((task.to_string(), attempts));
    }

    fn on_replay(&mut self, task: &str, attempt: u32, output: Option<OutputSource>) {
        let Some(entry) = self.table.task_mut(task) else {
            return;
        };
        if entry.replay != Replay::Loading(attempt) {
            return;
        }
        entry.replay = Replay::Tried(attempt);
        if entry.output.is_some() || entry.row.attempts != attempt {
            return;
        }
        if let Some(output) = output {
            self.on_agent(task, output);
        }
    }

    // ---- falling behind the engine -----------------------------------------

    /// The loop missed engine events. Returns whether to ask for a
    /// snapshot now (false while one is already on its way: another is
    /// asked for when it arrives).
    pub fn resync_needed(&mut self) -> bool {
        match &mut self.resync {
            Some(pending) => {
                pending.again = true;
                false
            }
            None => {
                self.resync = Some(Resync {
                    touched: HashSet::new(),
                    again: false,
                });
                true
            }
        }
    }

    /// An engine event about `task` arrived (before it is applied).
    pub fn note_event(&mut self, task: &str) {
        if let Some(pending) = &mut self.resync {
            pending.touched.insert(task.to_string());
        }
    }

    /// Whether the snapshot on its way must leave `task` alone: an event
    /// newer than what was shown before arrived since it was asked for.
    pub fn touched_since_resync(&self, task: &str) -> bool {
        self.resync
            .as_ref()
            .is_some_and(|pending| pending.touched.contains(task))
    }

    /// The snapshot was applied. Returns whether to ask for another.
    pub fn resync_done(&mut self) -> bool {
        match self.resync.take() {
            Some(pending) if pending.again => {
                self.resync = Some(Resync {
                    touched: HashSet::new(),
                    again: false,
                });
                true
            }
            _ => false,
        }
    }

    /// The snapshot could not be asked for: the next miss asks again.
    pub fn cancel_resync(&mut self) {
        self.resync = None;
    }

    // ---- the status bar's message ------------------------------------------

    pub fn flash(&mut self, message: impl Into<String>) {
        self.flash = Some((message.into(), Instant::now()));
    }

    /// Flash `message` unless a flash newer than `since` is up.
    pub fn flash_unless_newer(&mut self, message: impl Into<String>, since: Instant) {
        if self.flash.as_ref().is_some_and(|(_, at)| *at > since) {
            return;
        }
        self.flash(message);
    }

    /// The flash message, if still fresh at `now`.
    pub fn current_flash(&self, now: Instant) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < FLASH_FOR)
            .map(|(m, _)| m.as_str())
    }

    // ---- input -------------------------------------------------------------

    /// A key that scrolls a help taller than the screen; false for any
    /// other key (it closes the help).
    fn scroll_help(&mut self, key: &KeyEvent) -> bool {
        use crossterm::event::KeyCode;
        let (max, page) = (self.help_max, self.help_page);
        let at = self.help_scroll;
        self.help_scroll = match key.code {
            KeyCode::Up | KeyCode::Char('k') => at.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => (at + 1).min(max),
            KeyCode::PageUp => at.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => (at + page).min(max),
            KeyCode::Home | KeyCode::Char('g') => 0,
            KeyCode::End | KeyCode::Char('G') => max,
            _ => return false,
        };
        true
    }

    pub fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        match self.mode.clone() {
            Mode::Attached(task) => self.on_attached_key(&task, key),
            Mode::Dialog(dialog) => self.on_dialog_key(dialog, key),
            Mode::Diff(_) => self.on_diff_key(key),
            Mode::Help if self.help_max > 0 && self.scroll_help(key) => vec![Effect::Redraw],
            Mode::Normal if self.output.takes_keys() => self.on_output_key(key),
            Mode::Help | Mode::Details(_) => {
                // Any key closes an overlay; the quit key also quits.
                let chord = KeyChord::from_event(key);
                let quit = matches!(
                    self.keymap.lookup(Context::Global, &[], chord),
                    Lookup::Action(Action::AppQuit)
                );
                self.mode = self.under_overlay();
                self.details = None;
                if quit {
                    return self.request_quit();
                }
                vec![Effect::Redraw]
            }
            Mode::Normal => {
                let chord = KeyChord::from_event(key);
                match self
                    .keymap
                    .lookup(self.focus.context(), &self.pending_keys, chord)
                {
                    Lookup::Pending => {
                        self.pending_keys.push(chord);
                        Vec::new()
                    }
                    Lookup::Action(action) => {
                        self.pending_keys.clear();
                        self.act(action)
                    }
                    Lookup::NoMatch => {
                        self.pending_keys.clear();
                        Vec::new()
                    }
                }
            }
        }
    }

    /// A key for the output pane's search prompt or copy mode.
    fn on_output_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        let selected = self
            .task_list
            .selected_index()
            .and_then(|i| self.table.tasks.get(i));
        match self.output.on_key(key, selected) {
            Some(OutputKey::Copy(text)) => vec![Effect::Copy(text), Effect::Redraw],
            Some(OutputKey::Changed) | None => vec![Effect::Redraw],
        }
    }

    /// A key while attached: the `[attached]` bindings (detach, scroll
    /// back and forward through orch's history of the agent, as a terminal
    /// emulator scrolls), else the agent's. Scrolled back, any other key
    /// returns to the live screen and goes to the agent.
    fn on_attached_key(&mut self, task: &str, key: &KeyEvent) -> Vec<Effect> {
        let chord = KeyChord::from_event(key);
        let selected = self
            .task_list
            .selected_index()
            .and_then(|i| self.table.tasks.get(i));
        match self.keymap.lookup(Context::Attached, &[], chord) {
            Lookup::Action(Action::AttachedDetach) => {
                self.mode = Mode::Normal;
                self.output.follow();
                return vec![Effect::Detach(task.to_string())];
            }
            Lookup::Action(Action::AttachedScrollMode) => {
                self.output.scroll_lines(self.output.page(), true, selected);
                return vec![Effect::Redraw];
            }
            Lookup::Action(Action::AttachedScrollDown) => {
                self.output
                    .scroll_lines(self.output.page(), false, selected);
                return vec![Effect::Redraw];
            }
            _ => {}
        }
        let mut effects = Vec::new();
        if self.output.scroll() > 0 {
            self.output.follow();
            effects.push(Effect::Redraw);
        }
        let modes = self
            .task(task)
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| crate::ui::keys::KeyModes::of(s)))
            .unwrap_or_default();
        if let Some(bytes) = crate::ui::keys::encode_key_in(key, &modes) {
            effects.push(Effect::Input(task.to_string(), bytes));
        }
        effects
    }

    fn on_dialog_key(&mut self, dialog: Dialog, key: &KeyEvent) -> Vec<Effect> {
        let (mode, effects) = match dialog.on_key(key) {
            Step::Open(dialog) => (Mode::Dialog(dialog), vec![Effect::Redraw]),
            Step::Unused(dialog) => (Mode::Dialog(dialog), Vec::new()),
            Step::Refused(dialog, why) => {
                self.flash(why);
                (Mode::Dialog(dialog), vec![Effect::Redraw])
            }
            Step::Closed => (self.under_overlay(), vec![Effect::Redraw]),
            Step::Detach => (self.under_overlay(), vec![Effect::Leave]),
            Step::Confirmed(action) => (
                self.under_overlay(),
                vec![match action {
                    Confirmable::Cancel(task) => Effect::Engine(EngineAction::Cancel(task)),
                    Confirmable::Skip(task) => Effect::Engine(EngineAction::Skip(task)),
                    Confirmable::Merge(task) => Effect::Engine(EngineAction::Merge(task)),
                    Confirmable::RetryFresh(task) => Effect::Engine(EngineAction::RetryFresh(task)),
                    Confirmable::Quit => Effect::Quit,
                }],
            ),
            Step::Rejected { task, reason } => (
                self.under_overlay(),
                vec![Effect::Engine(EngineAction::Reject { task, reason })],
            ),
        };
        self.mode = mode;
        effects
    }

    pub fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        match &mut self.mode {
            Mode::Normal if self.output.search.typing => {
                let selected = shown(&self.task_list, &self.table);
                for c in text.chars().filter(|c| !c.is_control()) {
                    let key = KeyEvent::new(
                        crossterm::event::KeyCode::Char(c),
                        crossterm::event::KeyModifiers::NONE,
                    );
                    self.output.on_key(&key, selected);
                }
                vec![Effect::Redraw]
            }
            Mode::Attached(task) => {
                let task = task.clone();
                // Like a key: back to the live screen.
                self.output.follow();
                let bracketed = self
                    .task(&task)
                    .and_then(|t| t.output.as_ref())
                    .map(|o| o.with_screen(|s| s.screen().bracketed_paste()))
                    .unwrap_or(false);
                vec![Effect::Input(
                    task,
                    crate::ui::keys::encode_paste(text, bracketed),
                )]
            }
            Mode::Dialog(dialog) => {
                if dialog.on_paste(text) {
                    vec![Effect::Redraw]
                } else {
                    Vec::new()
                }
            }
            Mode::Diff(_) => {
                let typing = self.diff.as_mut().filter(|v| v.typing());
                let Some(view) = typing else {
                    return Vec::new();
                };
                for c in text.chars().filter(|c| !c.is_control()) {
                    let key = KeyEvent::new(
                        crossterm::event::KeyCode::Char(c),
                        crossterm::event::KeyModifiers::NONE,
                    );
                    view.on_search_key(&key);
                }
                vec![Effect::Redraw]
            }
            _ => Vec::new(),
        }
    }

    /// The mouse: in the control room, a click selects a task (twice
    /// quickly attaches) or focuses a pane, the wheel scrolls the pane
    /// under the pointer, a drag in the output selects and copies; in the
    /// diff view the wheel scrolls; attached, it goes to an agent that
    /// asked for the mouse, else the wheel scrolls orch's history of it.
    pub fn on_mouse(&mut self, mouse: &MouseEvent, now: Instant) -> Vec<Effect> {
        let wheel = match mouse.kind {
            MouseEventKind::ScrollUp => Some(true),
            MouseEventKind::ScrollDown => Some(false),
            _ => None,
        };
        match self.mode.clone() {
            Mode::Attached(task) => return self.on_attached_mouse(&task, mouse, wheel),
            Mode::Diff(_) => {
                let (Some(back), Some(view)) = (wheel, &mut self.diff) else {
                    return Vec::new();
                };
                let step = if back {
                    Action::OutputScrollUp
                } else {
                    Action::OutputScrollDown
                };
                for _ in 0..3 {
                    view.handle(step);
                }
                return vec![Effect::Redraw];
            }
            Mode::Normal => {}
            _ => return Vec::new(),
        }
        let areas = self.areas(self.screen);
        let at = ratatui::layout::Position::new(mouse.column, mouse.row);
        // A drag that began in the output stays the output's wherever the
        // pointer goes (its position clamped to the pane).
        let output = ratatui::widgets::Block::bordered().inner(areas.output);
        match mouse.kind {
            MouseEventKind::Drag(crossterm::event::MouseButton::Left) => {
                let Some((from, _)) = self.drag else {
                    return Vec::new();
                };
                let Some(to) = clamped(at, output).and_then(|(x, y)| self.output_pos(x, y)) else {
                    return Vec::new();
                };
                self.drag = Some((from, true));
                let selected = shown(&self.task_list, &self.table);
                self.output.drag(selected, from, to, false);
                return vec![Effect::Redraw];
            }
            MouseEventKind::Up(crossterm::event::MouseButton::Left) => {
                let Some((from, dragged)) = self.drag.take() else {
                    return Vec::new();
                };
                if !dragged {
                    // A click, not a drag.
                    return Vec::new();
                }
                let to = self.output.copy.as_ref().map_or(from, |c| c.cursor);
                let selected = shown(&self.task_list, &self.table);
                return match self.output.drag(selected, from, to, true) {
                    Some(text) => vec![Effect::Copy(text), Effect::Redraw],
                    None => vec![Effect::Redraw],
                };
            }
            _ => {}
        }
        let under = [
            (Focus::Tasks, areas.tasks),
            (Focus::Output, areas.output),
            (Focus::Approvals, areas.approvals),
            (Focus::Health, areas.health),
        ]
        .into_iter()
        .find(|(_, area)| area.contains(at));
        let Some((pane, area)) = under else {
            return Vec::new();
        };
        let inner = ratatui::widgets::Block::bordered().inner(area);
        if let Some(back) = wheel {
            return self.wheel(pane, back);
        }
        if mouse.kind != MouseEventKind::Down(crossterm::event::MouseButton::Left) {
            return Vec::new();
        }
        self.focus = pane;
        if !inner.contains(at) {
            return vec![Effect::Redraw];
        }
        let (x, y) = (at.x - inner.x, at.y - inner.y);
        match pane {
            Focus::Tasks => return self.click_task(y, now),
            Focus::Output => self.drag = self.output_pos(x, y).map(|p| (p, false)),
            Focus::Approvals | Focus::Health => {}
        }
        vec![Effect::Redraw]
    }

    /// The selected task's entry (what the output pane shows).
    fn shown_entry(&self) -> Option<&TaskEntry> {
        shown(&self.task_list, &self.table)
    }

    /// The output line and column under `(x, y)` inside the pane.
    fn output_pos(&self, x: u16, y: u16) -> Option<crate::ui::panes::copy_mode::Pos> {
        let output = self.shown_entry()?.output.as_ref()?;
        Some(output.with_screen(|s| self.output.pos_at(s, x, y)))
    }

    /// The wheel over `pane`: lists move their cursor, the output scrolls.
    fn wheel(&mut self, pane: Focus, back: bool) -> Vec<Effect> {
        if pane == Focus::Output || self.zoomed {
            let selected = shown(&self.task_list, &self.table);
            self.output.scroll_lines(3, back, selected);
            return vec![Effect::Redraw];
        }
        let action = if back { Action::NavUp } else { Action::NavDown };
        let focus = std::mem::replace(&mut self.focus, pane);
        self.offer_to_panes(action);
        self.focus = focus;
        vec![Effect::Redraw]
    }

    /// A left click on row `y` of the task list: select the task there;
    /// the same task again within half a second attaches to it.
    fn click_task(&mut self, y: u16, now: Instant) -> Vec<Effect> {
        let before = self.task_list.selected_index();
        if !self.task_list.click(y) {
            return vec![Effect::Redraw];
        }
        if self.task_list.selected_index() != before {
            self.output.show_other_task();
        }
        let Some(id) = self.selected_id() else {
            return vec![Effect::Redraw];
        };
        let double = self.last_click.as_ref().is_some_and(|(at, task)| {
            *task == id && now.saturating_duration_since(*at) < DOUBLE_CLICK
        });
        self.last_click = Some((now, id));
        if double {
            self.last_click = None;
            return self.attach();
        }
        vec![Effect::Redraw]
    }

    /// The mouse while attached: the agent's when it turned on mouse
    /// reporting, else the wheel scrolls orch's history of the agent (as a
    /// terminal emulator does) and nothing is sent.
    fn on_attached_mouse(
        &mut self,
        task: &str,
        mouse: &MouseEvent,
        wheel: Option<bool>,
    ) -> Vec<Effect> {
        let modes = self
            .task(task)
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| crate::ui::mouse::MouseModes::of(s.screen())));
        let Some(modes) = modes else {
            return Vec::new();
        };
        if let Some(bytes) = crate::ui::mouse::encode(mouse, &modes) {
            return vec![Effect::Input(task.to_string(), bytes)];
        }
        let Some(back) = wheel.filter(|_| !modes.reporting()) else {
            return Vec::new();
        };
        let selected = shown(&self.task_list, &self.table);
        self.output.scroll_lines(3, back, selected);
        vec![Effect::Redraw]
    }

    /// An action from the keymap: the app's own, then those on the selected
    /// task, then whichever pane takes it.
    fn act(&mut self, action: Action) -> Vec<Effect> {
        if let Some(effects) = self.app_action(action) {
            return effects;
        }
        if let Some(effects) = self.task_action(action) {
            return effects;
        }
        if self.offer_to_panes(action) {
            vec![Effect::Redraw]
        } else {
            Vec::new()
        }
    }

    /// Quitting, help, redrawing and moving the focus.
    fn app_action(&mut self, action: Action) -> Option<Vec<Effect>> {
        match action {
            Action::AppQuit => return Some(self.request_quit()),
            Action::AppDetach => return Some(vec![Effect::Leave]),
            Action::AppHelp => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            Action::AppRedraw => {}
            Action::OutputZoom => {
                self.zoomed = !self.zoomed;
                self.output.copy = None;
            }
            Action::FocusNext => self.focus = self.focus.step(true),
            Action::FocusPrev => self.focus = self.focus.step(false),
            Action::FocusTasks => self.focus = Focus::Tasks,
            Action::FocusHealth => self.focus = Focus::Health,
            Action::FocusOutput => self.focus = Focus::Output,
            Action::FocusApprovals => self.focus = Focus::Approvals,
            Action::AttentionNext => match self.queue.select_next(&self.table) {
                Some(id) => {
                    self.focus = Focus::Approvals;
                    self.select_task(&id);
                }
                None => self.flash("nothing needs you".to_string()),
            },
            _ => return None,
        }
        Some(vec![Effect::Redraw])
    }

    /// A key in the diff view: the search's while its query is typed, else
    /// a `[diff]` (or `[global]`) binding. Of the global actions, quitting,
    /// help, redrawing and the task actions work here; the view takes the
    /// rest that it knows.
    fn on_diff_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        if let Some(view) = &mut self.diff {
            if view.on_search_key(key) {
                return vec![Effect::Redraw];
            }
        }
        let chord = KeyChord::from_event(key);
        let action = match self.keymap.lookup(Context::Diff, &self.pending_keys, chord) {
            Lookup::Pending => {
                self.pending_keys.push(chord);
                return Vec::new();
            }
            Lookup::NoMatch => {
                self.pending_keys.clear();
                return Vec::new();
            }
            Lookup::Action(action) => {
                self.pending_keys.clear();
                action
            }
        };
        match action {
            Action::DiffClose | Action::TaskDiff => self.close_diff(),
            Action::DiffBack => {
                if !self.diff.as_mut().is_some_and(DiffView::back) {
                    self.close_diff();
                }
            }
            Action::AppQuit | Action::AppDetach | Action::AppHelp | Action::AppRedraw => {
                return self.app_action(action).unwrap_or_default();
            }
            Action::TaskPager
            | Action::TaskMerge
            | Action::TaskResolve
            | Action::TaskRetry
            | Action::TaskRetryFresh
            | Action::ApprovalApprove
            | Action::ApprovalReject => return self.task_action(action).unwrap_or_default(),
            _ => {
                let consumed = self
                    .diff
                    .as_mut()
                    .is_some_and(|view| view.handle(action) == Handled::Consumed);
                if !consumed {
                    return Vec::new();
                }
            }
        }
        vec![Effect::Redraw]
    }

    fn open_diff(&mut self, id: String) {
        self.diff = Some(DiffView::new(id.clone()));
        self.mode = Mode::Diff(id);
    }

    fn close_diff(&mut self) {
        self.diff = None;
        self.mode = Mode::Normal;
    }

    /// The task an action on "the task" applies to: the one the diff view
    /// shows, else the selected one.
    fn target(&self) -> Option<&TaskEntry> {
        match &self.diff {
            Some(view) => self.task(&view.task),
            None => self.selected(),
        }
    }

    /// What acts on one task, from any pane: the selected task (the diff
    /// view's, while it is open), or for approvals the one
    /// `approval_target` picks.
    fn task_action(&mut self, action: Action) -> Option<Vec<Effect>> {
        let target = self.target().map(|t| t.config.id.clone());
        let effects = match action {
            Action::TaskAttach => self.attach(),
            Action::TaskRetry => on(target, |id| Effect::Engine(EngineAction::Retry(id))),
            Action::TaskRetryFresh => {
                if let Some(id) = target {
                    let base = self.base_branch.clone();
                    self.mode = Mode::Dialog(Dialog::retry_fresh(id, base.as_deref()));
                }
                vec![Effect::Redraw]
            }
            Action::TaskMerge => {
                self.ask_merge();
                vec![Effect::Redraw]
            }
            Action::TaskResolve => on(target, |id| Effect::Engine(EngineAction::Resolve(id))),
            Action::TaskDiff => {
                let id = if self.focus == Focus::Approvals {
                    self.queue.selected_id(&self.table)
                } else {
                    self.selected_id()
                };
                if let Some(id) = id {
                    self.open_diff(id);
                }
                vec![Effect::Redraw]
            }
            Action::TaskPager => match target {
                Some(id) => self.pager(id),
                None => Vec::new(),
            },
            Action::TaskLogs => self.on_selected(Effect::Logs),
            Action::TaskDetails => {
                self.open_details();
                vec![Effect::Redraw]
            }
            Action::TaskCancel => {
                if let Some(t) = self.selected() {
                    let running = t.row.state == TaskState::Running;
                    self.mode = Mode::Dialog(Dialog::cancel(t.config.id.clone(), running));
                }
                vec![Effect::Redraw]
            }
            Action::TaskSkip => {
                if let Some(id) = self.selected_id() {
                    self.mode = Mode::Dialog(Dialog::skip(id));
                }
                vec![Effect::Redraw]
            }
            Action::ApprovalApprove => match self.approval_target() {
                Some(id) => vec![Effect::Engine(EngineAction::Approve(id))],
                None => {
                    self.flash("nothing is waiting for approval");
                    vec![Effect::Redraw]
                }
            },
            Action::ApprovalReject => {
                match self.approval_target() {
                    Some(id) => self.mode = Mode::Dialog(Dialog::reject(id)),
                    None => self.flash("nothing is waiting for approval"),
                }
                vec![Effect::Redraw]
            }
            _ => return None,
        };
        Some(effects)
    }

    /// Offer an action to the panes, the focused one first. When the task
    /// list's cursor moved to another task, the output pane follows it.
    fn offer_to_panes(&mut self, action: Action) -> bool {
        let before = self.task_list.selected_index();
        let ctx = Ctx {
            table: &self.table,
            theme: &self.theme,
            keymap: &self.keymap,
            focus: self.focus,
            selected: before.and_then(|i| self.table.tasks.get(i)),
        };
        let mut panes: [(Focus, &mut dyn Pane); 4] = [
            (Focus::Tasks, &mut self.task_list),
            (Focus::Output, &mut self.output),
            (Focus::Approvals, &mut self.queue),
            (Focus::Health, &mut self.health),
        ];
        let first = panes
            .iter()
            .position(|(f, _)| *f == self.focus)
            .unwrap_or(0);
        panes.rotate_left(first);
        let consumed = panes
            .into_iter()
            .any(|(_, pane)| pane.handle(action, &ctx) == Handled::Consumed);
        if self.task_list.selected_index() != before {
            self.output.show_other_task();
        }
        consumed
    }

    /// `q`: quit and stop the server at once only when that loses nothing
    /// (no agent runs, nothing is owed: no approval, backoff, merge, hook
    /// or push to come) and the server is not someone's foreground run;
    /// else ask, detaching by default.
    fn request_quit(&mut self) -> Vec<Effect> {
        let running = self.table.running().len();
        if running == 0 && self.plan_settled && !self.foreground_run {
            return vec![Effect::Quit];
        }
        self.mode = Mode::Dialog(Dialog::quit(running, self.foreground_run));
        vec![Effect::Redraw]
    }

    fn attach(&mut self) -> Vec<Effect> {
        // From the queue: the agent under its cursor.
        let queued = (self.focus == Focus::Approvals)
            .then(|| self.queue.selected_id(&self.table))
            .flatten();
        let t = match &queued {
            Some(id) => self.table.task(id),
            None => self.selected(),
        };
        let Some(t) = t else {
            return Vec::new();
        };
        let id = t.config.id.clone();
        if t.row.state != TaskState::Running
            || t.output.as_ref().and_then(|o| o.process()).is_none()
        {
            self.flash(format!("{id} is not running; nothing to attach to"));
            return vec![Effect::Redraw];
        }
        // The output pane's scroll is the attached view's.
        self.select_task(&id);
        self.output.follow();
        self.output.copy = None;
        self.mode = Mode::Attached(id.clone());
        vec![Effect::Attach(id)]
    }

    /// The details dialog, for the approval under the cursor in the
    /// approvals pane, else the selected task. Its attempts are read by a job.
    fn open_details(&mut self) {
        let id = if self.focus == Focus::Approvals {
            self.queue.selected_id(&self.table)
        } else {
            self.selected_id()
        };
        if let Some(id) = id {
            self.mode = Mode::Details(id.clone());
            self.details = Some((id.clone(), Attempts::Loading));
            self.jobs.push(Job::Attempts(id));
        }
    }

    fn on_selected(&self, effect: impl FnOnce(String) -> Effect) -> Vec<Effect> {
        on(self.selected_id(), effect)
    }

    /// The merge key: a confirmation for a done task that is not merged
    /// yet; anything else is said in the status bar without asking.
    fn ask_merge(&mut self) {
        let Some(t) = self.target() else {
            return;
        };
        let id = t.config.id.clone();
        if t.row.state != TaskState::Done {
            let state = t.row.state;
            self.flash(format!("{id} is {state}: only a done task can be merged"));
        } else if t.row.merge_state == MergeState::Merged {
            self.flash(format!("{id} is merged already"));
        } else {
            let base = self.base_branch.clone();
            self.mode = Mode::Dialog(Dialog::merge(id, base.as_deref()));
        }
    }

    /// The pager key: the diff view's diff when it shows this task, else a
    /// job reads it and its answer opens the pager.
    fn pager(&mut self, id: String) -> Vec<Effect> {
        let shown = self
            .diff
            .as_ref()
            .filter(|v| v.task == id)
            .and_then(|v| v.diff().cloned());
        if let Some(diff) = shown {
            return self.page_diff(id, Ok(diff));
        }
        self.diff_seq += 1;
        self.jobs.push(Job::Diff {
            task: id.clone(),
            seq: self.diff_seq,
            for_pager: true,
        });
        self.flash(format!("reading the changes of {id}…"));
        vec![Effect::Redraw]
    }

    /// The approval a key acts on: the selected one in the approvals pane,
    /// else the selected task if it is waiting, else the oldest waiting.
    fn approval_target(&self) -> Option<String> {
        if self.focus == Focus::Approvals
            && self
                .queue
                .selected_kind(&self.table)
                .is_some_and(|k| k.is_approval())
        {
            return self.queue.selected_id(&self.table);
        }
        if let Some(t) = self.target().filter(|t| t.awaits_approval()) {
            return Some(t.config.id.clone());
        }
        self.table.approvals().first().map(|t| t.config.id.clone())
    }
}

/// `effect` on `id`, if there is one.
/// `at` as a position inside `area`, moved to its nearest edge when
/// outside; `None` for an empty area.
fn clamped(at: ratatui::layout::Position, area: Rect) -> Option<(u16, u16)> {
    if area.is_empty() {
        return None;
    }
    let x = at.x.max(area.x).min(area.right() - 1) - area.x;
    let y = at.y.max(area.y).min(area.bottom() - 1) - area.y;
    Some((x, y))
}

/// The task under the list's cursor (borrowing only these two fields).
fn shown<'a>(list: &TaskList, table: &'a TaskTable) -> Option<&'a TaskEntry> {
    list.selected_index().and_then(|i| table.tasks.get(i))
}

fn on(id: Option<String>, effect: impl FnOnce(String) -> Effect) -> Vec<Effect> {
    match id {
        Some(id) => vec![effect(id)],
        None => Vec::new(),
    }
}
