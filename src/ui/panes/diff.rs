//! The diff view: the selected task's changes for review, over the panes.
//!
//! Two pages. The file list is `git diff --stat` with each file's status
//! (`A` `M` `D` `R` `T`); Enter opens the chosen file's unified diff,
//! coloured from the theme (`diff.file`, `diff.hunk`, `diff.added`,
//! `diff.removed`) and scrolled with the navigation keys. `/` searches the
//! page (a query in lowercase matches any case, one with a capital matches
//! exactly), `n`/`N` step through the matches, Esc clears the search, then
//! leaves the file, then closes the view.
//!
//! The diff itself is computed by a job (`ui::jobs`); the app asks for it
//! when the view opens and again, at most once a second, while the task's
//! agent works ([`DiffView::refresh_due`]). Until the first answer the view
//! says "loading…"; later answers replace the data keeping the page, the
//! file, the scroll and the search where they can.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, List, ListItem, ListState, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthChar;

use crate::git::{classify, DiffFile, LineKind, TaskDiff};
use crate::ui::keymap::{Action, Context, Keymap};
use crate::ui::panes::overlays::overlay_block;
use crate::ui::panes::tasks::nav_delta;
use crate::ui::panes::Handled;
use crate::ui::theme::Theme;

/// How often, at most, the view is recomputed while its task's agent works.
pub const REFRESH_EVERY: Duration = Duration::from_secs(1);

use crate::ui::search::{self, Edit, Matcher, Query};

/// Matches kept per search: enough for any review, bounded for a huge file.
const MAX_MATCHES: usize = 100_000;

/// Columns of a tab in the file page.
const TAB: usize = 4;

/// The commands the view offers in the status bar.
pub const COMMANDS: &[(Action, &str)] = &[
    (Action::DiffOpen, "open"),
    (Action::DiffSearch, "search"),
    (Action::DiffNextMatch, "next"),
    (Action::DiffNextFile, "file"),
    (Action::TaskPager, "pager"),
    (Action::TaskMerge, "merge"),
    (Action::DiffBack, "back"),
    (Action::AppHelp, "help"),
];

/// What the view shows of the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffData {
    Loading,
    Loaded(Arc<TaskDiff>),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Page {
    Files {
        cursor: usize,
    },
    File {
        index: usize,
        path: String,
        rows: Vec<Row>,
        scroll: usize,
    },
}

/// One line of a file's patch, ready to draw.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    kind: LineKind,
    /// Tabs expanded, control characters made visible.
    text: String,
}

/// One match: a row of the page and the bytes of it that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    row: usize,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Search {
    /// The query is being typed.
    typing: bool,
    /// The query the matches are for.
    query: Query,
    /// Why the query matches nothing it could (a regex that does not compile).
    error: Option<String>,
    hits: Vec<Hit>,
    /// Index into `hits` of the one moved to.
    current: usize,
}

/// The diff view's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffView {
    pub task: String,
    data: DiffData,
    page: Page,
    search: Search,
    /// Rows and columns of the text area at the last frame.
    size: (u16, u16),
    /// When the diff was last asked for, and the number of the request
    /// whose answer is awaited.
    asked: Option<Instant>,
    in_flight: Option<u64>,
    /// The request whose answer is shown: an older one arriving late (a
    /// view closed and opened again meanwhile) is dropped.
    shown: u64,
    /// The task changed (state, attempt) since the last request.
    stale: bool,
    /// The last refresh failed although earlier data is shown.
    error: Option<String>,
}

impl DiffView {
    pub fn new(task: String) -> DiffView {
        DiffView {
            task,
            data: DiffData::Loading,
            page: Page::Files { cursor: 0 },
            search: Search::default(),
            size: (20, 80),
            asked: None,
            in_flight: None,
            shown: 0,
            stale: false,
            error: None,
        }
    }

    pub fn data(&self) -> &DiffData {
        &self.data
    }

    /// The diff as last computed, if any.
    pub fn diff(&self) -> Option<&Arc<TaskDiff>> {
        match &self.data {
            DiffData::Loaded(diff) => Some(diff),
            _ => None,
        }
    }

    /// Whether the search query is being typed (keys go to it).
    pub fn typing(&self) -> bool {
        self.search.typing
    }

    /// The path of the file open, if one is.
    pub fn open_file(&self) -> Option<&str> {
        match &self.page {
            Page::File { path, .. } => Some(path),
            Page::Files { .. } => None,
        }
    }

    /// The first row shown of the open file (0 on the file list).
    pub fn scroll(&self) -> usize {
        match &self.page {
            Page::File { scroll, .. } => *scroll,
            Page::Files { .. } => 0,
        }
    }

    /// The index of the file under the cursor in the file list.
    pub fn cursor(&self) -> usize {
        match &self.page {
            Page::Files { cursor } => *cursor,
            Page::File { index, .. } => *index,
        }
    }

    /// How many matches the search has, and the one moved to (1-based).
    pub fn matches(&self) -> (usize, usize) {
        (
            self.search.hits.len(),
            if self.search.hits.is_empty() {
                0
            } else {
                self.search.current + 1
            },
        )
    }

    pub fn set_size(&mut self, size: (u16, u16)) {
        self.size = size;
        self.clamp_scroll();
    }

    // ---- refreshing ----------------------------------------------------------

    /// The task's row changed: the next refresh is due whatever the agent did.
    pub fn mark_stale(&mut self) {
        self.stale = true;
    }

    /// Whether to ask for the diff again at `now`: first when it was never
    /// asked for; then, with no request on its way and at least
    /// [`REFRESH_EVERY`] after the last, if the task changed or its agent
    /// was heard from (output or a file change, `last_heard`) since.
    pub fn refresh_due(&self, now: Instant, last_heard: Option<Instant>) -> bool {
        if self.asked.is_none() {
            return self.in_flight.is_none();
        }
        self.next_refresh(last_heard).is_some_and(|at| now >= at)
    }

    /// When the next refresh falls due, if something changed since the
    /// last request (and none is on its way): the loop sleeps until then.
    pub fn next_refresh(&self, last_heard: Option<Instant>) -> Option<Instant> {
        if self.in_flight.is_some() {
            return None;
        }
        let asked = self.asked?;
        (self.stale || last_heard.is_some_and(|heard| heard > asked)).then(|| asked + REFRESH_EVERY)
    }

    /// Request `seq` was sent at `now`.
    pub fn asked(&mut self, seq: u64, now: Instant) {
        self.asked = Some(now);
        self.in_flight = Some(seq);
        self.stale = false;
    }

    /// An answer came back for request `seq`. The page, the open file, the
    /// scroll and the search are kept where the new diff allows; an error
    /// after good data keeps the data and says so.
    pub fn on_result(&mut self, seq: u64, result: Result<Arc<TaskDiff>, String>) {
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
        if seq < self.shown {
            return;
        }
        self.shown = seq;
        let diff = match result {
            Ok(diff) => diff,
            Err(err) => {
                match self.data {
                    DiffData::Loaded(_) => self.error = Some(err),
                    _ => self.data = DiffData::Failed(err),
                }
                return;
            }
        };
        self.error = None;
        let keep = match &self.page {
            Page::Files { cursor } => self.diff().and_then(|d| d.files.get(*cursor)),
            Page::File { .. } => None,
        }
        .map(|f| f.path.clone());
        self.data = DiffData::Loaded(diff.clone());
        match std::mem::replace(&mut self.page, Page::Files { cursor: 0 }) {
            Page::Files { cursor } => {
                let cursor = keep
                    .and_then(|path| diff.files.iter().position(|f| f.path == path))
                    .unwrap_or(cursor);
                self.page = Page::Files {
                    cursor: cursor.min(diff.files.len().saturating_sub(1)),
                };
            }
            Page::File {
                index,
                path,
                scroll,
                ..
            } => match diff.files.iter().position(|f| f.path == path) {
                Some(at) => {
                    self.page = Page::File {
                        index: at,
                        rows: rows_of(&diff.files[at]),
                        path,
                        scroll,
                    };
                }
                None => {
                    self.page = Page::Files {
                        cursor: index.min(diff.files.len().saturating_sub(1)),
                    };
                }
            },
        }
        self.clamp_scroll();
        self.rerun_search();
    }

    // ---- keys ----------------------------------------------------------------

    /// A key while the query is typed. Returns false if the view is not
    /// taking keys for the query.
    pub fn on_search_key(&mut self, key: &KeyEvent) -> bool {
        if !self.search.typing {
            return false;
        }
        match search::edit(&mut self.search.query, key) {
            Edit::Cancelled => {
                self.search = Search::default();
                return true;
            }
            Edit::Done => {
                self.search.typing = false;
                return true;
            }
            Edit::Unchanged => return true,
            Edit::Changed => {}
        }
        self.search.current = 0;
        self.find();
        // Incremental: the first match at or after what is on screen.
        let from = match &self.page {
            Page::File { scroll, .. } => *scroll,
            Page::Files { cursor } => *cursor,
        };
        if let Some(i) = self.search.hits.iter().position(|h| h.row >= from) {
            self.search.current = i;
        }
        self.show_current();
        true
    }

    /// A keymap action. Those the view has no use for are ignored (the app
    /// handles quitting, help and the task actions).
    pub fn handle(&mut self, action: Action) -> Handled {
        let page_rows = usize::from(self.size.0.max(2)) - 1;
        let delta = match action {
            Action::OutputScrollUp => Some(-1),
            Action::OutputScrollDown => Some(1),
            Action::OutputPageUp => Some(-(page_rows as isize)),
            Action::OutputPageDown => Some(page_rows as isize),
            Action::OutputTop => Some(isize::MIN / 2),
            Action::OutputBottom => Some(isize::MAX / 2),
            Action::NavPageUp => Some(-(page_rows as isize)),
            Action::NavPageDown => Some(page_rows as isize),
            _ => nav_delta(action),
        };
        if let Some(delta) = delta {
            self.move_by(delta);
            return Handled::Consumed;
        }
        match action {
            Action::DiffOpen => self.open_selected(),
            Action::DiffSearch => {
                self.search = Search {
                    typing: true,
                    ..Search::default()
                };
            }
            Action::DiffNextMatch => self.step_match(true),
            Action::DiffPrevMatch => self.step_match(false),
            Action::DiffNextFile => self.step_file(true),
            Action::DiffPrevFile => self.step_file(false),
            Action::DiffNextHunk => self.step_hunk(true),
            Action::DiffPrevHunk => self.step_hunk(false),
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    /// Esc: clear the search, else leave the file, else nothing to go back
    /// to (returns false: the view closes).
    pub fn back(&mut self) -> bool {
        if !self.search.query.is_empty() || self.search.typing {
            self.search = Search::default();
            return true;
        }
        if let Page::File { index, .. } = self.page {
            self.page = Page::Files { cursor: index };
            return true;
        }
        false
    }

    fn files_len(&self) -> usize {
        self.diff().map_or(0, |d| d.files.len())
    }

    fn move_by(&mut self, delta: isize) {
        let height = usize::from(self.size.0.max(1));
        let last = self.files_len().saturating_sub(1);
        match &mut self.page {
            Page::Files { cursor } => {
                *cursor = (*cursor as isize)
                    .saturating_add(delta)
                    .clamp(0, last as isize) as usize;
            }
            Page::File { rows, scroll, .. } => {
                let max = rows.len().saturating_sub(height);
                *scroll = (*scroll as isize)
                    .saturating_add(delta)
                    .clamp(0, max as isize) as usize;
            }
        }
    }

    fn open_selected(&mut self) {
        if let Page::Files { cursor } = self.page {
            self.open(cursor);
        }
    }

    fn open(&mut self, index: usize) {
        let Some(file) = self.diff().and_then(|d| d.files.get(index)) else {
            return;
        };
        self.page = Page::File {
            index,
            path: file.path.clone(),
            rows: rows_of(file),
            scroll: 0,
        };
        self.search = Search::default();
    }

    fn step_file(&mut self, forward: bool) {
        let n = self.files_len();
        match self.page {
            Page::Files { .. } => self.move_by(if forward { 1 } else { -1 }),
            Page::File { index, .. } => {
                let next = if forward {
                    index + 1
                } else {
                    index.wrapping_sub(1)
                };
                if next < n {
                    self.open(next);
                }
            }
        }
    }

    /// To the next (or previous) hunk header of the open file, shown at the
    /// top of the view.
    fn step_hunk(&mut self, forward: bool) {
        let Page::File { rows, scroll, .. } = &mut self.page else {
            return;
        };
        let is_hunk = |r: &Row| r.kind == LineKind::Hunk;
        let found = if forward {
            rows.iter()
                .enumerate()
                .skip(*scroll + 1)
                .find(|(_, r)| is_hunk(r))
                .map(|(i, _)| i)
        } else {
            rows[..(*scroll).min(rows.len())].iter().rposition(is_hunk)
        };
        if let Some(i) = found {
            *scroll = i;
        }
        self.clamp_scroll();
    }

    fn step_match(&mut self, forward: bool) {
        let n = self.search.hits.len();
        if n == 0 {
            return;
        }
        self.search.current = if forward {
            (self.search.current + 1) % n
        } else {
            (self.search.current + n - 1) % n
        };
        self.show_current();
    }

    /// Bring the current match into view: the file list's cursor on it, or
    /// the file scrolled so it stands a third of the way down.
    fn show_current(&mut self) {
        let Some(hit) = self.search.hits.get(self.search.current).copied() else {
            return;
        };
        let height = usize::from(self.size.0.max(1));
        match &mut self.page {
            Page::Files { cursor } => *cursor = hit.row,
            Page::File { scroll, .. } => {
                if hit.row < *scroll || hit.row >= *scroll + height {
                    *scroll = hit.row.saturating_sub(height / 3);
                }
            }
        }
        self.clamp_scroll();
    }

    fn clamp_scroll(&mut self) {
        let height = usize::from(self.size.0.max(1));
        if let Page::File { rows, scroll, .. } = &mut self.page {
            *scroll = (*scroll).min(rows.len().saturating_sub(height));
        }
    }

    fn rerun_search(&mut self) {
        if self.search.query.is_empty() {
            return;
        }
        let current = self.search.current;
        self.find();
        self.search.current = current.min(self.search.hits.len().saturating_sub(1));
    }

    /// Find the query in the page's rows.
    fn find(&mut self) {
        let mut hits = Vec::new();
        self.search.error = None;
        let matcher = match Matcher::new(&self.search.query) {
            Ok(m) => m,
            Err(why) => {
                self.search.error = Some(why);
                None
            }
        };
        if let Some(matcher) = matcher {
            let texts: Vec<String> = match &self.page {
                Page::Files { .. } => self
                    .diff()
                    .map(|d| d.files.iter().map(DiffFile::display_name).collect())
                    .unwrap_or_default(),
                Page::File { rows, .. } => rows.iter().map(|r| r.text.clone()).collect(),
            };
            'rows: for (row, text) in texts.iter().enumerate() {
                for (start, end) in matcher.find_all(text) {
                    hits.push(Hit { row, start, end });
                    if hits.len() >= MAX_MATCHES {
                        break 'rows;
                    }
                }
            }
        }
        self.search.hits = hits;
    }
}

/// A file's patch as rows to draw.
fn rows_of(file: &DiffFile) -> Vec<Row> {
    classify(&file.patch)
        .map(|(kind, line)| Row {
            kind,
            text: visible(line),
        })
        .collect()
}

/// `line` as it can be drawn: tabs expanded to the next stop, a CR at the
/// end (CRLF files) dropped, other control characters shown as `·`.
fn visible(line: &str) -> String {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut out = String::with_capacity(line.len());
    let mut column = 0;
    for c in line.chars() {
        match c {
            '\t' => {
                let n = TAB - column % TAB;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            c if c.is_control() => {
                out.push('·');
                column += 1;
            }
            c => {
                out.push(c);
                column += c.width().unwrap_or(0);
            }
        }
    }
    out
}

// ---- drawing -------------------------------------------------------------------

/// The rectangle of the view's text (inside the border, below the header
/// line), for `area` the view covers. `prepare_frame` sizes the view with it.
pub fn text_area(area: Rect) -> Rect {
    let inner = ratatui::widgets::Block::bordered().inner(area);
    Rect {
        y: inner.y + 1.min(inner.height),
        height: inner.height.saturating_sub(1),
        ..inner
    }
}

/// What the view draws from besides its own state.
pub struct DrawCtx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    /// The base branch the diff is against, when known.
    pub base: Option<&'a str>,
}

pub fn draw(frame: &mut Frame<'_>, area: Rect, view: &DiffView, ctx: &DrawCtx<'_>) {
    if area.width < 3 || area.height < 3 {
        return;
    }
    let theme = ctx.theme;
    frame.render_widget(Clear, area);
    let mut title = format!("Diff: {}", view.task);
    if let Some(base) = ctx.base {
        title.push_str(&format!(" against {base}"));
    }
    if let Some(diff) = view.diff() {
        title.push_str(&format!(
            " · {} file{} +{} -{}",
            diff.files.len(),
            if diff.files.len() == 1 { "" } else { "s" },
            diff.added(),
            diff.removed()
        ));
    }
    let mut block = overlay_block(theme, &title);
    if let Some(bottom) = bottom_line(view, ctx) {
        block = block.title_bottom(bottom);
    }
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let header = Rect {
        height: 1.min(inner.height),
        ..inner
    };
    let body = text_area(area);
    let dim = theme.style("text.dim");
    let diff = match &view.data {
        DiffData::Loading => {
            frame.render_widget(Paragraph::new(Span::styled("loading…", dim)), header);
            return;
        }
        DiffData::Failed(err) => {
            frame.render_widget(
                Paragraph::new(Span::styled(err.clone(), theme.style("text.error")))
                    .wrap(ratatui::widgets::Wrap { trim: false }),
                inner,
            );
            return;
        }
        DiffData::Loaded(diff) => diff,
    };
    if diff.files.is_empty() {
        let against = ctx
            .base
            .map(|b| format!(" against {b}"))
            .unwrap_or_default();
        frame.render_widget(
            Paragraph::new(Span::styled(format!("no changes{against} yet"), dim)),
            header,
        );
        return;
    }
    match &view.page {
        Page::Files { cursor } => {
            let summary = format!(" {}", diff.summary());
            let mut spans = vec![Span::styled(summary, dim)];
            if let Some(err) = &view.error {
                spans.push(Span::styled(
                    format!("  (not updated: {err})"),
                    theme.style("text.error"),
                ));
            }
            frame.render_widget(Paragraph::new(Line::from(spans)), header);
            draw_files(frame, body, view, diff, *cursor, theme);
        }
        Page::File {
            index,
            rows,
            scroll,
            ..
        } => {
            let file = &diff.files[*index];
            let mut spans = vec![
                status_span(file.status, theme),
                Span::styled(
                    format!(" {}", file.display_name()),
                    theme.style("diff.file"),
                ),
            ];
            if file.binary {
                spans.push(Span::styled("  binary", dim));
            } else {
                spans.push(Span::styled(
                    format!("  +{}", file.added),
                    theme.style("diff.added"),
                ));
                spans.push(Span::styled(
                    format!(" -{}", file.removed),
                    theme.style("diff.removed"),
                ));
            }
            spans.push(Span::styled(
                format!("  file {} of {}", index + 1, diff.files.len()),
                dim,
            ));
            frame.render_widget(Paragraph::new(Line::from(spans)), header);
            draw_patch(frame, body, view, rows, *scroll, theme);
        }
    }
}

fn status_span(status: char, theme: &Theme) -> Span<'static> {
    let scope = match status {
        'A' => "diff.added",
        'D' => "diff.removed",
        'R' | 'T' => "diff.hunk",
        _ => "diff.file",
    };
    Span::styled(format!(" {status}"), theme.style(scope))
}

fn draw_files(
    frame: &mut Frame<'_>,
    area: Rect,
    view: &DiffView,
    diff: &TaskDiff,
    cursor: usize,
    theme: &Theme,
) {
    // " M" before each `--stat` line.
    let width = usize::from(area.width).saturating_sub(3);
    let hits = &view.search.hits;
    let current = hits.get(view.search.current).map(|h| h.row);
    let items: Vec<ListItem<'_>> = diff
        .stat_lines(width)
        .into_iter()
        .zip(&diff.files)
        .enumerate()
        .map(|(i, (line, file))| {
            let name_style = if current == Some(i) {
                theme.style("diff.match.current")
            } else if hits.iter().any(|h| h.row == i) {
                theme.style("diff.match")
            } else {
                theme.style("text")
            };
            let mut spans = vec![
                status_span(file.status, theme),
                Span::styled(format!(" {}", line.name), name_style),
                Span::styled(format!(" | {}", line.count), theme.style("text")),
            ];
            if let Some(bytes) = line.bytes {
                spans.push(Span::styled(format!(" {bytes}"), theme.style("text.dim")));
            } else if line.plus + line.minus > 0 {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(
                    "+".repeat(line.plus),
                    theme.style("diff.added"),
                ));
                spans.push(Span::styled(
                    "-".repeat(line.minus),
                    theme.style("diff.removed"),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default().with_selected(Some(cursor));
    frame.render_stateful_widget(
        List::new(items).highlight_style(theme.style("selection")),
        area,
        &mut state,
    );
}

fn draw_patch(
    frame: &mut Frame<'_>,
    area: Rect,
    view: &DiffView,
    rows: &[Row],
    scroll: usize,
    theme: &Theme,
) {
    let height = usize::from(area.height);
    let hits = &view.search.hits;
    let current = hits.get(view.search.current).copied();
    // The first hit at or after the first row shown.
    let mut next_hit = hits.partition_point(|h| h.row < scroll);
    let lines: Vec<Line<'_>> = rows
        .iter()
        .enumerate()
        .skip(scroll)
        .take(height)
        .map(|(i, row)| {
            let base = match row.kind {
                LineKind::FileHeader => theme.style("diff.file"),
                LineKind::Hunk => theme.style("diff.hunk"),
                LineKind::Added => theme.style("diff.added"),
                LineKind::Removed => theme.style("diff.removed"),
                LineKind::Context => theme.style("text"),
                LineKind::NoNewline => theme.style("text.dim"),
            };
            let mut spans = Vec::new();
            let mut at = 0;
            while let Some(hit) = hits.get(next_hit).filter(|h| h.row == i) {
                let style = if Some(*hit) == current {
                    theme.style("diff.match.current")
                } else {
                    theme.style("diff.match")
                };
                spans.push(Span::styled(&row.text[at..hit.start], base));
                spans.push(Span::styled(
                    &row.text[hit.start..hit.end],
                    base.patch(style),
                ));
                at = hit.end;
                next_hit += 1;
            }
            spans.push(Span::styled(&row.text[at..], base));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// The bottom border: the query being typed, or the search's matches, or
/// where the file view stands; then the keys that matter.
fn bottom_line<'a>(view: &DiffView, ctx: &DrawCtx<'_>) -> Option<Line<'a>> {
    let theme = ctx.theme;
    let badge = theme.style("output.badge");
    let key = |action: Action| ctx.keymap.keys_for(Context::Diff, action);
    let mut spans: Vec<Span<'a>> = Vec::new();
    let search = &view.search;
    if search.typing {
        let count = if search.query.is_empty() {
            String::new()
        } else if let Some(why) = &search.error {
            format!("  {why}")
        } else if search.hits.is_empty() {
            "  no match".into()
        } else {
            format!("  {}/{}", search.current + 1, search.hits.len())
        };
        spans.push(Span::styled(
            format!(" {}█{count} ", search.query.prompt()),
            theme.style("dialog.input"),
        ));
    } else if !search.query.is_empty() {
        let text = if search.hits.is_empty() {
            format!(" no match for {} ", search.query.label())
        } else {
            let more = if search.hits.len() >= MAX_MATCHES {
                "+"
            } else {
                ""
            };
            let step = match (key(Action::DiffNextMatch), key(Action::DiffPrevMatch)) {
                (Some(n), Some(p)) => format!(" · {n}/{p} next/previous"),
                _ => String::new(),
            };
            format!(
                " match {} of {}{more} for {}{step} ",
                search.current + 1,
                search.hits.len(),
                search.query.label()
            )
        };
        spans.push(Span::styled(text, badge));
    }
    if let (Page::File { rows, scroll, .. }, false) = (&view.page, view.typing()) {
        let height = usize::from(view.size.0.max(1));
        let last = (scroll + height).min(rows.len());
        spans.push(Span::styled(
            format!(
                " lines {}-{last} of {} ",
                (scroll + 1).min(last),
                rows.len()
            ),
            theme.style("text.dim"),
        ));
    }
    if spans.is_empty() {
        return None;
    }
    Some(Line::from(spans).right_aligned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_is_due_a_second_after_the_last_once_the_agent_was_heard_since() {
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        let mut view = DiffView::new("api".into());
        assert!(view.refresh_due(t, None), "never asked");
        view.asked(1, t);
        assert!(!view.refresh_due(ms(5_000), Some(ms(10))), "on its way");
        view.on_result(1, Ok(Arc::new(TaskDiff::default())));
        // Heard before the request: nothing new.
        assert!(!view.refresh_due(ms(5_000), Some(t - Duration::from_millis(1))));
        // Heard after it: due, but not within the second.
        assert!(!view.refresh_due(ms(900), Some(ms(500))));
        assert!(view.refresh_due(ms(1_000), Some(ms(500))));
    }

    #[test]
    fn an_answer_older_than_the_one_shown_is_dropped() {
        let t = Instant::now();
        let mut view = DiffView::new("api".into());
        let one = |path: &str| {
            Arc::new(TaskDiff {
                files: vec![DiffFile {
                    path: path.into(),
                    old_path: None,
                    status: 'A',
                    added: 1,
                    removed: 0,
                    binary: false,
                    old_bytes: 0,
                    new_bytes: 2,
                    patch: format!("diff --git a/{path} b/{path}\n"),
                }],
            })
        };
        view.asked(2, t);
        view.on_result(2, Ok(one("new.txt")));
        view.on_result(1, Ok(one("old.txt")));
        assert_eq!(
            view.diff().map(|d| d.files[0].path.as_str()),
            Some("new.txt")
        );
    }

    #[test]
    fn lines_are_made_drawable() {
        assert_eq!(visible("+\tx"), "+   x");
        assert_eq!(visible("\t\ty"), "        y");
        assert_eq!(visible(" crlf\r"), " crlf");
        assert_eq!(visible("a\u{1b}[31mb"), "a·[31mb");
    }
}
