//! `/` in the output pane: the selected agent's history and screen
//! searched line by line (see `ui::search` for the query), `n`/`N` to step
//! through the matches, which are highlighted where they are drawn.
//!
//! The matches are found when the query changes and again before each
//! step (the agent keeps printing), each named by its line's id so a step
//! lands on the right line however far history moved. Highlights are not
//! taken from that list: the rows on screen are matched as they are drawn,
//! so they are right even between steps.

use crate::agent::screen::TerminalScreen;
use crate::ui::search::{self, Edit, Matcher, Query, MAX_MATCHES};
use crate::ui::term_lines::{self, LineId};
use crossterm::event::KeyEvent;

/// The history rows of the wrapped line starting at `index`, their texts
/// joined, and how many rows it takes (as `Logical` would join them).
fn joined_history(screen: &TerminalScreen, index: usize) -> (String, usize) {
    let history = screen.history();
    let mut joined = String::new();
    let mut rows = 0;
    while let Some(h) = history.get(index + rows) {
        joined.push_str(h.text());
        rows += 1;
        if !h.wrapped() || rows == term_lines::MAX_JOINED {
            break;
        }
    }
    if history.get(index + rows).is_none()
        && rows > 0
        && history.get(index + rows - 1).is_some_and(|h| h.wrapped())
    {
        // It goes on into the screen: let the caller read it whole.
        joined.push_str(&term_lines::Logical::from(screen, index + rows).text);
    }
    (joined, rows.max(1))
}

/// One match: where it starts (its line and column); a match may go on
/// over the rows a wrapped line takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub line: LineId,
    pub from: u16,
}

#[derive(Debug, Clone, Default)]
pub struct OutputSearch {
    /// The query is being typed (keys go to it).
    pub typing: bool,
    pub query: Query,
    matcher: Option<Matcher>,
    /// Why the query matches nothing (a regex that does not compile).
    pub error: Option<String>,
    pub hits: Vec<Hit>,
    /// Index into `hits` of the one moved to.
    pub current: Option<usize>,
    /// The task the matches are in.
    pub task: Option<String>,
    /// Where the view's bottom was when the query began to be typed.
    pub origin: Option<LineId>,
    /// More matches than are kept: the oldest were dropped.
    pub truncated: bool,
}

impl OutputSearch {
    /// Start typing a new query.
    pub fn begin(&mut self) {
        *self = OutputSearch {
            typing: true,
            ..OutputSearch::default()
        };
    }

    /// The matches were another task's: keep the query, drop them.
    pub fn forget_matches(&mut self) {
        self.hits.clear();
        self.current = None;
        self.task = None;
        self.origin = None;
    }

    /// A query stands (typed, or being typed and not empty).
    pub fn active(&self) -> bool {
        self.matcher.is_some()
    }

    pub fn matcher(&self) -> Option<&Matcher> {
        self.matcher.as_ref()
    }

    /// A key at the prompt. `Some(changed)` when the search took the key.
    pub fn on_key(&mut self, key: &KeyEvent) -> Option<bool> {
        if !self.typing {
            return None;
        }
        match search::edit(&mut self.query, key) {
            Edit::Cancelled => *self = OutputSearch::default(),
            Edit::Done => {
                self.typing = false;
                if self.query.is_empty() {
                    *self = OutputSearch::default();
                }
            }
            Edit::Unchanged => return Some(false),
            Edit::Changed => {
                self.error = None;
                self.matcher = Matcher::new(&self.query).unwrap_or_else(|why| {
                    self.error = Some(why);
                    None
                });
                self.hits.clear();
                self.current = None;
                return Some(true);
            }
        }
        Some(false)
    }

    /// Find every match in `screen` (task `task`), keeping the one moved to
    /// where it still is.
    pub fn find(&mut self, task: &str, screen: &TerminalScreen) {
        let kept = self
            .current
            .and_then(|i| self.hits.get(i).copied())
            .filter(|_| self.task.as_deref() == Some(task));
        self.task = Some(task.to_string());
        self.hits.clear();
        self.current = None;
        let Some(matcher) = &self.matcher else {
            return;
        };
        // Every match, oldest first; past the bound only the newest are
        // kept, since steps look back from the newest.
        let mut hits = std::collections::VecDeque::new();
        self.truncated = false;
        let mut keep = |hit: Hit, truncated: &mut bool| {
            if hits.len() == MAX_MATCHES {
                hits.pop_front();
                *truncated = true;
            }
            hits.push_back(hit);
        };
        let total = term_lines::count(screen);
        let history = screen.history();
        let mut index = 0;
        while index < total {
            if let Some(h) = history.get(index) {
                // Most lines do not match: look at the history's own text
                // first (trailing blanks dropped, as the line reads), and
                // read the line into cells only when it does.
                let text = h.text().trim_end_matches(' ');
                if !h.wrapped() {
                    if !matcher.is_match(text) {
                        index += 1;
                        continue;
                    }
                    if text.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                        // Printable ASCII: a byte is a column.
                        let line = term_lines::id_of(screen, index);
                        for (start, _) in matcher.find_all(text) {
                            let from = u16::try_from(start).unwrap_or(u16::MAX);
                            keep(Hit { line, from }, &mut self.truncated);
                        }
                        index += 1;
                        continue;
                    }
                } else {
                    // A wrapped line: its rows' texts joined, as it reads.
                    let (joined, rows) = joined_history(screen, index);
                    if !matcher.is_match(&joined) {
                        index += rows;
                        continue;
                    }
                }
            }
            let logical = term_lines::Logical::from(screen, index);
            for (start, _) in matcher.find_all(&logical.text) {
                let (row, from) = logical.locate(start);
                let line = term_lines::id_of(screen, row);
                keep(Hit { line, from }, &mut self.truncated);
            }
            index = logical.end();
        }
        self.hits = hits.into();
        self.current = kept.and_then(|k| self.hits.iter().position(|h| *h == k));
    }

    /// Move to the next match (`forward`: newer, further down) from the one
    /// moved to, or from the line `from` (the bottom of the view) if there
    /// is none. Wraps around. The hit moved to, if any.
    pub fn step(&mut self, forward: bool, from: LineId) -> Option<Hit> {
        let n = self.hits.len();
        if n == 0 {
            self.current = None;
            return None;
        }
        let next = match self.current {
            Some(i) if forward => (i + 1) % n,
            Some(i) => (i + n - 1) % n,
            // First step: the nearest match above the bottom of the view
            // going back (N, or n the first time: searches look back).
            None if forward => self.hits.partition_point(|h| h.line < from) % n,
            None => self
                .hits
                .partition_point(|h| h.line < from)
                .checked_sub(1)
                .unwrap_or(n - 1),
        };
        self.current = Some(next);
        self.hits.get(next).copied()
    }

    /// The status of the search for the pane's border.
    pub fn status(&self) -> Option<String> {
        if self.typing {
            let count = if let Some(why) = &self.error {
                format!("  {why}")
            } else if self.query.is_empty() {
                "  Enter search · C-r regex · Esc cancel".to_string()
            } else {
                String::new()
            };
            return Some(format!(" {}█{count} ", self.query.prompt()));
        }
        if !self.active() {
            return None;
        }
        let more = if self.truncated { "+" } else { "" };
        Some(match self.current {
            _ if self.hits.is_empty() && self.task.is_some() => {
                format!(" no match for {} ", self.query.label())
            }
            Some(i) => format!(
                " match {} of {}{more} for {} ",
                i + 1,
                self.hits.len(),
                self.query.label()
            ),
            None if self.task.is_some() => format!(
                " {}{more} matches for {} · n/N to step ",
                self.hits.len(),
                self.query.label()
            ),
            None => format!(" {} · n/N to step ", self.query.label()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    fn typed(search: &mut OutputSearch, text: &str) {
        search.begin();
        for c in text.chars() {
            search.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        search.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
    }

    #[test]
    fn finds_through_history_and_steps_back_from_the_bottom() {
        let mut t = TerminalScreen::new(5, 40, 10_000);
        for i in 0..6000 {
            t.process(format!("line {i} ok\r\n").as_bytes());
        }
        t.process(b"needle on screen\r\n");
        let mut s = OutputSearch::default();
        typed(&mut s, "line 1000 ");
        s.find("a", &t);
        assert_eq!(s.hits.len(), 1);
        let hit = s.hits[0];
        let index = term_lines::index_of(&t, hit.line).expect("held");
        assert_eq!(term_lines::line(&t, index).text, "line 1000 ok");
        assert_eq!(hit.from, 0);
        // More output: the hit keeps its line.
        t.process(b"more\r\n");
        let bottom = term_lines::id_of(&t, term_lines::count(&t) - 1);
        assert_eq!(s.step(false, bottom), Some(hit));
        s.find("a", &t);
        assert_eq!(s.current, Some(0), "the match moved to is kept");

        typed(&mut s, "NEEDLE|line 5999");
        s.find("a", &t);
        assert!(s.hits.is_empty(), "plain text, exact case: no match");
        assert_eq!(
            s.status().as_deref(),
            Some(" no match for \"NEEDLE|line 5999\" ")
        );

        s.begin();
        for c in "needle|line 5999".chars() {
            s.on_key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
        s.on_key(&KeyEvent::new(KeyCode::Char('r'), KeyModifiers::CONTROL));
        s.on_key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE));
        s.find("a", &t);
        assert_eq!(s.hits.len(), 2);
        let first = s.step(false, bottom).expect("a match");
        let newest = term_lines::line(&t, term_lines::index_of(&t, first.line).expect("held"));
        assert_eq!(newest.text, "needle on screen");
        let second = s.step(false, bottom).expect("a match");
        assert!(second.line < first.line);
        assert_eq!(s.step(false, bottom), Some(first), "wraps around");
        assert_eq!(
            s.status().as_deref(),
            Some(" match 2 of 2 for /needle|line 5999/ ")
        );
    }
}
