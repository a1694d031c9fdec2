//! File activity in an agent's worktree, a heartbeat signal beside its
//! terminal output: an agent that works silently (`claude --print` prints
//! nothing until it is done) is alive as long as it keeps changing files.
//!
//! A recursive notify watch on the worktree, set up on a thread of its own
//! (walking a large tree to add watches takes a while and must not hold up
//! the engine). Each event stores "changed at" in an atomic; the engine
//! reads it when it supervises. Git's own bookkeeping is ignored.

use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

/// Watches a worktree while alive.
pub struct Activity {
    epoch: Instant,
    /// Milliseconds after `epoch` of the last change, plus one (0 = none yet).
    last: Arc<AtomicU64>,
    /// The watch is in place (every directory under the root is watched).
    watching: Arc<AtomicBool>,
    _stop: mpsc::Sender<()>,
}

impl Activity {
    /// Start watching `dir`. Failures (no inotify watches left, say) are
    /// logged: the agent then has only its output as a heartbeat.
    pub fn watch(dir: &Path) -> Activity {
        let epoch = Instant::now();
        let last = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = mpsc::channel::<()>();
        let record = last.clone();
        let watching = Arc::new(AtomicBool::new(false));
        let ready = watching.clone();
        let root = dir.to_path_buf();
        let spawned = std::thread::Builder::new()
            .name("orch-activity".into())
            .spawn(move || {
                let handler = move |event: notify::Result<notify::Event>| {
                    let Ok(event) = event else {
                        return;
                    };
                    if matches!(event.kind, notify::EventKind::Access(_)) {
                        return;
                    }
                    if event.paths.iter().all(|p| is_git_internal(p)) {
                        return;
                    }
                    let ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1);
                    record.store(ms + 1, Ordering::Relaxed);
                };
                let mut watcher = match notify::recommended_watcher(handler) {
                    Ok(watcher) => watcher,
                    Err(err) => {
                        tracing::warn!("cannot watch {} for file activity: {err}", root.display());
                        return;
                    }
                };
                if let Err(err) = watcher.watch(&root, RecursiveMode::Recursive) {
                    tracing::warn!("cannot watch {} for file activity: {err}", root.display());
                    return;
                }
                ready.store(true, Ordering::Release);
                // Keep the watch until the Activity is dropped.
                let _ = stopped.recv();
            });
        crate::log_err(spawned, "starting the file activity watcher");
        Activity {
            epoch,
            last,
            watching,
            _stop: stop,
        }
    }

    /// Whether the watch is set up (it is built on a thread of its own).
    pub fn is_watching(&self) -> bool {
        self.watching.load(Ordering::Acquire)
    }

    /// When a file in the worktree last changed, if it has.
    pub fn last_change(&self) -> Option<Instant> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }
}

/// Paths under a `.git` directory (or the worktree's `.git` file).
fn is_git_internal(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c, Component::Normal(name) if name == ".git"))
}

/// The later of two optional instants.
pub fn latest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait_for(mut pred: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if pred() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    #[test]
    fn file_changes_count() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/deep")).unwrap();
        let activity = Activity::watch(dir.path());
        assert!(wait_for(|| activity.is_watching()), "the watch was set up");
        assert_eq!(activity.last_change(), None);
        std::fs::write(dir.path().join("src/deep/lib.rs"), "// 1").unwrap();
        assert!(wait_for(|| activity.last_change().is_some()));
    }

    #[test]
    fn git_internals_are_not_activity() {
        assert!(is_git_internal(Path::new("/w/.git/objects/ab/cdef")));
        assert!(is_git_internal(Path::new("/w/.git")));
        assert!(!is_git_internal(Path::new("/w/src/git.rs")));
        assert!(!is_git_internal(Path::new("/w/.github/workflows/ci.yml")));
    }

    #[test]
    fn latest_of_two() {
        let now = Instant::now();
        let later = now + Duration::from_secs(1);
        assert_eq!(latest(Some(now), Some(later)), Some(later));
        assert_eq!(latest(None, Some(now)), Some(now));
        assert_eq!(latest(None, None), None);
    }
}
