//! The approval queue: tasks waiting for a human, to start or (done, with
//! `approval = "before_merge"`) to be merged, with risk, which gate, age and
//! the start of their prompt.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use crate::ui::app::Focus;
use crate::ui::keymap::{Action, Context};
use crate::ui::panes::tasks::nav_delta;
use crate::ui::panes::{duration_cell, fit, pane_block, Ctx, Handled, Pane};
use crate::ui::task_table::TaskTable;
use crate::ui::view::Now;

/// The queue's own state: the cursor.
#[derive(Default)]
pub struct ApprovalQueue {
    selected: usize,
}

impl ApprovalQueue {
    /// The task under the cursor, if any is waiting.
    pub fn selected_id(&self, table: &TaskTable) -> Option<String> {
        table
            .approvals()
            .get(self.selected)
            .map(|t| t.config.id.clone())
    }

    /// Keep the cursor on the queue after it shrank.
    pub fn clamp(&mut self, waiting: usize) {
        if self.selected >= waiting {
            self.selected = waiting.saturating_sub(1);
        }
    }
}

impl Pane for ApprovalQueue {
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, now: Now) {
        if area.height == 0 {
            return;
        }
        let theme = ctx.theme;
        let waiting = ctx.table.approvals();
        let focused = ctx.focus == Focus::Approvals;
        let mut title = vec![Span::raw(format!("Approvals {}", waiting.len()))];
        for (action, label) in [
            (Action::ApprovalApprove, "approve"),
            (Action::ApprovalReject, "reject"),
        ] {
            if let Some(keys) = ctx.keymap.keys_for(Context::Approvals, action) {
                if !waiting.is_empty() {
                    title.push(Span::styled(
                        format!(" {keys} {label}"),
                        theme.style("text.dim"),
                    ));
                }
            }
        }
        let block = pane_block(theme, title, focused);
        let width = usize::from(block.inner(area).width);
        let items: Vec<ListItem<'_>> = if waiting.is_empty() {
            vec![ListItem::new(Span::styled(
                "nothing waiting",
                theme.style("text.dim"),
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
                        duration_cell(now.mono.saturating_duration_since(t.since), 6)
                    );
                    let room = width.saturating_sub(head.chars().count() + 15);
                    // Which gate: before the task starts, or before its
                    // branch is merged (`approval = "before_merge"`).
                    let (gate, gate_style) = if t.awaits_merge_approval() {
                        ("merge", theme.style("merge.awaiting_approval"))
                    } else {
                        ("start", theme.style("text.dim"))
                    };
                    ListItem::new(Line::from(vec![
                        Span::styled(
                            format!("{risk:<8}"),
                            theme.style(&format!("approval.risk.{risk}")),
                        ),
                        Span::styled(format!("{gate:<6}"), gate_style),
                        Span::styled(head, theme.style("text")),
                        Span::styled(fit(&prompt, room), theme.style("text.dim")),
                    ]))
                })
                .collect()
        };
        let mut state = ListState::default().with_selected(if focused && !waiting.is_empty() {
            Some(self.selected)
        } else {
            None
        });
        frame.render_stateful_widget(
            List::new(items)
                .block(block)
                .highlight_style(theme.style("selection")),
            area,
            &mut state,
        );
    }

    /// Moves the cursor while the queue has the focus.
    fn handle(&mut self, action: Action, ctx: &Ctx<'_>) -> Handled {
        match nav_delta(action) {
            Some(delta) if ctx.focus == Focus::Approvals => {
                let n = ctx.table.approvals().len();
                if n > 0 {
                    let i = (self.selected as isize + delta).clamp(0, n as isize - 1);
                    self.selected = i as usize;
                }
                Handled::Consumed
            }
            _ => Handled::Ignored,
        }
    }
}
