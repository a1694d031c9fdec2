//! Drawing one frame of the control room from the [`App`] state. Nothing
//! here changes the state or reads a clock or a file: `App::prepare_frame`
//! runs first, and the frame's time is an argument.

use std::time::Instant;

use ratatui::Frame;

use crate::ui::app::{App, Mode};
use crate::ui::layout;
use crate::ui::panes::{dialog, diff, output, overlays, status, Pane};

/// The time a frame shows: the monotonic clock for elapsed times and ages,
/// the wall clock for times stored as unix milliseconds (`retry_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall_ms: i64,
}

impl Now {
    pub fn current() -> Now {
        Now {
            mono: Instant::now(),
            wall_ms: crate::timefmt::now_ms(),
        }
    }
}

pub fn draw(frame: &mut Frame<'_>, app: &App, now: Now) {
    let area = frame.area();
    let ctx = app.ctx();
    if let Mode::Attached(task) = &app.mode {
        output::draw_attached(frame, area, &ctx, task, &app.output);
        return;
    }
    let areas = app.areas(area);
    if !app.zoomed {
        app.task_list.draw(frame, areas.tasks, &ctx, now);
        app.health.draw(frame, areas.health, &ctx, now);
        app.queue.draw(frame, areas.approvals, &ctx, now);
    }
    app.output.draw(frame, areas.output, &ctx, now);
    status::draw(frame, areas.status, app, now);
    if let Some(view) = &app.diff {
        let ctx = diff::DrawCtx {
            theme: &app.theme,
            keymap: &app.keymap,
            base: app.base_branch.as_deref(),
        };
        diff::draw(frame, layout::body(area), view, &ctx);
    }
    match &app.mode {
        Mode::Help => overlays::draw_help(frame, area, &app.theme, &app.keymap, app.help_scroll),
        Mode::Details(id) => overlays::draw_details(frame, area, &ctx, id, app.attempts(id)),
        Mode::Dialog(d) => dialog::draw(frame, area, &app.theme, d),
        Mode::Normal | Mode::Attached(_) | Mode::Diff(_) => {}
    }
}
