//! Confining an agent's writes with Landlock (`sandbox = "worktree"`).
//!
//! The engine asks for a sandbox with a [`SandboxRequest`] (plain data: the
//! mode, the agent's `writable` paths, the repository, the branch). Where
//! the agent starts, [`prepare`] turns it into a [`Confine`]: the kernel's
//! Landlock ABI decides the level ([`rules::decide`]), the repository's
//! git layout and the environment give the paths ([`layout`]), and
//! [`rules::rules`] (pure) says which of them may be written. The agent's
//! command then runs through `orch __confine` ([`trampoline`]), which
//! restricts itself ([`kernel::restrict`], no_new_privs set) and execs the
//! agent: the pid, session and terminal are the agent's as before, and
//! everything it starts inherits the restriction.
//!
//! Reading and executing stay allowed everywhere; writing (every write
//! right of the ABI) only beneath the task's worktree, its git
//! registration, the shared object store, its own branch's ref directory
//! and reflog, the temp directory, `/dev/shm`, the agent's `writable`
//! paths and the terminal devices. What stays exposed, and why, is in
//! `docs/ARCHITECTURE.md`.

pub mod kernel;
pub mod layout;
pub mod rules;
pub mod trampoline;

use std::fmt;
use std::path::{Path, PathBuf};

use crate::config::SandboxMode;
pub use rules::Support;

/// What the engine asks for one agent: plain data, no file looked at yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRequest {
    /// `Worktree` or `BestEffort` (no request is made for `None`).
    pub mode: SandboxMode,
    /// The agent's `writable` list (`~` expanded, joined to the config's root).
    pub writable: Vec<PathBuf>,
    /// Where the config lives: its repository's checkout and git directory
    /// are what the agent must not write.
    pub repo: PathBuf,
    /// orch's state directory (the database, logs, every worktree).
    pub state_dir: PathBuf,
    /// The task's branch (`orch/TASK`).
    pub branch: String,
}

/// How a granted path may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Everything beneath the directory: create, write, remove, rename.
    Tree,
    /// Regular files directly in or beneath the directory may be created,
    /// written, truncated and removed; no directories, links or devices.
    /// (Git's ref updates: `NAME.lock`, then a rename over `NAME`.)
    Files,
    /// The existing file (or the files beneath the directory) may be
    /// written in place; nothing is created or removed.
    Write,
}

impl Grant {
    /// How the trampoline's command line names it.
    pub fn flag(self) -> &'static str {
        match self {
            Grant::Tree => "--tree",
            Grant::Files => "--files",
            Grant::Write => "--write",
        }
    }
}

/// One path and what may be written there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathBuf,
    pub grant: Grant,
}

impl Rule {
    pub fn new(path: impl Into<PathBuf>, grant: Grant) -> Rule {
        Rule {
            path: path.into(),
            grant,
        }
    }
}

/// A ruleset for one agent: the Landlock ABI whose write rights are
/// handled (all denied but where a rule grants them), and the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confine {
    pub abi: u8,
    pub rules: Vec<Rule>,
}

/// The confinement an attempt's agent actually got, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// No sandbox was asked for.
    None,
    /// Every write right is confined.
    Worktree,
    /// Confined by an older ABI that cannot enforce everything (before
    /// ABI 3 `truncate(2)` is not confined).
    Partial(u8),
    /// `best-effort` on a kernel without Landlock: not confined.
    Unavailable,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::None => f.write_str("none"),
            Level::Worktree => f.write_str("worktree"),
            Level::Partial(abi) => write!(f, "partial (ABI {abi})"),
            Level::Unavailable => f.write_str("unavailable"),
        }
    }
}

/// What the agent's spawn needs: the ruleset (if any), the level to
/// record, environment to add, and notes for the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub confine: Option<Confine>,
    pub level: Level,
    pub env: Vec<(String, String)>,
    pub notes: Vec<String>,
}

impl Prepared {
    fn unconfined(level: Level) -> Prepared {
        Prepared {
            confine: None,
            level,
            env: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Get the sandbox of an agent about to start in `worktree` with the
/// extra environment `env` ready: the error is why it must not start.
pub fn prepare(
    request: Option<&SandboxRequest>,
    worktree: &Path,
    env: &[(String, String)],
) -> Result<Prepared, String> {
    let Some(request) = request.filter(|r| r.mode != SandboxMode::None) else {
        return Ok(Prepared::unconfined(Level::None));
    };
    let support = kernel::support();
    let (abi, level) = match rules::decide(request.mode, &support) {
        rules::Decision::Refuse(cause) => return Err(cause),
        rules::Decision::Unconfined(level) => {
            let mut unconfined = Prepared::unconfined(level);
            if let rules::Support::Unavailable(why) = support {
                unconfined.notes.push(format!("not confined: {why}"));
            }
            return Ok(unconfined);
        }
        rules::Decision::Confine { abi, level } => (abi, level),
    };
    match confined(request, worktree, env, abi, level) {
        // `best-effort` runs the agent unconfined where no sound ruleset
        // exists here (the temp directory holds the checkout, say), and
        // says why; `worktree` does not start it.
        Err(cause) if request.mode == SandboxMode::BestEffort => {
            let mut unconfined = Prepared::unconfined(Level::Unavailable);
            unconfined.notes.push(format!("not confined: {cause}"));
            Ok(unconfined)
        }
        other => other,
    }
}

fn confined(
    request: &SandboxRequest,
    worktree: &Path,
    env: &[(String, String)],
    abi: u8,
    level: Level,
) -> Result<Prepared, String> {
    let (mut found, mut notes) = layout::discover(request, worktree, env)?;
    if request.mode == SandboxMode::BestEffort {
        // Confined all the same, without what cannot be granted soundly.
        notes.extend(drop_unsound(
            &found.repo,
            &mut found.scratch,
            &mut found.writable,
        ));
    }
    if let Level::Partial(abi) = level {
        notes.push(format!(
            "confined as far as Landlock ABI {abi} goes: truncate(2) is not confined before \
             ABI {}",
            rules::FULL_ABI
        ));
    }
    let rules = rules::rules(&found)?;
    layout::make_ref_paths(&found)?;
    Ok(Prepared {
        confine: Some(Confine { abi, rules }),
        level,
        env: layout::git_env(env),
        notes,
    })
}

/// Remove the extras that would expose the checkout, the git directory or
/// orch's state; a note for each.
fn drop_unsound(
    repo: &rules::Protected,
    scratch: &mut Vec<rules::Extra>,
    writable: &mut Vec<rules::Extra>,
) -> Vec<String> {
    let mut notes = Vec::new();
    scratch.retain(
        |e| match rules::check_extras(repo, std::slice::from_ref(e), &[]) {
            Ok(()) => true,
            Err(why) => {
                notes.push(format!("not granted: {why}"));
                false
            }
        },
    );
    writable.retain(
        |e| match rules::check_extras(repo, &[], std::slice::from_ref(e)) {
            Ok(()) => true,
            Err(why) => {
                notes.push(format!("not granted: {why}"));
                false
            }
        },
    );
    notes
}

/// What `orch check` says of an agent's sandbox here, before any worktree
/// exists: the level its agents would get, the ABI, and notes; the error
/// is why its agents would not start.
pub fn check(
    request: &SandboxRequest,
    env: &[(String, String)],
) -> Result<(Level, Support, Vec<String>), String> {
    let support = kernel::support();
    let level = match rules::decide(request.mode, &support) {
        rules::Decision::Refuse(cause) => return Err(cause),
        rules::Decision::Unconfined(level) => return Ok((level, support, Vec::new())),
        rules::Decision::Confine { level, .. } => level,
    };
    let sound = layout::protected(&request.repo, &request.state_dir).and_then(|repo| {
        let (mut scratch, mut writable, mut notes) = layout::extras(&request.writable, env);
        if request.mode == SandboxMode::BestEffort {
            notes.extend(drop_unsound(&repo, &mut scratch, &mut writable));
        }
        rules::check_extras(&repo, &scratch, &writable).map(|()| notes)
    });
    match sound {
        Ok(notes) => Ok((level, support, notes)),
        Err(cause) if request.mode == SandboxMode::BestEffort => Ok((
            Level::Unavailable,
            support,
            vec![format!("not confined: {cause}")],
        )),
        Err(cause) => Err(cause),
    }
}
