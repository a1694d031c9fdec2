//! The mouse for an attached agent that asked for it: which events its
//! mouse mode reports (X10 presses, press and release, drags, all motion)
//! and in which encoding (xterm's default bytes, UTF-8, SGR), as xterm
//! sends them. An agent that asked for nothing gets nothing.

use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

/// What the agent's terminal modes say about the mouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MouseModes {
    mode: vt100::MouseProtocolMode,
    encoding: vt100::MouseProtocolEncoding,
}

impl MouseModes {
    pub fn of(screen: &vt100::Screen) -> MouseModes {
        MouseModes {
            mode: screen.mouse_protocol_mode(),
            encoding: screen.mouse_protocol_encoding(),
        }
    }

    /// The agent asked for mouse reports of some kind.
    pub fn reporting(&self) -> bool {
        self.mode != vt100::MouseProtocolMode::None
    }
}

/// The bytes the agent expects for `mouse` (at the terminal's column and
/// row, the agent's screen starting at the top left), or `None` when its
/// mode does not report this event.
pub fn encode(mouse: &MouseEvent, modes: &MouseModes) -> Option<Vec<u8>> {
    use vt100::MouseProtocolMode as M;
    let (mut code, release) = match mouse.kind {
        MouseEventKind::Down(b) => (button(b), false),
        MouseEventKind::Up(b) => (button(b), true),
        MouseEventKind::Drag(b) => (button(b) + 32, false),
        MouseEventKind::Moved => (3 + 32, false),
        MouseEventKind::ScrollUp => (64, false),
        MouseEventKind::ScrollDown => (65, false),
        MouseEventKind::ScrollLeft => (66, false),
        MouseEventKind::ScrollRight => (67, false),
    };
    let wanted = match modes.mode {
        M::None => false,
        M::Press => matches!(mouse.kind, MouseEventKind::Down(_)),
        M::PressRelease => !matches!(mouse.kind, MouseEventKind::Drag(_) | MouseEventKind::Moved),
        M::ButtonMotion => !matches!(mouse.kind, MouseEventKind::Moved),
        M::AnyMotion => true,
    };
    if !wanted {
        return None;
    }
    if modes.mode != M::Press {
        if mouse.modifiers.contains(KeyModifiers::SHIFT) {
            code += 4;
        }
        if mouse.modifiers.contains(KeyModifiers::ALT) {
            code += 8;
        }
        if mouse.modifiers.contains(KeyModifiers::CONTROL) {
            code += 16;
        }
    }
    let (x, y) = (u32::from(mouse.column) + 1, u32::from(mouse.row) + 1);
    match modes.encoding {
        vt100::MouseProtocolEncoding::Sgr => {
            let end = if release { 'm' } else { 'M' };
            Some(format!("\x1b[<{code};{x};{y}{end}").into_bytes())
        }
        encoding => {
            // Without SGR a release does not say which button.
            let code = if release { 3 + (code & !3) } else { code };
            let mut out = b"\x1b[M".to_vec();
            for v in [code, x, y] {
                let v = v + 32;
                match encoding {
                    vt100::MouseProtocolEncoding::Utf8 => {
                        let c = char::from_u32(v)?;
                        let mut buf = [0; 4];
                        out.extend(c.encode_utf8(&mut buf).as_bytes());
                    }
                    // One byte each: positions past 223 cannot be sent.
                    _ => out.push(u8::try_from(v).ok()?),
                }
            }
            Some(out)
        }
    }
}

fn button(b: MouseButton) -> u32 {
    match b {
        MouseButton::Left => 0,
        MouseButton::Middle => 1,
        MouseButton::Right => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn modes(bytes: &[u8]) -> MouseModes {
        let mut t = crate::agent::screen::TerminalScreen::new(24, 80, 0);
        t.process(bytes);
        MouseModes::of(t.screen())
    }

    fn ev(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
        MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }
    }

    #[test]
    fn nothing_is_sent_to_an_agent_that_did_not_ask() {
        let none = modes(b"");
        assert!(!none.reporting());
        assert_eq!(encode(&ev(MouseEventKind::ScrollUp, 1, 1), &none), None);
    }

    #[test]
    fn sgr_reports_presses_releases_wheels_and_drags_as_asked() {
        let sgr = modes(b"\x1b[?1002h\x1b[?1006h");
        let left = MouseEventKind::Down(MouseButton::Left);
        assert_eq!(
            encode(&ev(left, 4, 2), &sgr),
            Some(b"\x1b[<0;5;3M".to_vec())
        );
        let up = MouseEventKind::Up(MouseButton::Right);
        assert_eq!(encode(&ev(up, 0, 0), &sgr), Some(b"\x1b[<2;1;1m".to_vec()));
        assert_eq!(
            encode(&ev(MouseEventKind::ScrollDown, 9, 9), &sgr),
            Some(b"\x1b[<65;10;10M".to_vec())
        );
        let drag = MouseEventKind::Drag(MouseButton::Left);
        assert_eq!(
            encode(&ev(drag, 1, 1), &sgr),
            Some(b"\x1b[<32;2;2M".to_vec())
        );
        // Button-motion mode does not report plain moves.
        assert_eq!(encode(&ev(MouseEventKind::Moved, 1, 1), &sgr), None);
        let mut ctrl = ev(left, 0, 0);
        ctrl.modifiers = KeyModifiers::CONTROL;
        assert_eq!(encode(&ctrl, &sgr), Some(b"\x1b[<16;1;1M".to_vec()));
    }

    #[test]
    fn xterm_s_default_encoding_and_x10() {
        let normal = modes(b"\x1b[?1000h");
        let left = MouseEventKind::Down(MouseButton::Left);
        assert_eq!(
            encode(&ev(left, 0, 0), &normal),
            Some(b"\x1b[M !!".to_vec())
        );
        let up = MouseEventKind::Up(MouseButton::Left);
        assert_eq!(encode(&ev(up, 0, 0), &normal), Some(b"\x1b[M#!!".to_vec()));
        assert_eq!(
            encode(&ev(left, 300, 0), &normal),
            None,
            "too far for a byte"
        );
        let x10 = modes(b"\x1b[?9h");
        assert!(encode(&ev(left, 0, 0), &x10).is_some());
        assert_eq!(encode(&ev(up, 0, 0), &x10), None);
        let utf8 = modes(b"\x1b[?1000h\x1b[?1005h");
        assert_eq!(
            encode(&ev(left, 300, 0), &utf8),
            Some("\x1b[M \u{14d}!".as_bytes().to_vec())
        );
    }
}
