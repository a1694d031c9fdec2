//! `orch worktree cleanup [--dry-run] [--force] [TASK...]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{open_records, ReadError, Records};
use crate::engine::TaskState;
use crate::git::{Repo, WorktreeInfo, BRANCH_PREFIX};
use crate::session::{self, Session, SetupError};
use crate::store::{EventRow, MergeState, Store, StoreError, TaskRow, WorktreeRow};
use crate::timefmt::now_ms;

/// What cleanup does with one task.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Remove the worktree (and its logs), then see to the branch;
    /// `force` loses uncommitted changes.
    Remove {
        worktree: WorktreeInfo,
        branch: Branch,
        force: bool,
    },
    /// No worktree; delete the branch if it is in the base branch.
    DeleteBranch,
    /// Leave it; `refused` when the user named it (so the command fails).
    Keep { reason: String, refused: bool },
}

/// What becomes of a removed worktree's branch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Branch {
    /// A merged task's: deleted when its tip is in the base branch.
    DeleteIfMerged,
    /// Kept, and why.
    Keep(&'static str),
}

/// How a task stands for cleanup: its store row (if any), whether its
/// worktree there is the one the store recorded, and whether it was named.
struct Candidate<'a> {
    task: &'a str,
    worktree: Option<&'a WorktreeInfo>,
    row: Option<&'a TaskRow>,
    recorded: bool,
    named: bool,
    force: bool,
}

/// Finished with: merged, cancelled, or marked done by a user.
fn finished(row: &TaskRow) -> bool {
    row.merge_state == MergeState::Merged || row.state == TaskState::Cancelled || row.skipped
}

/// Why a task's worktree is not removed unless named.
fn not_finished(row: Option<&TaskRow>) -> String {
    let Some(row) = row else {
        return "state.db has no record of this task".to_string();
    };
    if row.state != TaskState::Done {
        return format!("the task is {}: its work is not finished", row.state);
    }
    match row.merge_state {
        MergeState::Never => {
            "done with merge = \"never\": its branch is the result (name it to remove the worktree anyway)".to_string()
        }
        MergeState::Conflict => {
            "done, but its merge conflicts: a resolve attempt works in this worktree".to_string()
        }
        MergeState::Waiting => "done, and its merge is waiting".to_string(),
        MergeState::AwaitingApproval => "done, and its merge awaits approval".to_string(),
        MergeState::Unmerged | MergeState::Merged => {
            "done but not merged (merge it first, or name it to remove the worktree anyway)".to_string()
        }
    }
}

fn decide(c: &Candidate<'_>) -> Action {
    let keep = |reason: String, refused: bool| Action::Keep { reason, refused };
    let Some(worktree) = c.worktree else {
        return match c.row {
            Some(row) if row.merge_state == MergeState::Merged => Action::DeleteBranch,
            _ if c.named => keep("it has no worktree".into(), true),
            _ => keep(
                format!(
                    "its branch {BRANCH_PREFIX}{} holds work not merged (no worktree)",
                    c.task
                ),
                false,
            ),
        };
    };
    if c.row.is_some_and(|r| r.state == TaskState::Running) && !(c.named && c.force) {
        return keep(
            "the store says it is running (an orch that was killed?); name it with --force".into(),
            true,
        );
    }
    if !c.named {
        if !c.recorded {
            return keep(
                "state.db has no record of this worktree (name it to remove it)".into(),
                false,
            );
        }
        if !c.row.is_some_and(finished) {
            return keep(not_finished(c.row), false);
        }
    }
    if worktree.dirty && !(c.named && c.force) {
        let hint = if c.named {
            "commit or discard them, or add --force to lose them"
        } else {
            "commit or discard them, or name the task with --force to lose them"
        };
        return keep(format!("it has uncommitted changes: {hint}"), c.named);
    }
    let branch = match c.row {
        Some(row) if row.merge_state == MergeState::Merged => Branch::DeleteIfMerged,
        Some(row) if row.merge_state == MergeState::Never => {
            Branch::Keep("it is the task's result")
        }
        _ => Branch::Keep("its work is not merged"),
    };
    Action::Remove {
        worktree: worktree.clone(),
        branch,
        force: c.named && c.force,
    }
}

/// What cleanup works on: a locked session, or for `--dry-run` the same
/// things opened read-only (nothing is written, the lock is not taken).
struct Target {
    repo: Repo,
    base_branch: String,
    state_dir: PathBuf,
    store: Option<Store>,
    /// Held while cleaning up; `None` for a dry run.
    session: Option<Session>,
}

impl Target {
    fn open(config: crate::config::Config, dry_run: bool) -> Result<Target, SetupError> {
        if !dry_run {
            let unset = config.project.base_branch.is_none();
            let session = Session::open(config)?;
            // Merged into the base the run used, not whatever is checked out.
            let base_branch = unset
                .then(|| crate::cli::last_run_base(&session.state_dir, &session.repo))
                .flatten()
                .unwrap_or_else(|| session.base_branch.clone());
            return Ok(Target {
                repo: session.repo.clone(),
                base_branch,
                state_dir: session.state_dir.clone(),
                store: None,
                session: Some(session),
            });
        }
        let repo = Repo::discover(&config.root)?;
        let state_dir = session::absolute(&config.root.join(&config.project.state_dir));
        let base_branch = match &config.project.base_branch {
            Some(branch) => branch.clone(),
            None => match crate::cli::last_run_base(&state_dir, &repo) {
                Some(branch) => branch,
                None => repo.current_branch()?,
            },
        };
        if let Some(pid) = session::lock_holder(&state_dir) {
            return Err(SetupError::Locked {
                state_dir,
                pid: Some(pid),
            });
        }
        let store = open_records(&state_dir)?;
        Ok(Target {
            repo,
            base_branch,
            state_dir,
            store,
            session: None,
        })
    }

    fn store(&self) -> Option<&Store> {
        match &self.session {
            Some(session) => Some(&session.store),
            None => self.store.as_ref(),
        }
    }
}

/// Remove the worktrees of finished tasks (merged, cancelled or skipped),
/// or of the named ones, with their logs; delete the branches of merged
/// tasks that are in the base branch; say of every other task what is
/// kept and why. A dirty worktree is kept unless named with `force`. Needs
/// no orch running on this state directory (its lock is taken). With
/// `dry_run`, says what it would do and changes nothing.
pub fn cleanup(config_path: &Path, tasks: &[String], force: bool, dry_run: bool) -> i32 {
    let config = match session::load_config(config_path) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return err.exit_code();
        }
    };
    let mut target = match Target::open(config, dry_run) {
        Ok(target) => target,
        Err(err) => {
            eprintln!("orch: {err}");
            return err.exit_code();
        }
    };
    let plan = match plan(&target, tasks, force) {
        Ok(plan) => plan,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let mut code = 0;
    let mut changed = 0;
    for (task, action) in &plan {
        match carry_out(&mut target, task, action, dry_run) {
            Ok(Done::Changed(line)) => {
                changed += 1;
                println!("{line}");
            }
            Ok(Done::Kept(line)) => println!("{line}"),
            Ok(Done::Refused(line)) => {
                code = 1;
                eprintln!("orch: {line}");
            }
            Err(line) => {
                code = 1;
                eprintln!("orch: {line}");
            }
        }
    }
    if changed == 0 && code == 0 {
        println!("nothing to clean up");
    }
    code
}

/// Each task with a worktree or a recorded orch branch (or each named
/// task), and what to do with it, by task id.
fn plan(
    target: &Target,
    named: &[String],
    force: bool,
) -> Result<BTreeMap<String, Action>, ReadError> {
    let records = Records {
        store: target.store(),
    };
    let worktrees = target.repo.list_worktrees()?;
    let mut tasks: Vec<String> = worktrees.iter().map(|w| w.task_id.clone()).collect();
    for branch in target.repo.orch_branches()? {
        let task = branch.strip_prefix(BRANCH_PREFIX).unwrap_or(&branch);
        // A branch with neither worktree nor record is a leftover:
        // `orch worktree list` shows it; cleanup leaves it alone.
        if records.has_branch(task)? {
            tasks.push(task.to_string());
        }
    }
    if !named.is_empty() {
        tasks = named.to_vec();
    }
    let mut plan = BTreeMap::new();
    for task in tasks {
        let worktree = worktrees.iter().find(|w| w.task_id == task);
        let row = records.task(&task)?;
        let recorded = match worktree {
            Some(w) => records.has_worktree(w)?,
            None => false,
        };
        let action = decide(&Candidate {
            task: &task,
            worktree,
            row: row.as_ref(),
            recorded,
            named: named.contains(&task),
            force,
        });
        plan.insert(task, action);
    }
    Ok(plan)
}

/// A line for the user about one task.
enum Done {
    /// Something was (or would be) removed or deleted.
    Changed(String),
    /// Left as it is, by the rules.
    Kept(String),
    /// The user asked for it and it was not done.
    Refused(String),
}

fn carry_out(
    target: &mut Target,
    task: &str,
    action: &Action,
    dry_run: bool,
) -> Result<Done, String> {
    let would = |now: &str, then: &str| {
        if dry_run {
            then.to_string()
        } else {
            now.to_string()
        }
    };
    let branch = format!("{BRANCH_PREFIX}{task}");
    match action {
        Action::Keep {
            reason,
            refused: true,
        } => Ok(Done::Refused(format!("kept {task}: {reason}"))),
        Action::Keep { reason, .. } => Ok(Done::Kept(format!(
            "{} {task}: {reason}",
            would("kept", "would keep")
        ))),
        Action::DeleteBranch => {
            match branch_step(target, task, &Branch::DeleteIfMerged, dry_run)? {
                (note, true) => Ok(Done::Changed(format!("{task}: {note}"))),
                (note, false) => Ok(Done::Kept(format!(
                    "{} {task}: {note}",
                    would("kept", "would keep")
                ))),
            }
        }
        Action::Remove {
            worktree,
            branch: after,
            force,
        } => {
            let logs = target.state_dir.join("logs").join(task);
            if dry_run {
                let count = attempt_logs(&logs).map(|l| l.len()).unwrap_or(0);
                let (note, _) = branch_step(target, task, after, true)?;
                return Ok(Done::Changed(format!(
                    "would remove {task}: worktree {}; {note}{}",
                    worktree.path.display(),
                    logs_note(count, &logs, "would be removed")
                )));
            }
            target
                .repo
                .remove_worktree(task, &worktree.path, *force)
                .map_err(|err| format!("kept {task}: {err}"))?;
            let logs_note = match prune_logs(&logs) {
                Ok(count) => logs_note(count, &logs, "removed"),
                Err(err) => {
                    eprintln!("orch: kept the logs of {task}: {err}");
                    String::new()
                }
            };
            let (note, _) = branch_step(target, task, after, false)?;
            if let Some(session) = target.session.as_mut() {
                let recorded =
                    record_removal(&mut session.store, task, &worktree.path, &branch, &note);
                crate::log_err(recorded, "recording a removed worktree");
            }
            Ok(Done::Changed(format!(
                "removed {task}: worktree {}; {note}{logs_note}",
                worktree.path.display()
            )))
        }
    }
}

/// See to a task's branch after (or instead of) removing its worktree: a
/// sentence saying what became of it, and whether it was (or would be)
/// deleted.
fn branch_step(
    target: &mut Target,
    task: &str,
    after: &Branch,
    dry_run: bool,
) -> Result<(String, bool), String> {
    let branch = format!("{BRANCH_PREFIX}{task}");
    let base = target.base_branch.clone();
    let reason = match after {
        Branch::Keep(reason) => return Ok((format!("branch {branch} kept: {reason}"), false)),
        Branch::DeleteIfMerged if dry_run => target.repo.branch_merged(task, &base),
        Branch::DeleteIfMerged => target.repo.delete_branch_if_merged(task, &base),
    };
    let merged = reason.map_err(|err| format!("kept branch {branch}: {err}"))?;
    let exists = merged
        || target
            .repo
            .branch_tip(&branch)
            .map_err(|e| e.to_string())?
            .is_some();
    let note = match (merged, dry_run, exists) {
        (true, false, _) => format!("branch {branch} deleted (it is in {base})"),
        (true, true, _) => format!("branch {branch} would be deleted (it is in {base})"),
        (false, _, true) => format!("branch {branch} kept: not all of it is in {base}"),
        (false, _, false) => format!("no branch {branch} left"),
    };
    if merged && !dry_run {
        if let Some(session) = target.session.as_mut() {
            let recorded = record_event(&mut session.store, task, "branch_deleted", &note);
            crate::log_err(recorded, "recording a deleted branch");
        }
    }
    Ok((note, merged))
}

fn logs_note(count: usize, dir: &Path, done: &str) -> String {
    match count {
        0 => String::new(),
        n => format!("; {n} log file(s) in {} {done}", dir.display()),
    }
}

/// A task's attempt logs (`N.log` and rotated `N.log.1`) in `dir`. Only
/// those files: a task id with a slash keeps its logs in a folder under
/// another task's.
fn attempt_logs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let attempt = name
            .strip_suffix(".log")
            .or_else(|| name.strip_suffix(".log.1"));
        if attempt.is_some_and(|n| n.parse::<u32>().is_ok()) && entry.file_type()?.is_file() {
            logs.push(entry.path());
        }
    }
    Ok(logs)
}

/// Deletes a task's attempt logs in `dir`, then `dir` if that left it
/// empty.
fn prune_logs(dir: &Path) -> std::io::Result<usize> {
    let logs = attempt_logs(dir)?;
    for log in &logs {
        std::fs::remove_file(log)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::NotFound
            ) =>
        {
            Err(e)
        }
        _ => Ok(logs.len()),
    }
}

fn record_removal(
    store: &mut Store,
    task: &str,
    path: &Path,
    branch: &str,
    branch_note: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    let created_at = store.worktree(task)?.map_or(now, |w| w.created_at);
    let mut batch = store.batch()?;
    batch.worktree(&WorktreeRow {
        removed_at: Some(now),
        ..WorktreeRow::ready(task, &path.display().to_string(), branch, created_at)
    })?;
    batch.event(&event(
        task,
        "worktree_removed",
        format!("{} removed; {branch_note}", path.display()),
        now,
    ))?;
    batch.commit()
}

fn record_event(store: &mut Store, task: &str, kind: &str, cause: &str) -> Result<(), StoreError> {
    let mut batch = store.batch()?;
    batch.event(&event(task, kind, cause.to_string(), now_ms()))?;
    batch.commit()
}

fn event(task: &str, kind: &str, cause: String, at: i64) -> EventRow {
    EventRow {
        seq: 0,
        at,
        run_id: None,
        task_id: Some(task.to_string()),
        attempt: None,
        kind: kind.into(),
        from_state: None,
        to_state: None,
        cause: Some(cause),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worktree(task: &str, dirty: bool) -> WorktreeInfo {
        WorktreeInfo {
            task_id: task.into(),
            path: PathBuf::from(format!("/r/.orch/worktrees/{task}")),
            branch: format!("orch/{task}"),
            head: "abc".into(),
            dirty,
        }
    }

    fn row(state: TaskState, merge_state: MergeState) -> TaskRow {
        TaskRow {
            state,
            merge_state,
            ..TaskRow::pending("t", "t", "sh", 0)
        }
    }

    fn decide_for(
        w: Option<&WorktreeInfo>,
        row: Option<&TaskRow>,
        named: bool,
        force: bool,
    ) -> Action {
        decide(&Candidate {
            task: "t",
            worktree: w,
            row,
            recorded: true,
            named,
            force,
        })
    }

    fn kept(action: &Action) -> Option<(&str, bool)> {
        match action {
            Action::Keep { reason, refused } => Some((reason.as_str(), *refused)),
            _ => None,
        }
    }

    #[test]
    fn only_finished_work_goes_by_default() {
        let clean = worktree("t", false);
        let merged = row(TaskState::Done, MergeState::Merged);
        assert_eq!(
            decide_for(Some(&clean), Some(&merged), false, false),
            Action::Remove {
                worktree: clean.clone(),
                branch: Branch::DeleteIfMerged,
                force: false
            }
        );
        let cancelled = row(TaskState::Cancelled, MergeState::Unmerged);
        assert_eq!(
            decide_for(Some(&clean), Some(&cancelled), false, false),
            Action::Remove {
                worktree: clean.clone(),
                branch: Branch::Keep("its work is not merged"),
                force: false
            }
        );
        let skipped = TaskRow {
            skipped: true,
            ..row(TaskState::Done, MergeState::Never)
        };
        assert_eq!(
            decide_for(Some(&clean), Some(&skipped), false, false),
            Action::Remove {
                worktree: clean.clone(),
                branch: Branch::Keep("it is the task's result"),
                force: false
            }
        );
        for (state, merge, why) in [
            (TaskState::Done, MergeState::Unmerged, "done but not merged"),
            (
                TaskState::Done,
                MergeState::Conflict,
                "done, but its merge conflicts",
            ),
            (
                TaskState::Done,
                MergeState::Waiting,
                "done, and its merge is waiting",
            ),
            (
                TaskState::Done,
                MergeState::Never,
                "done with merge = \"never\"",
            ),
            (
                TaskState::NeedsReview,
                MergeState::Unmerged,
                "the task is needs_review",
            ),
        ] {
            let action = decide_for(Some(&clean), Some(&row(state, merge)), false, false);
            let (reason, refused) = kept(&action).unwrap_or_else(|| panic!("{action:?}"));
            assert!(reason.starts_with(why), "{reason}");
            assert!(!refused);
        }
        // Named: removed whatever its state, the branch kept.
        let done = row(TaskState::Done, MergeState::Unmerged);
        assert!(matches!(
            decide_for(Some(&clean), Some(&done), true, false),
            Action::Remove { .. }
        ));
    }

    #[test]
    fn dirty_and_running_worktrees_need_a_name_and_force() {
        let dirty = worktree("t", true);
        let merged = row(TaskState::Done, MergeState::Merged);
        let action = decide_for(Some(&dirty), Some(&merged), false, true);
        assert_eq!(
            kept(&action).map(|(_, refused)| refused),
            Some(false),
            "{action:?}"
        );
        let action = decide_for(Some(&dirty), Some(&merged), true, false);
        assert_eq!(
            kept(&action).map(|(_, refused)| refused),
            Some(true),
            "{action:?}"
        );
        assert!(matches!(
            decide_for(Some(&dirty), Some(&merged), true, true),
            Action::Remove { force: true, .. }
        ));
        let running = row(TaskState::Running, MergeState::Merged);
        let clean = worktree("t", false);
        let action = decide_for(Some(&clean), Some(&running), true, false);
        assert!(kept(&action).is_some_and(|(r, refused)| refused && r.contains("running")));
        assert!(matches!(
            decide_for(Some(&clean), Some(&running), true, true),
            Action::Remove { .. }
        ));
    }

    #[test]
    fn without_a_worktree_only_a_merged_branch_is_seen_to() {
        let merged = row(TaskState::Done, MergeState::Merged);
        assert_eq!(
            decide_for(None, Some(&merged), false, false),
            Action::DeleteBranch
        );
        let cancelled = row(TaskState::Cancelled, MergeState::Unmerged);
        let action = decide_for(None, Some(&cancelled), false, false);
        assert_eq!(
            kept(&action),
            Some((
                "its branch orch/t holds work not merged (no worktree)",
                false
            ))
        );
        let action = decide_for(None, None, true, false);
        assert_eq!(kept(&action), Some(("it has no worktree", true)));
    }
}
