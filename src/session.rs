//! Everything a run needs before its engine starts: a valid config, the
//! repository, the base branch, the state directory (excluded from git and
//! locked against a second orch), and the store. Each step refuses clearly
//! and writes nothing if an earlier one failed.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::config::{self, Config, ConfigErrors};
use crate::git::{GitError, Repo};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Config(ConfigErrors),
    #[error("{0}")]
    Git(#[from] GitError),
    #[error("another orch is already running on {state_dir} (pid {pid}); stop it or use its control room")]
    Locked { state_dir: PathBuf, pid: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl SetupError {
    /// Bad config, not a repository, missing branch, a second orch: usage
    /// errors (2). Anything else is a failure of the run (1).
    pub fn exit_code(&self) -> i32 {
        match self {
            SetupError::Config(_) | SetupError::Git(_) | SetupError::Locked { .. } => 2,
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
        std::fs::create_dir_all(&state_dir).map_err(|source| SetupError::Io {
            context: format!("cannot create state directory {}", state_dir.display()),
            source,
        })?;
        let lock = RunLock::acquire(&state_dir)?;
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

/// An exclusive `flock` on `state_dir/orch.lock`, holding our pid. The kernel
/// drops it when the process dies, so a killed orch never leaves it stale.
pub struct RunLock {
    _file: File,
}

impl RunLock {
    fn acquire(state_dir: &Path) -> Result<RunLock, SetupError> {
        let path = state_dir.join("orch.lock");
        let io = |source| SetupError::Io {
            context: format!("cannot open {}", path.display()),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // SAFETY: flock on a file descriptor we own.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if !locked {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            return Err(SetupError::Locked {
                state_dir: state_dir.to_path_buf(),
                pid: pid.trim().to_string(),
            });
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RunLock { _file: file })
    }
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
