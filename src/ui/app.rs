//! The control room's state and what keys do to it.
//!
//! `App` is plain data: the tasks as the engine last published them, the
//! agents' screens, health history, focus, selection, dialogs. Key handling
//! returns [`Effect`]s for the event loop to carry out (send a command,
//! attach, open a pager, quit), so everything here runs in tests without a
//! terminal or an engine.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};

use crate::config::{Config, TaskConfig};
use crate::engine::policy::Level;
use crate::engine::{HealthView, TaskState};
use crate::plan::Plan;
use crate::store::TaskRow;
use crate::ui::keymap::{Action, Context, KeyChord, Keymap, Lookup};
use crate::ui::output_source::OutputSource;
use crate::ui::theme::Theme;

/// Samples kept for the CPU sparkline: a minute at one sample a second.
pub const SPARK_SAMPLES: usize = 60;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Tasks nested under their dependencies.
    Tree,
    /// Tasks grouped by DAG stage.
    Stages,
}

/// A destructive action waiting for a yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmable {
    Cancel(String),
    Skip(String),
    Quit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dialog {
    Confirm {
        title: String,
        message: String,
        action: Confirmable,
    },
    /// Reject an approval: type the reason.
    RejectReason { task: String, input: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Help,
    Details(String),
    Dialog(Dialog),
    /// Keys go to this task's agent.
    Attached(String),
}

/// What the event loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Approve(String),
    Reject {
        task: String,
        reason: String,
    },
    Retry(String),
    Cancel(String),
    Skip(String),
    /// Open the task's latest log in `$PAGER`.
    Logs(String),
    /// Resize the agent to full screen and pass keys through.
    Attach(String),
    Detach(String),
    /// Bytes for the attached agent's PTY.
    Input(String, Vec<u8>),
    Redraw,
    Quit,
}

/// One task as the control room shows it.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    pub config: TaskConfig,
    pub row: TaskRow,
    pub output: Option<OutputSource>,
    /// `output_seq` when the user last looked at this task's output.
    pub seen_seq: u64,
    pub health: Option<HealthView>,
    pub cpu_history: VecDeque<u64>,
    /// When the current state began, for elapsed times.
    pub since: Instant,
    /// Whether the last frame showed the "unseen output" marker.
    pub marker_shown: bool,
    /// When `health` arrived.
    pub health_at: Option<Instant>,
    /// How long the last attempt seen running in this session took.
    pub last_run: Option<Duration>,
    /// The attempt whose log a replay was last tried for (it may have left
    /// no log: a command that was not found), so it is tried once.
    pub replay_tried: Option<u32>,
}

impl TaskEntry {
    fn new(config: TaskConfig, row: TaskRow, since: Instant) -> TaskEntry {
        TaskEntry {
            config,
            row,
            output: None,
            seen_seq: 0,
            health: None,
            cpu_history: VecDeque::with_capacity(SPARK_SAMPLES),
            since,
            marker_shown: false,
            health_at: None,
            last_run: None,
            replay_tried: None,
        }
    }

    /// Printed something the user has not seen.
    pub fn has_unseen_output(&self) -> bool {
        self.output
            .as_ref()
            .is_some_and(|o| o.output_seq() > self.seen_seq)
    }

    pub fn heartbeat_level(&self) -> Level {
        self.health.as_ref().map_or(Level::Ok, |h| h.heartbeat)
    }

    /// Time since the agent last showed life: its output, or (from the
    /// engine's last sample) a file change, whichever is more recent.
    pub fn heartbeat_age(&self) -> Option<Duration> {
        let process = self.output.as_ref().and_then(|o| o.process())?;
        let output_age = process
            .last_output_at()
            .unwrap_or(process.started_at())
            .elapsed();
        let sampled = match (&self.health, self.health_at) {
            (Some(h), Some(at)) => Some(h.heartbeat_age + at.elapsed()),
            _ => None,
        };
        Some(sampled.map_or(output_age, |s| s.min(output_age)))
    }
}

/// A row of the task pane: a task (with its nesting depth) or a stage header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRow {
    Stage(usize),
    Task { index: usize, depth: usize },
}

pub struct App {
    pub tasks: Vec<TaskEntry>,
    index: HashMap<String, usize>,
    plan: Plan,
    pub rows: Vec<TreeRow>,
    /// Index into `rows`.
    pub selected_row: usize,
    pub focus: Focus,
    pub mode: Mode,
    pub grouping: Grouping,
    /// Lines scrolled back in the output pane (0 = following).
    pub output_scroll: usize,
    /// While scrolled back: the history's line count at the last frame, so
    /// new output does not slide the view (see `view::anchor_scroll`).
    pub scroll_anchor: Option<u64>,
    pub approval_selected: usize,
    pub keymap: Keymap,
    pub theme: Theme,
    pending_keys: Vec<KeyChord>,
    /// A short message for the status bar, with when it was set.
    pub flash: Option<(String, Instant)>,
    /// Size the output pane had at the last draw (rows, cols).
    pub output_size: (u16, u16),
    pub user: String,
    pub title: String,
    /// The errors of the last edit of orch.toml, while the previous config
    /// stays in force.
    pub config_error: Option<String>,
    agents: BTreeMap<String, Vec<String>>,
}

impl App {
    pub fn new(config: &Config, rows: Vec<TaskRow>, keymap: Keymap, theme: Theme) -> App {
        let now = Instant::now();
        let by_id: BTreeMap<&str, &TaskRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let tasks: Vec<TaskEntry> = config
            .tasks
            .iter()
            .map(|t| {
                let row = by_id
                    .get(t.id.as_str())
                    .map(|r| (*r).clone())
                    .unwrap_or_else(|| TaskRow::pending(&t.id, &t.title, &t.agent, 0));
                TaskEntry::new(t.clone(), row, now)
            })
            .collect();
        let index = tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.config.id.clone(), i))
            .collect();
        let mut app = App {
            tasks,
            index,
            plan: Plan::new(&config.tasks),
            rows: Vec::new(),
            selected_row: 0,
            focus: Focus::Tasks,
            mode: Mode::Normal,
            grouping: Grouping::Tree,
            output_scroll: 0,
            scroll_anchor: None,
            approval_selected: 0,
            keymap,
            theme,
            pending_keys: Vec::new(),
            flash: None,
            output_size: (24, 80),
            user: std::env::var("USER").unwrap_or_else(|_| "user".into()),
            title: config.path.display().to_string(),
            config_error: None,
            agents: config
                .agents
                .iter()
                .map(|(name, a)| (name.clone(), a.command.clone()))
                .collect(),
        };
        app.rebuild_rows();
        app.select_first_task();
        app
    }

    // ---- derived views ---------------------------------------------------

    pub fn task(&self, id: &str) -> Option<&TaskEntry> {
        self.index.get(id).map(|&i| &self.tasks[i])
    }

    fn task_mut(&mut self, id: &str) -> Option<&mut TaskEntry> {
        self.index.get(id).copied().map(move |i| &mut self.tasks[i])
    }

    /// The task under the cursor in the task pane.
    pub fn selected(&self) -> Option<&TaskEntry> {
        match self.rows.get(self.selected_row)? {
            TreeRow::Task { index, .. } => self.tasks.get(*index),
            TreeRow::Stage(_) => None,
        }
    }

    pub fn selected_id(&self) -> Option<String> {
        self.selected().map(|t| t.config.id.clone())
    }

    /// Tasks awaiting approval, oldest first.
    pub fn approvals(&self) -> Vec<&TaskEntry> {
        let mut waiting: Vec<&TaskEntry> = self
            .tasks
            .iter()
            .filter(|t| t.row.state == TaskState::AwaitingApproval)
            .collect();
        waiting.sort_by_key(|t| t.row.updated_at);
        waiting
    }

    /// Running tasks, in plan order.
    pub fn running(&self) -> Vec<&TaskEntry> {
        self.tasks
            .iter()
            .filter(|t| t.row.state == TaskState::Running)
            .collect()
    }

    pub fn counts(&self) -> BTreeMap<TaskState, usize> {
        let mut counts = BTreeMap::new();
        for t in &self.tasks {
            *counts.entry(t.row.state).or_insert(0) += 1;
        }
        counts
    }

    /// Rebuild the task pane's rows (after a grouping toggle or a new task).
    pub fn rebuild_rows(&mut self) {
        let keep = self.selected_id();
        self.rows = match self.grouping {
            Grouping::Tree => self.tree_rows(),
            Grouping::Stages => self
                .plan
                .stages()
                .into_iter()
                .enumerate()
                .flat_map(|(stage, ids)| {
                    let mut rows = vec![TreeRow::Stage(stage)];
                    rows.extend(ids.iter().filter_map(|id| {
                        self.index
                            .get(id)
                            .map(|&index| TreeRow::Task { index, depth: 1 })
                    }));
                    rows
                })
                .collect(),
        };
        if let Some(id) = keep {
            self.select_task(&id);
        }
        if self.selected_row >= self.rows.len() {
            self.selected_row = self.rows.len().saturating_sub(1);
        }
    }

    /// Each task nested under the dependency that finishes last (its
    /// deepest-stage dependency), so the tree reads top-down in run order.
    fn tree_rows(&self) -> Vec<TreeRow> {
        let stage = self.plan.stage_of();
        let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let mut roots = Vec::new();
        for (i, t) in self.tasks.iter().enumerate() {
            let parent = t
                .config
                .depends_on
                .iter()
                .filter_map(|d| Some((stage.get(d).copied().unwrap_or(0), *self.index.get(d)?)))
                .max_by_key(|(s, idx)| (*s, usize::MAX - idx))
                .map(|(_, idx)| idx);
            match parent {
                Some(p) => children.entry(p).or_default().push(i),
                None => roots.push(i),
            }
        }
        let mut rows = Vec::new();
        let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
        while let Some((index, depth)) = stack.pop() {
            rows.push(TreeRow::Task { index, depth });
            if let Some(kids) = children.get(&index) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
        rows
    }

    fn select_first_task(&mut self) {
        if let Some(i) = self
            .rows
            .iter()
            .position(|r| matches!(r, TreeRow::Task { .. }))
        {
            self.selected_row = i;
        }
    }

    pub fn select_task(&mut self, id: &str) {
        if let Some(&target) = self.index.get(id) {
            if let Some(i) = self
                .rows
                .iter()
                .position(|r| matches!(r, TreeRow::Task { index, .. } if *index == target))
            {
                self.selected_row = i;
            }
        }
    }

    /// The plan changed (orch.toml was reloaded): rebuild the task list,
    /// keeping what is known about tasks that stay (screens, health).
    pub fn reload(&mut self, config: &Config, rows: Vec<TaskRow>) {
        let keep = self.selected_id();
        let mut old: HashMap<String, TaskEntry> = self
            .tasks
            .drain(..)
            .map(|t| (t.config.id.clone(), t))
            .collect();
        let by_id: BTreeMap<&str, &TaskRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let now = Instant::now();
        self.tasks = config
            .tasks
            .iter()
            .filter_map(|t| {
                let row = (*by_id.get(t.id.as_str())?).clone();
                Some(match old.remove(&t.id) {
                    Some(mut entry) => {
                        entry.config = t.clone();
                        entry.row = row;
                        entry
                    }
                    None => TaskEntry::new(t.clone(), row, now),
                })
            })
            .collect();
        self.index = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.config.id.clone(), i))
            .collect();
        self.plan = Plan::new(&config.tasks);
        self.agents = config
            .agents
            .iter()
            .map(|(name, a)| (name.clone(), a.command.clone()))
            .collect();
        self.rebuild_rows();
        match keep {
            Some(id) if self.index.contains_key(&id) => self.select_task(&id),
            _ => self.select_first_task(),
        }
    }

    /// An agent's command as configured, for the details view.
    pub fn agent_command(&self, name: &str) -> String {
        self.agents
            .get(name)
            .map(|argv| argv.join(" "))
            .unwrap_or_else(|| "unknown agent".into())
    }

    // ---- engine updates ----------------------------------------------------

    /// A task changed. Returns whether anything visible changed.
    pub fn on_task(&mut self, row: TaskRow) -> bool {
        let Some(entry) = self.task_mut(&row.id) else {
            return false;
        };
        if entry.row.state != row.state {
            if entry.row.state == TaskState::Running {
                entry.last_run = Some(entry.since.elapsed());
            }
            entry.since = Instant::now();
            if row.state != TaskState::Running {
                entry.health = None;
            }
        }
        entry.row = row;
        let approvals = self.approvals().len();
        if self.approval_selected >= approvals {
            self.approval_selected = approvals.saturating_sub(1);
        }
        true
    }

    pub fn on_agent(&mut self, task: &str, output: OutputSource) {
        let selected = self.selected_id().as_deref() == Some(task);
        if let Some(entry) = self.task_mut(task) {
            entry.seen_seq = 0;
            entry.output = Some(output);
            entry.cpu_history.clear();
        }
        if selected {
            self.output_scroll = 0;
        }
    }

    pub fn on_health(&mut self, view: HealthView) {
        let Some(entry) = self.task_mut(&view.sample.task) else {
            return;
        };
        if entry.cpu_history.len() == SPARK_SAMPLES {
            entry.cpu_history.pop_front();
        }
        entry
            .cpu_history
            .push_back(view.sample.cpu.round().max(0.0) as u64);
        entry.health = Some(view);
    }

    /// A frame was drawn: the selected (or attached) task's output is seen,
    /// and every other task's marker is as shown.
    pub fn after_draw(&mut self) {
        let shown = match &self.mode {
            Mode::Attached(id) => Some(id.clone()),
            _ => self.selected_id(),
        };
        for entry in &mut self.tasks {
            let Some(output) = &entry.output else {
                continue;
            };
            if shown.as_deref() == Some(entry.config.id.as_str()) {
                entry.seen_seq = output.output_seq();
            }
            entry.marker_shown = output.output_seq() > entry.seen_seq;
        }
    }

    /// Would a frame drawn now differ because agents printed? True when the
    /// shown task printed, or another task's "unseen output" marker would
    /// appear.
    pub fn output_changed(&self) -> bool {
        let shown = match &self.mode {
            Mode::Attached(id) => Some(id.clone()),
            _ => self.selected_id(),
        };
        self.tasks.iter().any(|t| {
            let Some(output) = &t.output else {
                return false;
            };
            if shown.as_deref() == Some(t.config.id.as_str()) {
                output.output_seq() != t.seen_seq
            } else {
                t.has_unseen_output() != t.marker_shown
            }
        })
    }

    pub fn flash(&mut self, message: impl Into<String>) {
        self.flash = Some((message.into(), Instant::now()));
    }

    /// The flash message, if still fresh.
    pub fn current_flash(&self) -> Option<&str> {
        self.flash
            .as_ref()
            .filter(|(_, at)| at.elapsed() < Duration::from_secs(5))
            .map(|(m, _)| m.as_str())
    }

    // ---- input -------------------------------------------------------------

    pub fn on_key(&mut self, key: &KeyEvent) -> Vec<Effect> {
        match self.mode.clone() {
            Mode::Attached(task) => self.on_attached_key(&task, key),
            Mode::Dialog(dialog) => self.on_dialog_key(dialog, key),
            Mode::Help | Mode::Details(_) => {
                // Any key closes an overlay; the quit key also quits.
                let chord = KeyChord::from_event(key);
                let action = match self.keymap.lookup(Context::Global, &[], chord) {
                    Lookup::Action(action) => Some(action),
                    _ => None,
                };
                self.mode = Mode::Normal;
                if action == Some(Action::AppQuit) {
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

    fn on_attached_key(&mut self, task: &str, key: &KeyEvent) -> Vec<Effect> {
        let chord = KeyChord::from_event(key);
        if let Lookup::Action(Action::AttachedDetach) =
            self.keymap.lookup(Context::Attached, &[], chord)
        {
            self.mode = Mode::Normal;
            return vec![Effect::Detach(task.to_string())];
        }
        let app_cursor = self
            .task(task)
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| s.screen().application_cursor()))
            .unwrap_or(false);
        match crate::ui::keys::encode_key(key, app_cursor) {
            Some(bytes) => vec![Effect::Input(task.to_string(), bytes)],
            None => Vec::new(),
        }
    }

    pub fn on_paste(&mut self, text: &str) -> Vec<Effect> {
        match &mut self.mode {
            Mode::Attached(task) => {
                let task = task.clone();
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
            Mode::Dialog(Dialog::RejectReason { input, .. }) => {
                input.push_str(&text.replace(['\n', '\r'], " "));
                vec![Effect::Redraw]
            }
            _ => Vec::new(),
        }
    }

    pub fn on_mouse(&mut self, mouse: &MouseEvent) -> Vec<Effect> {
        if !matches!(self.mode, Mode::Normal) {
            return Vec::new();
        }
        match mouse.kind {
            MouseEventKind::ScrollUp => self.scroll_output(3, true),
            MouseEventKind::ScrollDown => self.scroll_output(3, false),
            _ => return Vec::new(),
        }
        vec![Effect::Redraw]
    }

    fn on_dialog_key(&mut self, dialog: Dialog, key: &KeyEvent) -> Vec<Effect> {
        use crossterm::event::{KeyCode, KeyModifiers};
        match dialog {
            Dialog::Confirm { action, .. } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    self.mode = Mode::Normal;
                    match action {
                        Confirmable::Cancel(task) => vec![Effect::Cancel(task)],
                        Confirmable::Skip(task) => vec![Effect::Skip(task)],
                        Confirmable::Quit => vec![Effect::Quit],
                    }
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
                    self.mode = Mode::Normal;
                    vec![Effect::Redraw]
                }
                _ => Vec::new(),
            },
            Dialog::RejectReason { task, mut input } => match key.code {
                KeyCode::Esc => {
                    self.mode = Mode::Normal;
                    vec![Effect::Redraw]
                }
                KeyCode::Enter => {
                    let reason = input.trim().to_string();
                    if reason.is_empty() {
                        self.flash("a rejection needs a reason");
                        return vec![Effect::Redraw];
                    }
                    self.mode = Mode::Normal;
                    vec![Effect::Reject { task, reason }]
                }
                KeyCode::Backspace => {
                    input.pop();
                    self.mode = Mode::Dialog(Dialog::RejectReason { task, input });
                    vec![Effect::Redraw]
                }
                KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.mode = Mode::Dialog(Dialog::RejectReason {
                        task,
                        input: String::new(),
                    });
                    vec![Effect::Redraw]
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.push(c);
                    self.mode = Mode::Dialog(Dialog::RejectReason { task, input });
                    vec![Effect::Redraw]
                }
                _ => Vec::new(),
            },
        }
    }

    fn act(&mut self, action: Action) -> Vec<Effect> {
        let redraw = vec![Effect::Redraw];
        match action {
            Action::AppQuit => return self.request_quit(),
            Action::AppHelp => self.mode = Mode::Help,
            Action::AppRedraw => {}
            Action::FocusNext => self.focus = self.focus.step(true),
            Action::FocusPrev => self.focus = self.focus.step(false),
            Action::FocusTasks => self.focus = Focus::Tasks,
            Action::FocusHealth => self.focus = Focus::Health,
            Action::FocusOutput => self.focus = Focus::Output,
            Action::FocusApprovals => self.focus = Focus::Approvals,
            Action::NavUp => self.navigate(-1),
            Action::NavDown => self.navigate(1),
            Action::NavPageUp => self.navigate(-10),
            Action::NavPageDown => self.navigate(10),
            Action::NavTop => self.navigate(isize::MIN / 2),
            Action::NavBottom => self.navigate(isize::MAX / 2),
            Action::OutputScrollUp => self.scroll_output(1, true),
            Action::OutputScrollDown => self.scroll_output(1, false),
            Action::OutputPageUp => {
                let page = usize::from(self.output_size.0.max(2)) - 1;
                self.scroll_output(page, true)
            }
            Action::OutputPageDown => {
                let page = usize::from(self.output_size.0.max(2)) - 1;
                self.scroll_output(page, false)
            }
            Action::OutputTop => self.scroll_output(usize::MAX / 2, true),
            Action::OutputBottom => self.output_scroll = 0,
            Action::TasksToggleGrouping => {
                self.grouping = match self.grouping {
                    Grouping::Tree => Grouping::Stages,
                    Grouping::Stages => Grouping::Tree,
                };
                self.rebuild_rows();
            }
            Action::TaskAttach => return self.attach(),
            Action::TaskRetry => return self.on_selected(|id, _| vec![Effect::Retry(id)]),
            Action::TaskLogs => return self.on_selected(|id, _| vec![Effect::Logs(id)]),
            Action::TaskDetails => {
                let id = if self.focus == Focus::Approvals {
                    self.approvals()
                        .get(self.approval_selected)
                        .map(|t| t.config.id.clone())
                } else {
                    self.selected_id()
                };
                if let Some(id) = id {
                    self.mode = Mode::Details(id);
                }
            }
            Action::TaskCancel => {
                if let Some(t) = self.selected() {
                    let id = t.config.id.clone();
                    let running = t.row.state == TaskState::Running;
                    self.mode = Mode::Dialog(Dialog::Confirm {
                        title: "Cancel task".into(),
                        message: if running {
                            format!(
                                "Stop the agent of {id} and cancel the task? Cancelled is final."
                            )
                        } else {
                            format!("Cancel {id}? Cancelled is final.")
                        },
                        action: Confirmable::Cancel(id),
                    });
                }
            }
            Action::TaskSkip => {
                if let Some(t) = self.selected() {
                    let id = t.config.id.clone();
                    self.mode = Mode::Dialog(Dialog::Confirm {
                        title: "Skip task".into(),
                        message: format!(
                            "Mark {id} done without running it? Tasks that depend on it will start."
                        ),
                        action: Confirmable::Skip(id),
                    });
                }
            }
            Action::ApprovalApprove => {
                if let Some(id) = self.approval_target() {
                    return vec![Effect::Approve(id)];
                }
                self.flash("nothing is waiting for approval");
            }
            Action::ApprovalReject => {
                if let Some(id) = self.approval_target() {
                    self.mode = Mode::Dialog(Dialog::RejectReason {
                        task: id,
                        input: String::new(),
                    });
                } else {
                    self.flash("nothing is waiting for approval");
                }
            }
            Action::AttachedDetach | Action::AttachedScrollMode | Action::None => {
                return Vec::new()
            }
        }
        redraw
    }

    fn request_quit(&mut self) -> Vec<Effect> {
        let running = self.running().len();
        if running == 0 {
            return vec![Effect::Quit];
        }
        self.mode = Mode::Dialog(Dialog::Confirm {
            title: "Quit".into(),
            message: format!(
                "{running} agent(s) running. Quit and stop them? Their attempts are saved as interrupted and resume on the next run."
            ),
            action: Confirmable::Quit,
        });
        vec![Effect::Redraw]
    }

    fn attach(&mut self) -> Vec<Effect> {
        let Some(t) = self.selected() else {
            return Vec::new();
        };
        let id = t.config.id.clone();
        if t.row.state != TaskState::Running
            || t.output.as_ref().and_then(|o| o.process()).is_none()
        {
            self.flash(format!("{id} is not running; nothing to attach to"));
            return vec![Effect::Redraw];
        }
        self.mode = Mode::Attached(id.clone());
        vec![Effect::Attach(id)]
    }

    fn on_selected(&self, f: impl FnOnce(String, &TaskEntry) -> Vec<Effect>) -> Vec<Effect> {
        match self.selected() {
            Some(t) => f(t.config.id.clone(), t),
            None => Vec::new(),
        }
    }

    /// The approval a key acts on: the selected one in the approvals pane,
    /// else the selected task if it is waiting, else the oldest waiting.
    fn approval_target(&self) -> Option<String> {
        let waiting = self.approvals();
        if self.focus == Focus::Approvals {
            return waiting
                .get(self.approval_selected)
                .map(|t| t.config.id.clone());
        }
        if let Some(t) = self
            .selected()
            .filter(|t| t.row.state == TaskState::AwaitingApproval)
        {
            return Some(t.config.id.clone());
        }
        waiting.first().map(|t| t.config.id.clone())
    }

    fn navigate(&mut self, delta: isize) {
        match self.focus {
            Focus::Tasks | Focus::Health => {
                if self.rows.is_empty() {
                    return;
                }
                let mut i = self.selected_row as isize;
                let last = self.rows.len() as isize - 1;
                let step = delta.signum();
                i = (i + delta).clamp(0, last);
                // Skip stage headers.
                while matches!(self.rows.get(i as usize), Some(TreeRow::Stage(_))) {
                    let next = i + if step == 0 { 1 } else { step };
                    if !(0..=last).contains(&next) {
                        i -= step;
                        break;
                    }
                    i = next;
                }
                let i = i.clamp(0, last) as usize;
                if i != self.selected_row {
                    self.selected_row = i;
                    self.output_scroll = 0;
                }
            }
            Focus::Output => {
                if delta < 0 {
                    self.scroll_output(delta.unsigned_abs(), true);
                } else {
                    self.scroll_output(delta.unsigned_abs(), false);
                }
            }
            Focus::Approvals => {
                let n = self.approvals().len();
                if n > 0 {
                    let i = (self.approval_selected as isize + delta).clamp(0, n as isize - 1);
                    self.approval_selected = i as usize;
                }
            }
        }
    }

    fn scroll_output(&mut self, lines: usize, back: bool) {
        let max = self
            .selected()
            .and_then(|t| t.output.as_ref())
            .map(|o| {
                let height = usize::from(self.output_size.0);
                o.with_screen(|s| crate::ui::term_view::max_scroll_for(s, height as u16))
            })
            .unwrap_or(0);
        self.output_scroll = if back {
            self.output_scroll.saturating_add(lines).min(max)
        } else {
            self.output_scroll.saturating_sub(lines)
        };
    }
}
