//! `server.log`: the server's tracing output, appended, flushed line by
//! line, and capped: past [`CAP`] it becomes `server.log.1` (replacing an
//! older one) and a fresh file starts, so a server that runs for weeks
//! keeps at most twice the cap on disk.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::agent::log_file::rotated_path as rotated;

/// Bytes in `server.log` before it is rotated.
pub const CAP: u64 = 8 * 1024 * 1024;

pub struct ServerLog {
    path: PathBuf,
    cap: u64,
    file: File,
    written: u64,
}

impl ServerLog {
    /// Open `path` for appending (rotated first if it is already over `cap`).
    pub fn open(path: &Path, cap: u64) -> io::Result<ServerLog> {
        let mut log = ServerLog {
            path: path.to_path_buf(),
            cap,
            file: append(path)?,
            written: fs::metadata(path).map_or(0, |m| m.len()),
        };
        if log.written > cap {
            log.rotate()?;
        }
        Ok(log)
    }

    fn rotate(&mut self) -> io::Result<()> {
        fs::rename(&self.path, rotated(&self.path))?;
        self.file = append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for ServerLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.cap {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_running_log_is_rotated_at_its_cap_and_keeps_the_newest_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("server.log");
        let mut log = ServerLog::open(&path, 100).expect("open");
        for i in 0..30 {
            writeln!(log, "line {i:02}").expect("write");
        }
        let current = fs::read_to_string(&path).expect("current");
        let old = fs::read_to_string(rotated(&path)).expect("rotated");
        assert!(
            current.len() <= 100 && old.len() <= 100,
            "{current:?} {old:?}"
        );
        assert!(current.ends_with("line 29\n"), "{current}");
        assert!(
            old.starts_with("line ") && !old.contains("line 29"),
            "{old}"
        );
        // Opened again, it appends.
        drop(log);
        let before = fs::read_to_string(&path).expect("current");
        let mut log = ServerLog::open(&path, 100).expect("reopen");
        writeln!(log, "again").expect("write");
        assert_eq!(
            fs::read_to_string(&path).expect("current"),
            format!("{before}again\n")
        );
    }
}
