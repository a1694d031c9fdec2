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
//! ## The plain-text fast path
//!
//! The only way vt100 lets us read a departing row is
//! `RowContents::write_formatted_basic`, which walks every cell of the row:
//! about 1 µs for a 200-column row. An agent flooding plain lines (a build
//! log, `cat` of a big file) would then parse at ~7 MB/s, far below what a PTY
//! delivers (~20 MB/s), and even vt100 without any capture (~36 MB/s) costs
//! noticeable time per line.
//!
//! So for *plain text* — printable ASCII, CR, LF, TAB and BS — we mirror what
//! vt100 would do ourselves. Plain text can only write default-styled ASCII
//! cells at the cursor and move the cursor, so when the terminal is in a known
//! simple state (main screen, default pen, cursor on the bottom row of a
//! full-height scroll region, parser in its ground state) the effect of plain
//! bytes is fully predictable:
//!
//! * the `Mirror` keeps the text of the rows it has seen written (those above
//!   the cursor and the cursor row), so departing rows are taken from it
//!   instead of walking cells;
//! * for a long run of plain lines, the rows that will scroll off anyway go
//!   straight to history, and vt100 is only fed the last screenful of the run
//!   (after a short preamble that pushes the stale rows off), which leaves it
//!   in exactly the state the whole run would have;
//! * with [`TerminalScreen::process_deferred`] that catching up ("sync") is
//!   done once per batch of chunks rather than per chunk: the screen and
//!   history then show a consistent snapshot that lags slightly until
//!   [`TerminalScreen::sync`]. The agent's reader syncs at most every 15 ms
//!   while output streams in and always when it stops.
//!
//! Together this ingests `seq`-style floods at a few hundred MB/s.
//!
//! The simple state cannot all be read from vt100 (the scroll region and the
//! parser state are private), so it is *verified by observation*: fast mode is
//! entered only after one plain line, fed normally from a blank bottom row at
//! column 0, produced exactly the predicted row, cursor and single scroll. A
//! consumed character, a missing scroll (scroll region) or a foreign cell
//! shows up as a mismatch. Any non-plain byte leaves fast mode, and every
//! fast-path feed is checked against the cursor and scroll count predicted; a
//! mismatch (which would be a bug) is logged and fast mode is left.
//!
//! The one state difference: vt100 counts how many rows *would* be in an
//! unbounded scrollback and, when the screen is made taller, inserts that many
//! blank rows at the top before adding rows at the bottom. Rows skipped by the
//! fast path are not counted. This only matters when the screen grows by more
//! than the rows counted since (at least two screenfuls in any skipped run).

use std::fmt;
use std::num::NonZeroU16;

use super::history::{History, HistoryLine, StyleRun};

/// Largest screen we allocate (a 1000x2000 screen is 64 MB of cells).
pub const MAX_ROWS: u16 = 1000;
/// Largest screen width we allocate.
pub const MAX_COLS: u16 = 2000;
/// [`TerminalScreen::process_deferred`] syncs at the latest after this many
/// rows left the screen (or history's capacity, if smaller).
pub const SYNC_ROWS: usize = 65_536;
/// ... or once this many bytes wait to be replayed into vt100 (or rows'
/// text waits for history).
const MAX_PENDING_BYTES: usize = 512 * 1024;
/// The fast path models at most this much input per step.
const MAX_SEGMENT: usize = 64 * 1024;
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
    stats: FastStats,
}

/// How the fast path went (tests check it really ran, and never slipped).
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
struct FastStats {
    entered: usize,
    probes_failed: usize,
    replays: usize,
    syncs: usize,
    out_of_step: usize,
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
            stats: FastStats::default(),
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
        let sink = self.parser.callbacks_mut();
        let Some(m) = sink.mirror.as_mut() else {
            return;
        };
        if !m.has_pending() {
            return;
        }
        let replay = std::mem::take(&mut m.replay);
        let prep = m.replay_prep.take();
        let scrolls = std::mem::replace(&mut m.replay_scrolls, 0);
        // Rows that left the screen go to history, in order.
        m.flush_departed(&mut sink.history);
        sink.scroll = ScrollMode::Discard;
        sink.events = 0;
        let expected = match prep {
            Some(prep) => {
                // Push the stale screen off (printing, where known, the last
                // character printed before the replayed part, because REP
                // repeats it), then replay the last screenful from a blank
                // bottom row.
                match prep {
                    Some(c) => self.parser.process(&[b'\r', c, b'\r', b'\n']),
                    None => self.parser.process(b"\r\n"),
                }
                #[cfg(test)]
                {
                    self.stats.replays += 1;
                }
                1 + scrolls
            }
            None => scrolls,
        };
        self.parser.process(&replay);
        if let Some(m) = self.parser.callbacks_mut().mirror.as_mut() {
            // Keep the buffer's allocation for the next round.
            m.replay = replay;
            m.replay.clear();
        }
        #[cfg(test)]
        {
            self.stats.syncs += 1;
        }
        self.check_fast(expected);
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
        sink.history = std::mem::take(&mut self.parser.callbacks_mut().history);
        self.parser = vt100::Parser::new_with_callbacks(rows, cols, 0, sink);
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
                if b == CLEAR_SCROLLBACK[self.clear_matched] {
                    self.clear_matched += 1;
                    if self.clear_matched == CLEAR_SCROLLBACK.len() {
                        self.clear_matched = 0;
                        cut = Some(i + 1);
                        break;
                    }
                } else {
                    self.clear_matched = usize::from(b == 0x1b);
                }
            }
            match cut {
                Some(end) => {
                    self.parser.process(&bytes[..end]);
                    // As a terminal does: the alternate screen has no
                    // saved lines to erase.
                    if !self.parser.screen().alternate_screen() {
                        self.parser.callbacks_mut().history.clear();
                    }
                    bytes = &bytes[end..];
                }
                None => {
                    self.parser.process(bytes);
                    break;
                }
            }
        }
    }

    /// Leave fast mode, first bringing vt100 and history up to date.
    fn leave_fast(&mut self) {
        self.sync();
        self.drop_fast();
    }

    fn drop_fast(&mut self) {
        let sink = self.parser.callbacks_mut();
        sink.mirror = None;
        sink.scroll = ScrollMode::Capture;
    }

    /// Try to enter fast mode on the line at the start of `rest`. Returns the
    /// bytes consumed (the observed line), or 0 when not attempted.
    fn try_enter_fast(&mut self, rest: &[u8]) -> usize {
        let screen = self.parser.screen();
        let (rows, cols) = screen.size();
        let (rows, cols) = (rows.get(), cols.get());
        if rows < 2 || screen.alternate_screen() || screen.cursor_position() != (rows - 1, 0) {
            return 0;
        }
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return 0;
        };
        let line = &rest[..=nl];
        // The probe line must show something: a line of spaces (or nothing)
        // looks the same whether or not vt100 is still inside an escape
        // sequence that swallowed its start.
        if !line.iter().all(|&b| is_plain(b)) || !line.iter().any(|&b| (0x21..=0x7e).contains(&b)) {
            return 0;
        }
        if !pen_is_default(screen) || !row_matches(screen, rows - 1, &[]) {
            return 0;
        }
        let mut mirror = Mirror::new(rows, cols);
        let (used, completions) = mirror.simulate(line, None, None);
        if used != line.len() || completions != 1 {
            // A line that wraps is not a good probe; try a later one.
            return 0;
        }
        let sink = self.parser.callbacks_mut();
        sink.mirror = Some(mirror);
        sink.scroll = ScrollMode::Mirror;
        sink.events = 0;
        sink.alt_events = 0;
        self.parser.process(line);

        let screen = self.parser.screen();
        let sink = self.parser.callbacks();
        let verified = sink.mirror.as_ref().is_some_and(|m| {
            sink.events == 1
                && sink.alt_events == 0
                && screen.cursor_position() == (rows - 1, m.col)
                && m.last_row()
                    .is_some_and(|row| row_matches(screen, rows - 2, row))
                && row_matches(screen, rows - 1, &m.cur)
        });
        if !verified {
            // The departed row was captured the ordinary way (the mirror only
            // knew it as "unknown"), so history is right; just stay slow.
            self.drop_fast();
        }
        #[cfg(test)]
        if verified {
            self.stats.entered += 1;
        } else {
            self.stats.probes_failed += 1;
        }
        line.len()
    }

    /// Handle the plain-text prefix of `rest` in fast mode. Returns the bytes
    /// consumed (0 when `rest` starts with a non-plain byte).
    fn fast_segment(&mut self, rest: &[u8]) -> usize {
        let sink = self.parser.callbacks_mut();
        let Some(m) = sink.mirror.as_mut() else {
            return 0;
        };

        if m.unknown > 0 {
            // Rows from before fast mode are still on screen: feed normally
            // (they are captured as they leave) until they are all gone.
            let limit = m.unknown;
            let (used, completions) = m.simulate(rest, Some(limit), None);
            if used == 0 {
                return 0;
            }
            sink.scroll = ScrollMode::Mirror;
            sink.events = 0;
            self.parser.process(&rest[..used]);
            self.check_fast(completions);
            return used;
        }

        // Every row on screen is known: the mirror queues the departures and
        // vt100 is brought to the same state at the next `sync`.
        let room = SYNC_ROWS.saturating_sub(m.departed()).max(1);
        let text_room = MAX_PENDING_BYTES.max(m.text.len() + 1);
        let rest = &rest[..rest.len().min(MAX_SEGMENT)];
        let (used, completions) = m.simulate(rest, Some(room), Some(text_room));
        if used == 0 {
            return 0;
        }
        m.note_replay(&rest[..used], completions);
        let full = m.departed() >= SYNC_ROWS
            || m.replay.len() >= MAX_PENDING_BYTES
            || m.text.len() >= MAX_PENDING_BYTES;
        if full {
            self.sync();
        }
        used
    }

    /// After a fast-path feed: did vt100 do what the mirror predicted?
    fn check_fast(&mut self, expected_scrolls: usize) {
        let screen = self.parser.screen();
        let sink = self.parser.callbacks();
        let ok = sink.mirror.as_ref().is_some_and(|m| {
            sink.events == expected_scrolls
                && sink.alt_events == 0
                && screen.cursor_position() == (m.rows - 1, m.col)
        });
        if ok {
            return;
        }
        #[cfg(test)]
        {
            self.stats.out_of_step += 1;
        }
        tracing::warn!(
            expected_scrolls,
            scrolls = sink.events,
            cursor = ?screen.cursor_position(),
            "terminal fast path out of step with vt100; history may be off by a few lines"
        );
        self.drop_fast();
    }
}

fn clamp_size(rows: u16, cols: u16) -> (NonZeroU16, NonZeroU16) {
    let rows = NonZeroU16::new(rows.clamp(1, MAX_ROWS)).unwrap_or(NonZeroU16::MIN);
    let cols = NonZeroU16::new(cols.clamp(1, MAX_COLS)).unwrap_or(NonZeroU16::MIN);
    (rows, cols)
}

/// Bytes the fast path understands.
fn is_plain(b: u8) -> bool {
    is_printable(b) || matches!(b, b'\r' | b'\n' | b'\t' | 0x08)
}

fn is_printable(b: u8) -> bool {
    (0x20..=0x7e).contains(&b)
}

fn pen_is_default(screen: &vt100::Screen) -> bool {
    screen.fgcolor() == vt100::Color::Default
        && screen.bgcolor() == vt100::Color::Default
        && !screen.bold()
        && !screen.dim()
        && !screen.italic()
        && !screen.underline()
        && !screen.inverse()
}

fn cell_is_default_style(cell: &vt100::Cell) -> bool {
    cell.fgcolor() == vt100::Color::Default
        && cell.bgcolor() == vt100::Color::Default
        && !cell.bold()
        && !cell.dim()
        && !cell.italic()
        && !cell.underline()
        && !cell.inverse()
        && !cell.is_wide()
        && !cell.is_wide_continuation()
}

/// Does screen row `row` hold exactly the plain ASCII `text` (a space may be a
/// blank cell), default-styled, and nothing else?
fn row_matches(screen: &vt100::Screen, row: u16, text: &[u8]) -> bool {
    let (_, cols) = screen.size();
    (0..cols.get()).all(|col| {
        let Some(cell) = screen.cell(row, col) else {
            return false;
        };
        if !cell_is_default_style(cell) {
            return false;
        }
        let contents = cell.contents();
        match text.get(usize::from(col)) {
            Some(b' ') => contents.is_empty() || contents == " ",
            Some(&b) => contents.as_bytes() == [b],
            None => contents.is_empty(),
        }
    })
}

/// What `on_scroll` does with a departing main-screen row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScrollMode {
    /// Read the row's cells (the general path).
    Capture,
    /// Fast mode, vt100 fed the real bytes: rows the mirror does not know are
    /// read, the others are taken from the mirror.
    Mirror,
    /// Fast mode, the mirror already recorded the departures.
    Discard,
}

/// The parser's callbacks: owns the history and the fast-path mirror.
struct Sink {
    history: History,
    capture: RowCapture,
    scroll: ScrollMode,
    mirror: Option<Mirror>,
    /// Main-screen scroll events since last reset (fast-path checks).
    events: usize,
    /// Alternate-screen scroll events since last reset.
    alt_events: usize,
}

impl Sink {
    fn new(history_lines: usize) -> Self {
        Self {
            history: History::new(history_lines),
            capture: RowCapture::default(),
            scroll: ScrollMode::Capture,
            mirror: None,
            events: 0,
            alt_events: 0,
        }
    }

    /// Read a departing row's cells into history (the general path).
    fn capture_row(&mut self, contents: &vt100::capture::RowContents<'_>) {
        if self.history.capacity() == 0 {
            return;
        }
        self.capture.begin();
        let mut state = vt100::capture::BasicFormattedCaptureState::new();
        // RowCapture never fails, so neither does this.
        let _ = contents.write_formatted_basic(&mut self.capture, &mut state);
        self.history.push(self.capture.finish());
    }
}

impl vt100::Callbacks for Sink {
    fn on_scroll(&mut self, contents: vt100::capture::RowContents<'_>, alternate_screen: bool) {
        if alternate_screen {
            self.alt_events += 1;
            return;
        }
        self.events += 1;
        let handled = match (self.scroll, self.mirror.as_mut()) {
            (ScrollMode::Discard, _) => true,
            (ScrollMode::Mirror, Some(m)) if m.unknown > 0 => {
                m.unknown -= 1;
                false
            }
            (ScrollMode::Mirror, Some(m)) => m.pop_row(&mut self.history),
            _ => false,
        };
        if !handled {
            self.capture_row(&contents);
        }
    }
}

/// Append a mirror row (printable ASCII, so always valid UTF-8).
fn push_plain_row(history: &mut History, row: &[u8]) {
    match std::str::from_utf8(row) {
        Ok(text) => history.push_plain(text),
        Err(_) => history.push_plain(&String::from_utf8_lossy(row)),
    }
}

/// The fast path's model of the bottom of the screen. See the module docs.
///
/// Rows the mirror saw completed are kept back to back in `text` (ending at
/// `ends`), oldest first; those before `first` are done with. Of the rest,
/// the newest `rows - 1 - unknown` are on screen above the cursor row and any
/// older ones have left the screen but wait for the next `sync` to enter
/// history ("departed").
///
/// Invariant between feeds: the cursor is on the bottom row at column `col`,
/// and the bottom row holds exactly `cur` (default-styled ASCII; a space may
/// stand for a blank cell). vt100 is in that state too, except for work
/// queued since the last `sync`: departed rows and `replay` bytes.
#[derive(Debug)]
struct Mirror {
    rows: u16,
    cols: u16,
    /// Rows at the top of the screen from before fast mode (not known).
    unknown: usize,
    text: Vec<u8>,
    ends: Vec<usize>,
    first: usize,
    /// The cursor (bottom) row.
    cur: Vec<u8>,
    /// Cursor column, `0..=cols` (`cols`: the next character wraps).
    col: u16,
    /// Last printable byte modelled.
    last_printed: Option<u8>,
    /// Bytes that bring vt100 up to date: either a continuation of the
    /// synced state (`replay_prep` None) or, after a preamble that pushes
    /// the stale screen off, a replay from a blank bottom row (`replay_prep`
    /// holds the character to print in the preamble, if any).
    replay: Vec<u8>,
    replay_prep: Option<Option<u8>>,
    /// Scrolls `replay` causes in vt100 (preamble not counted).
    replay_scrolls: usize,
    /// Scratch for `simulate`: (offset after an LF taken at column 0, rows
    /// completed up to it, last printable byte before it).
    lf_points: Vec<(usize, usize, Option<u8>)>,
}

impl Mirror {
    /// A mirror for a screen whose bottom row is blank with the cursor at
    /// column 0, the rows above unknown.
    fn new(rows: u16, cols: u16) -> Self {
        Self {
            rows,
            cols,
            unknown: usize::from(rows) - 1,
            text: Vec::new(),
            ends: Vec::new(),
            first: 0,
            cur: Vec::new(),
            col: 0,
            last_printed: None,
            replay: Vec::new(),
            replay_prep: None,
            replay_scrolls: 0,
            lf_points: Vec::new(),
        }
    }

    fn row_start(&self, i: usize) -> usize {
        if i == 0 {
            0
        } else {
            self.ends[i - 1]
        }
    }

    /// The most recently completed row.
    fn last_row(&self) -> Option<&[u8]> {
        let last = self.ends.len().checked_sub(1)?;
        (last >= self.first).then(|| &self.text[self.row_start(last)..self.ends[last]])
    }

    /// Rows that left the screen and wait for `sync`.
    fn departed(&self) -> usize {
        let above = usize::from(self.rows) - 1 - self.unknown;
        (self.ends.len() - self.first).saturating_sub(above)
    }

    fn has_pending(&self) -> bool {
        !self.replay.is_empty() || self.replay_prep.is_some() || self.departed() > 0
    }

    /// vt100 scrolled a known row off (fed the real bytes): into history.
    /// False if the mirror has no row to give (a bug; caller captures).
    fn pop_row(&mut self, history: &mut History) -> bool {
        if self.first >= self.ends.len() {
            return false;
        }
        let row = &self.text[self.row_start(self.first)..self.ends[self.first]];
        push_plain_row(history, row);
        self.first += 1;
        self.compact();
        true
    }

    /// Move departed rows into history, then drop rows no longer needed.
    fn flush_departed(&mut self, history: &mut History) {
        let departed = self.departed();
        let end = self.first + departed;
        // History keeps only its capacity's worth; skip what it would drop.
        let skip = departed.saturating_sub(history.capacity());
        if departed > skip {
            let from = self.row_start(self.first + skip);
            let to = self.row_start(end);
            // One UTF-8 check for the whole block (mirror rows are ASCII, so
            // the lossy fallback never runs, and row ends are char ends).
            let bytes = &self.text[from..to];
            let block = match std::str::from_utf8(bytes) {
                Ok(block) => std::borrow::Cow::Borrowed(block),
                Err(_) => String::from_utf8_lossy(bytes),
            };
            let mut start = 0;
            for &row_end in &self.ends[self.first + skip..end] {
                let len = row_end - from - start;
                history.push_plain(&block[start..start + len]);
                start += len;
            }
        }
        self.first = end;
        self.compact();
    }

    /// Drop finished rows from the front of the arena once they pile up.
    fn compact(&mut self) {
        if self.first < 1024 && self.first * 2 < self.ends.len() {
            return;
        }
        let offset = self.row_start(self.first);
        self.text.drain(..offset);
        self.ends.drain(..self.first);
        for end in &mut self.ends {
            *end -= offset;
        }
        self.first = 0;
    }

    /// Record what vt100 needs to catch up with the segment just simulated.
    fn note_replay(&mut self, seg: &[u8], completions: usize) {
        let needed = usize::from(self.rows) - 1;
        let point = self
            .lf_points
            .iter()
            .rev()
            .find(|&&(_, before, _)| completions - before >= needed)
            .copied();
        match point {
            // Everything visible now was drawn after `start`.
            Some((start, before, prep)) => {
                self.replay.clear();
                self.replay.extend_from_slice(&seg[start..]);
                self.replay_prep = Some(prep);
                self.replay_scrolls = completions - before;
            }
            None => {
                self.replay.extend_from_slice(seg);
                self.replay_scrolls += completions;
            }
        }
    }

    /// Model the plain-text prefix of `bytes`, stopping at the first
    /// non-plain byte, or before completing a row once `limit` rows were
    /// completed or `text` holds `text_limit` bytes.
    ///
    /// Returns (bytes consumed, rows completed) and fills `lf_points`.
    fn simulate(
        &mut self,
        bytes: &[u8],
        limit: Option<usize>,
        text_limit: Option<usize>,
    ) -> (usize, usize) {
        self.lf_points.clear();
        let row_limit = limit.unwrap_or(usize::MAX);
        let text_limit = text_limit.unwrap_or(usize::MAX);
        let full =
            |m: &Self, completions: usize| completions >= row_limit || m.text.len() >= text_limit;
        let mut completions = 0;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if is_printable(b) {
                // A run of printable bytes: copy it in row-sized pieces.
                let end = bytes[i..]
                    .iter()
                    .position(|&c| !is_printable(c))
                    .map_or(bytes.len(), |n| i + n);
                if self.col == 0
                    && self.cur.is_empty()
                    && end - i <= usize::from(self.cols)
                    && bytes.get(end..end + 2) == Some(b"\r\n")
                    && !full(self, completions)
                {
                    // The common case, a whole line "text\r\n" on a fresh
                    // row: it becomes a row as is.
                    self.text.extend_from_slice(&bytes[i..end]);
                    self.ends.push(self.text.len());
                    self.last_printed = Some(bytes[end - 1]);
                    completions += 1;
                    i = end + 2;
                    self.lf_points.push((i, completions, self.last_printed));
                    continue;
                }
                while i < end {
                    if self.col >= self.cols {
                        // vt100 wraps before printing past the last column.
                        if full(self, completions) {
                            return (i, completions);
                        }
                        self.complete_row();
                        completions += 1;
                        self.col = 0;
                    }
                    let take = usize::from(self.cols - self.col).min(end - i);
                    self.write_run(&bytes[i..i + take]);
                    // `take` <= cols - col, so this stays within u16.
                    self.col += take as u16;
                    i += take;
                    self.last_printed = Some(bytes[i - 1]);
                }
                continue;
            }
            match b {
                b'\r' => self.col = 0,
                b'\n' => {
                    if full(self, completions) {
                        break;
                    }
                    // LF keeps the column.
                    self.complete_row();
                    completions += 1;
                    if self.col == 0 {
                        self.lf_points.push((i + 1, completions, self.last_printed));
                    }
                }
                b'\t' => {
                    self.col -= self.col % 8;
                    self.col = self.col.saturating_add(8).min(self.cols - 1);
                }
                0x08 => self.col = self.col.saturating_sub(1),
                _ => break,
            }
            i += 1;
        }
        (i, completions)
    }

    /// Print `run` (printable ASCII, fitting before the right margin) at the
    /// cursor column of the cursor row, over whatever is there.
    fn write_run(&mut self, run: &[u8]) {
        let c = usize::from(self.col);
        if c > self.cur.len() {
            // Cells skipped by CR/TAB/BS/LF moves are blank: spaces as text.
            self.cur.resize(c, b' ');
        }
        let overlap = (self.cur.len() - c).min(run.len());
        self.cur[c..c + overlap].copy_from_slice(&run[..overlap]);
        self.cur.extend_from_slice(&run[overlap..]);
    }

    /// The cursor row moves up (the screen scrolls) and a blank row takes
    /// its place.
    fn complete_row(&mut self) {
        self.text.extend_from_slice(&self.cur);
        self.ends.push(self.text.len());
        self.cur.clear();
    }
}

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
struct RowCapture {
    text: String,
    runs: Vec<StyleRun>,
    col: u16,
    pen: Pen,
    esc: Esc,
    params: [u16; MAX_PARAMS],
    nparams: usize,
    param: u16,
    param_digits: bool,
}

impl RowCapture {
    fn begin(&mut self) {
        self.text.clear();
        self.runs.clear();
        self.col = 0;
        self.pen = Pen::default();
        self.esc = Esc::Text;
    }

    fn finish(&self) -> HistoryLine {
        HistoryLine::new(self.text.as_str(), self.runs.as_slice())
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
                match rest.find('\x1b') {
                    None => {
                        self.cell(rest);
                        return Ok(());
                    }
                    Some(0) => {
                        self.esc = Esc::Escape;
                        rest = &rest[1..];
                    }
                    Some(i) => {
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
            (Esc::Text, '\x1b') => self.esc = Esc::Escape,
            (Esc::Text, _) => self.cell(c.encode_utf8(&mut [0; 4])),
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
    use super::*;

    fn texts(h: &History) -> Vec<String> {
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
    fn history_capacity_is_a_ring() {
        let mut t = TerminalScreen::new(5, 20, 50);
        let mut all = String::new();
        for i in 0..1000 {
            all.push_str(&format!("{i}\r\n"));
        }
        t.process(all.as_bytes());
        let h = t.history();
        assert_eq!(h.len(), 50);
        // 1000 lines, 4 of them still on screen above the blank cursor row.
        assert_eq!(h.get(0).map(HistoryLine::text), Some("946"));
        assert_eq!(h.get(49).map(HistoryLine::text), Some("995"));
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
    fn fast_path_is_not_fooled_by_a_line_of_spaces_after_a_stray_escape() {
        let mut fast = TerminalScreen::new(4, 10, 100);
        let input = b"\n\n\x1b\n \r\nC\n\r\n\n\n";
        fast.process(input);
        let (r, c) = clamp_size(4, 10);
        let mut plain = vt100::Parser::new(r, c, 1000);
        plain.process(input);
        assert_eq!(fast.screen().contents(), plain.screen().contents());
        let history: Vec<&str> = fast.history().iter().map(|l| l.text()).collect();
        assert!(!history.contains(&"C"), "{history:?}");
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

    #[test]
    fn fast_path_enters_on_plain_floods() {
        let mut t = TerminalScreen::new(10, 40, 10_000);
        let mut all = String::new();
        for i in 0..5000 {
            all.push_str(&format!("{i}\r\n"));
        }
        t.process(all.as_bytes());
        assert!(t.parser.callbacks().mirror.is_some());
        assert_eq!(t.history().len(), 4991);
        assert_eq!(t.history().get(4990).map(HistoryLine::text), Some("4990"));
    }

    #[test]
    fn deferred_work_is_bounded_and_consistent() {
        let mut t = TerminalScreen::new(10, 40, 10_000);
        let mut all = String::new();
        for i in 0..20_000 {
            all.push_str(&format!("{i}\r\n"));
        }
        t.process_deferred(all.as_bytes());
        assert!(t.has_pending());
        // The snapshot is consistent (the screen continues where history
        // ends) and at most SYNC_ROWS rows behind.
        let last = t
            .history()
            .iter()
            .last()
            .map(|l| l.text().to_owned())
            .expect("line");
        let first_on_screen = t
            .screen()
            .contents()
            .lines()
            .next()
            .map(str::to_owned)
            .expect("row");
        let n: usize = last.parse().expect("number");
        assert_eq!(first_on_screen, (n + 1).to_string());
        assert!(n + SYNC_ROWS + 10 >= 20_000, "{n}");
        t.sync();
        assert!(!t.has_pending());
        assert_eq!(t.history().len(), 10_000);
        assert_eq!(t.history().get(9_999).map(HistoryLine::text), Some("19990"));
        assert_eq!(t.tail_text(1), ["19999"]);
    }

    #[test]
    fn deferred_state_stays_bounded_on_odd_floods() {
        let cols = 200usize;
        let mut floods: Vec<Vec<u8>> = vec![
            b"\r".repeat(2 << 20),
            b"x".repeat(2 << 20),
            b"\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\tx\n".repeat(60_000),
        ];
        floods.push(
            (0..400_000)
                .flat_map(|i| format!("{i}\r\n").into_bytes())
                .collect(),
        );
        // Fast mode starts once the cursor sits on the bottom row.
        let start: Vec<u8> = (0..60)
            .flat_map(|i| format!("l{i}\r\n").into_bytes())
            .collect();
        for flood in floods {
            let mut t = TerminalScreen::new(50, cols as u16, 1000);
            t.process(&start);
            for chunk in flood.chunks(1 << 20) {
                t.process_deferred(chunk);
                let m = t.parser.callbacks().mirror.as_ref().expect("fast mode");
                assert!(m.text.len() <= MAX_PENDING_BYTES + cols, "{}", m.text.len());
                assert!(m.ends.len() <= SYNC_ROWS + 50);
                assert!(m.replay.len() <= MAX_PENDING_BYTES + MAX_SEGMENT);
            }
            t.sync();
            let mut slow = TerminalScreen::new(50, cols as u16, 1000).without_fast_path();
            slow.process(&start);
            slow.process(&flood);
            assert_eq!(
                t.screen().contents_formatted(),
                slow.screen().contents_formatted()
            );
            assert_eq!(texts(t.history()), texts(slow.history()));
        }
    }

    #[test]
    fn fast_path_steps_aside_for_a_scroll_region() {
        // Scroll region rows 1-8 of 10: LFs at the bottom row move nothing.
        let mut t = TerminalScreen::new(10, 20, 100);
        t.process(b"\x1b[2;8r\x1b[10;1H");
        t.process(b"\r\n");
        let mut reference = TerminalScreen::new(10, 20, 100).without_fast_path();
        reference.process(b"\x1b[2;8r\x1b[10;1H\r\n");
        for i in 0..100 {
            let line = format!("x{i}\r\n");
            t.process(line.as_bytes());
            reference.process(line.as_bytes());
        }
        assert!(t.parser.callbacks().mirror.is_none());
        assert_eq!(
            t.screen().contents_formatted(),
            reference.screen().contents_formatted()
        );
        assert_eq!(texts(t.history()), texts(reference.history()));
    }

    #[test]
    fn fast_path_waits_for_a_pending_escape_sequence() {
        // An OSC title left open swallows the next "line"; the probe must not
        // be fooled.
        let mut t = TerminalScreen::new(4, 20, 100);
        let mut reference = TerminalScreen::new(4, 20, 100).without_fast_path();
        let input: &[&[u8]] = &[
            b"a\r\n\r\n\r\n\r\n",
            b"\x1b]0;title\r\n",
            b"hidden\r\n",
            b"\x07",
            b"1\r\n2\r\n",
        ];
        for piece in input {
            t.process(piece);
            reference.process(piece);
        }
        assert_eq!(
            t.screen().contents_formatted(),
            reference.screen().contents_formatted()
        );
        assert_eq!(texts(t.history()), texts(reference.history()));
    }

    /// Deterministic xorshift for the differential test.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn random_stream(rng: &mut Rng, len: usize, cols: u16) -> Vec<u8> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            match rng.below(100) {
                // Mostly plain lines of assorted lengths (some wrap).
                0..=59 => {
                    let n = match rng.below(10) {
                        0 => usize::from(cols) + rng.below(u64::from(cols) * 2) as usize,
                        1 => usize::from(cols),
                        _ => rng.below(30) as usize,
                    };
                    for _ in 0..n {
                        out.push(b'!' + rng.below(94) as u8);
                    }
                    out.extend_from_slice(if rng.below(8) == 0 { b"\n" } else { b"\r\n" });
                }
                60..=64 => out.extend_from_slice(b"abc\rX"),
                65..=67 => out.push(b'\t'),
                68..=69 => out.push(0x08),
                70..=71 => out.extend_from_slice(b"  spaced  "),
                72..=74 => out.extend_from_slice(b"\x1b[33mcol\x1b[0m"),
                75..=76 => out.extend_from_slice(b"\x1b[2A"),
                77 => out.extend_from_slice(b"\x1b[K"),
                78 => out.extend_from_slice("\u{4e2d}\u{1f600}".as_bytes()),
                79 => out.extend_from_slice(b"\x1b[3b"),
                80 => out.extend_from_slice(b"\x1b[1;3r"),
                81 => out.extend_from_slice(b"\x1b[r"),
                82 => out.extend_from_slice(b"\x1b[?1049h"),
                83 => out.extend_from_slice(b"\x1b[?1049l"),
                84 => out.extend_from_slice(b"\x1b]0;t"),
                85 => out.push(0x07),
                86 => out.extend_from_slice(b"\x1b[44m"),
                87 => out.extend_from_slice(b"\x1b[m"),
                88 => out.push(0x1b),
                89 => out.extend_from_slice(&[0xe4, 0xb8]),
                90 => out.extend_from_slice(b"\x1b[H\x1b[2J"),
                91 => out.extend_from_slice(b"\x1bM\x1b[5;1H"),
                92 => out.extend_from_slice(b"\x1b7\x1b[2;3Hxy\x1b8"),
                93 => out.extend_from_slice(b"\x1b[2S\x1b[L"),
                _ => {
                    for _ in 0..rng.below(300) {
                        out.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        out
    }

    /// Run the same bytes, cut at random points, through the fast path and
    /// through plain vt100 capture; everything observable must agree.
    #[test]
    fn fast_path_matches_plain_processing() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut stats = Vec::new();
        for round in 0..60 {
            let rows = 2 + rng.below(12) as u16;
            let cols = 4 + rng.below(40) as u16;
            let data = random_stream(&mut rng, 20_000, cols);
            let mut fast = TerminalScreen::new(rows, cols, 5000);
            let mut slow = TerminalScreen::new(rows, cols, 5000).without_fast_path();
            let mut pos = 0;
            while pos < data.len() {
                let n = (1 + rng.below(3000) as usize).min(data.len() - pos);
                // Half the rounds feed deferred, syncing now and then.
                if round % 2 == 0 {
                    fast.process(&data[pos..pos + n]);
                } else {
                    fast.process_deferred(&data[pos..pos + n]);
                }
                slow.process(&data[pos..pos + n]);
                pos += n;
                // REP repeats the last printed character: checks that state.
                if rng.below(20) == 0 {
                    fast.process(b"\x1b[b");
                    slow.process(b"\x1b[b");
                }
                if rng.below(40) == 0 {
                    let r = 2 + rng.below(12) as u16;
                    let c = 4 + rng.below(40) as u16;
                    fast.resize(r, c);
                    slow.resize(r, c);
                }
                if round % 2 == 1 && rng.below(3) != 0 {
                    continue;
                }
                fast.sync();
                assert!(!fast.has_pending());
                assert_eq!(
                    fast.screen().contents_formatted(),
                    slow.screen().contents_formatted(),
                    "round {round} at {pos} ({rows}x{cols})"
                );
                assert_eq!(
                    fast.screen().cursor_position(),
                    slow.screen().cursor_position()
                );
            }
            fast.sync();
            assert_eq!(fast.stats.out_of_step, 0, "round {round}");
            stats.push(fast.stats);
            assert_eq!(fast.history().len(), slow.history().len(), "round {round}");
            for (i, (a, b)) in fast.history().iter().zip(slow.history().iter()).enumerate() {
                assert_eq!(a, b, "round {round} line {i}");
            }
        }
        // The fast path must really have been exercised, failed probes too.
        let sum = |f: fn(&FastStats) -> usize| stats.iter().map(f).sum::<usize>();
        assert!(sum(|s| s.entered) > 100);
        assert!(sum(|s| s.probes_failed) > 0);
        assert!(sum(|s| s.replays) > 50);
        assert!(sum(|s| s.syncs) > 100);
    }

    /// Plain floods (the fast path's main case), many chunkings.
    #[test]
    fn fast_path_matches_on_plain_floods() {
        let mut rng = Rng(42);
        for round in 0..40 {
            let rows = 2 + rng.below(8) as u16;
            let cols = 2 + rng.below(30) as u16;
            let mut data = Vec::new();
            for i in 0..3000 {
                let line = format!("{}", i * (1 + rng.below(1000)));
                data.extend_from_slice(line.as_bytes());
                data.extend_from_slice(match rng.below(20) {
                    0 => b"\n",
                    1 => b"\r",
                    2 => b"\t",
                    _ => b"\r\n",
                });
            }
            let mut fast = TerminalScreen::new(rows, cols, 100_000);
            let mut slow = TerminalScreen::new(rows, cols, 100_000).without_fast_path();
            for chunk in data.chunks(1 + rng.below(5000) as usize) {
                fast.process(chunk);
                slow.process(chunk);
                assert_eq!(
                    fast.screen().contents_formatted(),
                    slow.screen().contents_formatted()
                );
            }
            assert_eq!(
                texts(fast.history()),
                texts(slow.history()),
                "round {round}"
            );
            assert_eq!(fast.stats.out_of_step, 0);
            assert!(fast.stats.entered > 0);
        }
    }
}
