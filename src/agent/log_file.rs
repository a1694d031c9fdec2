//! The raw byte log of an agent's terminal, capped in size.
//!
//! Everything the agent prints goes to `.orch/logs/TASK/ATTEMPT.log`. A
//! runaway agent must not fill the disk, so when the file reaches its cap it
//! is renamed to `PATH.1` (replacing an older one) and a fresh `PATH` is
//! started: disk use stays at most twice the cap and the most recent output
//! is always kept.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// In-memory buffer in front of the file; the reader thread flushes it when
/// the agent goes quiet.
const BUFFER_BYTES: usize = 64 * 1024;

/// A size-capped, rotating log file. See the module docs.
#[derive(Debug)]
pub struct CappedLog {
    path: PathBuf,
    rotated: PathBuf,
    cap: u64,
    file: BufWriter<File>,
    /// Bytes in the current `path` (buffered ones included).
    written: u64,
}

/// `PATH.1`: the file name with `.1` appended.
pub fn rotated_path(path: &Path) -> PathBuf {
    let mut name: OsString = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

impl CappedLog {
    /// Create (or truncate) `path`, creating its parent directories. A stale
    /// `PATH.1` from an earlier run is removed so [`read_log`] never mixes
    /// two runs. A `cap_bytes` of 0 means "no cap".
    pub fn create(path: &Path, cap_bytes: u64) -> io::Result<Self> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                fs::create_dir_all(parent)?;
            }
        }
        let rotated = rotated_path(path);
        match fs::remove_file(&rotated) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let file = File::create(path)?;
        Ok(Self {
            path: path.to_owned(),
            rotated,
            cap: if cap_bytes == 0 { u64::MAX } else { cap_bytes },
            file: BufWriter::with_capacity(BUFFER_BYTES, file),
            written: 0,
        })
    }

    /// Append `bytes`, rotating as often as the cap requires.
    pub fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            if self.written >= self.cap {
                self.rotate()?;
            }
            let room = self.cap - self.written;
            let take = usize::try_from(room).map_or(bytes.len(), |r| r.min(bytes.len()));
            self.file.write_all(&bytes[..take])?;
            self.written += take as u64;
            bytes = &bytes[take..];
        }
        Ok(())
    }

    /// Push buffered bytes to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// True when bytes are waiting in the buffer.
    pub fn has_buffered(&self) -> bool {
        !self.file.buffer().is_empty()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        fs::rename(&self.path, &self.rotated)?;
        // Dropping the old writer only closes the (renamed) file: its buffer
        // was flushed above.
        self.file = BufWriter::with_capacity(BUFFER_BYTES, File::create(&self.path)?);
        self.written = 0;
        Ok(())
    }
}

/// The whole kept log: `PATH.1` (if any) followed by `PATH`.
pub fn read_log(path: &Path) -> io::Result<Vec<u8>> {
    let mut out = match fs::read(rotated_path(path)) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    match fs::read(path) {
        Ok(bytes) => out.extend_from_slice(&bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound && !out.is_empty() => {}
        Err(e) => return Err(e),
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("logs/task/1.log");
        let mut log = CappedLog::create(&path, 1024).expect("create");
        log.write(b"hello ").expect("write");
        log.write(b"world").expect("write");
        log.flush().expect("flush");
        assert_eq!(read_log(&path).expect("read"), b"hello world");
        assert!(!rotated_path(&path).exists());
    }

    #[test]
    fn rotates_at_the_cap_and_keeps_the_newest_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.log");
        let mut log = CappedLog::create(&path, 10).expect("create");
        let all: Vec<u8> = (0..57u8).map(|i| b'a' + (i % 26)).collect();
        // Uneven pieces, some crossing the cap, one much larger than it.
        for piece in [
            &all[..3],
            &all[3..12],
            &all[12..13],
            &all[13..45],
            &all[45..],
        ] {
            log.write(piece).expect("write");
        }
        log.flush().expect("flush");
        let current = fs::read(&path).expect("read current");
        let older = fs::read(rotated_path(&path)).expect("read rotated");
        assert!(current.len() <= 10 && older.len() == 10);
        // 57 bytes = 5 full files of 10 + 7: current holds the last 7,
        // PATH.1 the 10 before them.
        assert_eq!(current, &all[50..]);
        assert_eq!(older, &all[40..50]);
        assert_eq!(read_log(&path).expect("read"), &all[40..]);
    }

    #[test]
    fn create_truncates_and_drops_a_stale_rotation() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("b.log");
        let mut log = CappedLog::create(&path, 4).expect("create");
        log.write(b"0123456789").expect("write");
        drop(log);
        assert!(rotated_path(&path).exists());
        let mut log = CappedLog::create(&path, 4).expect("create again");
        log.write(b"xy").expect("write");
        log.flush().expect("flush");
        assert!(!rotated_path(&path).exists());
        assert_eq!(read_log(&path).expect("read"), b"xy");
    }

    #[test]
    fn zero_cap_means_unlimited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.log");
        let mut log = CappedLog::create(&path, 0).expect("create");
        log.write(&[b'z'; 5000]).expect("write");
        log.flush().expect("flush");
        assert_eq!(read_log(&path).expect("read").len(), 5000);
    }
}
