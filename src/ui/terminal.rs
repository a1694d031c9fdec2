//! Owning the user's terminal: raw mode, alternate screen, mouse, bracketed
//! paste, hidden cursor, and giving all of it back on every way out (normal
//! exit, error, panic, suspend for a pager).
//!
//! A control room also asks a terminal that supports the kitty keyboard
//! protocol (`crossterm::terminal::supports_keyboard_enhancement`: it
//! answers `CSI ? u`) to disambiguate keys (`CSI > 1 u`, popped on the
//! way out), so that Shift+Enter, Ctrl+I and Esc reach an attached agent
//! as themselves rather than as Enter, Tab and the start of an escape
//! sequence. A terminal without it (tmux, xterm) sends legacy keys and
//! the control room cannot tell those apart: there Shift+Enter reaches an
//! agent as Enter; `orch attach`, which passes the terminal's own bytes
//! through, has the agent's keyboard modes mirrored instead.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::{Backend, ClearType};
use ratatui::Terminal;

/// While alive, this terminal is the client's: raw mode on the alternate
/// screen; dropping it restores the terminal, as does a crash.
pub struct ClientTerminal {
    active: std::cell::Cell<bool>,
    /// The control room's extras: mouse, bracketed paste, hidden cursor.
    full: bool,
}

impl ClientTerminal {
    /// For a control room: raw mode, alternate screen, mouse, paste.
    pub fn enter() -> io::Result<ClientTerminal> {
        ClientTerminal::take(true)
    }

    /// For `orch attach`: raw mode and the alternate screen only; the
    /// agent's own modes are switched on by what the server sends.
    pub fn enter_plain() -> io::Result<ClientTerminal> {
        ClientTerminal::take(false)
    }

    fn take(full: bool) -> io::Result<ClientTerminal> {
        install_panic_hook();
        take_over(full)?;
        Ok(ClientTerminal {
            active: std::cell::Cell::new(true),
            full,
        })
    }

    /// Give the terminal back for a while (to run a pager), then take it
    /// again.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        restore();
        self.active.set(false);
        let result = f();
        if let Err(err) = take_over(self.full) {
            tracing::warn!("cannot take the terminal back: {err}");
        }
        self.active.set(true);
        result
    }
}

impl Drop for ClientTerminal {
    fn drop(&mut self) {
        if self.active.get() {
            restore();
        }
    }
}

/// Clear the screen and make the next draw paint every cell.
///
/// Not `Terminal::clear`: that first asks the terminal where its cursor is
/// and waits for the answer on stdin, where crossterm's input reader (left
/// running by an input future the loop dropped for another branch) can take
/// it instead. The clear then fails after a two-second stall and the
/// control room stays blank until something redraws each cell.
pub fn repaint_all<B: Backend>(terminal: &mut Terminal<B>) -> Result<(), B::Error> {
    terminal.backend_mut().clear_region(ClearType::All)?;
    // Each swap blanks the buffer it leaves behind: after two, the last
    // frame is forgotten and the next one is drawn whole.
    terminal.swap_buffers();
    terminal.swap_buffers();
    Ok(())
}

/// Whether this process has kitty keyboard flags pushed on its terminal
/// now (to be popped by [`restore`]).
static KEYBOARD_PUSHED: AtomicBool = AtomicBool::new(false);
/// Whether the terminal answers the kitty keyboard query (asked once).
static KEYBOARD_SUPPORTED: OnceLock<bool> = OnceLock::new();

/// What `orch attach` must write to undo the modes it mirrored onto this
/// terminal (an agent's keyboard, mouse and paste modes): written by
/// [`restore`] on every way out, a panic included.
static OWED_ON_EXIT: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// From now on, `restore` writes `bytes` first (replacing what it owed).
pub fn owe_on_exit(bytes: Vec<u8>) {
    *OWED_ON_EXIT.lock().unwrap_or_else(|p| p.into_inner()) = bytes;
}

fn take_over(full: bool) -> io::Result<()> {
    enable_raw_mode()?;
    if !full {
        return execute!(io::stdout(), EnterAlternateScreen);
    }
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    let supported = *KEYBOARD_SUPPORTED.get_or_init(|| {
        crossterm::terminal::supports_keyboard_enhancement().unwrap_or_else(|err| {
            tracing::debug!("cannot ask the terminal about its keyboard protocol: {err}");
            false
        })
    });
    if supported {
        execute!(
            io::stdout(),
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
        KEYBOARD_PUSHED.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Undo everything `take_over` did. Safe to call more than once; errors are
/// ignored because there is nothing better to do with a broken terminal.
pub fn restore() {
    let mut out = io::stdout();
    let owed = std::mem::take(&mut *OWED_ON_EXIT.lock().unwrap_or_else(|p| p.into_inner()));
    if !owed.is_empty() {
        let _ = out.write_all(&owed);
    }
    if KEYBOARD_PUSHED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::{TestBackend, WindowSize};
    use ratatui::buffer::Cell;
    use ratatui::layout::{Position, Size};
    use ratatui::widgets::Paragraph;

    fn ok<T>(result: Result<T, std::convert::Infallible>) -> io::Result<T> {
        match result {
            Ok(value) => Ok(value),
            Err(never) => match never {},
        }
    }

    /// A terminal whose cursor position cannot be read, as when the input
    /// reader took the answer.
    struct NoCursorReport(TestBackend);

    impl Backend for NoCursorReport {
        type Error = io::Error;

        fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
        where
            I: Iterator<Item = (u16, u16, &'a Cell)>,
        {
            ok(self.0.draw(content))
        }
        fn hide_cursor(&mut self) -> io::Result<()> {
            ok(self.0.hide_cursor())
        }
        fn show_cursor(&mut self) -> io::Result<()> {
            ok(self.0.show_cursor())
        }
        fn get_cursor_position(&mut self) -> io::Result<Position> {
            Err(io::Error::other("the cursor position could not be read"))
        }
        fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
            ok(self.0.set_cursor_position(position))
        }
        fn clear(&mut self) -> io::Result<()> {
            ok(self.0.clear())
        }
        fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
            ok(self.0.clear_region(clear_type))
        }
        fn size(&self) -> io::Result<Size> {
            ok(self.0.size())
        }
        fn window_size(&mut self) -> io::Result<WindowSize> {
            ok(self.0.window_size())
        }
        fn flush(&mut self) -> io::Result<()> {
            ok(self.0.flush())
        }
    }

    #[test]
    fn after_a_pager_the_whole_screen_is_painted_again_without_asking_for_the_cursor() {
        let mut terminal =
            Terminal::new(NoCursorReport(TestBackend::new(20, 2))).expect("terminal");
        let frame = |terminal: &mut Terminal<NoCursorReport>| {
            terminal
                .draw(|f| f.render_widget(Paragraph::new("tasks"), f.area()))
                .expect("draw");
        };
        frame(&mut terminal);
        // The pager left the screen blank; the control room repaints it.
        repaint_all(&mut terminal).expect("no cursor query");
        assert_eq!(terminal.backend().0.buffer()[(0, 0)].symbol(), " ");
        frame(&mut terminal);
        assert_eq!(terminal.backend().0.buffer()[(0, 0)].symbol(), "t");
    }
}
