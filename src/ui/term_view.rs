//! Drawing an agent's terminal into a ratatui buffer.
//!
//! [`TermView`] draws a window over the agent's lines: its
//! [`History`](crate::agent::history::History) (rows that scrolled off the
//! top, oldest first) followed by the rows of the live vt100 screen. Following the live screen (`scroll == 0`) the window ends at
//! the screen's last row; scrolled back by `N` it ends `N` lines earlier.
//!
//! # Fitting the screen into the area
//!
//! * Shorter area: the window shows the *bottom* of the screen, where agents
//!   print. Blank rows below both the cursor and the last non-blank row are
//!   left out first, so a screen whose output is still near its top (a fresh
//!   shell) is not shown as a blank bottom.
//! * Taller area: history fills the rows above the screen; with too little
//!   history everything is drawn from the top and the rest is blank.
//! * Narrower area: left-aligned, cut on the right (a wide character that
//!   does not fit becomes a blank). Wider area: the columns right of the
//!   screen are cleared.
//!
//! # Cells
//!
//! Each vt100 cell becomes one buffer cell: its contents (a grapheme,
//! possibly several code points), colours (`Default` → `Reset`, indexes 0-15
//! → ratatui's named ANSI colours, others `Indexed`, RGB → `Rgb`), bold, dim,
//! italic, underline and inverse (→ `REVERSED`). A wide character is set on
//! its first cell; the cell it covers is a blank of the same style, which
//! ratatui's diff skips (as for wide characters it draws itself).
//!
//! History lines are text plus column-based [`StyleRun`]s. They are cut back
//! into cells with vt100's own width tables (the same ones the screen used
//! when the row was captured), so the runs line up with the text.
//!
//! # Cost
//!
//! Every cell is written in place in the buffer's row slice, with no
//! allocation (a vt100 cell holds at most 22 bytes and ratatui keeps symbols
//! of up to 24 bytes inline; the one exception is the rare history cell
//! described at `narrow`) and no grapheme segmentation. A 200x50 frame takes
//! about 0.3 ms in a release build, two thirds of it vt100's own per-cell
//! lookup (`vt100::Screen::cell`, ~20 ns); `benches/render.rs` measures
//! whole frames.
//!
//! # Deferred parsing
//!
//! [`TerminalScreen::process_deferred`] may leave plain-text work pending;
//! the screen and history then show a consistent, slightly older snapshot.
//! Call [`TerminalScreen::sync`] before drawing to show everything (the
//! agent's reader already syncs when output pauses).

use std::borrow::Cow;

use ratatui::buffer::{Buffer, Cell};
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::widgets::Widget;

use crate::agent::history::{HistoryLine, StyleRun};
use crate::agent::screen::TerminalScreen;

/// A widget drawing an agent's terminal: history (scrolled back) above the
/// live screen.
#[derive(Debug, Clone, Copy)]
pub struct TermView<'a> {
    screen: &'a TerminalScreen,
    scroll: usize,
    show_cursor: bool,
    dim: bool,
}

impl<'a> TermView<'a> {
    /// A view following the live screen, no cursor drawn, not dimmed.
    pub fn new(screen: &'a TerminalScreen) -> Self {
        Self {
            screen,
            scroll: 0,
            show_cursor: false,
            dim: false,
        }
    }

    /// How many lines back to show: 0 follows the live screen, `N` shows the
    /// window `N` lines earlier. Clamped when drawing to the first line held
    /// (see [`max_scroll_for`]).
    pub fn scroll(self, lines_back: usize) -> Self {
        Self {
            scroll: lines_back,
            ..self
        }
    }

    /// Draw the agent's cursor as a reversed cell. It is drawn only when this
    /// is set *and* the view follows the live screen (scroll 0) *and* the
    /// program has not hidden its cursor; pass whether the view is focused.
    ///
    /// This is a software cursor; to use the real terminal cursor instead,
    /// leave this off and call `frame.set_cursor_position` with
    /// [`cursor_position`] (using both would invert the cell twice).
    pub fn show_cursor(self, yes: bool) -> Self {
        Self {
            show_cursor: yes,
            ..self
        }
    }

    /// Draw everything dimmed (for example a view without focus).
    pub fn dim(self, yes: bool) -> Self {
        Self { dim: yes, ..self }
    }
}

impl Widget for TermView<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let area = area.intersection(buf.area);
        if area.is_empty() {
            return;
        }
        let screen = self.screen;
        let vt = screen.screen();
        let history = screen.history();
        let win = Window::new(screen, area.height, self.scroll);
        let extra = if self.dim {
            Modifier::DIM
        } else {
            Modifier::empty()
        };
        for (i, y) in (area.top()..area.bottom()).enumerate() {
            let Some(row) = row_slice(buf, area, y) else {
                continue;
            };
            let line = win.start + i;
            if line >= win.stop {
                row.iter_mut().for_each(Cell::reset);
            } else if line < win.hist {
                match history.get(line) {
                    Some(h) => draw_history_line(row, h, extra),
                    None => row.iter_mut().for_each(Cell::reset),
                }
            } else {
                // Screen rows fit in u16 (the screen has at most u16 rows).
                let r = u16::try_from(line - win.hist).unwrap_or(u16::MAX);
                draw_screen_row(row, vt, r, extra);
            }
        }
        if self.show_cursor && win.back == 0 {
            if let Some(pos) = cursor_in(screen, &win, area) {
                if let Some(cell) = buf.cell_mut(pos) {
                    cell.modifier.toggle(Modifier::REVERSED);
                }
            }
        }
    }
}

/// Where to put the real cursor for a view of `screen` drawn in `area` and
/// following the live screen (scroll 0), or `None` when the program hid its
/// cursor or the cursor is outside the area (left out of a shorter area, or
/// right of a narrower one).
pub fn cursor_position(screen: &TerminalScreen, area: Rect) -> Option<(u16, u16)> {
    if area.is_empty() {
        return None;
    }
    let win = Window::new(screen, area.height, 0);
    cursor_in(screen, &win, area)
}

/// History lines available to scroll back through. This is exactly how far
/// a view as tall as the screen can scroll; [`max_scroll_for`] gives it for
/// any height.
pub fn max_scroll(screen: &TerminalScreen) -> usize {
    screen.history().len()
}

/// The largest useful scroll for a view `height` rows tall: the value at
/// which the view's top row is the oldest line held. It equals
/// [`max_scroll`] when `height` is the screen's height; a shorter view can
/// go a few lines further (the top of the screen), a taller one less far.
pub fn max_scroll_for(screen: &TerminalScreen, height: u16) -> usize {
    Window::new(screen, height, usize::MAX).max_back
}

/// The lines a view `height` rows tall scrolled back by `scroll` shows, as
/// line indexes (history, then the screen's rows; see `ui::term_lines`):
/// the first is drawn on the top row.
pub fn shown_lines(screen: &TerminalScreen, height: u16, scroll: usize) -> std::ops::Range<usize> {
    let win = Window::new(screen, height, scroll);
    win.start..win.stop
}

/// The scroll that brings line `index` into a view `height` rows tall,
/// about a third from its top (the view does not move when the line is
/// already in it at `scroll`).
pub fn scroll_to_show(screen: &TerminalScreen, height: u16, scroll: usize, index: usize) -> usize {
    let win = Window::new(screen, height, scroll);
    if (win.start..win.stop).contains(&index) {
        return win.back;
    }
    let total = win.stop + win.back;
    let stop = (index + usize::from(height) * 2 / 3 + 1).min(total);
    total.saturating_sub(stop).min(win.max_back)
}

/// The lines a view shows, as indexes into history followed by the screen's
/// rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    /// History lines (screen row `r` is line `hist + r`).
    hist: usize,
    /// First line shown, drawn on the area's top row.
    start: usize,
    /// One past the last line shown.
    stop: usize,
    /// How far back the window is, after clamping.
    back: usize,
    /// The clamp.
    max_back: usize,
}

impl Window {
    fn new(screen: &TerminalScreen, height: u16, scroll: usize) -> Self {
        let vt = screen.screen();
        let (rows, cols) = vt.size();
        let (rows, cols) = (rows.get(), cols.get());
        // Screen rows taking part: all of them, unless the area is shorter
        // and the bottom of the screen is blank below the cursor.
        let end = if height >= rows {
            rows
        } else {
            used_rows(vt, rows, cols).clamp(height, rows)
        };
        let hist = screen.history().len();
        let total = hist + usize::from(end);
        let h = usize::from(height);
        let max_back = total.saturating_sub(h);
        let back = scroll.min(max_back);
        let stop = total - back;
        Self {
            hist,
            start: stop.saturating_sub(h),
            stop,
            back,
            max_back,
        }
    }
}

/// Rows down to the cursor or the last row with something visible,
/// whichever is lower.
fn used_rows(vt: &vt100::Screen, rows: u16, cols: u16) -> u16 {
    let (cursor_row, _) = vt.cursor_position();
    let floor = cursor_row.saturating_add(1).min(rows);
    (floor..rows)
        .rev()
        .find(|&r| {
            (0..cols).any(|c| {
                vt.cell(r, c).is_some_and(|cell| {
                    cell.has_contents() || cell.bgcolor() != vt100::Color::Default || cell.inverse()
                })
            })
        })
        .map_or(floor, |r| r + 1)
}

/// The buffer position of the screen's cursor, if shown and inside `area`.
fn cursor_in(screen: &TerminalScreen, win: &Window, area: Rect) -> Option<(u16, u16)> {
    let vt = screen.screen();
    if vt.hide_cursor() {
        return None;
    }
    let (row, col) = vt.cursor_position();
    let (_, cols) = vt.size();
    // After writing the last column the cursor may wait past it.
    let col = col.min(cols.get() - 1);
    let line = win.hist + usize::from(row);
    if line < win.start || line >= win.stop {
        return None;
    }
    let y = u16::try_from(line - win.start).ok()?;
    if col >= area.width || y >= area.height {
        return None;
    }
    Some((area.x + col, area.y + y))
}

/// The cells of buffer row `y` inside `area` (which lies inside the buffer).
fn row_slice(buf: &mut Buffer, area: Rect, y: u16) -> Option<&mut [Cell]> {
    let b = buf.area;
    let dy = usize::from(y.checked_sub(b.y)?);
    let dx = usize::from(area.x.checked_sub(b.x)?);
    let start = dy * usize::from(b.width) + dx;
    buf.content.get_mut(start..start + usize::from(area.width))
}

/// Colours and attributes of one cell, in ratatui's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pen {
    fg: Color,
    bg: Color,
    modifier: Modifier,
}

impl Pen {
    fn plain(extra: Modifier) -> Self {
        Self {
            fg: Color::Reset,
            bg: Color::Reset,
            modifier: extra,
        }
    }

    fn of_cell(cell: &vt100::Cell, extra: Modifier) -> Self {
        let mut modifier = extra;
        modifier.set(Modifier::BOLD, cell.bold());
        modifier.set(Modifier::DIM, cell.dim() || extra.contains(Modifier::DIM));
        modifier.set(Modifier::ITALIC, cell.italic());
        modifier.set(Modifier::UNDERLINED, cell.underline());
        modifier.set(Modifier::REVERSED, cell.inverse());
        Self {
            fg: color(cell.fgcolor()),
            bg: color(cell.bgcolor()),
            modifier,
        }
    }

    fn of_run(run: &StyleRun, extra: Modifier) -> Self {
        let mut modifier = extra;
        modifier.set(Modifier::BOLD, run.bold);
        modifier.set(Modifier::DIM, run.dim || extra.contains(Modifier::DIM));
        modifier.set(Modifier::ITALIC, run.italic);
        modifier.set(Modifier::UNDERLINED, run.underline);
        modifier.set(Modifier::REVERSED, run.inverse);
        Self {
            fg: color(run.fg),
            bg: color(run.bg),
            modifier,
        }
    }
}

/// The 16 ANSI colours by index, as ratatui names them (SGR 30-37, 90-97).
const ANSI: [Color; 16] = [
    Color::Black,
    Color::Red,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::Cyan,
    Color::Gray,
    Color::DarkGray,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::White,
];

fn color(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => ANSI
            .get(usize::from(i))
            .copied()
            .unwrap_or(Color::Indexed(i)),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

/// Set `cell` to `symbol` (empty: blank) drawn with `pen`.
#[inline]
fn put(cell: &mut Cell, symbol: &str, pen: Pen) {
    cell.reset();
    if !symbol.is_empty() && symbol != " " {
        cell.set_symbol(symbol);
    }
    cell.fg = pen.fg;
    cell.bg = pen.bg;
    cell.modifier = pen.modifier;
}

/// Draw one row of the live screen into `row` (the area's cells on one
/// buffer row).
fn draw_screen_row(row: &mut [Cell], vt: &vt100::Screen, r: u16, extra: Modifier) {
    let (_, cols) = vt.size();
    let width = row.len().min(usize::from(cols.get()));
    let mut x = 0;
    while x < width {
        // x < cols <= u16::MAX.
        let Some(cell) = vt.cell(r, x as u16) else {
            break;
        };
        let pen = Pen::of_cell(cell, extra);
        if cell.is_wide() {
            if x + 1 < width {
                put(&mut row[x], cell.contents(), pen);
                put(&mut row[x + 1], "", pen);
                x += 2;
            } else {
                // Only its left half would fit.
                put(&mut row[x], "", pen);
                x += 1;
            }
        } else if cell.is_wide_continuation() {
            // Not reached through a wide cell (cannot happen on a consistent
            // grid, but never draw half a character).
            put(&mut row[x], "", pen);
            x += 1;
        } else {
            put(&mut row[x], cell.contents(), pen);
            x += 1;
        }
    }
    row[x..].iter_mut().for_each(Cell::reset);
}

/// Draw a history line into `row`.
fn draw_history_line(row: &mut [Cell], line: &HistoryLine, extra: Modifier) {
    let runs = line.runs();
    let width = row.len();
    let mut run = 0;
    let mut col = 0;
    for (symbol, w) in HistoryCells::new(line.text()) {
        if col >= width {
            break;
        }
        while runs
            .get(run)
            .is_some_and(|r| usize::from(r.start) + usize::from(r.len) <= col)
        {
            run += 1;
        }
        let pen = match runs.get(run) {
            Some(r) if usize::from(r.start) <= col => Pen::of_run(r, extra),
            _ => Pen::plain(extra),
        };
        if w == 2 {
            if col + 1 < width {
                put(&mut row[col], symbol, pen);
                put(&mut row[col + 1], "", pen);
            } else {
                put(&mut row[col], "", pen);
            }
            col += 2;
        } else {
            put(&mut row[col], &narrow(symbol), pen);
            col += 1;
        }
    }
    if col < width {
        row[col..].iter_mut().for_each(Cell::reset);
    }
}

/// A one-column cell's symbol as ratatui should measure it: one column.
///
/// The one case that differs: a narrow character made an emoji by VS16
/// (U+FE0F, as in "❤️") is two columns to ratatui, but history captures such
/// cells as one column (see `cell_width` in `agent::screen`); without the
/// selector the character keeps its one-column text presentation.
fn narrow(symbol: &str) -> Cow<'_, str> {
    if symbol.len() > 1 && symbol.contains('\u{FE0F}') {
        Cow::Owned(symbol.chars().filter(|&c| c != '\u{FE0F}').collect())
    } else {
        Cow::Borrowed(symbol)
    }
}

/// The cells of a history line's text as the screen had them: (symbol,
/// columns), a zero-width character joined to the cell before it.
pub(crate) fn history_cells(text: &str) -> impl Iterator<Item = (&str, u16)> {
    HistoryCells::new(text)
}

/// The cells of a history line's text: each starts at a character that
/// advances the cursor and takes the zero-width characters after it, as
/// vt100 builds cells. Yields (symbol, columns).
struct HistoryCells<'a> {
    rest: &'a str,
    /// Width of the first character of `rest`, when already measured.
    next_width: Option<u16>,
}

impl<'a> HistoryCells<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            rest: text,
            next_width: None,
        }
    }
}

impl<'a> Iterator for HistoryCells<'a> {
    type Item = (&'a str, u16);

    fn next(&mut self) -> Option<Self::Item> {
        let mut chars = self.rest.char_indices();
        let (_, first) = chars.next()?;
        let width = match self.next_width.take() {
            Some(w) => w,
            None => char_width(first),
        };
        let mut end = self.rest.len();
        for (i, c) in chars {
            let w = char_width(c);
            if w > 0 {
                end = i;
                self.next_width = Some(w);
                break;
            }
        }
        let (symbol, rest) = self.rest.split_at(end);
        self.rest = rest;
        // Lines vt100 captured hold neither controls nor a leading
        // zero-width character; lines made by hand might.
        if first.is_control() || width == 0 {
            return Some((" ", 1));
        }
        Some((symbol, width))
    }
}

/// Columns `c` advances the cursor by on vt100's grid: 0 (it joins the
/// previous cell), 1 or 2.
///
/// Measured with vt100's own tables through its public row splitter (as
/// `agent::screen` measures history cells), so history lines are cut into
/// cells exactly as the screen had them, whatever unicode-width version
/// vt100 uses. Printable ASCII takes a fast path.
fn char_width(c: char) -> u16 {
    if (' '..='~').contains(&c) {
        return 1;
    }
    // `c` then "xx" in a two-column row: the split shows c's width.
    let mut probe = [0u8; 6];
    let n = c.encode_utf8(&mut probe).len();
    probe[n] = b'x';
    probe[n + 1] = b'x';
    let Ok(probe) = std::str::from_utf8(&probe[..n + 2]) else {
        return 1;
    };
    match vt100::capture::basic_formatted_rows(probe, 2).next() {
        // Width 0: all fits; 1: one x fits; 2: no x fits.
        Some(first) => u16::try_from((n + 2).saturating_sub(first.len()).min(2)).unwrap_or(1),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::agent::history::History;

    const COLORS: &[u8] = include_bytes!("../../tests/fixtures/screens/colors.bytes");
    const CURSOR: &[u8] = include_bytes!("../../tests/fixtures/screens/cursor.bytes");
    const SPINNER: &[u8] = include_bytes!("../../tests/fixtures/screens/spinner.bytes");
    const WIDE: &[u8] = include_bytes!("../../tests/fixtures/screens/wide.bytes");
    const ALT_SCREEN: &[u8] = include_bytes!("../../tests/fixtures/screens/alt_screen.bytes");
    const COLORS256: &[u8] = include_bytes!("../../tests/fixtures/screens/colors256.bytes");

    /// An 80x24 terminal that was fed `bytes`.
    fn term(bytes: &[u8]) -> TerminalScreen {
        let mut t = TerminalScreen::new(24, 80, 1000);
        t.process(bytes);
        t
    }

    fn render(view: TermView<'_>, width: u16, height: u16) -> Buffer {
        let area = Rect::new(0, 0, width, height);
        let mut buf = Buffer::empty(area);
        view.render(area, &mut buf);
        buf
    }

    /// The buffer's text, one framed line per row; the cells hidden under a
    /// wide character are left out, so columns line up in a monospaced font.
    fn text(buf: &Buffer) -> String {
        let mut out = String::new();
        for y in buf.area.top()..buf.area.bottom() {
            out.push('|');
            let mut hidden = 0u16;
            for x in buf.area.left()..buf.area.right() {
                let cell = &buf[(x, y)];
                if hidden > 0 {
                    hidden -= 1;
                    continue;
                }
                out.push_str(cell.symbol());
                hidden = ratatui::buffer::CellWidth::cell_width(cell).saturating_sub(1);
            }
            out.push_str("|\n");
        }
        out
    }

    fn color_name(c: Color) -> String {
        match c {
            Color::Reset => "-".to_owned(),
            Color::Indexed(i) => format!("#{i}"),
            Color::Rgb(r, g, b) => format!("rgb({r},{g},{b})"),
            named => format!("{named:?}"),
        }
    }

    /// Runs of equally styled cells in `rows`, default-styled ones left out:
    /// `row col-col: fg bg MODIFIERS`.
    fn styles(buf: &Buffer, rows: std::ops::Range<u16>) -> String {
        let mut out = String::new();
        for y in rows {
            let mut x = buf.area.left();
            while x < buf.area.right() {
                let style = |x: u16| {
                    let c = &buf[(x, y)];
                    (c.fg, c.bg, c.modifier)
                };
                let s = style(x);
                let mut end = x + 1;
                while end < buf.area.right() && style(end) == s {
                    end += 1;
                }
                if s != (Color::Reset, Color::Reset, Modifier::empty()) {
                    let _ = writeln!(
                        out,
                        "{y:2} {x:2}-{:<2} fg {} bg {} {:?}",
                        end - 1,
                        color_name(s.0),
                        color_name(s.1),
                        s.2
                    );
                }
                x = end;
            }
        }
        out
    }

    /// Every rendering a fixture is checked in.
    fn fixture_report(bytes: &[u8]) -> String {
        let t = term(bytes);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "history: {} lines, alternate screen: {}, cursor at {:?}{}",
            max_scroll(&t),
            t.screen().alternate_screen(),
            t.screen().cursor_position(),
            if t.screen().hide_cursor() {
                " (hidden)"
            } else {
                ""
            }
        );
        let cases: [(&str, u16, u16, usize); 4] = [
            ("exact fit 80x24", 80, 24, 0),
            ("smaller 50x10: bottom rows, cut on the right", 50, 10, 0),
            ("larger 90x30: history above, blank on the right", 90, 30, 0),
            ("80x24 scrolled back 10", 80, 24, 10),
        ];
        for (name, w, h, scroll) in cases {
            let buf = render(TermView::new(&t).scroll(scroll), w, h);
            let _ = writeln!(
                out,
                "== {name} (cursor {:?}) ==",
                cursor_position(&t, Rect::new(0, 0, w, h))
            );
            out.push_str(&text(&buf));
        }
        let buf = render(TermView::new(&t), 80, 24);
        out.push_str("== styles, exact fit ==\n");
        out.push_str(&styles(&buf, 0..24));
        // Scrolled back, the rows that come from history (the others are
        // screen rows, shown above).
        let win = Window::new(&t, 24, 10);
        let from_history = win.hist.saturating_sub(win.start).min(24) as u16;
        let buf = render(TermView::new(&t).scroll(10), 80, 24);
        out.push_str("== styles of the history rows, scrolled back 10 ==\n");
        out.push_str(&styles(&buf, 0..from_history));
        out
    }

    #[test]
    fn snapshot_colors() {
        insta::assert_snapshot!("colors", fixture_report(COLORS));
    }

    #[test]
    fn snapshot_cursor_moves_and_clear() {
        insta::assert_snapshot!("cursor", fixture_report(CURSOR));
    }

    #[test]
    fn snapshot_spinner() {
        insta::assert_snapshot!("spinner", fixture_report(SPINNER));
    }

    #[test]
    fn snapshot_wide_chars() {
        insta::assert_snapshot!("wide", fixture_report(WIDE));
    }

    #[test]
    fn snapshot_alternate_screen() {
        insta::assert_snapshot!("alt_screen", fixture_report(ALT_SCREEN));
    }

    #[test]
    fn snapshot_256_and_truecolor() {
        insta::assert_snapshot!("colors256", fixture_report(COLORS256));
    }

    /// Position of the first occurrence of `needle` in the rendered text
    /// (narrow text only).
    fn find(buf: &Buffer, needle: &str) -> (u16, u16) {
        for y in buf.area.top()..buf.area.bottom() {
            let row: String = (buf.area.left()..buf.area.right())
                .map(|x| buf[(x, y)].symbol().to_owned())
                .collect();
            if let Some(i) = row.find(needle) {
                return (row[..i].chars().count() as u16, y);
            }
        }
        panic!("{needle:?} not found in\n{}", text(buf));
    }

    #[test]
    fn styles_of_cells() {
        let t = term(COLORS);
        let buf = render(TermView::new(&t), 80, 24);
        let cell = |needle: &str| buf[find(&buf, needle)].clone();

        let error = cell("ERROR");
        assert_eq!(error.fg, Color::Red);
        assert!(error.modifier.contains(Modifier::BOLD));
        let inverse = cell("inverse");
        assert_eq!(inverse.modifier, Modifier::REVERSED);
        assert_eq!((inverse.fg, inverse.bg), (Color::Reset, Color::Reset));
        let all = cell("all");
        assert_eq!(all.fg, Color::Yellow);
        assert_eq!(
            all.modifier,
            Modifier::BOLD | Modifier::UNDERLINED | Modifier::REVERSED
        );
        assert_eq!(cell("dim ").modifier, Modifier::DIM);
        assert_eq!(cell("italic").modifier, Modifier::ITALIC);
        assert_eq!(cell("underline").modifier, Modifier::UNDERLINED);
        let pass = cell(" PASS ");
        assert_eq!((pass.fg, pass.bg), (Color::Black, Color::Green));
        let fail = cell(" FAIL ");
        assert_eq!((fail.fg, fail.bg), (Color::White, Color::Red));
        assert_eq!(cell("br0").fg, Color::DarkGray);
        assert_eq!(cell("br7").fg, Color::White);
        assert_eq!(cell("fg7").fg, Color::Gray);
        assert_eq!(cell("bb4").bg, Color::LightBlue);
        // The space after a styled word is plain again.
        let (x, y) = find(&buf, "inverse");
        assert_eq!(buf[(x + 7, y)].modifier, Modifier::empty());

        let t = term(COLORS256);
        let buf = render(TermView::new(&t), 80, 24);
        let (x, y) = find(&buf, "system:  ");
        assert_eq!(buf[(x + 9, y)].bg, Color::Black);
        assert_eq!(buf[(x + 9 + 2 * 9, y)].bg, Color::LightRed);
        let (x, y) = find(&buf, "cube 0:  ");
        assert_eq!(buf[(x + 9, y)].bg, Color::Indexed(16));
        let (x, y) = find(&buf, "gray:    ");
        assert_eq!(buf[(x + 9, y)].bg, Color::Indexed(232));
        let failed = cell_at(&buf, "FAILED");
        assert_eq!(failed.fg, Color::Indexed(196));
        assert_eq!(failed.modifier, Modifier::BOLD);
        // Truecolour, from history.
        let buf = render(TermView::new(&t).scroll(max_scroll(&t)), 80, 24);
        let (x, y) = find(&buf, "rgb 7:   ");
        let c = &buf[(x + 9 + 2, y)];
        assert_eq!(c.symbol(), "\u{2580}");
        assert_eq!(c.bg, Color::Rgb(8, 224, 247));
        assert_eq!(c.fg, Color::Rgb(247, 31, 8));
        let green = cell_at(&buf, "bold green");
        assert_eq!(green.fg, Color::Rgb(10, 200, 10));
        assert_eq!(green.modifier, Modifier::BOLD);
        let yellow = cell_at(&buf, "yellow on gray");
        assert_eq!(
            (yellow.fg, yellow.bg),
            (Color::Indexed(226), Color::Rgb(40, 40, 40))
        );
    }

    fn cell_at(buf: &Buffer, needle: &str) -> Cell {
        buf[find(buf, needle)].clone()
    }

    #[test]
    fn history_lines_keep_their_styles() {
        let t = term(ALT_SCREEN);
        assert!(t.screen().alternate_screen());
        // Everything above the alternate screen: the git log's history.
        let buf = render(TermView::new(&t).scroll(max_scroll(&t)), 80, 24);
        let (x, y) = find(&buf, "1a2b3c4 commit message number 0");
        assert_eq!(buf[(x, y)].fg, Color::Yellow);
        assert_eq!(buf[(x + 6, y)].fg, Color::Yellow);
        assert_eq!(buf[(x + 7, y)].fg, Color::Reset);
        // The prompt scrolled off first, bold green.
        let (x, y) = find(&buf, "dev@box");
        assert_eq!(y, 0);
        assert_eq!(buf[(x, y)].fg, Color::Green);
        assert!(buf[(x, y)].modifier.contains(Modifier::BOLD));

        // Wide characters and styles in history.
        let t = term(WIDE);
        let buf = render(TermView::new(&t).scroll(max_scroll(&t)), 80, 24);
        let (x, y) = find(&buf, "\u{9519}");
        assert!(y < 10, "found in history rows");
        assert_eq!(buf[(x, y)].fg, Color::Red);
        assert_eq!(buf[(x, y)].modifier, Modifier::BOLD);
        // Its continuation cell is blank, the next wide char two columns on.
        assert_eq!(buf[(x + 1, y)].symbol(), " ");
        assert_eq!(buf[(x + 2, y)].symbol(), "\u{8bef}");
        assert_eq!(buf[(x + 4, y)].symbol(), ":");
        assert_eq!(buf[(x + 4, y)].fg, Color::Reset);
        assert_eq!(buf[(x + 6, y)].modifier, Modifier::UNDERLINED);
    }

    #[test]
    fn wide_characters_on_the_live_screen() {
        let mut t = TerminalScreen::new(3, 10, 10);
        t.process("a\u{4e2d}b\x1b[31m\u{1f680}\x1b[m".as_bytes());
        let buf = render(TermView::new(&t), 10, 3);
        let row: Vec<&str> = (0..6).map(|x| buf[(x, 0)].symbol()).collect();
        assert_eq!(row, ["a", "\u{4e2d}", " ", "b", "\u{1f680}", " "]);
        assert_eq!(buf[(4, 0)].fg, Color::Red);
        // The covered cell carries the same style (visible only if a
        // terminal drew the character narrow).
        assert_eq!(buf[(5, 0)].fg, Color::Red);
        // Cut through the middle of a wide character: a blank.
        let buf = render(TermView::new(&t), 2, 3);
        assert_eq!(buf[(0, 0)].symbol(), "a");
        assert_eq!(buf[(1, 0)].symbol(), " ");
        let buf = render(TermView::new(&t), 5, 3);
        assert_eq!(buf[(4, 0)].symbol(), " ");
        assert_eq!(buf[(4, 0)].fg, Color::Red);
    }

    #[test]
    fn combining_characters_stay_in_one_cell() {
        let mut t = TerminalScreen::new(2, 10, 10);
        t.process("e\u{301}x\r\n".as_bytes());
        t.process("a\u{308}\u{4e2d}\u{301}z\r\n".as_bytes());
        assert_eq!(t.history().len(), 1);
        let buf = render(TermView::new(&t).scroll(1), 10, 2);
        assert_eq!(buf[(0, 0)].symbol(), "e\u{301}");
        assert_eq!(buf[(1, 0)].symbol(), "x");
        assert_eq!(buf[(0, 1)].symbol(), "a\u{308}");
        assert_eq!(buf[(1, 1)].symbol(), "\u{4e2d}\u{301}");
        assert_eq!(buf[(3, 1)].symbol(), "z");
        t.process(b"\r\n");
        let buf = render(TermView::new(&t).scroll(2), 10, 2);
        assert_eq!(buf[(0, 1)].symbol(), "a\u{308}");
        assert_eq!(buf[(1, 1)].symbol(), "\u{4e2d}\u{301}");
        assert_eq!(buf[(3, 1)].symbol(), "z");
    }

    #[test]
    fn history_cells_follow_vt100_widths() {
        let cells: Vec<(&str, u16)> = HistoryCells::new("a\u{4e2d}e\u{301} \u{1f680}!").collect();
        assert_eq!(
            cells,
            [
                ("a", 1),
                ("\u{4e2d}", 2),
                ("e\u{301}", 1),
                (" ", 1),
                ("\u{1f680}", 2),
                ("!", 1)
            ]
        );
        assert_eq!(char_width('\u{301}'), 0);
        assert_eq!(char_width('\u{200d}'), 0);
        assert_eq!(char_width('\u{2714}'), 1);
        assert_eq!(char_width('\u{ff21}'), 2);
        // Hand-made lines: controls and a leading combining mark are blanks.
        let cells: Vec<(&str, u16)> = HistoryCells::new("\u{301}a\tb").collect();
        assert_eq!(cells, [(" ", 1), ("a", 1), (" ", 1), ("b", 1)]);
    }

    #[test]
    fn history_emoji_with_vs16_is_drawn_narrow() {
        let run = StyleRun {
            start: 1,
            len: 1,
            fg: vt100::Color::Idx(1),
            bg: vt100::Color::Default,
            bold: false,
            dim: false,
            italic: false,
            underline: false,
            inverse: false,
        };
        let line = HistoryLine::new("<\u{2764}\u{fe0f}>", vec![run]);
        let mut row = vec![Cell::EMPTY; 4];
        draw_history_line(&mut row, &line, Modifier::empty());
        assert_eq!(row[1].symbol(), "\u{2764}");
        assert_eq!(row[1].fg, Color::Red);
        assert_eq!(row[2].symbol(), ">");
        assert_eq!(row[2].fg, Color::Reset);
        let _ = History::new(0);
    }

    #[test]
    fn area_shorter_shows_bottom_rows() {
        let mut t = TerminalScreen::new(6, 10, 100);
        for i in 0..6 {
            t.process(format!("row{i}").as_bytes());
            if i < 5 {
                t.process(b"\r\n");
            }
        }
        let buf = render(TermView::new(&t), 10, 2);
        assert_eq!(text(&buf), "|row4      |\n|row5      |\n");
        assert_eq!(cursor_position(&t, Rect::new(3, 7, 10, 2)), Some((7, 8)));
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 4, 2)), None);
        // Scrolling back moves through the screen's top rows.
        let buf = render(TermView::new(&t).scroll(3), 10, 2);
        assert_eq!(text(&buf), "|row1      |\n|row2      |\n");
        assert_eq!(max_scroll(&t), 0);
        assert_eq!(max_scroll_for(&t, 2), 4);
        let buf = render(TermView::new(&t).scroll(99), 10, 2);
        assert_eq!(text(&buf), "|row0      |\n|row1      |\n");
    }

    #[test]
    fn area_shorter_skips_blank_rows_below_the_cursor() {
        let mut t = TerminalScreen::new(24, 20, 100);
        t.process(b"one\r\ntwo\r\nthree");
        let buf = render(TermView::new(&t), 20, 2);
        assert_eq!(
            text(&buf),
            "|two                 |\n|three               |\n"
        );
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 20, 2)), Some((5, 1)));
        // Fewer rows used than the area has: drawn from the top.
        let buf = render(TermView::new(&t), 20, 4);
        assert_eq!(
            text(&buf),
            "|one                 |\n|two                 |\n|three               |\n|                    |\n"
        );
        // Content lower than the cursor counts too.
        t.process(b"\x1b[10;1Hlow\x1b[1;1H");
        let buf = render(TermView::new(&t), 20, 2);
        assert_eq!(
            text(&buf),
            "|                    |\n|low                 |\n"
        );
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 20, 2)), None);
    }

    #[test]
    fn area_taller_shows_history_above_and_clears_the_rest() {
        let mut t = TerminalScreen::new(2, 6, 100);
        t.process(b"h0\r\nh1\r\ns0\r\ns1");
        assert_eq!(max_scroll(&t), 2);
        let area = Rect::new(2, 1, 8, 5);
        let mut buf = Buffer::filled(Rect::new(0, 0, 12, 7), Cell::new("#"));
        TermView::new(&t).render(area, &mut buf);
        assert_eq!(
            text(&buf),
            "|############|\n\
             |##h0      ##|\n\
             |##h1      ##|\n\
             |##s0      ##|\n\
             |##s1      ##|\n\
             |##        ##|\n\
             |############|\n"
        );
        assert_eq!(cursor_position(&t, area), Some((4, 4)));
        assert_eq!(max_scroll_for(&t, 5), 0);
        assert_eq!(max_scroll_for(&t, 3), 1);
        assert_eq!(max_scroll_for(&t, 2), 2);
        // Drawing again over styled cells leaves no style behind.
        let mut buf = Buffer::filled(
            Rect::new(0, 0, 8, 5),
            Cell::new("x").set_bg(Color::Red).clone(),
        );
        TermView::new(&t).render(buf.area, &mut buf);
        assert!(buf.content.iter().all(|c| c.bg == Color::Reset));
    }

    #[test]
    fn scroll_is_clamped() {
        let t = term(COLORS);
        let n = max_scroll(&t);
        assert!(n > 0);
        assert_eq!(max_scroll_for(&t, 24), n);
        let top = render(TermView::new(&t).scroll(n), 80, 24);
        assert_eq!(render(TermView::new(&t).scroll(usize::MAX), 80, 24), top);
        assert_eq!(find(&top, "dev@box"), (0, 0));
        assert_eq!(
            render(TermView::new(&t).scroll(0), 80, 24),
            render(TermView::new(&t), 80, 24)
        );
    }

    #[test]
    fn software_cursor() {
        let mut t = TerminalScreen::new(3, 10, 10);
        t.process(b"a\r\nb\r\nc\r\nd\r\n$ ");
        let plain = render(TermView::new(&t), 10, 3);
        let with = render(TermView::new(&t).show_cursor(true), 10, 3);
        assert_eq!(with[(2, 2)].modifier, Modifier::REVERSED);
        let mut diff = 0;
        for (a, b) in plain.content.iter().zip(&with.content) {
            diff += usize::from(a != b);
        }
        assert_eq!(diff, 1);
        // Not when scrolled back, nor when the program hides it.
        assert_eq!(
            render(TermView::new(&t).show_cursor(true).scroll(1), 10, 3),
            render(TermView::new(&t).scroll(1), 10, 3)
        );
        t.process(b"\x1b[?25l");
        assert_eq!(render(TermView::new(&t).show_cursor(true), 10, 3), plain);
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 10, 3)), None);
        // Inverse text under the cursor turns plain.
        t.process(b"\x1b[?25h\x1b[7mX\x1b[m\x08");
        let buf = render(TermView::new(&t).show_cursor(true), 10, 3);
        assert_eq!(buf[(2, 2)].modifier, Modifier::empty());
    }

    #[test]
    fn cursor_waiting_past_the_last_column() {
        let mut t = TerminalScreen::new(2, 4, 10);
        t.process(b"abcd");
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 4, 2)), Some((3, 0)));
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 0, 2)), None);
    }

    #[test]
    fn dim_view() {
        let t = term(COLORS);
        let buf = render(TermView::new(&t).dim(true), 80, 24);
        let (x, y) = find(&buf, "ERROR");
        assert_eq!(buf[(x, y)].modifier, Modifier::BOLD | Modifier::DIM);
        let (x, y) = find(&buf, "inverse");
        assert_eq!(buf[(x, y)].modifier, Modifier::REVERSED | Modifier::DIM);
        let buf = render(TermView::new(&t).dim(true).scroll(max_scroll(&t)), 80, 24);
        assert!(buf[(0, 1)].modifier.contains(Modifier::DIM));
    }

    #[test]
    fn empty_and_out_of_buffer_areas() {
        let t = term(CURSOR);
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 5));
        let before = buf.clone();
        TermView::new(&t).render(Rect::new(0, 0, 0, 5), &mut buf);
        TermView::new(&t).render(Rect::new(0, 0, 10, 0), &mut buf);
        TermView::new(&t).render(Rect::new(20, 20, 10, 5), &mut buf);
        assert_eq!(buf, before);
        // Partly outside: drawn where it overlaps.
        TermView::new(&t).render(Rect::new(5, 3, 10, 5), &mut buf);
        assert_ne!(buf, before);
        assert_eq!(cursor_position(&t, Rect::new(0, 0, 0, 0)), None);
    }

    #[test]
    fn deferred_output_is_drawn_after_sync() {
        let mut t = TerminalScreen::new(4, 20, 1000);
        t.process(b"start\r\n");
        let mut flood = Vec::new();
        for i in 0..200 {
            flood.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        t.process_deferred(&flood);
        // Whatever is pending, drawing works on the consistent snapshot.
        let _ = render(TermView::new(&t), 20, 4);
        t.sync();
        let buf = render(TermView::new(&t), 20, 4);
        assert!(text(&buf).contains("line 199"));
        let buf = render(TermView::new(&t).scroll(max_scroll(&t)), 20, 4);
        assert!(text(&buf).starts_with("|start"), "{}", text(&buf));
    }
}
