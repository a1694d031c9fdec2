//! What each CLI draws when it is busy, when it asks and when it is idle.
//!
//! Sources (recorded screens are in `tests/fixtures/screens/`, each with
//! its origin in its header):
//!
//! - Claude Code 2.1.197, recorded: the input box is a `❯` row between two
//!   `─` rules (1.x drew `╭─╮ │ > │ ╰─╯`, also read); busy is a spinner row
//!   above it ("✢ Orbiting…", "* Orbiting… (18s)": a glyph, a word, `…`) and
//!   "esc to interrupt" in the footer below it. The footer loses "esc to
//!   interrupt" as soon as the user types (recorded), and web searches say
//!   "ctrl+c to interrupt", agents "ctrl+b to run in background" (ccmanager
//!   #165, #149, #227), so both count. "✻ Worked for 0s" (no `…`) is done.
//!   Permissions and questions replace the box with a numbered menu with a
//!   `❯` on the selected option; text only the live dialog shows ("Esc to
//!   cancel") is never needed because an answered menu disappears, and
//!   menus are read only at the bottom (awslabs/cli-agent-orchestrator #142:
//!   `❯ 1.` matched in scrollback).
//! - Codex CLI 0.171.0, recorded: the composer is a `›` row above two
//!   footer rows; busy is "• Working (3s • esc to interrupt)" right above
//!   it. Only there: a stale "esc to interrupt" further up must not count
//!   (herdr #352). Approvals ("Would you like to run the following
//!   command?"), trust and sign-in are menus with `›`/`>` on the selection
//!   and "Press enter to confirm or esc to cancel" below; plan-mode
//!   questions end in "enter to submit answer" (ccmanager #242, #298;
//!   agent-of-empires #1121).
//! - Gemini CLI 0.61.0, recorded: the input box is a `>` row between `▄`
//!   and `▀` rules (older versions: a rounded box); busy is a braille
//!   spinner with "(esc to cancel, 4s)" above it; confirmations ("Allow
//!   execution of [Shell]?") are boxed menus with `●` on the selection;
//!   older versions said "Waiting for user confirmation" (ccmanager #146).
//! - aider 0.86.2, recorded: a line-based prompt (`> `, `ask> `, `multi> `)
//!   under a `─` rule; questions end in "(Y)es/(N)o/... [Yes]:" (aider
//!   #3807, #3903); busy is a "Waiting for MODEL" spinner.

use std::sync::LazyLock;

use regex::Regex;

use super::layout::{find_menu, is_rule, menu_question, re, Menu, View};
use super::{Found, Seen};
use crate::config::AgentKind;

/// What a kind's presets saw on one screen.
#[derive(Debug, Default)]
pub(super) struct Reading {
    /// It asks (a permission, a question, a menu).
    pub waiting: Option<Found>,
    /// It works.
    pub busy: Option<Found>,
    /// Its input is empty and waits for the next prompt, or holds text the
    /// user is typing.
    pub idle: Option<Found>,
    /// The top row of its own input (box, composer, prompt): rows from here
    /// down are the user's and never asked anything.
    pub input_top: Option<usize>,
}

/// Reads the screen with the presets of `kind`.
pub(super) fn read(kind: AgentKind, view: &View<'_>) -> Reading {
    match kind {
        AgentKind::ClaudeCode => claude_code(view),
        AgentKind::Codex => codex(view),
        AgentKind::Gemini => gemini(view),
        AgentKind::Aider => aider(view),
        AgentKind::Generic => Reading::default(),
    }
}

/// How close to the bottom an input box's first row must be.
const INPUT_SCAN: usize = 10;

/// "esc to interrupt" and its kin: shown only while a turn runs.
static INTERRUPT: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)\b(?:esc|ctrl\s*\+?\s*c) to interrupt\b|\bctrl\+b to run in background\b")
});

// --- Claude Code -----------------------------------------------------------

/// The spinner row: a glyph, a verb, the Unicode ellipsis, maybe "(18s · …)".
static CLAUDE_SPINNER: LazyLock<Regex> = LazyLock::new(|| re(r"^[·✢✳✶✻✽✺*]\s+\S[^…]{0,120}…"));
/// The prompt row of the input box.
static CLAUDE_PROMPT: LazyLock<Regex> = LazyLock::new(|| re(r"^[❯>](?:\s|$)"));

fn claude_code(view: &View<'_>) -> Reading {
    let Some((top, bottom)) = claude_input(view) else {
        return menu_reading(view, claude_rule);
    };
    let mut reading = Reading {
        input_top: Some(top),
        ..Reading::default()
    };
    let footer = view.join(bottom + 1, view.text.rows.len());
    if let Some(m) = footer.lines().find(|l| INTERRUPT.is_match(l)) {
        reading.busy = Some(found(Seen::Busy, "claude-code esc to interrupt", m));
    } else if let Some(i) = view
        .above(top, 6)
        .find(|&i| CLAUDE_SPINNER.is_match(view.row(i)))
    {
        reading.busy = Some(found(Seen::Busy, "claude-code spinner", view.row(i)));
    }
    reading.idle = Some(found(
        Seen::Idle,
        "claude-code input box",
        &view.join(top, bottom),
    ));
    reading
}

/// The input box: a `❯` row right under a `─` rule (or `│ > ` under `╭`),
/// near the bottom; `(top rule, bottom rule)`. A box grown tall by a long
/// prompt typed into it is found from its bottom rule up.
fn claude_input(view: &View<'_>) -> Option<(usize, usize)> {
    claude_input_near_bottom(view).or_else(|| claude_tall_input(view))
}

fn claude_input_near_bottom(view: &View<'_>) -> Option<(usize, usize)> {
    let rows = view.last(INPUT_SCAN);
    rows.iter().rev().find_map(|&i| {
        if !CLAUDE_PROMPT.is_match(view.row(i)) {
            return None;
        }
        let top = view.above(i, 1).next()?;
        let top_row = view.row(top);
        if !(is_rule(top_row, '─') || top_row.starts_with('╭')) {
            return None;
        }
        let bottom = rows
            .iter()
            .copied()
            .find(|&r| r > i && (is_rule(view.row(r), '─') || view.row(r).starts_with('╰')))
            .unwrap_or(i);
        Some((top, bottom))
    })
}

/// From a rule among the last rows up to the `❯` row right under the box's
/// top rule, across any number of typed rows (none of them a rule).
fn claude_tall_input(view: &View<'_>) -> Option<(usize, usize)> {
    let is_top = |row: &str| is_rule(row, '─') || row.starts_with('╭');
    let is_bottom = |row: &str| is_rule(row, '─') || row.starts_with('╰');
    view.last(INPUT_SCAN).iter().rev().find_map(|&bottom| {
        if !is_bottom(view.row(bottom)) {
            return None;
        }
        for i in view.above(bottom, usize::MAX) {
            let row = view.row(i);
            if is_top(row) || is_bottom(row) {
                return None;
            }
            if CLAUDE_PROMPT.is_match(row) {
                let top = view.above(i, 1).next()?;
                if is_top(view.row(top)) {
                    return Some((top, bottom));
                }
            }
        }
        None
    })
}

fn claude_rule(dialog: &str) -> &'static str {
    if dialog.contains("Do you want to")
        || dialog.contains("requires approval")
        || dialog.contains("Would you like to proceed")
    {
        "claude-code permission prompt"
    } else if dialog.contains("Enter to select") || dialog.contains('☐') {
        "claude-code question"
    } else {
        "claude-code menu"
    }
}

// --- Codex -----------------------------------------------------------------

/// The composer row (`›`; `▌` in versions before 0.40).
static CODEX_COMPOSER: LazyLock<Regex> = LazyLock::new(|| re(r"^[›▌](?:\s|$)"));
/// A menu option, which also starts with `›`.
static CODEX_OPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^[›▌]\s*\d{1,2}\.\s"));
/// Hints only a question or an approval shows.
static CODEX_HINT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)press enter to confirm|enter to submit answer|\benter to submit\b|press enter to continue",
    )
});

fn codex(view: &View<'_>) -> Reading {
    let composer = view.last(INPUT_SCAN).iter().rev().copied().find(|&i| {
        let row = view.row(i);
        CODEX_COMPOSER.is_match(row) && !CODEX_OPTION.is_match(row) && view.count_below(i) <= 5
    });
    let Some(top) = composer else {
        let mut reading = menu_reading(view, codex_rule);
        if reading.waiting.is_none() {
            reading.waiting = hint_question(view, &CODEX_HINT, "codex question");
        }
        return reading;
    };
    let mut reading = Reading {
        input_top: Some(top),
        ..Reading::default()
    };
    // Only the status right above the composer: a turn's old status line
    // further up says nothing about now.
    if let Some(i) = view
        .above(top, 4)
        .find(|&i| INTERRUPT.is_match(view.row(i)))
    {
        reading.busy = Some(found(Seen::Busy, "codex working", view.row(i)));
    }
    let end = view.last_line().unwrap_or(top);
    reading.idle = Some(found(Seen::Idle, "codex composer", &view.join(top, end)));
    reading
}

fn codex_rule(dialog: &str) -> &'static str {
    if dialog.contains("Would you like to")
        || dialog.contains("Allow")
        || dialog.contains("approve")
    {
        "codex approval"
    } else if dialog.contains("enter to submit") {
        "codex question"
    } else {
        "codex menu"
    }
}

// --- Gemini CLI ------------------------------------------------------------

/// The prompt row of the input box (`!` in shell mode, `*` in YOLO mode).
static GEMINI_PROMPT: LazyLock<Regex> = LazyLock::new(|| re(r"^[>!*](?:\s|$)"));
/// The spinner row while a turn runs.
static GEMINI_SPINNER: LazyLock<Regex> =
    LazyLock::new(|| re(r"^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s|\(esc to cancel, \d+[smh]"));
/// Older versions' line under a confirmation.
static GEMINI_HINT: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)waiting for user confirmation"));

fn gemini(view: &View<'_>) -> Reading {
    let prompt = view.last(INPUT_SCAN).iter().rev().copied().find(|&i| {
        GEMINI_PROMPT.is_match(view.row(i))
            && view.count_below(i) <= 6
            && view.above(i, 1).next().is_some_and(|t| {
                let t = view.row(t);
                is_rule(t, '▄') || is_rule(t, '─') || t.starts_with('╭')
            })
    });
    let Some(prompt) = prompt else {
        let mut reading = menu_reading(view, gemini_rule);
        if reading.waiting.is_none() {
            reading.waiting = hint_question(view, &GEMINI_HINT, "gemini confirmation");
        }
        return reading;
    };
    let top = view.above(prompt, 1).next().unwrap_or(prompt);
    let mut reading = Reading {
        input_top: Some(top),
        ..Reading::default()
    };
    if let Some(i) = view
        .above(top, 5)
        .find(|&i| GEMINI_SPINNER.is_match(view.row(i)))
    {
        reading.busy = Some(found(Seen::Busy, "gemini spinner", view.row(i)));
    }
    reading.idle = Some(found(Seen::Idle, "gemini input box", view.row(prompt)));
    reading
}

fn gemini_rule(dialog: &str) -> &'static str {
    if ["Allow", "Apply", "Do you want", "confirm"]
        .iter()
        .any(|w| dialog.contains(w))
    {
        "gemini confirmation"
    } else {
        "gemini menu"
    }
}

// --- aider -----------------------------------------------------------------

/// aider's confirm_ask: "Run shell command? (Y)es/(N)o/(D)on't ask again [Yes]:".
static AIDER_CONFIRM: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)\(y\)es/\(n\)o"));
/// The prompt: `> `, `ask> `, `architect> `, `multi> `.
static AIDER_PROMPT: LazyLock<Regex> =
    LazyLock::new(|| re(r"^(?:[\w.-]+ )?(?:ask|code|architect|help|context|multi)?>(?:\s|$)"));
/// The spinner while the model answers.
static AIDER_WAITING: LazyLock<Regex> = LazyLock::new(|| re(r"[░█▒▓⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]\s+Waiting for \S"));

fn aider(view: &View<'_>) -> Reading {
    let mut reading = Reading::default();
    let Some(last) = view.last_line() else {
        return reading;
    };
    let row = view.row(last);
    let cursor = usize::from(view.text.cursor_row);
    let at_cursor = cursor == last || cursor == last + 1;
    if at_cursor && AIDER_CONFIRM.is_match(row) {
        reading.waiting = Some(Found {
            seen: Seen::Waiting {
                question: row.to_string(),
            },
            rule: "aider confirm".into(),
            text: view.join(view.above(last, 2).last().unwrap_or(last), last),
        });
    } else if AIDER_WAITING.is_match(row) {
        reading.busy = Some(found(Seen::Busy, "aider waiting for the model", row));
    } else if cursor == last
        && AIDER_PROMPT.is_match(row)
        && view.above(last, 6).any(|i| is_rule(view.row(i), '─'))
    {
        reading.input_top = Some(last);
        reading.idle = Some(found(Seen::Idle, "aider prompt", row));
    }
    reading
}

// --- shared ----------------------------------------------------------------

/// A menu at the bottom (only looked for where the kind's input is not
/// drawn: its dialogs replace it) as waiting, named by `rule`.
fn menu_reading(view: &View<'_>, rule: fn(&str) -> &'static str) -> Reading {
    let waiting = find_menu(view).map(|menu: Menu| {
        let (question, from) = menu_question(view, menu);
        let to = view
            .last(usize::MAX)
            .iter()
            .copied()
            .filter(|&i| i > menu.last)
            .take(3)
            .last()
            .unwrap_or(menu.last);
        let text = view.join(from, to);
        Found {
            seen: Seen::Waiting { question },
            rule: rule(&text).into(),
            text,
        }
    });
    Reading {
        waiting,
        ..Reading::default()
    }
}

/// A hint line among the last rows that only a question shows; the question
/// is the nearest row above it with a `?`, else the hint itself.
fn hint_question(view: &View<'_>, hint: &Regex, rule: &str) -> Option<Found> {
    let at = view
        .last(4)
        .iter()
        .rev()
        .copied()
        .find(|&i| hint.is_match(view.row(i)))?;
    let asking = view
        .above(at, 8)
        .find(|&i| view.row(i).contains('?'))
        .unwrap_or(at);
    Some(Found {
        seen: Seen::Waiting {
            question: view.row(asking).to_string(),
        },
        rule: rule.into(),
        text: view.join(asking, at),
    })
}

fn found(seen: Seen, rule: &str, text: &str) -> Found {
    Found {
        seen,
        rule: rule.into(),
        text: text.to_string(),
    }
}
