//! The bottom line: a fresh message, or the keys that matter right now.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::ui::app::App;
use crate::ui::keymap::{Action, Context};
use crate::ui::view::Now;

/// Offered everywhere, after the focused pane's own commands.
const GLOBAL_COMMANDS: &[(Action, &str)] = &[
    (Action::FocusNext, "pane"),
    (Action::AppHelp, "help"),
    (Action::AppQuit, "quit"),
];

pub fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, now: Now) {
    let bar = app.theme.style("status_bar");
    let key = app.theme.style("status_bar.key");
    let mut spans = Vec::new();
    if let Some(error) = &app.config_error {
        // Stays until a good edit: the user must know their change is not in force.
        let first = error.lines().next().unwrap_or_default();
        let more = error.lines().count().saturating_sub(1);
        let text = if more > 0 {
            format!(" {first} (+{more} more); last good config in force ")
        } else {
            format!(" {first}; last good config in force ")
        };
        spans.push(Span::styled(text, app.theme.style("text.error")));
    } else if let Some(message) = app.current_flash(now.mono) {
        spans.push(Span::styled(format!(" {message} "), bar));
    } else {
        let ctx = app.key_context();
        // The diff view lists its own keys (help among them); the panes'
        // focus keys do nothing there.
        let global = if app.diff.is_some() {
            &[]
        } else {
            GLOBAL_COMMANDS
        };
        let hints = app.focused_commands().iter().chain(global);
        // Only as many hints as fit beside the title and the count of what
        // needs you, which always has its place.
        let needs = app.table.needs_you().len();
        let badge = if needs > 0 {
            needs_badge(needs).chars().count()
        } else {
            0
        };
        let room = usize::from(area.width).saturating_sub(app.title.chars().count() + 2 + badge);
        let mut used = 0;
        let selected = app.selected();
        for &(action, label) in hints {
            if !offered(action, selected) {
                continue;
            }
            if let Some(keys) = app
                .keymap
                .keys_for(ctx, action)
                .or_else(|| app.keymap.keys_for(Context::Global, action))
            {
                let w = keys.chars().count() + label.chars().count() + 3;
                if used + w > room {
                    break;
                }
                used += w;
                spans.push(Span::styled(format!(" {keys}"), key));
                spans.push(Span::styled(format!(" {label} "), bar));
            }
        }
    }
    // What needs a person, always in sight.
    let needs = app.table.needs_you().len();
    if needs > 0 {
        let badge = needs_badge(needs);
        let style = app.theme.style("attention.waiting");
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + badge.chars().count() + app.title.chars().count() + 2 <= usize::from(area.width) {
            spans.push(Span::styled(badge, style));
        }
    }
    let right = format!(" {} ", app.title);
    let used: usize = spans.iter().map(|s| s.width()).sum();
    let pad = usize::from(area.width).saturating_sub(used + right.chars().count());
    spans.push(Span::styled(" ".repeat(pad), bar));
    spans.push(Span::styled(right, bar));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}

/// ` 2 need you `.
fn needs_badge(needs: usize) -> String {
    format!(" {needs} need{} you ", if needs == 1 { "s" } else { "" })
}

/// Whether a task command means anything for the selected task: attach to
/// a running one, retry one that ended without its work done, logs of one
/// that ran. Other commands are always offered.
fn offered(action: Action, selected: Option<&crate::ui::task_table::TaskEntry>) -> bool {
    use crate::engine::state::TaskState;
    let state = selected.map(|t| t.row.state);
    match action {
        Action::TaskAttach => state == Some(TaskState::Running),
        Action::TaskRetry => matches!(
            state,
            Some(
                TaskState::NeedsReview
                    | TaskState::Blocked
                    | TaskState::Rejected
                    | TaskState::Cancelled
                    | TaskState::Retrying
            )
        ),
        Action::TaskLogs => selected.is_some_and(|t| t.row.attempts > 0),
        _ => true,
    }
}
