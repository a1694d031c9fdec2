//! `orch worktree list`: orch's worktrees with their tasks' states, then
//! what `state.db` has no record of.

use std::path::Path;

use serde::Serialize;

use super::{open_records, ReadError, Records};
use crate::engine::TaskState;
use crate::git::{Repo, BRANCH_PREFIX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    /// A worktree on an `orch/*` branch.
    Worktree,
    /// An `orch/*` branch with no worktree (listed only as a leftover).
    Branch,
    /// An `orch-backup/*` branch orch kept when it found it in its way.
    Backup,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Worktree => "worktree",
            Kind::Branch => "branch",
            Kind::Backup => "backup",
        }
    }
}

#[derive(Serialize)]
struct Listed {
    kind: Kind,
    /// The task an `orch/<task>` branch or worktree is for; `None` for a
    /// backup.
    task: Option<String>,
    state: Option<TaskState>,
    branch: String,
    path: Option<String>,
    head: String,
    dirty: Option<bool>,
    /// `state.db` has no record of it: left by a run with another state
    /// directory, or made by hand. orch never builds on it.
    leftover: bool,
}

pub fn list(config_path: &Path, json: bool) -> i32 {
    let (_, repo, state_dir) = match crate::cli::config_and_repo(config_path) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let store = match open_records(&state_dir) {
        Ok(store) => store,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    let records = Records {
        store: store.as_ref(),
    };
    let listed = match collect(&repo, &records) {
        Ok(listed) => listed,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    if json {
        match serde_json::to_string_pretty(&listed) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("orch: {err}");
                return 1;
            }
        }
        return 0;
    }
    print!("{}", list_text(&listed));
    0
}

/// orch's worktrees with their tasks' states, then the leftovers: worktrees
/// and `orch/*` branches the store has no record of, and backup branches.
fn collect(repo: &Repo, records: &Records<'_>) -> Result<Vec<Listed>, ReadError> {
    let worktrees = repo.list_worktrees()?;
    let mut listed = Vec::new();
    for w in &worktrees {
        listed.push(Listed {
            kind: Kind::Worktree,
            task: Some(w.task_id.clone()),
            state: records.task(&w.task_id)?.map(|t| t.state),
            branch: w.branch.clone(),
            path: Some(w.path.display().to_string()),
            head: short(&w.head),
            dirty: Some(w.dirty),
            leftover: !records.has_worktree(w)?,
        });
    }
    for branch in repo.orch_branches()? {
        if worktrees.iter().any(|w| w.branch == branch) {
            continue;
        }
        let task = branch.strip_prefix(BRANCH_PREFIX).unwrap_or(&branch);
        if records.has_branch(task)? {
            continue;
        }
        listed.push(Listed {
            kind: Kind::Branch,
            task: Some(task.to_string()),
            state: records.task(task)?.map(|t| t.state),
            head: short(&repo.branch_tip(&branch)?.unwrap_or_default()),
            branch,
            path: None,
            dirty: None,
            leftover: true,
        });
    }
    for branch in repo.backup_branches()? {
        listed.push(Listed {
            kind: Kind::Backup,
            task: None,
            state: None,
            head: short(&repo.branch_tip(&branch)?.unwrap_or_default()),
            branch,
            path: None,
            dirty: None,
            leftover: true,
        });
    }
    Ok(listed)
}

fn short(id: &str) -> String {
    id.chars().take(12).collect()
}

fn list_text(listed: &[Listed]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let (leftovers, ours): (Vec<&Listed>, Vec<&Listed>) = listed.iter().partition(|l| l.leftover);
    if ours.is_empty() {
        out.push_str("no task worktrees\n");
    } else {
        let w = ours
            .iter()
            .filter_map(|l| l.task.as_ref().map(String::len))
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:<w$}  {:<17}  {:<12}  {:<5}  path",
            "task", "state", "head", "dirty"
        );
        for l in ours {
            let _ = writeln!(
                out,
                "{:<w$}  {:<17}  {:<12}  {:<5}  {}",
                l.task.as_deref().unwrap_or("-"),
                l.state.map_or("-", TaskState::as_str),
                l.head,
                if l.dirty == Some(true) { "yes" } else { "no" },
                l.path.as_deref().unwrap_or("")
            );
        }
    }
    if leftovers.is_empty() {
        return out;
    }
    out.push_str(
        "\nleftovers state.db has no record of (orch never builds on them; remove them with git when done):\n",
    );
    let w = leftovers.iter().map(|l| l.branch.len()).max().unwrap_or(6);
    for l in leftovers {
        let what = match (l.kind, &l.path) {
            (Kind::Worktree, Some(path)) => {
                let dirty = if l.dirty == Some(true) { ", dirty" } else { "" };
                format!("at {path}{dirty}")
            }
            (Kind::Backup, _) => "kept by orch under a backup name".to_string(),
            _ => "no worktree".to_string(),
        };
        let line = format!(
            "  {:<8}  {:<w$}  {:<12}  {what}",
            l.kind.as_str(),
            l.branch,
            l.head
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
