//! The placeholders of an agent's `command` and `env` values, of a task's
//! `prompt` and of the `[hooks]` commands: how they are written, filled in
//! at launch, and checked when the file is loaded, so that a typo
//! (`{promt}`) is an error at its `file:line:column` instead of text the
//! agent receives as written.
//!
//! The grammar, one scanner for filling and checking alike:
//! - `{NAME}`, where NAME is an ASCII letter or `_` followed by letters,
//!   digits, `_` or `-`, is a placeholder. Known names are replaced; any
//!   other name is an error when the file is loaded.
//! - `{{NAME}}` is the literal text `{NAME}`: the way to write a
//!   placeholder-shaped text that is not one.
//! - `${NAME}` with a NAME the template's [`Scope`] does not recognise is
//!   shell (`${HOME}`) and left as written; so is any other brace
//!   (`{1..3}`, `{a,b}`, `{ print $1 }`).

use std::ops::Range;

use crate::tomldoc::{closest, Doc, Span};

/// Every placeholder of a command or an env value.
const ALL: &[&str] = &["prompt", "task_id", "worktree", "branch"];
/// The placeholders of a prompt: all but `{prompt}`, which is the prompt,
/// `{conflicts}`, the files a resolve attempt is to fix, and `{children}`,
/// the task's subtasks and how each stands.
const IN_PROMPT: &[&str] = &["task_id", "worktree", "branch", "conflicts", "children"];
/// Every name an agent's templates recognise, allowed or not.
const AGENT: &[&str] = &[
    "prompt",
    "task_id",
    "worktree",
    "branch",
    "conflicts",
    "children",
];
const ON_DONE: &[&str] = &["task", "branch", "worktree"];
const ON_MERGE: &[&str] = &["task", "branch", "commit"];
const ON_FAIL: &[&str] = &["task", "cause"];
const ON_ATTENTION: &[&str] = &["task", "reason", "question"];
/// An agent's `resume` command: a command's names and the conversation's.
const IN_RESUME: &[&str] = &["prompt", "task_id", "worktree", "branch", "session_id"];
const RESUME_RECOGNISED: &[&str] = &[
    "prompt",
    "task_id",
    "worktree",
    "branch",
    "conflicts",
    "children",
    "session_id",
];

/// Where a template is written: the names filled in there, and the names
/// that mean something elsewhere and so are refused with a reason.
#[derive(Debug)]
pub(crate) struct Scope {
    allowed: &'static [&'static str],
    /// Names that are placeholders even after a `$` (a superset of
    /// `allowed`).
    recognised: &'static [&'static str],
    /// A recognised name not allowed here, and why.
    reserved: &'static [(&'static str, &'static str)],
}

/// An agent's `command` items and `env` values.
pub(crate) const COMMAND: Scope = Scope {
    allowed: ALL,
    recognised: AGENT,
    reserved: &[
        (
            "conflicts",
            "it is filled only in a task's prompt (which {prompt} brings here)",
        ),
        (
            "children",
            "it is filled only in a task's prompt (which {prompt} brings here)",
        ),
    ],
};
/// An agent's `resume` items: a command's, and `{session_id}`.
pub(crate) const RESUME: Scope = Scope {
    allowed: IN_RESUME,
    recognised: RESUME_RECOGNISED,
    reserved: &[
        (
            "conflicts",
            "it is filled only in a task's prompt (which {prompt} brings here)",
        ),
        (
            "children",
            "it is filled only in a task's prompt (which {prompt} brings here)",
        ),
    ],
};
/// A task's `prompt`.
pub(crate) const PROMPT: Scope = Scope {
    allowed: IN_PROMPT,
    recognised: AGENT,
    reserved: &[("prompt", "it is the prompt itself")],
};
pub(crate) const HOOK_ON_DONE: Scope = hook_scope(
    ON_DONE,
    &[
        ("commit", "only on_merge has a commit"),
        ("cause", "only on_fail has a cause"),
    ],
);
pub(crate) const HOOK_ON_MERGE: Scope = hook_scope(
    ON_MERGE,
    &[
        (
            "worktree",
            "only on_done has a worktree (cleanup may have removed it by the merge)",
        ),
        ("cause", "only on_fail has a cause"),
    ],
);
pub(crate) const HOOK_ON_FAIL: Scope = hook_scope(
    ON_FAIL,
    &[
        ("branch", "only on_done and on_merge have a branch"),
        ("worktree", "only on_done has a worktree"),
        ("commit", "only on_merge has a commit"),
    ],
);

pub(crate) const HOOK_ON_ATTENTION: Scope = hook_scope(
    ON_ATTENTION,
    &[
        ("branch", "only on_done and on_merge have a branch"),
        ("worktree", "only on_done has a worktree"),
        ("commit", "only on_merge has a commit"),
        ("cause", "only on_fail has a cause"),
    ],
);

/// A hook's scope: its own names, and why the other hooks' are not here.
const fn hook_scope(
    names: &'static [&'static str],
    reserved: &'static [(&'static str, &'static str)],
) -> Scope {
    Scope {
        allowed: names,
        recognised: names,
        reserved,
    }
}

/// Values substituted into an agent's command and environment.
#[derive(Debug, Clone)]
pub struct Placeholders<'a> {
    /// The task's prompt as written; its own placeholders are filled in
    /// where `{prompt}` is.
    pub prompt: &'a str,
    pub task_id: &'a str,
    pub worktree: &'a str,
    pub branch: &'a str,
    /// The files left with conflict markers, for a resolve attempt's
    /// prompt; empty otherwise.
    pub conflicts: &'a str,
    /// The task's subtasks, one a line (`ID: STATE`, and the cause where
    /// there is one); empty for a task without any.
    pub children: &'a str,
    /// The agent's conversation to continue (in `resume` only); empty
    /// otherwise.
    pub session_id: &'a str,
}

impl Placeholders<'_> {
    /// `template` with its placeholders replaced and `{{NAME}}` written as
    /// `{NAME}`. Braces that are not placeholders are left as written,
    /// because agent commands are often shell; so is an unknown name,
    /// which a validated config cannot hold.
    pub fn fill(&self, template: &str) -> String {
        fill(template, &COMMAND, |name| match name {
            "prompt" => Some(fill(self.prompt, &PROMPT, |name| self.value(name))),
            name => self.value(name),
        })
    }

    /// An agent's `resume` item with its placeholders (`{session_id}`
    /// among them) filled in.
    pub fn fill_resume(&self, template: &str) -> String {
        fill(template, &RESUME, |name| match name {
            "prompt" => Some(fill(self.prompt, &PROMPT, |name| self.value(name))),
            "session_id" => Some(self.session_id.to_owned()),
            name => self.value(name),
        })
    }

    /// The value of every name but `prompt`.
    fn value(&self, name: &str) -> Option<String> {
        let value = match name {
            "task_id" => self.task_id,
            "worktree" => self.worktree,
            "branch" => self.branch,
            "conflicts" => self.conflicts,
            "children" => self.children,
            _ => return None,
        };
        Some(value.to_owned())
    }
}

/// Values substituted into one `[hooks]` command: each hook has its own
/// names, the same ones its config was checked against.
#[derive(Debug, Clone, Copy)]
pub enum HookVars<'a> {
    /// `on_done`: `{task}` `{branch}` `{worktree}`.
    Done {
        task: &'a str,
        branch: &'a str,
        worktree: &'a str,
    },
    /// `on_merge`: `{task}` `{branch}` `{commit}`.
    Merge {
        task: &'a str,
        branch: &'a str,
        commit: &'a str,
    },
    /// `on_fail`: `{task}` `{cause}`.
    Fail { task: &'a str, cause: &'a str },
    /// `on_attention`: `{task}` `{reason}` `{question}`.
    Attention {
        task: &'a str,
        reason: &'a str,
        question: &'a str,
    },
}

impl HookVars<'_> {
    /// `template` with this hook's placeholders filled in (see
    /// [`Placeholders::fill`] for the rest of the grammar).
    pub fn fill(&self, template: &str) -> String {
        fill(template, self.scope(), |name| {
            let value = match (*self, name) {
                (HookVars::Done { task, .. }, "task")
                | (HookVars::Merge { task, .. }, "task")
                | (HookVars::Fail { task, .. }, "task")
                | (HookVars::Attention { task, .. }, "task") => task,
                (HookVars::Attention { reason, .. }, "reason") => reason,
                (HookVars::Attention { question, .. }, "question") => question,
                (HookVars::Done { branch, .. }, "branch")
                | (HookVars::Merge { branch, .. }, "branch") => branch,
                (HookVars::Done { worktree, .. }, "worktree") => worktree,
                (HookVars::Merge { commit, .. }, "commit") => commit,
                (HookVars::Fail { cause, .. }, "cause") => cause,
                _ => return None,
            };
            Some(value.to_owned())
        })
    }

    /// The hook's name in `[hooks]`.
    pub fn hook(&self) -> &'static str {
        match self {
            HookVars::Done { .. } => "on_done",
            HookVars::Merge { .. } => "on_merge",
            HookVars::Fail { .. } => "on_fail",
            HookVars::Attention { .. } => "on_attention",
        }
    }

    fn scope(&self) -> &'static Scope {
        match self {
            HookVars::Done { .. } => &HOOK_ON_DONE,
            HookVars::Merge { .. } => &HOOK_ON_MERGE,
            HookVars::Fail { .. } => &HOOK_ON_FAIL,
            HookVars::Attention { .. } => &HOOK_ON_ATTENTION,
        }
    }
}

/// Does the prompt `template` use the placeholder `{name}`?
pub fn mentions_placeholder(template: &str, name: &str) -> bool {
    mentions(template, name, &PROMPT)
}

/// Does `template`, written where `scope` applies, use `{name}`?
pub(crate) fn mentions(template: &str, name: &str, scope: &Scope) -> bool {
    pieces(template, scope.recognised)
        .iter()
        .any(|piece| matches!(piece, Piece::Placeholder { name: n, .. } if *n == name))
}

/// `template` with each placeholder `scope` allows replaced by
/// `value(name)`; anything else is left as written.
fn fill(template: &str, scope: &Scope, value: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    for piece in pieces(template, scope.recognised) {
        match piece {
            Piece::Text(text) => out.push_str(text),
            Piece::Placeholder { name, at } => {
                match value(name).filter(|_| scope.allowed.contains(&name)) {
                    Some(value) => out.push_str(&value),
                    None => out.push_str(&template[at]),
                }
            }
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

/// The pieces of `template`; after a `$`, only the `recognised` names are
/// placeholders (the rest is shell).
fn pieces<'t>(template: &'t str, recognised: &[&str]) -> Vec<Piece<'t>> {
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
            .filter(|name| !template[..open].ends_with('$') || recognised.contains(name));
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
/// `field`) that `scope` does not allow, at its `{` when the string has no
/// escapes, else at the string.
pub(crate) fn check(doc: &mut Doc<'_>, field: &str, span: &Span, text: &str, scope: &Scope) {
    for (at, message) in problems(field, text, scope) {
        let at = doc.span_in_string(span, text, at);
        doc.error(at, message);
    }
}

/// Each placeholder of `text` (read for `field`) that `scope` does not
/// allow: where it is in `text`, and what to say about it.
pub(crate) fn problems(field: &str, text: &str, scope: &Scope) -> Vec<(Range<usize>, String)> {
    let mut out = Vec::new();
    for piece in pieces(text, scope.recognised) {
        let Piece::Placeholder { name, at } = piece else {
            continue;
        };
        if scope.allowed.contains(&name) {
            continue;
        }
        let known: Vec<String> = scope
            .allowed
            .iter()
            .map(|name| format!("{{{name}}}"))
            .collect();
        let literal = format!("{{{{{name}}}}} is a literal \"{{{name}}}\"");
        let reserved = scope
            .reserved
            .iter()
            .find(|(reserved, _)| *reserved == name);
        let message = if let Some((_, why)) = reserved {
            format!(
                "\"{{{name}}}\" cannot be used in {field}: {why} (known here: {}; {literal})",
                known.join(", ")
            )
        } else {
            let suggestion = closest(name, scope.allowed.iter().copied())
                .map(|close| format!("; did you mean \"{{{close}}}\"?"))
                .unwrap_or_default();
            format!(
                "unknown placeholder \"{{{name}}}\" in {field} (known: {}; {literal}){suggestion}",
                known.join(", ")
            )
        };
        out.push((at, message));
    }
    out
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
            children: "",
            session_id: "",
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
            pieces("a {promt} ${HOME} {x-y_2} {2x} {é}", AGENT),
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

    #[test]
    fn conflicts_are_filled_in_the_prompt_only() {
        let vars = Placeholders {
            prompt: "fix {conflicts}",
            conflicts: "a.rs, b.rs",
            ..vars()
        };
        assert_eq!(
            vars.fill("{prompt} | {conflicts} ${conflicts}"),
            "fix a.rs, b.rs | {conflicts} ${conflicts}"
        );
    }

    #[test]
    fn children_are_filled_in_the_prompt_only_and_checked_there() {
        let vars = Placeholders {
            prompt: "integrate:\n{children}",
            children: "a: done\nb: needs_review (exit code 1)",
            ..vars()
        };
        assert_eq!(
            vars.fill("{prompt} | {children}"),
            "integrate:\na: done\nb: needs_review (exit code 1) | {children}"
        );
        assert!(problems("p", "take in {children}", &PROMPT).is_empty());
        let in_command = problems("c", "run {children}", &COMMAND);
        assert_eq!(in_command.len(), 1, "{in_command:?}");
        assert!(
            in_command[0].1.contains("filled only in a task's prompt"),
            "{in_command:?}"
        );
    }

    #[test]
    fn each_hook_fills_only_its_own_names() {
        let done = HookVars::Done {
            task: "t",
            branch: "orch/t",
            worktree: "/w/t",
        };
        assert_eq!(
            done.fill("{task} {branch} {worktree} {commit} {cause} {{task}} ${task} ${HOME}"),
            "t orch/t /w/t {commit} {cause} {task} $t ${HOME}"
        );
        let merge = HookVars::Merge {
            task: "t",
            branch: "orch/t",
            commit: "abc123",
        };
        assert_eq!(
            merge.fill("{task}@{commit} on {branch} {worktree}"),
            "t@abc123 on orch/t {worktree}"
        );
        let fail = HookVars::Fail {
            task: "t",
            cause: "exit code 3",
        };
        assert_eq!(
            fail.fill("{task}: {cause} ({branch}) ${branch}"),
            "t: exit code 3 ({branch}) ${branch}"
        );
        assert_eq!(
            [done.hook(), merge.hook(), fail.hook()],
            ["on_done", "on_merge", "on_fail"]
        );
    }
}
