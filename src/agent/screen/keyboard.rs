//! The keyboard modes an agent asks its terminal for, and the answer to
//! its question about them.
//!
//! Two ways for a program to learn more from the keyboard than legacy
//! bytes say (Shift+Enter and Enter both send `\r` there):
//!
//! * xterm's **modifyOtherKeys**: `CSI > 4 ; N m` sets the level (0 off, 1
//!   modified keys without a legacy form of their own, 2 all modified
//!   keys), `CSI > 4 m` and `CSI > 4 n` reset it. Keys then arrive as
//!   `CSI 27 ; modifiers ; code ~`.
//! * the **kitty keyboard protocol** (sw.kovidgoyal.net/kitty/keyboard-protocol):
//!   a stack of flag sets, one stack for the main screen and one for the
//!   alternate screen. `CSI > flags u` pushes, `CSI < n u` pops `n`
//!   (default 1; an empty stack means no flags), `CSI = flags ; mode u`
//!   changes the top entry (mode 1 sets exactly these, 2 adds them, 3
//!   removes them), and `CSI ? u` asks for the flags in force, answered
//!   `CSI ? flags u`. Keys then arrive as `CSI code ; modifiers u`.
//!
//! Claude Code, in a terminal it knows for the protocol (tmux among them),
//! asks for both on start (`CSI < u CSI > 1 u CSI > 4 ; 2 m`) and resets
//! both on exit (`CSI < u`, `CSI > 4 m`); Codex CLI pushes kitty flags 5
//! and asks `CSI ? u` followed by a device attributes query, the way
//! crossterm detects support.
//!
//! orch encodes keys for the agent as asked (`ui::keys`) and mirrors both
//! onto the terminal of an `orch attach` client (`control::attach`), so it
//! answers `CSI ? u` as a terminal that supports the protocol does. Of the
//! flags it keeps those it honours ([`SUPPORTED_FLAGS`]): disambiguate
//! (1), event types (2), alternate keys (4, the shifted key of a letter),
//! all keys as escape codes (8) and associated text (16) are all
//! honoured, so the answer is what the agent set. A stack holds at most
//! [`MAX_STACK`] entries; a push beyond that drops the oldest, as the
//! protocol asks.

/// The kitty flags orch honours when it encodes keys.
pub const SUPPORTED_FLAGS: u8 = 0b1_1111;
/// Entries per kitty flag stack (kitty keeps 8; the protocol asks for a
/// limit).
pub const MAX_STACK: usize = 16;

/// What the agent asked of the keyboard, as in force on the screen it
/// shows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyboardModes {
    /// xterm's modifyOtherKeys level: 0, 1 or 2.
    pub modify_other_keys: u8,
    /// The kitty keyboard protocol's flags in force (0: legacy keys).
    pub kitty_flags: u8,
}

/// The agent's keyboard requests, per screen where the protocol says so.
#[derive(Debug, Clone, Default)]
pub(super) struct KeyboardState {
    modify_other_keys: u8,
    main: Vec<u8>,
    alternate: Vec<u8>,
}

impl KeyboardState {
    /// The modes in force while the main (`alternate == false`) or the
    /// alternate screen is shown.
    pub(super) fn modes(&self, alternate: bool) -> KeyboardModes {
        KeyboardModes {
            modify_other_keys: self.modify_other_keys,
            kitty_flags: self.stack(alternate).last().copied().unwrap_or(0),
        }
    }

    fn stack(&self, alternate: bool) -> &Vec<u8> {
        if alternate {
            &self.alternate
        } else {
            &self.main
        }
    }

    fn stack_mut(&mut self, alternate: bool) -> &mut Vec<u8> {
        if alternate {
            &mut self.alternate
        } else {
            &mut self.main
        }
    }

    /// A CSI sequence vt100 left to us: `Some(answer)` (possibly empty)
    /// when it was a keyboard request, `None` when it was something else.
    pub(super) fn csi(
        &mut self,
        alternate: bool,
        private: Option<u8>,
        params: &[&[u16]],
        action: char,
    ) -> Option<Vec<u8>> {
        let first = params.first().and_then(|p| p.first()).copied();
        let second = params.get(1).and_then(|p| p.first()).copied();
        match (private, action) {
            // xterm: CSI > Pp ; Pv m sets a modifier resource, CSI > Pp m
            // resets it. (`CSI > m`, which resets them all, reads as
            // resource 0 after vte's parse, so it is not told apart.)
            (Some(b'>'), 'm') => {
                match (first, second) {
                    (Some(4), None) => self.modify_other_keys = 0,
                    // Levels above 2 are not defined; xterm ignores them.
                    (Some(4), Some(level)) if level <= 2 => {
                        self.modify_other_keys = level as u8;
                    }
                    _ => {}
                }
                Some(Vec::new())
            }
            // xterm: CSI > Pp n disables a modifier resource.
            (Some(b'>'), 'n') => {
                if first == Some(4) {
                    self.modify_other_keys = 0;
                }
                Some(Vec::new())
            }
            (Some(b'>'), 'u') => {
                let flags = clamp_flags(first.unwrap_or(0));
                let stack = self.stack_mut(alternate);
                if stack.len() >= MAX_STACK {
                    stack.remove(0);
                }
                stack.push(flags);
                Some(Vec::new())
            }
            (Some(b'<'), 'u') => {
                let n = match first {
                    None | Some(0) => 1,
                    Some(n) => usize::from(n),
                };
                let stack = self.stack_mut(alternate);
                let keep = stack.len().saturating_sub(n);
                stack.truncate(keep);
                Some(Vec::new())
            }
            (Some(b'='), 'u') => {
                let flags = clamp_flags(first.unwrap_or(0));
                let stack = self.stack_mut(alternate);
                if stack.is_empty() {
                    stack.push(0);
                }
                if let Some(top) = stack.last_mut() {
                    match second.unwrap_or(1) {
                        1 => *top = flags,
                        2 => *top |= flags,
                        3 => *top &= !flags,
                        _ => {}
                    }
                }
                Some(Vec::new())
            }
            (Some(b'?'), 'u') if params.iter().all(|p| p.iter().all(|&v| v == 0)) => {
                let flags = self.modes(alternate).kitty_flags;
                Some(format!("\x1b[?{flags}u").into_bytes())
            }
            _ => None,
        }
    }
}

fn clamp_flags(value: u16) -> u8 {
    // Bits orch does not know are dropped, so the answer to `CSI ? u`
    // says what is honoured.
    (value & u16::from(SUPPORTED_FLAGS)) as u8
}

#[cfg(test)]
mod tests {
    use super::super::TerminalScreen;
    use super::*;

    fn fed(bytes: &[u8]) -> TerminalScreen {
        let mut t = TerminalScreen::new(10, 40, 10);
        t.process(bytes);
        t
    }

    fn modes(bytes: &[u8]) -> KeyboardModes {
        fed(bytes).keyboard_modes()
    }

    #[test]
    fn modify_other_keys_set_and_reset() {
        assert_eq!(modes(b"").modify_other_keys, 0);
        assert_eq!(modes(b"\x1b[>4;2m").modify_other_keys, 2);
        assert_eq!(modes(b"\x1b[>4;1m").modify_other_keys, 1);
        assert_eq!(modes(b"\x1b[>4;2m\x1b[>4;0m").modify_other_keys, 0);
        // Claude Code's reset on exit.
        assert_eq!(modes(b"\x1b[>4;2m\x1b[>4m").modify_other_keys, 0);
        assert_eq!(modes(b"\x1b[>4;2m\x1b[>4n").modify_other_keys, 0);
        // Other resources and undefined levels leave it alone.
        assert_eq!(modes(b"\x1b[>4;2m\x1b[>1;2m").modify_other_keys, 2);
        assert_eq!(modes(b"\x1b[>4;2m\x1b[>4;7m").modify_other_keys, 2);
        // Nothing of it is drawn, and SGR still works.
        let t = fed(b"\x1b[>4;2m\x1b[1mbold");
        assert_eq!(t.screen().contents(), "bold");
        assert!(t.screen().cell(0, 0).is_some_and(|c| c.bold()));
    }

    #[test]
    fn kitty_push_pop_and_set() {
        assert_eq!(modes(b"").kitty_flags, 0);
        // Claude Code: pop (nothing there), then push 1.
        assert_eq!(modes(b"\x1b[<u\x1b[>1u").kitty_flags, 1);
        assert_eq!(modes(b"\x1b[>1u\x1b[>5u").kitty_flags, 5);
        assert_eq!(modes(b"\x1b[>1u\x1b[>5u\x1b[<u").kitty_flags, 1);
        assert_eq!(modes(b"\x1b[>1u\x1b[>5u\x1b[<2u").kitty_flags, 0);
        assert_eq!(modes(b"\x1b[>1u\x1b[<9u").kitty_flags, 0);
        // A push without flags pushes 0.
        assert_eq!(modes(b"\x1b[>1u\x1b[>u").kitty_flags, 0);
        // CSI = flags ; mode u changes the top entry.
        assert_eq!(modes(b"\x1b[=3u").kitty_flags, 3);
        assert_eq!(modes(b"\x1b[=3;1u").kitty_flags, 3);
        assert_eq!(modes(b"\x1b[>1u\x1b[=8;2u").kitty_flags, 9);
        assert_eq!(modes(b"\x1b[>9u\x1b[=1;3u").kitty_flags, 8);
        assert_eq!(modes(b"\x1b[>9u\x1b[=1;3u\x1b[<u").kitty_flags, 0);
        // Unknown bits are dropped.
        assert_eq!(modes(b"\x1b[>255u").kitty_flags, SUPPORTED_FLAGS);
    }

    #[test]
    fn kitty_stack_is_bounded_dropping_the_oldest() {
        let mut bytes = Vec::new();
        for i in 0..(MAX_STACK + 4) {
            bytes.extend_from_slice(format!("\x1b[>{}u", i % 16 + 1).as_bytes());
        }
        let mut t = fed(&bytes);
        let top = ((MAX_STACK + 3) % 16 + 1) as u8;
        assert_eq!(t.keyboard_modes().kitty_flags, top);
        t.process(format!("\x1b[<{}u", MAX_STACK - 1).as_bytes());
        // The oldest four went; the fifth push is the bottom now.
        assert_eq!(t.keyboard_modes().kitty_flags, 5);
        t.process(b"\x1b[<u");
        assert_eq!(t.keyboard_modes().kitty_flags, 0);
    }

    #[test]
    fn main_and_alternate_screens_keep_their_own_stacks() {
        // Codex: push 5 on the main screen, enter the alternate screen,
        // push 5 there too.
        let mut t = fed(b"\x1b[>1u\x1b[?1049h");
        assert_eq!(t.keyboard_modes().kitty_flags, 0);
        t.process(b"\x1b[>5u");
        assert_eq!(t.keyboard_modes().kitty_flags, 5);
        t.process(b"\x1b[<u\x1b[?1049l");
        assert_eq!(t.keyboard_modes().kitty_flags, 1);
        // modifyOtherKeys is one setting for the terminal.
        t.process(b"\x1b[>4;2m\x1b[?1049h");
        assert_eq!(t.keyboard_modes().modify_other_keys, 2);
    }

    #[test]
    fn the_flags_query_is_answered_with_the_flags_in_force() {
        let mut t = fed(b"\x1b[?u");
        assert_eq!(t.take_replies().as_deref(), Some(&b"\x1b[?0u"[..]));
        // Codex's start: push, then ask with a device attributes query
        // behind it, answered in order.
        t.process(b"\x1b[>5u\x1b[?u\x1b[c");
        assert_eq!(
            t.take_replies().as_deref(),
            Some(&b"\x1b[?5u\x1b[?1;2c"[..])
        );
        t.process(b"\x1b[?1049h\x1b[?u");
        assert_eq!(t.take_replies().as_deref(), Some(&b"\x1b[?0u"[..]));
        // Requests are not answered.
        t.process(b"\x1b[>1u\x1b[<u\x1b[=1u\x1b[>4;2m");
        assert_eq!(t.take_replies(), None);
    }

    #[test]
    fn modes_survive_a_screen_reset() {
        let mut t = fed(b"\x1b[>4;2m\x1b[>1u");
        t.reset_keeping_history();
        assert_eq!(
            t.keyboard_modes(),
            KeyboardModes {
                modify_other_keys: 2,
                kitty_flags: 1
            }
        );
    }
}
