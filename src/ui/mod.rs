//! The control room: a ratatui screen over the running engine.
//!
//! - `app`: the state of the screen and what keys do to it (pure; returns effects).
//! - `view`, `layout`, `panes`: drawing one frame from that state.
//! - `term_view`: an agent's terminal (vt100 screen + history) into a buffer.
//! - `keys`: keys and pastes encoded for an agent's PTY.
//! - `keymap`, `theme`: the user's keys and colours, from TOML files.
//! - `output_source`: a task's screen, live or replayed from its log.
//! - `terminal`: taking and always giving back the terminal.
//! - `event_loop`: the async loop joining input, engine events and output.

pub mod app;
mod event_loop;
pub mod keymap;
pub mod keys;
pub mod layout;
pub mod output_source;
pub mod panes;
pub mod term_view;
pub mod terminal;
pub mod theme;
pub mod view;

pub use event_loop::{load_style, run, UiChoice};

#[cfg(test)]
mod tests;
