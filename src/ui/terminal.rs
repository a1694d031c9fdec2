//! Owning the user's terminal: raw mode, alternate screen, mouse, bracketed
//! paste, hidden cursor, and giving all of it back on every way out (normal
//! exit, error, panic, suspend for a pager).

use std::io::{self, Stdout, Write};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// While alive, the terminal is ours; dropping it restores the terminal.
pub struct TerminalGuard {
    active: bool,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<(TerminalGuard, Term)> {
        install_panic_hook();
        take_over()?;
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok((TerminalGuard { active: true }, terminal))
    }

    /// Give the terminal back for a while (to run a pager), then take it
    /// again and force a full redraw.
    pub fn suspend<R>(&mut self, terminal: &mut Term, f: impl FnOnce() -> R) -> io::Result<R> {
        restore();
        self.active = false;
        let result = f();
        take_over()?;
        self.active = true;
        terminal.clear()?;
        Ok(result)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        if self.active {
            restore();
        }
    }
}

fn take_over() -> io::Result<()> {
    enable_raw_mode()?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        cursor::Hide
    )
}

/// Undo everything `take_over` did. Safe to call more than once; errors are
/// ignored because there is nothing better to do with a broken terminal.
pub fn restore() {
    let mut out = io::stdout();
    let _ = execute!(
        out,
        DisableBracketedPaste,
        DisableMouseCapture,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
    let _ = out.flush();
}

/// A crash prints its message on a usable terminal, not into raw mode on
/// the alternate screen where it would vanish. Panics orch recovers from
/// (see [`crate::panic_guard`]) leave the terminal alone and go to the log.
fn install_panic_hook() {
    crate::panic_guard::on_crash(restore);
}
