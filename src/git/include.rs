//! `worktree_include`: files of the main checkout that git does not carry
//! into a new worktree (untracked or ignored, such as `.env`), copied into
//! it when it is made.
//!
//! Globs come from the config and from `.worktreeinclude` at the repository
//! root (one a line; blank lines and `#` comments skipped). Each is relative
//! to the root: `*`, `?` and `[...]` match within one path component, `**`
//! across them, so `.env` is the root's `.env` and `**/.env` every one. A
//! glob without wildcards is checked directly; one with them is matched
//! while walking only below its literal leading directories, never into a
//! `.git`, a nested repository or worktree, or a symbolic link. A matching
//! directory is copied with everything in it. Files the main index tracks
//! come with the checkout and are left alone, and nothing in the new
//! worktree is overwritten.

use std::fs;
use std::path::{Component, Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};

use super::error::io_err;
use super::GitError;

/// The name of the file at the repository root that lists more globs.
pub const INCLUDE_FILE: &str = ".worktreeinclude";

/// At most this many copied paths are named in a note.
const NAMED_IN_NOTE: usize = 5;

/// The validated globs of one worktree creation.
#[derive(Debug, Default)]
pub(super) struct Includes {
    globs: Vec<Include>,
}

#[derive(Debug)]
enum Include {
    /// No wildcards: the path itself.
    Literal(PathBuf),
    /// Walk `under` (relative to the root) at most `depth` levels deep
    /// (`None`: all the way) and copy what `matcher` accepts.
    Pattern {
        under: PathBuf,
        depth: Option<usize>,
        matcher: GlobMatcher,
    },
}

impl Includes {
    /// The globs of `config` and of `root/.worktreeinclude`, each checked:
    /// an absolute glob, one with a `..` component or one that does not
    /// parse is [`GitError::BadInclude`].
    pub(super) fn load(root: &Path, config: &[String]) -> Result<Includes, GitError> {
        let file = root.join(INCLUDE_FILE);
        let listed = match fs::read_to_string(&file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io_err(format!("reading {}", file.display()))(e)),
        };
        let from_file = listed
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'));
        let mut globs = Vec::new();
        for glob in config.iter().map(|g| g.trim()).chain(from_file) {
            globs.push(parse(glob)?);
        }
        Ok(Includes { globs })
    }

    pub(super) fn is_empty(&self) -> bool {
        self.globs.is_empty()
    }

    /// Copies the matching untracked and ignored files of the main checkout
    /// at `root` into the worktree `dir`; a note for people saying what was
    /// copied (and what could not be), or `None` when nothing was.
    /// `tracked` says whether the main index tracks a path.
    pub(super) fn copy(
        &self,
        root: &Path,
        dir: &Path,
        tracked: &dyn Fn(&str) -> bool,
    ) -> Option<String> {
        let mut found = Vec::new();
        for include in &self.globs {
            match include {
                Include::Literal(path) => {
                    if fs::symlink_metadata(root.join(path)).is_ok() {
                        found.push(path.clone());
                    }
                }
                Include::Pattern {
                    under,
                    depth,
                    matcher,
                } => walk(root, under, *depth, &mut |rel| {
                    let hit = matcher.is_match(rel);
                    if hit {
                        found.push(rel.to_path_buf());
                    }
                    hit
                }),
            }
        }
        found.sort();
        found.dedup();
        let mut copied = Vec::new();
        let mut failed = Vec::new();
        for rel in &found {
            copy_tree(root, dir, rel, tracked, &mut copied, &mut failed);
        }
        if !failed.is_empty() {
            tracing::warn!(worktree = %dir.display(), ?failed, "could not copy included files");
        }
        if copied.is_empty() && failed.is_empty() {
            return None;
        }
        let mut note = String::new();
        if !copied.is_empty() {
            note = format!(
                "copied {} included file{} ({})",
                copied.len(),
                if copied.len() == 1 { "" } else { "s" },
                name_some(&copied)
            );
        }
        if !failed.is_empty() {
            if !note.is_empty() {
                note.push_str("; ");
            }
            note.push_str(&format!("could not copy {}", name_some(&failed)));
        }
        Some(note)
    }
}

/// One glob, checked and compiled.
fn parse(glob: &str) -> Result<Include, GitError> {
    let bad = |reason: &str| GitError::BadInclude {
        glob: glob.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = glob.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(bad("is empty"));
    }
    let path = Path::new(trimmed);
    if path.is_absolute() || trimmed.starts_with('/') {
        return Err(bad(
            "is absolute: globs are relative to the repository root",
        ));
    }
    let mut components = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => match part.to_str() {
                Some(".git") => return Err(bad("reaches into .git")),
                Some(part) => components.push(part),
                None => return Err(bad("is not valid UTF-8")),
            },
            Component::CurDir => {}
            _ => return Err(bad("leaves the repository (`..`)")),
        }
    }
    let is_wild = |part: &str| part.contains(['*', '?', '[', '{', '\\']);
    let Some(first_wild) = components.iter().position(|part| is_wild(part)) else {
        return Ok(Include::Literal(components.iter().collect()));
    };
    let normalized = components.join("/");
    let matcher = GlobBuilder::new(&normalized)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| bad(&format!("does not parse: {}", e.kind())))?
        .compile_matcher();
    let depth =
        (!components.iter().any(|part| part.contains("**"))).then(|| components.len() - first_wild);
    Ok(Include::Pattern {
        under: components[..first_wild].iter().collect(),
        depth,
        matcher,
    })
}

/// Calls `visit` with every path below `root/under` (relative to `root`),
/// at most `depth` levels down, not descending into symbolic links, `.git`,
/// directories holding a `.git` (nested repositories and worktrees), or
/// paths `visit` accepted (they are copied whole).
fn walk(root: &Path, under: &Path, depth: Option<usize>, visit: &mut dyn FnMut(&Path) -> bool) {
    if depth == Some(0) {
        return;
    }
    let Ok(entries) = fs::read_dir(root.join(under)) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name() == ".git" {
            continue;
        }
        let rel = under.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && entry.path().join(".git").exists() {
            continue;
        }
        if visit(&rel) || !kind.is_dir() {
            continue;
        }
        walk(root, &rel, depth.map(|d| d - 1), visit);
    }
}

/// Copies `root/rel` to `dir/rel`: a file, a symbolic link (as a link), or
/// a directory with what it holds (minus `.git`s and nested repositories).
/// Tracked files and paths that exist in `dir` are skipped.
fn copy_tree(
    root: &Path,
    dir: &Path,
    rel: &Path,
    tracked: &dyn Fn(&str) -> bool,
    copied: &mut Vec<String>,
    failed: &mut Vec<String>,
) {
    let from = root.join(rel);
    let to = dir.join(rel);
    let name = rel.to_string_lossy().into_owned();
    let Ok(meta) = fs::symlink_metadata(&from) else {
        return;
    };
    if meta.is_dir() {
        if from.join(".git").exists() {
            return;
        }
        let Ok(entries) = fs::read_dir(&from) else {
            failed.push(name);
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name() != ".git" {
                copy_tree(
                    root,
                    dir,
                    &rel.join(entry.file_name()),
                    tracked,
                    copied,
                    failed,
                );
            }
        }
        return;
    }
    if tracked(&name) || fs::symlink_metadata(&to).is_ok() {
        return;
    }
    let result = to
        .parent()
        .map_or(Ok(()), fs::create_dir_all)
        .and_then(|()| {
            if meta.file_type().is_symlink() {
                fs::read_link(&from).and_then(|target| std::os::unix::fs::symlink(target, &to))
            } else {
                fs::copy(&from, &to).map(|_| ())
            }
        });
    match result {
        Ok(()) => copied.push(name),
        Err(e) => {
            tracing::warn!(path = %from.display(), error = %e, "could not copy an included file");
            failed.push(name);
        }
    }
}

/// The first few of `names`, and how many more.
fn name_some(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(NAMED_IN_NOTE)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > NAMED_IN_NOTE {
        text.push_str(&format!(" and {} more", names.len() - NAMED_IN_NOTE));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_that_leave_the_repository_are_refused() {
        for glob in ["/etc/passwd", "../secrets", "a/../../b", ".git/config", ""] {
            let err = parse(glob).expect_err(glob);
            assert!(
                matches!(err, GitError::BadInclude { .. }),
                "{glob}: {err:?}"
            );
        }
        assert!(matches!(parse(".env"), Ok(Include::Literal(p)) if p == Path::new(".env")));
        assert!(
            matches!(parse("./config/local.toml/"), Ok(Include::Literal(p)) if p == Path::new("config/local.toml"))
        );
        match parse("config/*.local") {
            Ok(Include::Pattern {
                under,
                depth,
                matcher,
            }) => {
                assert_eq!(under, Path::new("config"));
                assert_eq!(depth, Some(1));
                assert!(matcher.is_match("config/a.local"));
                assert!(!matcher.is_match("config/sub/a.local"));
            }
            other => panic!("{other:?}"),
        }
        match parse("**/.env") {
            Ok(Include::Pattern {
                under,
                depth,
                matcher,
            }) => {
                assert_eq!(under, Path::new(""));
                assert_eq!(depth, None);
                assert!(matcher.is_match("a/b/.env"));
                assert!(matcher.is_match(".env"));
            }
            other => panic!("{other:?}"),
        }
    }
}
