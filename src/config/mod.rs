//! `orch.toml`: the plan file.
//!
//! [`load`] reads and validates a file into a [`Config`], in which every
//! default is filled in and every reference checked. On failure it returns
//! [`ConfigErrors`]: every problem in the file at once, each with its line and
//! column, sorted by position.

pub mod model;

mod duration;
mod error;
#[cfg(test)]
pub(crate) mod fixtures;
mod lines;
pub(crate) mod suggest;
pub(crate) use lines::LineIndex;
mod validate;
pub(crate) use validate::type_name;
pub mod watch;

#[cfg(test)]
mod tests;

use std::path::Path;

pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, ConfigErrors};
pub use model::*;

/// Read and validate the config file at `path`.
///
/// An unreadable file gives a single error with line and column 0, displayed
/// as `{path}: cannot read: {reason}`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path)
        .map_err(|error| ConfigError::whole_file(path, format!("cannot read: {error}")))?;
    parse(&src, path)
}

/// Validate config text as if read from `path`, without touching the file
/// system. `path` is only used for messages, [`Config::path`] and
/// [`Config::root`] (its parent directory, or `.` when it has none).
pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigErrors> {
    validate::check(src, path)
}
