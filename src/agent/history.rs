//! Compact scrollback: the rows that scrolled off the top of an agent's live
//! screen.
//!
//! vt100's own scrollback keeps every departed row as a full row of 32-byte
//! cells (and copies rows to do it). Here a row is kept as its text plus a
//! list of style runs, and a plain default-styled row has no runs at all, so
//! a typical 10-character log line costs a few dozen bytes instead of
//! `cols * 32`.

use std::collections::VecDeque;
use std::mem::size_of;

/// One styled stretch of a [`HistoryLine`], in terminal columns.
///
/// `start` and `len` count columns, not bytes or chars: a wide character
/// (CJK, most emoji) covers two columns, exactly as on the live screen.
/// Columns not covered by any run have the default style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StyleRun {
    /// First column of the run.
    pub start: u16,
    /// Number of columns the run covers.
    pub len: u16,
    /// Foreground colour.
    pub fg: vt100::Color,
    /// Background colour.
    pub bg: vt100::Color,
    /// Bold (increased intensity).
    pub bold: bool,
    /// Dim (decreased intensity). vt100 tracks it, so we keep it too.
    pub dim: bool,
    /// Italic.
    pub italic: bool,
    /// Underlined.
    pub underline: bool,
    /// Foreground and background swapped.
    pub inverse: bool,
}

impl StyleRun {
    /// True when every attribute is the terminal default (such runs are never
    /// stored).
    pub fn is_default_style(&self) -> bool {
        self.fg == vt100::Color::Default
            && self.bg == vt100::Color::Default
            && !self.bold
            && !self.dim
            && !self.italic
            && !self.underline
            && !self.inverse
    }

    /// Same attributes (ignoring position).
    pub fn same_style(&self, other: &StyleRun) -> bool {
        self.fg == other.fg
            && self.bg == other.bg
            && self.bold == other.bold
            && self.dim == other.dim
            && self.italic == other.italic
            && self.underline == other.underline
            && self.inverse == other.inverse
    }
}

/// One departed screen row.
///
/// `text` is the row as the screen showed it: blank cells between pieces of
/// text are spaces, trailing blank cells are dropped (spaces the program
/// printed itself are kept). Each row is a separate line, also when the
/// program's line was wrapped across several rows; `wrapped` says the
/// line goes on in the next row (the terminal wrapped it at its right
/// edge), so a copy can join the rows as the program wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryLine {
    text: Box<str>,
    runs: Box<[StyleRun]>,
    wrapped: bool,
}

impl HistoryLine {
    /// A line from its text and style runs (runs sorted by column, not
    /// overlapping, none with the default style).
    pub fn new(text: impl Into<Box<str>>, runs: impl Into<Box<[StyleRun]>>) -> Self {
        Self {
            text: text.into(),
            runs: runs.into(),
            wrapped: false,
        }
    }

    /// The same line, marked as going on in the next row (or not).
    pub fn wrapping(self, wrapped: bool) -> Self {
        Self { wrapped, ..self }
    }

    /// The terminal wrapped this row at its right edge: the next row goes
    /// on with the same line.
    pub fn wrapped(&self) -> bool {
        self.wrapped
    }

    /// The row's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Styled stretches; empty for a plain default-styled row.
    pub fn runs(&self) -> &[StyleRun] {
        &self.runs
    }

    /// Heap and inline bytes this line accounts for.
    fn bytes(&self) -> usize {
        size_of::<HistoryLine>() + self.text.len() + self.runs.len() * size_of::<StyleRun>()
    }
}

/// A ring buffer of [`HistoryLine`]s holding at most `capacity_lines`; the
/// oldest line is dropped to make room.
#[derive(Debug, Clone, Default)]
pub struct History {
    lines: VecDeque<HistoryLine>,
    capacity: usize,
    bytes: usize,
    /// Lines ever added (not reset by `clear`): lets a view scrolled back
    /// into history stay on the same lines while new ones arrive.
    pushed: u64,
}

impl History {
    /// An empty history keeping up to `capacity_lines` lines (0 keeps none).
    /// Memory grows with use; nothing is reserved up front.
    pub fn new(capacity_lines: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            capacity: capacity_lines,
            bytes: 0,
            pushed: 0,
        }
    }

    /// Number of lines held.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no line is held.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// How many lines were ever added (monotonic).
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// Maximum number of lines held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Line `i`, 0 being the oldest held.
    pub fn get(&self, i: usize) -> Option<&HistoryLine> {
        self.lines.get(i)
    }

    /// Oldest to newest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &HistoryLine> + ExactSizeIterator {
        self.lines.iter()
    }

    /// Approximate memory held by the lines: per line its struct (32 bytes),
    /// its text and its runs. Allocator overhead and the ring's spare slots
    /// are not counted.
    pub fn bytes_used(&self) -> usize {
        self.bytes
    }

    /// Drop every line.
    pub fn clear(&mut self) {
        self.lines = VecDeque::new();
        self.bytes = 0;
    }

    /// Append a plain default-styled line (no runs), `wrapped` if it goes
    /// on in the next row. When full, the evicted line's storage is reused
    /// if it has the same length, which saves an allocation per line in
    /// floods of similar lines.
    pub fn push_plain(&mut self, text: &str, wrapped: bool) {
        if self.capacity == 0 {
            return;
        }
        let evicted = if self.lines.len() == self.capacity {
            self.lines.pop_front()
        } else {
            None
        };
        let line = match evicted {
            Some(old) => {
                self.bytes -= old.bytes();
                if old.text.len() == text.len() {
                    // Capacity == length throughout: no reallocation.
                    let mut buf = old.text.into_string();
                    buf.clear();
                    buf.push_str(text);
                    HistoryLine::new(buf.into_boxed_str(), Vec::new())
                } else {
                    HistoryLine::new(text, Vec::new())
                }
            }
            None => HistoryLine::new(text, Vec::new()),
        }
        .wrapping(wrapped);
        self.bytes += line.bytes();
        self.lines.push_back(line);
        self.pushed += 1;
    }

    /// Append a line as the newest, dropping the oldest if full.
    pub fn push(&mut self, line: HistoryLine) {
        if self.capacity == 0 {
            return;
        }
        if self.lines.len() == self.capacity {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.bytes();
            }
        }
        self.bytes += line.bytes();
        self.lines.push_back(line);
        self.pushed += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_drops_the_oldest() {
        let mut h = History::new(3);
        assert!(h.is_empty());
        for i in 0..5 {
            h.push(HistoryLine::new(format!("line {i}"), Vec::new()));
        }
        assert_eq!(h.len(), 3);
        let texts: Vec<&str> = h.iter().map(HistoryLine::text).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        assert_eq!(h.get(0).map(HistoryLine::text), Some("line 2"));
        assert!(h.get(3).is_none());
        assert_eq!(h.bytes_used(), 3 * (size_of::<HistoryLine>() + 6));
        h.clear();
        assert!(h.is_empty());
        assert_eq!(h.bytes_used(), 0);
    }

    #[test]
    fn push_plain_recycles_and_accounts() {
        let mut h = History::new(2);
        for t in ["aa", "bb", "cc", "ddd", "e"] {
            h.push_plain(t, false);
        }
        let texts: Vec<&str> = h.iter().map(HistoryLine::text).collect();
        assert_eq!(texts, ["ddd", "e"]);
        assert!(h.iter().all(|l| l.runs().is_empty()));
        assert_eq!(h.bytes_used(), 2 * size_of::<HistoryLine>() + 4);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        h.push(HistoryLine::new("x", Vec::new()));
        assert!(h.is_empty());
        assert_eq!(h.bytes_used(), 0);
    }

    #[test]
    fn line_struct_is_compact() {
        // Two boxed slices and the wrap flag (padded): 80 KB for a full
        // 10,000-line history on top of the text.
        assert_eq!(size_of::<HistoryLine>(), 40);
        assert!(size_of::<StyleRun>() <= 20);
    }
}
