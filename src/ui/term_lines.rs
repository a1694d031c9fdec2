//! An agent's lines as text, for search and copy: its history (rows that
//! left the screen, oldest first) followed by the live screen's rows, the
//! same numbering [`TermView`](crate::ui::term_view::TermView) draws
//! (line `i < history.len()` is history, the rest screen row
//! `i - history.len()`).
//!
//! Each line is read into cells as the terminal had them: a wide
//! character is one cell two columns wide, a blank cell is a space, and a
//! row the terminal wrapped at its right edge says so, so a copy joins it
//! to the next row as the agent wrote it.
//!
//! Line numbers move as history grows; [`LineId`] names a line for good
//! (lines ever pushed), so a search hit or a selection stays on its line
//! while the agent prints.

use crate::agent::screen::TerminalScreen;
use crate::ui::term_view::history_cells;

/// A line's text with where each of its cells starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineText {
    /// The cells' contents, trailing blanks dropped.
    pub text: String,
    /// For each cell: (byte offset in `text`, first column, columns).
    cells: Vec<(usize, u16, u16)>,
    /// The terminal wrapped this row: the next one goes on with it.
    pub wrapped: bool,
}

impl LineText {
    /// The column the byte at `offset` is drawn in (the end of the line
    /// for an offset past it).
    pub fn col_at(&self, offset: usize) -> u16 {
        match self.cells.partition_point(|&(at, _, _)| at <= offset) {
            0 => 0,
            i => self.cells[i - 1].1,
        }
        .min(self.end_col())
    }

    /// One past the last column with something in it.
    pub fn end_col(&self) -> u16 {
        self.cells.last().map_or(0, |&(_, col, w)| col + w)
    }

    /// The columns `[from, to)` of the line as text: a wide character
    /// counts when either of its columns is in the range.
    pub fn slice_cols(&self, from: u16, to: u16) -> &str {
        let start = self.cells.iter().find(|&&(_, col, w)| col + w > from);
        let Some(&(start, _, _)) = start else {
            return "";
        };
        let end = self
            .cells
            .iter()
            .find(|&&(_, col, _)| col >= to)
            .map_or(self.text.len(), |&(at, _, _)| at);
        self.text.get(start..end.max(start)).unwrap_or("")
    }

    /// The column range `[from, to)` a byte range covers.
    pub fn cols_of(&self, start: usize, end: usize) -> (u16, u16) {
        let from = self.col_at(start);
        let to = match end.checked_sub(1) {
            Some(last) if end > start => {
                let i = self.cells.partition_point(|&(at, _, _)| at <= last);
                i.checked_sub(1)
                    .map_or(from, |i| self.cells[i].1 + self.cells[i].2)
            }
            _ => from,
        };
        (from, to)
    }
}

/// A line named for good: the count of lines pushed into history before
/// it, for a history line; `pushed + row` for a screen row.
pub type LineId = u64;

/// Where a view `rows` tall scrolled back by `scroll` stands, as the badges
/// of the output pane and `orch attach` say it.
pub fn position(screen: &TerminalScreen, rows: u16, scroll: usize) -> String {
    let shown = crate::ui::term_view::shown_lines(screen, rows, scroll);
    format!("{} lines above · {} in all", shown.start, count(screen))
}

/// Lines there are: history, then every row of the screen.
pub fn count(screen: &TerminalScreen) -> usize {
    screen.history().len() + usize::from(screen.size().0)
}

/// The id of line `index`.
pub fn id_of(screen: &TerminalScreen, index: usize) -> LineId {
    let h = screen.history();
    h.pushed() - h.len() as u64 + index as u64
}

/// The index of the line named `id`, if it is still held.
pub fn index_of(screen: &TerminalScreen, id: LineId) -> Option<usize> {
    let h = screen.history();
    let first = h.pushed() - h.len() as u64;
    let index = usize::try_from(id.checked_sub(first)?).ok()?;
    (index < count(screen)).then_some(index)
}

/// Line `index` as text (empty past the end).
pub fn line(screen: &TerminalScreen, index: usize) -> LineText {
    let history = screen.history();
    if let Some(h) = history.get(index) {
        let mut out = LineText {
            wrapped: h.wrapped(),
            ..LineText::default()
        };
        let mut col = 0;
        for (symbol, width) in history_cells(h.text()) {
            out.cells.push((out.text.len(), col, width));
            out.text.push_str(symbol);
            col += width;
        }
        trim(&mut out);
        return out;
    }
    let Some(row) = index
        .checked_sub(history.len())
        .and_then(|r| u16::try_from(r).ok())
    else {
        return LineText::default();
    };
    let vt = screen.screen();
    let (rows, cols) = vt.size();
    if row >= rows.get() {
        return LineText::default();
    }
    let mut out = LineText {
        wrapped: vt.row_wrapped(row),
        ..LineText::default()
    };
    for col in 0..cols.get() {
        let Some(cell) = vt.cell(row, col) else {
            break;
        };
        if cell.is_wide_continuation() {
            continue;
        }
        let width = if cell.is_wide() { 2 } else { 1 };
        out.cells.push((out.text.len(), col, width));
        match cell.contents() {
            "" => out.text.push(' '),
            c => out.text.push_str(c),
        }
    }
    trim(&mut out);
    out
}

/// Rows joined into one line at most (a longer run of wrapped rows is cut
/// into lines of this many): bounds what a frame reads to paint a match.
pub const MAX_JOINED: usize = 256;

/// A line as the agent wrote it: the rows the terminal wrapped it over,
/// joined (search matches across the wrap, as the text reads).
#[derive(Debug, Clone, Default)]
pub struct Logical {
    /// The index of its first row.
    pub first: usize,
    pub rows: Vec<LineText>,
    /// The rows' text, joined.
    pub text: String,
    /// Where each row's text starts in `text`.
    starts: Vec<usize>,
}

impl Logical {
    /// The line that starts at row `first` (it goes on while rows wrap).
    pub fn from(screen: &TerminalScreen, first: usize) -> Logical {
        let mut out = Logical {
            first,
            ..Logical::default()
        };
        let total = count(screen);
        let mut index = first;
        while index < total && out.rows.len() < MAX_JOINED {
            let row = line(screen, index);
            let wrapped = row.wrapped;
            out.starts.push(out.text.len());
            out.text.push_str(&row.text);
            out.rows.push(row);
            index += 1;
            if !wrapped {
                break;
            }
        }
        out
    }

    /// The line row `index` is part of.
    pub fn around(screen: &TerminalScreen, index: usize) -> Logical {
        let mut first = index;
        while first > 0 && index - first < MAX_JOINED - 1 && wraps(screen, first - 1) {
            first -= 1;
        }
        Logical::from(screen, first)
    }

    /// One past its last row.
    pub fn end(&self) -> usize {
        self.first + self.rows.len().max(1)
    }

    /// The row (index) and column of the byte at `offset`.
    pub fn locate(&self, offset: usize) -> (usize, u16) {
        let k = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        let col = self
            .rows
            .get(k)
            .map_or(0, |r| r.col_at(offset - self.starts[k]));
        (self.first + k, col)
    }

    /// The rows and columns `[from, to)` bytes `[start, end)` cover.
    pub fn span(&self, start: usize, end: usize) -> Vec<(usize, u16, u16)> {
        let mut out = Vec::new();
        for (k, row) in self.rows.iter().enumerate() {
            let (s, e) = (self.starts[k], self.starts[k] + row.text.len());
            if e <= start || s >= end {
                continue;
            }
            let (from, to) = row.cols_of(start.max(s) - s, end.min(e) - s);
            out.push((self.first + k, from, to));
        }
        out
    }
}

/// Whether row `index` wraps into the next (cheap for history).
pub fn wraps(screen: &TerminalScreen, index: usize) -> bool {
    let history = screen.history();
    match history.get(index) {
        Some(h) => h.wrapped(),
        None => index
            .checked_sub(history.len())
            .and_then(|r| u16::try_from(r).ok())
            .is_some_and(|r| r < screen.size().0 && screen.screen().row_wrapped(r)),
    }
}

/// Drop trailing blank cells (a wrapped row keeps its text to the edge).
fn trim(line: &mut LineText) {
    if line.wrapped {
        return;
    }
    while let Some(&(at, _, _)) = line.cells.last() {
        if line.text[at..].trim().is_empty() {
            line.text.truncate(at);
            line.cells.pop();
        } else {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_run_from_history_through_the_screen_with_stable_ids() {
        let mut t = TerminalScreen::new(3, 10, 100);
        t.process(b"one\r\ntwo\r\nthree\r\nfour");
        assert_eq!(count(&t), 1 + 3);
        let texts: Vec<String> = (0..count(&t)).map(|i| line(&t, i).text).collect();
        assert_eq!(texts, ["one", "two", "three", "four"]);
        let id = id_of(&t, 1);
        t.process(b"\r\nfive\r\nsix");
        assert_eq!(line(&t, index_of(&t, id).expect("still held")).text, "two");
        assert_eq!(index_of(&t, 99), None);
    }

    #[test]
    fn wide_characters_and_wrapped_rows_keep_their_columns() {
        let mut t = TerminalScreen::new(3, 6, 100);
        t.process("a漢字bcdefg\r\n".as_bytes());
        let first = line(&t, 0);
        assert_eq!(first.text, "a漢字b");
        assert!(first.wrapped);
        assert_eq!(first.col_at(1), 1);
        assert_eq!(first.col_at(4), 3);
        assert_eq!(first.slice_cols(2, 4), "漢字");
        assert_eq!(first.cols_of(1, 7), (1, 5));
        let second = line(&t, 1);
        assert_eq!((second.text.as_str(), second.wrapped), ("cdefg", false));
        // Into history, the same.
        t.process(b"\r\n\r\n\r\n");
        assert_eq!(line(&t, 0), first);
        // Joined as written, from either of its rows.
        let joined = Logical::around(&t, 1);
        assert_eq!((joined.first, joined.text.as_str()), (0, "a漢字bcdefg"));
        assert_eq!(joined.locate(8), (1, 0));
        assert_eq!(joined.span(7, 10), [(0, 5, 6), (1, 0, 2)]);
        assert_eq!(Logical::from(&t, 2).text, "");
    }
}
