//! Getting a person's attention through their terminal: the bell, a
//! desktop notification (OSC 9, which iTerm2, kitty, WezTerm, Windows
//! Terminal and foot show; OSC 777, rxvt-unicode's and VTE's), both
//! wrapped for tmux to pass on when the client runs inside it (tmux drops
//! escape sequences it does not know, unless `allow-passthrough` is on and
//! they come in a DCS `tmux;` envelope with their ESCs doubled); and the
//! terminal's title, which carries the count of what needs you.

/// What a notification may say: one line, no control characters (an
/// ESC or BEL in a question would end the sequence early).
fn clean(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match flat.char_indices().nth(max) {
        Some((cut, _)) => flat[..cut].to_string(),
        None => flat,
    }
}

/// The bell, then `text` as a desktop notification (OSC 9 and OSC 777).
pub fn bell_and_notify(text: &str, in_tmux: bool) -> Vec<u8> {
    let text = clean(text, 200);
    let mut out = b"\x07".to_vec();
    for sequence in [
        format!("\x1b]9;{text}\x07"),
        format!("\x1b]777;notify;orch;{text}\x07"),
    ] {
        if in_tmux {
            out.extend(tmux_passthrough(&sequence));
        } else {
            out.extend(sequence.into_bytes());
        }
    }
    out
}

/// `sequence` in tmux's passthrough envelope.
pub(crate) fn tmux_passthrough(sequence: &str) -> Vec<u8> {
    let mut out = b"\x1bPtmux;".to_vec();
    for b in sequence.bytes() {
        if b == 0x1b {
            out.push(0x1b);
        }
        out.push(b);
    }
    out.extend(b"\x1b\\");
    out
}

/// The terminal's title (OSC 2).
pub fn title(text: &str) -> Vec<u8> {
    format!("\x1b]2;{}\x07", clean(text, 100)).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_rings_and_names_the_task_also_through_tmux() {
        let plain = bell_and_notify("api: Proceed? (y/n)\x1b[2J", false);
        assert_eq!(
            plain,
            b"\x07\x1b]9;api: Proceed? (y/n) [2J\x07\x1b]777;notify;orch;api: Proceed? (y/n) [2J\x07"
                .to_vec()
        );
        let wrapped = String::from_utf8(bell_and_notify("api: idle", true)).expect("utf-8");
        assert_eq!(
            wrapped,
            "\x07\x1bPtmux;\x1b\x1b]9;api: idle\x07\x1b\\\x1bPtmux;\x1b\x1b]777;notify;orch;api: idle\x07\x1b\\"
        );
        assert_eq!(title("orch: 2 need you"), b"\x1b]2;orch: 2 need you\x07");
    }
}
