//! One TOML file being checked: its text parsed into a span-carrying tree,
//! typed getters over that tree, and every problem found so far, each at
//! the key or value at fault.
//!
//! The tree is walked by hand rather than deserialised with serde's
//! `deny_unknown_fields`: that stops at the first problem, while a walk
//! keeps going, so one run reports them all.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::{ConfigError, ConfigErrors};
use super::lines::LineIndex;
use super::suggest::{did_you_mean, unknown_key_message};

pub(crate) type Span = Range<usize>;
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;
pub(crate) type Key<'i> = Spanned<Cow<'i, str>>;

/// One file being checked: its text, and the problems found so far.
pub(crate) struct Doc<'s> {
    path: &'s Path,
    src: &'s str,
    lines: LineIndex,
    errors: Vec<ConfigError>,
    /// Problems in other files (a broken parent), reported after ours.
    foreign: Vec<ConfigError>,
}

impl<'s> Doc<'s> {
    pub(crate) fn new(src: &'s str, path: &'s Path) -> Self {
        Self {
            path,
            src,
            lines: LineIndex::new(src),
            errors: Vec::new(),
            foreign: Vec::new(),
        }
    }

    /// The file's name without `.toml`: a keymap's or theme's name.
    pub(crate) fn name(&self) -> String {
        self.path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// Parse the text as TOML, reporting a syntax error if it is not.
    pub(crate) fn parse(&mut self) -> Option<Spanned<DeTable<'s>>> {
        match DeTable::parse(self.src) {
            Ok(document) => Some(document),
            Err(error) => {
                let span = error.span().unwrap_or(0..0);
                let mut message = format!("invalid TOML: {}", error.message());
                // The parser says only "duplicate key"; name it.
                if error.message() == "duplicate key" {
                    if let Some(key) = self.src.get(span.clone()).filter(|key| !key.is_empty()) {
                        message.push_str(&format!(" {:?}", key.trim_matches(['"', '\'']).trim()));
                    }
                }
                self.error(span, message);
                None
            }
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub(crate) fn position(&self, offset: usize) -> (usize, usize) {
        self.lines.position(self.src, offset)
    }

    pub(crate) fn line_of(&self, span: &Span) -> usize {
        self.position(span.start).0
    }

    pub(crate) fn error(&mut self, span: Span, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            column,
            message: message.into(),
        });
    }

    /// A problem with the file as a whole rather than a place in it.
    pub(crate) fn whole_file_error(&mut self, message: impl Into<String>) {
        self.errors
            .push(ConfigError::whole_file(self.path, message.into()));
    }

    /// Problems found in another file this one depends on (a parent it
    /// inherits from); [`Doc::finish`] reports them after this file's.
    pub(crate) fn add_foreign(&mut self, errors: ConfigErrors) {
        self.foreign.extend(errors);
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty() || !self.foreign.is_empty()
    }

    /// `Ok(value)` if nothing was reported, else every problem: this file's
    /// sorted by position, then any found in the files it inherits from.
    pub(crate) fn finish<T>(self, value: T) -> Result<T, ConfigErrors> {
        if !self.has_errors() {
            return Ok(value);
        }
        Err(self.into_errors())
    }

    /// Every problem reported, in [`Doc::finish`]'s order.
    pub(crate) fn into_errors(self) -> ConfigErrors {
        let mut errors = ConfigErrors(self.errors);
        errors.sort();
        errors.0.extend(self.foreign);
        errors
    }

    /// The source span of bytes `range` of the text of the string value at
    /// `span`, when the source can be indexed like the text (no escapes, no
    /// line-ending backslash); else the whole value's span. Lets an error
    /// point inside a string.
    pub(crate) fn span_in_string(&self, span: &Span, text: &str, range: Range<usize>) -> Span {
        match self.string_start(span, text) {
            Some(start) => start + range.start..start + range.end,
            None => span.clone(),
        }
    }

    /// Where the text of a string value starts in the source, if the source
    /// between the quotes is exactly the text.
    fn string_start(&self, span: &Span, text: &str) -> Option<usize> {
        let raw = self.src.get(span.clone())?;
        // Multi-line quotes first: `"""` also starts with `"`.
        for quote in ["\"\"\"", "'''", "\"", "'"] {
            let Some(inner) = raw
                .strip_prefix(quote)
                .and_then(|rest| rest.strip_suffix(quote))
            else {
                continue;
            };
            let mut start = span.start + quote.len();
            let mut inner = inner;
            if quote.len() == 3 {
                // A newline right after the opening quotes is not part of
                // the string.
                if let Some(rest) = inner
                    .strip_prefix("\r\n")
                    .or_else(|| inner.strip_prefix('\n'))
                {
                    start += inner.len() - rest.len();
                    inner = rest;
                }
            }
            return (inner == text).then_some(start);
        }
        None
    }

    /// Report every key of `table` not in `allowed`. `place` ends the first
    /// part of the message, e.g. `"in global.quit"`.
    pub(crate) fn unknown_keys(&mut self, table: &DeTable<'_>, allowed: &[&str], place: &str) {
        for (key, _) in entries(table) {
            let name = key.get_ref();
            if allowed.contains(&name.as_ref()) {
                continue;
            }
            self.error(key.span(), unknown_key_message(name, allowed, place));
        }
    }

    /// Report unknown top-level keys of a keymap or theme, calling a table
    /// a table. `inherits` is always allowed.
    pub(crate) fn unknown_top_level(&mut self, top: &DeTable<'_>, tables: &[&str]) {
        for (key, value) in entries(top) {
            let name = key.get_ref();
            if name == "inherits" || tables.contains(&name.as_ref()) {
                continue;
            }
            let message = if value.get_ref().is_table() {
                format!(
                    "unknown table [{}] (expected one of: {}){}",
                    toml_key(name),
                    tables
                        .iter()
                        .map(|table| format!("[{table}]"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    did_you_mean(name, tables.iter().copied()),
                )
            } else {
                let mut allowed = vec!["inherits"];
                allowed.extend_from_slice(tables);
                format!(
                    "unknown key {name:?} at the top level (expected one of: {}){}",
                    allowed.join(", "),
                    did_you_mean(name, allowed.iter().copied()),
                )
            };
            self.error(key.span(), message);
        }
    }

    // ----- typed getters: each reports "expected X for FIELD, found Y" ----

    pub(crate) fn expected(&mut self, what: &str, field: &str, value: &Value<'_>) {
        self.error(
            value.span(),
            format!(
                "expected {what} for {field}, found {}",
                type_name(value.get_ref())
            ),
        );
    }

    pub(crate) fn table<'v, 'i>(
        &mut self,
        field: &str,
        value: &'v Value<'i>,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.expected("a table", field, value);
                None
            }
        }
    }

    pub(crate) fn string<'v>(&mut self, field: &str, value: &'v Value<'_>) -> Option<&'v str> {
        match value.get_ref() {
            DeValue::String(text) => Some(text.as_ref()),
            _ => {
                self.expected("a string", field, value);
                None
            }
        }
    }

    pub(crate) fn non_empty_string<'v>(
        &mut self,
        field: &str,
        value: &'v Value<'_>,
    ) -> Option<&'v str> {
        let text = self.string(field, value)?;
        if text.is_empty() {
            self.error(value.span(), format!("{field} must not be empty"));
            return None;
        }
        Some(text)
    }

    /// An array of strings, each with its span; items of another type are
    /// reported as `FIELD[i]` and left out.
    pub(crate) fn string_list(&mut self, field: &str, value: &Value<'_>) -> Vec<(String, Span)> {
        let DeValue::Array(items) = value.get_ref() else {
            self.expected("an array of strings", field, value);
            return Vec::new();
        };
        items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                self.string(&format!("{field}[{i}]"), item)
                    .map(|text| (text.to_owned(), item.span()))
            })
            .collect()
    }

    /// An integer in `min..=max`.
    pub(crate) fn integer(
        &mut self,
        field: &str,
        value: &Value<'_>,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        let DeValue::Integer(integer) = value.get_ref() else {
            self.expected("an integer", field, value);
            return None;
        };
        let message = match i64::from_str_radix(integer.as_str(), integer.radix()) {
            Ok(n) if (min..=max).contains(&n) => return Some(n),
            Ok(n) if n < min => format!("{field} must be at least {min}, found {integer}"),
            Ok(_) => format!("{field} must be at most {max}, found {integer}"),
            Err(_) => format!("{field} is out of range, found {integer}"),
        };
        self.error(value.span(), message);
        None
    }

    pub(crate) fn usize_at_least_1(&mut self, field: &str, value: &Value<'_>) -> Option<usize> {
        let max = i64::try_from(usize::MAX).unwrap_or(i64::MAX);
        self.integer(field, value, 1, max)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// A finite number (integer or float) greater than zero.
    pub(crate) fn positive_number(&mut self, field: &str, value: &Value<'_>) -> Option<f64> {
        let (number, text) = match value.get_ref() {
            DeValue::Integer(integer) => (
                i64::from_str_radix(integer.as_str(), integer.radix())
                    .ok()
                    .map(|n| n as f64),
                integer.to_string(),
            ),
            DeValue::Float(float) => (float.as_str().parse::<f64>().ok(), float.to_string()),
            _ => {
                self.expected("a number", field, value);
                return None;
            }
        };
        let message = match number {
            Some(n) if n.is_finite() && n > 0.0 => return Some(n),
            Some(n) if n.is_nan() || n > 0.0 => {
                format!("{field} must be a finite number, found {text}")
            }
            Some(_) => format!("{field} must be greater than 0, found {text}"),
            None => format!("{field} is out of range, found {text}"),
        };
        self.error(value.span(), message);
        None
    }

    /// One of the named `choices`, with a did-you-mean for a near miss.
    pub(crate) fn one_of<T: Copy>(
        &mut self,
        field: &str,
        value: &Value<'_>,
        choices: &[(&str, T)],
    ) -> Option<T> {
        let names: Vec<String> = choices
            .iter()
            .map(|(name, _)| format!("{name:?}"))
            .collect();
        let found = match value.get_ref() {
            DeValue::String(text) => {
                if let Some((_, choice)) = choices.iter().find(|(name, _)| *name == text.as_ref()) {
                    return Some(*choice);
                }
                format!(
                    "{text:?}{}",
                    did_you_mean(text, choices.iter().map(|(name, _)| *name))
                )
            }
            other => type_name(other).to_owned(),
        };
        self.error(
            value.span(),
            format!("{field} must be one of {}, found {found}", names.join(", ")),
        );
        None
    }
}

/// The entries of a table in file order (the TOML map may sort them).
pub(crate) fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    entries
}

/// How a TOML value's type is named in messages ("expected ..., found an integer").
pub(crate) fn type_name(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a datetime",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// A key as it would be written in TOML: bare when possible, else quoted.
pub(crate) fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let doc = Doc::new("ab\nä = 1\n", Path::new("x.toml"));
        assert_eq!(doc.position(0), (1, 1));
        assert_eq!(doc.position(3), (2, 1));
        assert_eq!(doc.position(6), (2, 3));
    }

    /// The source span of bytes 2..3 of the string value of key `k`.
    fn inner(src: &str) -> (usize, usize) {
        let mut doc = Doc::new(src, Path::new("x.toml"));
        let top = doc.parse().expect("valid TOML");
        let value = top.get_ref().get("k").expect("k");
        let DeValue::String(text) = value.get_ref() else {
            panic!("not a string");
        };
        let span = doc.span_in_string(&value.span(), text, 2..3);
        doc.position(span.start)
    }

    #[test]
    fn spans_inside_strings() {
        assert_eq!(inner("k = \"abcd\""), (1, 8));
        assert_eq!(inner("k = 'abcd'"), (1, 8));
        assert_eq!(inner("k = \"\"\"abcd\"\"\""), (1, 10));
        assert_eq!(inner("k = '''\nabcd'''"), (2, 3));
        assert_eq!(inner("k = \"\"\"\r\nabcd\"\"\""), (2, 3));
        // Escapes: the source is not the text, so the whole value.
        assert_eq!(inner("k = \"a\\tcd\""), (1, 5));
        assert_eq!(inner("k = \"\"\"ab\\\n  cd\"\"\""), (1, 5));
    }

    #[test]
    fn typed_getters_say_what_they_found() {
        let src = "a = 1\nb = \"x\"\nc = [\"y\", 2]\n";
        let mut doc = Doc::new(src, Path::new("x.toml"));
        let top = doc.parse().expect("valid TOML");
        let top = top.get_ref();
        assert_eq!(doc.string("a", &top["a"]), None);
        assert_eq!(doc.integer("b", &top["b"], 0, 9), None);
        assert_eq!(doc.string("b", &top["b"]), Some("x"));
        let list = doc.string_list("c", &top["c"]);
        assert_eq!(list, [("y".to_owned(), 19..22)]);
        assert_eq!(doc.one_of("b", &top["b"], &[("x", 1), ("z", 2)]), Some(1));
        let errors = match doc.finish(()) {
            Ok(()) => panic!("expected errors"),
            Err(errors) => errors.to_string(),
        };
        assert_eq!(
            errors,
            [
                "x.toml:1:5: expected a string for a, found an integer",
                "x.toml:2:5: expected an integer for b, found a string",
                "x.toml:3:11: expected a string for c[1], found an integer",
            ]
            .join("\n")
        );
    }
}
