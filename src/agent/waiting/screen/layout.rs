//! The screen as the rules read it: rows with box borders stripped, which
//! rows are not empty, selection menus and the question above one.

use std::sync::LazyLock;

use regex::Regex;

use super::ScreenText;

/// How many of the last non-empty rows a menu's options may sit in.
const MENU_SCAN: usize = 16;
/// At most this many non-empty rows (hints, a box's bottom) below a menu's
/// last option: a menu further up has scrolled away or been answered.
const MENU_TAIL: usize = 6;
/// At most this many non-empty rows between two options (descriptions).
const OPTION_GAP: usize = 3;
/// How far above a menu its question may be.
const QUESTION_SCAN: usize = 12;

/// Vertical borders TUIs draw their boxes with.
const BORDERS: [char; 3] = ['│', '┃', '║'];

/// A regex written in this file; each is exercised by the fixture tests, so
/// a bad one fails every test rather than a user's screen.
pub(super) fn re(pattern: &str) -> Regex {
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("a preset regex compiles (the tests compile all of them)")
}

/// An option of a menu, the selected one marked (`❯ 1. Yes`, `› 1.`, `● 1.`).
static SELECTED_OPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^[❯›>●▶]\s*(\d{1,2})\.\s+\S"));
/// An option that is not selected (`2. No`).
static PLAIN_OPTION: LazyLock<Regex> = LazyLock::new(|| re(r"^(\d{1,2})\.\s+\S"));
/// Rows that ask: the nearest such row above a menu is its question.
static ASKING: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:\?\s+)?(?:do|does|would|will|allow|apply|approve|trust|are|is|how|which|what|where|should|shall|can|may|continue|proceed|overwrite|delete|remove|replace|save|run|use|accept|keep|select|choose|pick|enable|install|create|make)\b",
    )
});

/// The screen's rows normalised for matching, and which are not empty.
pub(super) struct View<'a> {
    pub text: &'a ScreenText,
    /// Each row trimmed, with box borders (`│ … │`, nested too) stripped.
    rows: Vec<&'a str>,
    /// Indices of the non-empty rows, top to bottom.
    lines: Vec<usize>,
}

impl<'a> View<'a> {
    pub fn new(text: &'a ScreenText) -> View<'a> {
        let rows: Vec<&str> = text.rows.iter().map(|r| strip_borders(r)).collect();
        let lines = (0..rows.len()).filter(|&i| !rows[i].is_empty()).collect();
        View { text, rows, lines }
    }

    /// Row `i`, normalised.
    pub fn row(&self, i: usize) -> &'a str {
        self.rows.get(i).copied().unwrap_or("")
    }

    /// The last `n` non-empty rows, top to bottom.
    pub fn last(&self, n: usize) -> &[usize] {
        &self.lines[self.lines.len().saturating_sub(n)..]
    }

    /// The last non-empty row, if any.
    pub fn last_line(&self) -> Option<usize> {
        self.lines.last().copied()
    }

    /// Up to `n` non-empty rows above row `i`, nearest first.
    pub fn above(&self, i: usize, n: usize) -> impl Iterator<Item = usize> + '_ {
        let end = self.lines.partition_point(|&r| r < i);
        self.lines[..end].iter().rev().take(n).copied()
    }

    /// How many non-empty rows lie below row `i`.
    pub fn count_below(&self, i: usize) -> usize {
        self.lines.len() - self.lines.partition_point(|&r| r <= i)
    }

    /// The non-empty rows in `from..=to`, joined with newlines.
    pub fn join(&self, from: usize, to: usize) -> String {
        let mut out = String::new();
        for &i in self.lines.iter().filter(|&&r| r >= from && r <= to) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(self.rows[i]);
        }
        out
    }
}

/// A row trimmed, with the vertical borders of boxes (nested ones too)
/// stripped from both ends.
fn strip_borders(row: &str) -> &str {
    let mut s = row.trim();
    loop {
        let t = s
            .trim_start_matches(BORDERS)
            .trim_start()
            .trim_end_matches(BORDERS)
            .trim_end();
        if t.len() == s.len() {
            return s;
        }
        s = t;
    }
}

/// A horizontal rule made of `c` (at least ten of it, nothing else).
pub(super) fn is_rule(row: &str, c: char) -> bool {
    row.chars().count() >= 10 && row.chars().all(|x| x == c)
}

/// A selection menu at the bottom of the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Menu {
    /// The first option's row.
    pub first: usize,
    /// The last option's row.
    pub last: usize,
}

/// A numbered menu with a selected option, whose last option is among the
/// screen's last rows: what Claude Code, Codex and Gemini CLI draw for a
/// permission or a question. A numbered list in ordinary output has no
/// selection marker; an answered menu is gone or has scrolled up.
pub(super) fn find_menu(view: &View<'_>) -> Option<Menu> {
    let rows = view.last(MENU_SCAN);
    // Bottom-up: the last option, then its predecessors, numbers falling by one.
    let mut last: Option<(usize, u32)> = None;
    let mut first: Option<(usize, u32)> = None;
    let mut selected = false;
    let mut gap = 0;
    for &i in rows.iter().rev() {
        let row = view.row(i);
        let (number, is_selected) = match option_number(row) {
            Some(found) => found,
            None => {
                if last.is_some() {
                    gap += 1;
                    if gap > OPTION_GAP {
                        break;
                    }
                }
                continue;
            }
        };
        match first {
            None => {
                if view.count_below(i) > MENU_TAIL {
                    return None;
                }
                last = Some((i, number));
            }
            Some((_, above)) if number + 1 == above => {}
            Some(_) => break,
        }
        first = Some((i, number));
        selected |= is_selected;
        gap = 0;
    }
    let (first, first_n) = first?;
    let (last, last_n) = last?;
    (selected && last_n > first_n).then_some(Menu { first, last })
}

/// The number of an option row, and whether it is the selected one.
fn option_number(row: &str) -> Option<(u32, bool)> {
    if let Some(c) = SELECTED_OPTION.captures(row) {
        return c[1].parse().ok().map(|n| (n, true));
    }
    PLAIN_OPTION
        .captures(row)
        .and_then(|c| c[1].parse().ok())
        .map(|n| (n, false))
}

/// The question a menu answers, and its row: the nearest row above the
/// options that asks (starts with "Do you", "Would you", "Allow", ... and
/// has a `?`), else the nearest with a `?`, else the nearest row at all (a
/// heading such as "Choose how you want to use Codex."). Stops at a rule.
pub(super) fn menu_question(view: &View<'_>, menu: Menu) -> (String, usize) {
    let candidates: Vec<usize> = view
        .above(menu.first, QUESTION_SCAN)
        .take_while(|&i| !is_any_rule(view.row(i)))
        .collect();
    let has_mark = |i: &&usize| view.row(**i).trim_start_matches("? ").contains('?');
    let pick = candidates
        .iter()
        .filter(has_mark)
        .find(|&&i| ASKING.is_match(view.row(i)))
        .or_else(|| candidates.iter().find(has_mark))
        .or(candidates.first());
    match pick {
        Some(&i) => (cut_after_question(view.row(i)).to_string(), i),
        None => (view.row(menu.first).to_string(), menu.first),
    }
}

/// A rule or the top of a box: where a dialog begins.
fn is_any_rule(row: &str) -> bool {
    is_rule(row, '─') || is_rule(row, '▄') || is_rule(row, '▀') || row.starts_with('╭')
}

/// A row up to its first `?` that ends a sentence (the rest is usually an
/// explanation: "Trust this folder? Codex can read, edit ...").
fn cut_after_question(row: &str) -> &str {
    let row = row.strip_prefix("? ").unwrap_or(row);
    let mut from = 0;
    while let Some(p) = row[from..].find('?') {
        let at = from + p;
        let next = row[at + 1..].chars().next();
        if next.is_none_or(char::is_whitespace) {
            return &row[..=at];
        }
        from = at + 1;
    }
    row
}

/// One line of at most `max` characters: whitespace runs collapsed, an
/// ellipsis where it was cut.
pub(super) fn one_line(text: &str, max: usize) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() <= max {
        return joined;
    }
    let mut cut: String = joined.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(rows: &[&str]) -> ScreenText {
        ScreenText {
            rows: rows.iter().map(|r| r.to_string()).collect(),
            cursor_row: 0,
            cursor_col: 0,
        }
    }

    #[test]
    fn borders_are_stripped_nested_too() {
        assert_eq!(strip_borders(" │ │ rm -rf build │ │"), "rm -rf build");
        assert_eq!(strip_borders("│ ● 1. Allow once   │"), "● 1. Allow once");
        assert_eq!(strip_borders("│                 │"), "");
        assert_eq!(strip_borders("  plain  "), "plain");
    }

    #[test]
    fn a_menu_needs_a_selected_option_and_consecutive_numbers() {
        let t = text(&["Pick one?", "❯ 1. Yes", "  2. No", "Esc to cancel"]);
        let v = View::new(&t);
        assert_eq!(find_menu(&v), Some(Menu { first: 1, last: 2 }));
        assert_eq!(menu_question(&v, Menu { first: 1, last: 2 }).0, "Pick one?");

        // A numbered list in output: nothing selected.
        let t = text(&["Steps:", "1. build", "2. test", "3. ship"]);
        assert_eq!(find_menu(&View::new(&t)), None);

        // Numbers that do not follow on.
        let t = text(&["❯ 1. Yes", "5. No"]);
        assert_eq!(find_menu(&View::new(&t)), None);
    }

    #[test]
    fn a_menu_far_above_the_bottom_is_not_asking() {
        let mut rows = vec!["Do you want to proceed?", "❯ 1. Yes", "  2. No"];
        rows.extend(["output"; 7]);
        let t = text(&rows);
        assert_eq!(find_menu(&View::new(&t)), None);
    }

    #[test]
    fn the_question_is_cut_after_its_question_mark() {
        assert_eq!(
            cut_after_question("Trust this folder? Codex can read files."),
            "Trust this folder?"
        );
        assert_eq!(cut_after_question("? Get started"), "Get started");
        assert_eq!(cut_after_question("Is a?b ok? yes"), "Is a?b ok?");
    }

    #[test]
    fn one_line_collapses_and_caps() {
        assert_eq!(one_line("  a \n b\t c ", 200), "a b c");
        let long = "x".repeat(300);
        let capped = one_line(&long, 200);
        assert_eq!(capped.chars().count(), 200);
        assert!(capped.ends_with('…'));
    }
}
