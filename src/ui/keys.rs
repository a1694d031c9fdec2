//! Keys and pastes as the bytes a program in a terminal expects, encoded as
//! xterm does. What follows is the legacy encoding, xterm's default; an
//! agent that asked for the kitty keyboard protocol or for
//! modifyOtherKeys gets its keys as it asked (`enhanced`, chosen by
//! [`encode_key_in`] from the screen's [`KeyModes`]).
//!
//! * Text: UTF-8. Ctrl with a letter or one of `@ [ \ ] ^ _` (and the
//!   VT220 digits `2`-`8`, `/`, `?`, space) gives the C0 control; Ctrl with
//!   anything else is the character itself. Alt prefixes ESC.
//! * Enter `\r`, Tab `\t`, Shift+Tab `ESC [ Z`, Backspace DEL (Ctrl+Backspace
//!   BS), Esc `ESC`: Alt prefixes ESC, other modifiers change nothing.
//! * Cursor keys and Home/End: `ESC [ A` (`ESC O A` in application cursor
//!   mode); with modifiers always `ESC [ 1 ; m A`.
//! * Insert, Delete, PageUp, PageDown, F5-F12: `ESC [ n ~`, with modifiers
//!   `ESC [ n ; m ~`. F1-F4: `ESC O P`..`ESC O S`, with modifiers
//!   `ESC [ 1 ; m P`. F13-F24 are xterm's Shift+F1-F12.
//!
//! The modifier parameter `m` is 1 + Shift (1) + Alt (2) + Ctrl (4); Meta
//! counts as Alt, Super and Hyper are ignored.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::agent::screen::{KeyboardModes, TerminalScreen};

mod enhanced;

const ESC: u8 = 0x1b;

/// What the program's terminal modes say about encoding keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KeyModes {
    /// Application cursor mode (`vt100::Screen::application_cursor`).
    pub app_cursor: bool,
    /// The keyboard protocols it asked for.
    pub keyboard: KeyboardModes,
}

impl KeyModes {
    /// The modes of an agent's screen as it stands.
    pub fn of(screen: &TerminalScreen) -> KeyModes {
        KeyModes {
            app_cursor: screen.screen().application_cursor(),
            keyboard: screen.keyboard_modes(),
        }
    }
}

/// The bytes `key` sends to a program whose screen is in `modes`: the
/// kitty keyboard protocol when it set flags, else modifyOtherKeys when it
/// set a level and the key is one that changes, else the legacy bytes.
pub fn encode_key_in(key: &KeyEvent, modes: &KeyModes) -> Option<Vec<u8>> {
    let keyboard = modes.keyboard;
    if keyboard.kitty_flags != 0 {
        return enhanced::kitty(key, keyboard.kitty_flags);
    }
    if keyboard.modify_other_keys != 0 && key.kind != KeyEventKind::Release {
        if let Some(bytes) = enhanced::modify_other_keys(key, keyboard.modify_other_keys) {
            return Some(bytes);
        }
    }
    encode_key(key, modes.app_cursor)
}

/// The legacy bytes `key` sends to the program; `app_cursor` is the
/// screen's application cursor mode (`vt100::Screen::application_cursor`).
///
/// `None` for keys without a byte form (lone modifiers, Caps Lock, media
/// keys, F25 and up) and for key releases.
pub fn encode_key(key: &KeyEvent, app_cursor: bool) -> Option<Vec<u8>> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let mods = Mods::of(key.modifiers);
    let bytes = match key.code {
        KeyCode::Char(c) => encode_char(c, mods),
        KeyCode::Enter => with_alt(mods, b"\r"),
        KeyCode::Tab if mods.shift => back_tab(mods),
        KeyCode::Tab => with_alt(mods, b"\t"),
        KeyCode::BackTab => back_tab(mods),
        KeyCode::Backspace => with_alt(mods, if mods.ctrl { b"\x08" } else { b"\x7f" }),
        KeyCode::Esc => with_alt(mods, b"\x1b"),
        KeyCode::Null => with_alt(mods, b"\0"),
        KeyCode::Up => cursor_key(b'A', mods, app_cursor),
        KeyCode::Down => cursor_key(b'B', mods, app_cursor),
        KeyCode::Right => cursor_key(b'C', mods, app_cursor),
        KeyCode::Left => cursor_key(b'D', mods, app_cursor),
        KeyCode::Home => cursor_key(b'H', mods, app_cursor),
        KeyCode::End => cursor_key(b'F', mods, app_cursor),
        KeyCode::KeypadBegin => cursor_key(b'E', mods, app_cursor),
        KeyCode::Insert => tilde_key(2, mods),
        KeyCode::Delete => tilde_key(3, mods),
        KeyCode::PageUp => tilde_key(5, mods),
        KeyCode::PageDown => tilde_key(6, mods),
        KeyCode::F(n) => function_key(n, mods)?,
        KeyCode::CapsLock
        | KeyCode::ScrollLock
        | KeyCode::NumLock
        | KeyCode::PrintScreen
        | KeyCode::Pause
        | KeyCode::Menu
        | KeyCode::Media(_)
        | KeyCode::Modifier(_) => return None,
    };
    Some(bytes)
}

/// Pasted text as the program should receive it.
///
/// `bracketed` (the screen's bracketed paste mode,
/// `vt100::Screen::bracketed_paste`): wrapped in `ESC [ 200 ~` ...
/// `ESC [ 201 ~`, with every end marker inside the text removed so the text
/// cannot end the paste early. Otherwise line ends (`\n`, `\r\n`) become
/// `\r`, what Enter sends, as terminals do.
pub fn encode_paste(text: &str, bracketed: bool) -> Vec<u8> {
    const START: &[u8] = b"\x1b[200~";
    const END: &[u8] = b"\x1b[201~";
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len() + START.len() + END.len());
    if bracketed {
        out.extend_from_slice(START);
        let body = out.len();
        for &b in bytes {
            out.push(b);
            // Removing one marker may complete another ("\e[20\e[201~1~"):
            // checking after every byte catches those too.
            if b == b'~' && out.len() - body >= END.len() && out.ends_with(END) {
                out.truncate(out.len() - END.len());
            }
        }
        out.extend_from_slice(END);
    } else {
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    out.push(b'\r');
                    i += 2;
                }
                b'\n' => {
                    out.push(b'\r');
                    i += 1;
                }
                b => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }
    out
}

/// The modifiers that change what a key sends.
#[derive(Debug, Clone, Copy)]
struct Mods {
    shift: bool,
    alt: bool,
    ctrl: bool,
}

impl Mods {
    fn of(m: KeyModifiers) -> Self {
        Self {
            shift: m.contains(KeyModifiers::SHIFT),
            alt: m.intersects(KeyModifiers::ALT | KeyModifiers::META),
            ctrl: m.contains(KeyModifiers::CONTROL),
        }
    }

    /// xterm's modifier parameter; 1 means none.
    fn param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.alt) + 4 * u8::from(self.ctrl)
    }
}

fn with_alt(mods: Mods, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    if mods.alt {
        out.push(ESC);
    }
    out.extend_from_slice(bytes);
    out
}

fn back_tab(mods: Mods) -> Vec<u8> {
    with_alt(mods, b"\x1b[Z")
}

fn encode_char(c: char, mods: Mods) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    if mods.alt {
        out.push(ESC);
    }
    if mods.ctrl {
        if let Some(b) = ctrl_byte(c) {
            out.push(b);
            return out;
        }
    }
    // Reported lowercase with Shift under some keyboard protocols.
    let c = if mods.shift {
        c.to_ascii_uppercase()
    } else {
        c
    };
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    out
}

/// The C0 control Ctrl+`c` sends, if any.
fn ctrl_byte(c: char) -> Option<u8> {
    Some(match c {
        'a'..='z' | 'A'..='Z' => c as u8 & 0x1f,
        '@' | ' ' | '2' => 0x00,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '~' | '6' => 0x1e,
        '_' | '/' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

/// Cursor keys, Home, End and keypad 5: `final_byte` after CSI or SS3.
fn cursor_key(final_byte: u8, mods: Mods, app_cursor: bool) -> Vec<u8> {
    match mods.param() {
        1 if app_cursor => vec![ESC, b'O', final_byte],
        1 => vec![ESC, b'[', final_byte],
        m => format!("\x1b[1;{m}{}", char::from(final_byte)).into_bytes(),
    }
}

/// `CSI n ~`, or `CSI n ; m ~` with modifiers.
fn tilde_key(n: u8, mods: Mods) -> Vec<u8> {
    match mods.param() {
        1 => format!("\x1b[{n}~").into_bytes(),
        m => format!("\x1b[{n};{m}~").into_bytes(),
    }
}

fn function_key(n: u8, mods: Mods) -> Option<Vec<u8>> {
    // F13-F24: xterm sends Shift+F1-F12.
    let (n, mods) = match n {
        13..=24 => (
            n - 12,
            Mods {
                shift: true,
                ..mods
            },
        ),
        _ => (n, mods),
    };
    Some(match n {
        1..=4 => {
            let final_byte = b'P' + (n - 1);
            match mods.param() {
                1 => vec![ESC, b'O', final_byte],
                m => format!("\x1b[1;{m}{}", char::from(final_byte)).into_bytes(),
            }
        }
        5 => tilde_key(15, mods),
        6..=10 => tilde_key(n + 11, mods),
        11 | 12 => tilde_key(n + 12, mods),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyEventState, MediaKeyCode, ModifierKeyCode};

    use super::*;

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
    const CTRL: KeyModifiers = KeyModifiers::CONTROL;
    const ALT: KeyModifiers = KeyModifiers::ALT;

    fn enc(code: KeyCode, mods: KeyModifiers) -> Option<Vec<u8>> {
        encode_key(&KeyEvent::new(code, mods), false)
    }

    fn enc_app(code: KeyCode, mods: KeyModifiers) -> Option<Vec<u8>> {
        encode_key(&KeyEvent::new(code, mods), true)
    }

    /// (key, modifiers, normal mode bytes, application cursor mode bytes)
    #[allow(clippy::type_complexity)]
    const TABLE: &[(KeyCode, KeyModifiers, &[u8], &[u8])] = &[
        // Text.
        (KeyCode::Char('a'), NONE, b"a", b"a"),
        (KeyCode::Char('A'), SHIFT, b"A", b"A"),
        (KeyCode::Char('a'), SHIFT, b"A", b"A"),
        (KeyCode::Char('1'), NONE, b"1", b"1"),
        (KeyCode::Char('~'), NONE, b"~", b"~"),
        (KeyCode::Char(' '), NONE, b" ", b" "),
        (
            KeyCode::Char('\u{e9}'),
            NONE,
            "\u{e9}".as_bytes(),
            "\u{e9}".as_bytes(),
        ),
        (
            KeyCode::Char('\u{4e2d}'),
            NONE,
            "\u{4e2d}".as_bytes(),
            "\u{4e2d}".as_bytes(),
        ),
        (
            KeyCode::Char('\u{1f680}'),
            NONE,
            "\u{1f680}".as_bytes(),
            "\u{1f680}".as_bytes(),
        ),
        // Ctrl.
        (KeyCode::Char('a'), CTRL, b"\x01", b"\x01"),
        (KeyCode::Char('c'), CTRL, b"\x03", b"\x03"),
        (KeyCode::Char('z'), CTRL, b"\x1a", b"\x1a"),
        (KeyCode::Char('A'), CTRL.union(SHIFT), b"\x01", b"\x01"),
        (KeyCode::Char(' '), CTRL, b"\0", b"\0"),
        (KeyCode::Char('@'), CTRL, b"\0", b"\0"),
        (KeyCode::Char('2'), CTRL, b"\0", b"\0"),
        (KeyCode::Char('['), CTRL, b"\x1b", b"\x1b"),
        (KeyCode::Char('\\'), CTRL, b"\x1c", b"\x1c"),
        (KeyCode::Char(']'), CTRL, b"\x1d", b"\x1d"),
        (KeyCode::Char('^'), CTRL, b"\x1e", b"\x1e"),
        (KeyCode::Char('_'), CTRL, b"\x1f", b"\x1f"),
        (KeyCode::Char('3'), CTRL, b"\x1b", b"\x1b"),
        (KeyCode::Char('4'), CTRL, b"\x1c", b"\x1c"),
        (KeyCode::Char('5'), CTRL, b"\x1d", b"\x1d"),
        (KeyCode::Char('6'), CTRL, b"\x1e", b"\x1e"),
        (KeyCode::Char('7'), CTRL, b"\x1f", b"\x1f"),
        (KeyCode::Char('/'), CTRL, b"\x1f", b"\x1f"),
        (KeyCode::Char('8'), CTRL, b"\x7f", b"\x7f"),
        (KeyCode::Char('?'), CTRL, b"\x7f", b"\x7f"),
        (KeyCode::Char('1'), CTRL, b"1", b"1"),
        (
            KeyCode::Char('\u{e9}'),
            CTRL,
            "\u{e9}".as_bytes(),
            "\u{e9}".as_bytes(),
        ),
        // Alt.
        (KeyCode::Char('a'), ALT, b"\x1ba", b"\x1ba"),
        (KeyCode::Char('B'), ALT.union(SHIFT), b"\x1bB", b"\x1bB"),
        (KeyCode::Char('.'), ALT, b"\x1b.", b"\x1b."),
        (
            KeyCode::Char('\u{e9}'),
            ALT,
            "\x1b\u{e9}".as_bytes(),
            "\x1b\u{e9}".as_bytes(),
        ),
        (KeyCode::Char('a'), KeyModifiers::META, b"\x1ba", b"\x1ba"),
        (
            KeyCode::Char('a'),
            CTRL.union(ALT),
            b"\x1b\x01",
            b"\x1b\x01",
        ),
        (
            KeyCode::Char('['),
            CTRL.union(ALT),
            b"\x1b\x1b",
            b"\x1b\x1b",
        ),
        // Super and Hyper are not sent.
        (KeyCode::Char('a'), KeyModifiers::SUPER, b"a", b"a"),
        // Editing keys.
        (KeyCode::Enter, NONE, b"\r", b"\r"),
        (KeyCode::Enter, SHIFT, b"\r", b"\r"),
        (KeyCode::Enter, CTRL, b"\r", b"\r"),
        (KeyCode::Enter, ALT, b"\x1b\r", b"\x1b\r"),
        (KeyCode::Tab, NONE, b"\t", b"\t"),
        (KeyCode::Tab, SHIFT, b"\x1b[Z", b"\x1b[Z"),
        (KeyCode::Tab, ALT, b"\x1b\t", b"\x1b\t"),
        (KeyCode::BackTab, NONE, b"\x1b[Z", b"\x1b[Z"),
        (KeyCode::BackTab, SHIFT, b"\x1b[Z", b"\x1b[Z"),
        (KeyCode::Backspace, NONE, b"\x7f", b"\x7f"),
        (KeyCode::Backspace, CTRL, b"\x08", b"\x08"),
        (KeyCode::Backspace, ALT, b"\x1b\x7f", b"\x1b\x7f"),
        (KeyCode::Esc, NONE, b"\x1b", b"\x1b"),
        (KeyCode::Esc, ALT, b"\x1b\x1b", b"\x1b\x1b"),
        (KeyCode::Null, NONE, b"\0", b"\0"),
        // Cursor keys.
        (KeyCode::Up, NONE, b"\x1b[A", b"\x1bOA"),
        (KeyCode::Down, NONE, b"\x1b[B", b"\x1bOB"),
        (KeyCode::Right, NONE, b"\x1b[C", b"\x1bOC"),
        (KeyCode::Left, NONE, b"\x1b[D", b"\x1bOD"),
        (KeyCode::Home, NONE, b"\x1b[H", b"\x1bOH"),
        (KeyCode::End, NONE, b"\x1b[F", b"\x1bOF"),
        (KeyCode::KeypadBegin, NONE, b"\x1b[E", b"\x1bOE"),
        (KeyCode::Up, SHIFT, b"\x1b[1;2A", b"\x1b[1;2A"),
        (KeyCode::Up, ALT, b"\x1b[1;3A", b"\x1b[1;3A"),
        (KeyCode::Up, ALT.union(SHIFT), b"\x1b[1;4A", b"\x1b[1;4A"),
        (KeyCode::Up, CTRL, b"\x1b[1;5A", b"\x1b[1;5A"),
        (KeyCode::Down, CTRL.union(SHIFT), b"\x1b[1;6B", b"\x1b[1;6B"),
        (KeyCode::Right, CTRL.union(ALT), b"\x1b[1;7C", b"\x1b[1;7C"),
        (
            KeyCode::Left,
            CTRL.union(ALT).union(SHIFT),
            b"\x1b[1;8D",
            b"\x1b[1;8D",
        ),
        (KeyCode::Home, CTRL, b"\x1b[1;5H", b"\x1b[1;5H"),
        (KeyCode::End, SHIFT, b"\x1b[1;2F", b"\x1b[1;2F"),
        // Tilde keys.
        (KeyCode::Insert, NONE, b"\x1b[2~", b"\x1b[2~"),
        (KeyCode::Delete, NONE, b"\x1b[3~", b"\x1b[3~"),
        (KeyCode::PageUp, NONE, b"\x1b[5~", b"\x1b[5~"),
        (KeyCode::PageDown, NONE, b"\x1b[6~", b"\x1b[6~"),
        (KeyCode::Delete, CTRL, b"\x1b[3;5~", b"\x1b[3;5~"),
        (KeyCode::PageUp, SHIFT, b"\x1b[5;2~", b"\x1b[5;2~"),
        (KeyCode::PageDown, ALT, b"\x1b[6;3~", b"\x1b[6;3~"),
        (KeyCode::Insert, SHIFT, b"\x1b[2;2~", b"\x1b[2;2~"),
        // Function keys.
        (KeyCode::F(1), NONE, b"\x1bOP", b"\x1bOP"),
        (KeyCode::F(2), NONE, b"\x1bOQ", b"\x1bOQ"),
        (KeyCode::F(3), NONE, b"\x1bOR", b"\x1bOR"),
        (KeyCode::F(4), NONE, b"\x1bOS", b"\x1bOS"),
        (KeyCode::F(5), NONE, b"\x1b[15~", b"\x1b[15~"),
        (KeyCode::F(6), NONE, b"\x1b[17~", b"\x1b[17~"),
        (KeyCode::F(7), NONE, b"\x1b[18~", b"\x1b[18~"),
        (KeyCode::F(8), NONE, b"\x1b[19~", b"\x1b[19~"),
        (KeyCode::F(9), NONE, b"\x1b[20~", b"\x1b[20~"),
        (KeyCode::F(10), NONE, b"\x1b[21~", b"\x1b[21~"),
        (KeyCode::F(11), NONE, b"\x1b[23~", b"\x1b[23~"),
        (KeyCode::F(12), NONE, b"\x1b[24~", b"\x1b[24~"),
        (KeyCode::F(1), SHIFT, b"\x1b[1;2P", b"\x1b[1;2P"),
        (KeyCode::F(4), CTRL, b"\x1b[1;5S", b"\x1b[1;5S"),
        (KeyCode::F(5), CTRL, b"\x1b[15;5~", b"\x1b[15;5~"),
        (KeyCode::F(12), ALT, b"\x1b[24;3~", b"\x1b[24;3~"),
        (KeyCode::F(13), NONE, b"\x1b[1;2P", b"\x1b[1;2P"),
        (KeyCode::F(17), NONE, b"\x1b[15;2~", b"\x1b[15;2~"),
        (KeyCode::F(24), CTRL, b"\x1b[24;6~", b"\x1b[24;6~"),
    ];

    #[test]
    fn key_table() {
        for &(code, mods, normal, app) in TABLE {
            assert_eq!(
                enc(code, mods).as_deref(),
                Some(normal),
                "{code:?} {mods:?} (normal mode)"
            );
            assert_eq!(
                enc_app(code, mods).as_deref(),
                Some(app),
                "{code:?} {mods:?} (application cursor mode)"
            );
        }
    }

    #[test]
    fn every_letter_with_ctrl() {
        for (i, c) in ('a'..='z').enumerate() {
            let want = [i as u8 + 1];
            assert_eq!(enc(KeyCode::Char(c), CTRL).as_deref(), Some(&want[..]));
            let upper = c.to_ascii_uppercase();
            assert_eq!(
                enc(KeyCode::Char(upper), CTRL | SHIFT).as_deref(),
                Some(&want[..])
            );
        }
    }

    #[test]
    fn keys_without_bytes() {
        let none = [
            KeyCode::CapsLock,
            KeyCode::ScrollLock,
            KeyCode::NumLock,
            KeyCode::PrintScreen,
            KeyCode::Pause,
            KeyCode::Menu,
            KeyCode::Media(MediaKeyCode::Play),
            KeyCode::Modifier(ModifierKeyCode::LeftShift),
            KeyCode::Modifier(ModifierKeyCode::RightControl),
            KeyCode::F(0),
            KeyCode::F(25),
        ];
        for code in none {
            assert_eq!(enc(code, NONE), None, "{code:?}");
        }
    }

    #[test]
    fn only_press_and_repeat_send() {
        for (kind, sends) in [
            (KeyEventKind::Press, true),
            (KeyEventKind::Repeat, true),
            (KeyEventKind::Release, false),
        ] {
            let key =
                KeyEvent::new_with_kind_and_state(KeyCode::Up, NONE, kind, KeyEventState::NONE);
            assert_eq!(encode_key(&key, false).is_some(), sends, "{kind:?}");
            let key = KeyEvent::new_with_kind(KeyCode::Char('x'), NONE, kind);
            assert_eq!(encode_key(&key, true).is_some(), sends, "{kind:?}");
        }
    }

    fn modes(kitty_flags: u8, modify_other_keys: u8) -> KeyModes {
        KeyModes {
            app_cursor: false,
            keyboard: KeyboardModes {
                modify_other_keys,
                kitty_flags,
            },
        }
    }

    #[test]
    fn shift_enter_as_the_agent_asked_and_enter_stays_cr() {
        let enter = KeyEvent::new(KeyCode::Enter, NONE);
        let shift_enter = KeyEvent::new(KeyCode::Enter, SHIFT);
        for (m, want) in [
            (modes(0, 0), &b"\r"[..]),
            (modes(0, 1), b"\x1b[27;2;13~"),
            (modes(0, 2), b"\x1b[27;2;13~"),
            (modes(1, 0), b"\x1b[13;2u"),
            // Claude Code asks for both: the kitty protocol wins, as in
            // terminals that have both.
            (modes(1, 2), b"\x1b[13;2u"),
        ] {
            assert_eq!(
                encode_key_in(&shift_enter, &m).as_deref(),
                Some(want),
                "{m:?}"
            );
            assert_eq!(
                encode_key_in(&enter, &m).as_deref(),
                Some(&b"\r"[..]),
                "{m:?}"
            );
        }
    }

    #[test]
    fn the_screen_decides_the_encoding() {
        let mut screen = TerminalScreen::new(5, 20, 0);
        let up = KeyEvent::new(KeyCode::Up, NONE);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), CTRL);
        let shift_enter = KeyEvent::new(KeyCode::Enter, SHIFT);
        let enc = |s: &TerminalScreen, k: &KeyEvent| encode_key_in(k, &KeyModes::of(s));
        assert_eq!(enc(&screen, &up).as_deref(), Some(&b"\x1b[A"[..]));
        screen.process(b"\x1b[?1h");
        assert_eq!(enc(&screen, &up).as_deref(), Some(&b"\x1bOA"[..]));
        // Claude Code's start in a terminal it knows for the protocol.
        screen.process(b"\x1b[<u\x1b[>1u\x1b[>4;2m");
        assert_eq!(
            enc(&screen, &shift_enter).as_deref(),
            Some(&b"\x1b[13;2u"[..])
        );
        assert_eq!(enc(&screen, &ctrl_c).as_deref(), Some(&b"\x1b[99;5u"[..]));
        // Its exit puts everything back.
        screen.process(b"\x1b[<u\x1b[>4m\x1b[?1l");
        assert_eq!(enc(&screen, &shift_enter).as_deref(), Some(&b"\r"[..]));
        assert_eq!(enc(&screen, &ctrl_c).as_deref(), Some(&b"\x03"[..]));
        assert_eq!(enc(&screen, &up).as_deref(), Some(&b"\x1b[A"[..]));
        // modifyOtherKeys alone.
        screen.process(b"\x1b[>4;2m");
        assert_eq!(
            enc(&screen, &shift_enter).as_deref(),
            Some(&b"\x1b[27;2;13~"[..])
        );
        assert_eq!(
            enc(&screen, &ctrl_c).as_deref(),
            Some(&b"\x1b[27;5;99~"[..])
        );
        assert_eq!(enc(&screen, &up).as_deref(), Some(&b"\x1b[A"[..]));
    }

    #[test]
    fn paste_bracketed() {
        assert_eq!(encode_paste("hi", true), b"\x1b[200~hi\x1b[201~");
        assert_eq!(
            encode_paste("a\nb\r\nc", true),
            b"\x1b[200~a\nb\r\nc\x1b[201~"
        );
        assert_eq!(encode_paste("", true), b"\x1b[200~\x1b[201~");
        // The end marker cannot be smuggled in, not even nested.
        assert_eq!(
            encode_paste("x\x1b[201~rm -rf /\n", true),
            b"\x1b[200~xrm -rf /\n\x1b[201~"
        );
        assert_eq!(
            encode_paste("\x1b[20\x1b[201~1~y", true),
            b"\x1b[200~y\x1b[201~"
        );
        assert_eq!(
            encode_paste("\x1b[201~\x1b[201~", true),
            b"\x1b[200~\x1b[201~"
        );
        // Other escapes and the start marker pass through.
        assert_eq!(
            encode_paste("\x1b[200~\x1b[31m~", true),
            b"\x1b[200~\x1b[200~\x1b[31m~\x1b[201~"
        );
        assert_eq!(
            encode_paste("\u{4e2d}\u{1f680}", true),
            "\x1b[200~\u{4e2d}\u{1f680}\x1b[201~".as_bytes()
        );
    }

    #[test]
    fn paste_plain() {
        assert_eq!(encode_paste("hi", false), b"hi");
        assert_eq!(encode_paste("a\nb", false), b"a\rb");
        assert_eq!(encode_paste("a\r\nb\r\n", false), b"a\rb\r");
        assert_eq!(encode_paste("a\rb", false), b"a\rb");
        assert_eq!(encode_paste("\n\n", false), b"\r\r");
        assert_eq!(encode_paste("\r\r\n", false), b"\r\r");
        assert_eq!(encode_paste("", false), b"");
        assert_eq!(encode_paste("x\x1b[201~", false), b"x\x1b[201~");
        assert_eq!(encode_paste("\u{e9}\n", false), "\u{e9}\r".as_bytes());
    }
}
