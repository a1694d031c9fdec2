//! The control room: a ratatui screen over the running engine.
//!
//! - `app`: the state of the screen and what keys do to it (pure; returns
//!   effects and jobs), routing keys to the panes by focus.
//! - `task_table`: the tasks as last published, their screens and health.
//! - `panes`: the task list, output, approvals and health panes (each owns
//!   its state behind one `Pane` trait), the status bar, overlays, dialogs,
//!   and the diff view (a task's changes, searchable).
//! - `view`, `layout`: drawing one frame from that state (read-only).
//! - `jobs`: slow reads off the loop (attempts for details, log replays,
//!   diffs).
//! - `term_view`: an agent's terminal (vt100 screen + history) into a buffer.
//! - `keys`: keys and pastes encoded for an agent's PTY.
//! - `keymap`, `theme`: the user's keys and colours, from TOML files.
//! - `output_source`: a task's screen, live or replayed from its log.
//! - `pager`: the user's pager, chosen as git does, and git's colours.
//! - `terminal`: taking and always giving back the terminal (in the client).
//! - `event_loop`: one client's control room in the server: the async loop
//!   joining its input, engine events and output, drawing into its screen.

pub mod app;
pub mod clipboard;
mod event_loop;
pub mod jobs;
pub mod keymap;
pub mod keys;
pub mod layout;
pub mod mouse;
pub mod notify;
pub mod output_source;
pub mod pager;
pub mod panes;
pub mod search;
pub mod task_table;
pub mod term_lines;
pub mod term_view;
pub mod terminal;
pub mod theme;
pub mod view;

pub use event_loop::{load_style, no_color_wanted, serve_view, UiChoice};

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod reading_tests;
#[cfg(test)]
mod tests;
