//! The selected task's terminal: the agent's live screen (or a replay of its
//! last attempt), scrollable back through history.

use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::engine::TaskState;
use crate::ui::app::Focus;
use crate::ui::keymap::{Action, Context};
use crate::ui::panes::tasks::nav_delta;
use crate::ui::panes::{pane_block, Ctx, Handled, Pane};
use crate::ui::task_table::{Replay, TaskEntry};
use crate::ui::term_view::{cursor_position, max_scroll_for, TermView};
use crate::ui::view::Now;

/// The output pane's own state: how far back it is scrolled and how big it is.
pub struct OutputPane {
    /// Lines scrolled back (0 = following).
    scroll: usize,
    /// While scrolled back: the history's line count at the last frame, so
    /// new output does not slide the view (see [`OutputPane::anchor`]).
    anchor: Option<u64>,
    /// Inner size at the last frame (rows, cols).
    size: (u16, u16),
}

impl Default for OutputPane {
    fn default() -> Self {
        OutputPane {
            scroll: 0,
            anchor: None,
            size: (24, 80),
        }
    }
}

impl OutputPane {
    pub fn scroll(&self) -> usize {
        self.scroll
    }

    /// Scroll back to `lines` (tests and benches; keys go through `handle`).
    pub fn set_scroll(&mut self, lines: usize) {
        self.scroll = lines;
    }

    /// Back to following the newest output.
    pub fn follow(&mut self) {
        self.scroll = 0;
    }

    /// Rows and columns inside the borders, as of the last frame.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    pub fn set_size(&mut self, size: (u16, u16)) {
        self.size = size;
    }

    /// Scrolled back into history, the view stays on the same lines while
    /// the agent prints (as tmux's copy mode does): the offset grows by the
    /// lines added since the last frame, up to the oldest line kept. Runs
    /// before each frame.
    pub fn anchor(&mut self, shown: Option<&TaskEntry>) {
        if self.scroll == 0 {
            self.anchor = None;
            return;
        }
        let height = self.size.0;
        let Some((pushed, max)) = shown
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| (s.history().pushed(), max_scroll_for(s, height))))
        else {
            return;
        };
        if let Some(before) = self.anchor {
            let added = usize::try_from(pushed.saturating_sub(before)).unwrap_or(usize::MAX);
            self.scroll = self.scroll.saturating_add(added).min(max);
        }
        self.anchor = Some(pushed);
    }

    pub fn scroll_lines(&mut self, lines: usize, back: bool, shown: Option<&TaskEntry>) {
        let max = shown
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| max_scroll_for(s, self.size.0)))
            .unwrap_or(0);
        self.scroll = if back {
            self.scroll.saturating_add(lines).min(max)
        } else {
            self.scroll.saturating_sub(lines)
        };
    }

    fn page(&self) -> usize {
        usize::from(self.size.0.max(2)) - 1
    }
}

impl Pane for OutputPane {
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, _now: Now) {
        let theme = ctx.theme;
        let focused = ctx.focus == Focus::Output;
        let Some(task) = ctx.selected else {
            let block = pane_block(theme, vec![Span::raw("Output")], focused);
            frame.render_widget(block, area);
            return;
        };
        let mut title = vec![Span::raw(format!("Output: {}", task.config.id))];
        if task.row.attempts > 0 {
            title.push(Span::styled(
                format!(" attempt {}", task.row.attempts),
                theme.style("text.dim"),
            ));
        }
        let mut block = pane_block(theme, title, focused);
        if self.scroll > 0 {
            // On the bottom border, where it fits even in a narrow pane.
            let follow = ctx
                .keymap
                .keys_for(ctx.focus.context(), Action::OutputBottom)
                .map(|k| format!(" · {k} follows"))
                .unwrap_or_default();
            block = block.title_bottom(
                ratatui::text::Line::from(Span::styled(
                    format!(" scrolled {} lines{follow} ", self.scroll),
                    theme.style("output.badge"),
                ))
                .right_aligned(),
            );
        }
        let inner = block.inner(area);
        frame.render_widget(block, area);
        match &task.output {
            Some(output) => output.with_screen(|screen| {
                let show_cursor = focused && self.scroll == 0 && output.process().is_some();
                // The real terminal cursor marks the agent's cursor; the
                // widget's drawn cursor would invert the same cell a second time.
                frame.render_widget(TermView::new(screen).scroll(self.scroll), inner);
                if show_cursor {
                    if let Some(pos) = cursor_position(screen, inner) {
                        frame.set_cursor_position(pos);
                    }
                }
            }),
            None => {
                let text = match (task.row.state, task.replay) {
                    (_, Replay::Loading(_)) => "loading output…",
                    (TaskState::Pending | TaskState::Queued, _) => "not started yet",
                    (TaskState::AwaitingApproval, _) => "waiting for approval",
                    _ => "no output",
                };
                frame.render_widget(
                    Paragraph::new(Span::styled(text, theme.style("text.dim"))),
                    inner,
                );
            }
        }
    }

    /// Scrolls on the output actions from anywhere, and on the navigation
    /// actions while it has the focus.
    fn handle(&mut self, action: Action, ctx: &Ctx<'_>) -> Handled {
        let shown = ctx.selected;
        match action {
            Action::OutputScrollUp => self.scroll_lines(1, true, shown),
            Action::OutputScrollDown => self.scroll_lines(1, false, shown),
            Action::OutputPageUp => self.scroll_lines(self.page(), true, shown),
            Action::OutputPageDown => self.scroll_lines(self.page(), false, shown),
            Action::OutputTop => self.scroll_lines(usize::MAX / 2, true, shown),
            Action::OutputBottom => self.follow(),
            _ => match nav_delta(action) {
                Some(delta) if ctx.focus == Focus::Output => {
                    self.scroll_lines(delta.unsigned_abs(), delta < 0, shown)
                }
                _ => return Handled::Ignored,
            },
        }
        Handled::Consumed
    }
}

/// The attached view: the agent's screen over the whole terminal, with one
/// line saying how to get back.
pub fn draw_attached(frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, task_id: &str) {
    let [body, bar] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(area);
    if let Some(output) = ctx.table.task(task_id).and_then(|t| t.output.as_ref()) {
        output.with_screen(|screen| {
            frame.render_widget(TermView::new(screen), body);
            if let Some(pos) = cursor_position(screen, body) {
                frame.set_cursor_position(pos);
            }
        });
    }
    let detach = ctx
        .keymap
        .keys_for(Context::Attached, Action::AttachedDetach)
        .unwrap_or_else(|| "<C-]>".into());
    let text =
        format!(" attached to {task_id} · {detach} detach · every other key goes to the agent ");
    let bar_style = ctx.theme.style("status_bar");
    frame.render_widget(
        Paragraph::new(Span::styled(text, bar_style)).style(bar_style),
        bar,
    );
}
