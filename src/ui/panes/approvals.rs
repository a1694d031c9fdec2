//! The approval queue: tasks waiting for a human, with risk, age and the
//! start of their prompt.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use crate::timefmt::short_duration;
use crate::ui::app::{App, Focus};
use crate::ui::panes::{fit, pane_block};

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    if area.height == 0 {
        return;
    }
    let waiting = app.approvals();
    let focused = app.focus == Focus::Approvals;
    let mut title = vec![Span::raw(format!("Approvals {}", waiting.len()))];
    if let Some(keys) = app.keymap.keys_for(
        crate::ui::keymap::Context::Approvals,
        crate::ui::keymap::Action::ApprovalApprove,
    ) {
        if !waiting.is_empty() {
            title.push(Span::styled(
                format!(" {keys} approve"),
                app.theme.style("text.dim"),
            ));
        }
    }
    if let Some(keys) = app.keymap.keys_for(
        crate::ui::keymap::Context::Approvals,
        crate::ui::keymap::Action::ApprovalReject,
    ) {
        if !waiting.is_empty() {
            title.push(Span::styled(
                format!(" {keys} reject"),
                app.theme.style("text.dim"),
            ));
        }
    }
    let block = pane_block(app, title, focused);
    let width = usize::from(block.inner(area).width);
    let items: Vec<ListItem<'_>> = if waiting.is_empty() {
        vec![ListItem::new(Span::styled(
            "nothing waiting",
            app.theme.style("text.dim"),
        ))]
    } else {
        waiting
            .iter()
            .map(|t| {
                let risk = t.config.risk.as_str();
                let prompt = t.config.prompt.replace(['\n', '\r'], " ");
                let head = format!(
                    " {:<14} {:>6} ",
                    fit(&t.config.id, 14),
                    short_duration(t.since.elapsed())
                );
                let room = width.saturating_sub(head.chars().count() + 9);
                ListItem::new(Line::from(vec![
                    Span::styled(
                        format!("{risk:<8}"),
                        app.theme.style(&format!("approval.risk.{risk}")),
                    ),
                    Span::styled(head, app.theme.style("text")),
                    Span::styled(fit(&prompt, room), app.theme.style("text.dim")),
                ]))
            })
            .collect()
    };
    let mut state = ListState::default().with_selected(if focused && !waiting.is_empty() {
        Some(app.approval_selected)
    } else {
        None
    });
    frame.render_stateful_widget(
        List::new(items)
            .block(block)
            .highlight_style(app.theme.style("selection")),
        area,
        &mut state,
    );
}
