//! The selected task's terminal: the agent's live screen (or a replay of its
//! last attempt), scrollable back through history.

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::{App, Focus};
use crate::ui::panes::pane_block;
use crate::ui::term_view::{cursor_position, TermView};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let focused = app.focus == Focus::Output;
    let Some(task) = app.selected() else {
        let block = pane_block(app, vec![Span::raw("Output")], focused);
        frame.render_widget(block, area);
        return;
    };
    let mut title = vec![Span::raw(format!("Output: {}", task.config.id))];
    if task.row.attempts > 0 {
        title.push(Span::styled(
            format!(" attempt {}", task.row.attempts),
            app.theme.style("text.dim"),
        ));
    }
    let mut block = pane_block(app, title, focused);
    if app.output_scroll > 0 {
        // On the bottom border, where it fits even in a narrow pane.
        let follow = app
            .keymap
            .keys_for(app.focus.context(), crate::ui::keymap::Action::OutputBottom)
            .map(|k| format!(" · {k} follows"))
            .unwrap_or_default();
        block = block.title_bottom(
            ratatui::text::Line::from(Span::styled(
                format!(" scrolled {} lines{follow} ", app.output_scroll),
                app.theme.style("output.badge"),
            ))
            .right_aligned(),
        );
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match &task.output {
        Some(output) => output.with_screen(|screen| {
            let show_cursor = focused && app.output_scroll == 0 && output.process().is_some();
            // The real terminal cursor marks the agent's cursor; the
            // widget's drawn cursor would invert the same cell a second time.
            frame.render_widget(TermView::new(screen).scroll(app.output_scroll), inner);
            if show_cursor {
                if let Some(pos) = cursor_position(screen, inner) {
                    frame.set_cursor_position(pos);
                }
            }
        }),
        None => {
            let text = match task.row.state {
                crate::engine::TaskState::Pending | crate::engine::TaskState::Queued => {
                    "not started yet"
                }
                crate::engine::TaskState::AwaitingApproval => "waiting for approval",
                _ => "no output",
            };
            frame.render_widget(
                Paragraph::new(Span::styled(text, app.theme.style("text.dim"))),
                inner,
            );
        }
    }
}

/// The attached view: the agent's screen over the whole terminal, with one
/// line saying how to get back.
pub fn draw_attached(frame: &mut Frame<'_>, area: Rect, app: &App, task_id: &str) {
    let [body, bar] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(area);
    if let Some(output) = app.task(task_id).and_then(|t| t.output.as_ref()) {
        output.with_screen(|screen| {
            frame.render_widget(TermView::new(screen), body);
            if let Some(pos) = cursor_position(screen, body) {
                frame.set_cursor_position(pos);
            }
        });
    }
    let detach = app
        .keymap
        .keys_for(
            crate::ui::keymap::Context::Attached,
            crate::ui::keymap::Action::AttachedDetach,
        )
        .unwrap_or_else(|| "<C-]>".into());
    let text =
        format!(" attached to {task_id} · {detach} detach · every other key goes to the agent ");
    frame.render_widget(
        Paragraph::new(Span::styled(text, app.theme.style("status_bar")))
            .style(app.theme.style("status_bar")),
        bar,
    );
}
