//! Answers to the questions a program asks its terminal.
//!
//! A terminal answers some escape sequences by writing to the program's
//! input: where the cursor is, what kind of terminal it is, which colours it
//! draws with. Programs wait for those answers (crossterm asks for the
//! cursor position at start-up, Claude Code for the background colour to
//! pick its theme), so the agent's screen answers them itself, from its own
//! state, as xterm would, whether or not anyone is watching. The agent's
//! reader writes the answers back to the PTY
//! ([`TerminalScreen::take_replies`](super::TerminalScreen::take_replies)).
//!
//! | query | answer |
//! |---|---|
//! | `CSI 5 n` (device status) | `CSI 0 n` (ready) |
//! | `CSI 6 n` (cursor position) | `CSI row ; col R`, 1-based |
//! | `CSI ? 6 n` (DEC cursor position) | `CSI ? row ; col R` |
//! | `CSI c`, `CSI 0 c` (primary device attributes) | `CSI ? 1 ; 2 c` |
//! | `CSI > c`, `CSI > 0 c` (secondary device attributes) | `CSI > 0 ; 10 ; 1 c` |
//! | `OSC 10 ; ?`, `OSC 11 ; ?` (foreground, background) | `OSC 10 ; rgb:RRRR/GGGG/BBBB`, ended as the query was (BEL or ST) |
//! | `CSI ? u` (kitty keyboard flags) | `CSI ? flags u` (see `keyboard`) |
//!
//! The primary attributes are tmux's answer (a VT100 with advanced video).
//! For the secondary ones tmux sends `CSI > 84 ; 0 ; 0 c`, 84 being `T` for
//! tmux: a program that believes it runs in tmux may wrap its sequences in
//! tmux's passthrough, which orch does not implement, so orch gives the
//! plain VT100 answer (terminal type 0, firmware 10, no cartridge) instead.
//! `OSC 10 ; ? ; ?` asks for both colours, as in xterm. Anything else
//! (XTVERSION, DECRQM, the palette) stays unanswered, as in a terminal that
//! does not know it; programs send a primary attributes query after such
//! questions precisely to learn that.
//!
//! vt100 calls us while it parses the query, so the cursor position is the
//! one after the bytes before it, wherever the query sits in a chunk, and a
//! query split across two chunks is answered once, when it is complete.
//! vt100 does not say how an OSC string ended; vte ends one at BEL, at CAN or
//! SUB (which cancel it) and at ESC (the start of ST). The screen feeds each
//! BEL, CAN and SUB to vt100 on its own, after [`Replies::set_string_end`],
//! so a colour query answered then ended with that byte; any other ended
//! with ESC.

use std::fmt::Write as _;

/// The colours reported to colour queries, as 8-bit RGB. The defaults are a
/// dark theme's; a caller may set the operator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermColours {
    /// Default foreground (`OSC 10`).
    pub foreground: (u8, u8, u8),
    /// Default background (`OSC 11`).
    pub background: (u8, u8, u8),
}

impl Default for TermColours {
    fn default() -> Self {
        Self {
            foreground: (0xe5, 0xe5, 0xe5),
            background: (0, 0, 0),
        }
    }
}

/// Answers kept for the reader at most; a program that asks faster than the
/// reader drains (a hostile one) loses the excess, and it is logged.
const MAX_PENDING: usize = 64 * 1024;
const BEL: u8 = 0x07;
/// Bytes that end an OSC string in vte besides ESC: BEL, CAN and SUB.
pub(super) const STRING_ENDS: [u8; 3] = [BEL, 0x18, 0x1a];
const ST: &[u8] = b"\x1b\\";
/// Primary device attributes: VT100 with advanced video option (tmux's).
const PRIMARY_DA: &[u8] = b"\x1b[?1;2c";
/// Secondary device attributes: VT100, firmware 10, no cartridge.
const SECONDARY_DA: &[u8] = b"\x1b[>0;10;1c";

/// Answers waiting to be written to the agent, in the order asked.
#[derive(Debug, Default)]
pub(super) struct Replies {
    out: Vec<u8>,
    colours: TermColours,
    /// The byte vt100 is being fed, when it is one of [`STRING_ENDS`].
    string_end: Option<u8>,
    /// Answers dropped since the last drain (see [`MAX_PENDING`]).
    dropped: usize,
}

impl Replies {
    pub(super) fn colours(&self) -> TermColours {
        self.colours
    }

    pub(super) fn set_colours(&mut self, colours: TermColours) {
        self.colours = colours;
    }

    /// vt100 is about to be fed `byte` alone (`Some`), or ordinary bytes
    /// again (`None`).
    pub(super) fn set_string_end(&mut self, byte: Option<u8>) {
        self.string_end = byte;
    }

    /// Everything answered since the last call, oldest first.
    pub(super) fn take(&mut self) -> Option<Vec<u8>> {
        if self.dropped > 0 {
            tracing::warn!(
                dropped = self.dropped,
                "agent asked its terminal faster than its answers were written; some went unanswered"
            );
            self.dropped = 0;
        }
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// Moves the answers over from `old` (a screen being replaced).
    pub(super) fn carry_over(&mut self, old: &mut Replies) {
        self.colours = old.colours;
        self.out = std::mem::take(&mut old.out);
        self.dropped = old.dropped;
    }

    /// Queue an answer worked out elsewhere (the keyboard flags).
    pub(super) fn answer(&mut self, answer: &[u8]) {
        if !answer.is_empty() {
            self.push(answer);
        }
    }

    fn push(&mut self, answer: &[u8]) {
        if self.out.len() + answer.len() > MAX_PENDING {
            self.dropped += 1;
        } else {
            self.out.extend_from_slice(answer);
        }
    }

    /// A CSI sequence vt100 does not handle itself (`private` is the first
    /// intermediate byte, such as `?` or `>`).
    pub(super) fn csi(
        &mut self,
        screen: &vt100::Screen,
        private: Option<u8>,
        second: Option<u8>,
        params: &[&[u16]],
        action: char,
    ) {
        if second.is_some() || params.len() > 1 || params.first().is_some_and(|p| p.len() > 1) {
            return;
        }
        let param = params.first().and_then(|p| p.first()).copied().unwrap_or(0);
        match (action, private, param) {
            ('n', None, 5) => self.push(b"\x1b[0n"),
            ('n', None, 6) => self.cursor_report(screen, ""),
            ('n', Some(b'?'), 6) => self.cursor_report(screen, "?"),
            ('c', None, 0) => self.push(PRIMARY_DA),
            ('c', Some(b'>'), 0) => self.push(SECONDARY_DA),
            _ => {}
        }
    }

    /// `CSI [?] row ; col R`, 1-based. A cursor just past the last column
    /// (the next character wraps) is reported on the last column, as xterm
    /// does.
    fn cursor_report(&mut self, screen: &vt100::Screen, private: &str) {
        let (row, col) = screen.cursor_position();
        let cols = screen.size().1.get();
        let col = col.min(cols - 1);
        let mut answer = String::with_capacity(16);
        // Writing to a String cannot fail.
        let _ = write!(answer, "\x1b[{private}{};{}R", row + 1, col + 1);
        self.push(answer.as_bytes());
    }

    /// An OSC sequence vt100 does not handle itself.
    pub(super) fn osc(&mut self, params: &[&[u8]]) {
        let Some((first, rest)) = params.split_first() else {
            return;
        };
        let terminator: &[u8] = match self.string_end {
            None => ST,
            Some(BEL) => &[BEL],
            // CAN or SUB: the sequence was cancelled.
            Some(_) => return,
        };
        let Some(base) = std::str::from_utf8(first)
            .ok()
            .and_then(|s| s.parse::<u16>().ok())
        else {
            return;
        };
        // `OSC 10 ; a ; b` addresses colour 10 with `a` and 11 with `b`.
        for (offset, spec) in rest.iter().enumerate() {
            let Some(number) = usize::from(base).checked_add(offset) else {
                return;
            };
            let colour = match (number, *spec) {
                (10, b"?") => self.colours.foreground,
                (11, b"?") => self.colours.background,
                _ => continue,
            };
            let (r, g, b) = colour;
            // 8 bits to 16 as xterm scales them: 0xe5 -> 0xe5e5.
            let wide = |c: u8| u16::from(c) * 0x101;
            let mut answer = String::with_capacity(32);
            let _ = write!(
                answer,
                "\x1b]{number};rgb:{:04x}/{:04x}/{:04x}",
                wide(r),
                wide(g),
                wide(b)
            );
            let mut answer = answer.into_bytes();
            answer.extend_from_slice(terminator);
            self.push(&answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::numbered;
    use super::super::TerminalScreen;
    use super::*;

    fn screen() -> TerminalScreen {
        TerminalScreen::new(24, 80, 100)
    }

    /// The answers to `input` fed in one go.
    fn answers(input: &[u8]) -> Vec<u8> {
        let mut t = screen();
        t.process(input);
        t.take_replies().unwrap_or_default()
    }

    #[test]
    fn device_status_is_ok() {
        assert_eq!(answers(b"\x1b[5n"), b"\x1b[0n");
    }

    #[test]
    fn cursor_position_is_one_based() {
        assert_eq!(answers(b"\x1b[6n"), b"\x1b[1;1R");
        assert_eq!(answers(b"ab\r\ncdef\x1b[6n"), b"\x1b[2;5R");
        assert_eq!(answers(b"\x1b[10;20H\x1b[?6n"), b"\x1b[?10;20R");
    }

    #[test]
    fn cursor_past_the_last_column_is_reported_on_it() {
        let mut t = TerminalScreen::new(5, 10, 10);
        t.process(b"0123456789\x1b[6n");
        assert_eq!(t.take_replies().as_deref(), Some(&b"\x1b[1;10R"[..]));
    }

    #[test]
    fn device_attributes_as_tmux_and_a_vt100() {
        assert_eq!(answers(b"\x1b[c"), PRIMARY_DA);
        assert_eq!(answers(b"\x1b[0c"), PRIMARY_DA);
        assert_eq!(answers(b"\x1b[>c"), SECONDARY_DA);
        assert_eq!(answers(b"\x1b[>0c"), SECONDARY_DA);
        // Not queries, or not ours to answer.
        assert_eq!(
            answers(b"\x1b[1c\x1b[>1c\x1b[=c\x1b[?c\x1b[7n\x1b[6;1n"),
            b""
        );
    }

    #[test]
    fn colour_queries_end_like_the_query() {
        assert_eq!(answers(b"\x1b]10;?\x07"), b"\x1b]10;rgb:e5e5/e5e5/e5e5\x07");
        assert_eq!(
            answers(b"\x1b]11;?\x1b\\"),
            b"\x1b]11;rgb:0000/0000/0000\x1b\\"
        );
        // Both in one, as xterm allows.
        assert_eq!(
            answers(b"\x1b]10;?;?\x07"),
            b"\x1b]10;rgb:e5e5/e5e5/e5e5\x07\x1b]11;rgb:0000/0000/0000\x07"
        );
        // Setting a colour, a title, a cancelled query: no answer.
        assert_eq!(
            answers(b"\x1b]11;#102030\x07\x1b]0;title\x07\x1b]11;?\x18"),
            b""
        );
    }

    #[test]
    fn colours_can_be_set() {
        let mut t = screen();
        let theme = TermColours {
            foreground: (0x12, 0x34, 0x56),
            background: (0xff, 0xfe, 0x01),
        };
        t.set_colours(theme);
        assert_eq!(t.colours(), theme);
        t.process(b"\x1b]10;?\x07\x1b]11;?\x07");
        assert_eq!(
            t.take_replies().as_deref(),
            Some(&b"\x1b]10;rgb:1212/3434/5656\x07\x1b]11;rgb:ffff/fefe/0101\x07"[..])
        );
        t.reset_keeping_history();
        assert_eq!(t.colours(), theme);
    }

    #[test]
    fn answers_are_drained_in_order() {
        let mut t = screen();
        assert!(t.take_replies().is_none());
        t.process(b"\x1b[5n\x1b]11;?\x07\x1b[6n");
        assert_eq!(
            t.take_replies().as_deref(),
            Some(&b"\x1b[0n\x1b]11;rgb:0000/0000/0000\x07\x1b[1;1R"[..])
        );
        assert!(t.take_replies().is_none());
    }

    #[test]
    fn the_cursor_is_where_it_was_when_asked() {
        // Two questions in one chunk, text before, between and after each.
        let mut t = screen();
        t.process(b"one\x1b[6ntwo\r\nthree\x1b[6n and more\r\n\r\n");
        assert_eq!(
            t.take_replies().as_deref(),
            Some(&b"\x1b[1;4R\x1b[2;6R"[..])
        );
    }

    #[test]
    fn a_query_split_across_chunks_is_answered_once() {
        let query = b"xy\x1b[6n\x1b]11;?\x1b\\\x1b[>0c";
        let expected: &[u8] = b"\x1b[1;3R\x1b]11;rgb:0000/0000/0000\x1b\\\x1b[>0;10;1c";
        for cut in 0..=query.len() {
            for deferred in [false, true] {
                let mut t = screen();
                let mut got = Vec::new();
                for piece in [&query[..cut], &query[cut..]] {
                    if deferred {
                        t.process_deferred(piece);
                    } else {
                        t.process(piece);
                    }
                    got.extend(t.take_replies().unwrap_or_default());
                }
                assert_eq!(got, expected, "cut at {cut}, deferred {deferred}");
            }
        }
    }

    #[test]
    fn queries_in_a_plain_flood_see_the_exact_screen() {
        // The fast path defers vt100's work during plain floods; a query must
        // still see the cursor where every byte before it put it.
        let mut flood = numbered(0..5000);
        flood.extend_from_slice(b"abc\x1b[6n");
        flood.extend(numbered(0..300));
        flood.extend_from_slice(b"\x1b[3;7H\x1b[6n");
        for chunk_len in [7, 4096, flood.len()] {
            let mut t = TerminalScreen::new(10, 40, 1000);
            let mut got = Vec::new();
            for chunk in flood.chunks(chunk_len) {
                t.process_deferred(chunk);
                got.extend(t.take_replies().unwrap_or_default());
            }
            assert_eq!(got, b"\x1b[10;4R\x1b[3;7R", "chunks of {chunk_len}");
        }
    }

    #[test]
    fn answers_are_bounded() {
        let mut t = screen();
        let flood = b"\x1b[6n".repeat(MAX_PENDING);
        t.process(&flood);
        let got = t.take_replies().expect("answers");
        assert!(got.len() <= MAX_PENDING, "{}", got.len());
        assert!(got.len() + 6 > MAX_PENDING);
        assert!(got.ends_with(b"\x1b[1;1R"));
    }

    /// A recorded start-up (tests/fixtures/screens/queries.bytes, see
    /// generate.py): a crossterm program asking for the cursor position and
    /// the keyboard protocol, a colour probe, in PTY-sized and odd chunks.
    #[test]
    fn fixture_start_up_gets_its_answers() {
        const STARTUP: &[u8] = include_bytes!("../../../tests/fixtures/screens/queries.bytes");
        let expected: &[u8] = b"\x1b[4;3R\
            \x1b[?0u\
            \x1b[?1;2c\
            \x1b]11;rgb:0000/0000/0000\x1b\\\
            \x1b]10;rgb:e5e5/e5e5/e5e5\x07\
            \x1b[>0;10;1c\
            \x1b[0n\
            \x1b[24;3R";
        for chunk_len in [1, 3, 64, 4096] {
            let mut t = TerminalScreen::new(24, 80, 1000);
            let mut got = Vec::new();
            for chunk in STARTUP.chunks(chunk_len) {
                t.process_deferred(chunk);
                got.extend(t.take_replies().unwrap_or_default());
            }
            t.sync();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(expected),
                "chunks of {chunk_len}"
            );
            // Nothing of the questions shows on the screen.
            let text = t.screen().contents();
            assert!(!text.contains('?') && !text.contains("6n"), "{text}");
            assert!(text.contains("Ready"), "{text}");
        }
    }
}
