//! Slow reads the control room hands off so that neither a key nor a frame
//! waits on the disk: a task's attempts from `state.db` (the details
//! dialog), the replay of a finished attempt's log (up to 32 MiB read and
//! parsed) and a task's diff (the diff view, the pager). Each runs on
//! tokio's blocking pool and reports back to the event loop as a
//! [`JobDone`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::git::{Repo, TaskDiff};
use crate::store::Store;
use crate::ui::output_source::OutputSource;
use crate::ui::panes::overlays::{TaskRecord, DETAILS_MESSAGES};

/// Lines of history a replayed screen keeps, as a live agent's does.
const REPLAY_HISTORY: usize = 10_000;

/// A read the control room asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// The attempts of a task, for the details dialog.
    Attempts(String),
    /// A screen replayed from a task's attempt log, at the output pane's size.
    Replay {
        task: String,
        attempt: u32,
        rows: u16,
        cols: u16,
    },
    /// A task's changes against its merge base (see [`Repo::task_diff`]),
    /// for the diff view (request `seq`) or for the pager.
    Diff {
        task: String,
        seq: u64,
        for_pager: bool,
    },
}

/// What a job found.
#[derive(Debug)]
pub enum JobDone {
    Attempts {
        task: String,
        result: Result<TaskRecord, String>,
    },
    /// `output` is `None` when the attempt left no log.
    Replay {
        task: String,
        attempt: u32,
        output: Option<OutputSource>,
    },
    Diff {
        task: String,
        seq: u64,
        for_pager: bool,
        result: Result<Arc<TaskDiff>, String>,
    },
}

/// What jobs read from, and where they report.
#[derive(Clone)]
pub struct Jobs {
    state_dir: PathBuf,
    /// A read-only connection to `state.db`; `None` if it could not be
    /// opened (the dialog then says so).
    reader: Option<Arc<Mutex<Store>>>,
    /// The repository and the base branch diffs are against.
    git: Option<(Repo, String)>,
    done: mpsc::Sender<JobDone>,
}

impl Jobs {
    pub fn new(state_dir: PathBuf, reader: Option<Store>, done: mpsc::Sender<JobDone>) -> Jobs {
        Jobs {
            state_dir,
            reader: reader.map(|store| Arc::new(Mutex::new(store))),
            git: None,
            done,
        }
    }

    /// Diffs are taken in `repo` against `base`.
    pub fn with_git(mut self, repo: Repo, base: String) -> Jobs {
        self.git = Some((repo, base));
        self
    }

    /// Start `job` on the blocking pool. The result is dropped if the loop
    /// has gone (the control room is closing).
    pub fn spawn(&self, job: Job) {
        let jobs = self.clone();
        tokio::task::spawn_blocking(move || {
            let done = jobs.run(job);
            if jobs.done.blocking_send(done).is_err() {
                tracing::debug!("a job finished after the control room closed");
            }
        });
    }

    /// Carry out `job` on this thread.
    pub fn run(&self, job: Job) -> JobDone {
        match job {
            Job::Attempts(task) => {
                let result = self.attempts(&task);
                JobDone::Attempts { task, result }
            }
            Job::Replay {
                task,
                attempt,
                rows,
                cols,
            } => {
                let log = log_path(&self.state_dir, &task, attempt);
                let output = OutputSource::replay(&log, rows, cols, REPLAY_HISTORY);
                JobDone::Replay {
                    task,
                    attempt,
                    output,
                }
            }
            Job::Diff {
                task,
                seq,
                for_pager,
            } => {
                let result = self.diff(&task);
                JobDone::Diff {
                    task,
                    seq,
                    for_pager,
                    result,
                }
            }
        }
    }

    fn diff(&self, task: &str) -> Result<Arc<TaskDiff>, String> {
        let (repo, base) = self
            .git
            .as_ref()
            .ok_or_else(|| "no repository to diff in".to_string())?;
        let worktree = self.state_dir.join("worktrees").join(task);
        repo.task_diff(task, base, Some(&worktree))
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }

    fn attempts(&self, task: &str) -> Result<TaskRecord, String> {
        let reader = self
            .reader
            .as_ref()
            .ok_or_else(|| "state.db could not be opened for reading".to_string())?;
        // A poisoned lock means another job panicked mid-query; the
        // connection itself is still usable.
        let store = reader.lock().unwrap_or_else(|p| p.into_inner());
        Ok(TaskRecord {
            attempts: store.attempts(task).map_err(|e| e.to_string())?,
            messages: store
                .messages(Some(task), DETAILS_MESSAGES)
                .map_err(|e| e.to_string())?,
        })
    }
}

/// The log of one attempt of a task, under the state directory.
pub fn log_path(state_dir: &Path, task: &str, attempt: u32) -> PathBuf {
    state_dir
        .join("logs")
        .join(task)
        .join(format!("{attempt}.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs(dir: &Path) -> Jobs {
        let (tx, _rx) = mpsc::channel(1);
        Jobs::new(dir.to_path_buf(), None, tx)
    }

    #[test]
    fn a_replay_reads_the_attempts_log_into_a_screen() {
        let dir = tempfile::tempdir().unwrap();
        let log = log_path(dir.path(), "api", 2);
        std::fs::create_dir_all(log.parent().unwrap()).unwrap();
        std::fs::write(&log, b"hello from attempt 2\r\n").unwrap();
        let done = jobs(dir.path()).run(Job::Replay {
            task: "api".into(),
            attempt: 2,
            rows: 5,
            cols: 30,
        });
        let JobDone::Replay {
            task,
            attempt,
            output: Some(output),
        } = done
        else {
            panic!("no screen: {done:?}");
        };
        assert_eq!((task.as_str(), attempt), ("api", 2));
        let text = output.with_screen(|s| s.screen().contents());
        assert!(text.contains("hello from attempt 2"), "{text}");
    }

    #[test]
    fn a_missing_log_replays_to_nothing_and_a_missing_store_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = jobs(dir.path());
        let done = jobs.run(Job::Replay {
            task: "api".into(),
            attempt: 1,
            rows: 5,
            cols: 30,
        });
        assert!(
            matches!(done, JobDone::Replay { output: None, .. }),
            "{done:?}"
        );
        let done = jobs.run(Job::Attempts("api".into()));
        assert!(
            matches!(&done, JobDone::Attempts { result: Err(e), .. } if e.contains("state.db")),
            "{done:?}"
        );
    }
}
