//! `orch logs TASK [--attempt N] [--follow] [--plain|--raw]`: what an
//! attempt wrote, as raw bytes or as the plain text its terminal showed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::store::{AttemptStatus, Store};

pub fn run(config_path: &Path, task: &str, attempt: Option<u32>, follow: bool, plain: bool) -> i32 {
    let state_dir = super::state_dir_for(config_path);
    let store = Store::open_read_only(&state_dir.join("state.db")).ok();
    let attempt = match attempt.or_else(|| latest_attempt(store.as_ref(), &state_dir, task)) {
        Some(n) => n,
        None => return no_attempt(config_path, store.as_ref(), task, &state_dir),
    };
    let path = state_dir
        .join("logs")
        .join(task)
        .join(format!("{attempt}.log"));
    // The rotated part (if any), then the current file; following goes on
    // from exactly what was read of the current file.
    let rotated = std::fs::read(path.with_extension("log.1")).unwrap_or_default();
    let current = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("orch: cannot read {}: {err}", path.display());
            return 1;
        }
    };
    let offset = current.len() as u64;
    let bytes = [rotated, current].concat();
    // Following, each line is written as soon as the next one starts.
    let mut out = Out::new(plain, if follow { 1 } else { 50 });
    if out.write(&bytes).is_err() {
        return 0;
    }
    if follow {
        follow_log(&path, offset, &mut out, || {
            let running = Store::open_read_only(&state_dir.join("state.db"))
                .and_then(|s| s.attempts(task))
                .map(|attempts| {
                    attempts
                        .iter()
                        .any(|a| a.attempt == attempt && a.status == AttemptStatus::Running)
                })
                .unwrap_or(false);
            !running
        });
    }
    let _ = out.finish();
    0
}

/// Where the log goes: stdout as it is, or through the screen model.
enum Out {
    Raw(std::io::Stdout),
    Plain(Box<super::plain_log::PlainLog>, std::io::Stdout),
}

impl Out {
    fn new(plain: bool, rows: u16) -> Out {
        if plain {
            Out::Plain(
                Box::new(super::plain_log::PlainLog::new(rows)),
                std::io::stdout(),
            )
        } else {
            Out::Raw(std::io::stdout())
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Raw(out) => out.write_all(bytes).and_then(|_| out.flush()),
            Out::Plain(log, out) => log.feed(bytes, &mut out.lock()),
        }
    }

    fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Out::Raw(out) => out.flush(),
            Out::Plain(log, out) => log.finish(&mut out.lock()),
        }
    }
}

/// Why there is nothing to print: no such task (exit 2, as for any bad
/// argument), or one that has not run yet (exit 1).
fn no_attempt(config_path: &Path, store: Option<&Store>, task: &str, state_dir: &Path) -> i32 {
    let config = crate::config::load(config_path).ok();
    if let Err(unknown) = super::known_task(config.as_ref(), store, task, state_dir) {
        eprintln!("{unknown}");
        return 2;
    }
    eprintln!(
        "orch: task {task:?} has not run yet: no attempts recorded in {}",
        state_dir.display()
    );
    1
}

fn latest_attempt(store: Option<&Store>, state_dir: &Path, task: &str) -> Option<u32> {
    if let Some(n) = store
        .and_then(|s| s.attempts(task).ok())
        .and_then(|a| a.last().map(|a| a.attempt))
    {
        return Some(n);
    }
    let dir: PathBuf = state_dir.join("logs").join(task);
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
        .max()
}

/// Print what is appended to `path` until `finished()` says the attempt ended
/// (then print the rest and stop). Polls twice a second: the file is written
/// by another process and this is a one-off terminal command.
fn follow_log(path: &Path, mut offset: u64, out: &mut Out, finished: impl Fn() -> bool) {
    use std::os::unix::fs::MetadataExt;
    let mut inode = std::fs::metadata(path).map(|m| m.ino()).ok();
    loop {
        let done = finished();
        if let Ok(mut file) = std::fs::File::open(path) {
            let meta = file.metadata().ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let ino = meta.as_ref().map(|m| m.ino());
            if ino != inode || len < offset {
                // Rotated by the size cap (a new file, even if it already
                // grew past our offset): start over on it.
                offset = 0;
                inode = ino;
            }
            if file.seek(SeekFrom::Start(offset)).is_ok() {
                let mut buf = Vec::new();
                if file.read_to_end(&mut buf).is_ok() && !buf.is_empty() {
                    offset += buf.len() as u64;
                    if out.write(&buf).is_err() {
                        return;
                    }
                }
            }
        }
        if done {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
