//! One connection, as two tasks: a reader that turns the socket into a
//! bounded queue of frames, and a writer that sends a bounded queue of
//! messages. Nothing else touches the stream, so no `select!` can cut a
//! frame in half, and a peer that stops reading holds up only its own
//! queue (whoever fills it sees it full and skips frames; nothing grows).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::frame::{read_frame, write_frame, Frame, FrameError, MAX_FRAME};
use super::protocol::{self, kind};

/// Frames read and not yet handled (each at most the connection's frame
/// limit: a client that sends without being read holds this many at most).
const INBOX: usize = 16;

/// A peer that takes longer than this to accept one frame is gone (a
/// client that stopped reading, a frozen terminal): the connection closes
/// rather than hold its session, and the server, open.
const WRITE_WITHIN: Duration = Duration::from_secs(15);

/// Messages to send: a few frames of output at most, then the sender waits
/// (a view skips frames instead).
pub const OUTBOX: usize = 4;

/// One message for the peer. Output is cut into frames by the writer.
#[derive(Debug)]
pub struct Outgoing {
    pub kind: u8,
    pub payload: Vec<u8>,
}

impl Outgoing {
    pub fn output(bytes: Vec<u8>) -> Outgoing {
        Outgoing {
            kind: kind::OUTPUT,
            payload: bytes,
        }
    }

    /// A JSON message; `None` (logged) if it cannot be encoded.
    pub fn json<T: serde::Serialize>(kind: u8, message: &T) -> Option<Outgoing> {
        match protocol::encode(kind, message) {
            Ok(frame) => Some(Outgoing {
                kind,
                payload: frame.payload,
            }),
            Err(err) => {
                tracing::error!("cannot encode a message of kind {kind}: {err}");
                None
            }
        }
    }
}

/// The queues of one connection. Dropping it closes the connection: the
/// reader stops at once, the writer once nothing else holds the outbox.
pub struct Conn {
    pub inbox: mpsc::Receiver<Frame>,
    pub outbox: mpsc::Sender<Outgoing>,
    /// Finishes when the writer has sent everything queued and the queue
    /// closed (or the peer went away).
    writer: Option<JoinHandle<()>>,
    reader: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The reader owns half of the stream: the socket closes only when
        // both halves are gone.
        self.reader.abort();
    }
}

impl Conn {
    /// Start the reader and writer of `stream`; `who` names the peer in
    /// the log. Frames over `max_in` from the peer end the connection.
    pub fn start<S>(stream: S, max_in: usize, who: String) -> Conn
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (mut read, mut write) = tokio::io::split(stream);
        let (in_tx, inbox) = mpsc::channel(INBOX);
        let (outbox, mut out_rx) = mpsc::channel::<Outgoing>(OUTBOX);
        let reader_who = who.clone();
        let reader = tokio::spawn(async move {
            loop {
                match read_frame(&mut read, max_in).await {
                    Ok(frame) => {
                        if in_tx.send(frame).await.is_err() {
                            break;
                        }
                    }
                    Err(FrameError::Closed) => break,
                    Err(err) => {
                        tracing::warn!("dropping {reader_who}: {err}");
                        break;
                    }
                }
            }
        });
        let writer = tokio::spawn(async move {
            while let Some(message) = out_rx.recv().await {
                match tokio::time::timeout(WRITE_WITHIN, send(&mut write, message)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(err)) => {
                        tracing::debug!("{who} went away: {err}");
                        break;
                    }
                    Err(_) => {
                        tracing::warn!("dropping {who}: it took no output for {WRITE_WITHIN:?}");
                        break;
                    }
                }
            }
        });
        Conn {
            inbox,
            outbox,
            writer: Some(writer),
            reader,
        }
    }

    /// Send `message` and wait until everything queued has been written
    /// (the peer may close right after reading it).
    /// A peer that does not read is not waited for beyond a few seconds.
    pub async fn finish(mut self, message: Option<Outgoing>) {
        const FLUSH_WITHIN: Duration = Duration::from_secs(5);
        if let Some(message) = message {
            let _ = tokio::time::timeout(FLUSH_WITHIN, self.outbox.send(message)).await;
        }
        let Some(writer) = self.writer.take() else {
            return;
        };
        // The writer ends when every sender is gone: ours goes with `self`.
        drop(self);
        let _ = tokio::time::timeout(FLUSH_WITHIN, writer).await;
    }
}

async fn send<W: AsyncWrite + Unpin>(write: &mut W, message: Outgoing) -> Result<(), FrameError> {
    // Leave room for the kind byte.
    let chunk = MAX_FRAME - 1;
    if message.kind == kind::OUTPUT && message.payload.len() > chunk {
        for part in message.payload.chunks(chunk) {
            write_frame(write, message.kind, part, MAX_FRAME).await?;
        }
        return Ok(());
    }
    write_frame(write, message.kind, &message.payload, MAX_FRAME).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn large_output_is_cut_into_frames_that_fit() {
        let (a, b) = tokio::io::duplex(64 * 1024);
        let conn = Conn::start(a, MAX_FRAME, "test".into());
        let big = vec![b'x'; MAX_FRAME * 2 + 10];
        conn.outbox
            .send(Outgoing::output(big.clone()))
            .await
            .expect("queued");
        let (mut read, _write) = tokio::io::split(b);
        let mut got = Vec::new();
        while got.len() < big.len() {
            let frame = read_frame(&mut read, MAX_FRAME).await.expect("frame");
            assert_eq!(frame.kind, kind::OUTPUT);
            got.extend(frame.payload);
        }
        assert_eq!(got, big);
    }

    #[tokio::test]
    async fn an_oversized_frame_from_the_peer_ends_its_inbox() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut conn = Conn::start(a, 100, "test".into());
        tokio::io::AsyncWriteExt::write_all(&mut b, &[0, 0, 1, 0, 10])
            .await
            .expect("write");
        assert!(conn.inbox.recv().await.is_none());
    }

    #[tokio::test]
    async fn dropping_a_connection_closes_it_for_the_peer() {
        let (a, mut b) = tokio::io::duplex(1024);
        let conn = Conn::start(a, 100, "test".into());
        drop(conn);
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            tokio::io::AsyncReadExt::read(&mut b, &mut buf),
        )
        .await
        .expect("closed, not left open");
        assert_eq!(read.expect("read"), 0, "end of stream");
    }

    #[tokio::test(start_paused = true)]
    async fn finishing_does_not_wait_on_a_peer_that_never_reads() {
        // A pipe that holds 16 bytes and a peer that reads none of them.
        let (a, _b) = tokio::io::duplex(16);
        let conn = Conn::start(a, 100, "test".into());
        for _ in 0..OUTBOX {
            let _ = conn.outbox.try_send(Outgoing::output(vec![b'x'; 4096]));
        }
        // Time is paused and moves on whenever everything waits.
        tokio::time::timeout(
            Duration::from_secs(60),
            conn.finish(Some(Outgoing::output(b"bye".to_vec()))),
        )
        .await
        .expect("finish gave up on the peer");
    }
}
