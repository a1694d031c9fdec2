//! Health sampling: CPU % and RSS summed over each running agent's process
//! tree, about once a second (a quiet tree every few seconds), on a thread
//! of its own.
//!
//! One long-lived `sysinfo::System` refreshes only the pids of our agents'
//! trees (a refresh of every process on the machine costs ~14 ms; one pid
//! ~40 µs). With nothing to watch the thread blocks on its inbox and costs
//! nothing.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::agent::proc_tree;

/// The summed health of one process tree.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TreeUsage {
    /// Percent of one core.
    pub cpu: f64,
    pub rss: u64,
    pub procs: u32,
}

enum Control {
    Track { key: (String, u32), pid: u32 },
    Untrack { key: (String, u32) },
}

/// A tree that uses less than this much CPU (percent of a core), with the
/// same processes and about the same memory as last time, is quiet.
const QUIET_CPU: f64 = 1.0;
/// Memory growth that makes a tree worth watching closely again.
const QUIET_RSS_DRIFT: u64 = 1 << 20;
/// A quiet tree is sampled this many periods apart: an agent waiting for
/// an API answer or a human costs a fifth of the reads, and one that wakes
/// up is seen within this many periods (it cannot grow without CPU).
const QUIET_PERIODS: u32 = 5;

/// One tracked process tree and when it is next due.
struct Tracked {
    pid: u32,
    due: Instant,
    last: Option<TreeUsage>,
}

/// How many periods until a tree is sampled again, from its last two
/// samples: busy, changing or new trees every period, quiet ones every
/// [`QUIET_PERIODS`].
fn periods_until_next(previous: Option<&TreeUsage>, now: &TreeUsage) -> u32 {
    let Some(previous) = previous else {
        // A first sample reads no CPU (nothing to measure it against yet).
        return 1;
    };
    let quiet = now.cpu < QUIET_CPU
        && now.procs == previous.procs
        && now.rss.abs_diff(previous.rss) < QUIET_RSS_DRIFT;
    if quiet {
        QUIET_PERIODS
    } else {
        1
    }
}

/// Handle to the sampling thread; dropping it stops the thread.
pub struct Sampler {
    tx: mpsc::Sender<Control>,
}

impl Sampler {
    /// Start sampling every `period` (quiet trees less often, see
    /// [`periods_until_next`]); the samples that fall due together, one
    /// per `(task, attempt)` with its root pid, go to `sink` as one round.
    /// `sink` returning `false` stops the sampler.
    pub fn start(
        period: Duration,
        mut sink: impl FnMut(Vec<(String, u32, u32, TreeUsage)>) -> bool + Send + 'static,
    ) -> std::io::Result<Sampler> {
        let (tx, rx) = mpsc::channel::<Control>();
        thread::Builder::new()
            .name("orch-sampler".into())
            .spawn(move || {
                let Ok(mut system) = System::new() else {
                    tracing::warn!("health sampling unavailable: sysinfo could not start");
                    return;
                };
                let mut tracked: BTreeMap<(String, u32), Tracked> = BTreeMap::new();
                loop {
                    let next = tracked.values().map(|t| t.due).min();
                    let message = match next {
                        None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                        Some(due) => rx.recv_timeout(due.saturating_duration_since(Instant::now())),
                    };
                    match message {
                        Ok(Control::Track { key, pid }) => {
                            // Due with the trees already due next, so rounds
                            // stay together.
                            let soon = Instant::now() + period;
                            let due = next.filter(|d| *d <= soon).unwrap_or(soon);
                            tracked.insert(
                                key,
                                Tracked {
                                    pid,
                                    due,
                                    last: None,
                                },
                            );
                        }
                        Ok(Control::Untrack { key }) => {
                            tracked.remove(&key);
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            let now = Instant::now();
                            // Trees due within half a period join this round.
                            let horizon = now + period / 2;
                            let due: Vec<&(String, u32)> = tracked
                                .iter()
                                .filter(|(_, t)| t.due <= horizon)
                                .map(|(key, _)| key)
                                .collect();
                            let roots: Vec<u32> = due.iter().map(|k| tracked[*k].pid).collect();
                            let usages = sample_trees(&mut system, &roots);
                            let keys: Vec<(String, u32)> = due.into_iter().cloned().collect();
                            let mut batch = Vec::with_capacity(keys.len());
                            for (key, usage) in keys.into_iter().zip(usages) {
                                let Some(tree) = tracked.get_mut(&key) else {
                                    continue;
                                };
                                let periods = periods_until_next(tree.last.as_ref(), &usage);
                                tree.due = now + period * periods;
                                tree.last = Some(usage);
                                batch.push((key.0, key.1, tree.pid, usage));
                            }
                            if !sink(batch) {
                                return;
                            }
                        }
                    }
                }
            })?;
        Ok(Sampler { tx })
    }

    pub fn track(&self, task: &str, attempt: u32, pid: u32) {
        // The thread only goes away when the sink asks it to, at shutdown.
        let _ = self.tx.send(Control::Track {
            key: (task.to_string(), attempt),
            pid,
        });
    }

    pub fn untrack(&self, task: &str, attempt: u32) {
        let _ = self.tx.send(Control::Untrack {
            key: (task.to_string(), attempt),
        });
    }
}

/// Refresh every pid of every tree in one call, then sum each tree. CPU %
/// is measured since the previous refresh of each pid, so a pid's first
/// sample reads 0.
pub fn sample_trees(system: &mut System, roots: &[u32]) -> Vec<TreeUsage> {
    let trees: Vec<Vec<Pid>> = roots
        .iter()
        .map(|&root| {
            proc_tree::tree(root)
                .into_iter()
                .map(Pid::from_u32)
                .collect()
        })
        .collect();
    let all: Vec<Pid> = trees.iter().flatten().copied().collect();
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&all),
        true,
        ProcessRefreshKind::nothing()
            .with_cpu()
            .with_memory()
            .without_tasks(),
    );
    trees
        .iter()
        .map(|pids| {
            let mut usage = TreeUsage {
                cpu: 0.0,
                rss: 0,
                procs: 0,
            };
            for pid in pids {
                if let Some(process) = system.process(*pid) {
                    usage.cpu += f64::from(process.cpu_usage());
                    usage.rss += process.memory();
                    usage.procs += 1;
                }
            }
            usage
        })
        .collect()
}

/// One tree; see [`sample_trees`].
pub fn sample_tree(system: &mut System, root: u32) -> TreeUsage {
    sample_trees(system, &[root]).pop().unwrap_or(TreeUsage {
        cpu: 0.0,
        rss: 0,
        procs: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn usage(cpu: f64, rss: u64, procs: u32) -> TreeUsage {
        TreeUsage { cpu, rss, procs }
    }

    #[test]
    fn quiet_trees_are_sampled_less_often_and_any_change_brings_them_back() {
        let idle = usage(0.2, 10 << 20, 2);
        assert_eq!(
            periods_until_next(None, &idle),
            1,
            "a first sample proves nothing"
        );
        assert_eq!(periods_until_next(Some(&idle), &idle), QUIET_PERIODS);
        let busy = usage(30.0, 10 << 20, 2);
        assert_eq!(periods_until_next(Some(&idle), &busy), 1);
        let forked = usage(0.0, 10 << 20, 3);
        assert_eq!(periods_until_next(Some(&idle), &forked), 1, "a new process");
        let grown = usage(0.0, 12 << 20, 2);
        assert_eq!(periods_until_next(Some(&idle), &grown), 1, "memory moved");
    }

    #[test]
    fn sums_a_busy_tree() {
        // Two busy loops under one shell.
        let mut child = Command::new("sh")
            .args(["-c", "while :; do :; done & while :; do :; done & wait"])
            .spawn()
            .expect("spawn");
        let root = child.id();
        let mut system = System::new().expect("sysinfo");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut usage = sample_tree(&mut system, root);
        while Instant::now() < deadline && (usage.procs < 3 || usage.cpu < 20.0) {
            thread::sleep(Duration::from_millis(300));
            usage = sample_tree(&mut system, root);
        }
        for pid in proc_tree::tree(root) {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = child.wait();
        assert!(usage.procs >= 3, "{usage:?}");
        assert!(usage.cpu >= 20.0, "busy loops should show CPU: {usage:?}");
        assert!(usage.rss > 0);
    }
}
