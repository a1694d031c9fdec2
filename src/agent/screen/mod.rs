//! An agent's terminal: a vt100 screen plus our own compact history.
//!
//! # Design
//!
//! The parser runs with vt100's scrollback disabled (keeping 10,000 rows of
//! 32-byte cells costs memory and, worse, row copies: ~6 MB/s). Rows leaving
//! the top of the screen are reported through [`vt100::Callbacks::on_scroll`]
//! and appended to a [`History`] as text plus style runs.
//!
//! Rows scrolled off the *alternate* screen (full-screen programs such as
//! editors) never enter history, as in tmux: those are redraw artefacts, not
//! output anyone scrolls back to. `ESC [ 3 J` ("erase saved lines") clears
//! history, as terminals clear their scrollback.
//!
//! The screen also answers the agent's terminal queries, as a terminal
//! would, and keeps the answers for the agent's reader to write back
//! ([`TerminalScreen::take_replies`]). Nothing of a query or its answer is
//! ever shown: the control room draws the screen cell by cell, and vt100
//! keeps escape sequences out of its cells.
//!
//! Parts, one job each:
//!
//! * this module, the facade: feeding bytes, resizing, reading the screen
//!   and history, draining answers;
//! * `fast_path`: plain-text floods modelled without walking cells, with
//!   vt100's catch-up deferred ([`TerminalScreen::process_deferred`]);
//! * `row_capture`: a departing row's cells read back into text plus
//!   style runs;
//! * `sink`: vt100's callbacks, which route departing rows to history and
//!   queries to `replies`;
//! * `replies`: answers to the agent's terminal queries (cursor position,
//!   device status and attributes, colours), from the screen's own state;
//! * `keyboard`: the keyboard modes the agent asks for (xterm's
//!   modifyOtherKeys, the kitty keyboard protocol's flag stacks), which
//!   decide how keys are encoded for it, and the answer to `CSI ? u`.

use std::fmt;
use std::num::NonZeroU16;

mod fast_path;
mod keyboard;
mod replies;
mod row_capture;
mod sink;

pub use keyboard::KeyboardModes;
pub use replies::TermColours;

use super::history::History;
use fast_path::Mirror;
use sink::Sink;

/// Largest screen we allocate (a 1000x2000 screen is 64 MB of cells).
pub const MAX_ROWS: u16 = 1000;
/// Largest screen width we allocate.
pub const MAX_COLS: u16 = 2000;
/// [`TerminalScreen::process_deferred`] syncs at the latest after this many
/// rows left the screen (or history's capacity, if smaller).
pub const SYNC_ROWS: usize = 65_536;
/// "Erase saved lines": terminals clear their scrollback, we our history.
const CLEAR_SCROLLBACK: &[u8] = b"\x1b[3J";

/// The agent's terminal: live screen (vt100, no scrollback of its own) plus
/// compact [`History`].
pub struct TerminalScreen {
    parser: vt100::Parser<Sink>,
    bytes: u64,
    fast_path: bool,
    /// Bytes of [`CLEAR_SCROLLBACK`] matched at the end of the last feed.
    clear_matched: usize,
    #[cfg(test)]
    stats: fast_path::FastStats,
}

impl fmt::Debug for TerminalScreen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (rows, cols) = self.size();
        f.debug_struct("TerminalScreen")
            .field("rows", &rows)
            .field("cols", &cols)
            .field("history_lines", &self.history().len())
            .field("bytes_processed", &self.bytes)
            .finish()
    }
}

impl TerminalScreen {
    /// A blank screen of `rows` x `cols` (each clamped to 1..=[`MAX_ROWS`] /
    /// [`MAX_COLS`]) keeping up to `history_lines` departed rows.
    pub fn new(rows: u16, cols: u16, history_lines: usize) -> Self {
        let (rows, cols) = clamp_size(rows, cols);
        Self {
            parser: vt100::Parser::new_with_callbacks(rows, cols, 0, Sink::new(history_lines)),
            bytes: 0,
            fast_path: true,
            clear_matched: 0,
            #[cfg(test)]
            stats: fast_path::FastStats::default(),
        }
    }

    /// Feed bytes the agent printed. The screen and history are up to date
    /// when this returns.
    pub fn process(&mut self, bytes: &[u8]) {
        self.process_deferred(bytes);
        self.sync();
    }

    /// Like [`process`](Self::process), but work for plain-text floods may be
    /// left pending: [`screen`](Self::screen) and [`history`](Self::history)
    /// then show a consistent snapshot from a little earlier (at most
    /// [`SYNC_ROWS`] rows or 512 KiB behind) until [`sync`](Self::sync) is
    /// called or the output stops being plain text. A reader that is about
    /// to wait for more output should call `sync`; one that already has more
    /// to feed need not, which saves redrawing the vt100 screen per chunk.
    pub fn process_deferred(&mut self, bytes: &[u8]) {
        self.bytes += bytes.len() as u64;
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.parser.callbacks().mirror.is_some() {
                let used = self.fast_segment(rest);
                if used > 0 {
                    rest = &rest[used..];
                    continue;
                }
                // The next byte is not plain text.
                self.leave_fast();
            }
            // Ordinary processing up to the end of the line, then see whether
            // what follows can use the fast path.
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                self.feed_general(rest);
                break;
            };
            self.feed_general(&rest[..=nl]);
            rest = &rest[nl + 1..];
            if self.fast_path {
                let used = self.try_enter_fast(rest);
                rest = &rest[used..];
            }
        }
    }

    /// True when [`process_deferred`](Self::process_deferred) left work
    /// pending (the screen and history lag behind).
    pub fn has_pending(&self) -> bool {
        self.parser
            .callbacks()
            .mirror
            .as_ref()
            .is_some_and(Mirror::has_pending)
    }

    /// Bring the screen and history up to date with everything fed so far.
    pub fn sync(&mut self) {
        self.catch_up();
    }

    /// Resize the screen. Rows pushed off the top by a shrink go to history.
    pub fn resize(&mut self, rows: u16, cols: u16) {
        self.leave_fast();
        let (rows, cols) = clamp_size(rows, cols);
        let grows = rows > self.parser.screen().size().0;
        if grows && !self.parser.screen().alternate_screen() {
            // vt100 counts the rows that scrolled off and, on a grow, would
            // put that many blank rows at the top (they went to our history,
            // not to a vt100 scrollback it could pull them back from; a
            // later shrink would then push the blanks into history). Erasing
            // its (empty) saved lines resets the count, so the new rows are
            // added at the bottom. Fed to vt100 directly: our history stays.
            self.parser.process(CLEAR_SCROLLBACK);
        }
        self.parser.set_size(rows, cols);
    }

    /// The live screen (vt100 with no scrollback of its own).
    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// `(rows, cols)` of the live screen.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.parser.screen().size();
        (rows.get(), cols.get())
    }

    /// Rows that scrolled off the top of the main screen, oldest first.
    pub fn history(&self) -> &History {
        &self.parser.callbacks().history
    }

    /// The last `n` lines: history, then the screen's rows with trailing blank
    /// rows dropped; each line right-trimmed.
    pub fn tail_text(&self, n: usize) -> Vec<String> {
        let screen = self.parser.screen();
        let (_, cols) = screen.size();
        let mut rows: Vec<String> = screen
            .rows(0, cols.get())
            .map(|mut row| {
                row.truncate(row.trim_end().len());
                row
            })
            .collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        let from_screen = rows.len().min(n);
        let history = self.history();
        let from_history = (n - from_screen).min(history.len());
        let mut out = Vec::with_capacity(from_history + from_screen);
        out.extend(
            history
                .iter()
                .skip(history.len() - from_history)
                .map(|line| line.text().trim_end().to_owned()),
        );
        out.extend(rows.drain(rows.len() - from_screen..));
        out
    }

    /// Replace the screen with a blank one of the same size, keeping the
    /// history (used to recover from a parser panic).
    pub fn reset_keeping_history(&mut self) {
        let (rows, cols) = self.size();
        let (rows, cols) = clamp_size(rows, cols);
        let mut sink = Sink::new(0);
        let old = self.parser.callbacks_mut();
        sink.history = std::mem::take(&mut old.history);
        sink.replies.carry_over(&mut old.replies);
        sink.keyboard = std::mem::take(&mut old.keyboard);
        self.parser = vt100::Parser::new_with_callbacks(rows, cols, 0, sink);
    }

    /// Answers to the agent's terminal queries (cursor position, device
    /// status and attributes, colours; see `replies`) to write back to its
    /// PTY, oldest first, or `None` when nothing was asked since the last
    /// call. Answers are produced as the queries are fed, whether or not
    /// anyone is watching; the caller drains them after each feed.
    pub fn take_replies(&mut self) -> Option<Vec<u8>> {
        self.parser.callbacks_mut().replies.take()
    }

    /// The keyboard modes the agent asked for, as they apply to the screen
    /// it shows now (the kitty protocol keeps one stack per screen).
    pub fn keyboard_modes(&self) -> KeyboardModes {
        let alternate = self.parser.screen().alternate_screen();
        self.parser.callbacks().keyboard.modes(alternate)
    }

    /// The colours reported to `OSC 10/11 ; ?` (a dark theme by default).
    pub fn colours(&self) -> TermColours {
        self.parser.callbacks().replies.colours()
    }

    /// Report these colours from now on (e.g. the operator's theme).
    pub fn set_colours(&mut self, colours: TermColours) {
        self.parser.callbacks_mut().replies.set_colours(colours);
    }

    /// Total bytes fed to [`process`](Self::process) and
    /// [`process_deferred`](Self::process_deferred).
    pub fn bytes_processed(&self) -> u64 {
        self.bytes
    }

    /// Disable the plain-text fast path (tests compare both paths).
    #[cfg(test)]
    fn without_fast_path(mut self) -> Self {
        self.fast_path = false;
        self
    }

    /// Feed vt100 outside fast mode, clearing history where the output asks
    /// terminals to erase their scrollback (`ESC [ 3 J`, as agents do when
    /// they clear or redraw everything; without it a redraw would leave a
    /// second copy in history).
    fn feed_general(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let mut cut = None;
            for (i, &b) in bytes.iter().enumerate() {
                if replies::STRING_ENDS.contains(&b) {
                    cut = Some(Cut::StringEnd(i));
                    self.clear_matched = 0;
                    break;
                }
                if b == CLEAR_SCROLLBACK[self.clear_matched] {
                    self.clear_matched += 1;
                    if self.clear_matched == CLEAR_SCROLLBACK.len() {
                        self.clear_matched = 0;
                        cut = Some(Cut::ClearScrollback(i + 1));
                        break;
                    }
                } else {
                    self.clear_matched = usize::from(b == 0x1b);
                }
            }
            match cut {
                Some(Cut::ClearScrollback(end)) => {
                    self.parser.process(&bytes[..end]);
                    // As a terminal does: the alternate screen has no
                    // saved lines to erase.
                    if !self.parser.screen().alternate_screen() {
                        self.parser.callbacks_mut().history.clear();
                    }
                    bytes = &bytes[end..];
                }
                Some(Cut::StringEnd(at)) => {
                    // Fed on its own so that a colour query it ends knows
                    // how it ended (see `replies`).
                    self.parser.process(&bytes[..at]);
                    let replies = &mut self.parser.callbacks_mut().replies;
                    replies.set_string_end(Some(bytes[at]));
                    self.parser.process(&bytes[at..=at]);
                    self.parser.callbacks_mut().replies.set_string_end(None);
                    bytes = &bytes[at + 1..];
                }
                None => {
                    self.parser.process(bytes);
                    break;
                }
            }
        }
    }
}

/// Where [`TerminalScreen::feed_general`] splits its input.
enum Cut {
    /// Just after `ESC [ 3 J`.
    ClearScrollback(usize),
    /// At a byte that may end an OSC string (BEL, CAN, SUB).
    StringEnd(usize),
}

fn clamp_size(rows: u16, cols: u16) -> (NonZeroU16, NonZeroU16) {
    let rows = NonZeroU16::new(rows.clamp(1, MAX_ROWS)).unwrap_or(NonZeroU16::MIN);
    let cols = NonZeroU16::new(cols.clamp(1, MAX_COLS)).unwrap_or(NonZeroU16::MIN);
    (rows, cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::history::HistoryLine;

    /// `"{i}\r\n"` for each `i` in `range`: the lines of a plain flood.
    pub(super) fn numbered(range: std::ops::Range<usize>) -> Vec<u8> {
        range
            .flat_map(|i| format!("{i}\r\n").into_bytes())
            .collect()
    }

    pub(super) fn texts(h: &History) -> Vec<String> {
        h.iter().map(|l| l.text().to_owned()).collect()
    }

    #[test]
    fn plain_lines_scroll_into_history_without_runs() {
        let mut t = TerminalScreen::new(10, 40, 1000);
        for i in 1..=200 {
            t.process(format!("line {i}\r\n").as_bytes());
        }
        // 200 lines and the cursor on a blank bottom row: 191 rows left.
        let h = t.history();
        assert_eq!(h.len(), 191);
        for (i, line) in h.iter().enumerate() {
            assert_eq!(line.text(), format!("line {}", i + 1));
            assert!(line.runs().is_empty());
        }
        assert_eq!(t.screen().contents().lines().next(), Some("line 192"));
        assert_eq!(t.tail_text(3), ["line 198", "line 199", "line 200"]);
        assert_eq!(
            t.bytes_processed(),
            (1..=200)
                .map(|i| format!("line {i}\r\n").len() as u64)
                .sum::<u64>()
        );
    }

    #[test]
    fn history_capacity_is_a_ring() {
        let mut t = TerminalScreen::new(5, 20, 50);
        t.process(&numbered(0..1000));
        let h = t.history();
        assert_eq!(h.len(), 50);
        // 1000 lines, 4 of them still on screen above the blank cursor row.
        assert_eq!(h.get(0).map(HistoryLine::text), Some("946"));
        assert_eq!(h.get(49).map(HistoryLine::text), Some("995"));
    }

    #[test]
    fn alternate_screen_rows_stay_out_of_history() {
        let mut t = TerminalScreen::new(5, 20, 100);
        t.process(b"main\r\n\x1b[?1049h");
        for i in 0..50 {
            t.process(format!("alt {i}\r\n").as_bytes());
        }
        assert!(t.history().is_empty());
        t.process(b"\x1b[?1049l");
        assert_eq!(t.screen().contents().lines().next(), Some("main"));
    }

    #[test]
    fn screen_renders_colour_and_cursor_moves() {
        let mut t = TerminalScreen::new(5, 20, 10);
        t.process(b"junk\r\n\x1b[2J\x1b[H\x1b[31mR\x1b[0m\x1b[3;5HX");
        let s = t.screen();
        let r = s.cell(0, 0).expect("cell");
        assert_eq!(r.contents(), "R");
        assert_eq!(r.fgcolor(), vt100::Color::Idx(1));
        assert_eq!(s.cell(2, 4).map(vt100::Cell::contents), Some("X"));
        assert_eq!(s.cell(1, 0).map(vt100::Cell::contents), Some(""));
    }

    #[test]
    fn history_knows_which_rows_the_terminal_wrapped() {
        // A 25-character line on a 10-column screen fills two rows and
        // wraps into a third; a line exactly as wide as the screen does not
        // wrap. The same on the general path (colour) and the fast path.
        for (name, line) in [
            ("plain", "abcdefghijklmnopqrstuvwxy".to_string()),
            (
                "styled",
                "\x1b[31mabcdefghij\x1b[0mklmnopqrstuvwxy".to_string(),
            ),
        ] {
            for fast in [true, false] {
                let mut t = TerminalScreen::new(4, 10, 100);
                if !fast {
                    t = t.without_fast_path();
                }
                let mut bytes = format!("{line}\r\n0123456789\r\nend\r\n").into_bytes();
                bytes.extend(numbered(0..8));
                t.process(&bytes);
                let rows: Vec<(&str, bool)> = t
                    .history()
                    .iter()
                    .take(5)
                    .map(|l| (l.text(), l.wrapped()))
                    .collect();
                assert_eq!(
                    rows,
                    [
                        ("abcdefghij", true),
                        ("klmnopqrst", true),
                        ("uvwxy", false),
                        ("0123456789", false),
                        ("end", false)
                    ],
                    "{name}, fast path {fast}"
                );
            }
        }
    }

    #[test]
    fn shrinking_pushes_rows_into_history() {
        let mut t = TerminalScreen::new(6, 20, 100);
        t.process(b"a\r\nb\r\nc\r\nd\r\ne\r\nf");
        t.resize(3, 20);
        assert_eq!(texts(t.history()), ["a", "b", "c"]);
        assert_eq!(t.tail_text(10), ["a", "b", "c", "d", "e", "f"]);
    }

    #[test]
    fn growing_the_screen_adds_rows_at_the_bottom_and_no_blank_history() {
        let mut t = TerminalScreen::new(5, 10, 100);
        for i in 1..=20 {
            t.process(format!("line{i}\r\n").as_bytes());
        }
        t.resize(8, 10);
        let rows: Vec<String> = t.screen().rows(0, 10).collect();
        assert_eq!(rows[0], "line17", "{rows:?}");
        t.resize(5, 10);
        let history: Vec<&str> = t.history().iter().map(|l| l.text()).collect();
        assert!(
            history.iter().all(|l| !l.is_empty()),
            "blank rows in history: {history:?}"
        );
    }

    #[test]
    fn erase_saved_lines_on_the_alternate_screen_keeps_history() {
        let mut t = TerminalScreen::new(3, 10, 100);
        t.process(b"a\r\nb\r\nc\r\nd\r\n");
        let before = t.history().len();
        assert!(before > 0);
        t.process(b"\x1b[?1049h\x1b[3J\x1b[?1049l");
        assert_eq!(t.history().len(), before);
    }

    #[test]
    fn erase_saved_lines_clears_history() {
        let mut t = TerminalScreen::new(3, 20, 100);
        t.process(b"a\r\nb\r\nc\r\nd\r\n");
        assert_eq!(texts(t.history()), ["a", "b"]);
        // Split across feeds, as a PTY read may split it.
        t.process(b"\x1b[2J\x1b[");
        t.process(b"3J\x1b[Hx\r\ny\r\nz\r\n");
        assert_eq!(texts(t.history()), ["x"]);
        t.process(b"\x1b[3Q\x1b\x1b[3J");
        assert!(t.history().is_empty());
    }

    #[test]
    fn reset_keeps_history() {
        let mut t = TerminalScreen::new(2, 10, 10);
        t.process(b"a\r\nb\r\nc");
        t.reset_keeping_history();
        assert_eq!(texts(t.history()), ["a"]);
        assert_eq!(t.size(), (2, 10));
        assert_eq!(t.tail_text(5), ["a"]);
    }

    #[test]
    fn tail_text_drops_trailing_blank_rows() {
        let mut t = TerminalScreen::new(10, 20, 10);
        t.process(b"one   \r\ntwo\r\n");
        assert_eq!(t.tail_text(5), ["one", "two"]);
        assert_eq!(t.tail_text(1), ["two"]);
        assert!(t.tail_text(0).is_empty());
    }
}
