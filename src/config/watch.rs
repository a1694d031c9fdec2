//! Watching `orch.toml` for edits: a debounced reload that hands every new
//! result (a valid config, or the errors of a bad edit) to a callback.
//!
//! Editors save in different ways (write in place, or write a temporary
//! file and rename it over the original), so the directory is watched and
//! events are filtered by file name. A burst of events is collapsed: after
//! the first, the watcher waits until the file has been quiet for the
//! debounce period, then loads it once. Unchanged contents are ignored.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};

use crate::config::{load, Config, ConfigErrors};

/// Keeps the watch alive; dropping it stops watching.
pub struct ConfigWatcher {
    _watcher: notify::RecommendedWatcher,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot watch {path} for changes: {source}")]
pub struct WatchError {
    path: PathBuf,
    source: notify::Error,
}

impl ConfigWatcher {
    pub fn start(
        path: &Path,
        debounce: Duration,
        mut on_change: impl FnMut(Result<Config, ConfigErrors>) -> bool + Send + 'static,
    ) -> Result<ConfigWatcher, WatchError> {
        let file_name = path.file_name().map(|n| n.to_os_string());
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let (tx, rx) = mpsc::channel::<()>();
        let wanted = file_name.clone();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else {
                    return;
                };
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == wanted);
                if ours {
                    let _ = tx.send(());
                }
            })
            .map_err(|source| WatchError {
                path: path.to_path_buf(),
                source,
            })?;
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .map_err(|source| WatchError {
                path: path.to_path_buf(),
                source,
            })?;
        let path = path.to_path_buf();
        let mut last = std::fs::read(&path).ok();
        std::thread::Builder::new()
            .name("orch-config-watch".into())
            .spawn(move || {
                while rx.recv().is_ok() {
                    // Wait for the edit to settle.
                    while rx.recv_timeout(debounce).is_ok() {}
                    let now = std::fs::read(&path).ok();
                    if now.is_none() || now == last {
                        continue;
                    }
                    last = now;
                    if !on_change(load(&path)) {
                        return;
                    }
                }
            })
            .map_err(|source| WatchError {
                path: std::path::PathBuf::from("orch-config-watch thread"),
                source: notify::Error::io(source),
            })?;
        Ok(ConfigWatcher { _watcher: watcher })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_valid_and_invalid_edits_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orch.toml");
        std::fs::write(&path, "[agents.sh]\ncommand = [\"sh\"]\n").unwrap();
        let (tx, rx) = mpsc::channel();
        let _w = ConfigWatcher::start(&path, Duration::from_millis(100), move |r| {
            tx.send(r.map(|c| c.tasks.len()).map_err(|e| e.to_string()))
                .is_ok()
        })
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // An editor that writes a temporary file and renames it over.
        let tmp = dir.path().join(".orch.toml.swp");
        std::fs::write(
            &tmp,
            "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n",
        )
        .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5)).expect("a reload");
        assert_eq!(got, Ok(1));
        std::fs::write(&path, "[defaults]\nretires = 1\n").unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5)).expect("a reload");
        assert!(got.is_err_and(|e| e.contains("retires")));
        // Writing the same bytes again is not a change; a real change after
        // it is the next thing reported.
        std::fs::write(&path, "[defaults]\nretires = 1\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        std::fs::write(
            &path,
            "[agents.sh]\ncommand = [\"sh\"]\n[[tasks]]\nid = \"a\"\nagent = \"sh\"\n[[tasks]]\nid = \"b\"\nagent = \"sh\"\n",
        )
        .unwrap();
        let got = rx.recv_timeout(Duration::from_secs(5)).expect("a reload");
        assert_eq!(got, Ok(2));
    }
}
