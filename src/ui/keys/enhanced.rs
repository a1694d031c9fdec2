//! Keys for an agent that asked for more than legacy bytes (see
//! `agent::screen::keyboard`): the kitty keyboard protocol's `CSI u`
//! forms, or xterm's modifyOtherKeys `CSI 27 ; m ; code ~`.
//!
//! **Kitty** (sw.kovidgoyal.net/kitty/keyboard-protocol), by flag:
//!
//! * 1, disambiguate: Esc and every key with Ctrl, Alt or another
//!   modifier but Shift alone is `CSI code ; m u` (the code the unshifted
//!   key: `a` for Ctrl+Shift+A); Enter, Tab and Backspace stay `\r`,
//!   `\t`, DEL without modifiers and are `CSI 13/9/127 ; m u` with them
//!   (Shift+Enter `CSI 13 ; 2 u`); text typed alone or with Shift stays
//!   text. Cursor keys, Home, End and F1-F4 are `CSI 1 ; m X` (`CSI X`
//!   without modifiers, never SS3), the others `CSI n ; m ~`; F13-F24,
//!   lock, media and menu keys their private-use codes.
//! * 2, event types: `:2` (repeat) and `:3` (release) after the
//!   modifiers; releases are sent only then, and never for Enter, Tab and
//!   Backspace unless all keys are escape codes.
//! * 4, alternate keys: a letter typed with Shift adds its shifted form
//!   (`CSI 97:65 ; 2 u`). Other shifted keys are reported as the character
//!   the client terminal gave (its unshifted key depends on the layout,
//!   which orch does not know), without an alternate.
//! * 8, all keys as escape codes: text too, Enter, Tab and Backspace too,
//!   and presses of modifier keys.
//! * 16, associated text (with 8): the text a key types, as code points
//!   after the modifiers (`CSI 97 ; 2 ; 65 u`).
//!
//! The modifier parameter is 1 + Shift (1) + Alt (2) + Ctrl (4) + Super
//! (8) + Hyper (16) + Meta (32).
//!
//! **modifyOtherKeys** (xterm's "other keys": text, Enter, Tab,
//! Backspace, Esc; cursor and function keys keep their modified forms).
//! The modifier parameter is xterm's (Meta counts as Alt); the code is the
//! character as typed (`A` for Ctrl+Shift+A).
//!
//! * Level 1: only a modified key whose legacy bytes would lose a
//!   modifier: Enter and Esc with Shift or Ctrl (Shift+Enter
//!   `CSI 27 ; 2 ; 13 ~`), Tab with Ctrl, Ctrl with a character that has
//!   no control code (Ctrl+1) or with Shift and a letter. Alt alone keeps
//!   its ESC prefix, Shift+Tab stays `CSI Z`, Backspace stays as it is.
//! * Level 2: every other key with Ctrl or Alt, and Enter, Tab, Backspace
//!   and Esc with any modifier (Ctrl+C `CSI 27 ; 5 ; 99 ~`). Text typed
//!   with Shift alone stays text.

use crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MediaKeyCode, ModifierKeyCode,
};

const SHIFT: u8 = 1;
const ALT: u8 = 2;
const CTRL: u8 = 4;
const SUPER: u8 = 8;
const HYPER: u16 = 16;
const META: u16 = 32;

/// Kitty flags (1, disambiguate, is what any flags at all mean here).
const EVENT_TYPES: u8 = 2;
const ALTERNATES: u8 = 4;
const ALL_KEYS: u8 = 8;
const TEXT: u8 = 16;

/// Legacy terminals send Ctrl+\ ] ^ _ as 0x1C-0x1F, which crossterm reads
/// as Ctrl+4 to Ctrl+7: the key meant is the one the byte stands for.
fn typed_char(c: char, mods: KeyModifiers) -> char {
    if !mods.contains(KeyModifiers::CONTROL) {
        return c;
    }
    match c {
        '4' => '\\',
        '5' => ']',
        '6' => '^',
        '7' => '_',
        c => c,
    }
}

/// The kitty modifier bits of `mods`.
fn kitty_bits(mods: KeyModifiers) -> u16 {
    let mut bits = 0u16;
    if mods.contains(KeyModifiers::SHIFT) {
        bits |= u16::from(SHIFT);
    }
    if mods.contains(KeyModifiers::ALT) {
        bits |= u16::from(ALT);
    }
    if mods.contains(KeyModifiers::CONTROL) {
        bits |= u16::from(CTRL);
    }
    if mods.contains(KeyModifiers::SUPER) {
        bits |= u16::from(SUPER);
    }
    if mods.contains(KeyModifiers::HYPER) {
        bits |= HYPER;
    }
    if mods.contains(KeyModifiers::META) {
        bits |= META;
    }
    bits
}

/// How a key is written as a kitty escape code.
enum Form {
    /// `CSI code ; m u`.
    U(u32),
    /// `CSI 1 ; m X` (`CSI X` without modifiers).
    Letter(u8),
    /// `CSI n ; m ~`.
    Tilde(u8),
}

/// The bytes of `key` under kitty flags `flags` (not 0); `None` for a key
/// that sends nothing.
pub(super) fn kitty(key: &KeyEvent, flags: u8) -> Option<Vec<u8>> {
    let events = flags & EVENT_TYPES != 0;
    let all = flags & ALL_KEYS != 0;
    let event = match key.kind {
        KeyEventKind::Press => 1,
        KeyEventKind::Repeat if events => 2,
        KeyEventKind::Repeat => 1,
        KeyEventKind::Release if events => 3,
        KeyEventKind::Release => return None,
    };
    let bits = kitty_bits(key.modifiers);
    let shift_only = bits & !u16::from(SHIFT) == 0;
    let form = match key.code {
        KeyCode::Char(c) => {
            let c = typed_char(c, key.modifiers);
            let shifted = bits & u16::from(SHIFT) != 0;
            // The text it types: Shift makes a letter uppercase.
            let typed = if shifted {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            };
            if !all && shift_only && event != 3 {
                // Text typed alone or with Shift stays text.
                let mut out = [0u8; 4];
                return Some(typed.encode_utf8(&mut out).as_bytes().to_vec());
            }
            let base = c.to_lowercase().next().unwrap_or(c);
            let code = base as u32;
            let alternate =
                (shifted && flags & ALTERNATES != 0 && typed != base).then_some(typed as u32);
            // Only what types text has text: Shift at most, and a press.
            let text =
                (shift_only && all && flags & TEXT != 0 && event != 3).then_some(typed as u32);
            return Some(csi_u(code, alternate, bits, event, text));
        }
        KeyCode::Enter | KeyCode::Tab | KeyCode::Backspace if !all && bits == 0 => {
            if event == 3 {
                return None;
            }
            return Some(match key.code {
                KeyCode::Enter => b"\r".to_vec(),
                KeyCode::Tab => b"\t".to_vec(),
                _ => b"\x7f".to_vec(),
            });
        }
        KeyCode::Enter => Form::U(13),
        KeyCode::Tab => Form::U(9),
        KeyCode::BackTab => {
            return Some(csi_u(9, None, bits | u16::from(SHIFT), event, None));
        }
        KeyCode::Backspace => Form::U(127),
        KeyCode::Esc => Form::U(27),
        KeyCode::Null => Form::U(32),
        KeyCode::Up => Form::Letter(b'A'),
        KeyCode::Down => Form::Letter(b'B'),
        KeyCode::Right => Form::Letter(b'C'),
        KeyCode::Left => Form::Letter(b'D'),
        KeyCode::Home => Form::Letter(b'H'),
        KeyCode::End => Form::Letter(b'F'),
        KeyCode::KeypadBegin => Form::Letter(b'E'),
        KeyCode::Insert => Form::Tilde(2),
        KeyCode::Delete => Form::Tilde(3),
        KeyCode::PageUp => Form::Tilde(5),
        KeyCode::PageDown => Form::Tilde(6),
        // F3 is `CSI 13 ~`: the kitty spec dropped `CSI R`, which reads as a
        // cursor position report (`CSI 1;5R` for Ctrl+F3).
        KeyCode::F(3) => Form::Tilde(13),
        KeyCode::F(n @ 1..=4) => Form::Letter(b'P' + (n - 1)),
        KeyCode::F(5) => Form::Tilde(15),
        KeyCode::F(n @ 6..=10) => Form::Tilde(n + 11),
        KeyCode::F(n @ 11..=12) => Form::Tilde(n + 12),
        KeyCode::F(n @ 13..=35) => Form::U(57376 + u32::from(n - 13)),
        KeyCode::F(_) => return None,
        KeyCode::CapsLock if all => Form::U(57358),
        KeyCode::ScrollLock if all => Form::U(57359),
        KeyCode::NumLock if all => Form::U(57360),
        KeyCode::CapsLock | KeyCode::ScrollLock | KeyCode::NumLock => return None,
        KeyCode::PrintScreen => Form::U(57361),
        KeyCode::Pause => Form::U(57362),
        KeyCode::Menu => Form::U(57363),
        KeyCode::Media(media) => Form::U(media_code(media)),
        KeyCode::Modifier(modifier) if all => Form::U(modifier_code(modifier)),
        KeyCode::Modifier(_) => return None,
    };
    Some(match form {
        Form::U(code) => csi_u(code, None, bits, event, None),
        Form::Letter(letter) => {
            let mut out = b"\x1b[".to_vec();
            if bits != 0 || event != 1 {
                out.extend_from_slice(b"1;");
                out.extend_from_slice(modifier_field(bits, event).as_bytes());
            }
            out.push(letter);
            out
        }
        Form::Tilde(n) => {
            let mut out = format!("\x1b[{n}").into_bytes();
            if bits != 0 || event != 1 {
                out.push(b';');
                out.extend_from_slice(modifier_field(bits, event).as_bytes());
            }
            out.push(b'~');
            out
        }
    })
}

/// `m` or `m:event` (the event only when not a press).
fn modifier_field(bits: u16, event: u8) -> String {
    let m = bits + 1;
    if event == 1 {
        m.to_string()
    } else {
        format!("{m}:{event}")
    }
}

/// `CSI code[:alternate] [; m[:event]] [; text] u`.
fn csi_u(code: u32, alternate: Option<u32>, bits: u16, event: u8, text: Option<u32>) -> Vec<u8> {
    let mut out = format!("\x1b[{code}");
    if let Some(alternate) = alternate {
        out.push_str(&format!(":{alternate}"));
    }
    let mods = bits != 0 || event != 1;
    if mods || text.is_some() {
        out.push(';');
        if mods {
            out.push_str(&modifier_field(bits, event));
        }
    }
    if let Some(text) = text {
        out.push_str(&format!(";{text}"));
    }
    out.push('u');
    out.into_bytes()
}

fn media_code(media: MediaKeyCode) -> u32 {
    use MediaKeyCode as M;
    match media {
        M::Play => 57428,
        M::Pause => 57429,
        M::PlayPause => 57430,
        M::Reverse => 57431,
        M::Stop => 57432,
        M::FastForward => 57433,
        M::Rewind => 57434,
        M::TrackNext => 57435,
        M::TrackPrevious => 57436,
        M::Record => 57437,
        M::LowerVolume => 57438,
        M::RaiseVolume => 57439,
        M::MuteVolume => 57440,
    }
}

fn modifier_code(modifier: ModifierKeyCode) -> u32 {
    use ModifierKeyCode as K;
    match modifier {
        K::LeftShift => 57441,
        K::LeftControl => 57442,
        K::LeftAlt => 57443,
        K::LeftSuper => 57444,
        K::LeftHyper => 57445,
        K::LeftMeta => 57446,
        K::RightShift => 57447,
        K::RightControl => 57448,
        K::RightAlt => 57449,
        K::RightSuper => 57450,
        K::RightHyper => 57451,
        K::RightMeta => 57452,
        K::IsoLevel3Shift => 57453,
        K::IsoLevel5Shift => 57454,
    }
}

/// The bytes of `key` under modifyOtherKeys `level` (1 or 2), or `None`
/// when the key keeps its legacy bytes.
pub(super) fn modify_other_keys(key: &KeyEvent, level: u8) -> Option<Vec<u8>> {
    let m = key.modifiers;
    let shift = m.contains(KeyModifiers::SHIFT);
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let alt = m.intersects(KeyModifiers::ALT | KeyModifiers::META);
    if !(shift || ctrl || alt) {
        return None;
    }
    let param = 1 + u8::from(shift) + 2 * u8::from(alt) + 4 * u8::from(ctrl);
    let code: u32 = match key.code {
        KeyCode::Char(c) => {
            let c = typed_char(c, m);
            let typed = if shift {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c
            };
            let extended = match level {
                1 => ctrl && (super::ctrl_byte(c).is_none() || (shift && c.is_ascii_alphabetic())),
                _ => ctrl || alt,
            };
            if !extended {
                return None;
            }
            typed as u32
        }
        KeyCode::Enter => {
            if level == 1 && !(shift || ctrl) {
                return None;
            }
            13
        }
        KeyCode::Esc => {
            if level == 1 && !(shift || ctrl) {
                return None;
            }
            27
        }
        KeyCode::Tab => {
            if level == 1 && !ctrl {
                return None;
            }
            9
        }
        KeyCode::BackTab => {
            if level == 1 {
                return None;
            }
            // Shift+Tab, whether or not the Shift is reported.
            let param = 2 + 2 * u8::from(alt) + 4 * u8::from(ctrl);
            return Some(format!("\x1b[27;{param};9~").into_bytes());
        }
        KeyCode::Backspace => {
            if level == 1 {
                return None;
            }
            127
        }
        _ => return None,
    };
    Some(format!("\x1b[27;{param};{code}~").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEventState;

    const NONE: KeyModifiers = KeyModifiers::NONE;
    const S: KeyModifiers = KeyModifiers::SHIFT;
    const C: KeyModifiers = KeyModifiers::CONTROL;
    const A: KeyModifiers = KeyModifiers::ALT;

    fn press(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, mods)
    }

    fn kind(code: KeyCode, mods: KeyModifiers, kind: KeyEventKind) -> KeyEvent {
        KeyEvent::new_with_kind_and_state(code, mods, kind, KeyEventState::NONE)
    }

    fn k(flags: u8, code: KeyCode, mods: KeyModifiers) -> Option<Vec<u8>> {
        kitty(&press(code, mods), flags)
    }

    #[test]
    fn kitty_disambiguate() {
        #[allow(clippy::type_complexity)]
        let table: &[(KeyCode, KeyModifiers, &[u8])] = &[
            (KeyCode::Enter, NONE, b"\r"),
            (KeyCode::Enter, S, b"\x1b[13;2u"),
            (KeyCode::Enter, C, b"\x1b[13;5u"),
            (KeyCode::Enter, A, b"\x1b[13;3u"),
            (KeyCode::Tab, NONE, b"\t"),
            (KeyCode::Tab, S, b"\x1b[9;2u"),
            (KeyCode::BackTab, S, b"\x1b[9;2u"),
            (KeyCode::Tab, C, b"\x1b[9;5u"),
            (KeyCode::Backspace, NONE, b"\x7f"),
            (KeyCode::Backspace, C, b"\x1b[127;5u"),
            (KeyCode::Backspace, A, b"\x1b[127;3u"),
            (KeyCode::Esc, NONE, b"\x1b[27u"),
            (KeyCode::Esc, S, b"\x1b[27;2u"),
            // F3 never as `CSI R` (a cursor position report).
            (KeyCode::F(3), NONE, b"\x1b[13~"),
            (KeyCode::F(3), C, b"\x1b[13;5~"),
            (KeyCode::F(4), C, b"\x1b[1;5S"),
            (KeyCode::Char('a'), NONE, b"a"),
            (KeyCode::Char('A'), S, b"A"),
            (KeyCode::Char('a'), S, b"A"),
            (KeyCode::Char('?'), S, b"?"),
            (KeyCode::Char('\u{e9}'), NONE, "\u{e9}".as_bytes()),
            (KeyCode::Char('c'), C, b"\x1b[99;5u"),
            (KeyCode::Char('C'), C.union(S), b"\x1b[99;6u"),
            (KeyCode::Char('i'), C, b"\x1b[105;5u"),
            (KeyCode::Char('a'), A, b"\x1b[97;3u"),
            (KeyCode::Char('['), A, b"\x1b[91;3u"),
            (KeyCode::Char('a'), C.union(A), b"\x1b[97;7u"),
            (KeyCode::Char('a'), KeyModifiers::SUPER, b"\x1b[97;9u"),
            (KeyCode::Char(' '), C, b"\x1b[32;5u"),
            // Ctrl+] as a legacy terminal reported it to the client.
            (KeyCode::Char('5'), C, b"\x1b[93;5u"),
            (KeyCode::Up, NONE, b"\x1b[A"),
            (KeyCode::Up, C, b"\x1b[1;5A"),
            (KeyCode::Home, S, b"\x1b[1;2H"),
            (KeyCode::F(1), NONE, b"\x1b[P"),
            (KeyCode::F(4), A, b"\x1b[1;3S"),
            (KeyCode::F(5), NONE, b"\x1b[15~"),
            (KeyCode::F(12), C, b"\x1b[24;5~"),
            (KeyCode::F(13), NONE, b"\x1b[57376u"),
            (KeyCode::Delete, NONE, b"\x1b[3~"),
            (KeyCode::PageUp, S, b"\x1b[5;2~"),
            (KeyCode::Media(MediaKeyCode::Play), NONE, b"\x1b[57428u"),
            (KeyCode::Menu, NONE, b"\x1b[57363u"),
        ];
        for (code, mods, want) in table {
            assert_eq!(
                k(1, *code, *mods).as_deref(),
                Some(*want),
                "{code:?} {mods:?}"
            );
        }
        assert_eq!(k(1, KeyCode::CapsLock, NONE), None);
        assert_eq!(
            k(1, KeyCode::Modifier(ModifierKeyCode::LeftShift), NONE),
            None
        );
        // No releases without event types.
        assert_eq!(
            kitty(&kind(KeyCode::Char('c'), C, KeyEventKind::Release), 1),
            None
        );
        assert_eq!(
            kitty(&kind(KeyCode::Char('c'), C, KeyEventKind::Repeat), 1).as_deref(),
            Some(&b"\x1b[99;5u"[..])
        );
    }

    #[test]
    fn kitty_event_types() {
        let ev = |code, mods, k| kitty(&kind(code, mods, k), 1 | EVENT_TYPES);
        assert_eq!(
            ev(KeyCode::Up, NONE, KeyEventKind::Release).as_deref(),
            Some(&b"\x1b[1;1:3A"[..])
        );
        assert_eq!(
            ev(KeyCode::Char('c'), C, KeyEventKind::Repeat).as_deref(),
            Some(&b"\x1b[99;5:2u"[..])
        );
        assert_eq!(
            ev(KeyCode::Enter, S, KeyEventKind::Release).as_deref(),
            Some(&b"\x1b[13;2:3u"[..])
        );
        // A text key's release is an escape code; its press stays text.
        assert_eq!(
            ev(KeyCode::Char('a'), NONE, KeyEventKind::Release).as_deref(),
            Some(&b"\x1b[97;1:3u"[..])
        );
        assert_eq!(
            ev(KeyCode::Char('a'), NONE, KeyEventKind::Press).as_deref(),
            Some(&b"a"[..])
        );
        assert_eq!(ev(KeyCode::Enter, NONE, KeyEventKind::Release), None);
        assert_eq!(
            ev(KeyCode::F(5), NONE, KeyEventKind::Repeat).as_deref(),
            Some(&b"\x1b[15;1:2~"[..])
        );
    }

    #[test]
    fn kitty_all_keys_alternates_and_text() {
        assert_eq!(
            k(8, KeyCode::Char('a'), NONE).as_deref(),
            Some(&b"\x1b[97u"[..])
        );
        assert_eq!(
            k(8, KeyCode::Char('A'), S).as_deref(),
            Some(&b"\x1b[97;2u"[..])
        );
        assert_eq!(
            k(8 | 4, KeyCode::Char('A'), S).as_deref(),
            Some(&b"\x1b[97:65;2u"[..])
        );
        assert_eq!(
            k(8 | 16, KeyCode::Char('a'), NONE).as_deref(),
            Some(&b"\x1b[97;;97u"[..])
        );
        assert_eq!(
            k(8 | 16, KeyCode::Char('a'), S).as_deref(),
            Some(&b"\x1b[97;2;65u"[..])
        );
        // Ctrl types no text.
        assert_eq!(
            k(8 | 16, KeyCode::Char('a'), C).as_deref(),
            Some(&b"\x1b[97;5u"[..])
        );
        assert_eq!(
            k(8, KeyCode::Enter, NONE).as_deref(),
            Some(&b"\x1b[13u"[..])
        );
        assert_eq!(k(8, KeyCode::Tab, NONE).as_deref(), Some(&b"\x1b[9u"[..]));
        assert_eq!(
            k(8, KeyCode::Backspace, NONE).as_deref(),
            Some(&b"\x1b[127u"[..])
        );
        assert_eq!(
            k(8, KeyCode::Modifier(ModifierKeyCode::LeftShift), S).as_deref(),
            Some(&b"\x1b[57441;2u"[..])
        );
        assert_eq!(
            k(8, KeyCode::CapsLock, NONE).as_deref(),
            Some(&b"\x1b[57358u"[..])
        );
        // Alternate keys alone change no text key.
        assert_eq!(k(1 | 4, KeyCode::Char('A'), S).as_deref(), Some(&b"A"[..]));
        assert_eq!(
            k(1 | 4, KeyCode::Char('A'), C.union(S)).as_deref(),
            Some(&b"\x1b[97:65;6u"[..])
        );
    }

    #[test]
    fn modify_other_keys_levels() {
        let m = |level, code, mods| modify_other_keys(&press(code, mods), level);
        // Shift+Enter, as Claude Code reads it.
        assert_eq!(
            m(1, KeyCode::Enter, S).as_deref(),
            Some(&b"\x1b[27;2;13~"[..])
        );
        assert_eq!(
            m(2, KeyCode::Enter, S).as_deref(),
            Some(&b"\x1b[27;2;13~"[..])
        );
        assert_eq!(
            m(1, KeyCode::Enter, C).as_deref(),
            Some(&b"\x1b[27;5;13~"[..])
        );
        assert_eq!(m(1, KeyCode::Enter, NONE), None);
        assert_eq!(m(2, KeyCode::Enter, NONE), None);
        assert_eq!(m(1, KeyCode::Enter, A), None);
        assert_eq!(
            m(2, KeyCode::Enter, A).as_deref(),
            Some(&b"\x1b[27;3;13~"[..])
        );
        // Ctrl with a letter: a control code at level 1, not at level 2.
        assert_eq!(m(1, KeyCode::Char('c'), C), None);
        assert_eq!(
            m(2, KeyCode::Char('c'), C).as_deref(),
            Some(&b"\x1b[27;5;99~"[..])
        );
        assert_eq!(
            m(1, KeyCode::Char('A'), C.union(S)).as_deref(),
            Some(&b"\x1b[27;6;65~"[..])
        );
        assert_eq!(
            m(1, KeyCode::Char('1'), C).as_deref(),
            Some(&b"\x1b[27;5;49~"[..])
        );
        assert_eq!(m(1, KeyCode::Char('a'), A), None);
        assert_eq!(
            m(2, KeyCode::Char('a'), A).as_deref(),
            Some(&b"\x1b[27;3;97~"[..])
        );
        // Shifted text stays text.
        assert_eq!(m(2, KeyCode::Char('A'), S), None);
        assert_eq!(m(1, KeyCode::Tab, C).as_deref(), Some(&b"\x1b[27;5;9~"[..]));
        assert_eq!(m(1, KeyCode::BackTab, S), None);
        assert_eq!(
            m(2, KeyCode::BackTab, S).as_deref(),
            Some(&b"\x1b[27;2;9~"[..])
        );
        assert_eq!(m(1, KeyCode::Backspace, C), None);
        assert_eq!(
            m(2, KeyCode::Backspace, C).as_deref(),
            Some(&b"\x1b[27;5;127~"[..])
        );
        assert_eq!(
            m(1, KeyCode::Esc, S).as_deref(),
            Some(&b"\x1b[27;2;27~"[..])
        );
        // Cursor and function keys are not "other keys".
        assert_eq!(m(2, KeyCode::Up, C), None);
        assert_eq!(m(2, KeyCode::F(5), S), None);
    }
}
