//! Prompts any program prints, for every kind: yes/no markers, "Press
//! Enter", "Continue?", a question the cursor sits right after, password
//! and passphrase prompts. Each is read only on the last row of the asking
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
        Some(Found {
            seen: Seen::Waiting {
                question: question(view, region),
            },
            rule: name.into(),
            text: view.join(region[0], last),
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
    None
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
