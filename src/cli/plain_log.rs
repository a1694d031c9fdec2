//! `orch logs --plain`: an attempt's output as its terminal showed it, as
//! text: carriage-return redraws (spinners, progress bars), cursor moves and
//! colours applied through the screen model instead of printed as escape
//! codes, so `less` shows lines rather than `^M` and `ESC[`.

use std::io::Write;

use crate::agent::screen::TerminalScreen;

/// Width lines are laid out at: the headless PTY's.
const COLS: u16 = 200;
/// Bytes fed at a time: fewer new lines than the history holds, so none is
/// lost between two drains.
const CHUNK: usize = 4096;
/// History kept between drains.
const HISTORY: usize = 10_000;

/// Feeds bytes through a screen and writes each line once it has left it.
pub struct PlainLog {
    screen: TerminalScreen,
    /// History lines already written.
    written: u64,
}

impl PlainLog {
    /// `rows`: how many lines stay on the screen (redrawable) before they
    /// are written; 1 writes each line as soon as the next one starts.
    pub fn new(rows: u16) -> PlainLog {
        PlainLog {
            screen: TerminalScreen::new(rows.max(1), COLS, HISTORY),
            written: 0,
        }
    }

    /// Take `bytes` in and write the lines that scrolled off the screen.
    pub fn feed(&mut self, bytes: &[u8], out: &mut impl Write) -> std::io::Result<()> {
        for chunk in bytes.chunks(CHUNK) {
            self.screen.process(chunk);
            // The agent's queries are not answered: nobody reads them.
            let _ = self.screen.take_replies();
            self.drain(out)?;
        }
        out.flush()
    }

    /// Write what is still on the screen (trailing blank rows dropped);
    /// the end of the log.
    pub fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.drain(out)?;
        let screen = self.screen.screen();
        let (_, cols) = screen.size();
        let mut rows: Vec<String> = screen
            .rows(0, cols.get())
            .map(|row| row.trim_end().to_string())
            .collect();
        while rows.last().is_some_and(String::is_empty) {
            rows.pop();
        }
        for row in rows {
            writeln!(out, "{row}")?;
        }
        out.flush()
    }

    fn drain(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let history = self.screen.history();
        let new = usize::try_from(history.pushed() - self.written).unwrap_or(usize::MAX);
        let held = history.len();
        for line in history.iter().skip(held.saturating_sub(new)) {
            writeln!(out, "{}", line.text().trim_end())?;
        }
        self.written = history.pushed();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(bytes: &[u8], rows: u16) -> String {
        let mut out = Vec::new();
        let mut log = PlainLog::new(rows);
        log.feed(bytes, &mut out).unwrap();
        log.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn redraws_colours_and_tabs_come_out_as_the_terminal_showed_them() {
        let bytes = b"\x1b[32mok\x1b[0m start\r\n\
            \x1b[36m|\x1b[0m 10%\r\x1b[36m/\x1b[0m 50%\r\x1b[36m-\x1b[0m 100%\r\n\
            \x1b[41mERROR \x1b[0m\tfile\r\ndone";
        let expected = "ok start\n- 100%\nERROR   file\ndone\n";
        assert_eq!(plain(bytes, 24), expected);
        assert_eq!(plain(bytes, 1), expected, "the same, line by line");
    }

    #[test]
    fn a_long_log_loses_no_line() {
        let mut bytes = Vec::new();
        for i in 0..50_000 {
            bytes.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        let text = plain(&bytes, 24);
        let lines: Vec<&str> = text.lines().collect();
        let expected: Vec<String> = (0..50_000).map(|i| format!("line {i}")).collect();
        if let Some(i) =
            (0..lines.len()).find(|&i| expected.get(i).map(String::as_str) != Some(lines[i]))
        {
            panic!(
                "line {i}: {:?}, around: {:?}",
                lines[i],
                &lines[i.saturating_sub(2)..(i + 3).min(lines.len())]
            );
        }
        assert_eq!(lines.len(), 50_000);
        assert_eq!(lines[0], "line 0");
        assert_eq!(lines[49_999], "line 49999");
    }
}
