//! The output tap: every byte the agent prints, for clients that attach
//! while it runs, and the full repaint they start from.
//!
//! The reader publishes each piece of output to a bounded broadcast right
//! after the screen took it, under the screen lock; a subscriber takes its
//! repaint and its receiver under the same lock. So every byte is either
//! already in the repaint or in the stream, never both, never neither. A
//! subscriber that falls more than [`TAP_CAPACITY`] pieces behind loses the
//! oldest and learns it (`RecvError::Lagged`): it should subscribe again for
//! a fresh repaint. The reader never waits for anyone.
//!
//! A piece may end in the middle of an escape sequence or a UTF-8
//! character, and the screen's parser is then mid-sequence too. The tap
//! keeps those unfinished bytes ([`SequenceTail`]) and appends them to the
//! repaint, so the subscriber's parser is in the same state when the stream
//! continues the sequence.

use std::sync::Arc;

use tokio::sync::broadcast;

/// Pieces of output held for subscribers at most (each up to the reader's
/// slice, 16 KiB; no subscriber, nothing held).
pub const TAP_CAPACITY: usize = 64;

/// Longest unfinished sequence kept for a repaint. Longer ones are string
/// payloads (a title, a clipboard copy) that do not change the screen grid:
/// their start is kept, so the subscriber's parser is still inside a string
/// when the rest of it arrives.
const MAX_TAIL: usize = 4096;

/// What a subscriber receives after its repaint, in the agent's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TapItem {
    /// Bytes the agent printed.
    Output(Arc<[u8]>),
    /// The terminal was resized (the bytes that follow are drawn for the
    /// new size). Resize the way `TerminalScreen::resize` does.
    Resized {
        /// New height.
        rows: u16,
        /// New width.
        cols: u16,
    },
}

/// A client's start: a terminal of `rows` x `cols`, `repaint` fed to it,
/// then everything from `stream`. The stream closes once the agent has
/// exited and all its output was sent.
#[derive(Debug)]
pub struct OutputSubscription {
    /// Terminal height when the repaint was taken.
    pub rows: u16,
    /// Terminal width when the repaint was taken.
    pub cols: u16,
    /// Escape sequences that turn a blank terminal of that size into the
    /// agent's screen: contents, colours, cursor, input modes (vt100's
    /// `state_formatted`), the alternate screen if it is on, and any
    /// sequence the agent left unfinished. Not carried: the main screen
    /// behind an alternate one, scroll regions, a saved cursor, the window
    /// title (vt100 does not expose them).
    pub repaint: Vec<u8>,
    /// Output after the repaint.
    pub stream: broadcast::Receiver<TapItem>,
}

/// The sending side, owned by the agent. Lock it only while holding the
/// agent's screen lock (see the module comment).
#[derive(Debug)]
pub(super) struct OutputTap {
    /// `None` once the agent is finished: receivers then see `Closed`.
    tx: Option<broadcast::Sender<TapItem>>,
    tail: SequenceTail,
}

impl OutputTap {
    pub(super) fn new() -> OutputTap {
        OutputTap {
            tx: Some(broadcast::channel(TAP_CAPACITY).0),
            tail: SequenceTail::default(),
        }
    }

    /// `bytes` were just fed to the screen.
    pub(super) fn publish(&mut self, bytes: &[u8]) {
        self.tail.feed(bytes);
        self.send(|| TapItem::Output(Arc::from(bytes)));
    }

    /// The screen was just resized.
    pub(super) fn resized(&self, rows: u16, cols: u16) {
        self.send(|| TapItem::Resized { rows, cols });
    }

    fn send(&self, item: impl FnOnce() -> TapItem) {
        if let Some(tx) = self.tx.as_ref().filter(|tx| tx.receiver_count() > 0) {
            // Only fails when the last receiver just went: nobody to tell.
            let _ = tx.send(item());
        }
    }

    /// A subscription starting from `screen`, which must be up to date with
    /// everything published (synced).
    pub(super) fn subscribe(&self, screen: &vt100::Screen) -> OutputSubscription {
        let (rows, cols) = screen.size();
        let repaint = match crate::panic_guard::catch(|| repaint(screen, self.tail.bytes())) {
            Ok(bytes) => bytes,
            Err(_) => {
                tracing::error!(
                    "taking a repaint of an agent's screen panicked; sending a blank one"
                );
                BLANK.to_vec()
            }
        };
        let stream = match &self.tx {
            Some(tx) => tx.subscribe(),
            // Finished: a stream that is already closed.
            None => broadcast::channel(1).1,
        };
        OutputSubscription {
            rows: rows.get(),
            cols: cols.get(),
            repaint,
            stream,
        }
    }

    /// No more output: receivers see `Closed` after what they have.
    pub(super) fn close(&mut self) {
        self.tx = None;
    }
}

/// Attributes off, cursor home, screen cleared.
const BLANK: &[u8] = b"\x1b[m\x1b[H\x1b[2J";

fn repaint(screen: &vt100::Screen, tail: &[u8]) -> Vec<u8> {
    let state = screen.state_formatted();
    let mut out = Vec::with_capacity(state.len() + tail.len() + 8);
    if screen.alternate_screen() {
        out.extend_from_slice(b"\x1b[?1049h");
    }
    out.extend_from_slice(state.as_bytes());
    out.extend_from_slice(tail);
    out
}

const ESC: u8 = 0x1b;

/// Where the byte stream stands between two pieces: in plain text, or
/// inside a sequence whose bytes so far are kept.
#[derive(Debug, Default)]
struct SequenceTail {
    state: Seq,
    bytes: Vec<u8>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Seq {
    #[default]
    Ground,
    /// A UTF-8 character with this many continuation bytes to come.
    Utf8(u8),
    /// After ESC (and any intermediates).
    Escape,
    /// A control sequence (`ESC [`): parameters until a final byte.
    Csi,
    /// An operating-system command (`ESC ]`): until BEL or ST.
    Osc,
    /// A device control string or SOS/PM/APC: until ST.
    Dcs,
}

impl SequenceTail {
    /// The unfinished sequence's bytes (empty in plain text).
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Follow the stream over `piece`. Cheap on plain text: an escape
    /// always starts a new sequence, so only the bytes from the last ESC
    /// matter, and after that sequence only a possible split character in
    /// the last three bytes.
    fn feed(&mut self, piece: &[u8]) {
        let mut i = match memchr::memrchr(ESC, piece) {
            Some(esc) => {
                self.settle();
                esc
            }
            None if self.state == Seq::Ground => piece.len().saturating_sub(3),
            None => 0,
        };
        while i < piece.len() {
            self.step(piece[i]);
            i += 1;
            if self.state == Seq::Ground {
                // No ESC after this: the rest is text.
                i = i.max(piece.len().saturating_sub(3));
            }
        }
    }

    fn settle(&mut self) {
        self.state = Seq::Ground;
        self.bytes.clear();
    }

    fn keep(&mut self, b: u8) {
        if self.bytes.len() < MAX_TAIL {
            self.bytes.push(b);
        }
    }

    fn step(&mut self, b: u8) {
        match (self.state, b) {
            // ESC starts a sequence from anywhere (ST is ESC + '\', an
            // escape sequence of its own). CAN and SUB cancel one.
            (_, ESC) => {
                self.settle();
                self.state = Seq::Escape;
                self.keep(b);
            }
            (_, 0x18 | 0x1a) => self.settle(),
            (Seq::Ground, _) => self.start_text(b),
            (Seq::Utf8(left), 0x80..=0xbf) => {
                if left <= 1 {
                    self.settle();
                } else {
                    self.state = Seq::Utf8(left - 1);
                    self.keep(b);
                }
            }
            (Seq::Utf8(_), _) => {
                // A broken character: what follows is read afresh.
                self.settle();
                self.start_text(b);
            }
            (Seq::Osc, 0x07) => self.settle(),
            (Seq::Osc | Seq::Dcs, _) => self.keep(b),
            // Other C0 controls inside a sequence are carried out at once,
            // not part of it: already on the screen, not to be repeated.
            (Seq::Escape | Seq::Csi, 0x00..=0x1f) => {}
            (Seq::Escape, b'[') => self.enter(Seq::Csi, b),
            (Seq::Escape, b']') => self.enter(Seq::Osc, b),
            (Seq::Escape, b'P' | b'X' | b'^' | b'_') => self.enter(Seq::Dcs, b),
            (Seq::Escape, 0x20..=0x2f) | (Seq::Csi, 0x20..=0x3f) => self.keep(b),
            (Seq::Escape | Seq::Csi, 0x7f) => {}
            // A final byte (or one no sequence takes): done.
            (Seq::Escape | Seq::Csi, _) => self.settle(),
        }
    }

    fn enter(&mut self, state: Seq, b: u8) {
        self.state = state;
        self.keep(b);
    }

    fn start_text(&mut self, b: u8) {
        let continuation = match b {
            0xc2..=0xdf => 1,
            0xe0..=0xef => 2,
            0xf0..=0xf4 => 3,
            _ => return,
        };
        self.state = Seq::Utf8(continuation);
        self.keep(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU16;

    fn parser(rows: u16, cols: u16) -> vt100::Parser {
        vt100::Parser::new(
            NonZeroU16::new(rows).expect("rows"),
            NonZeroU16::new(cols).expect("cols"),
            0,
        )
    }

    /// Output that exercises the general parser: colours, cursor moves,
    /// clears, titles, wide and multi-byte characters, scrolling, modes.
    fn busy_output() -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..300u32 {
            let line = match i % 7 {
                0 => format!("\x1b[3{}mline {i}\x1b[0m plain\r\n", i % 8),
                1 => format!("\x1b]0;title {i}\x07\x1b[1;4mbold {i}\x1b[m\r\n"),
                2 => format!("héllo wörld 日本語 {i} ✓\r\n"),
                3 => format!(
                    "\x1b[{};{}H\x1b[48;5;{}mX\x1b[0m\x1b[K",
                    i % 20 + 1,
                    i % 60 + 1,
                    i % 256
                ),
                4 => format!("\x1b[?1h\x1b[?2004h\x1bP+q544e\x1b\\spin {i}\r"),
                5 => format!(
                    "\x1b[2K\x1b[38;2;{};{};{}mrgb\x1b[0m {i}\r\n",
                    i % 256,
                    (i * 3) % 256,
                    (i * 7) % 256
                ),
                _ => format!("\x1b[1;1H\x1b[7mtop {i}\x1b[27m\x1b[24;1H\x1b[?25l\x1b[?25h\r\n"),
            };
            out.extend_from_slice(line.as_bytes());
            if i == 150 {
                out.extend_from_slice(b"\x1b[?1049h\x1b[Halt screen\r\n");
            }
        }
        out
    }

    /// A fresh parser given the repaint at `split`, then the rest, ends up
    /// with the same screen as one that saw every byte.
    #[test]
    fn repaint_at_any_split_plus_the_rest_reproduces_the_screen() {
        let data = busy_output();
        let mut whole = parser(24, 80);
        whole.process(&data);
        let expected = whole.screen().state_formatted();
        // Every split in the first part (all kinds of sequence boundaries),
        // then a spread over the rest.
        let splits = (0..1500).chain((1500..data.len()).step_by(97));
        for split in splits {
            let mut agent = parser(24, 80);
            let mut tail = SequenceTail::default();
            // Fed in uneven pieces, as reads come.
            for piece in data[..split].chunks(61) {
                agent.process(piece);
                tail.feed(piece);
            }
            let mut client = parser(24, 80);
            client.process(&repaint(agent.screen(), tail.bytes()));
            client.process(&data[split..]);
            agent.process(&data[split..]);
            assert_eq!(
                client.screen().state_formatted(),
                expected,
                "split at byte {split} of {}",
                data.len()
            );
        }
    }

    #[test]
    fn the_tail_is_the_unfinished_sequence() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"plain text", b""),
            (b"abc\x1b[3", b"\x1b[3"),
            (b"abc\x1b[31mdef", b""),
            (b"\x1b]0;ti", b"\x1b]0;ti"),
            (b"\x1b]0;title\x07after", b""),
            (b"x\xe6\x97", b"\xe6\x97"),
            (b"x\xe6\x97\xa5", b""),
            (b"\x1b[3\n", b"\x1b[3"),
            (b"\x1b[3\x18", b""),
            (b"\x1bP+q\x1b\\", b""),
            (b"\x1b(", b"\x1b("),
        ];
        for &(input, tail) in cases {
            let mut t = SequenceTail::default();
            t.feed(input);
            assert_eq!(t.bytes(), tail, "{:?}", String::from_utf8_lossy(input));
            // Byte by byte gives the same.
            let mut one = SequenceTail::default();
            for b in input {
                one.feed(std::slice::from_ref(b));
            }
            assert_eq!(
                one.bytes(),
                tail,
                "bytewise {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_huge_unfinished_string_keeps_a_bounded_tail() {
        let mut t = SequenceTail::default();
        t.feed(b"\x1b]52;c;");
        for _ in 0..100 {
            t.feed(&[b'A'; 1000]);
        }
        assert_eq!(t.bytes().len(), MAX_TAIL);
        t.feed(b"\x07");
        assert!(t.bytes().is_empty());
    }

    #[test]
    fn nothing_is_held_without_subscribers_and_a_lagging_one_is_told() {
        let mut tap = OutputTap::new();
        tap.publish(b"before anyone listens");
        let screen = parser(5, 20);
        let mut sub = tap.subscribe(screen.screen());
        assert_eq!((sub.rows, sub.cols), (5, 20));
        assert_eq!(
            sub.stream.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        );
        for i in 0..TAP_CAPACITY + 5 {
            tap.publish(format!("{i} ").as_bytes());
        }
        assert_eq!(
            sub.stream.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(5))
        );
        assert_eq!(
            sub.stream.try_recv(),
            Ok(TapItem::Output(Arc::from(&b"5 "[..])))
        );
        tap.resized(6, 30);
        tap.close();
        let rest: Vec<TapItem> = std::iter::from_fn(|| sub.stream.try_recv().ok()).collect();
        assert_eq!(rest.len(), TAP_CAPACITY);
        assert_eq!(rest.last(), Some(&TapItem::Resized { rows: 6, cols: 30 }));
        assert_eq!(
            sub.stream.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        );
        let late = tap.subscribe(screen.screen());
        let mut late_stream = late.stream;
        assert_eq!(
            late_stream.try_recv(),
            Err(broadcast::error::TryRecvError::Closed)
        );
    }
}
