//! The plain-text fast path of [`TerminalScreen`].
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
//! Any other byte leaves fast mode after a sync, so everything that is not
//! plain text (a terminal query among it) reaches vt100 with the screen
//! exactly as all earlier bytes left it.
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

use super::sink::ScrollMode;
use super::{TerminalScreen, SYNC_ROWS};
use crate::agent::history::History;

/// Fast mode also syncs once this many bytes wait to be replayed into vt100
/// (or rows' text waits for history).
const MAX_PENDING_BYTES: usize = 512 * 1024;
/// The fast path models at most this much input per step.
const MAX_SEGMENT: usize = 64 * 1024;

/// How the fast path went (tests check it really ran, and never slipped).
#[cfg(test)]
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct FastStats {
    pub(super) entered: usize,
    pub(super) probes_failed: usize,
    pub(super) replays: usize,
    pub(super) syncs: usize,
    pub(super) out_of_step: usize,
}

impl TerminalScreen {
    /// Replay what fast mode left pending (see [`TerminalScreen::sync`]).
    pub(super) fn catch_up(&mut self) {
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

    /// Leave fast mode, first bringing vt100 and history up to date.
    pub(super) fn leave_fast(&mut self) {
        self.sync();
        self.drop_fast();
    }

    pub(super) fn drop_fast(&mut self) {
        let sink = self.parser.callbacks_mut();
        sink.mirror = None;
        sink.scroll = ScrollMode::Capture;
    }

    /// Try to enter fast mode on the line at the start of `rest`. Returns the
    /// bytes consumed (the observed line), or 0 when not attempted.
    pub(super) fn try_enter_fast(&mut self, rest: &[u8]) -> usize {
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
    pub(super) fn fast_segment(&mut self, rest: &[u8]) -> usize {
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

/// Append a mirror row (printable ASCII, so always valid UTF-8).
fn push_plain_row(history: &mut History, row: &[u8], wrapped: bool) {
    match std::str::from_utf8(row) {
        Ok(text) => history.push_plain(text, wrapped),
        Err(_) => history.push_plain(&String::from_utf8_lossy(row), wrapped),
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
pub(super) struct Mirror {
    rows: u16,
    cols: u16,
    /// Rows at the top of the screen from before fast mode (not known).
    pub(super) unknown: usize,
    text: Vec<u8>,
    ends: Vec<usize>,
    /// For each row in `ends`: it was completed by wrapping at the right
    /// edge (the line goes on in the next row), not by a line feed.
    wraps: Vec<bool>,
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
            wraps: Vec::new(),
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

    pub(super) fn has_pending(&self) -> bool {
        !self.replay.is_empty() || self.replay_prep.is_some() || self.departed() > 0
    }

    /// vt100 scrolled a known row off (fed the real bytes): into history.
    /// False if the mirror has no row to give (a bug; caller captures).
    pub(super) fn pop_row(&mut self, history: &mut History) -> bool {
        if self.first >= self.ends.len() {
            return false;
        }
        let row = &self.text[self.row_start(self.first)..self.ends[self.first]];
        push_plain_row(history, row, self.wraps[self.first]);
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
            let rows = self.first + skip..end;
            for (&row_end, &wrapped) in self.ends[rows.clone()].iter().zip(&self.wraps[rows]) {
                let len = row_end - from - start;
                history.push_plain(&block[start..start + len], wrapped);
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
        self.wraps.drain(..self.first);
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
                    self.wraps.push(false);
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
                        // vt100 marks the row wrapped only when its last
                        // cell was written (not after a line feed left the
                        // column past the edge of a fresh row).
                        let wrapped = self.cur.len() >= usize::from(self.cols);
                        self.complete_row(wrapped);
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
                    self.complete_row(false);
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
    /// its place; `wrapped` when the line goes on in the new row.
    fn complete_row(&mut self, wrapped: bool) {
        self.text.extend_from_slice(&self.cur);
        self.ends.push(self.text.len());
        self.wraps.push(wrapped);
        self.cur.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::clamp_size;
    use super::super::tests::{numbered, texts};
    use super::*;
    use crate::agent::history::HistoryLine;

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
    fn fast_path_enters_on_plain_floods() {
        let mut t = TerminalScreen::new(10, 40, 10_000);
        let all = numbered(0..5000);
        t.process(&all);
        assert!(t.parser.callbacks().mirror.is_some());
        assert_eq!(t.history().len(), 4991);
        assert_eq!(t.history().get(4990).map(HistoryLine::text), Some("4990"));
    }

    #[test]
    fn deferred_work_is_bounded_and_consistent() {
        let mut t = TerminalScreen::new(10, 40, 10_000);
        let all = numbered(0..20_000);
        t.process_deferred(&all);
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
