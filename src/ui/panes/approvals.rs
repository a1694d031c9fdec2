//! The "needs you" queue: everything waiting for a person, oldest first:
//! tasks at a gate (to start or, done with `approval = "before_merge"`, to
//! be merged), agents waiting for an answer (with their question) or idle
//! after their turn, merges that conflicted; each with its age and why.
//! Enter on an agent attaches to it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem, ListState};
use ratatui::Frame;

use crate::ui::app::Focus;
use crate::ui::keymap::{Action, Context};
use crate::ui::panes::tasks::nav_delta;
use crate::ui::panes::{duration_cell, fit, pane_block, Ctx, Handled, Pane};
use crate::ui::task_table::{NeedKind, TaskTable};
use crate::ui::view::Now;

/// The queue's own state: the cursor.
#[derive(Default)]
pub struct ApprovalQueue {
    selected: usize,
}

impl ApprovalQueue {
    /// The task under the cursor, if anything needs you.
    pub fn selected_id(&self, table: &TaskTable) -> Option<String> {
        table
            .needs_you()
            .get(self.selected)
            .map(|n| n.entry.config.id.clone())
    }

    /// What the item under the cursor needs.
    pub fn selected_kind(&self, table: &TaskTable) -> Option<NeedKind> {
        table.needs_you().get(self.selected).map(|n| n.kind.clone())
    }

    /// Put the cursor on the item after the one it is on (the first after
    /// the last); the task it now names.
    pub fn select_next(&mut self, table: &TaskTable) -> Option<String> {
        let needs = table.needs_you();
        if needs.is_empty() {
            return None;
        }
        self.selected = (self.selected + 1) % needs.len();
        Some(needs[self.selected].entry.config.id.clone())
    }

    /// Put the cursor on `task`'s item, if it has one.
    pub fn select(&mut self, table: &TaskTable, task: &str) {
        if let Some(i) = table
            .needs_you()
            .iter()
            .position(|n| n.entry.config.id == task)
        {
            self.selected = i;
        }
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
        let waiting = ctx.table.needs_you();
        let focused = ctx.focus == Focus::Approvals;
        let mut title = vec![Span::raw(format!("Needs you {}", waiting.len()))];
        let approvals = waiting.iter().any(|n| n.kind.is_approval());
        let agents = waiting
            .iter()
            .any(|n| matches!(n.kind, NeedKind::Waiting(_) | NeedKind::Idle));
        for (action, context, label, shown) in [
            (
                Action::ApprovalApprove,
                Context::Approvals,
                "approve",
                approvals,
            ),
            (
                Action::ApprovalReject,
                Context::Approvals,
                "reject",
                approvals,
            ),
            (Action::TaskAttach, Context::Approvals, "attach", agents),
            (
                Action::AttentionNext,
                Context::Global,
                "next",
                !waiting.is_empty(),
            ),
        ] {
            if let Some(keys) = ctx.keymap.keys_for(context, action) {
                if shown {
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
                "nothing needs you",
                theme.style("text.dim"),
            ))]
        } else {
            waiting
                .iter()
                .map(|need| {
                    let t = need.entry;
                    // An agent's mark is dated by the engine; a gate or a
                    // conflict by when this view saw the task get there.
                    let age = match &need.kind {
                        NeedKind::Waiting(_) | NeedKind::Idle => {
                            crate::timefmt::between(need.at, now.wall_ms)
                        }
                        _ => now.mono.saturating_duration_since(t.since),
                    };
                    let head = format!(
                        " {:<14} {:>6} ",
                        fit(&t.config.id, 14),
                        duration_cell(age, 6)
                    );
                    let room = width.saturating_sub(head.chars().count() + 14);
                    // An approval: its risk, then which gate; anything else
                    // says what it needs in the first column.
                    let (first, first_style) = match &need.kind {
                        NeedKind::Start | NeedKind::Merge => {
                            let risk = t.config.risk.as_str();
                            (risk, theme.style(&format!("approval.risk.{risk}")))
                        }
                        NeedKind::Waiting(_) => {
                            (need.kind.label(), theme.style("attention.waiting"))
                        }
                        NeedKind::Idle => (need.kind.label(), theme.style("attention.idle")),
                        NeedKind::Conflict => (need.kind.label(), theme.style("merge.conflict")),
                    };
                    let (gate, gate_style) = match &need.kind {
                        NeedKind::Start => ("start", theme.style("text.dim")),
                        NeedKind::Merge => ("merge", theme.style("merge.awaiting_approval")),
                        _ => ("", theme.style("text.dim")),
                    };
                    let why = match &need.kind {
                        NeedKind::Start | NeedKind::Merge => {
                            t.config.prompt.replace(['\n', '\r'], " ")
                        }
                        NeedKind::Waiting(question) => question.clone(),
                        NeedKind::Idle => "finished its turn; waiting for the next prompt".into(),
                        NeedKind::Conflict => match t.row.conflicts.is_empty() {
                            true => "its merge conflicted".into(),
                            false => format!("conflicts in {}", t.row.conflicts.join(", ")),
                        },
                    };
                    ListItem::new(Line::from(vec![
                        Span::styled(format!("{first:<8}"), first_style),
                        Span::styled(format!("{gate:<6}"), gate_style),
                        Span::styled(head, theme.style("text")),
                        Span::styled(fit(&why, room), theme.style("text.dim")),
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
                let n = ctx.table.needs_you().len();
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
