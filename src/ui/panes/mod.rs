//! The panes of the control room and its overlays. Each is a function
//! `draw(frame, area, app)` over the `App` state; none
//! of them changes anything.

pub mod approvals;
pub mod health;
pub mod output;
pub mod overlays;
pub mod status;
pub mod tasks;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

use crate::engine::TaskState;
use crate::ui::app::App;

/// A pane's frame: rounded borders, the title in the title style, both
/// highlighted when the pane has focus.
pub fn pane_block<'a>(app: &App, title: Vec<Span<'a>>, focused: bool) -> Block<'a> {
    let (border, title_style) = if focused {
        (
            app.theme.style("pane.border.focused"),
            app.theme.style("pane.title.focused"),
        )
    } else {
        (
            app.theme.style("pane.border"),
            app.theme.style("pane.title"),
        )
    };
    let mut spans = vec![Span::styled(" ", title_style)];
    spans.extend(title.into_iter().map(|s| {
        let style = title_style.patch(s.style);
        Span::styled(s.content, style)
    }));
    spans.push(Span::styled(" ", title_style));
    Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(border)
        .title(Line::from(spans))
}

/// The symbol shown for a state.
pub fn state_symbol(state: TaskState) -> &'static str {
    match state {
        TaskState::Pending => "·",
        TaskState::Queued => "○",
        TaskState::AwaitingApproval => "?",
        TaskState::Running => "▶",
        TaskState::Retrying => "↻",
        TaskState::Done => "✓",
        TaskState::NeedsReview => "!",
        TaskState::Blocked => "⊘",
        TaskState::Rejected => "✗",
        TaskState::Cancelled => "−",
    }
}

pub fn state_style(app: &App, state: TaskState) -> Style {
    app.theme.style(&format!("task.{}", state.as_str()))
}

/// Truncate to `width` columns, with an ellipsis when cut.
pub fn fit(text: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    let total: usize = text.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= width {
        return text.to_string();
    }
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Bytes as a short human size: `812K`, `120M`, `1.5G`.
pub fn human_bytes(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < K * K * K {
        format!("{:.0}M", b / (K * K))
    } else {
        format!("{:.1}G", b / (K * K * K))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_truncates_with_ellipsis() {
        assert_eq!(fit("hello", 10), "hello");
        assert_eq!(fit("hello world", 6), "hello…");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(human_bytes(800 * 1024), "800K");
        assert_eq!(human_bytes(120 * 1024 * 1024), "120M");
    }
}
