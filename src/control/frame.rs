//! Frames on the control socket: a 4-byte big-endian length, then one
//! byte naming the frame's kind, then the payload (the length counts the
//! kind and the payload). Every frame is bounded: a peer announcing more
//! than the limit is refused before anything is allocated for it, so a
//! garbage or hostile client costs the server five bytes read.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame either side accepts: a full screen repaint of a
/// large terminal fits many times over.
pub const MAX_FRAME: usize = 1024 * 1024;

/// One frame: its kind byte and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("the connection was closed")]
    Closed,
    /// The peer closed the connection inside a frame.
    #[error("the connection was closed in the middle of a frame")]
    Truncated,
    #[error("a frame of {len} bytes is over the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("an empty frame (no kind byte)")]
    Empty,
    #[error("reading or writing the socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Read one frame of at most `max` bytes.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max: usize,
) -> Result<Frame, FrameError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]).await? {
            0 if got == 0 => return Err(FrameError::Closed),
            0 => return Err(FrameError::Truncated),
            n => got += n,
        }
    }
    let len = u32::from_be_bytes(header) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    if len == 0 {
        return Err(FrameError::Empty);
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    let payload = body.split_off(1);
    Ok(Frame {
        kind: body[0],
        payload,
    })
}

/// Write one frame (refused, writing nothing, when it would be over `max`).
pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    kind: u8,
    payload: &[u8],
    max: usize,
) -> Result<(), FrameError> {
    let len = payload.len() + 1;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let Ok(len32) = u32::try_from(len) else {
        return Err(FrameError::TooLarge { len, max });
    };
    let mut bytes = Vec::with_capacity(4 + len);
    bytes.extend_from_slice(&len32.to_be_bytes());
    bytes.push(kind);
    bytes.extend_from_slice(payload);
    writer.write_all(&bytes).await?;
    writer.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn frames_round_trip_back_to_back() {
        block_on(async {
            let mut wire = Vec::new();
            write_frame(&mut wire, 7, b"hello", MAX_FRAME)
                .await
                .expect("write");
            write_frame(&mut wire, 9, b"", MAX_FRAME)
                .await
                .expect("write");
            let mut reader = wire.as_slice();
            let first = read_frame(&mut reader, MAX_FRAME).await.expect("first");
            assert_eq!((first.kind, first.payload.as_slice()), (7, &b"hello"[..]));
            let second = read_frame(&mut reader, MAX_FRAME).await.expect("second");
            assert_eq!((second.kind, second.payload.len()), (9, 0));
            assert!(matches!(
                read_frame(&mut reader, MAX_FRAME).await,
                Err(FrameError::Closed)
            ));
        });
    }

    #[test]
    fn an_oversized_announcement_is_refused_before_it_is_read() {
        block_on(async {
            // Claims 4 GiB, sends nothing more: refused on the header alone.
            let wire = [0xff, 0xff, 0xff, 0xff];
            let err = read_frame(&mut &wire[..], MAX_FRAME)
                .await
                .expect_err("too large");
            assert!(matches!(err, FrameError::TooLarge { len, .. } if len == u32::MAX as usize));
            let mut out = Vec::new();
            let big = vec![0u8; 100];
            assert!(matches!(
                write_frame(&mut out, 1, &big, 50).await,
                Err(FrameError::TooLarge { len: 101, max: 50 })
            ));
            assert!(out.is_empty(), "nothing written");
        });
    }

    #[test]
    fn truncated_and_empty_frames_are_errors() {
        block_on(async {
            let header_only = [0, 0, 0, 10, 1, 2];
            assert!(matches!(
                read_frame(&mut &header_only[..], MAX_FRAME).await,
                Err(FrameError::Truncated)
            ));
            let half_header = [0, 0];
            assert!(matches!(
                read_frame(&mut &half_header[..], MAX_FRAME).await,
                Err(FrameError::Truncated)
            ));
            let empty = [0, 0, 0, 0];
            assert!(matches!(
                read_frame(&mut &empty[..], MAX_FRAME).await,
                Err(FrameError::Empty)
            ));
        });
    }
}
