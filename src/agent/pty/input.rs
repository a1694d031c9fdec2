//! The thread that writes keystrokes and pastes to an agent's PTY.

use std::io::Write;
use std::sync::mpsc::{sync_channel, SyncSender};

/// Chunks of input queued for an agent at most (keystrokes, pastes).
pub(super) const INPUT_QUEUE: usize = 256;

/// Start the thread that writes input to the agent's PTY; returns its queue.
/// A write blocks while the agent's input buffer is full; only this thread
/// waits. If the thread cannot be started, input is refused (the queue's
/// receiver is gone).
pub(super) fn input_thread(mut writer: Box<dyn Write + Send>, pid: u32) -> SyncSender<Vec<u8>> {
    let (tx, rx) = sync_channel::<Vec<u8>>(INPUT_QUEUE);
    let spawned = std::thread::Builder::new()
        .name(format!("orch-input-{pid}"))
        .spawn(move || {
            for chunk in rx {
                if let Err(err) = writer.write_all(&chunk).and_then(|()| writer.flush()) {
                    tracing::debug!(pid, "input to the agent stopped: {err}");
                    return;
                }
            }
        });
    crate::log_err(spawned, "starting an agent's input thread");
    tx
}
