//! Busy, idle or waiting for an answer, from an agent's screen alone.
//!
//! # How a screen is read
//!
//! Only its bottom: the rows at and just above the cursor for programs that
//! print line by line, the bottom region for TUIs that draw a menu or a box
//! there. A question that scrolled up in ordinary output (a build log, a
//! test run printing "Continue?") was asked and answered long ago.
//!
//! In this order, the first that decides wins:
//!
//! 1. the kind's presets, *waiting*: a permission or question menu
//!    (Claude Code, Codex, Gemini CLI) or a confirm prompt (aider);
//! 2. the agent's own `waiting_patterns`, then its `auto_answer` patterns,
//!    over the asking region;
//! 3. the kind's presets, *busy*: a spinner, "esc to interrupt";
//! 4. the kind's presets, *idle*: its input box or prompt, with no spinner;
//! 5. the generic presets (every kind): `[y/N]`, `(y/n)`, "Press Enter",
//!    "Continue?", a question the cursor sits right after, password and
//!    passphrase prompts, over the asking region.
//!
//! The *asking region* is the last few non-empty rows above the kind's own
//! input (box, composer, prompt) when the kind draws one, else the last few
//! rows of the screen. Text the user types into the input box is never part
//! of it, so "(y/n)" typed there asks nothing. Where a kind recognises its
//! own input box, the generic presets are not consulted: that agent is at
//! its prompt (idle) or working (busy), whatever its last output said.
//!
//! Nothing decided is `None`: ordinary output, and the caller keeps what it
//! knew. Classify only settled screens ([`Settle`]).
//!
//! Parts: `layout` (normalised rows, menus and their questions), `presets`
//! (per kind, with the sources of what each CLI draws), `generic`, `settle`.

mod generic;
mod layout;
mod presets;
mod settle;
#[cfg(test)]
mod tests;

use regex::Regex;

use super::Seen;
use crate::config::AgentKind;
use layout::{one_line, View};

pub use settle::{Due, Settle};

/// Longest question kept, in characters.
pub const QUESTION_MAX: usize = 200;
/// Non-empty rows in the asking region.
const ASK_ROWS: usize = 4;

/// A screen as the detector reads it: visible rows as text (trailing blanks
/// trimmed) and the cursor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScreenText {
    pub rows: Vec<String>,
    pub cursor_row: u16,
    pub cursor_col: u16,
}

impl ScreenText {
    /// The visible rows and cursor of a vt100 screen.
    pub fn of(screen: &vt100::Screen) -> ScreenText {
        let (_, cols) = screen.size();
        let rows = screen
            .rows(0, cols.get())
            .map(|mut row| {
                row.truncate(row.trim_end().len());
                row
            })
            .collect();
        let (cursor_row, cursor_col) = screen.cursor_position();
        ScreenText {
            rows,
            cursor_row,
            cursor_col,
        }
    }
}

/// What one classification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenMatch {
    /// Busy / Idle / Waiting { question }: the question is the asking
    /// line(s), trimmed, one line, at most [`QUESTION_MAX`] characters.
    pub seen: Seen,
    /// The screen text that decided it: a kind's whole dialog, or the
    /// asking row(s) of a line prompt. `auto_answer` patterns are matched
    /// against it.
    pub text: String,
    /// Which rule: "claude-code permission prompt", "generic [y/N]",
    /// "waiting_patterns[0]", ...
    pub rule: String,
    /// Index of the first `auto_answer` pattern that matched the asking
    /// text, if any (only when waiting).
    pub auto_answer: Option<usize>,
}

/// One rule's finding, before the question is tidied and auto-answers
/// looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Found {
    seen: Seen,
    rule: String,
    text: String,
}

/// The rules for one agent: its kind's presets, then the generic ones,
/// plus its own `waiting_patterns` and `auto_answer` patterns (regexes over
/// the screen's last lines).
#[derive(Debug, Clone)]
pub struct ScreenRules {
    kind: AgentKind,
    waiting_patterns: Vec<Regex>,
    auto_answer: Vec<Regex>,
}

impl ScreenRules {
    /// `waiting_patterns` are matched against the asking region's rows
    /// joined with newlines (so `$` is the end of its last row);
    /// `auto_answer` patterns against the text that decided (a kind's
    /// dialog, or a line prompt's asking rows), in order.
    pub fn new(
        kind: AgentKind,
        waiting_patterns: Vec<Regex>,
        auto_answer: Vec<Regex>,
    ) -> ScreenRules {
        ScreenRules {
            kind,
            waiting_patterns,
            auto_answer,
        }
    }

    /// The kind these rules are for.
    pub fn kind(&self) -> AgentKind {
        self.kind
    }

    /// None when nothing decided (ordinary output): the caller keeps what
    /// it knew.
    pub fn classify(&self, screen: &ScreenText) -> Option<ScreenMatch> {
        let view = View::new(screen);
        let reading = presets::read(self.kind, &view);
        let region = asking_region(&view, reading.input_top);
        let found = reading
            .waiting
            .or_else(|| self.own_pattern(&view, &region))
            .or(reading.busy)
            .or(reading.idle)
            .or_else(|| generic::find(&view, &region))?;
        Some(self.finish(found))
    }

    /// The first of the agent's `waiting_patterns`, then of its
    /// `auto_answer` patterns (a prompt it has an answer for is a prompt),
    /// with a match in the asking region that ends on its last row with
    /// nothing but spaces and punctuation after it on that row: the same
    /// words further up, or followed by what was typed ("Proceed? (y/n) y"),
    /// were a prompt once and have been answered. The question is the row
    /// the match starts on.
    fn own_pattern(&self, view: &View<'_>, region: &[usize]) -> Option<Found> {
        let (&last, _) = region.split_last()?;
        let rows: Vec<&str> = region.iter().map(|&i| view.row(i)).collect();
        let text = rows.join("\n");
        // Where the last row starts in `text`.
        let last_start = text.len() - view.row(last).len();
        let asks = |m: regex::Match<'_>| {
            // A match that ends with the row's newline ends on the row
            // before it.
            let end = if m.end() > m.start() && text[..m.end()].ends_with('\n') {
                m.end() - 1
            } else {
                m.end()
            };
            end >= last_start && !text[end..].chars().any(char::is_alphanumeric)
        };
        let waiting = self
            .waiting_patterns
            .iter()
            .enumerate()
            .map(|(n, p)| (format!("waiting_patterns[{n}]"), p));
        let answered = self
            .auto_answer
            .iter()
            .enumerate()
            .map(|(n, p)| (format!("auto_answer[{n}]"), p));
        waiting.chain(answered).find_map(|(rule, p)| {
            let m = p.find_iter(&text).find(|&m| asks(m))?;
            // The question is the row the match starts on; the text the
            // rows it spans.
            let first = text[..m.start()].matches('\n').count();
            Some(Found {
                seen: Seen::Waiting {
                    question: rows.get(first).copied().unwrap_or_default().to_string(),
                },
                rule,
                text: rows.get(first..).unwrap_or_default().join("\n"),
            })
        })
    }

    fn finish(&self, found: Found) -> ScreenMatch {
        let (seen, auto_answer) = match found.seen {
            Seen::Waiting { question } => {
                let auto = self
                    .auto_answer
                    .iter()
                    .position(|p| p.is_match(&found.text));
                let question = one_line(&question, QUESTION_MAX);
                (Seen::Waiting { question }, auto)
            }
            other => (other, None),
        };
        ScreenMatch {
            seen,
            text: found.text,
            rule: found.rule,
            auto_answer,
        }
    }
}

/// The last few non-empty rows above the kind's own input, or of the
/// screen; top to bottom.
fn asking_region(view: &View<'_>, input_top: Option<usize>) -> Vec<usize> {
    match input_top {
        Some(top) => {
            let mut rows: Vec<usize> = view.above(top, ASK_ROWS).collect();
            rows.reverse();
            rows
        }
        None => view.last(ASK_ROWS).to_vec(),
    }
}
