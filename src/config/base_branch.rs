//! `[project] base_branch` checked against the repository, reported at the
//! value in `orch.toml`: the one check `orch check` and a run share.

use super::model::Config;
use crate::git::{GitError, Repo};
use crate::tomldoc::{did_you_mean, ConfigError};

/// Whether the `base_branch` the config names is a local branch of `repo`.
/// A config that names none passes: the run then uses the branch checked
/// out, which exists by definition.
///
/// The error points at the `base_branch` value; a missing branch's message
/// lists the local branches and suggests a close one.
pub fn check_base_branch(config: &Config, repo: &Repo) -> Result<(), ConfigError> {
    let Some(branch) = &config.project.base_branch else {
        return Ok(());
    };
    let error = match repo.check_branch(branch) {
        Ok(()) => return Ok(()),
        Err(error) => error,
    };
    let message = match &error {
        GitError::MissingBaseBranch { local, .. } => format!(
            "{error}{}",
            did_you_mean(branch, local.iter().map(String::as_str))
        ),
        other => format!("cannot check base branch {branch:?}: {other}"),
    };
    Err(match config.project.base_branch_at {
        Some(at) => ConfigError {
            file: config.path.clone(),
            line: at.line,
            column: at.column,
            message,
        },
        None => ConfigError::whole_file(&config.path, message),
    })
}
