//! An agent's `sandbox` and `writable` keys: the mode, and the extra paths
//! a confined agent may write, with `~` expanded. What the kernel can do
//! and whether a path covers the repository are checked where the agent
//! starts (`crate::agent::sandbox`) and by `orch check`, not here: this
//! walk touches no files.

use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

use toml::de::DeTable;

use super::model::SandboxMode;
use crate::tomldoc::{Doc, Span};

const MODES: &[(&str, SandboxMode)] = &[
    ("none", SandboxMode::None),
    ("worktree", SandboxMode::Worktree),
    ("best-effort", SandboxMode::BestEffort),
];

/// The two keys of one agent table (`path` names it in messages), with
/// `home` for `~`. `writable` without a sandbox is an error: it would do
/// nothing, and a user who wrote it expects the agent to be confined.
pub(super) fn keys(
    doc: &mut Doc<'_>,
    table: &DeTable<'_>,
    path: &str,
    home: Option<&OsStr>,
) -> (SandboxMode, Vec<PathBuf>) {
    let written = table
        .get("sandbox")
        .map(|v| doc.one_of("sandbox", v, MODES));
    let mode = written.flatten().unwrap_or_default();
    let Some((key, value)) = table.get_key_value("writable") else {
        return (mode, Vec::new());
    };
    let entries = doc.string_list("writable", value);
    // A sandbox value that is wrong is reported already: no second word.
    if written == Some(None) {
        return (mode, Vec::new());
    }
    if mode == SandboxMode::None {
        let why = if table.contains_key("sandbox") {
            "sandbox = \"none\""
        } else {
            "no sandbox"
        };
        doc.error(
            key.span(),
            format!(
                "writable has no effect with {why} in [{path}]: set sandbox = \"worktree\" \
                 (or \"best-effort\") to confine the agent, or remove writable"
            ),
        );
        return (mode, Vec::new());
    }
    let writable = entries
        .into_iter()
        .filter_map(|(text, span)| entry(doc, &text, span, home))
        .collect();
    (mode, writable)
}

/// One `writable` entry as a path, or the problem with it reported.
fn entry(doc: &mut Doc<'_>, text: &str, span: Span, home: Option<&OsStr>) -> Option<PathBuf> {
    match expand(text, home) {
        Ok(path) => Some(path),
        Err(problem) => {
            doc.error(span, format!("writable path {text:?} {problem}"));
            None
        }
    }
}

/// `text` with a leading `~` (alone or before `/`) replaced by `home`;
/// relative paths stay relative (the caller joins them to the config's
/// root). The error completes "writable path "..." ...".
pub(super) fn expand(text: &str, home: Option<&OsStr>) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("must not be empty".into());
    }
    if text.contains('\0') {
        return Err("must not contain a NUL character".into());
    }
    let path =
        match text.strip_prefix('~') {
            None => PathBuf::from(text),
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                let Some(home) = home.filter(|h| !h.is_empty()) else {
                    return Err("starts with ~, but HOME is not set".into());
                };
                Path::new(home).join(rest.trim_start_matches('/'))
            }
            Some(_) => return Err(
                "names another user's home: only ~ and ~/... (the home of the user running orch) \
                 are expanded"
                    .into(),
            ),
        };
    if path.is_absolute() && path.components().all(|c| c == Component::RootDir) {
        return Err("is the whole file system: a confined agent could write anywhere".into());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home() -> Option<&'static OsStr> {
        Some(OsStr::new("/home/ada"))
    }

    #[test]
    fn a_tilde_is_the_home_of_the_user_running_orch() {
        assert_eq!(expand("~", home()), Ok(PathBuf::from("/home/ada")));
        assert_eq!(
            expand("~/.cache", home()),
            Ok(PathBuf::from("/home/ada/.cache"))
        );
        assert_eq!(
            expand("~//.claude/", home()),
            Ok(PathBuf::from("/home/ada/.claude/"))
        );
    }

    #[test]
    fn other_paths_are_kept_as_written() {
        assert_eq!(expand("/var/cache/x", home()), Ok("/var/cache/x".into()));
        assert_eq!(expand("build/out", home()), Ok("build/out".into()));
        assert_eq!(expand("../shared", home()), Ok("../shared".into()));
        assert_eq!(expand("dir~/x", home()), Ok("dir~/x".into()));
    }

    #[test]
    fn what_cannot_be_expanded_says_why() {
        assert_eq!(
            expand("~/.cache", None),
            Err("starts with ~, but HOME is not set".into())
        );
        assert_eq!(
            expand("~", Some(OsStr::new(""))),
            Err("starts with ~, but HOME is not set".into())
        );
        assert!(expand("~bob/.cache", home())
            .is_err_and(|e| e.starts_with("names another user's home")));
        assert_eq!(expand("", home()), Err("must not be empty".into()));
        assert!(expand("a\0b", home()).is_err_and(|e| e.contains("NUL")));
        assert!(expand("/", home()).is_err_and(|e| e.contains("whole file system")));
        assert!(expand("//", home()).is_err_and(|e| e.contains("whole file system")));
    }
}
