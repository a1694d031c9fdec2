//! Is an agent busy, idle, or waiting for someone to answer it? Three
//! signals, each with its own module, each plain functions over plain data
//! where it can be:
//!
//! - `screen`: the agent's screen, matched against presets for its kind
//!   (Claude Code, Codex, Aider, Gemini CLI, generic prompts) and its own
//!   `waiting_patterns`, only when the screen changed and has settled.
//! - `os`: the operating system: the terminal's foreground process group
//!   blocked reading the terminal.
//! - `watcher`: the thread that looks at running agents for these (and
//!   for input typed into them) and tells the engine what changed.
//! - the agent itself says so (`orch heartbeat --waiting/--idle/--busy`,
//!   its own hooks): that one arrives over the socket, not here.
//!
//! The engine core combines what they see (`engine::core::attention`).

pub mod os;
pub mod screen;
pub mod watcher;

use serde::{Deserialize, Serialize};

/// What an agent is doing, as one signal sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum Seen {
    /// Working: a spinner, output, a tool running.
    Busy,
    /// Finished its turn; waiting for the next prompt.
    Idle,
    /// Asked something (a question, a permission) and waits for the answer.
    Waiting { question: String },
}

/// The longest question kept, in characters.
pub const QUESTION_MAX: usize = 200;

impl Seen {
    /// Asked something and waits for the answer.
    pub fn is_waiting(&self) -> bool {
        matches!(self, Seen::Waiting { .. })
    }

    /// `self` with its question on one line, without control characters,
    /// at most [`QUESTION_MAX`] characters: it is drawn in every view.
    pub fn cleaned(self) -> Seen {
        match self {
            Seen::Waiting { question } => {
                let flat: String = question
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let words: Vec<&str> = flat.split_whitespace().collect();
                let mut question = words.join(" ");
                if let Some((cut, _)) = question.char_indices().nth(QUESTION_MAX) {
                    question.truncate(cut);
                    question.push('…');
                }
                Seen::Waiting { question }
            }
            other => other,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Seen::Busy => "busy",
            Seen::Idle => "idle",
            Seen::Waiting { .. } => "waiting",
        }
    }
}

/// Which signal saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The agent said so: `orch heartbeat --waiting/--idle/--busy`, or
    /// its own hooks (Claude Code's, Codex's `notify`) calling it.
    Agent,
    /// The terminal's foreground process group is blocked reading it.
    Os,
    /// The screen matched a preset or one of the agent's patterns.
    Screen,
    /// Someone typed into the agent (attached, or an auto-answer).
    Input,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Agent => "agent",
            Signal::Os => "os",
            Signal::Screen => "screen",
            Signal::Input => "input",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        [Signal::Agent, Signal::Os, Signal::Screen, Signal::Input]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}
