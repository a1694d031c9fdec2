//! The panes of the control room and its overlays.
//!
//! Each of the four panes (task list, output, approvals, health) owns its
//! state (selection, grouping, scroll) and implements [`Pane`], as gitui's
//! components do: it draws itself from that state and a [`Ctx`] of what the
//! control room shows, handles the actions routed to it (saying whether it
//! consumed them), and lists the commands it offers for the status bar.
//! Drawing changes nothing: whatever a frame needs decided is decided
//! before, in `App::prepare_frame`.

pub mod approvals;
pub mod copy_mode;
pub mod dialog;
pub mod diff;
pub mod health;
pub mod output;
pub mod output_find;
pub mod overlays;
pub mod status;
pub mod tasks;

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};
use ratatui::Frame;

use crate::engine::TaskState;
use crate::timefmt::short_duration;
use crate::ui::app::Focus;
use crate::ui::keymap::{Action, Keymap};
use crate::ui::task_table::{TaskEntry, TaskTable};
use crate::ui::theme::Theme;
use crate::ui::view::Now;

/// What every pane reads and none owns.
pub struct Ctx<'a> {
    pub table: &'a TaskTable,
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub focus: Focus,
    /// The task under the task list's cursor: the one the output pane shows
    /// and task actions apply to.
    pub selected: Option<&'a TaskEntry>,
}

/// Whether a pane took an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Consumed,
    Ignored,
}

/// The hints every pane offers in the status bar: what acts on the selected
/// task from wherever the focus is. Shown only where the keymap binds them.
pub const TASK_COMMANDS: &[(Action, &str)] = &[
    (Action::TaskAttach, "attach"),
    (Action::ApprovalApprove, "approve"),
    (Action::TaskRetry, "retry"),
    (Action::TaskLogs, "logs"),
];

pub trait Pane {
    /// Draw into `area`. `now` is the frame's time: panes never read a clock.
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, now: Now);

    /// An action the keymap produced, offered to the focused pane first and
    /// then to the others; the first that consumes it ends the search.
    fn handle(&mut self, action: Action, ctx: &Ctx<'_>) -> Handled;

    /// The commands this pane offers, in the order the status bar shows them.
    fn commands(&self) -> &'static [(Action, &'static str)] {
        TASK_COMMANDS
    }
}

/// A pane's frame: rounded borders, the title in the title style, both
/// highlighted when the pane has focus.
pub fn pane_block<'a>(theme: &Theme, title: Vec<Span<'a>>, focused: bool) -> Block<'a> {
    let (border, title_style) = if focused {
        (
            theme.style("pane.border.focused"),
            theme.style("pane.title.focused"),
        )
    } else {
        (theme.style("pane.border"), theme.style("pane.title"))
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

/// A task's symbol: its state's, but a skipped task (done without its
/// work) is not drawn as one that did it.
pub fn row_symbol(row: &crate::store::TaskRow) -> &'static str {
    if row.state == TaskState::Done && row.skipped {
        "↷"
    } else {
        state_symbol(row.state)
    }
}

pub fn state_style(theme: &Theme, state: TaskState) -> Style {
    theme.style(&format!("task.{}", state.as_str()))
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

/// A duration in at most `width` columns, so right-aligned columns stay
/// aligned: `short_duration`, else whole hours.
pub fn duration_cell(d: Duration, width: usize) -> String {
    let text = short_duration(d);
    if text.chars().count() <= width {
        return text;
    }
    fit(&format!("{}h", d.as_secs() / 3600), width)
}

/// The time until something, in at most `width` columns: `in 12s`, or the
/// bare duration where the `in` does not fit.
pub fn countdown_cell(d: Duration, width: usize) -> String {
    let text = format!("in {}", short_duration(d));
    if text.chars().count() <= width {
        text
    } else {
        duration_cell(d, width)
    }
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

    #[test]
    fn durations_fit_their_columns() {
        let secs = Duration::from_secs;
        assert_eq!(duration_cell(secs(75), 7), "1m15s");
        assert_eq!(duration_cell(secs(3_600_000), 7), "1000h");
        assert_eq!(duration_cell(secs(360_000_000), 6), "10000…");
        assert_eq!(countdown_cell(secs(12), 7), "in 12s");
        assert_eq!(countdown_cell(secs(75), 7), "1m15s");
        assert_eq!(countdown_cell(Duration::from_millis(999), 7), "999ms");
    }
}
