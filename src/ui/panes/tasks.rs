//! The task tree: every task with its state, attempt, elapsed time, agent and
//! the cause of its last failure; nested under dependencies or grouped by stage.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use crate::engine::TaskState;
use crate::timefmt::short_duration;
use crate::ui::app::{App, Focus, TreeRow};
use crate::ui::panes::{fit, pane_block, state_style, state_symbol};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == Focus::Tasks;
    let counts = app.counts();
    let mut title = vec![Span::raw("Tasks")];
    for (state, n) in &counts {
        title.push(Span::raw(" "));
        title.push(Span::styled(
            format!("{}{n}", state_symbol(*state)),
            state_style(app, *state),
        ));
    }
    let block = pane_block(app, title, focused);
    let columns = Columns::fit(app, usize::from(block.inner(area).width));
    let items: Vec<ListItem<'_>> = app
        .rows
        .iter()
        .map(|row| match row {
            TreeRow::Stage(stage) => ListItem::new(Line::from(Span::styled(
                format!("stage {}", stage + 1),
                app.theme.style("help.section"),
            ))),
            TreeRow::Task { index, depth } => {
                ListItem::new(task_line(app, *index, *depth, &columns))
            }
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(app.selected_row));
    let list = List::new(items)
        .block(block)
        .highlight_style(app.theme.style("selection"));
    frame.render_stateful_widget(list, area, &mut state);
}

/// Which columns fit, and how wide the name column is. Columns are dropped
/// (agent first, then elapsed time) before names are truncated.
struct Columns {
    width: usize,
    name: usize,
    elapsed: bool,
    agent: bool,
}

const ATTEMPT_W: usize = 6;
const ELAPSED_W: usize = 8;
const AGENT_W: usize = 10;

impl Columns {
    fn fit(app: &App, width: usize) -> Columns {
        let wanted = app
            .rows
            .iter()
            .filter_map(|r| match r {
                TreeRow::Task { index, depth } => {
                    Some(2 * depth.min(&8) + 2 + app.tasks[*index].config.id.chars().count())
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
        if c.used() > width {
            c.agent = false;
        }
        if c.used() > width {
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

fn task_line(app: &App, index: usize, depth: usize, columns: &Columns) -> Line<'static> {
    let t = &app.tasks[index];
    let state = t.row.state;
    let style = state_style(app, state);
    let dim = app.theme.style("text.dim");
    let marker =
        if t.has_unseen_output() && app.selected().map(|s| &s.config.id) != Some(&t.config.id) {
            Span::styled("●", app.theme.style("task.activity"))
        } else {
            Span::raw(" ")
        };
    let indent = "  ".repeat(depth.min(8));
    let attempt = if t.row.attempts > 0 {
        format!(
            "{}/{}",
            t.row.attempts,
            t.config.max_attempts().max(t.row.attempts)
        )
    } else {
        String::new()
    };
    let elapsed = match state {
        TaskState::Running | TaskState::AwaitingApproval => short_duration(t.since.elapsed()),
        TaskState::Retrying => t
            .row
            .retry_at
            .map(|at| {
                let left = at - crate::timefmt::now_ms();
                format!(
                    "in {}",
                    short_duration(std::time::Duration::from_millis(left.max(0) as u64))
                )
            })
            .unwrap_or_default(),
        // How long the last attempt took, when this session saw it run.
        _ => t.last_run.map(short_duration).unwrap_or_default(),
    };
    let name_width = columns.name;
    let name = fit(
        &format!("{indent}{} {}", state_symbol(state), t.config.id),
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
        spans.push(Span::styled(format!(" {:<9}", fit(&t.row.agent, 9)), dim));
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
    if let Some(cause) = t.row.cause.as_deref().filter(|_| shows_cause) {
        let room = columns.width.saturating_sub(columns.used() + 1);
        if room > 3 {
            spans.push(Span::styled(
                format!(" {}", fit(cause, room)),
                app.theme.style("text.error"),
            ));
        }
    }
    Line::from(spans)
}
