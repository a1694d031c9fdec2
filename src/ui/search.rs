//! What `/` searches with, in the output pane and the diff view: a query
//! typed at a prompt (plain text, or a regular expression after Ctrl-R),
//! smart case (all lowercase matches any case, an uppercase letter makes
//! it exact), matched one line at a time.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Matches kept per search: enough to step through, bounded for a flood.
pub const MAX_MATCHES: usize = 10_000;

/// A query as typed: its text and whether it is a regular expression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub text: String,
    pub regex: bool,
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The prompt shown while it is typed: `/text` or `regex /text`.
    pub fn prompt(&self) -> String {
        if self.regex {
            format!("regex /{}", self.text)
        } else {
            format!("/{}", self.text)
        }
    }

    /// How a finished query is named in the status: `"text"` or `/re/`.
    pub fn label(&self) -> String {
        if self.regex {
            format!("/{}/", self.text)
        } else {
            format!("{:?}", self.text)
        }
    }
}

/// A compiled query: plain text is a regular expression of the escaped
/// text, so both run on the same engine (literal searches are what it is
/// fastest at).
#[derive(Debug, Clone)]
pub struct Matcher(regex::Regex);

impl Matcher {
    /// The matcher for `query`: `Ok(None)` for an empty one, `Err` with the
    /// reason for a regular expression that does not compile. Smart case:
    /// any case unless the query has an uppercase letter.
    pub fn new(query: &Query) -> Result<Option<Matcher>, String> {
        if query.text.is_empty() {
            return Ok(None);
        }
        // Smart case: an uppercase letter makes it exact; in a regex, not
        // the letter of an escape (`\S`, `\W`, `\D`, `\B`).
        let exact = if query.regex {
            let mut escaped = false;
            query.text.chars().any(|c| {
                let upper = !escaped && c.is_uppercase();
                escaped = !escaped && c == '\\';
                upper
            })
        } else {
            query.text.chars().any(char::is_uppercase)
        };
        let pattern = if query.regex {
            query.text.clone()
        } else {
            regex::escape(&query.text)
        };
        regex::RegexBuilder::new(&pattern)
            .case_insensitive(!exact)
            .size_limit(1 << 20)
            .build()
            .map(|re| Some(Matcher(re)))
            .map_err(|e| match e {
                regex::Error::Syntax(s) => s.lines().last().unwrap_or("invalid").to_string(),
                other => other.to_string(),
            })
    }

    /// Whether `hay` has a match.
    pub fn is_match(&self, hay: &str) -> bool {
        self.0.is_match(hay)
    }

    /// Byte ranges of the matches in `hay`, left to right, not overlapping;
    /// an empty match (a regex such as `x*`) is skipped.
    pub fn find_all(&self, hay: &str) -> Vec<(usize, usize)> {
        self.0
            .find_iter(hay)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

/// What a key did to a query being typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// The text or the mode changed: search again.
    Changed,
    /// Enter: the query stands.
    Done,
    /// Esc: the search is dropped.
    Cancelled,
    /// Nothing changed.
    Unchanged,
}

/// A key typed at the search prompt: characters, Backspace, Ctrl-U
/// (clear), Ctrl-R (plain text or regular expression), Enter, Esc.
pub fn edit(query: &mut Query, key: &KeyEvent) -> Edit {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => Edit::Cancelled,
        KeyCode::Char('c') if ctrl => Edit::Cancelled,
        KeyCode::Enter => Edit::Done,
        KeyCode::Backspace => {
            if query.text.pop().is_some() {
                Edit::Changed
            } else {
                Edit::Unchanged
            }
        }
        KeyCode::Char('u') if ctrl => {
            query.text.clear();
            Edit::Changed
        }
        KeyCode::Char('r') if ctrl => {
            query.regex = !query.regex;
            Edit::Changed
        }
        KeyCode::Char(c) if !ctrl && !c.is_control() => {
            query.text.push(c);
            Edit::Changed
        }
        _ => Edit::Unchanged,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, regex: bool) -> Query {
        Query {
            text: text.into(),
            regex,
        }
    }

    fn found(query: &Query, hay: &str) -> Vec<(usize, usize)> {
        Matcher::new(query)
            .expect("compiles")
            .map(|m| m.find_all(hay))
            .unwrap_or_default()
    }

    #[test]
    fn lowercase_finds_any_case_and_never_splits_a_character() {
        assert_eq!(found(&q("token", false), "Token token"), [(0, 5), (6, 11)]);
        assert_eq!(found(&q("Token", false), "Token token"), [(0, 5)]);
        assert_eq!(found(&q("größe", false), "größe Größe"), [(0, 7), (8, 15)]);
        assert_eq!(found(&q("grö", false), "x GRÖSSE"), [(2, 6)]);
        assert!(found(&q("e", false), "é").is_empty());
    }

    #[test]
    fn plain_text_is_smart_case_and_literal() {
        assert_eq!(
            found(&q("err", false), "Err err ERR"),
            [(0, 3), (4, 7), (8, 11)]
        );
        assert_eq!(found(&q("Err", false), "Err err ERR"), [(0, 3)]);
        // Regex characters are plain text here.
        assert_eq!(found(&q("a.c", false), "abc a.c"), [(4, 7)]);
        assert_eq!(found(&q("é", false), "café é"), [(3, 5), (6, 8)]);
    }

    #[test]
    fn a_regex_is_smart_case_skips_empty_matches_and_reports_errors() {
        assert_eq!(found(&q(r"e\w+r", true), "Error eXr"), [(0, 5), (6, 9)]);
        assert_eq!(found(&q(r"E\w+r", true), "Error eXr"), [(0, 5)]);
        assert_eq!(found(&q("x*", true), "axxb"), [(1, 3)]);
        // An escape's letter is not an uppercase letter of the query.
        assert_eq!(found(&q(r"err\S", true), "ERR! err!"), [(0, 4), (5, 9)]);
        let err = Matcher::new(&q("(unclosed", true)).expect_err("does not compile");
        assert!(err.contains("unclosed"), "{err}");
        assert!(Matcher::new(&q("", true)).expect("empty").is_none());
    }

    #[test]
    fn typing_edits_the_query() {
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL);
        let mut query = Query::default();
        assert_eq!(edit(&mut query, &key(KeyCode::Backspace)), Edit::Unchanged);
        assert_eq!(edit(&mut query, &key(KeyCode::Char('a'))), Edit::Changed);
        assert_eq!(edit(&mut query, &key(KeyCode::Char('b'))), Edit::Changed);
        assert_eq!(edit(&mut query, &ctrl('r')), Edit::Changed);
        assert_eq!(query, q("ab", true));
        assert_eq!(query.prompt(), "regex /ab");
        assert_eq!(edit(&mut query, &key(KeyCode::Backspace)), Edit::Changed);
        assert_eq!(edit(&mut query, &ctrl('u')), Edit::Changed);
        assert!(query.is_empty());
        assert_eq!(edit(&mut query, &key(KeyCode::Enter)), Edit::Done);
        assert_eq!(edit(&mut query, &key(KeyCode::Esc)), Edit::Cancelled);
    }
}
