//! The one way a task changes state, and `settle`: bringing every task to
//! where the plan says it should be (readiness, blocking, gates, backoffs
//! that elapsed, approval timeouts), then starting what fits.

use std::collections::HashMap;

use crate::config::MergeMode;
use crate::engine::core::{Core, CoreError, SettleKey};
use crate::engine::effect::Write;
use crate::engine::message::{Actor, Event};
use crate::engine::schedule::{self, Candidate, Readiness};
use crate::engine::state::TaskState;
use crate::store::{MergeState, TaskRow};

impl Core {
    /// Record `id -> to` (with whatever `edit` changes and `extra` adds to
    /// the same batch) and publish it after it is persisted.
    pub(super) fn transition(
        &mut self,
        id: &str,
        to: TaskState,
        why: Option<String>,
        attempt: Option<u32>,
        edit: impl FnOnce(&mut TaskRow),
        extra: Vec<Write>,
    ) -> Result<(), CoreError> {
        let Some(current) = self.tasks.get(id) else {
            return Ok(());
        };
        let from = current.state;
        if !from.can_become(to) {
            return Err(CoreError::IllegalTransition {
                task: id.to_string(),
                from,
                to,
            });
        }
        let mut row = current.clone();
        row.state = to;
        row.updated_at = self.now.wall_ms;
        match to {
            TaskState::Done => {
                row.cause = why.clone().filter(|_| row.attempts == 0);
                let never = self
                    .defs
                    .task(id)
                    .is_some_and(|t| t.policy.merge == MergeMode::Never);
                row.merge_state = if never {
                    MergeState::Never
                } else {
                    MergeState::Unmerged
                };
                // New work: its merge starts over (a resolve attempt keeps
                // `merge_wanted`, so the merge is tried again).
                row.merge_note = None;
                row.merge_commit = None;
                row.next_start = crate::git::StartMode::Continue;
                row.merge_approved = false;
                row.pushed = false;
                if !row.merge_wanted {
                    row.conflicts.clear();
                }
            }
            TaskState::Retrying
            | TaskState::NeedsReview
            | TaskState::Blocked
            | TaskState::Rejected
            | TaskState::Cancelled => row.cause = why.clone(),
            _ => {}
        }
        if to != TaskState::Retrying {
            row.retry_at = None;
        }
        edit(&mut row);
        self.persist(Write::Task(row.clone()));
        for write in extra {
            self.persist(write);
        }
        self.persist_state_event(&row, Some(from), attempt, why.clone());
        if to == TaskState::AwaitingApproval {
            self.gates.enter(id, self.now.mono);
        } else {
            self.gates.leave(id);
        }
        self.tasks.put(row.clone());
        self.transitions += 1;
        self.after_transition(&row);
        self.publish(Event::Task {
            row,
            from: Some(from),
            attempt,
            why,
        });
        Ok(())
    }

    /// A row in the append-only events table for a state change.
    pub(super) fn persist_state_event(
        &mut self,
        row: &TaskRow,
        from: Option<TaskState>,
        attempt: Option<u32>,
        why: Option<String>,
    ) {
        let mut row = row.clone();
        row.cause = why;
        self.persist(Write::StateEvent { row, from, attempt });
    }

    /// Each pass can enable more moves (a rejection blocks dependents, a
    /// launch that fails at once frees a slot): repeat until nothing
    /// changes. Every pass that continues made at least one transition,
    /// and each task can only make finitely many, so this ends.
    ///
    /// A pass looks at every task, so it is skipped when nothing it depends
    /// on moved since the last settle: no transition, no attempt started,
    /// ended or freed its slot, no reload, and nothing time-based due.
    pub(super) fn settle(&mut self) -> Result<(), CoreError> {
        if self.last_settle == Some(self.settle_key()) && !self.time_due() {
            return Ok(());
        }
        loop {
            let before = self.transitions;
            self.settle_pass()?;
            if self.transitions == before {
                self.last_settle = Some(self.settle_key());
                return Ok(());
            }
        }
    }

    /// What a settle pass depends on, besides the time.
    fn settle_key(&self) -> SettleKey {
        SettleKey {
            transitions: self.transitions,
            attempts: self.live.len(),
            slots: self.live.slots_taken(),
            plan: self.plan_generation,
            shutting_down: self.run.shutting_down,
        }
    }

    /// Is a backoff over, or a gate to be decided by a flag or a timeout?
    fn time_due(&self) -> bool {
        let now = self.now.wall_ms;
        let backoff_over = !self.run.shutting_down && self.tasks.retry_times().any(|at| at <= now);
        let gate_to_decide = (self.opts.approve_all || self.opts.approval_timeout.is_some())
            && (self.tasks.any_in(TaskState::AwaitingApproval) || self.any_merge_gate());
        let mono = self.now.mono;
        let merge_due = self.merging.is_none() && self.merge_retry.values().any(|at| *at <= mono);
        let push_due = self.follow_ups.next_due().is_some_and(|at| at <= mono);
        backoff_over || gate_to_decide || merge_due || push_due
    }

    fn settle_pass(&mut self) -> Result<(), CoreError> {
        let now_wall = self.now.wall_ms;
        for id in self.defs.order().to_vec() {
            let Some(state) = self.tasks.state(&id) else {
                continue;
            };
            let readiness = self.readiness(&id);
            match (state, readiness) {
                (TaskState::Blocked, Readiness::Blocked) => self.refresh_block_reason(&id),
                (TaskState::Pending, Readiness::Blocked)
                | (TaskState::Queued, Readiness::Blocked)
                | (TaskState::AwaitingApproval, Readiness::Blocked) => {
                    let why = self.block_reason(&id);
                    self.transition(&id, TaskState::Blocked, Some(why), None, |_| {}, vec![])?;
                }
                (TaskState::Blocked, Readiness::Waiting) => {
                    let why = Some("dependency no longer blocked".to_string());
                    self.transition(&id, TaskState::Pending, why, None, |_| {}, vec![])?;
                }
                // Ready before, but the plan changed under it (a reload added
                // a dependency that is not done): wait again.
                (TaskState::Queued | TaskState::AwaitingApproval, Readiness::Waiting) => {
                    let why = Some("waiting on a dependency added to the plan".to_string());
                    self.transition(&id, TaskState::Pending, why, None, |_| {}, vec![])?;
                }
                (TaskState::Pending | TaskState::Blocked, Readiness::Ready) => {
                    self.make_ready(&id)?;
                }
                (TaskState::Queued, Readiness::Ready) if self.gated(&id) => {
                    self.make_ready(&id)?;
                }
                (TaskState::Retrying, _) => {
                    let due = self
                        .tasks
                        .get(&id)
                        .and_then(|t| t.retry_at)
                        .is_none_or(|at| at <= now_wall);
                    if due && !self.run.shutting_down {
                        let why = Some("backoff elapsed".to_string());
                        self.transition(&id, TaskState::Queued, why, None, |_| {}, vec![])?;
                    }
                }
                _ => {}
            }
        }
        self.decide_gates()?;
        if !self.run.shutting_down {
            if !self.opts.one_shot {
                self.start_ready()?;
            }
            self.settle_merges()?;
            self.settle_pushes();
        }
        Ok(())
    }

    pub(super) fn gated(&self, id: &str) -> bool {
        let approved = self.tasks.get(id).is_some_and(|t| t.approved);
        !approved && self.defs.task(id).is_some_and(|t| t.needs_start_approval())
    }

    pub(super) fn make_ready(&mut self, id: &str) -> Result<(), CoreError> {
        if self.gated(id) {
            let risk = self.defs.task(id).map_or("low", |t| t.risk.as_str());
            let why = Some(format!("approval required before start (risk {risk})"));
            self.transition(id, TaskState::AwaitingApproval, why, None, |_| {}, vec![])
        } else if self
            .tasks
            .get(id)
            .is_some_and(|t| t.state != TaskState::Queued)
        {
            self.transition(id, TaskState::Queued, None, None, |_| {}, vec![])
        } else {
            Ok(())
        }
    }

    /// Whether `id` may start: its dependencies' work is there to build
    /// on, and (for a parent) its subtasks are done. A parent waiting for
    /// its subtasks is blocked, not pending: it has run, and waits for
    /// work it asked for.
    fn readiness(&self, id: &str) -> Readiness {
        let deps = schedule::readiness_of(self.defs.plan(), id, |dep| self.dep_status(dep));
        match self.children_status(id) {
            Some((Readiness::Blocked, _)) if deps != Readiness::Blocked => Readiness::Blocked,
            _ => deps,
        }
    }

    fn block_reason(&self, id: &str) -> String {
        let mut culprits: Vec<String> = self
            .defs
            .plan()
            .dependencies(id)
            .iter()
            .filter_map(|dep| self.dep_block_reason(dep))
            .collect();
        if let Some((Readiness::Blocked, why)) = self.children_status(id) {
            culprits.push(why);
        }
        culprits.join(", ")
    }

    /// A blocked task's cause follows what it waits for (a parent's
    /// subtasks finish one by one): the row is updated and shown, with no
    /// state change to record.
    fn refresh_block_reason(&mut self, id: &str) {
        let why = self.block_reason(id);
        let Some(row) = self
            .tasks
            .get(id)
            .filter(|r| r.cause.as_deref() != Some(why.as_str()))
        else {
            return;
        };
        let mut row = row.clone();
        row.cause = Some(why.clone());
        row.updated_at = self.now.wall_ms;
        self.persist(Write::Task(row.clone()));
        self.tasks.put(row.clone());
        self.publish(Event::Task {
            row,
            from: Some(TaskState::Blocked),
            attempt: None,
            why: Some(why),
        });
    }

    fn any_merge_gate(&self) -> bool {
        self.tasks
            .ids_in(self.defs.order(), TaskState::Done)
            .iter()
            .any(|id| self.at_merge_gate(id))
    }

    /// `--approve-all` and the approval timeout, for the merge gates.
    fn decide_merge_gates(&mut self) -> Result<(), CoreError> {
        let waiting: Vec<String> = self
            .tasks
            .ids_in(self.defs.order(), TaskState::Done)
            .into_iter()
            .filter(|id| self.at_merge_gate(id))
            .collect();
        for id in waiting {
            if self.opts.approve_all {
                self.record_merge_approval(&id, Actor::Flag("--approve-all"), None);
                continue;
            }
            let Some(timeout) = self.opts.approval_timeout else {
                continue;
            };
            if self.gates.expired(&id, self.now.mono, timeout) {
                self.record_merge_rejection(
                    &id,
                    Actor::Timeout,
                    Some("approval timed out".into()),
                )?;
                self.run.approval_gave_up = true;
            }
        }
        Ok(())
    }

    /// `--approve-all` and the approval timeout.
    fn decide_gates(&mut self) -> Result<(), CoreError> {
        self.decide_merge_gates()?;
        let waiting = self
            .tasks
            .ids_in(self.defs.order(), TaskState::AwaitingApproval);
        for id in waiting {
            if self.opts.approve_all {
                self.record_approval(&id, Actor::Flag("--approve-all"), None)?;
                continue;
            }
            let Some(timeout) = self.opts.approval_timeout else {
                continue;
            };
            if self.gates.expired(&id, self.now.mono, timeout) {
                self.record_rejection(&id, Actor::Timeout, Some("approval timed out".into()))?;
                self.run.approval_gave_up = true;
            }
        }
        Ok(())
    }

    fn start_ready(&mut self) -> Result<(), CoreError> {
        // Runs on every settle pass: with every slot taken there is nothing
        // to pick, and resolving agents (PATH lookups) would be wasted.
        let max_parallel = self.defs.max_parallel();
        if self.live.slots_taken() >= max_parallel {
            return Ok(());
        }
        let by_agent = self.live.by_agent();
        let queued_ids: Vec<(String, String)> = self
            .tasks
            .ids_in(self.defs.order(), TaskState::Queued)
            .into_iter()
            .filter_map(|id| {
                let agent = self.defs.task(&id)?.agent.clone();
                Some((id, agent))
            })
            .collect();
        if queued_ids.is_empty() {
            return Ok(());
        }
        // Limits apply to the agent that will really run (after fallbacks);
        // resolved once per agent name per round.
        let mut resolved: HashMap<String, String> = HashMap::new();
        let queued: Vec<(String, String)> = queued_ids
            .into_iter()
            .map(|(id, agent)| {
                let runs = resolved
                    .entry(agent.clone())
                    .or_insert_with(|| self.agent_to_run(&agent))
                    .clone();
                (id, runs)
            })
            .collect();
        let candidates: Vec<Candidate<'_>> = queued
            .iter()
            .map(|(id, agent)| Candidate { id, agent })
            .collect();
        let defs = &self.defs;
        let picked: Vec<(String, String)> = schedule::pick_starts(
            &candidates,
            self.live.slots_taken(),
            &by_agent,
            max_parallel,
            |agent| defs.agent(agent).and_then(|a| a.max_instances),
        )
        .into_iter()
        .filter_map(|id| {
            let runs = queued.iter().find(|(q, _)| q == id)?.1.clone();
            Some((id.to_string(), runs))
        })
        .collect();
        for (id, runs) in picked {
            self.launch(&id, runs)?;
        }
        Ok(())
    }
}
