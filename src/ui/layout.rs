//! Where each pane goes, from 80x24 up to very wide terminals.

use ratatui::layout::{Constraint, Layout, Rect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tasks: Rect,
    /// Empty when the terminal is too small to show it.
    pub health: Rect,
    pub output: Rect,
    pub approvals: Rect,
    pub status: Rect,
}

/// Below this width the output pane takes the whole width under the other
/// panes: an agent's terminal is never squeezed beside the task tree
/// (at 80 columns it is 78 wide, as the agent's own terminal would be).
pub const STACK_BELOW: u16 = 140;

/// Split the screen. Wide: tasks and health on the left, output and
/// approvals on the right. Narrow (under [`STACK_BELOW`] columns): tasks,
/// and health over approvals, side by side on top, the output the whole
/// width below. Tiny (under 60x16): only tasks and output.
pub fn split(area: Rect, approvals_waiting: usize, running: usize) -> Areas {
    let [body, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    if area.width < 60 || area.height < 16 {
        let [tasks, output] =
            Layout::vertical([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(body);
        return Areas {
            tasks,
            health: Rect::default(),
            output,
            approvals: Rect::default(),
            status,
        };
    }
    if area.width < STACK_BELOW {
        return stacked(body, status, approvals_waiting, running);
    }
    let left_width = if area.width >= 160 {
        area.width * 2 / 5
    } else {
        area.width * 9 / 20
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_width), Constraint::Min(20)]).areas(body);
    // Health: a row per running agent, headers and borders, at least 3, at most a third.
    let health_rows = (running as u16 + 3).clamp(3, (left.height / 3).max(3));
    let [tasks, health] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(health_rows)]).areas(left);
    // Approvals: a row per waiting task plus borders; small when empty.
    let approval_rows = (approvals_waiting as u16 + 2).clamp(3, (right.height / 3).max(3));
    let [output, approvals] =
        Layout::vertical([Constraint::Min(5), Constraint::Length(approval_rows)]).areas(right);
    Areas {
        tasks,
        health,
        output,
        approvals,
        status,
    }
}

/// Narrow: the top two fifths (6 to 16 rows) for tasks beside health over
/// approvals, the rest for the output at full width.
fn stacked(body: Rect, status: Rect, approvals_waiting: usize, running: usize) -> Areas {
    let top_rows = (body.height * 2 / 5).clamp(6, 16);
    let [top, output] =
        Layout::vertical([Constraint::Length(top_rows), Constraint::Min(5)]).areas(body);
    let [tasks, side] =
        Layout::horizontal([Constraint::Percentage(55), Constraint::Min(20)]).areas(top);
    // Approvals get what they need first (they ask for a decision), at
    // least 3 rows; health what is left of the rest, at least 3.
    let approval_rows =
        (approvals_waiting as u16 + 2).clamp(3, side.height.saturating_sub(3).max(3));
    let health_rows =
        (running as u16 + 3).clamp(3, side.height.saturating_sub(approval_rows).max(3));
    let [health, approvals] =
        Layout::vertical([Constraint::Length(health_rows), Constraint::Min(3)]).areas(side);
    Areas {
        tasks,
        health,
        output,
        approvals,
        status,
    }
}

/// Everything but the status bar: where full-screen views (the diff) go.
pub fn body(area: Rect) -> Rect {
    Rect {
        height: area.height.saturating_sub(1),
        ..area
    }
}

/// A box of `width` x `height` centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let width = width.min(area.width);
    let height = height.min(area.height);
    Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn total(a: &Areas) -> u32 {
        [a.tasks, a.health, a.output, a.approvals, a.status]
            .iter()
            .map(|r| u32::from(r.width) * u32::from(r.height))
            .sum()
    }

    #[test]
    fn panes_tile_the_screen_at_every_size() {
        for (w, h) in [(80, 24), (200, 50), (100, 30), (59, 15), (300, 80), (20, 6)] {
            let area = Rect::new(0, 0, w, h);
            let a = split(area, 2, 3);
            assert_eq!(total(&a), u32::from(w) * u32::from(h), "{w}x{h}: {a:?}");
            for r in [a.tasks, a.health, a.output, a.approvals, a.status] {
                assert!(r.x + r.width <= w && r.y + r.height <= h, "{w}x{h}: {r:?}");
            }
        }
    }

    #[test]
    fn an_agent_s_terminal_takes_the_width_of_a_narrow_screen() {
        for (w, h) in [(80, 24), (100, 30), (139, 40)] {
            let a = split(Rect::new(0, 0, w, h), 3, 4);
            assert_eq!(a.output.width, w, "{w}x{h}: {a:?}");
            assert!(a.output.height >= 12, "{w}x{h}: {a:?}");
            assert!(a.tasks.height >= 6 && a.health.height >= 3 && a.approvals.height >= 3);
        }
        // Wide: beside the tree, and still wide.
        let a = split(Rect::new(0, 0, 140, 40), 0, 0);
        assert!(a.output.width >= 77 && a.output.x > 0, "{a:?}");
    }

    #[test]
    fn tiny_terminals_keep_tasks_and_output() {
        let a = split(Rect::new(0, 0, 50, 12), 1, 1);
        assert!(a.tasks.height > 0 && a.output.height > 0);
        assert_eq!(a.health, Rect::default());
        assert_eq!(a.approvals, Rect::default());
    }
}
