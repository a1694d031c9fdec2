//! A task's changes for review: what `orch/<task>` holds that the base
//! branch does not, as git would show it.
//!
//! The old side is the merge base of the base branch and `orch/<task>` (so
//! work landed on the base since the task branched is not shown as undone).
//! The new side is the task's worktree as it is on disk when it exists
//! (commits, staged and unstaged changes, and untracked files as added), so
//! a running agent's work shows before anything is committed; otherwise the
//! branch tip. Renames are detected as `git diff -M` does, untracked files
//! included. Ignored files never show.
//!
//! Each file keeps its own unified patch in git's format, so a view can show
//! one file and a pager can be fed the whole text; [`TaskDiff::stat_text`]
//! lays out `git diff --stat`.

use std::path::Path;

use git2::{Delta, DiffFindOptions, DiffOptions, ErrorCode, Patch};
use unicode_width::UnicodeWidthStr;

use super::error::git_err;
use super::{base_commit, GitError, Repo, BRANCH_PREFIX};

/// Files bigger than this are not read into a patch: they count as binary,
/// as git does past `core.bigFileThreshold`. Keeps a view of an agent that
/// wrote a huge file bounded.
const MAX_TEXT_SIZE: i64 = 16 * 1024 * 1024;

/// The changes of one task against its merge base, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskDiff {
    pub files: Vec<DiffFile>,
}

/// One changed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiffFile {
    /// The path on the new side (on the old side for a deletion).
    pub path: String,
    /// Where a renamed file came from.
    pub old_path: Option<String>,
    /// `A` added (untracked files too), `M` modified, `D` deleted,
    /// `R` renamed, `T` type changed (file, symlink, submodule).
    pub status: char,
    /// Lines added and removed (0 for binary files).
    pub added: usize,
    pub removed: usize,
    pub binary: bool,
    /// Sizes of the old and new content in bytes (what `--stat` shows for a
    /// binary file).
    pub old_bytes: u64,
    pub new_bytes: u64,
    /// This file's unified diff as git prints it: the `diff --git a/.. b/..`
    /// header, then its hunks (or "Binary files ... differ").
    pub patch: String,
}

impl DiffFile {
    /// The name `git diff --stat` shows: the path, or for a rename the
    /// common parts once and the differing middle as `{old => new}`.
    pub fn display_name(&self) -> String {
        match &self.old_path {
            Some(old) if *old != self.path => rename_name(old, &self.path),
            _ => self.path.clone(),
        }
    }
}

impl TaskDiff {
    /// Lines added over all files.
    pub fn added(&self) -> usize {
        self.files.iter().map(|f| f.added).sum()
    }

    /// Lines removed over all files.
    pub fn removed(&self) -> usize {
        self.files.iter().map(|f| f.removed).sum()
    }

    /// The whole patch: every file's, in order.
    pub fn patch_text(&self) -> String {
        let mut text = String::with_capacity(self.files.iter().map(|f| f.patch.len()).sum());
        for file in &self.files {
            text.push_str(&file.patch);
            if !text.ends_with('\n') {
                text.push('\n');
            }
        }
        text
    }

    /// The summary line of `git diff --stat`, without the leading space:
    /// "2 files changed, 3 insertions(+), 1 deletion(-)".
    pub fn summary(&self) -> String {
        summary_line(self.files.len(), self.added(), self.removed())
    }

    /// `git diff --stat` laid out for `width` columns: one line per file
    /// (` name | count +++--`, binary files as `Bin OLD -> NEW bytes`),
    /// then the summary. Names too long are cut from the left behind
    /// `...`, the graph is scaled to fit, as git does. Empty when nothing
    /// changed.
    pub fn stat_text(&self, width: usize) -> String {
        let mut out = String::new();
        if self.files.is_empty() {
            return out;
        }
        for line in self.stat_lines(width) {
            out.push_str(&line.text());
            out.push('\n');
        }
        out.push(' ');
        out.push_str(&self.summary());
        out.push('\n');
        out
    }

    /// The file lines of [`TaskDiff::stat_text`] in parts, for views that
    /// colour the graph.
    pub fn stat_lines(&self, width: usize) -> Vec<StatLine> {
        let layout = StatLayout::new(&self.files, width);
        self.files.iter().map(|f| layout.line(f)).collect()
    }
}

/// One file's line of `--stat`, in parts: `" {name} | {count} {plus}{minus}"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatLine {
    /// The name, cut and padded to the name column.
    pub name: String,
    /// The change count right-aligned ("Bin" for a binary file).
    pub count: String,
    /// `+` and `-` marks of the graph (empty for binary files).
    pub plus: usize,
    pub minus: usize,
    /// For a binary file with a size change: `"OLD -> NEW bytes"`.
    pub bytes: Option<String>,
}

impl StatLine {
    pub fn text(&self) -> String {
        let mut line = format!(" {} | {}", self.name, self.count);
        if let Some(bytes) = &self.bytes {
            line.push(' ');
            line.push_str(bytes);
        } else if self.plus + self.minus > 0 {
            line.push(' ');
            line.push_str(&"+".repeat(self.plus));
            line.push_str(&"-".repeat(self.minus));
        }
        line
    }
}

/// The column widths of a `--stat`, decided as git's `show_stats` does.
struct StatLayout {
    name_width: usize,
    number_width: usize,
    graph_width: usize,
    max_change: usize,
}

impl StatLayout {
    fn new(files: &[DiffFile], width: usize) -> StatLayout {
        let mut max_len = 0;
        let mut max_change = 0;
        let mut bin_width = 0;
        let mut number_width = 0;
        for f in files {
            max_len = max_len.max(f.display_name().width());
            if f.binary {
                // "Bin XXX -> YYY bytes"
                bin_width =
                    bin_width.max(14 + decimal_width(f.old_bytes) + decimal_width(f.new_bytes));
                number_width = 3;
            } else {
                max_change = max_change.max(f.added + f.removed);
            }
        }
        let number_width = number_width.max(decimal_width(max_change as u64));
        // At least 6 columns for the graph and 10 for the name.
        let width = width.max(16 + 6 + number_width);
        let mut graph_width = if max_change + 4 > bin_width {
            max_change
        } else {
            bin_width - 4
        };
        let mut name_width = max_len;
        if name_width + number_width + 6 + graph_width > width {
            let share = (width * 3 / 8).saturating_sub(number_width + 6);
            if graph_width > share {
                graph_width = share.max(6);
            }
            let rest = width.saturating_sub(number_width + 6 + graph_width);
            if name_width > rest {
                name_width = rest;
            } else {
                graph_width = width - number_width - 6 - name_width;
            }
        }
        StatLayout {
            name_width,
            number_width,
            graph_width,
            max_change,
        }
    }

    fn line(&self, f: &DiffFile) -> StatLine {
        let name = cut_name(&f.display_name(), self.name_width);
        let pad = self.name_width.saturating_sub(name.width());
        let name = format!("{name}{}", " ".repeat(pad));
        if f.binary {
            let bytes = (f.old_bytes > 0 || f.new_bytes > 0)
                .then(|| format!("{} -> {} bytes", f.old_bytes, f.new_bytes));
            return StatLine {
                name,
                count: format!("{:>w$}", "Bin", w = self.number_width),
                plus: 0,
                minus: 0,
                bytes,
            };
        }
        let (mut plus, mut minus) = (f.added, f.removed);
        if self.graph_width <= self.max_change {
            let mut total = scale(plus + minus, self.graph_width, self.max_change);
            if total < 2 && plus > 0 && minus > 0 {
                total = 2;
            }
            if plus < minus {
                plus = scale(plus, self.graph_width, self.max_change);
                minus = total - plus;
            } else {
                minus = scale(minus, self.graph_width, self.max_change);
                plus = total - minus;
            }
        }
        StatLine {
            name,
            count: format!("{:>w$}", f.added + f.removed, w = self.number_width),
            plus,
            minus,
            bytes: None,
        }
    }
}

/// git's `scale_linear`: at least one mark for any change.
fn scale(n: usize, width: usize, max: usize) -> usize {
    if n == 0 || max == 0 {
        0
    } else {
        1 + n * width.saturating_sub(1) / max
    }
}

fn decimal_width(n: u64) -> usize {
    n.to_string().len()
}

/// `name` in at most `width` columns: cut from the left behind `...`,
/// at a `/` when one is left, as git's `--stat` does.
fn cut_name(name: &str, width: usize) -> String {
    if name.width() <= width {
        return name.to_string();
    }
    let room = width.saturating_sub(3);
    // The longest tail that fits in `room` columns.
    let mut start = name.len();
    let mut used = 0;
    for (i, c) in name.char_indices().rev() {
        let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        if used + w > room {
            break;
        }
        used += w;
        start = i;
    }
    let tail = &name[start..];
    let tail = tail.find('/').map_or(tail, |slash| &tail[slash..]);
    format!("...{tail}")
}

/// git's `pprint_rename`: `a/{b => c}/d` for `a/b/d` renamed to `a/c/d`.
fn rename_name(old: &str, new: &str) -> String {
    let (a, b) = (old.as_bytes(), new.as_bytes());
    // Common prefix, up to and including its last '/'.
    let mut prefix = 0;
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        if x != y {
            break;
        }
        if *x == b'/' {
            prefix = i + 1;
        }
    }
    // Common suffix, from a '/' on, not overlapping the prefix (but allowed
    // to share its closing slash).
    let mut suffix = 0;
    let floor = prefix.saturating_sub(usize::from(prefix > 0));
    let (mut i, mut j) = (a.len(), b.len());
    while i > floor && j > floor && a[i - 1] == b[j - 1] {
        i -= 1;
        j -= 1;
        if a[i] == b'/' {
            suffix = a.len() - i;
        }
    }
    let a_mid = a.len().saturating_sub(prefix + suffix);
    let b_mid = b.len().saturating_sub(prefix + suffix);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    if prefix + suffix == 0 {
        return format!("{old} => {new}");
    }
    format!(
        "{}{{{} => {}}}{}",
        text(&a[..prefix]),
        text(&a[prefix..prefix + a_mid]),
        text(&b[prefix..prefix + b_mid]),
        text(&a[a.len() - suffix..])
    )
}

/// The summary line of `--stat`, as git words it.
fn summary_line(files: usize, added: usize, removed: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = plural(files, "file changed", "files changed");
    if added > 0 || removed == 0 {
        line.push_str(&format!(
            ", {}",
            plural(added, "insertion(+)", "insertions(+)")
        ));
    }
    if removed > 0 || added == 0 {
        line.push_str(&format!(
            ", {}",
            plural(removed, "deletion(-)", "deletions(-)")
        ));
    }
    line
}

/// What a line of a patch is, for colouring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// `diff --git`, `index`, `---`, `+++`, modes, renames, "Binary files".
    FileHeader,
    /// `@@ -a,b +c,d @@ context`.
    Hunk,
    Added,
    Removed,
    Context,
    /// `\ No newline at end of file`.
    NoNewline,
}

/// Each line of a git patch (without its newline) with its kind. A line is
/// a header or a hunk line by where it stands, not only by how it starts: a
/// removed line reading `-- x` is `--- x` in the patch, and is not a header.
pub fn classify(patch: &str) -> impl Iterator<Item = (LineKind, &str)> {
    let mut in_hunk = false;
    patch.lines().map(move |line| {
        let kind = if line.starts_with("diff --git ") {
            in_hunk = false;
            LineKind::FileHeader
        } else if line.starts_with("@@") {
            in_hunk = true;
            LineKind::Hunk
        } else if !in_hunk {
            LineKind::FileHeader
        } else {
            match line.as_bytes().first() {
                Some(b'+') => LineKind::Added,
                Some(b'-') => LineKind::Removed,
                Some(b'\\') => LineKind::NoNewline,
                _ => LineKind::Context,
            }
        };
        (kind, line)
    })
}

impl Repo {
    /// The changes of task `task` against its merge base with `base` (see
    /// the module doc). `worktree` is where the task's worktree lives: when
    /// it exists there, its files are the new side; when it does not (not
    /// made yet, or cleaned up), the branch tip is.
    ///
    /// Errors when `orch/<task>` does not exist (the task has not started)
    /// or shares no history with `base`.
    pub fn task_diff(
        &self,
        task: &str,
        base: &str,
        worktree: Option<&Path>,
    ) -> Result<TaskDiff, GitError> {
        let ctx = format!("diffing task {task}");
        let on_disk = worktree.filter(|path| path.exists());
        let repo = match on_disk {
            Some(path) => self.open_own(path)?,
            None => self.open()?,
        };
        let branch = format!("{BRANCH_PREFIX}{task}");
        let tip = match repo.find_branch(&branch, git2::BranchType::Local) {
            Ok(found) => found.get().peel_to_commit().map_err(git_err(ctx.clone()))?,
            Err(e) if e.code() == ErrorCode::NotFound => {
                return Err(GitError::msg(
                    ctx,
                    &format!("there is no branch {branch} yet (the task has not started)"),
                ))
            }
            Err(e) => return Err(git_err(ctx)(e)),
        };
        let base_tip = base_commit(&repo, base)?;
        let merge_base = repo
            .merge_base(base_tip.id(), tip.id())
            .map_err(git_err(format!(
                "{ctx}: finding the merge base of {base} and {branch}"
            )))?;
        let old_tree = repo
            .find_commit(merge_base)
            .and_then(|c| c.tree())
            .map_err(git_err(ctx.clone()))?;

        let mut opts = DiffOptions::new();
        opts.include_typechange(true)
            .max_size(MAX_TEXT_SIZE)
            .id_abbrev(7);
        let mut diff = if on_disk.is_some() {
            opts.include_untracked(true)
                .recurse_untracked_dirs(true)
                .show_untracked_content(true);
            repo.diff_tree_to_workdir_with_index(Some(&old_tree), Some(&mut opts))
        } else {
            let new_tree = tip.tree().map_err(git_err(ctx.clone()))?;
            // libgit2 walks every entry of both trees; the paths that
            // differ, found by skipping identical subtrees (as git does),
            // limit its walk to them.
            let mut changed = Vec::new();
            let exact = changed_paths(&repo, Some(&old_tree), Some(&new_tree), "", &mut changed)
                .map_err(git_err(ctx.clone()))?;
            if exact && changed.is_empty() {
                return Ok(TaskDiff { files: Vec::new() });
            }
            // A path libgit2 would read as a pattern (a submodule's) or that
            // is not UTF-8 cannot be named exactly: walk it all then.
            if exact {
                for path in &changed {
                    opts.pathspec(path);
                }
                opts.disable_pathspec_match(true);
            }
            repo.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), Some(&mut opts))
        }
        .map_err(git_err(ctx.clone()))?;
        let mut find = DiffFindOptions::new();
        find.renames(true).for_untracked(true);
        diff.find_similar(Some(&mut find))
            .map_err(git_err(format!("{ctx}: finding renames")))?;
        let mut files = (0..diff.deltas().len())
            .filter_map(|i| file_of(&diff, i).transpose())
            .collect::<Result<Vec<_>, _>>()
            .map_err(git_err(ctx.clone()))?;
        // A conflicted file's delta has no content: its patch is the merge
        // base's blob against the file as it is, markers and all.
        if let Some(dir) = on_disk {
            for file in files.iter_mut().filter(|f| f.status == 'U') {
                let old = old_tree
                    .get_path(Path::new(&file.path))
                    .ok()
                    .and_then(|entry| repo.find_blob(entry.id()).ok());
                // As the working tree has it: a link's target, not what it
                // points at; nothing for a file deleted on this side.
                let full = dir.join(&file.path);
                let bytes = match std::fs::symlink_metadata(&full) {
                    Ok(meta) if meta.file_type().is_symlink() => std::fs::read_link(&full)
                        .map(|t| t.as_os_str().as_encoded_bytes().to_vec())
                        .unwrap_or_default(),
                    Ok(meta) if meta.len() > MAX_TEXT_SIZE as u64 => {
                        file.binary = true;
                        continue;
                    }
                    Ok(_) => std::fs::read(&full).unwrap_or_default(),
                    Err(_) => {
                        file.status = 'D';
                        Vec::new()
                    }
                };
                let mut opts = DiffOptions::new();
                opts.id_abbrev(7);
                let path = Path::new(&file.path);
                let old_bytes = old.as_ref().map_or(&[][..], |b| b.content());
                // Added on both sides: nothing before it.
                let old_path = old.as_ref().map(|_| path);
                let mut patch =
                    Patch::from_buffers(old_bytes, old_path, &bytes, Some(path), Some(&mut opts))
                        .map_err(git_err(ctx.clone()))?;
                let (_, added, removed) = patch.line_stats().map_err(git_err(ctx.clone()))?;
                let buf = patch.to_buf().map_err(git_err(ctx.clone()))?;
                file.added = added;
                file.removed = removed;
                file.new_bytes = bytes.len() as u64;
                file.old_bytes = old.as_ref().map_or(0, |b| b.size() as u64);
                file.patch = String::from_utf8_lossy(&buf).into_owned();
            }
        }
        Ok(TaskDiff { files })
    }

    /// The `core.pager` setting of this repository's git config (with the
    /// user's and the system's), if set.
    pub fn configured_pager(&self) -> Option<String> {
        let repo = self.open().ok()?;
        let config = repo.config().ok()?;
        config.get_string("core.pager").ok()
    }
}

/// The paths of the files that differ between `old` and `new` (either may
/// be missing: everything on the other side differs), under `prefix`.
/// Subtrees with the same id on both sides are skipped without reading.
/// `false` when a path cannot be given to libgit2 as an exact path (not
/// UTF-8, or a submodule).
fn changed_paths(
    repo: &git2::Repository,
    old: Option<&git2::Tree<'_>>,
    new: Option<&git2::Tree<'_>>,
    prefix: &str,
    out: &mut Vec<String>,
) -> Result<bool, git2::Error> {
    const GITLINK: i32 = 0o160000;
    let mut exact = true;
    use std::collections::BTreeMap;
    let mut entries: BTreeMap<Vec<u8>, [Option<(git2::Oid, i32)>; 2]> = BTreeMap::new();
    for (side, tree) in [old, new].into_iter().enumerate() {
        for entry in tree.into_iter().flat_map(|t| t.iter()) {
            let slot = entries.entry(entry.name_bytes().to_vec()).or_default();
            slot[side] = Some((entry.id(), entry.filemode()));
        }
    }
    const TREE: i32 = 0o040000;
    for (name, [a, b]) in entries {
        if a == b {
            continue;
        }
        let Ok(name) = std::str::from_utf8(&name) else {
            return Ok(false);
        };
        if a.is_some_and(|(_, m)| m == GITLINK) || b.is_some_and(|(_, m)| m == GITLINK) {
            exact = false;
        }
        let path = format!("{prefix}{name}");
        let subtree =
            |side: Option<(git2::Oid, i32)>| -> Result<Option<git2::Tree<'_>>, git2::Error> {
                match side {
                    Some((id, mode)) if mode == TREE => repo.find_tree(id).map(Some),
                    _ => Ok(None),
                }
            };
        let (old_sub, new_sub) = (subtree(a)?, subtree(b)?);
        let files_differ = a.is_some_and(|(_, m)| m != TREE) || b.is_some_and(|(_, m)| m != TREE);
        if files_differ {
            out.push(path.clone());
        }
        if (old_sub.is_some() || new_sub.is_some())
            && !changed_paths(
                repo,
                old_sub.as_ref(),
                new_sub.as_ref(),
                &format!("{path}/"),
                out,
            )?
        {
            return Ok(false);
        }
    }
    Ok(exact)
}

/// The file of delta `i`, or `None` for an entry that is no change.
fn file_of(diff: &git2::Diff<'_>, i: usize) -> Result<Option<DiffFile>, git2::Error> {
    let Some(mut patch) = Patch::from_diff(diff, i)? else {
        return Ok(None);
    };
    let delta = patch.delta();
    let status = match delta.status() {
        Delta::Added | Delta::Untracked | Delta::Copied => 'A',
        Delta::Deleted => 'D',
        Delta::Modified => 'M',
        Delta::Renamed => 'R',
        Delta::Typechange => 'T',
        // A file left conflicting (a resolve attempt's): its markers are
        // the change to see.
        Delta::Conflicted => 'U',
        Delta::Unmodified | Delta::Ignored | Delta::Unreadable => return Ok(None),
    };
    let path_of = |file: git2::DiffFile<'_>| {
        file.path_bytes()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let old = path_of(delta.old_file());
    let new = path_of(delta.new_file());
    let path = if status == 'D' { old.clone() } else { new }.unwrap_or_default();
    let old_path = (status == 'R').then_some(old).flatten();
    let binary = delta.flags().is_binary();
    let (old_bytes, new_bytes) = (delta.old_file().size(), delta.new_file().size());
    let (_, added, removed) = patch.line_stats()?;
    let buf = patch.to_buf()?;
    let patch = String::from_utf8_lossy(&buf).into_owned();
    Ok(Some(DiffFile {
        path,
        old_path,
        status,
        added: if binary { 0 } else { added },
        removed: if binary { 0 } else { removed },
        binary,
        old_bytes,
        new_bytes,
        patch,
    }))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use git2::{Repository, RepositoryInitOptions, WorktreeAddOptions};
    use tempfile::TempDir;

    use super::*;

    /// A repository on `main` with a few files committed.
    fn fixture() -> (TempDir, Repository) {
        let tmp = TempDir::new().expect("tempdir");
        let mut opts = RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = Repository::init_opts(tmp.path(), &opts).expect("init");
        {
            let mut config = repo.config().expect("config");
            config.set_str("user.name", "Test User").expect("name");
            config
                .set_str("user.email", "test@example.com")
                .expect("email");
        }
        write(tmp.path(), "README.md", "hello\n");
        write(tmp.path(), "src/lib.rs", &numbered("lib", 20));
        write(tmp.path(), "docs/old-name.md", &numbered("doc", 30));
        write(tmp.path(), "gone.txt", "to be deleted\n");
        commit_all(tmp.path(), "initial");
        (tmp, repo)
    }

    fn numbered(what: &str, n: usize) -> String {
        (1..=n).map(|i| format!("{what} line {i}\n")).collect()
    }

    fn write(root: &Path, rel: &str, contents: &str) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, contents).expect("write");
    }

    /// Runs the git CLI in `dir` (the reference the output is compared with).
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", dir)
            .output()
            .expect("run git");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn commit_all(dir: &Path, message: &str) {
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", message]);
    }

    /// `orch/<task>` at main's tip, checked out in a worktree of its own.
    fn worktree(tmp: &TempDir, repo: &Repository, task: &str) -> PathBuf {
        let head = repo.head().expect("head").peel_to_commit().expect("commit");
        let branch = repo
            .branch(&format!("orch/{task}"), &head, false)
            .expect("branch");
        let dir = tmp.path().join(".orch").join("worktrees").join(task);
        fs::create_dir_all(dir.parent().expect("parent")).expect("mkdir");
        let mut opts = WorktreeAddOptions::new();
        opts.reference(Some(branch.get()));
        repo.worktree(task, &dir, Some(&opts)).expect("worktree");
        fs::write(tmp.path().join(".git/info/exclude"), "/.orch/\n").expect("exclude");
        dir
    }

    /// The task's usual work: a modification, an addition, a deletion, a
    /// rename with an edit, and a binary file.
    fn do_work(dir: &Path) {
        let mut lib = numbered("lib", 20).replace("lib line 5\n", "lib line five\n");
        lib.push_str("-- a line that starts like a header\n");
        write(dir, "src/lib.rs", &lib);
        write(dir, "src/new.rs", "fn new() {}\n");
        fs::remove_file(dir.join("gone.txt")).expect("rm");
        let doc = numbered("doc", 30).replace("doc line 30\n", "doc line thirty\n");
        fs::remove_file(dir.join("docs/old-name.md")).expect("rm");
        write(dir, "docs/new-name.md", &doc);
        fs::write(
            dir.join("logo.png"),
            [0x89, b'P', b'N', b'G', 0, 1, 2, 3, 0, 255],
        )
        .expect("png");
    }

    fn statuses(diff: &TaskDiff) -> Vec<(char, String, Option<String>)> {
        diff.files
            .iter()
            .map(|f| (f.status, f.path.clone(), f.old_path.clone()))
            .collect()
    }

    fn file<'d>(diff: &'d TaskDiff, path: &str) -> &'d DiffFile {
        diff.files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", statuses(diff)))
    }

    #[test]
    fn a_committed_branch_matches_git_diff_against_the_merge_base() {
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        do_work(&dir);
        commit_all(&dir, "work");
        // main moves on after the task branched: not the task's change.
        write(tmp.path(), "README.md", "hello from main\n");
        commit_all(tmp.path(), "main moves on");
        fs::remove_dir_all(&dir).expect("remove the worktree");

        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", Some(&dir)).expect("diff");
        assert_eq!(
            statuses(&diff),
            vec![
                (
                    'R',
                    "docs/new-name.md".into(),
                    Some("docs/old-name.md".into())
                ),
                ('D', "gone.txt".into(), None),
                ('A', "logo.png".into(), None),
                ('M', "src/lib.rs".into(), None),
                ('A', "src/new.rs".into(), None),
            ]
        );
        let lib = file(&diff, "src/lib.rs");
        assert_eq!((lib.added, lib.removed, lib.binary), (2, 1, false));
        let png = file(&diff, "logo.png");
        assert!(
            png.binary && png.added == 0 && png.new_bytes == 10,
            "{png:?}"
        );
        // A removed or added line that reads like a header is still a line.
        let kinds: Vec<LineKind> = classify(&lib.patch).map(|(k, _)| k).collect();
        assert_eq!(&kinds[..4], &[LineKind::FileHeader; 4]);
        assert!(kinds.contains(&LineKind::Hunk));
        let odd = classify(&lib.patch)
            .find(|(_, line)| line.contains("starts like a header"))
            .expect("the line");
        assert_eq!(odd.0, LineKind::Added);

        for width in [80, 60, 30] {
            let git_stat = git(
                tmp.path(),
                &["diff", "-M", &format!("--stat={width}"), "main...orch/x"],
            );
            assert_eq!(diff.stat_text(width), git_stat, "--stat={width}");
        }
        // Identical but for the similarity score: libgit2 measures it its
        // own way (96% here where git says 95%).
        let git_patch = git(tmp.path(), &["diff", "-M", "main...orch/x"]);
        let unscored = |text: &str| -> String {
            text.lines()
                .filter(|l| !l.starts_with("similarity index "))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(unscored(&diff.patch_text()), unscored(&git_patch));
        assert!(diff.files[0].patch.contains("\nsimilarity index 9"));
    }

    #[test]
    fn a_worktree_shows_uncommitted_staged_and_untracked_work_but_not_ignored_files() {
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        write(&dir, "committed.txt", "committed\n");
        commit_all(&dir, "some work");
        write(&dir, "staged.txt", "staged\n");
        git(&dir, &["add", "staged.txt"]);
        write(&dir, "README.md", "hello\nedited, not staged\n");
        write(&dir, "untracked/deep/file.txt", "one\ntwo\n");
        write(&dir, ".gitignore", "*.log\n");
        write(&dir, "noise.log", "ignored\n");

        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", Some(&dir)).expect("diff");
        let paths: Vec<(char, &str)> = diff
            .files
            .iter()
            .map(|f| (f.status, f.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            vec![
                ('A', ".gitignore"),
                ('M', "README.md"),
                ('A', "committed.txt"),
                ('A', "staged.txt"),
                ('A', "untracked/deep/file.txt"),
            ]
        );
        let untracked = file(&diff, "untracked/deep/file.txt");
        assert_eq!((untracked.added, untracked.removed), (2, 0));
        assert!(
            untracked
                .patch
                .starts_with("diff --git a/untracked/deep/file.txt b/untracked/deep/file.txt\nnew file mode 100644\n"),
            "{}",
            untracked.patch
        );
        assert!(untracked.patch.contains("+two\n"), "{}", untracked.patch);
        // Without the worktree path, only what is committed on the branch.
        let committed = ours.task_diff("x", "main", None).expect("diff");
        assert_eq!(
            statuses(&committed),
            vec![('A', "committed.txt".into(), None)]
        );
    }

    #[test]
    fn a_file_moved_without_git_is_a_rename() {
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        fs::rename(dir.join("docs/old-name.md"), dir.join("moved.md")).expect("mv");
        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", Some(&dir)).expect("diff");
        assert_eq!(
            statuses(&diff),
            vec![('R', "moved.md".into(), Some("docs/old-name.md".into()))]
        );
        assert_eq!(diff.files[0].display_name(), "docs/old-name.md => moved.md");
        assert!(diff.files[0]
            .patch
            .contains("rename from docs/old-name.md\n"));
        assert_eq!(
            diff.stat_text(80),
            " docs/old-name.md => moved.md | 0\n 1 file changed, 0 insertions(+), 0 deletions(-)\n"
        );
    }

    #[test]
    fn no_branch_yet_is_an_error_that_says_so_and_no_change_is_empty() {
        let (tmp, repo) = fixture();
        let ours = Repo::discover(tmp.path()).expect("discover");
        let err = ours.task_diff("x", "main", None).expect_err("no branch");
        assert_eq!(
            err.to_string(),
            "diffing task x: there is no branch orch/x yet (the task has not started)"
        );
        let dir = worktree(&tmp, &repo, "x");
        let diff = ours.task_diff("x", "main", Some(&dir)).expect("diff");
        assert!(diff.files.is_empty());
        assert_eq!(diff.stat_text(80), "");
        assert_eq!(diff.patch_text(), "");
    }

    #[test]
    fn stat_names_and_graphs_fit_the_width_as_git_lays_them_out() {
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        write(
            &dir,
            "a/very/long/path/to/some/deeply/nested/module/with/a/long/name.rs",
            &numbered("x", 150),
        );
        write(&dir, "src/lib.rs", &numbered("changed", 3));
        commit_all(&dir, "work");
        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", None).expect("diff");
        for width in [40, 80, 120, 200] {
            let git_stat = git(
                tmp.path(),
                &["diff", &format!("--stat={width}"), "main...orch/x"],
            );
            assert_eq!(diff.stat_text(width), git_stat, "--stat={width}");
        }
    }

    #[test]
    fn renames_print_their_common_parts_once() {
        assert_eq!(rename_name("a/b/c.rs", "a/d/c.rs"), "a/{b => d}/c.rs");
        assert_eq!(
            rename_name("dir/a.txt", "dir/b.txt"),
            "dir/{a.txt => b.txt}"
        );
        assert_eq!(rename_name("x", "y"), "x => y");
        assert_eq!(
            rename_name("src/x.rs", "lib/src/x.rs"),
            "{src => lib/src}/x.rs"
        );
        assert_eq!(summary_line(1, 1, 0), "1 file changed, 1 insertion(+)");
        assert_eq!(summary_line(2, 0, 3), "2 files changed, 3 deletions(-)");
    }

    #[test]
    fn a_file_left_conflicting_shows_its_markers() {
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        write(&dir, "README.md", "from the task\n");
        commit_all(&dir, "task");
        write(tmp.path(), "README.md", "from main\n");
        commit_all(tmp.path(), "main moves on");
        // What a resolve start leaves: a merge stopped on a conflict.
        let _ = Command::new("git")
            .args(["merge", "-q", "main"])
            .current_dir(&dir)
            .output()
            .expect("git merge");
        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", Some(&dir)).expect("diff");
        let readme = file(&diff, "README.md");
        assert_eq!(readme.status, 'U');
        assert!(readme.patch.contains("+<<<<<<< HEAD"), "{}", readme.patch);
        assert!(readme.patch.contains("-hello"), "{}", readme.patch);
        assert_eq!((readme.added, readme.removed), (5, 1));
    }

    #[test]
    fn a_branch_with_a_path_that_is_not_utf8_is_diffed_whole() {
        use std::os::unix::ffi::OsStrExt;
        let (tmp, repo) = fixture();
        let dir = worktree(&tmp, &repo, "x");
        let odd = std::ffi::OsStr::from_bytes(b"non\xffutf.txt");
        fs::write(dir.join(odd), "odd\n").expect("odd");
        write(&dir, "plain.txt", "plain\n");
        commit_all(&dir, "work");
        fs::remove_dir_all(&dir).expect("remove the worktree");
        let ours = Repo::discover(tmp.path()).expect("discover");
        let diff = ours.task_diff("x", "main", None).expect("diff");
        assert_eq!(diff.files.len(), 2, "{:?}", statuses(&diff));
    }
}
