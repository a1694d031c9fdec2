//! An agent's keys for telling when it needs a human, and for continuing
//! its conversation: `kind` (which agent CLI it is: presets for its hooks,
//! its prompts and `resume`), `resume` (the command that continues an
//! interrupted conversation, `{session_id}` filled in), `waiting_patterns`
//! (regexes over the bottom of its screen that mean it waits for an
//! answer) and `auto_answer` (explicit `{ pattern, answer }` rules, off by
//! default). Regexes are compiled here, so a bad one is an error at its
//! `file:line:column`.

use toml::de::{DeTable, DeValue};

use super::model::{AgentKind, AutoAnswer, Pattern};
use super::placeholders;
use crate::tomldoc::{Doc, Span};

const KINDS: &[(&str, AgentKind)] = &[
    ("claude-code", AgentKind::ClaudeCode),
    ("codex", AgentKind::Codex),
    ("aider", AgentKind::Aider),
    ("gemini", AgentKind::Gemini),
    ("generic", AgentKind::Generic),
];

/// The longest pattern accepted, in bytes: a screen is matched often.
const PATTERN_MAX: usize = 1000;
/// The longest auto-answer, in bytes.
const ANSWER_MAX: usize = 200;

/// What the four keys of one agent table say.
#[derive(Debug, Default)]
pub(super) struct Keys {
    pub(super) kind: AgentKind,
    /// As written (placeholders checked); empty: the kind's preset.
    pub(super) resume: Vec<String>,
    pub(super) waiting_patterns: Vec<Pattern>,
    pub(super) auto_answer: Vec<AutoAnswer>,
}

pub(super) fn keys(doc: &mut Doc<'_>, table: &DeTable<'_>) -> Keys {
    let mut keys = Keys::default();
    if let Some(value) = table.get("kind") {
        if let Some(kind) = doc.one_of("kind", value, KINDS) {
            keys.kind = kind;
        }
    }
    if let Some(value) = table.get("resume") {
        keys.resume = super::walk::argv(doc, "resume", value, &placeholders::RESUME, true);
        if !keys.resume.is_empty()
            && !keys
                .resume
                .iter()
                .any(|arg| placeholders::mentions(arg, "session_id", &placeholders::RESUME))
        {
            doc.error(
                value.span(),
                "resume must contain {session_id}: it is how the agent finds the conversation \
                 to continue",
            );
        }
    }
    if let Some(value) = table.get("waiting_patterns") {
        keys.waiting_patterns = doc
            .string_list("waiting_patterns", value)
            .into_iter()
            .filter_map(|(text, span)| pattern(doc, "waiting_patterns", &text, span))
            .collect();
    }
    if let Some(value) = table.get("auto_answer") {
        keys.auto_answer = auto_answer(doc, value);
    }
    keys
}

/// A regex, compiled, or the problem reported at `span`.
fn pattern(doc: &mut Doc<'_>, field: &str, text: &str, span: Span) -> Option<Pattern> {
    if text.is_empty() {
        doc.error(span, format!("a {field} pattern must not be empty"));
        return None;
    }
    if text.len() > PATTERN_MAX {
        doc.error(
            span,
            format!("a {field} pattern is at most {PATTERN_MAX} bytes"),
        );
        return None;
    }
    match Pattern::new(text) {
        Ok(pattern) if pattern.regex.is_match("") => {
            doc.error(
                span,
                format!(
                    "{field} pattern {text:?} matches empty text, so every screen would ask: \
                     make it match the prompt's own words"
                ),
            );
            None
        }
        Ok(pattern) => Some(pattern),
        Err(err) => {
            // The regex error's first line says what is wrong; the rest
            // repeats the pattern.
            let why = err.lines().last().unwrap_or("invalid").trim().to_string();
            doc.error(span, format!("invalid {field} pattern {text:?}: {why}"));
            None
        }
    }
}

/// `auto_answer = [{ pattern = "...", answer = "y\r" }, ...]`.
fn auto_answer(doc: &mut Doc<'_>, value: &crate::tomldoc::Value<'_>) -> Vec<AutoAnswer> {
    let DeValue::Array(items) = value.get_ref() else {
        doc.expected(
            "an array of { pattern = \"...\", answer = \"...\" } tables",
            "auto_answer",
            value,
        );
        return Vec::new();
    };
    let mut rules = Vec::new();
    for item in items {
        let Some(table) = doc.table("auto_answer entry", item) else {
            continue;
        };
        doc.unknown_keys(table, &["pattern", "answer"], "in an auto_answer entry");
        let pattern = match table.get("pattern") {
            Some(v) => doc
                .string("pattern", v)
                .map(str::to_owned)
                .and_then(|text| pattern(doc, "auto_answer", &text, v.span())),
            None => {
                doc.error(item.span(), "an auto_answer entry needs a pattern");
                None
            }
        };
        let answer = match table.get("answer") {
            Some(v) => match doc.string("answer", v) {
                Some("") => {
                    doc.error(v.span(), "an auto_answer answer must not be empty");
                    None
                }
                Some(text) if text.len() > ANSWER_MAX => {
                    doc.error(
                        v.span(),
                        format!("an auto_answer answer is at most {ANSWER_MAX} bytes"),
                    );
                    None
                }
                Some(text) => Some(text.to_owned()),
                None => None,
            },
            None => {
                doc.error(
                    item.span(),
                    "an auto_answer entry needs an answer (the keys to type, such as \"y\\r\")",
                );
                None
            }
        };
        if let (Some(pattern), Some(answer)) = (pattern, answer) {
            rules.push(AutoAnswer { pattern, answer });
        }
    }
    rules
}
