//! Reading a departing row into history: vt100's "basic formatted" dump of
//! the row's cells (contents and SGR sequences) turned back into text plus
//! column-based style runs.

use std::fmt;

use crate::agent::history::{HistoryLine, StyleRun};

/// Our pen while reading a row's formatted dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Pen {
    fg: vt100::Color,
    bg: vt100::Color,
    bold: bool,
    dim: bool,
    italic: bool,
    underline: bool,
    inverse: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Esc {
    #[default]
    Text,
    Escape,
    Csi,
}

const MAX_PARAMS: usize = 16;

/// Turns vt100's "basic formatted" dump of one row (cell contents and SGR
/// sequences) back into text plus style runs.
///
/// vt100 writes each cell with one `write_str`/`write_char` call (contents,
/// or a space for an empty styled cell) and never mixes cells and escape
/// sequences in one call, so cell boundaries are exact.
#[derive(Debug, Default)]
pub(super) struct RowCapture {
    text: String,
    runs: Vec<StyleRun>,
    col: u16,
    pen: Pen,
    esc: Esc,
    params: [u16; MAX_PARAMS],
    nparams: usize,
    param: u16,
    param_digits: bool,
    /// Blank cells written (`write_char(' ')`) and not placed yet: vt100
    /// writes a run of default cells (a gap a tab or a cursor move
    /// skipped) as blanks *before* the next cell's attribute change, so
    /// blanks followed by an escape sequence are default cells, not cells
    /// in the pen still set from the cell before them.
    blanks: u16,
}

impl RowCapture {
    pub(super) fn begin(&mut self) {
        self.text.clear();
        self.runs.clear();
        self.col = 0;
        self.pen = Pen::default();
        self.esc = Esc::Text;
        self.blanks = 0;
    }

    pub(super) fn finish(&mut self) -> HistoryLine {
        self.place_blanks(self.pen);
        HistoryLine::new(self.text.as_str(), self.runs.as_slice())
    }

    /// The blanks written so far, as cells in `pen`.
    fn place_blanks(&mut self, pen: Pen) {
        let kept = std::mem::replace(&mut self.pen, pen);
        for _ in 0..std::mem::take(&mut self.blanks) {
            self.cell(" ");
        }
        self.pen = kept;
    }

    fn cell(&mut self, contents: &str) {
        let width = cell_width(contents);
        self.text.push_str(contents);
        if self.pen != Pen::default() {
            match self.runs.last_mut() {
                Some(run)
                    if run.start + run.len == self.col
                        && run.fg == self.pen.fg
                        && run.bg == self.pen.bg
                        && run.bold == self.pen.bold
                        && run.dim == self.pen.dim
                        && run.italic == self.pen.italic
                        && run.underline == self.pen.underline
                        && run.inverse == self.pen.inverse =>
                {
                    run.len += width;
                }
                _ => self.runs.push(StyleRun {
                    start: self.col,
                    len: width,
                    fg: self.pen.fg,
                    bg: self.pen.bg,
                    bold: self.pen.bold,
                    dim: self.pen.dim,
                    italic: self.pen.italic,
                    underline: self.pen.underline,
                    inverse: self.pen.inverse,
                }),
            }
        }
        self.col = self.col.saturating_add(width);
    }

    fn escape_char(&mut self, c: char) {
        match self.esc {
            Esc::Text => {}
            Esc::Escape => {
                self.esc = if c == '[' { Esc::Csi } else { Esc::Text };
                self.nparams = 0;
                self.param = 0;
                self.param_digits = false;
            }
            Esc::Csi => match c {
                '0'..='9' => {
                    let digit = u16::from(c as u8 - b'0');
                    self.param = self.param.saturating_mul(10).saturating_add(digit);
                    self.param_digits = true;
                }
                ';' | ':' => self.end_param(),
                'm' => {
                    if self.param_digits || self.nparams > 0 {
                        self.end_param();
                    }
                    self.apply_sgr();
                    self.esc = Esc::Text;
                }
                _ => self.esc = Esc::Text,
            },
        }
    }

    fn end_param(&mut self) {
        if self.nparams < MAX_PARAMS {
            self.params[self.nparams] = self.param;
            self.nparams += 1;
        }
        self.param = 0;
        self.param_digits = false;
    }

    /// The SGR subset vt100 emits (see vt100's `term::Attrs`).
    fn apply_sgr(&mut self) {
        let params = &self.params[..self.nparams];
        if params.is_empty() {
            self.pen = Pen::default();
            return;
        }
        let pen = &mut self.pen;
        let mut i = 0;
        while i < params.len() {
            match params[i] {
                0 => *pen = Pen::default(),
                1 => (pen.bold, pen.dim) = (true, false),
                2 => (pen.bold, pen.dim) = (false, true),
                22 => (pen.bold, pen.dim) = (false, false),
                3 => pen.italic = true,
                23 => pen.italic = false,
                4 => pen.underline = true,
                24 => pen.underline = false,
                7 => pen.inverse = true,
                27 => pen.inverse = false,
                n @ 30..=37 => pen.fg = vt100::Color::Idx(n as u8 - 30),
                n @ 90..=97 => pen.fg = vt100::Color::Idx(n as u8 - 82),
                39 => pen.fg = vt100::Color::Default,
                n @ 40..=47 => pen.bg = vt100::Color::Idx(n as u8 - 40),
                n @ 100..=107 => pen.bg = vt100::Color::Idx(n as u8 - 92),
                49 => pen.bg = vt100::Color::Default,
                n @ (38 | 48) => {
                    let byte = |j: usize| params.get(j).map_or(0, |&v| v.min(255) as u8);
                    let color = match params.get(i + 1) {
                        Some(5) => {
                            let c = vt100::Color::Idx(byte(i + 2));
                            i += 2;
                            c
                        }
                        Some(2) => {
                            let c = vt100::Color::Rgb(byte(i + 2), byte(i + 3), byte(i + 4));
                            i += 4;
                            c
                        }
                        _ => vt100::Color::Default,
                    };
                    if n == 38 {
                        pen.fg = color;
                    } else {
                        pen.bg = color;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
}

impl fmt::Write for RowCapture {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while !rest.is_empty() {
            if self.esc == Esc::Text {
                // ESC is ASCII, so a byte search finds it at a char boundary.
                match rest.bytes().position(|b| b == 0x1b) {
                    None => {
                        self.place_blanks(self.pen);
                        self.cell(rest);
                        return Ok(());
                    }
                    Some(0) => {
                        // An attribute change after blanks: they were
                        // default cells.
                        self.place_blanks(Pen::default());
                        self.esc = Esc::Escape;
                        rest = &rest[1..];
                    }
                    Some(i) => {
                        self.place_blanks(self.pen);
                        self.cell(&rest[..i]);
                        rest = &rest[i..];
                    }
                }
            } else {
                let mut chars = rest.chars();
                if let Some(c) = chars.next() {
                    self.escape_char(c);
                }
                rest = chars.as_str();
            }
        }
        Ok(())
    }

    fn write_char(&mut self, c: char) -> fmt::Result {
        match (self.esc, c) {
            (Esc::Text, '\x1b') => {
                self.place_blanks(Pen::default());
                self.esc = Esc::Escape;
            }
            // vt100 writes an empty cell as a blank char (contents as
            // strings): where it goes depends on what follows.
            (Esc::Text, ' ') => self.blanks = self.blanks.saturating_add(1),
            (Esc::Text, _) => {
                self.place_blanks(self.pen);
                self.cell(c.encode_utf8(&mut [0; 4]));
            }
            _ => self.escape_char(c),
        }
        Ok(())
    }
}

/// Columns a cell covers: 1, or 2 for a wide character.
///
/// The width tables are vt100's own (through its public row splitter, which
/// measures with the same unicode-width crate and clamps to 2 as the grid
/// does): a cell followed by a one-column `x` fits in two columns only if the
/// cell is narrow. Cells whose width vt100 computes on the whole grapheme
/// (rare emoji sequences) may come out as 1 where the grid used 2.
fn cell_width(contents: &str) -> u16 {
    if contents.len() == 1 {
        return 1; // ASCII
    }
    let mut probe = [0u8; 64];
    let n = contents.len();
    if n + 1 > probe.len() {
        return 1;
    }
    probe[..n].copy_from_slice(contents.as_bytes());
    probe[n] = b'x';
    let Ok(probe) = std::str::from_utf8(&probe[..=n]) else {
        return 1;
    };
    match vt100::capture::basic_formatted_rows(probe, 2).next() {
        Some(first) if first.len() == n => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::super::TerminalScreen;
    use super::*;

    #[test]
    fn coloured_lines_keep_their_styles() {
        let mut t = TerminalScreen::new(10, 40, 1000);
        for i in 0..200 {
            if i % 3 == 0 {
                t.process(
                    format!("ok \x1b[31;1mred {i}\x1b[0m \x1b[48;5;200mbg\x1b[m\r\n").as_bytes(),
                );
            } else {
                t.process(format!("plain {i}\r\n").as_bytes());
            }
        }
        let h = t.history();
        assert_eq!(h.len(), 191);
        for (i, line) in h.iter().enumerate() {
            if i % 3 == 0 {
                let red = format!("red {i}");
                assert_eq!(line.text(), format!("ok {red} bg"));
                let runs = line.runs();
                assert_eq!(runs.len(), 2, "{runs:?}");
                assert_eq!((runs[0].start, runs[0].len), (3, red.len() as u16));
                assert_eq!(runs[0].fg, vt100::Color::Idx(1));
                assert!(runs[0].bold && !runs[0].italic);
                assert_eq!((runs[1].start, runs[1].len), (4 + red.len() as u16, 2));
                assert_eq!(runs[1].bg, vt100::Color::Idx(200));
                assert_eq!(runs[1].fg, vt100::Color::Default);
                assert!(!runs[1].bold);
            } else {
                assert_eq!(line.text(), format!("plain {i}"));
                assert!(line.runs().is_empty());
            }
        }
    }

    #[test]
    fn wide_characters_keep_column_math() {
        let mut t = TerminalScreen::new(3, 20, 10);
        t.process("a\u{4e2d}\u{6587}b \x1b[32mgreen\x1b[m\r\n\n\n\n".as_bytes());
        let h = t.history();
        let line = h
            .iter()
            .find(|l| l.text().starts_with('a'))
            .expect("line in history");
        assert_eq!(line.text(), "a\u{4e2d}\u{6587}b green");
        // a(1) + two wide chars (4) + b(1) + space(1) = column 7.
        assert_eq!(line.runs().len(), 1);
        assert_eq!((line.runs()[0].start, line.runs()[0].len), (7, 5));
        assert_eq!(line.runs()[0].fg, vt100::Color::Idx(2));
        assert_eq!(cell_width("\u{e9}"), 1);
        assert_eq!(cell_width("e\u{301}"), 1);
        assert_eq!(cell_width("\u{1f600}"), 2);
    }
}

#[cfg(test)]
mod gap_tests {
    use super::super::TerminalScreen;

    #[test]
    fn a_gap_skipped_by_a_tab_or_a_cursor_move_keeps_no_colour() {
        let mut t = TerminalScreen::new(3, 40, 10);
        t.process(b"\x1b[41mERROR \x1b[0m\tfile\r\n\x1b[42mok\x1b[0m\x1b[5Cmoved\r\n");
        // A bar erased in its colour keeps it.
        t.process(b"\x1b[44mbar\x1b[6X\x1b[0m\r\n\n\n\n");
        let h = t.history();
        let tab = h
            .iter()
            .find(|l| l.text().starts_with("ERROR"))
            .expect("line");
        assert_eq!(tab.text(), "ERROR   file", "{:?}", tab.text());
        assert_eq!(tab.runs().len(), 1, "{:?}", tab.runs());
        assert_eq!((tab.runs()[0].start, tab.runs()[0].len), (0, 6));
        let moved = h.iter().find(|l| l.text().starts_with("ok")).expect("line");
        assert_eq!(moved.text(), "ok     moved", "{:?}", moved.text());
        assert_eq!((moved.runs()[0].start, moved.runs()[0].len), (0, 2));
        assert_eq!(moved.runs().len(), 1, "{:?}", moved.runs());
        let bar = h
            .iter()
            .find(|l| l.text().starts_with("bar"))
            .expect("line");
        assert_eq!(bar.runs().len(), 1, "{:?}", bar.runs());
        assert_eq!(
            (bar.runs()[0].start, bar.runs()[0].len),
            (0, 9),
            "{:?}",
            bar.runs()
        );
        assert_eq!(bar.runs()[0].bg, vt100::Color::Idx(4));
    }
}
