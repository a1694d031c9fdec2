//! The selected task's terminal: the agent's live screen (or a replay of its
//! last attempt), scrollable back through history.

use crossterm::event::KeyEvent;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use crate::agent::screen::TerminalScreen;
use crate::engine::TaskState;
use crate::ui::app::Focus;
use crate::ui::keymap::{Action, Context};
use crate::ui::panes::copy_mode::{CopyMode, CopyStep, Pos};
use crate::ui::panes::output_find::OutputSearch;
use crate::ui::panes::tasks::nav_delta;
use crate::ui::panes::{pane_block, Ctx, Handled, Pane};
use crate::ui::task_table::{Replay, TaskEntry};
use crate::ui::term_lines;
use crate::ui::term_view::{
    cursor_position, max_scroll_for, scroll_to_show, shown_lines, TermView,
};
use crate::ui::theme::Theme;
use crate::ui::view::Now;

/// The output pane's own state: how far back it is scrolled, how big it
/// is, its search and its copy mode.
pub struct OutputPane {
    /// Lines scrolled back (0 = following).
    scroll: usize,
    /// While scrolled back: the history's line count at the last frame, so
    /// new output does not slide the view (see [`OutputPane::anchor`]).
    anchor: Option<u64>,
    /// Inner size at the last frame (rows, cols): what the agents' PTYs
    /// are sized to (the pane, or the whole screen while zoomed).
    size: (u16, u16),
    /// Rows of the view the scroll applies to: the pane's, or while
    /// attached the agent's whole screen.
    view_rows: u16,
    pub search: OutputSearch,
    pub copy: Option<CopyMode>,
    /// Shown over the whole screen (set by the app before each frame).
    pub zoomed: bool,
}

impl Default for OutputPane {
    fn default() -> Self {
        OutputPane {
            scroll: 0,
            anchor: None,
            size: (24, 80),
            view_rows: 24,
            search: OutputSearch::default(),
            copy: None,
            zoomed: false,
        }
    }
}

/// What a key did to the output pane's search or copy mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputKey {
    /// The view changed: draw.
    Changed,
    /// Copy this text (copy mode ended with a selection).
    Copy(String),
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

    /// Another task is shown: follow its output, leave copy mode, and keep
    /// the search's query but not its matches (they were the other's).
    pub fn show_other_task(&mut self) {
        self.follow();
        self.copy = None;
        self.search.forget_matches();
    }

    /// Rows and columns inside the borders, as of the last frame.
    pub fn size(&self) -> (u16, u16) {
        self.size
    }

    pub fn set_size(&mut self, size: (u16, u16)) {
        self.size = size;
        self.view_rows = size.0;
    }

    /// The view is the attached agent's whole screen, `rows` tall (the
    /// pane's size, which the agents' PTYs follow, is kept).
    pub fn set_attached_rows(&mut self, rows: u16) {
        self.view_rows = rows;
    }

    /// Keys go to the search prompt or copy mode rather than the keymap.
    pub fn takes_keys(&self) -> bool {
        self.search.typing || self.copy.is_some()
    }

    /// Scrolled back into history, the view stays on the same lines while
    /// the agent prints (as tmux's copy mode does): the offset grows by the
    /// lines added since the last frame, up to the oldest line kept. Runs
    /// before each frame.
    pub fn anchor(&mut self, shown: Option<&TaskEntry>) {
        if self.scroll == 0 && self.copy.is_none() {
            self.anchor = None;
            return;
        }
        let height = self.view_rows;
        let Some((pushed, max, cursor)) = shown.and_then(|t| t.output.as_ref()).map(|o| {
            o.with_screen(|s| {
                let cursor = self
                    .copy
                    .as_ref()
                    .and_then(|c| term_lines::index_of(s, c.cursor.0));
                (s.history().pushed(), max_scroll_for(s, height), cursor)
            })
        }) else {
            return;
        };
        if let Some(before) = self.anchor {
            let added = usize::try_from(pushed.saturating_sub(before)).unwrap_or(usize::MAX);
            // Copy mode holds the view still, as tmux's does.
            if self.scroll > 0 || self.copy.is_some() {
                self.scroll = self.scroll.saturating_add(added).min(max);
            }
        }
        self.anchor = Some(pushed);
        if cursor.is_none() && self.copy.is_some() {
            // Its line left history: copy mode has nothing to stand on.
            self.copy = None;
        }
    }

    pub fn scroll_lines(&mut self, lines: usize, back: bool, shown: Option<&TaskEntry>) {
        let max = shown
            .and_then(|t| t.output.as_ref())
            .map(|o| o.with_screen(|s| max_scroll_for(s, self.view_rows)))
            .unwrap_or(0);
        self.scroll = if back {
            self.scroll.saturating_add(lines).min(max)
        } else {
            self.scroll.saturating_sub(lines)
        };
    }

    /// A page of the view.
    pub fn page(&self) -> usize {
        usize::from(self.view_rows.max(2)) - 1
    }

    /// Bring line `index` into view.
    fn show_line(&mut self, screen: &TerminalScreen, index: usize) {
        self.scroll = scroll_to_show(screen, self.view_rows, self.scroll, index);
    }

    /// The line and column under row `y`, column `x` of a view of `screen`
    /// whose top left is `(0, 0)`.
    pub fn pos_at(&self, screen: &TerminalScreen, x: u16, y: u16) -> Pos {
        let lines = shown_lines(screen, self.view_rows, self.scroll);
        let index = (lines.start + usize::from(y)).min(lines.end.saturating_sub(1));
        (term_lines::id_of(screen, index), x)
    }

    /// A key while the search prompt or copy mode has them: `None` if they
    /// do not take it.
    pub fn on_key(&mut self, key: &KeyEvent, shown: Option<&TaskEntry>) -> Option<OutputKey> {
        if let Some(changed) = self.search.on_key(key) {
            if changed {
                // Incremental: the nearest match back from the view's bottom.
                if let Some(t) = shown {
                    self.find_and_step(t, false, true);
                }
            }
            return Some(OutputKey::Changed);
        }
        let copy = self.copy.as_mut()?;
        let Some(output) = shown.and_then(|t| t.output.as_ref()) else {
            // Nothing to copy from any more.
            self.copy = None;
            return Some(OutputKey::Changed);
        };
        let page = self.view_rows.saturating_sub(1);
        let step = output.with_screen(|s| copy.on_key(key, s, page));
        match step {
            CopyStep::Moved => {
                self.cursor_into_view(shown);
                Some(OutputKey::Changed)
            }
            CopyStep::Copy(text) => {
                self.copy = None;
                Some(OutputKey::Copy(text))
            }
            CopyStep::Leave => {
                self.copy = None;
                Some(OutputKey::Changed)
            }
            CopyStep::Ignored => match SearchKey::of(key) {
                // The search works in copy mode and moves its cursor.
                SearchKey::Slash => {
                    self.search.begin();
                    Some(OutputKey::Changed)
                }
                SearchKey::Next(forward) => {
                    if let Some(t) = shown {
                        self.find_and_step(t, forward, false);
                    }
                    Some(OutputKey::Changed)
                }
                SearchKey::Other => Some(OutputKey::Changed),
            },
        }
    }

    fn cursor_into_view(&mut self, shown: Option<&TaskEntry>) {
        let (Some(copy), Some(output)) = (&self.copy, shown.and_then(|t| t.output.as_ref())) else {
            return;
        };
        let line = copy.cursor.0;
        let rows = self.view_rows;
        let scroll = self.scroll;
        self.scroll = output.with_screen(|s| match term_lines::index_of(s, line) {
            Some(index) => {
                let lines = shown_lines(s, rows, scroll);
                if lines.contains(&index) {
                    scroll
                } else if index < lines.start {
                    scroll + (lines.start - index)
                } else {
                    scroll.saturating_sub(index + 1 - lines.end)
                }
            }
            None => scroll,
        });
        let max = output.with_screen(|s| max_scroll_for(s, rows));
        self.scroll = self.scroll.min(max);
    }

    /// Search `task`'s lines again and step to the next match (or, while
    /// the query is typed, the nearest one back from the bottom of the
    /// view); copy mode's cursor goes to it.
    fn find_and_step(&mut self, task: &TaskEntry, forward: bool, restart: bool) {
        let Some(output) = &task.output else {
            return;
        };
        let rows = self.view_rows;
        let scroll = self.scroll;
        let search = &mut self.search;
        let target = output.with_screen(|s| {
            search.find(&task.config.id, s);
            let bottom = term_lines::id_of(s, shown_lines(s, rows, scroll).end);
            let from = if restart {
                // While the query is typed, every version of it looks
                // back from where the view was when `/` was pressed.
                search.current = None;
                *search.origin.get_or_insert(bottom)
            } else {
                bottom
            };
            let hit = search.step(forward, from)?;
            term_lines::index_of(s, hit.line).map(|i| (i, hit))
        });
        if let Some((index, hit)) = target {
            output.with_screen(|s| self.show_line(s, index));
            if let Some(copy) = &mut self.copy {
                copy.cursor = (hit.line, hit.from);
            }
        }
    }

    /// Enter copy mode: the cursor on the agent's cursor when following,
    /// else on the bottom line of the view.
    fn enter_copy(&mut self, shown: Option<&TaskEntry>) -> bool {
        let Some(output) = shown.and_then(|t| t.output.as_ref()) else {
            return false;
        };
        let (rows, scroll) = (self.view_rows, self.scroll);
        let cursor = output.with_screen(|s| {
            let lines = shown_lines(s, rows, scroll);
            if scroll == 0 {
                let (row, col) = s.screen().cursor_position();
                let index = s.history().len() + usize::from(row);
                if lines.contains(&index) {
                    return (term_lines::id_of(s, index), col);
                }
            }
            (term_lines::id_of(s, lines.end.saturating_sub(1)), 0)
        });
        self.copy = Some(CopyMode::at(cursor));
        true
    }

    /// A mouse drag from `from` to `to` (view positions): a selection in
    /// copy mode; `done` (the button let go) copies it.
    pub fn drag(
        &mut self,
        shown: Option<&TaskEntry>,
        from: Pos,
        to: Pos,
        done: bool,
    ) -> Option<String> {
        let output = shown.and_then(|t| t.output.as_ref())?;
        let copy = self.copy.get_or_insert(CopyMode::at(from));
        copy.anchor.get_or_insert(from);
        copy.cursor = to;
        if !done {
            return None;
        }
        let anchor = copy.anchor.unwrap_or(from);
        self.copy = None;
        let text =
            output.with_screen(|s| crate::ui::panes::copy_mode::selected_text(s, anchor, to));
        (!text.is_empty()).then_some(text)
    }

    /// The position badge: lines above the view and lines in all.
    fn badge(&self, screen: &TerminalScreen) -> String {
        term_lines::position(screen, self.view_rows, self.scroll)
    }
}

/// The keys copy mode leaves to the search.
enum SearchKey {
    Slash,
    Next(bool),
    Other,
}

impl SearchKey {
    fn of(key: &KeyEvent) -> SearchKey {
        match key.code {
            crossterm::event::KeyCode::Char('/') => SearchKey::Slash,
            crossterm::event::KeyCode::Char('n') => SearchKey::Next(false),
            crossterm::event::KeyCode::Char('N') => SearchKey::Next(true),
            _ => SearchKey::Other,
        }
    }
}

/// Paint the search's matches, copy mode's selection and cursor over a
/// drawn view of `screen` in `area`.
fn paint_marks(
    buf: &mut Buffer,
    area: Rect,
    screen: &TerminalScreen,
    pane: &OutputPane,
    theme: &Theme,
) {
    let lines = shown_lines(screen, area.height, pane.scroll);
    let current = pane
        .search
        .current
        .and_then(|i| pane.search.hits.get(i))
        .copied();
    let selection = pane.copy.as_ref().and_then(CopyMode::selection);
    let matched = theme.style("diff.match");
    let current_style = theme.style("diff.match.current");
    let selected = theme.style("selection");
    if let Some(matcher) = pane.search.matcher() {
        // Whole lines as written, so a match over a wrap is painted on
        // both rows.
        let mut index = lines.start;
        while index < lines.end {
            let logical = if index == lines.start {
                term_lines::Logical::around(screen, index)
            } else {
                term_lines::Logical::from(screen, index)
            };
            for (start, end) in matcher.find_all(&logical.text) {
                let (row, from) = logical.locate(start);
                let is_current = current
                    .is_some_and(|h| h.line == term_lines::id_of(screen, row) && h.from == from);
                let style = if is_current { current_style } else { matched };
                for (row, from, to) in logical.span(start, end) {
                    if let Some(y) = row
                        .checked_sub(lines.start)
                        .and_then(|y| u16::try_from(y).ok())
                    {
                        paint(buf, area, y, from, to, style);
                    }
                }
            }
            index = logical.end();
        }
    }
    for (y, index) in lines.enumerate() {
        let Ok(y) = u16::try_from(y) else { break };
        let id = term_lines::id_of(screen, index);
        if let Some(((l0, c0), (l1, c1))) = selection {
            if (l0..=l1).contains(&id) {
                let from = if id == l0 { c0 } else { 0 };
                let to = if id == l1 {
                    c1.saturating_add(1)
                } else {
                    area.width
                };
                paint(buf, area, y, from, to, selected);
            }
        }
        if let Some(copy) = &pane.copy {
            if copy.cursor.0 == id {
                let x = copy.cursor.1;
                paint(
                    buf,
                    area,
                    y,
                    x,
                    x + 1,
                    Style::new().add_modifier(Modifier::REVERSED),
                );
            }
        }
    }
}

/// Patch `style` onto columns `[from, to)` of row `y` of `area`.
fn paint(buf: &mut Buffer, area: Rect, y: u16, from: u16, to: u16, style: Style) {
    if y >= area.height {
        return;
    }
    for x in from..to.min(area.width) {
        if let Some(cell) = buf.cell_mut((area.x + x, area.y + y)) {
            cell.set_style(style);
        }
    }
}

/// The bottom border's text: the search or copy mode's status, or where
/// the view stands while scrolled back.
fn bottom_status(
    pane: &OutputPane,
    screen: Option<&TerminalScreen>,
    follow: &str,
) -> Option<String> {
    if let Some(status) = pane.search.status() {
        if pane.search.typing {
            return Some(status);
        }
        let mut text = status;
        if let (Some(s), true) = (screen, pane.scroll > 0) {
            text.push_str(&format!("· {} ", pane.badge(s)));
        }
        return Some(text);
    }
    if pane.copy.is_some() {
        return Some(" COPY · v select · y copy · / search · Esc leave ".to_string());
    }
    match screen {
        Some(s) if pane.scroll > 0 => Some(format!(" {}{follow} ", pane.badge(s))),
        _ => None,
    }
}

impl Pane for OutputPane {
    fn draw(&self, frame: &mut Frame<'_>, area: Rect, ctx: &Ctx<'_>, _now: Now) {
        let theme = ctx.theme;
        let focused = ctx.focus == Focus::Output || self.zoomed;
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
        if self.zoomed {
            let unzoom = ctx
                .keymap
                .keys_for(Context::Global, Action::OutputZoom)
                .map(|k| format!(" · {k} back"))
                .unwrap_or_default();
            title.push(Span::styled(
                format!(" zoomed{unzoom}"),
                theme.style("text.dim"),
            ));
        }
        let mut block = pane_block(theme, title, focused);
        let follow = ctx
            .keymap
            .keys_for(Context::Global, Action::OutputBottom)
            .map(|k| format!(" · {k} follows"))
            .unwrap_or_default();
        let status = match &task.output {
            Some(output) => output.with_screen(|s| bottom_status(self, Some(s), &follow)),
            None => bottom_status(self, None, &follow),
        };
        if let Some(status) = status {
            // On the bottom border, where it fits even in a narrow pane.
            block = block.title_bottom(
                Line::from(Span::styled(status, theme.style("output.badge"))).right_aligned(),
            );
        }
        let inner = block.inner(area);
        frame.render_widget(block, area);
        match &task.output {
            Some(output) => output.with_screen(|screen| {
                let show_cursor = focused
                    && self.scroll == 0
                    && self.copy.is_none()
                    && output.process().is_some();
                // The real terminal cursor marks the agent's cursor; the
                // widget's drawn cursor would invert the same cell a second time.
                frame.render_widget(TermView::new(screen).scroll(self.scroll), inner);
                paint_marks(frame.buffer_mut(), inner, screen, self, theme);
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
    /// actions while it has the focus; searches and copies.
    fn handle(&mut self, action: Action, ctx: &Ctx<'_>) -> Handled {
        let shown = ctx.selected;
        match action {
            Action::OutputScrollUp => self.scroll_lines(1, true, shown),
            Action::OutputScrollDown => self.scroll_lines(1, false, shown),
            Action::OutputPageUp => self.scroll_lines(self.page(), true, shown),
            Action::OutputPageDown => self.scroll_lines(self.page(), false, shown),
            Action::OutputTop => self.scroll_lines(usize::MAX / 2, true, shown),
            Action::OutputBottom => self.follow(),
            Action::OutputSearch => self.search.begin(),
            Action::OutputNextMatch | Action::OutputPrevMatch => {
                if !self.search.active() {
                    return Handled::Ignored;
                }
                if let Some(t) = shown {
                    // n goes back in time (from the bottom, as `?` in less), N forward.
                    self.find_and_step(t, action == Action::OutputPrevMatch, false);
                }
            }
            Action::OutputCopyMode => {
                if !self.enter_copy(shown) {
                    return Handled::Ignored;
                }
            }
            _ => match nav_delta(action) {
                Some(delta) if ctx.focus == Focus::Output => {
                    self.scroll_lines(delta.unsigned_abs(), delta < 0, shown)
                }
                _ => return Handled::Ignored,
            },
        }
        Handled::Consumed
    }

    fn commands(&self) -> &'static [(Action, &'static str)] {
        OUTPUT_COMMANDS
    }
}

/// What the output pane offers in the status bar.
const OUTPUT_COMMANDS: &[(Action, &str)] = &[
    (Action::TaskAttach, "attach"),
    (Action::OutputZoom, "zoom"),
    (Action::OutputSearch, "search"),
    (Action::OutputCopyMode, "copy"),
];

/// The attached view: the agent's screen over the whole terminal, with one
/// line saying how to get back (and, scrolled back, where the view is).
pub fn draw_attached(
    frame: &mut Frame<'_>,
    area: Rect,
    ctx: &Ctx<'_>,
    task_id: &str,
    pane: &OutputPane,
) {
    let [body, bar] = ratatui::layout::Layout::vertical([
        ratatui::layout::Constraint::Min(1),
        ratatui::layout::Constraint::Length(1),
    ])
    .areas(area);
    let mut badge = None;
    if let Some(output) = ctx.table.task(task_id).and_then(|t| t.output.as_ref()) {
        output.with_screen(|screen| {
            frame.render_widget(TermView::new(screen).scroll(pane.scroll), body);
            if pane.scroll == 0 {
                if let Some(pos) = cursor_position(screen, body) {
                    frame.set_cursor_position(pos);
                }
            } else {
                badge = Some(pane.badge(screen));
            }
        });
    }
    let key = |action| ctx.keymap.keys_for(Context::Attached, action);
    let detach = key(Action::AttachedDetach).unwrap_or_else(|| "<C-]>".into());
    let text = match badge {
        Some(badge) => {
            let down = key(Action::AttachedScrollDown)
                .map(|k| format!(" · {k} down"))
                .unwrap_or_default();
            format!(" {task_id}: {badge}{down} · other keys: live ")
        }
        None => {
            let back = key(Action::AttachedScrollMode)
                .map(|k| format!(" · {k} history"))
                .unwrap_or_default();
            format!(" attached to {task_id} · {detach} detach{back} · keys go to the agent ")
        }
    };
    let bar_style = ctx.theme.style("status_bar");
    frame.render_widget(
        Paragraph::new(Span::styled(text, bar_style)).style(bar_style),
        bar,
    );
}
