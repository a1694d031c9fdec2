//! `orch`: a terminal control room for running many AI coding agents at once
//! on one repository. Map of the crate (each module has one job):
//!
//! - [`config`]: load and validate `orch.toml` into plain, resolved data;
//!   every error with `file:line:column`.
//! - [`tomldoc`]: what every TOML file orch reads shares: UTF-8 with
//!   positions, a span-carrying parse, typed getters, did-you-mean, files
//!   found by name with `inherits` (used by `config`, keymaps and themes).
//! - [`plan`]: the task DAG: dependencies, dependents, topological stages.
//! - [`engine`]: the one owner of task state: a pure core deciding
//!   `(state, input, now) -> effects` and a driver (one tokio task) that
//!   takes [`engine::Request`]s and internal inputs, persists each change to
//!   the [`store`], then publishes an [`engine::Event`]; git work runs as
//!   jobs off it, agents sit behind [`agent::backend::AgentBackend`].
//! - [`agent`]: an agent process in a PTY: spawning, the reader that feeds
//!   its terminal screen and log, compact scrollback, killing whole process
//!   trees, and health sampling.
//! - [`git`]: worktrees and branches per task, and their diffs, with git2.
//! - [`store`]: `state.db` (SQLite, WAL, versioned migrations).
//! - [`headless`]: `orch --no-tui`: progress lines, summary, JSON/JUnit reports.
//! - [`ops`]: what orch runs for the user outside the engine: `[hooks]`
//!   commands and `git push`, bounded in time and output, no process left.
//! - [`ui`]: the control room: a ratatui screen over the running engine
//!   (panes, attach, keymaps, themes, the event loop).
//! - [`session`]: what every run needs before the engine starts (config,
//!   repository, base branch, state dir, lock, store).
//! - [`cli`]: the command line and the small subcommands (`check`, `status`,
//!   `logs`, `diff`, `worktree list/cleanup`).
//! - [`panic_guard`]: panics orch recovers from, told apart from crashes.
//! - [`log_err`]: the one way to log an error and carry on.
//! - [`timefmt`]: timestamps and durations for people and reports.

pub mod agent;
pub mod cli;
pub mod config;
pub mod control;
pub mod engine;
pub mod git;
pub mod headless;
pub mod ops;
pub mod panic_guard;
pub mod plan;
pub mod session;
pub mod store;
pub mod timefmt;
pub mod tomldoc;
pub mod ui;

/// Log an error that must not stop anything and carry on: the one place
/// where orch deliberately continues past a failure, so each such place is
/// searchable (`log_err(`).
pub fn log_err<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> Option<T> {
    match result {
        Ok(value) => Some(value),
        Err(err) => {
            tracing::warn!("{what}: {err}");
            None
        }
    }
}
