//! Stopping an agent on request: SIGTERM to its process group and every
//! descendant, SIGKILL to whatever is left after the grace period.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::waiter::POLL_STEP;
use super::{lock, Shared};
use crate::agent::proc_tree::{ProcHandle, Signal};

/// Stop the agent without blocking (see `AgentProcess::terminate`). The
/// group is signalled only through the unreaped leader; descendants through
/// pidfds taken when they were found, so a process that has gone and left
/// its pid to someone else is never hit.
pub(super) fn terminate(shared: &Arc<Shared>, grace: Duration) {
    if shared.exited.load(Ordering::Acquire) || shared.terminating.swap(true, Ordering::AcqRel) {
        return;
    }
    let pid = shared.pid;
    // Reaped already: the waiter is stopping the rest and will report.
    let snapshot = shared
        .with_leader(|leader| {
            let mut descendants = leader.descendants();
            descendants.extend(shared.orphans());
            leader.signal_group(Signal::TERM);
            for p in &descendants {
                p.signal(Signal::TERM);
            }
            descendants
        })
        .unwrap_or_default();
    tracing::debug!(pid, descendants = snapshot.len(), "terminating agent");
    let for_killer = Arc::clone(shared);
    let killer = move || {
        let shared = for_killer;
        let deadline = Instant::now() + grace;
        loop {
            let reaped = lock(&shared.leader).is_none();
            if reaped && !snapshot.iter().any(ProcHandle::is_alive) {
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            thread::sleep(POLL_STEP.min(deadline - now));
        }
        tracing::debug!(pid, "grace over, killing agent");
        kill_remaining(&shared, &snapshot);
    };
    if let Err(e) = thread::Builder::new()
        .name(format!("orch-pty-kill-{pid}"))
        .spawn(killer)
    {
        // Without a thread there is no grace period: kill now.
        tracing::warn!(pid, error = %e, "no thread for the grace period; killing at once");
        kill_remaining(shared, &[]);
    }
}

/// SIGKILL to the group (if the leader is still unreaped), to its current
/// descendants and orphans and to whatever of `snapshot` is still alive.
fn kill_remaining(shared: &Shared, snapshot: &[ProcHandle]) {
    shared.with_leader(|leader| {
        leader.signal_group(Signal::KILL);
        for p in leader.descendants() {
            p.signal(Signal::KILL);
        }
        for p in shared.orphans() {
            p.signal(Signal::KILL);
        }
    });
    for p in snapshot.iter().filter(|p| p.is_alive()) {
        p.signal(Signal::KILL);
    }
}
