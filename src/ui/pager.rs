//! The user's pager, chosen as git chooses it, and git's colours for a
//! patch sent to a terminal.
//!
//! git looks at `$GIT_PAGER`, then `core.pager`, then `$PAGER`, then uses
//! `less`; an empty value or `cat` means no pager. It starts the pager with
//! `LESS=FRX` (quit if one screen, raw colours, no init) and `LV=-c` unless
//! the user set them. Doing the same means users of `delta`, `diff-so-fancy`
//! or a configured `less` get what `git diff` gives them.
//!
//! The control room passes [`IN_CONTROL_ROOM`] instead of git's `FRX`:
//! it takes the screen back the moment the pager exits, so a `less` that
//! quits by itself on a short diff would show nothing.

use std::io::{self, Write};
use std::process::{Command, ExitStatus, Stdio};

use crate::git::{classify, LineKind, TaskDiff};

/// `LESS` for `orch diff`, as git sets it.
pub const LIKE_GIT: &str = "FRX";

/// `LESS` for the control room's pager: raw colours, and it stays open
/// until the user quits it, however short the diff.
pub const IN_CONTROL_ROOM: &str = "R";

/// A pager command line, run with `sh -c` as git does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pager {
    pub command: String,
}

impl Pager {
    /// The pager git would use: `lookup` reads the environment,
    /// `core_pager` is the git config's `core.pager`. `None` when the
    /// choice is to page nothing (`""` or `cat`).
    pub fn choose(
        lookup: impl Fn(&str) -> Option<String>,
        core_pager: Option<String>,
    ) -> Option<Pager> {
        let command = lookup("GIT_PAGER")
            .or(core_pager)
            .or_else(|| lookup("PAGER"))
            .unwrap_or_else(|| "less".to_string());
        let trimmed = command.trim();
        if trimmed.is_empty() || trimmed == "cat" {
            return None;
        }
        Some(Pager {
            command: trimmed.to_string(),
        })
    }

    /// [`Pager::choose`] from this process's environment.
    pub fn from_env(core_pager: Option<String>) -> Option<Pager> {
        Pager::choose(|name| std::env::var(name).ok(), core_pager)
    }

    /// Run the pager with `text` on its stdin and wait for it to exit,
    /// with `LESS=less` ([`LIKE_GIT`] or [`IN_CONTROL_ROOM`]) unless the user
    /// set `LESS`. A pager that quits before reading everything is not an
    /// error.
    pub fn show(&self, text: &[u8], less: &str) -> io::Result<ExitStatus> {
        let mut command = Command::new("sh");
        command.arg("-c").arg(&self.command).stdin(Stdio::piped());
        for (name, value) in [("LESS", less), ("LV", "-c")] {
            if std::env::var_os(name).is_none() {
                command.env(name, value);
            }
        }
        let mut child = command.spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            match stdin.write_all(text) {
                Ok(()) => {}
                Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {}
                Err(err) => {
                    drop(stdin);
                    crate::log_err(child.wait(), "waiting for the pager");
                    return Err(err);
                }
            }
        }
        child.wait()
    }
}

// git's default colours (`color.diff.*`).
const META: &str = "\x1b[1m";
const FRAG: &str = "\x1b[36m";
const NEW: &str = "\x1b[32m";
const OLD: &str = "\x1b[31m";
const RESET: &str = "\x1b[m";

/// A patch coloured as `git diff --color` colours it: file headers bold,
/// the `@@ .. @@` of hunk headers cyan, added lines green, removed red.
pub fn colour_patch(patch: &str) -> String {
    let mut out = String::with_capacity(patch.len() + patch.len() / 8);
    for (kind, line) in classify(patch) {
        match kind {
            LineKind::FileHeader => paint(&mut out, META, line),
            LineKind::Hunk => {
                // Only the ranges; the function context after them is plain.
                let end = line[2..].find("@@").map_or(line.len(), |at| at + 4);
                paint(&mut out, FRAG, &line[..end]);
                out.push_str(&line[end..]);
            }
            LineKind::Added => paint(&mut out, NEW, line),
            LineKind::Removed => paint(&mut out, OLD, line),
            LineKind::Context | LineKind::NoNewline => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// `git diff --stat --color`: the graph's `+` green and `-` red.
pub fn colour_stat(diff: &TaskDiff, width: usize) -> String {
    let mut out = String::new();
    if diff.files.is_empty() {
        return out;
    }
    for line in diff.stat_lines(width) {
        out.push_str(&format!(" {} | {}", line.name, line.count));
        if let Some(bytes) = &line.bytes {
            out.push(' ');
            out.push_str(bytes);
        } else if line.plus + line.minus > 0 {
            out.push(' ');
            if line.plus > 0 {
                paint(&mut out, NEW, &"+".repeat(line.plus));
            }
            if line.minus > 0 {
                paint(&mut out, OLD, &"-".repeat(line.minus));
            }
        }
        out.push('\n');
    }
    out.push(' ');
    out.push_str(&diff.summary());
    out.push('\n');
    out
}

fn paint(out: &mut String, colour: &str, text: &str) {
    out.push_str(colour);
    out.push_str(text);
    out.push_str(RESET);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn chosen(pairs: &[(&str, &str)], core: Option<&str>) -> Option<String> {
        Pager::choose(env(pairs), core.map(str::to_string)).map(|p| p.command)
    }

    #[test]
    fn the_pager_is_chosen_in_gits_order() {
        let all = [("GIT_PAGER", "delta"), ("PAGER", "most")];
        assert_eq!(chosen(&all, Some("bat")), Some("delta".into()));
        assert_eq!(
            chosen(&[("PAGER", "most")], Some("bat")),
            Some("bat".into())
        );
        assert_eq!(chosen(&[("PAGER", "most")], None), Some("most".into()));
        assert_eq!(chosen(&[], None), Some("less".into()));
        // "cat" or nothing: no pager, even over a later choice.
        assert_eq!(
            chosen(&[("GIT_PAGER", "cat"), ("PAGER", "most")], None),
            None
        );
        assert_eq!(chosen(&[("GIT_PAGER", " ")], Some("bat")), None);
    }

    #[test]
    fn the_pager_reads_the_text_on_stdin_with_less_options_unless_set() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let pager = Pager {
            command: format!(
                "cat > '{}'; printf '%s %s' \"$LV\" \"$LESS\" >> '{}'",
                out.display(),
                out.display()
            ),
        };
        let status = pager.show(b"diff --git a/x b/x\n", LIKE_GIT).unwrap();
        assert!(status.success());
        let expected_less = std::env::var("LESS").unwrap_or_else(|_| "FRX".into());
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            format!("diff --git a/x b/x\n-c {expected_less}")
        );
        // A pager that reads nothing and quits early is fine.
        let quitter = Pager {
            command: "exit 0".into(),
        };
        let big = vec![b'x'; 1 << 20];
        assert!(quitter.show(&big, IN_CONTROL_ROOM).unwrap().success());
    }

    #[test]
    fn patches_are_coloured_as_git_colours_them() {
        let patch = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@ fn main\n-old\n+new\n same\n";
        assert_eq!(
            colour_patch(patch),
            "\x1b[1mdiff --git a/x b/x\x1b[m\n\x1b[1mindex 1..2 100644\x1b[m\n\x1b[1m--- a/x\x1b[m\n\x1b[1m+++ b/x\x1b[m\n\x1b[36m@@ -1,2 +1,2 @@\x1b[m fn main\n\x1b[31m-old\x1b[m\n\x1b[32m+new\x1b[m\n same\n"
        );
    }
}
