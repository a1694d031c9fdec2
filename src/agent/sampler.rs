//! Health sampling: CPU % and RSS summed over each running agent's process
//! tree, about once a second, on a thread of its own.
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

/// Handle to the sampling thread; dropping it stops the thread.
pub struct Sampler {
    tx: mpsc::Sender<Control>,
}

impl Sampler {
    /// Start sampling every `period`; each round's samples, one per tracked
    /// `(task, attempt)` with its root pid, go to `sink` together. `sink`
    /// returning `false` stops the sampler.
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
                let mut tracked: BTreeMap<(String, u32), u32> = BTreeMap::new();
                let mut next = Instant::now() + period;
                loop {
                    let message = if tracked.is_empty() {
                        rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
                    } else {
                        rx.recv_timeout(next.saturating_duration_since(Instant::now()))
                    };
                    match message {
                        Ok(Control::Track { key, pid }) => {
                            if tracked.is_empty() {
                                next = Instant::now() + period;
                            }
                            tracked.insert(key, pid);
                        }
                        Ok(Control::Untrack { key }) => {
                            tracked.remove(&key);
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            next = Instant::now() + period;
                            let roots: Vec<u32> = tracked.values().copied().collect();
                            let usages = sample_trees(&mut system, &roots);
                            let batch = tracked
                                .iter()
                                .zip(usages)
                                .map(|(((task, attempt), pid), usage)| {
                                    (task.clone(), *attempt, *pid, usage)
                                })
                                .collect();
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
