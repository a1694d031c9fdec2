//! A terminal the bench owns: a client program (`orch attach`, `tmux
//! attach`) in a PTY of its own, what it draws parsed by vt100 into the
//! screen a user would see, and keys typed into it.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, Child, CommandBuilder, MasterPty, PtySize};

pub struct PtyClient {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    /// Chunks read from the PTY by a thread, with when each arrived.
    chunks: Receiver<(Instant, Vec<u8>)>,
    pub screen: vt100::Parser,
    /// Every byte the client has written to its terminal.
    pub bytes: u64,
    pub pid: u32,
    _master: Box<dyn MasterPty + Send>,
}

impl PtyClient {
    pub fn spawn(argv: &[String], dir: &Path, (cols, rows): (u16, u16)) -> PtyClient {
        let pair = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("openpty");
        let mut command = CommandBuilder::new(&argv[0]);
        command.args(&argv[1..]);
        command.cwd(dir);
        command.env("TERM", "xterm-256color");
        command.env_remove("TMUX");
        let child = pair.slave.spawn_command(command).expect("spawn client");
        // Without this the reader never sees the client's end.
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send((Instant::now(), buf[..n].to_vec())).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        let size = |n: u16| std::num::NonZeroU16::new(n).expect("a non-zero size");
        PtyClient {
            pid: child.process_id().expect("client pid"),
            child,
            writer,
            chunks,
            screen: vt100::Parser::new(size(rows), size(cols), 0),
            bytes: 0,
            _master: pair.master,
        }
    }

    pub fn type_bytes(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("type into the client");
        self.writer.flush().expect("flush");
    }

    /// Read until the screen satisfies `shown`; when the chunk that made it
    /// so arrived, or `None` after `timeout` or when the client ended.
    pub fn until(
        &mut self,
        timeout: Duration,
        mut shown: impl FnMut(&vt100::Screen) -> bool,
    ) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.chunks.recv_timeout(left) {
                Ok((at, chunk)) => {
                    self.take(&chunk);
                    if shown(self.screen.screen()) {
                        return Some(at);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Wait until the screen shows `text`; panic with the screen if not.
    pub fn wait_for(&mut self, text: &str) {
        let seen = self.until(Duration::from_secs(20), |s| s.contents().contains(text));
        assert!(
            seen.is_some(),
            "never saw {text:?}; screen:\n{}",
            self.screen.screen().contents()
        );
    }

    /// Read everything the client draws for `window`.
    pub fn drain_for(&mut self, window: Duration) {
        let _ = self.until(window, |_| false);
    }

    fn take(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.screen.process(chunk);
    }
}

impl Drop for PtyClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The screen's rows, trailing blanks cut, joined with nothing between: a
/// line wider than the screen reads as one.
pub fn joined_rows(screen: &vt100::Screen) -> String {
    let (_, cols) = screen.size();
    screen
        .rows(0, cols.get())
        .map(|r| r.trim_end().to_string())
        .collect()
}
