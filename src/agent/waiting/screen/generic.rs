//! Prompts any program prints, for every kind: yes/no markers, "Press
//! Enter", "Continue?", a question the cursor sits right after, password
//! and passphrase prompts, and the arrow-key menus of Node's prompt
//! libraries (inquirer's `? Pick one (Use arrow keys)` over `❯ a`, prompts'
//! `? Pick one › - Use arrow-keys`). Each line prompt is read only on the last row of the asking
//! region (the cursor's row and the few above it), at the end of that row:
//! the same words further up, or followed by more output, were a prompt
//! once and have been answered (the recorded test run in
//! `generic-ordinary-test-run.bytes` prints all of them mid-way).

use std::sync::LazyLock;

use regex::Regex;
use unicode_width::UnicodeWidthStr;

use super::layout::{re, View};
use super::{Found, Seen};

/// A rule: its name, and the pattern the asking row must match.
struct Rule {
    name: &'static str,
    pattern: Regex,
    /// Only when the cursor is on the row (a password prompt shows nothing
    /// typed, so its cursor stays after the colon).
    at_cursor: bool,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |name, pattern: &str, at_cursor| Rule {
        name,
        pattern: re(pattern),
        at_cursor,
    };
    vec![
        // [y/N], [Y/n], [yes/no]
        rule(
            "generic [y/N]",
            r"(?i)\[\s*y(?:es)?\s*/\s*n(?:o)?\s*\][\s:?]*$",
            false,
        ),
        // (y/n), (Y/n), (yes/no), ssh's (yes/no/[fingerprint])
        rule(
            "generic (y/n)",
            r"(?i)\(\s*y(?:es)?\s*/\s*n(?:o)?\s*(?:/[^)]*)?\)[\s:?]*$",
            false,
        ),
        rule(
            "generic press enter",
            r"(?i)\b(?:press|hit)\s+(?:enter|return|any key)\b[^?!]{0,40}$",
            false,
        ),
        rule("generic Continue?", r"(?i)\bcontinue\s*\?\s*$", false),
        rule(
            "generic password",
            r"(?i)\b(?:password|passphrase|pass phrase)\b.*:\s*$",
            true,
        ),
    ]
});

/// The first generic rule the asking region's last row matches.
pub(super) fn find(view: &View<'_>, region: &[usize]) -> Option<Found> {
    let &last = region.last()?;
    let row = view.row(last);
    let cursor_row = usize::from(view.text.cursor_row);
    let decided = |name: &str| {
        let question = question(view, region);
        Some(Found {
            text: question.clone(),
            seen: Seen::Waiting { question },
            rule: name.into(),
        })
    };
    for rule in RULES.iter() {
        if rule.at_cursor && cursor_row != last {
            continue;
        }
        if rule.pattern.is_match(row) {
            return decided(rule.name);
        }
    }
    if question_at_cursor(view, last) {
        return decided("generic question at the cursor");
    }
    arrow_menu(view)
}

/// How many non-empty rows from the bottom an arrow-key menu's question
/// may be.
const ARROW_MENU_SCAN: usize = 12;

/// A question an arrow-key menu asks: `? ` then the question.
static MENU_QUESTION: LazyLock<Regex> = LazyLock::new(|| re(r"^\?\s+\S"));
/// The hint such a menu shows until a key is pressed.
static MENU_HINT: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\s*(?:\(use arrow keys[^)]*\)|›.*|\(press <space>[^)]*\))\s*$"));
/// Its selected option (unnumbered: numbered menus are the presets').
static MENU_SELECTED: LazyLock<Regex> = LazyLock::new(|| re(r"^[❯›>]\s*\S"));

/// The lowest `? question` row near the bottom that shows its hint or has
/// a selected option under it: a menu waiting for arrow keys and Enter.
/// Answered, these libraries redraw the row with `✔` or with the answer
/// and no options.
fn arrow_menu(view: &View<'_>) -> Option<Found> {
    let rows = view.last(ARROW_MENU_SCAN);
    let (at, &asking) = rows
        .iter()
        .enumerate()
        .rev()
        .find(|(_, &i)| MENU_QUESTION.is_match(view.row(i)))?;
    let row = view.row(asking);
    let below = &rows[at + 1..];
    let hinted = MENU_HINT.is_match(row);
    if !hinted && !below.iter().any(|&i| MENU_SELECTED.is_match(view.row(i))) {
        return None;
    }
    let question = MENU_HINT
        .replace(row, "")
        .trim_start_matches('?')
        .trim()
        .to_string();
    let last = below.last().copied().unwrap_or(asking);
    Some(Found {
        seen: Seen::Waiting { question },
        rule: "generic arrow-key menu".into(),
        text: view.join(asking, last),
    })
}

/// A row ending in `?` (or `? `) with the cursor right after it, on the
/// screen's last non-empty row: a program reading the answer on that line.
fn question_at_cursor(view: &View<'_>, row: usize) -> bool {
    let text = view.text;
    if usize::from(text.cursor_row) != row || view.last_line() != Some(row) {
        return false;
    }
    let Some(raw) = text.rows.get(row) else {
        return false;
    };
    let raw = raw.trim_end();
    let width = raw.width();
    let col = usize::from(text.cursor_col);
    raw.ends_with('?') && (col == width || col == width + 1)
}

/// The asking row; with the row above when the asking row is only a marker
/// ("[y/N]" on a line of its own).
fn question(view: &View<'_>, region: &[usize]) -> String {
    let Some((&last, before)) = region.split_last() else {
        return String::new();
    };
    let row = view.row(last);
    let words = row.chars().filter(|c| c.is_alphabetic()).count();
    match before.last() {
        Some(&above) if words < 8 => format!("{} {}", view.row(above), row),
        _ => row.to_string(),
    }
}
