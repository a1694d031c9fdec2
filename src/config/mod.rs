//! `orch.toml`: the plan file.
//!
//! [`load`] reads and validates a file into a [`Config`], in which every
//! default is filled in and every reference checked. On failure it returns
//! [`ConfigErrors`]: every problem in the file at once, each with its line and
//! column, sorted by position. The walk over the TOML tree, positions and
//! suggestions are [`crate::tomldoc`]'s, shared with keymaps and themes.
//!
//! Modules by job: `walk` (keys and types, into raw tables with spans),
//! `defaults` (policy resolution and the rules between keys), `references`
//! (ids, agents, fallbacks, dependencies), `cycles`, `placeholders` (their
//! grammar, filling and checking), `validate` (the order of it all),
//! `base_branch` (the one check against the repository), `added` (a task
//! added at run time, checked and resolved as a `[[tasks]]` entry),
//! `sandbox` (an agent's `sandbox` and `writable`, `~` expanded),
//! `attention` (an agent's `kind`, `resume`, `waiting_patterns` and
//! `auto_answer`, regexes compiled).

pub mod model;

mod added;
mod attention;
mod base_branch;
mod cycles;
mod defaults;
mod duration;
mod placeholders;
mod references;
mod sandbox;
mod validate;
mod walk;
pub mod watch;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use crate::tomldoc::{ConfigError, ConfigErrors};
pub use added::NewTask;
pub use base_branch::check_base_branch;
pub use duration::{format_duration, parse_duration};
pub use model::*;
pub use placeholders::{mentions_placeholder, HookVars, Placeholders};

/// Read and validate the config file at `path`.
///
/// An unreadable file gives a single error with line and column 0, displayed
/// as `{path}: cannot read: {reason}`; a byte that is not UTF-8, an error at
/// its line and column.
/// The root comes out absolute: every path orch derives from it (the
/// state dir, worktrees, what agents are told in `ORCH_WORKTREE`) must mean
/// the same thing from any working directory.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let src = crate::tomldoc::read_text(path)?;
    let mut config = parse(&src, path)?;
    if let Ok(root) = std::path::absolute(&config.root) {
        config.root = root;
    }
    Ok(config)
}

/// Validate config text as if read from `path`, without touching the file
/// system. `path` is only used for messages, [`Config::path`] and
/// [`Config::root`] (its parent directory, or `.` when it has none).
pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    validate::check(src, path)
}
