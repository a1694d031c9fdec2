//! Where a copy goes: the client terminal's clipboard through OSC 52
//! (xterm's "manipulate selection data", which kitty, WezTerm, iTerm2,
//! foot, Alacritty and Windows Terminal honour), and a file in the state
//! directory, which is there whatever the terminal refuses (no terminal
//! says whether it took an OSC 52).
//!
//! Inside tmux the sequence goes twice: plain, which tmux takes for its
//! own buffer and passes on with `set-clipboard on`, and in tmux's
//! passthrough envelope, which reaches the outer terminal when
//! `allow-passthrough` is on.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::ui::notify::tmux_passthrough;

/// The most a copy sends through the terminal: terminals cap OSC 52
/// (xterm at about 100 kB of base64); beyond it only the file has it.
pub const OSC52_MAX: usize = 74_000;

/// The bytes that put `text` on the clipboard, or nothing when it is too
/// long for a terminal to take.
pub fn osc52(text: &str, in_tmux: bool) -> Vec<u8> {
    if text.len() > OSC52_MAX {
        return Vec::new();
    }
    let payload = base64::engine::general_purpose::STANDARD.encode(text);
    let sequence = format!("\x1b]52;c;{payload}\x07");
    let mut out = sequence.clone().into_bytes();
    if in_tmux {
        out.extend(tmux_passthrough(&sequence));
    }
    out
}

/// The file every copy is also written to.
pub fn copy_file(state_dir: &Path) -> PathBuf {
    state_dir.join("clipboard.txt")
}

/// Write `text` to the copy file, readable only by its owner.
pub fn write_copy(state_dir: &Path, text: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = copy_file(state_dir);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(text.as_bytes())?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_carries_the_text_in_base64_also_through_tmux() {
        assert_eq!(
            osc52("héllo\nworld", false),
            b"\x1b]52;c;aMOpbGxvCndvcmxk\x07"
        );
        let wrapped = String::from_utf8(osc52("x", true)).expect("utf-8");
        assert_eq!(
            wrapped,
            "\x1b]52;c;eA==\x07\x1bPtmux;\x1b\x1b]52;c;eA==\x07\x1b\\"
        );
        assert!(osc52(&"x".repeat(OSC52_MAX + 1), false).is_empty());
    }

    #[test]
    fn the_copy_file_is_private_and_replaced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        write_copy(dir.path(), "first, longer").expect("write");
        let path = write_copy(dir.path(), "second").expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "second");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
