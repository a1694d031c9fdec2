//! The reader thread: drains the PTY into the log, the screen and the
//! output tap until end-of-file.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc::SyncSender;
use std::time::{Duration, Instant};

use super::{guarded, lock, sys, Shared};
use crate::agent::log_file::CappedLog;
use crate::agent::screen::TerminalScreen;

/// Read buffer of the reader thread.
const READ_BUFFER: usize = 64 * 1024;
/// The reader feeds the screen at most this much per lock, so a UI thread
/// rendering the screen never waits long.
const SCREEN_SLICE: usize = 16 * 1024;
/// While output streams in, the screen is brought up to date this often
/// (see `TerminalScreen::process_deferred`), and this long after it stops.
pub(super) const SYNC_INTERVAL: Duration = Duration::from_millis(15);
/// Leave this much room for a read that is worth making.
const MIN_READ: usize = 4096;
/// Before blocking in `read(2)`, look for more output this long ...
const STREAM_WAIT: Duration = Duration::from_micros(200);
/// ... napping this long between looks (about 55 µs in practice: the
/// kernel's default timer slack is 50 µs).
const STREAM_NAP: Duration = Duration::from_micros(5);

/// Read what the PTY has: block for the first bytes, then keep taking what is
/// already there (without waiting) while the buffer has room. Batching a
/// flood this way means far fewer, larger `process` calls. Returns (bytes
/// read, end-of-file seen).
fn read_available(pty: &mut File, buf: &mut [u8], pid: u32) -> (usize, bool) {
    // Why not block in read(2) at once: on an empty PTY it sleeps, and a
    // writer then wakes the kernel's flush worker and this thread for
    // almost every line it writes (with ONLCR each newline is a write of
    // its own). For two million short lines that doubled the writer's
    // system time and made ingest 1.1-1.2x tmux's time. Napping ~50 µs
    // while output streams lets a few KiB gather instead; it costs no
    // measurable CPU, and once the agent is quiet for STREAM_WAIT the read
    // blocks as before.
    let waited = Instant::now();
    while sys::bytes_ready(pty.as_fd()) == 0 && waited.elapsed() < STREAM_WAIT {
        std::thread::sleep(STREAM_NAP);
    }
    let mut n = 0;
    loop {
        if n > 0 && (buf.len() - n < MIN_READ || sys::bytes_ready(pty.as_fd()) == 0) {
            return (n, false);
        }
        match pty.read(&mut buf[n..]) {
            Ok(0) => return (n, true),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Linux: EIO once every holder of the slave side closed it = EOF.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
                return (n, true)
            }
            Err(e) => {
                tracing::warn!(pid, error = %e, "reading agent output failed");
                return (n, true);
            }
        }
    }
}

/// Drain the PTY into the log, the screen and the tap until EOF.
pub(super) fn reader_loop(shared: &Shared, mut pty: File, done: &SyncSender<()>) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut last_sync: Option<Instant> = None;
    loop {
        let (n, eof) = read_available(&mut pty, &mut buf, shared.pid);
        if n == 0 {
            break;
        }
        shared
            .last_output_ms
            .store(shared.now_ms(), Ordering::Relaxed);
        let chunk = &buf[..n];
        shared.log_op(|log| log.write(chunk));
        // The waiter flushes the log once the agent is quiet: it must be
        // awake to see the quiet begin.
        if shared.waiter_idle.swap(false, Ordering::AcqRel) {
            if let Some(wake) = &shared.wake {
                wake.wake();
            }
        }
        for piece in chunk.chunks(SCREEN_SLICE) {
            let mut screen = lock(&shared.screen);
            guarded(shared.pid, &mut screen, |screen| {
                screen.process_deferred(piece);
            });
            // Answers to the agent's terminal queries (cursor position,
            // device attributes, colours), as a terminal gives them: from
            // the screen, whoever watches. Sent after the lock is let go.
            let replies = screen.take_replies();
            // Under the screen lock, so a subscriber's repaint and stream
            // meet exactly here (see `tap`).
            lock(&shared.tap).publish(piece);
            drop(screen);
            if let Some(replies) = replies {
                shared.answer(replies);
            }
        }
        // Bring the screen up to date at most every SYNC_INTERVAL while
        // output streams in (plain-text floods then skip most of vt100's
        // work); in between, the waiter is asked to sync shortly, in case
        // this was the last output for a while.
        let due = last_sync.is_none_or(|t| t.elapsed() >= SYNC_INTERVAL);
        if eof || due || shared.wake.is_none() {
            shared.screen_op(TerminalScreen::sync);
            last_sync = Some(Instant::now());
        } else if !shared.sync_armed.swap(true, Ordering::AcqRel) {
            if let Some(wake) = &shared.wake {
                wake.wake();
            }
        }
        shared.output_seq.fetch_add(1, Ordering::Release);
        shared.notify_output();
        if eof {
            break;
        }
    }
    shared.log_op(CappedLog::flush);
    let _ = done.try_send(());
}
