//! The task tree: every task with its state, attempt, elapsed time, merge
//! state (done tasks), agent and the cause of its last failure; nested
//! under parents (subtasks) and dependencies, or grouped by stage.

use std::collections::BTreeMap;
use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use crate::engine::TaskState;
use crate::store::MergeState;
use crate::ui::app::Focus;
use crate::ui::keymap::Action;
use crate::ui::panes::{
    countdown_cell, duration_cell, fit, pane_block, row_symbol, state_style, state_symbol, Ctx,
    Handled, Pane,
};
use crate::ui::task_table::TaskTable;
use crate::ui::view::Now;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Tasks nested under their dependencies.
    Tree,
    /// Tasks grouped by DAG stage.
    Stages,
}

/// A row of the task pane: a task (with its nesting depth) or a stage header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeRow {
    Stage(usize),
    Task { index: usize, depth: usize },
}

/// The task list's own state: its rows, the cursor and the grouping.
pub struct TaskList {
    rows: Vec<TreeRow>,
    /// Index into `rows`.
    selected_row: usize,
    /// The first row shown (kept from frame to frame, so a click or a
    /// move does not make the list jump).
    offset: usize,
    grouping: Grouping,
}

impl TaskList {
    pub fn new(table: &TaskTable) -> TaskList {
        let mut list = TaskList {
            rows: Vec::new(),
            selected_row: 0,
            offset: 0,
            grouping: Grouping::Tree,
        };
        list.rebuild(table);
        list.select_first_task();
        list
    }

    pub fn rows(&self) -> &[TreeRow] {
        &self.rows
    }

    pub fn grouping(&self) -> Grouping {
        self.grouping
    }

    pub fn set_grouping(&mut self, grouping: Grouping, table: &TaskTable) {
        self.grouping = grouping;
        self.rebuild(table);
    }

    /// The index (into the table) of the task under the cursor.
    pub fn selected_index(&self) -> Option<usize> {
        match self.rows.get(self.selected_row)? {
            TreeRow::Task { index, .. } => Some(*index),
            TreeRow::Stage(_) => None,
        }
    }

    pub fn select_task(&mut self, table: &TaskTable, id: &str) {
        if let Some(target) = table.position(id) {
            if let Some(i) = self
                .rows
                .iter()
                .position(|r| matches!(r, TreeRow::Task { index, .. } if *index == target))
            {
                self.selected_row = i;
            }
        }
    }

    pub fn select_first_task(&mut self) {
        if let Some(i) = self
            .rows
            .iter()
            .position(|r| matches!(r, TreeRow::Task { .. }))
        {
            self.selected_row = i;
        }
    }

    /// Rebuild the rows (after a grouping toggle or a reload), keeping the
    /// selected task when it is still there. `keep` is its id, taken before
    /// the table changed (indexes may have moved).
    pub fn rebuild_keeping(&mut self, table: &TaskTable, keep: Option<&str>) {
        self.rows = match self.grouping {
            Grouping::Tree => tree_rows(table),
            Grouping::Stages => stage_rows(table),
        };
        if let Some(id) = keep {
            self.select_task(table, id);
        }
        if self.selected_row >= self.rows.len() {
            self.selected_row = self.rows.len().saturating_sub(1);
        }
    }

    fn rebuild(&mut self, table: &TaskTable) {
        let keep = self
            .selected_index()
            .and_then(|i| table.tasks.get(i))
            .map(|t| t.config.id.clone());
        self.rebuild_keeping(table, keep.as_deref());
    }

    /// Before a frame: the list is `height` rows tall; the first row shown
    /// moves only as far as it must for the cursor to be seen.
    pub fn fit(&mut self, height: u16) {
        let height = usize::from(height.max(1));
        if self.selected_row < self.offset {
            self.offset = self.selected_row;
        } else if self.selected_row >= self.offset + height {
            self.offset = self.selected_row + 1 - height;
        }
        self.offset = self.offset.min(self.rows.len().saturating_sub(1));
    }

    /// Select the task drawn on row `y` (0 = the first row inside the
    /// border) as the last frame drew the list; `false` for a row with no
    /// task (a stage heading, past the end).
    pub fn click(&mut self, y: u16) -> bool {
        let row = self.offset + usize::from(y);
        if matches!(self.rows.get(row), Some(TreeRow::Task { .. })) {
            self.selected_row = row;
            true
        } else {
            false
        }
    }

    /// Move the cursor by `delta` rows, skipping stage headers.
    fn navigate(&mut self, delta: isize) {
        if self.rows.is_empty() {
            return;
        }
        let mut i = self.selected_row as isize;
        let last = self.rows.len() as isize - 1;
        let step = delta.signum();
        i = (i + delta).clamp(0, last);
        while matches!(self.rows.get(i as usize), Some(TreeRow::Stage(_))) {
            let next = i + if step == 0 { 1 } else { step };
            if !(0..=last).contains(&next) {
                i -= step;
                break;
            }
            i = next;
        }
        self.selected_row = i.clamp(0, last) as usize;
    }
}

/// How far a navigation action moves a list's cursor.
pub fn nav_delta(action: Action) -> Option<isize> {
    match action {
        Action::NavUp => Some(-1),
        Action::NavDown => Some(1),
        Action::NavPageUp => Some(-10),
        Action::NavPageDown => Some(10),
        Action::NavTop => Some(isize::MIN / 2),
        Action::NavBottom => Some(isize::MAX / 2),
        _ => None,
    }
}

impl Pane for TaskList {
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, now: Now) {
        let theme = ctx.theme;
        let focused = ctx.focus == Focus::Tasks;
        let mut title = vec![Span::raw("Tasks")];
        for (state, n) in &ctx.table.counts() {
            title.push(Span::raw(" "));
            title.push(Span::styled(
                format!("{}{n}", state_symbol(*state)),
                state_style(theme, *state),
            ));
        }
        let block = pane_block(theme, title, focused);
        let columns = Columns::fit(ctx.table, &self.rows, usize::from(block.inner(area).width));
        let items: Vec<ListItem<'_>> = self
            .rows
            .iter()
            .map(|row| match row {
                TreeRow::Stage(stage) => ListItem::new(Line::from(Span::styled(
                    format!("stage {}", stage + 1),
                    theme.style("help.section"),
                ))),
                TreeRow::Task { index, depth } => {
                    ListItem::new(task_line(ctx, *index, *depth, &columns, now))
                }
            })
            .collect();
        let mut state = ListState::default()
            .with_offset(self.offset)
            .with_selected(Some(self.selected_row));
        let list = List::new(items)
            .block(block)
            .highlight_style(theme.style("selection"));
        frame.render_stateful_widget(list, area, &mut state);
    }

    /// Moves the cursor while the task list or the health pane (whose rows
    /// are this list's running tasks) has the focus; toggles the grouping
    /// from anywhere.
    fn handle(&mut self, action: Action, ctx: &Ctx<'_>) -> Handled {
        if action == Action::TasksToggleGrouping {
            let grouping = match self.grouping {
                Grouping::Tree => Grouping::Stages,
                Grouping::Stages => Grouping::Tree,
            };
            self.set_grouping(grouping, ctx.table);
            return Handled::Consumed;
        }
        match nav_delta(action) {
            Some(delta) if matches!(ctx.focus, Focus::Tasks | Focus::Health) => {
                self.navigate(delta);
                Handled::Consumed
            }
            _ => Handled::Ignored,
        }
    }
}

/// Each subtask nested under its parent task; every other task under the
/// dependency that finishes last (its deepest-stage dependency), so the
/// tree reads top-down in run order.
fn tree_rows(table: &TaskTable) -> Vec<TreeRow> {
    let stage = table.plan().stage_of();
    let mut children: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (i, t) in table.tasks.iter().enumerate() {
        let under = t
            .config
            .parent
            .as_deref()
            .and_then(|p| table.position(p))
            .filter(|&p| p != i)
            .or_else(|| {
                t.config
                    .depends_on
                    .iter()
                    .filter_map(|d| Some((stage.get(d).copied().unwrap_or(0), table.position(d)?)))
                    .max_by_key(|(s, idx)| (*s, usize::MAX - idx))
                    .map(|(_, idx)| idx)
            });
        match under {
            Some(p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let mut rows = Vec::new();
    let mut shown = vec![false; table.tasks.len()];
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (i, 0)).collect();
    while let Some((index, depth)) = stack.pop() {
        if std::mem::replace(&mut shown[index], true) {
            continue;
        }
        rows.push(TreeRow::Task { index, depth });
        if let Some(kids) = children.get(&index) {
            stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
        }
    }
    // Nesting by parent and by dependency together could, in a plan no
    // check allows, make a loop that no root reaches: such tasks are
    // still listed.
    for (index, _) in shown.iter().enumerate().filter(|(_, s)| !**s) {
        rows.push(TreeRow::Task { index, depth: 0 });
    }
    rows
}

fn stage_rows(table: &TaskTable) -> Vec<TreeRow> {
    table
        .plan()
        .stages()
        .into_iter()
        .enumerate()
        .flat_map(|(stage, ids)| {
            let mut rows = vec![TreeRow::Stage(stage)];
            rows.extend(ids.iter().filter_map(|id| {
                table
                    .position(id)
                    .map(|index| TreeRow::Task { index, depth: 1 })
            }));
            rows
        })
        .collect()
}

/// Which columns fit, and how wide the name column is. Columns are dropped
/// (agent first, then elapsed time) before names are truncated, so the
/// free column keeps room for at least a symbol. The last
/// column is free text: the cause of a failure, or a done task's merge
/// state.
struct Columns {
    width: usize,
    name: usize,
    elapsed: bool,
    agent: bool,
}

const ATTEMPT_W: usize = 6;
const ELAPSED_W: usize = 8;
const AGENT_W: usize = 10;
/// The longest merge state word.
const MERGE_WORD_W: usize = 8;

/// A merge state in the task tree: a word, and a symbol where the word
/// does not fit (hollow: not merged yet; filled: on the base branch).
pub fn merge_label(state: MergeState) -> (&'static str, &'static str) {
    match state {
        MergeState::Unmerged => ("unmerged", "◇"),
        MergeState::AwaitingApproval => ("merge?", "?"),
        MergeState::Waiting => ("waiting", "…"),
        MergeState::Merged => ("merged", "◆"),
        MergeState::Conflict => ("conflict", "✗"),
        MergeState::Never => ("no merge", "·"),
    }
}

impl Columns {
    fn fit(table: &TaskTable, rows: &[TreeRow], width: usize) -> Columns {
        let wanted = rows
            .iter()
            .filter_map(|r| match r {
                TreeRow::Task { index, depth } => {
                    Some(2 * depth.min(&8) + 2 + table.tasks[*index].config.id.chars().count())
                }
                TreeRow::Stage(_) => None,
            })
            .max()
            .unwrap_or(8)
            .clamp(8, 40);
        let mut c = Columns {
            width,
            name: wanted,
            elapsed: true,
            agent: true,
        };
        // The free column keeps room for a merge state's word (or a short
        // cause) before the agent is shown, and for its symbol before the
        // elapsed time is.
        if c.used() + 1 + MERGE_WORD_W > width {
            c.agent = false;
        }
        if c.used() + 2 > width {
            c.elapsed = false;
        }
        if c.used() > width {
            c.name = width.saturating_sub(c.used() - c.name).max(4);
        }
        c
    }

    /// Columns taken before the cause.
    fn used(&self) -> usize {
        1 + self.name
            + ATTEMPT_W
            + if self.elapsed { ELAPSED_W } else { 0 }
            + if self.agent { AGENT_W } else { 0 }
    }
}

/// The attempts column, so that each state reads as what it is: the
/// running attempt's number (`#2`, as the output pane's title says); for a
/// task that failed and retries or waits for review, its failures of those
/// allowed (`2/2`, as its cause says); otherwise how many attempts it took,
/// when more than one (`×3`: a done task reads done).
fn attempt_cell(state: TaskState, attempts: u32, failures: u32, allowed: u32) -> String {
    match state {
        _ if attempts == 0 => String::new(),
        TaskState::Running => format!("#{attempts}"),
        TaskState::Retrying | TaskState::NeedsReview if failures > 0 => {
            format!("{failures}/{}", allowed.max(failures))
        }
        _ if attempts > 1 => format!("×{attempts}"),
        _ => String::new(),
    }
}

fn task_line(
    ctx: &Ctx<'_>,
    index: usize,
    depth: usize,
    columns: &Columns,
    now: Now,
) -> Line<'static> {
    let theme = ctx.theme;
    let t = &ctx.table.tasks[index];
    let state = t.row.state;
    let style = state_style(theme, state);
    let dim = theme.style("text.dim");
    // Decided before the frame (`App::prepare_frame`), never for the task on screen.
    let marker = if t.marker_shown {
        Span::styled("●", theme.style("task.activity"))
    } else {
        Span::raw(" ")
    };
    let indent = "  ".repeat(depth.min(8));
    let attempt = attempt_cell(
        state,
        t.row.attempts,
        t.row.failures,
        t.config.max_attempts(),
    );
    let elapsed = match state {
        TaskState::Running | TaskState::AwaitingApproval => {
            duration_cell(now.mono.saturating_duration_since(t.since), ELAPSED_W - 1)
        }
        TaskState::Retrying => t
            .row
            .retry_at
            .map(|at| {
                let left = Duration::from_millis(u64::try_from(at - now.wall_ms).unwrap_or(0));
                countdown_cell(left, ELAPSED_W - 1)
            })
            .unwrap_or_default(),
        // How long the last attempt took, when this session saw it run.
        _ => t
            .last_run
            .map(|d| duration_cell(d, ELAPSED_W - 1))
            .unwrap_or_default(),
    };
    let name_width = columns.name;
    let name = fit(
        &format!("{indent}{} {}", row_symbol(&t.row), t.config.id),
        name_width,
    );
    let mut spans = vec![
        marker,
        Span::styled(format!("{name:<name_width$}"), style),
        Span::styled(format!(" {attempt:>5}"), dim),
    ];
    if columns.elapsed {
        spans.push(Span::styled(format!(" {elapsed:>7}"), dim));
    }
    if columns.agent {
        // The agent that ran, where this session saw it start (a
        // fallback), else the configured one.
        let agent = t.ran_agent.as_deref().unwrap_or(&t.row.agent);
        spans.push(Span::styled(format!(" {:<9}", fit(agent, 9)), dim));
    }
    let shows_cause = matches!(
        state,
        TaskState::Retrying
            | TaskState::NeedsReview
            | TaskState::Blocked
            | TaskState::Rejected
            | TaskState::Cancelled
            | TaskState::Running
            | TaskState::Queued
    );
    let room = columns.width.saturating_sub(columns.used() + 1);
    if state == TaskState::Done {
        let (word, symbol) = merge_label(t.row.merge_state);
        let style = theme.style(&format!("merge.{}", t.row.merge_state.as_str()));
        // Words only where the longest fits, so the column reads the same
        // on every row.
        if room >= MERGE_WORD_W {
            spans.push(Span::styled(format!(" {word}"), style));
        } else if room > 0 {
            spans.push(Span::styled(format!(" {symbol}"), style));
        }
    }
    // A running agent that needs someone says so first, with its question.
    let mut room = room;
    if let Some(a) = t.attention.as_ref().filter(|_| state == TaskState::Running) {
        let (word, style) = match &a.activity.question {
            Some(_) => ("? waiting", theme.style("attention.waiting")),
            None => ("idle", theme.style("attention.idle")),
        };
        if room > word.len() + 1 {
            spans.push(Span::styled(format!(" {word}"), style));
            room -= word.len() + 1;
            if let Some(q) = a.activity.question.as_deref().filter(|_| room > 4) {
                spans.push(Span::styled(format!(" {}", fit(q, room - 1)), style));
                room = 0;
            }
        } else if room >= 2 {
            // Narrow: a symbol, in the same colour.
            let symbol = if a.activity.question.is_some() {
                "?"
            } else {
                "…"
            };
            spans.push(Span::styled(format!(" {symbol}"), style));
            room -= 2;
        }
    }
    if let Some(said) = t.progress.as_ref().filter(|_| state == TaskState::Running) {
        if let Some(percent) = said.progress.filter(|_| room >= 5) {
            spans.push(Span::styled(
                format!(" {percent:>3}%"),
                theme.style("task.running"),
            ));
            room -= 5;
        }
        if let Some(note) = said.note.as_deref().filter(|_| room > 3) {
            spans.push(Span::styled(format!(" {}", fit(note, room - 1)), dim));
            room = 0;
        }
    }
    if let Some(cause) = t.row.cause.as_deref().filter(|_| shows_cause) {
        if room > 3 {
            spans.push(Span::styled(
                format!(" {}", fit(cause, room)),
                theme.style("text.error"),
            ));
        }
    }
    Line::from(spans)
}
