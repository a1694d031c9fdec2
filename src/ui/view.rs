//! Drawing one frame of the control room from the [`App`] state.

use ratatui::Frame;

use crate::store::Store;
use crate::ui::app::{App, Mode};
use crate::ui::layout;
use crate::ui::panes::{approvals, health, output, overlays, status, tasks};

pub fn draw(frame: &mut Frame<'_>, app: &mut App, store: Option<&Store>) {
    let area = frame.area();
    if let Mode::Attached(task) = &app.mode {
        let task = task.clone();
        output::draw_attached(frame, area, app, &task);
        app.after_draw();
        return;
    }
    let areas = layout::split(area, app.approvals().len(), app.running().len());
    let inner = ratatui::widgets::Block::bordered().inner(areas.output);
    app.output_size = (inner.height, inner.width);
    anchor_scroll(app);
    tasks::draw(frame, areas.tasks, app);
    health::draw(frame, areas.health, app);
    output::draw(frame, areas.output, app);
    approvals::draw(frame, areas.approvals, app);
    status::draw(frame, areas.status, app);
    app.after_draw();
    match &app.mode {
        Mode::Help => overlays::draw_help(frame, area, app),
        Mode::Details(id) => overlays::draw_details(frame, area, app, id, store),
        Mode::Dialog(dialog) => overlays::draw_dialog(frame, area, app, dialog),
        Mode::Normal | Mode::Attached(_) => {}
    }
}

/// Scrolled back into history, the view stays on the same lines while the
/// agent prints (as tmux's copy mode does): the offset grows by the lines
/// added since the last frame, up to the oldest line kept.
fn anchor_scroll(app: &mut App) {
    if app.output_scroll == 0 {
        app.scroll_anchor = None;
        return;
    }
    let height = app.output_size.0;
    let Some((pushed, max)) = app.selected().and_then(|t| t.output.as_ref()).map(|o| {
        o.with_screen(|s| {
            (
                s.history().pushed(),
                crate::ui::term_view::max_scroll_for(s, height),
            )
        })
    }) else {
        return;
    };
    if let Some(before) = app.scroll_anchor {
        let added = usize::try_from(pushed.saturating_sub(before)).unwrap_or(usize::MAX);
        app.output_scroll = app.output_scroll.saturating_add(added).min(max);
    }
    app.scroll_anchor = Some(pushed);
}
