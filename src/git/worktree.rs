//! Per-task worktrees: `<repo>/.orch/worktrees/<task>` on branch `orch/<task>`.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{BranchType, ErrorClass, ErrorCode, Repository, WorktreeLockStatus};

use super::error::{git_err, io_err};
use super::filters;
use super::{canonical, count_changes, GitError, Repo, BRANCH_PREFIX};

/// A worktree ready for a task's agent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Worktree {
    pub path: PathBuf,
    /// `orch/<task>`.
    pub branch: String,
    /// `true` when this call created the worktree, `false` when it reused one.
    pub created: bool,
    /// Sentences for people on what was done besides the checkout: a branch
    /// kept under a backup name, leftovers committed, included files copied.
    pub notes: Vec<String>,
    /// [`super::StartMode::Resolve`]: the files left with conflict markers
    /// (empty: the base merged cleanly and the merge was committed).
    pub conflicts: Vec<String>,
}

/// One of orch's worktrees, as found by [`Repo::list_worktrees`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeInfo {
    pub task_id: String,
    pub path: PathBuf,
    /// `orch/<task>`.
    pub branch: String,
    /// Hex id of the commit the branch points at (empty if it has none).
    pub head: String,
    /// Whether the worktree has uncommitted changes or untracked files.
    pub dirty: bool,
}

/// What orch's store knows about a task's worktree; it decides what
/// [`Repo::prepare_worktree`] may do with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Not recorded: a worktree found there is reused only if clean.
    No,
    /// Recorded as being made, and no agent has run in it since: it holds
    /// nothing but what orch checked out. A half-made one (a run killed
    /// during the checkout) is made again; a complete one is reused if
    /// clean.
    Creating,
    /// Made by orch and handed to agents: reused as is, dirty or not.
    Ready,
    /// Recorded, then removed by `orch worktree cleanup`: the branch is
    /// orch's own and is reused if it exists.
    Removed,
}

/// What sits at a worktree path.
pub(super) enum Found {
    Nothing,
    /// A worktree of this repository on the task's branch, opened.
    Ours(Repository),
    /// Anything else, described for [`GitError::ForeignPath`].
    Foreign(String),
}

/// Where a branch is checked out, from [`Repo::checkout_of`].
pub(super) enum Checkout {
    /// In the main worktree, at its root.
    Main(PathBuf),
    /// In a linked worktree at this path.
    Linked(PathBuf),
    /// In a locked linked worktree whose directory is missing.
    LockedMissing { name: String, path: PathBuf },
}

impl Repo {
    /// orch's worktrees (those on an `orch/*` branch whose directory
    /// exists), sorted by task id.
    pub fn list_worktrees(&self) -> Result<Vec<WorktreeInfo>, GitError> {
        let repo = self.open()?;
        let names = repo
            .worktrees()
            .map_err(git_err("listing the repository's worktrees"))?;
        let mut found = Vec::new();
        for name in names.iter().flatten().flatten() {
            let worktree = match repo.find_worktree(name) {
                Ok(worktree) => worktree,
                Err(e) => {
                    tracing::debug!(name, error = %e, "skipping unreadable worktree registration");
                    continue;
                }
            };
            if worktree.validate().is_err() {
                continue;
            }
            let Ok(wt_repo) = Repository::open_from_worktree(&worktree) else {
                continue;
            };
            let Some(refname) = symbolic_head(&wt_repo) else {
                continue;
            };
            let Some(task_id) = refname
                .strip_prefix("refs/heads/")
                .and_then(|branch| branch.strip_prefix(BRANCH_PREFIX))
            else {
                continue;
            };
            let path: PathBuf = worktree.path().components().collect();
            let head = wt_repo
                .refname_to_id(&refname)
                .map(|id| id.to_string())
                .unwrap_or_default();
            let dirty = count_changes(&wt_repo, &path)? > 0;
            found.push(WorktreeInfo {
                task_id: task_id.to_string(),
                branch: format!("{BRANCH_PREFIX}{task_id}"),
                path,
                head,
                dirty,
            });
        }
        found.sort_by(|a, b| a.task_id.cmp(&b.task_id));
        Ok(found)
    }

    /// Deletes the worktree of task `task_id` at `dir` and git's record of
    /// it; the branch `orch/<task_id>` is kept. A dirty worktree is refused
    /// unless `force`; a path holding anything but this task's worktree is
    /// always refused. A missing `dir` is not an error (stale records of it
    /// are pruned).
    pub fn remove_worktree(&self, task_id: &str, dir: &Path, force: bool) -> Result<(), GitError> {
        let branch = branch_name(task_id)?;
        let refname = format!("refs/heads/{branch}");
        let repo = self.open()?;
        let worktree = match self.inspect(dir, &refname)? {
            Found::Foreign(reason) => {
                return Err(GitError::ForeignPath {
                    path: dir.to_path_buf(),
                    reason,
                })
            }
            Found::Nothing => {
                self.prune_stale(&repo, &refname, Some(&worktree_name(task_id)))?;
                return Ok(());
            }
            Found::Ours(worktree) => worktree,
        };
        if !force {
            let changes = count_changes(&worktree, dir)?;
            if changes > 0 {
                return Err(GitError::DirtyWorktree {
                    path: dir.to_path_buf(),
                    changes,
                });
            }
        }
        let ctx = || format!("removing the worktree at {}", dir.display());
        let registration =
            git2::Worktree::open_from_repository(&worktree).map_err(git_err(ctx()))?;
        if !force {
            if let WorktreeLockStatus::Locked(reason) =
                registration.is_locked().map_err(git_err(ctx()))?
            {
                let reason = reason.unwrap_or_default();
                return Err(GitError::msg(
                    ctx(),
                    &format!("the worktree is locked ({reason}); use force"),
                ));
            }
        }
        let name = registration
            .name()
            .ok()
            .flatten()
            .map(str::to_string)
            .ok_or_else(|| GitError::msg(ctx(), "the worktree has no usable name"))?;
        drop(registration);
        drop(worktree);

        // The directory first: if that fails half-way, the registration
        // still marks what is left as orch's.
        fs::remove_dir_all(dir).map_err(io_err(ctx()))?;
        let registration = repo.find_worktree(&name).map_err(git_err(ctx()))?;
        let mut opts = git2::WorktreePruneOptions::new();
        opts.locked(true);
        registration
            .prune(Some(&mut opts))
            .map_err(git_err(format!("pruning the record of worktree {name}")))?;
        tracing::info!(task = task_id, path = %dir.display(), "removed worktree");
        Ok(())
    }

    /// Says what sits at `dir`, touching nothing.
    pub(super) fn inspect(&self, dir: &Path, refname: &str) -> Result<Found, GitError> {
        match fs::symlink_metadata(dir) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Found::Nothing),
            Err(e) => return Err(io_err(format!("inspecting {}", dir.display()))(e)),
        }
        let foreign = |reason: String| Ok(Found::Foreign(reason));
        let meta = match fs::metadata(dir) {
            Ok(meta) => meta,
            Err(_) => return foreign("a dangling symbolic link".into()),
        };
        if !meta.is_dir() {
            return foreign("a file, not a directory".into());
        }
        let repo = match Repository::open(dir) {
            Ok(repo) => repo,
            Err(_) => return foreign(describe_plain_dir(dir)),
        };
        if repo.is_bare() {
            return foreign("a bare git repository".into());
        }
        let same_repo = canonical(repo.commondir()) == self.common_dir;
        if !same_repo {
            let what = if repo.is_worktree() {
                "a worktree of another git repository"
            } else {
                "another git repository"
            };
            return foreign(format!("{what} (git dir {})", repo.commondir().display()));
        }
        if !repo.is_worktree() {
            return foreign("the main worktree of this repository".into());
        }
        match git2::Worktree::open_from_repository(&repo) {
            Ok(registration) => {
                if canonical(registration.path()) != canonical(dir) {
                    return foreign(format!(
                        "a copy of this repository's worktree at {}",
                        registration.path().display()
                    ));
                }
            }
            Err(e) => {
                return foreign(format!(
                    "a worktree of this repository whose registration is broken ({})",
                    e.message()
                ))
            }
        }
        let Some(head) = symbolic_head(&repo) else {
            return foreign("a worktree of this repository with a detached HEAD".into());
        };
        if head != refname {
            let branch = head.strip_prefix("refs/heads/").unwrap_or(&head);
            return foreign(format!("a worktree of this repository on branch {branch}"));
        }
        if repo.refname_to_id(refname).is_err() {
            let branch = refname.strip_prefix("refs/heads/").unwrap_or(refname);
            return foreign(format!(
                "a worktree of this repository on branch {branch}, which no longer exists"
            ));
        }
        Ok(Found::Ours(repo))
    }

    /// Creates the worktree at the missing path `dir`, on `branch`: the
    /// existing branch as it is, or a new one at `start`. On failure, undoes
    /// what this call created.
    pub(super) fn create(
        &self,
        repo: &Repository,
        task_id: &str,
        dir: &Path,
        branch: &str,
        refname: &str,
        start: &git2::Commit<'_>,
    ) -> Result<(), GitError> {
        let ctx = || format!("creating the worktree {} on {branch}", dir.display());
        match self.checkout_of(repo, refname)? {
            None => {}
            Some(Checkout::Main(path) | Checkout::Linked(path)) => {
                return Err(GitError::msg(
                    ctx(),
                    &format!("{branch} is already checked out at {}", path.display()),
                ))
            }
            Some(Checkout::LockedMissing { name, path }) => {
                return Err(GitError::msg(
                    ctx(),
                    &format!(
                        "{branch} is already checked out in the locked worktree {name} at {}, \
                         whose directory is missing (unlock and prune it to free the branch)",
                        path.display()
                    ),
                ))
            }
        }
        let name = self.free_name(repo, task_id)?;

        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(io_err(format!("creating {}", parent.display())))?;
        }

        let (branch_ref, branch_created) = match repo.find_branch(branch, BranchType::Local) {
            Ok(existing) => (existing, false),
            Err(e) if e.code() == ErrorCode::NotFound => {
                let created = repo
                    .branch(branch, start, false)
                    .map_err(git_err(format!("creating branch {branch}")))?;
                (created, true)
            }
            Err(e) => return Err(git_err(format!("looking up branch {branch}"))(e)),
        };
        let admin = self.common_dir.join("worktrees").join(&name);

        let added = self.add_worktree(&admin, dir, refname);
        match added {
            Ok(()) => {
                tracing::info!(
                    task = task_id,
                    path = %dir.display(),
                    branch,
                    new_branch = branch_created,
                    "created worktree"
                );
                Ok(())
            }
            Err(e) => {
                self.undo_create(dir, &admin, branch_created.then_some(branch_ref));
                Err(git_err(ctx())(e))
            }
        }
    }

    /// Best-effort cleanup after a failed worktree add: removes the
    /// registration `admin` (its name was free before), `dir` only if its
    /// `.git` file points at `admin`, and the branch if this call made it.
    fn undo_create(&self, dir: &Path, admin: &Path, new_branch: Option<git2::Branch<'_>>) {
        let admin_canonical = canonical(admin);
        let dir_is_ours = fs::read_to_string(dir.join(".git"))
            .ok()
            .and_then(|text| {
                text.trim()
                    .strip_prefix("gitdir:")
                    .map(|p| PathBuf::from(p.trim()))
            })
            .is_some_and(|gitdir| canonical(&gitdir) == admin_canonical);
        if admin.exists() {
            if let Err(e) = fs::remove_dir_all(admin) {
                tracing::warn!(path = %admin.display(), error = %e, "could not clean up worktree record");
            }
        }
        if dir_is_ours {
            if let Err(e) = fs::remove_dir_all(dir) {
                tracing::warn!(path = %dir.display(), error = %e, "could not clean up partial worktree");
            }
        }
        if let Some(mut branch) = new_branch {
            if let Err(e) = branch.delete() {
                tracing::warn!(error = %e, "could not delete the branch created for a failed worktree");
            }
        }
    }

    /// Where `refname` is checked out: the main worktree, or a registration
    /// whose HEAD is on it. Only HEAD files are read, so this stays cheap
    /// with many worktrees. Records of worktrees whose directory was deleted
    /// by hand would block the branch (for the git CLI too): those are
    /// pruned.
    pub(super) fn checkout_of(
        &self,
        repo: &Repository,
        refname: &str,
    ) -> Result<Option<Checkout>, GitError> {
        self.find_checkout(repo, refname, true)
    }

    /// As [`Repo::checkout_of`] for a branch that is not orch's (the base):
    /// a registration whose directory is gone is the user's (a drive not
    /// mounted, say) and is reported, never pruned.
    pub(super) fn checkout_of_users(
        &self,
        repo: &Repository,
        refname: &str,
    ) -> Result<Option<Checkout>, GitError> {
        self.find_checkout(repo, refname, false)
    }

    fn find_checkout(
        &self,
        repo: &Repository,
        refname: &str,
        prune: bool,
    ) -> Result<Option<Checkout>, GitError> {
        if symbolic_head(repo).as_deref() == Some(refname) {
            return Ok(Some(Checkout::Main(self.root.clone())));
        }
        for name in self.registrations_on(refname, None)? {
            let found = if prune {
                prune_if_stale(repo, &name)?
            } else {
                repo.find_worktree(&name).ok()
            };
            let Some(worktree) = found else {
                continue;
            };
            // Live, or locked with its directory gone (on removable media,
            // say): git counts both as having the branch checked out.
            let path: PathBuf = worktree.path().components().collect();
            return Ok(Some(if worktree.validate().is_ok() {
                Checkout::Linked(path)
            } else {
                Checkout::LockedMissing { name, path }
            }));
        }
        Ok(None)
    }

    /// A rebase or a bisect of `branch` under way in the main worktree or a
    /// linked one (HEAD detached meanwhile): what would break if the
    /// branch moved under it. Said as a sentence.
    pub(super) fn operation_on(&self, branch: &str) -> Option<String> {
        let refname = format!("refs/heads/{branch}");
        let mut admins = vec![(self.common_dir.clone(), self.root.clone())];
        if let Ok(entries) = fs::read_dir(self.common_dir.join("worktrees")) {
            for entry in entries.flatten() {
                let admin = entry.path();
                let path = fs::read_to_string(admin.join("gitdir"))
                    .ok()
                    .and_then(|g| PathBuf::from(g.trim()).parent().map(Path::to_path_buf))
                    .unwrap_or_else(|| admin.clone());
                admins.push((admin, path));
            }
        }
        let says = |file: PathBuf, wanted: &str| {
            fs::read_to_string(file).is_ok_and(|text| text.trim() == wanted)
        };
        for (admin, path) in admins {
            for dir in ["rebase-merge", "rebase-apply"] {
                if says(admin.join(dir).join("head-name"), &refname) {
                    return Some(format!(
                        "a rebase of {branch} is under way at {}",
                        path.display()
                    ));
                }
            }
            if says(admin.join("BISECT_START"), branch) {
                return Some(format!(
                    "a bisect started from {branch} is under way at {}",
                    path.display()
                ));
            }
        }
        None
    }

    /// A registration name for the task's worktree that is not taken,
    /// pruning a stale registration of the preferred name.
    fn free_name(&self, repo: &Repository, task_id: &str) -> Result<String, GitError> {
        let preferred = worktree_name(task_id);
        for n in 0..100 {
            let name = if n == 0 {
                preferred.clone()
            } else {
                format!("{preferred}-{n}")
            };
            match repo.find_worktree(&name) {
                Err(e)
                    if e.code() == ErrorCode::NotFound
                        && !self.common_dir.join("worktrees").join(&name).exists() =>
                {
                    return Ok(name);
                }
                Ok(stale) if stale.is_prunable(None).unwrap_or(false) => {
                    stale
                        .prune(None)
                        .map_err(git_err(format!("pruning stale worktree record {name}")))?;
                    tracing::info!(name, "pruned stale worktree record");
                    return Ok(name);
                }
                _ => {}
            }
        }
        Err(GitError::msg(
            format!("naming the worktree of task {task_id}"),
            "no free worktree name",
        ))
    }

    /// Prunes the records of worktrees whose directory is gone (and that
    /// are not locked) among those on `refname` and the one called `name`.
    fn prune_stale(
        &self,
        repo: &Repository,
        refname: &str,
        name: Option<&str>,
    ) -> Result<(), GitError> {
        for name in self.registrations_on(refname, name)? {
            prune_if_stale(repo, &name)?;
        }
        Ok(())
    }

    /// Names of the worktree registrations (`<common dir>/worktrees/<name>`)
    /// whose HEAD is on `refname`, and `name` if it is one, sorted. Reads
    /// each registration's small HEAD file and opens no repository (libgit2
    /// would open each worktree as one), so it stays cheap with hundreds of
    /// worktrees. Whether an entry is a complete registration is left to
    /// the caller's `find_worktree`.
    fn registrations_on(&self, refname: &str, name: Option<&str>) -> Result<Vec<String>, GitError> {
        let ctx = "listing the repository's worktrees";
        let dir = self.common_dir.join("worktrees");
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(git_err(ctx)(os_error("reading", &dir, &e))),
        };
        // A matching HEAD is `ref: <refname>` and a newline: anything much
        // longer is not one, so a single short read decides.
        let mut buf = vec![0; refname.len() + 64];
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| git_err(ctx)(os_error("reading", &dir, &e)))?;
            let file_name = entry.file_name();
            let Some(entry_name) = file_name.to_str() else {
                continue;
            };
            if Some(entry_name) == name {
                found.push(entry_name.to_string());
                continue;
            }
            let Ok(mut head) = fs::File::open(entry.path().join("HEAD")) else {
                continue;
            };
            let Ok(len) = head.read(&mut buf) else {
                continue;
            };
            if len == buf.len() {
                continue;
            }
            let target = std::str::from_utf8(&buf[..len])
                .ok()
                .and_then(|text| text.trim().strip_prefix("ref:"))
                .map(str::trim);
            if target == Some(refname) {
                found.push(entry_name.to_string());
            }
        }
        found.sort();
        Ok(found)
    }

    /// Registers the worktree `admin` (`<common dir>/worktrees/<name>`,
    /// free) at the missing path `dir` with HEAD on `refname`, and checks
    /// it out: what `git_worktree_add` does, in the same file formats, minus
    /// its check that the branch is not checked out elsewhere (done by the
    /// caller from HEAD files; libgit2 opens every worktree as a repository
    /// for it). Filesystem failures come back as libgit2 OS errors, as they
    /// did from `git_worktree_add`.
    fn add_worktree(&self, admin: &Path, dir: &Path, refname: &str) -> Result<(), git2::Error> {
        let mkdir = |path: &Path| fs::create_dir(path).map_err(|e| os_error("creating", path, &e));
        // Paths go in as their bytes, as libgit2 writes them.
        let write = |path: &Path, parts: &[&[u8]]| {
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .and_then(|mut file| file.write_all(&parts.concat()))
                .map_err(|e| os_error("writing", path, &e))
        };
        let bytes = |path: &Path| path.as_os_str().as_encoded_bytes().to_vec();
        if let Some(worktrees) = admin.parent() {
            match fs::create_dir(worktrees) {
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                    return Err(os_error("creating", worktrees, &e));
                }
                _ => {}
            }
        }
        mkdir(admin)?;
        mkdir(dir)?;
        let workdir = fs::canonicalize(dir).map_err(|e| os_error("resolving", dir, &e))?;
        write(&dir.join(".git"), &[b"gitdir: ", &bytes(admin), b"/\n"])?;
        write(
            &admin.join("commondir"),
            &[&bytes(&self.common_dir), b"/\n"],
        )?;
        write(
            &admin.join("gitdir"),
            &[&bytes(&workdir.join(".git")), b"\n"],
        )?;
        write(&admin.join("HEAD"), &[b"ref: ", refname.as_bytes(), b"\n"])?;

        let worktree = Repository::open(dir)?;
        let mut checkout = CheckoutBuilder::new();
        let tree = worktree.head()?.peel_to_tree()?;
        if filters::cannot_apply(&worktree, &self.common_dir, &tree) {
            checkout.disable_filters(true);
        }
        worktree.checkout_head(Some(&mut checkout))
    }
}

/// The registration `name`, unless it is missing or was stale (its
/// directory gone, not locked) and has just been pruned.
fn prune_if_stale(repo: &Repository, name: &str) -> Result<Option<git2::Worktree>, GitError> {
    let Ok(worktree) = repo.find_worktree(name) else {
        return Ok(None);
    };
    if !worktree.is_prunable(None).unwrap_or(false) {
        return Ok(Some(worktree));
    }
    worktree
        .prune(None)
        .map_err(git_err(format!("pruning stale worktree record {name}")))?;
    tracing::info!(name, "pruned stale worktree record");
    Ok(None)
}

/// A libgit2 OS-class error for a failed filesystem step.
fn os_error(action: &str, path: &Path, error: &std::io::Error) -> git2::Error {
    git2::Error::new(
        ErrorCode::GenericError,
        ErrorClass::Os,
        format!("{action} '{}': {error}", path.display()),
    )
}

/// `orch/<task_id>`, checked to be a valid branch name.
pub(super) fn branch_name(task_id: &str) -> Result<String, GitError> {
    let branch = format!("{BRANCH_PREFIX}{task_id}");
    if task_id.is_empty() || !git2::Branch::name_is_valid(&branch).unwrap_or(false) {
        return Err(GitError::msg(
            format!("task id {task_id:?}"),
            "not usable in a branch name",
        ));
    }
    Ok(branch)
}

/// The preferred registration name (`.git/worktrees/<name>`) of a task's
/// worktree: `orch-<task>` with anything but `[A-Za-z0-9._-]` as `-`.
pub(super) fn worktree_name(task_id: &str) -> String {
    let sanitized: String = task_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = format!("orch-{sanitized}");
    match name.strip_suffix(".lock") {
        Some(stem) => format!("{stem}-lock"),
        None => name,
    }
}

/// The target of HEAD when it is symbolic (a branch), else `None`.
pub(super) fn symbolic_head(repo: &Repository) -> Option<String> {
    repo.find_reference("HEAD")
        .ok()?
        .symbolic_target()
        .ok()
        .flatten()
        .map(str::to_string)
}

/// Describes a directory that is not a git worktree.
fn describe_plain_dir(dir: &Path) -> String {
    match fs::read_dir(dir).map(|entries| entries.count()) {
        Ok(0) => "an empty directory that is not a git worktree".into(),
        Ok(1) => "a directory with 1 entry that is not a git worktree".into(),
        Ok(n) => format!("a directory with {n} entries that is not a git worktree"),
        Err(_) => "a directory that is not a git worktree".into(),
    }
}
