//! A client's terminal, as the server draws on it: ratatui's crossterm
//! backend writing into a buffer instead of stdout, with the size the
//! client reported (the server has no terminal to ask). After each draw the
//! buffer holds exactly the bytes that bring the client's screen up to the
//! new frame; [`RemoteTerminal::take_output`] hands them to the connection.

use std::io;
use std::sync::{Arc, Mutex};

use ratatui::backend::{Backend, ClearType, CrosstermBackend, WindowSize};
use ratatui::buffer::Cell;
use ratatui::layout::{Position, Size};
use ratatui::Terminal;

/// Where the backend's bytes collect until the connection takes them.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl io::Write for Collected {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The backend: crossterm's escape sequences into a buffer.
pub struct RemoteBackend {
    inner: CrosstermBackend<Collected>,
    collected: Collected,
    size: Size,
    /// Where the last draw left the cursor (the client's terminal is not
    /// asked: its answer would arrive as input).
    cursor: Position,
}

impl RemoteBackend {
    pub fn new(cols: u16, rows: u16) -> RemoteBackend {
        let collected = Collected::default();
        let (cols, rows) = super::protocol::sane_size(cols, rows);
        RemoteBackend {
            inner: CrosstermBackend::new(collected.clone()),
            collected,
            size: Size {
                width: cols,
                height: rows,
            },
            cursor: Position::ORIGIN,
        }
    }
}

impl Backend for RemoteBackend {
    type Error = io::Error;

    fn draw<'a, I>(&mut self, content: I) -> io::Result<()>
    where
        I: Iterator<Item = (u16, u16, &'a Cell)>,
    {
        self.inner.draw(content)
    }

    fn append_lines(&mut self, n: u16) -> io::Result<()> {
        self.inner.append_lines(n)
    }

    fn hide_cursor(&mut self) -> io::Result<()> {
        self.inner.hide_cursor()
    }

    fn show_cursor(&mut self) -> io::Result<()> {
        self.inner.show_cursor()
    }

    fn get_cursor_position(&mut self) -> io::Result<Position> {
        Ok(self.cursor)
    }

    fn set_cursor_position<P: Into<Position>>(&mut self, position: P) -> io::Result<()> {
        let position = position.into();
        self.cursor = position;
        self.inner.set_cursor_position(position)
    }

    fn clear(&mut self) -> io::Result<()> {
        self.inner.clear()
    }

    fn clear_region(&mut self, clear_type: ClearType) -> io::Result<()> {
        self.inner.clear_region(clear_type)
    }

    fn size(&self) -> io::Result<Size> {
        Ok(self.size)
    }

    fn window_size(&mut self) -> io::Result<WindowSize> {
        Ok(WindowSize {
            columns_rows: self.size,
            // Unknown; nothing orch draws needs pixels.
            pixels: Size::default(),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing to flush into: the bytes wait in the buffer for the
        // connection.
        Ok(())
    }
}

/// A client's screen in the server.
pub struct RemoteTerminal {
    terminal: Terminal<RemoteBackend>,
}

impl RemoteTerminal {
    pub fn new(cols: u16, rows: u16) -> io::Result<RemoteTerminal> {
        let mut terminal = Terminal::new(RemoteBackend::new(cols, rows))?;
        // A fresh client shows whatever its terminal had: paint it all.
        terminal.backend_mut().clear_region(ClearType::All)?;
        terminal.hide_cursor()?;
        Ok(RemoteTerminal { terminal })
    }

    pub fn terminal(&mut self) -> &mut Terminal<RemoteBackend> {
        &mut self.terminal
    }

    pub fn size(&self) -> (u16, u16) {
        let size = self.terminal.backend().size;
        (size.width, size.height)
    }

    /// The client's terminal is now this size: the next frame is drawn
    /// whole at it.
    pub fn resize(&mut self, cols: u16, rows: u16) -> io::Result<()> {
        let (cols, rows) = super::protocol::sane_size(cols, rows);
        let size = Size {
            width: cols,
            height: rows,
        };
        self.terminal.backend_mut().size = size;
        self.terminal
            .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))?;
        self.repaint_all()
    }

    /// Forget what the client shows (a pager ran over it): clear it and
    /// draw the next frame whole.
    pub fn repaint_all(&mut self) -> io::Result<()> {
        crate::ui::terminal::repaint_all(&mut self.terminal)
    }

    /// Raw bytes to send as they are (mode switches around a frame).
    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.terminal
            .backend()
            .collected
            .lock()
            .extend_from_slice(bytes);
    }

    /// The bytes drawn since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut *self.terminal.backend().collected.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::widgets::Paragraph;

    #[test]
    fn draws_into_bytes_and_only_the_changes_after_the_first_frame() {
        let mut term = RemoteTerminal::new(20, 3).expect("terminal");
        term.terminal()
            .draw(|f| f.render_widget(Paragraph::new("hello"), f.area()))
            .expect("draw");
        let first = String::from_utf8_lossy(&term.take_output()).into_owned();
        assert!(first.contains("hello"), "{first:?}");
        assert!(first.contains("\x1b[2J"), "a first frame clears: {first:?}");
        term.terminal()
            .draw(|f| f.render_widget(Paragraph::new("help!"), f.area()))
            .expect("draw");
        let second = String::from_utf8_lossy(&term.take_output()).into_owned();
        assert!(
            !second.contains("hel"),
            "unchanged cells are not sent: {second:?}"
        );
        assert!(second.contains("p!"), "{second:?}");
        assert!(term.take_output().is_empty());
    }

    #[test]
    fn a_resize_redraws_everything_at_the_new_size() {
        let mut term = RemoteTerminal::new(10, 2).expect("terminal");
        term.terminal()
            .draw(|f| f.render_widget(Paragraph::new("abc"), f.area()))
            .expect("draw");
        term.take_output();
        term.resize(30, 5).expect("resize");
        assert_eq!(term.size(), (30, 5));
        term.terminal()
            .draw(|f| {
                assert_eq!(f.area().width, 30);
                f.render_widget(Paragraph::new("abc"), f.area())
            })
            .expect("draw");
        let out = String::from_utf8_lossy(&term.take_output()).into_owned();
        assert!(out.contains("abc"), "{out:?}");
    }

    #[test]
    fn a_client_cannot_claim_a_screen_beyond_bounds() {
        use super::super::protocol::{MAX_COLS, MAX_ROWS};
        let mut term = RemoteTerminal::new(u16::MAX, u16::MAX).expect("terminal");
        assert_eq!(term.size(), (MAX_COLS, MAX_ROWS));
        term.resize(u16::MAX, 0).expect("resize");
        assert_eq!(term.size(), (MAX_COLS, 1));
    }
}
