//! orch as its agents' child subreaper (DESIGN section 7: "whole process
//! trees").
//!
//! An agent's process that double-forks, or calls `setsid` and has its
//! parent exit, is reparented to the nearest subreaper instead of init: the
//! server and a foreground `--no-tui` run make themselves one
//! ([`become_subreaper`]), so such orphans stay orch's descendants. That
//! keeps them identifiable (`control::identity` walks a client's ancestry
//! up to orch) and stoppable: when an attempt ends, its orphans (found by
//! the `ORCH_TOKEN`, or `ORCH_TASK_ID` and `ORCH_ATTEMPT`, they were
//! started with) are stopped with its other leftovers ([`orphans_of`]).
//!
//! Orphans that exit become orch's zombies, and nobody else waits for them:
//! [`reap_orphans`] does, woken by SIGCHLD. It must never reap a child that
//! someone in orch waits for, or that owner's wait fails (and an agent
//! leader's pid could be reused while its group is still being stopped).
//! So it skips
//! - the pids registered here as [`Owner`]s: agent leaders (the PTY layer's
//!   `Leader` reaps them) and helpers (`ops::process`: hooks and pushes, in
//!   sessions of their own);
//! - any child in orch's own session: everything started with std's or
//!   tokio's `Command` without a session of its own (git, pagers);
//! - and a zombie not seen as one in two scans at least [`SEEN_APART`]
//!   apart with the same start time, so an owner that registers its child
//!   just after the fork, or is about to reap it, is never raced.

use std::collections::HashMap;
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::agent::proc_tree::{self, ProcHandle};

/// How long a zombie must stay one, between two scans, before it is reaped.
pub const SEEN_APART: Duration = Duration::from_secs(1);

/// Who waits for a child of orch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// An agent's session leader (the PTY layer).
    Agent,
    /// A hook or push (`ops::process`).
    Helper,
}

static OWNED: Mutex<Option<HashMap<u32, Owner>>> = Mutex::new(None);

fn owned() -> std::sync::MutexGuard<'static, Option<HashMap<u32, Owner>>> {
    OWNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `pid`, a child just started, is waited for by `owner`: never reaped here.
pub fn own(pid: u32, owner: Owner) {
    owned().get_or_insert_with(HashMap::new).insert(pid, owner);
}

/// `pid` has been reaped by its owner.
pub fn disown(pid: u32) {
    if let Some(map) = owned().as_mut() {
        map.remove(&pid);
    }
}

/// Who waits for `pid`, if anyone registered.
pub fn owner(pid: u32) -> Option<Owner> {
    owned().as_ref().and_then(|map| map.get(&pid).copied())
}

/// Make this process the child subreaper of everything it starts.
pub fn become_subreaper() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let me = rustix::process::getpid();
        rustix::process::set_child_subreaper(Some(me)).map_err(io::Error::from)
    }
    #[cfg(not(target_os = "linux"))]
    Ok(())
}

/// Become the subreaper of everything this process starts and reap the
/// orphans that come to it: for the process that runs agents (the server, a
/// foreground `--no-tui` run), from inside its runtime, before any agent
/// starts. A kernel that refuses is logged; agents run regardless.
pub fn adopt_orphans() -> Option<tokio::task::JoinHandle<()>> {
    if let Err(err) = become_subreaper() {
        tracing::warn!("cannot become the child subreaper: {err}; agents' orphans go to init");
        return None;
    }
    Some(tokio::spawn(reap_orphans()))
}

/// Reap orphans that exit, for as long as the runtime runs (see the module
/// documentation). Costs nothing while no child exits.
pub async fn reap_orphans() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigchld = match signal(SignalKind::child()) {
        Ok(stream) => stream,
        Err(err) => {
            tracing::warn!("cannot watch for exiting orphans (SIGCHLD): {err}; they stay zombies");
            return;
        }
    };
    let mut seen = Seen::default();
    let me = std::process::id();
    let own_session = proc_tree::session_of(me).unwrap_or(me);
    loop {
        let next = seen.next_look();
        tokio::select! {
            got = sigchld.recv() => if got.is_none() { return },
            _ = sleep_until(next) => {}
        }
        let now = Instant::now();
        let candidates = proc_tree::own_children()
            .into_iter()
            .filter(|child| child.zombie && child.session != own_session)
            .filter(|child| owner(child.pid).is_none())
            .map(|child| (child.pid, child.started))
            .collect::<Vec<_>>();
        for pid in seen.scan(&candidates, now) {
            // Checked once more: an owner may have registered since.
            if owner(pid).is_none() {
                reap(pid);
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

fn reap(pid: u32) {
    let Some(raw) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    match rustix::process::waitpid(Some(raw), rustix::process::WaitOptions::NOHANG) {
        Ok(Some(_)) => tracing::debug!(pid, "reaped an orphan"),
        Ok(None) => {}
        Err(err) => tracing::debug!(pid, "reaping an orphan: {err}"),
    }
}

/// Zombies seen so far, by pid and start time, with when first seen: the
/// pure half of the reaper.
#[derive(Debug, Default)]
struct Seen {
    first: HashMap<(u32, u64), Instant>,
}

impl Seen {
    /// This scan's zombies (pid, start time) at `now`: those seen in an
    /// earlier scan at least [`SEEN_APART`] ago are due; the rest are
    /// remembered (and the gone forgotten).
    fn scan(&mut self, zombies: &[(u32, u64)], now: Instant) -> Vec<u32> {
        self.first.retain(|key, _| zombies.contains(key));
        let mut due = Vec::new();
        for key in zombies {
            let first = *self.first.entry(*key).or_insert(now);
            if now.saturating_duration_since(first) >= SEEN_APART {
                due.push(key.0);
                self.first.remove(key);
            }
        }
        due
    }

    /// When to scan again without a SIGCHLD: once the oldest zombie seen
    /// can be due.
    fn next_look(&self) -> Option<Instant> {
        self.first.values().min().map(|at| *at + SEEN_APART)
    }
}

/// What an attempt's processes carry in their environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks {
    pub token: Option<String>,
    pub task: Option<String>,
    pub attempt: Option<String>,
}

impl Marks {
    /// The marks in an agent's environment (as it is given at spawn).
    pub fn from_env(env: &[(String, String)]) -> Option<Marks> {
        let get = |name: &str| {
            env.iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let marks = Marks {
            token: get("ORCH_TOKEN"),
            task: get("ORCH_TASK_ID"),
            attempt: get("ORCH_ATTEMPT"),
        };
        (marks.token.is_some() || (marks.task.is_some() && marks.attempt.is_some()))
            .then_some(marks)
    }

    /// Does an environment (`/proc/PID/environ`'s pairs) carry these marks?
    pub fn carried_by(&self, environ: &[(Vec<u8>, Vec<u8>)]) -> bool {
        let get = |name: &[u8]| {
            environ
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_slice())
        };
        if let (Some(mine), Some(theirs)) = (&self.token, get(b"ORCH_TOKEN")) {
            if mine.as_bytes() == theirs {
                return true;
            }
        }
        match (&self.task, &self.attempt) {
            (Some(task), Some(attempt)) => {
                get(b"ORCH_TASK_ID") == Some(task.as_bytes())
                    && get(b"ORCH_ATTEMPT") == Some(attempt.as_bytes())
            }
            _ => false,
        }
    }
}

/// Handles on an attempt's orphans: orch's own live children that nobody in
/// orch started ([`owner`] is none, not in orch's session) and carry
/// `marks`, with all their descendants.
pub fn orphans_of(marks: &Marks) -> Vec<ProcHandle> {
    let me = std::process::id();
    let own_session = proc_tree::session_of(me).unwrap_or(me);
    let mut out = Vec::new();
    for child in proc_tree::own_children() {
        if child.zombie || child.session == own_session || owner(child.pid).is_some() {
            continue;
        }
        let Some(handle) = ProcHandle::open(child.pid) else {
            continue;
        };
        // Pinned now: still our child, and carrying the marks?
        if proc_tree::parent(child.pid) != Some(me)
            || !marks.carried_by(&proc_tree::environ(child.pid))
        {
            continue;
        }
        out.extend(proc_tree::descendants(child.pid));
        out.push(handle);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zombie_is_due_only_when_seen_twice_a_second_apart() {
        let t0 = Instant::now();
        let mut seen = Seen::default();
        assert_eq!(seen.next_look(), None);
        assert!(seen.scan(&[(10, 5)], t0).is_empty(), "first sight");
        assert_eq!(seen.next_look(), Some(t0 + SEEN_APART));
        let soon = t0 + Duration::from_millis(300);
        assert!(seen.scan(&[(10, 5), (11, 7)], soon).is_empty(), "too soon");
        assert_eq!(seen.scan(&[(10, 5), (11, 7)], t0 + SEEN_APART), vec![10]);
        // 11 went (its owner reaped it) and its pid came back as another
        // process's zombie: seen afresh.
        let later = soon + SEEN_APART;
        assert!(seen.scan(&[(11, 9)], later).is_empty());
        assert_eq!(seen.scan(&[(11, 9)], later + SEEN_APART), vec![11]);
        assert_eq!(seen.next_look(), None);
    }

    #[test]
    fn marks_match_by_token_or_by_task_and_attempt() {
        let env = vec![
            ("ORCH_TASK_ID".to_string(), "api".to_string()),
            ("ORCH_ATTEMPT".to_string(), "2".to_string()),
            ("ORCH_TOKEN".to_string(), "abc".to_string()),
        ];
        let marks = Marks::from_env(&env).expect("marked");
        let pairs = |list: &[(&str, &str)]| -> Vec<(Vec<u8>, Vec<u8>)> {
            list.iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        };
        assert!(marks.carried_by(&pairs(&[("ORCH_TOKEN", "abc")])));
        // ORCH_TOKEN dropped: task and attempt still say whose it is.
        assert!(marks.carried_by(&pairs(&[("ORCH_TASK_ID", "api"), ("ORCH_ATTEMPT", "2")])));
        assert!(!marks.carried_by(&pairs(&[("ORCH_TASK_ID", "api"), ("ORCH_ATTEMPT", "1")])));
        assert!(!marks.carried_by(&pairs(&[("ORCH_TOKEN", "abd"), ("ORCH_TASK_ID", "api")])));
        assert!(!marks.carried_by(&[]));
        assert_eq!(Marks::from_env(&[]), None);
    }

    #[test]
    fn owners_are_remembered_until_they_reap() {
        let pid = u32::MAX - 11;
        assert_eq!(owner(pid), None);
        own(pid, Owner::Helper);
        assert_eq!(owner(pid), Some(Owner::Helper));
        disown(pid);
        assert_eq!(owner(pid), None);
    }
}
