//! What follows a task's end, off the engine: the `[hooks]` (`on_done`,
//! `on_merge`, `on_fail`) and `push` (`on_done` pushes `orch/TASK`,
//! `on_merge` the base branch). Neither ever holds up the plan: a hook
//! runs with a timeout and its result goes to the event log; a failed push
//! is reported and retried with backoff. What was pushed is stored
//! (`TaskRow::pushed`), so a push cut short by a crash is made again.

use std::collections::HashMap;
use std::time::Instant;

use crate::config::{HookVars, PushMode};
use crate::engine::core::Core;
use crate::engine::effect::{Effect, Write};
use crate::engine::message::Event;
use crate::engine::state::TaskState;
use crate::git::BRANCH_PREFIX;
use crate::store::{EventRow, MergeState, TaskRow};

/// One task's push, between its first try and its success.
#[derive(Debug, Clone)]
pub(super) struct PushJob {
    refspec: String,
    failures: u32,
    step: PushStep,
}

/// Where a push stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PushStep {
    /// To be tried (again) at this time.
    Due(Instant),
    /// Under way.
    Pushing,
    /// Failed too often: not tried again in this run (nor owed: the next
    /// run tries once more).
    GaveUp,
}

/// What follows tasks, off the engine: pushes that have not succeeded yet
/// (by task) and the hooks running.
#[derive(Debug, Default)]
pub(super) struct FollowUps {
    jobs: HashMap<String, PushJob>,
    /// Hooks started and not finished.
    pub(super) hooks_running: usize,
}

impl FollowUps {
    /// A push or a hook is under way (a headless run waits for them).
    pub(super) fn busy(&self) -> bool {
        self.hooks_running > 0 || self.jobs.values().any(|job| job.step == PushStep::Pushing)
    }

    /// A hook or a push is under way, or a push waits for its retry.
    pub(super) fn owed(&self) -> bool {
        self.hooks_running > 0 || self.jobs.values().any(|job| job.step != PushStep::GaveUp)
    }

    /// The soonest retry.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.jobs
            .values()
            .filter_map(|job| match job.step {
                PushStep::Due(at) => Some(at),
                PushStep::Pushing | PushStep::GaveUp => None,
            })
            .min()
    }
}

impl Core {
    /// Hooks and pushes that follow a state change (called by `transition`).
    pub(super) fn after_transition(&mut self, row: &TaskRow) {
        match row.state {
            TaskState::Done if !row.skipped => {
                let worktree = self.paths.worktree(&row.id).display().to_string();
                let branch = format!("{BRANCH_PREFIX}{}", row.id);
                self.run_hook(
                    &row.id,
                    HookVars::Done {
                        task: &row.id,
                        branch: &branch,
                        worktree: &worktree,
                    },
                );
            }
            TaskState::NeedsReview => {
                let cause = row.cause.clone().unwrap_or_default();
                self.run_hook(
                    &row.id,
                    HookVars::Fail {
                        task: &row.id,
                        cause: &cause,
                    },
                );
            }
            _ => {}
        }
    }

    /// Hooks that follow a merge onto the base.
    pub(super) fn after_merge(&mut self, id: &str, commit: &str) {
        let branch = format!("{BRANCH_PREFIX}{id}");
        self.run_hook(
            id,
            HookVars::Merge {
                task: id,
                branch: &branch,
                commit,
            },
        );
    }

    /// `on_attention`: something joined the attention queue.
    pub(super) fn run_attention_hook(&mut self, id: &str, vars: HookVars<'_>) {
        self.run_hook(id, vars);
    }

    fn run_hook(&mut self, id: &str, vars: HookVars<'_>) {
        let Some(argv) = self.defs.config().hooks.render(&vars) else {
            return;
        };
        self.follow_ups.hooks_running += 1;
        self.out.push(Effect::RunHook {
            hook: vars.hook(),
            task: id.to_string(),
            argv,
            timeout: self.defs.config().hooks.timeout,
        });
    }

    pub(super) fn on_hook_done(&mut self, hook: &'static str, id: &str, summary: String) {
        self.follow_ups.hooks_running = self.follow_ups.hooks_running.saturating_sub(1);
        self.note(id, "hook", format!("hook {hook}: {summary}"));
    }

    /// Start the pushes that are due, and notice the ones that are owed
    /// (a task done or merged since, or a push a dead orch did not finish).
    pub(super) fn settle_pushes(&mut self) {
        let mode = self.defs.config().project.push;
        if mode == PushMode::Never {
            return;
        }
        let base = self.base_branch.clone();
        for id in self.tasks.ids_in(self.defs.order(), TaskState::Done) {
            let Some(row) = self.tasks.get(&id) else {
                continue;
            };
            let owed = !row.skipped
                && !row.pushed
                && match mode {
                    PushMode::OnDone => true,
                    PushMode::OnMerge => row.merge_state == MergeState::Merged,
                    PushMode::Never => false,
                };
            if owed && !self.follow_ups.jobs.contains_key(&id) {
                let refspec = match mode {
                    PushMode::OnMerge => format!("refs/heads/{base}:refs/heads/{base}"),
                    _ => format!("refs/heads/{BRANCH_PREFIX}{id}:refs/heads/{BRANCH_PREFIX}{id}"),
                };
                self.follow_ups.jobs.insert(
                    id.clone(),
                    PushJob {
                        refspec,
                        failures: 0,
                        step: PushStep::Due(self.now.mono),
                    },
                );
            }
        }
        let remote = self.defs.config().project.remote.clone();
        let now = self.now.mono;
        for (id, job) in self.follow_ups.jobs.iter_mut() {
            if matches!(job.step, PushStep::Due(due) if due <= now) {
                job.step = PushStep::Pushing;
                self.out.push(Effect::Push {
                    task: id.clone(),
                    remote: remote.clone(),
                    refspec: job.refspec.clone(),
                });
            }
        }
    }

    pub(super) fn on_pushed(&mut self, id: &str, what: String, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.follow_ups.jobs.remove(id);
                if let Some(mut row) = self.tasks.get(id).cloned() {
                    row.pushed = true;
                    self.persist(Write::Task(row.clone()));
                    self.tasks.put(row);
                }
                self.note(id, "push", format!("pushed {what}"));
            }
            Err(err) => {
                let jitter = self.next_jitter();
                let Some(job) = self.follow_ups.jobs.get_mut(id) else {
                    return;
                };
                job.failures += 1;
                let failures = job.failures;
                let delay = crate::ops::push::retry_delay(failures, jitter);
                job.step = match delay {
                    Some(delay) => PushStep::Due(self.now.mono + delay),
                    None => PushStep::GaveUp,
                };
                let text = match delay {
                    Some(delay) => format!(
                        "push of {what} failed (try {failures}): {err}; trying again in {}",
                        crate::timefmt::short_duration(delay)
                    ),
                    None => {
                        // Kept, given up, so it is not owed again in this
                        // run; the next run tries once more.
                        format!(
                            "push of {what} failed {failures} times, giving up for this run: {err}"
                        )
                    }
                };
                self.note(id, "push", text);
            }
        }
    }

    /// A line for the event log and the views that is not a state change.
    pub(super) fn note(&mut self, id: &str, kind: &str, text: String) {
        self.persist(Write::Event(EventRow {
            seq: 0,
            at: self.now.wall_ms,
            run_id: Some(self.run_id),
            task_id: Some(id.to_string()),
            attempt: None,
            kind: kind.to_string(),
            from_state: None,
            to_state: None,
            cause: Some(text.clone()),
        }));
        self.publish(Event::Note {
            task: id.to_string(),
            text,
        });
    }
}
