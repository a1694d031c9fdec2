//! One orch per state directory: an exclusive lock (`flock`, through
//! [`File::try_lock`]) on `state_dir/orch.lock`, which the kernel releases
//! when the holder dies, so a killed orch never leaves it stale.
//!
//! Who holds it is learnt from the kernel first: `/proc/locks` lists each
//! lock with the pid that took it, from the instant it is taken, so a
//! refused orch or `orch status` names the holder even before it has
//! written its pid into the file (it does so once the run is sure to go
//! ahead, see [`RunLock::publish_pid`]). The pid in the file is the
//! fallback where `/proc/locks` says nothing. A refused or read-only opener
//! never writes, truncates or creates the file.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::SetupError;

/// The lock file's name in the state directory.
const FILE_NAME: &str = "orch.lock";
/// How long a refused orch waits for the holder's pid to show in the file
/// when the kernel cannot say (no `/proc/locks`).
const PID_WAIT: Duration = Duration::from_secs(1);

/// Held for the whole run; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

impl RunLock {
    /// Takes the lock on `state_dir/orch.lock` (creating the file if
    /// needed, never truncating it) and writes nothing yet. Another orch
    /// holding it is [`SetupError::Locked`] with its pid.
    pub fn acquire(state_dir: &Path) -> Result<RunLock, SetupError> {
        let path = state_dir.join(FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|source| SetupError::Io {
                context: format!("cannot open {}", path.display()),
                source,
            })?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock { file, path }),
            Err(TryLockError::WouldBlock) => Err(SetupError::Locked {
                state_dir: state_dir.to_path_buf(),
                pid: wait_for_holder(&file),
            }),
            Err(TryLockError::Error(source)) => Err(SetupError::Io {
                context: format!("cannot lock {}", path.display()),
                source,
            }),
        }
    }

    /// Writes our pid into the lock file, over whatever an earlier holder
    /// wrote, without ever leaving it empty: the new text goes over the old
    /// from offset 0, then the file is cut to its length.
    pub fn publish_pid(&self) -> Result<(), SetupError> {
        let text = format!("{}\n", std::process::id());
        self.file
            .write_all_at(text.as_bytes(), 0)
            .and_then(|()| self.file.set_len(text.len() as u64))
            .map_err(|source| SetupError::Io {
                context: format!("cannot write {}", self.path.display()),
                source,
            })
    }
}

/// The pid of the orch holding `state_dir`'s run lock, if one does and it
/// can be told: the kernel's record of the lock, else nothing. Opens the
/// file read-only and never creates, locks or writes it.
pub fn holder(state_dir: &Path) -> Option<u32> {
    let file = File::open(state_dir.join(FILE_NAME)).ok()?;
    kernel_holder(&file)
}

/// For a refused opener: the kernel's record, else the pid the holder
/// writes into the file, waited for up to [`PID_WAIT`] (the holder writes
/// it moments after taking the lock).
fn wait_for_holder(file: &File) -> Option<u32> {
    let deadline = Instant::now() + PID_WAIT;
    loop {
        if let Some(pid) = kernel_holder(file).or_else(|| written_pid(file)) {
            return Some(pid);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pid in the lock file, if it names a live process.
fn written_pid(file: &File) -> Option<u32> {
    let mut buf = [0u8; 32];
    let len = file.read_at(&mut buf, 0).ok()?;
    let text = std::str::from_utf8(&buf[..len]).ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    crate::agent::proc_tree::is_alive(pid).then_some(pid)
}

/// The pid that holds a `flock` on `file`'s inode, per `/proc/locks`.
fn kernel_holder(file: &File) -> Option<u32> {
    let meta = file.metadata().ok()?;
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    flock_holder(&locks, meta.dev(), meta.ino())
}

/// In `/proc/locks` text, the pid of the `FLOCK` on device `dev`, inode
/// `ino`. Lines look like `3: FLOCK  ADVISORY  WRITE 1234 fe:00:5369657 0 EOF`
/// (device as hex major:minor); processes waiting for a lock have a `->`
/// after the number and are skipped.
fn flock_holder(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    let wanted = format!("{:02x}:{:02x}:{ino}", major(dev), minor(dev));
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, id, ..] if *id == wanted => pid.parse().ok(),
            _ => None,
        }
    })
}

/// Linux's encoding of a device number (glibc's `gnu_dev_major`/`minor`).
fn major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000)
}

fn minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & 0xffff_ff00)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_flock_holder_and_skips_waiters_and_other_kinds() {
        let locks = "1: POSIX  ADVISORY  WRITE 11 fe:00:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 22 fe:01:77 0 EOF\n\
                     2: -> FLOCK  ADVISORY  WRITE 33 fe:00:77 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 44 fe:00:77 0 EOF\n";
        let dev = libc::makedev(0xfe, 0);
        assert_eq!(flock_holder(locks, dev, 77), Some(44));
        assert_eq!(flock_holder(locks, dev, 78), None);
        assert_eq!(flock_holder(locks, libc::makedev(0xfe, 1), 77), Some(22));
    }

    #[test]
    fn device_numbers_split_as_glibc_does() {
        for (ma, mi) in [(0xfe, 0), (8, 1), (0x12345, 0x6789a)] {
            let dev = libc::makedev(ma, mi);
            assert_eq!((major(dev), minor(dev)), (u64::from(ma), u64::from(mi)));
        }
    }

    /// Many openers at once: exactly one holds the lock, every refusal
    /// names the holder, and the holder's pid stays in the file.
    #[test]
    fn concurrent_openers_are_refused_with_the_holders_pid() {
        for _round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            // An earlier, dead holder left its pid behind.
            std::fs::write(dir.path().join(FILE_NAME), "4194999\n").unwrap();
            let start = std::sync::Barrier::new(8);
            let results: Vec<Result<RunLock, SetupError>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            let lock = RunLock::acquire(dir.path())?;
                            lock.publish_pid()?;
                            Ok(lock)
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let me = std::process::id();
            let mut held = 0;
            for result in &results {
                match result {
                    Ok(_) => held += 1,
                    Err(SetupError::Locked { pid, .. }) => assert_eq!(*pid, Some(me)),
                    Err(other) => panic!("{other}"),
                }
            }
            assert_eq!(held, 1, "exactly one opener holds the lock");
            let text = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
            assert_eq!(text, format!("{me}\n"));
            assert_eq!(holder(dir.path()), Some(me));
        }
    }

    #[test]
    fn a_refused_or_read_only_opener_leaves_the_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let lock = RunLock::acquire(dir.path()).unwrap();
        // Not yet written: the kernel still names the holder.
        assert_eq!(holder(dir.path()), Some(std::process::id()));
        match RunLock::acquire(dir.path()) {
            Err(SetupError::Locked { pid, .. }) => assert_eq!(pid, Some(std::process::id())),
            other => panic!("{other:?}"),
        }
        let path = dir.path().join(FILE_NAME);
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        lock.publish_pid().unwrap();
        let written = std::fs::read(&path).unwrap();
        assert!(RunLock::acquire(dir.path()).is_err());
        assert_eq!(holder(dir.path()), Some(std::process::id()));
        assert_eq!(std::fs::read(&path).unwrap(), written);
        drop(lock);
        assert_eq!(holder(dir.path()), None);
        // Free again: the next orch takes it.
        assert!(RunLock::acquire(dir.path()).is_ok());
    }

    #[test]
    fn holder_of_a_missing_lock_file_is_none_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(holder(dir.path()), None);
        assert!(!dir.path().join(FILE_NAME).exists());
    }
}
