//! The placeholders of an agent's `command` and `env` values and of a
//! task's `prompt`: how they are written, filled in at launch, and checked
//! when the file is loaded, so that a typo (`{promt}`) is an error at its
//! `file:line:column` instead of text the agent receives as written.
//!
//! The grammar, one scanner for filling and checking alike:
//! - `{NAME}`, where NAME is an ASCII letter or `_` followed by letters,
//!   digits, `_` or `-`, is a placeholder. Known names are replaced; any
//!   other name is an error when the file is loaded.
//! - `{{NAME}}` is the literal text `{NAME}`: the way to write a
//!   placeholder-shaped text that is not one.
//! - `${NAME}` with an unknown NAME is shell (`${HOME}`) and left as
//!   written; so is any other brace (`{1..3}`, `{a,b}`, `{ print $1 }`).

use std::ops::Range;

use crate::tomldoc::{closest, Doc, Span};

/// Every placeholder of a command or an env value.
pub(crate) const ALL: &[&str] = &["prompt", "task_id", "worktree", "branch", "conflicts"];
/// The placeholders of a prompt: all but `{prompt}`, which is the prompt.
pub(crate) const IN_PROMPT: &[&str] = &["task_id", "worktree", "branch", "conflicts"];

/// Values substituted into an agent's command and environment.
#[derive(Debug, Clone)]
pub struct Placeholders<'a> {
    /// The task's prompt as written; its own placeholders are filled in
    /// where `{prompt}` is.
    pub prompt: &'a str,
    pub task_id: &'a str,
    pub worktree: &'a str,
    pub branch: &'a str,
    /// A resolve attempt's conflicting files, comma-separated; empty otherwise.
    pub conflicts: &'a str,
}

impl Placeholders<'_> {
    /// `template` with its placeholders replaced and `{{NAME}}` written as
    /// `{NAME}`. Braces that are not placeholders are left as written,
    /// because agent commands are often shell; so is an unknown name,
    /// which a validated config cannot hold.
    pub fn fill(&self, template: &str) -> String {
        self.fill_names(template, ALL)
    }

    fn fill_names(&self, template: &str, names: &[&str]) -> String {
        let mut out = String::with_capacity(template.len());
        for piece in pieces(template) {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Placeholder { name, at } => match name {
                    _ if !names.contains(&name) => out.push_str(&template[at]),
                    "prompt" => out.push_str(&self.fill_names(self.prompt, IN_PROMPT)),
                    "task_id" => out.push_str(self.task_id),
                    "worktree" => out.push_str(self.worktree),
                    "branch" => out.push_str(self.branch),
                    "conflicts" => out.push_str(self.conflicts),
                    _ => out.push_str(&template[at]),
                },
            }
        }
        out
    }
}

/// Does `template` use the placeholder `{name}`?
pub fn mentions_placeholder(template: &str, name: &str) -> bool {
    pieces(template)
        .iter()
        .any(|piece| matches!(piece, Piece::Placeholder { name: n, .. } if *n == name))
}

/// `template` with the placeholders named in `vars` replaced (a hook's
/// argument: `{task}`, `{branch}`, ...), `{{NAME}}` written as `{NAME}`,
/// and anything else left as written.
pub fn fill_hook(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder { name, at } => match vars.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => out.push_str(value),
                None => out.push_str(&template[at]),
            },
        }
    }
    out
}

/// A stretch of a template.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'t> {
    /// Literal text (an escaped `{{NAME}}` gives the text `{NAME}`).
    Text(&'t str),
    /// `{NAME}`; `at` is the byte range of the braces and name.
    Placeholder { name: &'t str, at: Range<usize> },
}

/// The length in bytes of the placeholder name that `text` starts with.
fn name_len(text: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    match chars.next() {
        Some((_, c)) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return None,
    }
    let end = chars
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
        .map_or(text.len(), |(at, _)| at);
    Some(end)
}

fn pieces(template: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut from = 0;
    while let Some(found) = template[from..].find('{') {
        let open = from + found;
        let rest = &template[open..];
        if let Some(escaped) = rest.strip_prefix("{{") {
            if let Some(len) = name_len(escaped).filter(|&len| escaped[len..].starts_with("}}")) {
                pieces.push(Piece::Text(&template[text_start..open]));
                // `{NAME}`: the inner braces and the name.
                pieces.push(Piece::Text(&template[open + 1..open + len + 3]));
                from = open + len + 4;
                text_start = from;
                continue;
            }
        }
        let placeholder = name_len(&rest[1..])
            .filter(|&len| rest[1 + len..].starts_with('}'))
            .map(|len| &rest[1..1 + len])
            .filter(|name| !template[..open].ends_with('$') || ALL.contains(name));
        match placeholder {
            Some(name) => {
                let end = open + name.len() + 2;
                pieces.push(Piece::Text(&template[text_start..open]));
                pieces.push(Piece::Placeholder {
                    name,
                    at: open..end,
                });
                from = end;
                text_start = end;
            }
            None => from = open + 1,
        }
    }
    pieces.push(Piece::Text(&template[text_start..]));
    pieces.retain(|piece| *piece != Piece::Text(""));
    pieces
}

/// Report each placeholder of `text` (the string value at `span`, read for
/// `field`) whose name is not in `allowed`, at its `{` when the string has
/// no escapes, else at the string.
pub(crate) fn check(doc: &mut Doc<'_>, field: &str, span: &Span, text: &str, allowed: &[&str]) {
    for piece in pieces(text) {
        let Piece::Placeholder { name, at } = piece else {
            continue;
        };
        if allowed.contains(&name) {
            continue;
        }
        let known: Vec<String> = allowed.iter().map(|name| format!("{{{name}}}")).collect();
        let literal = format!("{{{{{name}}}}} is a literal \"{{{name}}}\"");
        let message = if ALL.contains(&name) {
            format!(
                "\"{{{name}}}\" cannot be used in {field}: it is the prompt itself (known here: {}; {literal})",
                known.join(", ")
            )
        } else {
            let suggestion = closest(name, allowed.iter().copied())
                .map(|close| format!("; did you mean \"{{{close}}}\"?"))
                .unwrap_or_default();
            format!(
                "unknown placeholder \"{{{name}}}\" in {field} (known: {}; {literal}){suggestion}",
                known.join(", ")
            )
        };
        let at = doc.span_in_string(span, text, at);
        doc.error(at, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Placeholders<'static> {
        Placeholders {
            prompt: "do it in {worktree}",
            task_id: "t1",
            worktree: "/w/t1",
            branch: "orch/t1",
            conflicts: "",
        }
    }

    #[test]
    fn fills_known_placeholders_and_keeps_shell_braces() {
        let vars = Placeholders {
            prompt: "do it",
            ..vars()
        };
        assert_eq!(
            vars.fill("echo {prompt} in {worktree} on {branch} for {task_id} ${HOME} {1..3} {"),
            "echo do it in /w/t1 on orch/t1 for t1 ${HOME} {1..3} {"
        );
    }

    #[test]
    fn doubled_braces_are_literal_placeholder_text() {
        assert_eq!(vars().fill("{{prompt}} {{x}}"), "{prompt} {x}");
        // Only around a name: other doubled braces are shell or awk.
        assert_eq!(
            vars().fill("awk '{{print}}' {{ a }} }}"),
            "awk '{print}' {{ a }} }}"
        );
        // The leftmost `{{NAME}}` wins.
        assert_eq!(vars().fill("{{{task_id}}}"), "{{task_id}}");
        assert_eq!(vars().fill("${task_id}"), "$t1");
    }

    #[test]
    fn the_prompt_has_its_own_placeholders_filled() {
        assert_eq!(vars().fill("run: {prompt}"), "run: do it in /w/t1");
        let vars = Placeholders {
            prompt: "{prompt} {{branch}} {nope}",
            ..vars()
        };
        assert_eq!(vars.fill("{prompt}"), "{prompt} {branch} {nope}");
    }

    #[test]
    fn pieces_find_names_and_their_places() {
        assert_eq!(
            pieces("a {promt} ${HOME} {x-y_2} {2x} {é}"),
            [
                Piece::Text("a "),
                Piece::Placeholder {
                    name: "promt",
                    at: 2..9
                },
                Piece::Text(" ${HOME} "),
                Piece::Placeholder {
                    name: "x-y_2",
                    at: 18..25
                },
                Piece::Text(" {2x} {é}"),
            ]
        );
    }
}
