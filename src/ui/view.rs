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
