//! Everything a run needs before its engine starts: a valid config, the
//! repository, the base branch, the state directory (excluded from git and
//! locked against a second orch), and the store. Each step refuses clearly
//! and writes nothing if an earlier one failed.

mod run_lock;
mod state_check;

use std::path::{Path, PathBuf};

pub use run_lock::{holder as lock_holder, RunLock};

use crate::config::{self, Config, ConfigErrors};
use crate::git::{GitError, Repo};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("another orch is already running on {} ({}); stop it or use its control room", state_dir.display(), pid.map_or("pid unknown".to_string(), |pid| format!("pid {pid}")))]
    Locked {
        state_dir: PathBuf,
        pid: Option<u32>,
    },
    #[error("{} is not a directory, and orch keeps its state there: move it away, or set [project] state_dir in orch.toml to another path", path.display())]
    StateDirNotADir { path: PathBuf },
    #[error("{}", state_check::describe(db, problem, earlier, state_dir))]
    StateLost {
        db: PathBuf,
        /// "empty", or "damaged (why)".
        problem: String,
        /// What earlier runs left, e.g. "3 worktree(s) in /r/.orch/worktrees".
        earlier: Vec<String>,
        state_dir: PathBuf,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl SetupError {
    /// Bad config, not a repository, missing branch, a second orch, a state
    /// directory that cannot be used as it is: usage errors (2). Anything
    /// else is a failure of the run (1).
    pub fn exit_code(&self) -> i32 {
        match self {
            SetupError::Config(_)
            | SetupError::Git(_)
            | SetupError::Locked { .. }
            | SetupError::StateDirNotADir { .. }
            | SetupError::StateLost { .. } => 2,
            SetupError::Store(_) | SetupError::Io { .. } => 1,
        }
    }
}

pub fn load_config(path: &Path) -> Result<Config, SetupError> {
    config::load(path).map_err(SetupError::Config)
}

pub struct Session {
    pub config: Config,
    pub repo: Repo,
    pub base_branch: String,
    pub state_dir: PathBuf,
    pub store: Store,
    /// Held for the whole run: one orch per state directory.
    pub lock: RunLock,
}

impl Session {
    /// Each step refuses before the next writes anything: the state
    /// directory is made (if missing) and locked before `state.db` is
    /// inspected, and only a usable one gets our pid in the lock file, the
    /// exclude line and an opened (migrated) store.
    pub fn open(config: Config) -> Result<Session, SetupError> {
        let repo = Repo::discover(&config.root)?;
        let base_branch = match &config.project.base_branch {
            Some(branch) => branch.clone(),
            None => repo.current_branch()?,
        };
        match config.project.base_branch {
            // Named in the file: an error there points at the value.
            Some(_) => config::check_base_branch(&config, &repo)
                .map_err(|error| SetupError::Config(error.into()))?,
            None => repo.check_branch(&base_branch)?,
        }
        let state_dir = absolute(&config.root.join(&config.project.state_dir));
        create_state_dir(&state_dir)?;
        let lock = RunLock::acquire(&state_dir)?;
        state_check::refuse_lost_state(&state_dir, &repo)?;
        lock.publish_pid()?;
        if let Ok(relative) = state_dir.strip_prefix(absolute(repo.root())) {
            repo.exclude(&format!("/{}/", relative.display()))?;
        }
        let store = Store::open(&state_dir.join("state.db"))?;
        Ok(Session {
            config,
            repo,
            base_branch,
            state_dir,
            store,
            lock,
        })
    }
}

/// Makes `state_dir` (and its parents) unless it exists; a file (say, a
/// `.orch` committed to the repository) where it or a parent should be is
/// [`SetupError::StateDirNotADir`].
fn create_state_dir(state_dir: &Path) -> Result<(), SetupError> {
    if let Some(file) = state_dir
        .ancestors()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| !m.is_dir()))
    {
        return Err(SetupError::StateDirNotADir {
            path: file.to_path_buf(),
        });
    }
    std::fs::create_dir_all(state_dir).map_err(|source| SetupError::Io {
        context: format!("cannot create state directory {}", state_dir.display()),
        source,
    })
}

/// `path` made absolute against the current directory and normalised
/// lexically (`.` dropped, `..` applied), without resolving symlinks, so
/// paths shown to the user look like the ones they typed.
pub fn absolute(path: &Path) -> PathBuf {
    use std::path::Component;
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// What a run that finds its plan already finished says: how to run it
/// again (`in_room`: said in the control room, where a key does it).
pub fn run_again_hint(state_dir: &Path, in_room: bool) -> String {
    let retry = if in_room {
        "r on a task (or `orch task retry TASK`) runs it again"
    } else {
        "`orch task retry TASK` runs a task again"
    };
    format!(
        "plan finished: {retry}; remove {} to run all anew",
        state_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_applies_dot_dot_lexically() {
        assert_eq!(
            absolute(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(
            absolute(Path::new("/a/sub/../state")),
            PathBuf::from("/a/state")
        );
        assert!(absolute(Path::new("x")).is_absolute());
    }
}
