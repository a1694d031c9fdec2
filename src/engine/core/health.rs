//! Health of running attempts: samples, heartbeat levels, timeouts and
//! stalls; and when the engine next needs to wake up.

use std::time::{Duration, Instant};

use crate::engine::clock::Now;
use crate::engine::core::{Core, Live, Phase, StopReason};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{Event, HealthSample, HealthView, Heard};
use crate::engine::policy::{self, Level};
use crate::store::SampleRow;

/// How often running attempts are checked for timeouts and stalls.
const SUPERVISE_EVERY: Duration = Duration::from_secs(1);

impl Core {
    /// Take the backend's latest word on when each agent was last heard.
    pub(super) fn note_heard(&mut self, heard: Vec<Heard>) {
        for h in heard {
            if let Some(live) = self.live.get_mut(&h.task) {
                if live.row.attempt == h.attempt && h.at.is_some() {
                    live.heard = live.heard.max(h.at);
                }
            }
        }
    }

    /// Record a round of samples, then publish them.
    pub(super) fn on_health(&mut self, samples: Vec<HealthSample>) {
        let now = self.now.mono;
        let mut views = Vec::with_capacity(samples.len());
        for sample in samples {
            let Some(live) = self.live.get_mut(&sample.task) else {
                continue;
            };
            let Some(task) = self.defs.task(&sample.task) else {
                continue;
            };
            if live.row.attempt != sample.attempt || live.phase != Phase::Running {
                continue;
            }
            let age = now.saturating_duration_since(live.last_heard());
            let heartbeat = policy::heartbeat_level(age, &task.policy);
            let cpu = policy::cpu_level(sample.cpu, &task.policy);
            note_heartbeat_level(&sample.task, live, heartbeat, age);
            live.sample = Some(sample.clone());
            views.push(HealthView {
                sample,
                heartbeat_age: age,
                heartbeat,
                cpu,
            });
        }
        let at = self.now.wall_ms;
        for view in &views {
            self.persist(Write::Sample(SampleRow {
                task_id: view.sample.task.clone(),
                attempt: view.sample.attempt,
                at,
                cpu: view.sample.cpu,
                rss: view.sample.rss,
                procs: view.sample.procs,
            }));
        }
        for view in views {
            self.publish(Event::Health(view));
        }
    }

    /// Timeouts and heartbeats of running attempts. A heartbeat level that
    /// changed since the agent's last sample (quiet agents are sampled only
    /// every few seconds) is published with that sample.
    pub(super) fn supervise(&mut self) {
        let now = self.now.mono;
        let grace = self.opts.stop_grace;
        let mut views = Vec::new();
        for (id, live) in self.live.iter_mut() {
            if live.stop.is_some() || live.phase != Phase::Running {
                continue;
            }
            let Some(task) = self.defs.task(id) else {
                continue;
            };
            let policy = &task.policy;
            let silent = now.saturating_duration_since(live.last_heard());
            let level = policy::heartbeat_level(silent, policy);
            if note_heartbeat_level(id, live, level, silent) {
                if let Some(sample) = &live.sample {
                    views.push(HealthView {
                        sample: sample.clone(),
                        heartbeat_age: silent,
                        heartbeat: level,
                        cpu: policy::cpu_level(sample.cpu, policy),
                    });
                }
            }
            // An agent waiting for someone is not stalled: `input_timeout`
            // (see `attention`) decides how long it may wait.
            let reason = if now.saturating_duration_since(live.started) >= policy.timeout {
                Some(StopReason::Timeout(policy.timeout))
            } else if policy::heartbeat_level(silent, policy) == Level::Critical
                && !live.watch.needs_someone()
            {
                Some(StopReason::Stalled(policy.heartbeat_stall))
            } else {
                None
            };
            if let Some(reason) = reason {
                tracing::info!(task = %id, ?reason, "stopping attempt");
                live.stop = Some(reason);
                self.out.push(Effect::Stop {
                    task: id.clone(),
                    attempt: live.row.attempt,
                    grace,
                });
            }
        }
        for view in views {
            self.publish(Event::Health(view));
        }
        self.attend();
    }

    /// The next moment something time-based can happen.
    pub fn next_wake(&self, now: Now) -> Instant {
        let mut wake = now.mono + Duration::from_secs(3600);
        if !self.live.in_phase(Phase::Running).is_empty() {
            wake = wake.min(now.mono + SUPERVISE_EVERY);
        }
        // Shutting down, backoffs no longer lead anywhere: waking for them
        // would spin until the last attempt ends.
        if !self.run.shutting_down {
            for at in self.tasks.retry_times() {
                wake = wake.min(now.mono_at(at));
            }
        }
        if let Some(at) = self.next_attention() {
            wake = wake.min(at);
        }
        if let Some(at) = self
            .opts
            .approval_timeout
            .and_then(|timeout| self.gates.next_expiry(timeout))
        {
            wake = wake.min(at);
        }
        // Held-up merges and failed pushes are tried again (in a headless
        // run that is ending anyway they need not be waited for).
        if !self.run.shutting_down {
            if let Some(at) = self.merge_retry.values().min() {
                wake = wake.min(*at);
            }
            if let Some(at) = self.follow_ups.next_due() {
                wake = wake.min(at);
            }
        }
        wake
    }
}

/// Record a running attempt's heartbeat level; whether it changed.
fn note_heartbeat_level(task: &str, live: &mut Live, level: Level, silent: Duration) -> bool {
    if level == live.heartbeat {
        return false;
    }
    live.heartbeat = level;
    if level == Level::Warn {
        tracing::info!(task = %task, "heartbeat warning: no output for {silent:?}");
    }
    true
}
