//! A done task's branch on its way onto the base branch (DESIGN section 4):
//! the `before_merge` gate, the policy (`auto` merges, `manual` waits for
//! an operator, `never` keeps the branch), dependency order (a task's
//! merge waits for its dependencies' merges), one merge job at a time, and
//! what each outcome means: merged, a conflict found in memory, or the
//! user's local changes in the way (retried until they are gone).
//!
//! Also what dependents see of a dependency's merge: under `auto` they
//! build on the base once it is merged, so until then they wait, and a
//! conflict (or a merge stuck on local changes) blocks them.

use std::time::Duration;

use crate::config::MergeMode;
use crate::engine::core::{Core, CoreError};
use crate::engine::effect::{Effect, Write};
use crate::engine::message::{Actor, Event};
use crate::engine::schedule::Readiness;
use crate::engine::state::TaskState;
use crate::git::{MergeOutcome, MergeRequest};
use crate::store::{MergeRow, MergeState, TaskRow};

/// How soon a merge the user's local changes held up is tried again.
pub(super) const LOCAL_CHANGES_RETRY: Duration = Duration::from_secs(2);
/// How long a headless run keeps trying a merge the user's local changes
/// (or a rebase) hold up before it ends and says so: long enough for a
/// person or a script to commit, short enough not to hang a CI job.
pub(super) const HEADLESS_PATIENCE: Duration = Duration::from_secs(60);
/// How soon a merge that failed (not a conflict: git itself failed) is
/// tried again.
pub(super) const FAILED_MERGE_RETRY: Duration = Duration::from_secs(10);

impl Core {
    /// What dependency `dep` means for a task that depends on it.
    pub(super) fn dep_status(&self, dep: &str) -> Readiness {
        let Some(row) = self.tasks.get(dep) else {
            return Readiness::Waiting;
        };
        if row.state == TaskState::Blocked && self.waiting_for_children(dep) {
            return Readiness::Waiting;
        }
        if row.state.blocks_dependents() {
            return Readiness::Blocked;
        }
        if row.state != TaskState::Done {
            return Readiness::Waiting;
        }
        if row.skipped {
            return Readiness::Ready;
        }
        let auto = self.merge_mode(dep) == MergeMode::Auto;
        let gated = self
            .defs
            .task(dep)
            .is_some_and(|t| t.needs_merge_approval());
        if gated && !row.merge_approved && row.merge_state != MergeState::Merged {
            // Done a moment ago, its gate not entered yet (or not passed):
            // nothing builds on work waiting for its approval.
            return Readiness::Waiting;
        }
        match row.merge_state {
            // Nothing builds on work still waiting for its approval.
            MergeState::AwaitingApproval => Readiness::Waiting,
            MergeState::Merged | MergeState::Never => Readiness::Ready,
            MergeState::Conflict | MergeState::Waiting if auto => Readiness::Blocked,
            MergeState::Unmerged if auto => Readiness::Waiting,
            _ => Readiness::Ready,
        }
    }

    /// Why a dependency blocks, for the dependent's cause.
    pub(super) fn dep_block_reason(&self, dep: &str) -> Option<String> {
        let row = self.tasks.get(dep)?;
        if row.state == TaskState::Blocked && self.waiting_for_children(dep) {
            return None;
        }
        if row.state.blocks_dependents() {
            return Some(format!("dependency {dep} is {}", row.state));
        }
        (self.dep_status(dep) == Readiness::Blocked).then(|| {
            let note = row.merge_note.clone().unwrap_or_default();
            format!("dependency {dep}'s merge is {}: {note}", row.merge_state)
        })
    }

    pub(super) fn merge_mode(&self, id: &str) -> MergeMode {
        self.defs
            .task(id)
            .map_or(MergeMode::Manual, |t| t.policy.merge)
    }

    /// Bring every done task's merge forward, in plan order: enter the
    /// gate, then start the merge of the first task that may merge now.
    pub(super) fn settle_merges(&mut self) -> Result<(), CoreError> {
        for id in self.tasks.ids_in(self.defs.order(), TaskState::Done) {
            let Some(row) = self.tasks.get(&id).cloned() else {
                continue;
            };
            if row.skipped || self.merge_mode(&id) == MergeMode::Never && !row.merge_wanted {
                continue;
            }
            let gated = self
                .defs
                .task(&id)
                .is_some_and(|t| t.needs_merge_approval());
            match row.merge_state {
                MergeState::Unmerged if gated && !row.merge_approved => {
                    self.set_merge(
                        &id,
                        MergeState::AwaitingApproval,
                        "approval required before merge".into(),
                        |_| {},
                    );
                    self.gates.enter(&id, self.now.mono);
                }
                MergeState::Unmerged | MergeState::Waiting if self.wants_merge(&row) => {
                    if self.merging.is_some() || !self.merge_retry_due(&id) {
                        continue;
                    }
                    match self.unmerged_dependency(&id) {
                        Some(why) => {
                            if row.merge_state != MergeState::Waiting
                                || row.merge_note.as_deref() != Some(why.as_str())
                            {
                                self.set_merge(&id, MergeState::Waiting, why, |_| {});
                            }
                        }
                        None => self.start_merge(&id, &row),
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn wants_merge(&self, row: &TaskRow) -> bool {
        row.merge_wanted || self.merge_mode(&row.id) == MergeMode::Auto
    }

    fn merge_retry_due(&self, id: &str) -> bool {
        self.merge_retry
            .get(id)
            .is_none_or(|at| *at <= self.now.mono)
    }

    /// The first dependency whose work is not on the base yet, as the
    /// reason to wait. Dependencies that are never merged, or were
    /// skipped, are not waited for.
    fn unmerged_dependency(&self, id: &str) -> Option<String> {
        self.unmerged_dependency_of(id, 0)
    }

    /// See [`Core::unmerged_dependency`]. A `never` dependency's branch is
    /// in the task's branch with its own dependencies' work, so those are
    /// waited for in its place (`depth` bounds the walk; the plan has no
    /// cycles).
    fn unmerged_dependency_of(&self, id: &str, depth: usize) -> Option<String> {
        if depth > self.defs.order().len() {
            return None;
        }
        self.defs.plan().dependencies(id).iter().find_map(|dep| {
            let row = self.tasks.get(dep)?;
            // A skipped dependency was left out of the start, its own
            // dependencies put in its place (see `start_deps`); a `never`
            // one's branch is in this one with its dependencies' work.
            if row.skipped || self.merge_mode(dep) == MergeMode::Never {
                return self.unmerged_dependency_of(dep, depth + 1);
            }
            let landed = row.merge_state == MergeState::Merged;
            (!landed).then(|| {
                let how = match self.merge_mode(dep) {
                    _ if row.state.blocks_dependents() => format!(
                        " (its work is in this branch and cannot land without it: retry {dep}, \
                         or skip it so that what is built on it starts over)"
                    ),
                    MergeMode::Manual if row.merge_state == MergeState::Unmerged => {
                        " (merge = \"manual\": merge it first)".to_string()
                    }
                    _ => String::new(),
                };
                format!(
                    "waiting for dependency {dep} to merge (it is {}){how}",
                    if row.state == TaskState::Done {
                        row.merge_state.as_str()
                    } else {
                        row.state.as_str()
                    }
                )
            })
        })
    }

    fn start_merge(&mut self, id: &str, row: &TaskRow) {
        self.merging = Some(id.to_string());
        self.merge_retry.remove(id);
        let title = self
            .defs
            .task(id)
            .map_or_else(|| row.title.clone(), |t| t.title.clone());
        self.out.push(Effect::Merge(MergeRequest {
            task: id.to_string(),
            title,
            base: self.base_branch.clone(),
        }));
    }

    /// A merge job finished.
    pub(super) fn on_merged(
        &mut self,
        id: &str,
        result: Result<MergeOutcome, String>,
    ) -> Result<(), CoreError> {
        if self.merging.as_deref() == Some(id) {
            self.merging = None;
        }
        if !matches!(
            result,
            Ok(MergeOutcome::LocalChanges { .. } | MergeOutcome::Busy { .. })
        ) {
            self.held_since.remove(id);
        }
        let Some(row) = self.tasks.get(id).cloned() else {
            return Ok(());
        };
        if row.state != TaskState::Done {
            return Ok(());
        }
        let base = self.base_branch.clone();
        let by = if row.merge_wanted && self.merge_mode(id) != MergeMode::Auto {
            "operator"
        } else {
            "policy"
        };
        let mut history = MergeRow {
            task_id: id.to_string(),
            at: self.now.wall_ms,
            base: base.clone(),
            outcome: String::new(),
            commit_id: None,
            files: Vec::new(),
            by: by.to_string(),
            detail: None,
        };
        match result {
            Ok(outcome @ (MergeOutcome::Merged { .. } | MergeOutcome::AlreadyMerged { .. })) => {
                let (commit, already) = match outcome {
                    MergeOutcome::Merged { commit } => (commit, false),
                    MergeOutcome::AlreadyMerged { commit } => (commit, true),
                    _ => unreachable!("matched above"),
                };
                history.outcome = if already { "already_merged" } else { "merged" }.into();
                history.commit_id = Some(commit.clone());
                let short: String = commit.chars().take(10).collect();
                self.set_merge(
                    id,
                    MergeState::Merged,
                    format!("merged onto {base} as {short}"),
                    |t| {
                        t.merge_commit = Some(commit.clone());
                        t.conflicts.clear();
                        t.merge_wanted = false;
                        t.pushed = false;
                    },
                );
                self.persist(Write::Merge(history));
                self.after_merge(id, &commit);
            }
            Ok(MergeOutcome::Conflict { files }) => {
                history.outcome = "conflict".into();
                history.files = files.clone();
                let why = format!(
                    "conflicts with {base} in {}; nothing was changed (orch task resolve {id} hands it back to the agent)",
                    files.join(", ")
                );
                self.set_merge(id, MergeState::Conflict, why, |t| {
                    t.conflicts = files.clone();
                    t.merge_wanted = false;
                });
                self.persist(Write::Merge(history));
            }
            Ok(held @ (MergeOutcome::LocalChanges { .. } | MergeOutcome::Busy { .. })) => {
                let (why, files) = match held {
                    MergeOutcome::LocalChanges { files } => (
                        format!(
                            "local changes in {} on {base}; merging when they are committed or gone",
                            files.join(", ")
                        ),
                        files,
                    ),
                    MergeOutcome::Busy { reason } => {
                        (format!("{reason}; merging when it is over"), Vec::new())
                    }
                    _ => unreachable!("matched above"),
                };
                self.merge_retry
                    .insert(id.to_string(), self.now.mono + LOCAL_CHANGES_RETRY);
                self.held_since
                    .entry(id.to_string())
                    .or_insert(self.now.mono);
                // Said once, not at every retry.
                if row.merge_note.as_deref() != Some(why.as_str()) {
                    history.outcome = if files.is_empty() {
                        "busy"
                    } else {
                        "local_changes"
                    }
                    .into();
                    history.files = files;
                    self.set_merge(id, MergeState::Waiting, why, |_| {});
                    self.persist(Write::Merge(history));
                }
            }
            Err(err) => {
                let why = format!(
                    "merge failed: {err}; trying again in {}s",
                    FAILED_MERGE_RETRY.as_secs()
                );
                self.merge_retry
                    .insert(id.to_string(), self.now.mono + FAILED_MERGE_RETRY);
                if row.merge_note.as_deref() != Some(why.as_str()) {
                    history.outcome = "failed".into();
                    history.detail = Some(err);
                    self.set_merge(id, MergeState::Waiting, why, |_| {});
                    self.persist(Write::Merge(history));
                }
            }
        }
        Ok(())
    }

    /// Record a done task's new merge state (with `edit`), an event row,
    /// and tell everyone. Counts as a move for `settle`.
    pub(super) fn set_merge(
        &mut self,
        id: &str,
        state: MergeState,
        why: String,
        edit: impl FnOnce(&mut TaskRow),
    ) {
        let Some(current) = self.tasks.get(id) else {
            return;
        };
        let mut row = current.clone();
        let from = row.merge_state;
        row.merge_state = state;
        row.merge_note = Some(why.clone());
        row.updated_at = self.now.wall_ms;
        edit(&mut row);
        if state != MergeState::AwaitingApproval {
            self.gates.leave(id);
        }
        self.persist(Write::Task(row.clone()));
        self.persist(Write::Event(crate::store::EventRow {
            seq: 0,
            at: self.now.wall_ms,
            run_id: Some(self.run_id),
            task_id: Some(id.to_string()),
            attempt: None,
            kind: "merge".into(),
            from_state: Some(from.as_str().into()),
            to_state: Some(state.as_str().into()),
            cause: Some(why.clone()),
        }));
        self.tasks.put(row.clone());
        self.transitions += 1;
        self.publish(Event::Merge { row, why });
    }

    /// Is something about merges still under way that a headless run must
    /// wait for? A merge job, a gate nobody has decided (`gates`), or a
    /// merge that may start as soon as the one before it ends.
    pub(super) fn merges_busy(&self, gates: bool) -> bool {
        if self.merging.is_some() {
            return true;
        }
        // Held up by the user's changes for a short while: they may be
        // about to commit (see HEADLESS_PATIENCE).
        let now = self.now.mono;
        if !self.opts.one_shot
            && self
                .held_since
                .values()
                .any(|since| now.saturating_duration_since(*since) < HEADLESS_PATIENCE)
        {
            return true;
        }
        self.tasks
            .ids_in(self.defs.order(), TaskState::Done)
            .iter()
            .any(|id| {
                self.tasks.get(id).is_some_and(|row| {
                    !row.skipped
                        && ((gates && row.merge_state == MergeState::AwaitingApproval)
                            || (row.merge_state == MergeState::Unmerged
                                && self.wants_merge(row)
                                && self.unmerged_dependency(id).is_none()))
                })
            })
    }

    /// Merges owed however long they take: what `merges_busy` waits for
    /// (gates included), and merges held up (local changes, a rebase, a
    /// failed try) that are tried again by themselves.
    pub(super) fn merges_owed(&self) -> bool {
        self.merges_busy(true)
            || self
                .tasks
                .ids_in(self.defs.order(), TaskState::Done)
                .iter()
                .any(|id| {
                    self.merge_retry.contains_key(id)
                        && self.tasks.get(id).is_some_and(|row| {
                            !row.skipped
                                && row.merge_state == MergeState::Waiting
                                && self.wants_merge(row)
                        })
                })
    }

    /// Done tasks whose merge ended badly or is not where its policy says
    /// it should be: the run's exit status is 1 for them.
    pub(super) fn merge_trouble(&self) -> bool {
        self.tasks
            .ids_in(self.defs.order(), TaskState::Done)
            .iter()
            .any(|id| {
                self.tasks.get(id).is_some_and(|row| {
                    !row.skipped
                        && match row.merge_state {
                            MergeState::Conflict | MergeState::Waiting => true,
                            MergeState::Merged | MergeState::Never => false,
                            MergeState::Unmerged | MergeState::AwaitingApproval => {
                                self.merge_mode(id) == MergeMode::Auto
                            }
                        }
                })
            })
    }

    // ---- what people ask for ---------------------------------------------

    /// An operator asks for the merge of a done task.
    pub(super) fn request_merge(&mut self, id: &str, by: &Actor) -> Result<(), String> {
        let row = self.done_row(id, "merge")?;
        if self.merge_mode(id) == MergeMode::Never {
            return Err(format!(
                "task {id} has merge = \"never\": its branch orch/{id} is the result"
            ));
        }
        match row.merge_state {
            MergeState::Merged => return Err(format!("task {id} is already merged")),
            MergeState::AwaitingApproval => {
                return Err(format!(
                    "task {id}'s merge is waiting for approval: approve it first"
                ))
            }
            _ if self.merging.as_deref() == Some(id) => {
                return Err(format!("task {id} is being merged"))
            }
            _ => {}
        }
        self.merge_retry.remove(id);
        self.set_merge(
            id,
            MergeState::Unmerged,
            format!("merge requested by {by}"),
            |t| {
                t.merge_wanted = true;
                t.conflicts.clear();
            },
        );
        Ok(())
    }

    /// An operator hands a merge conflict back to the agent.
    pub(super) fn request_resolve(&mut self, id: &str, by: &Actor) -> Result<(), CoreError> {
        let files = self
            .tasks
            .get(id)
            .map(|t| t.conflicts.join(", "))
            .unwrap_or_default();
        self.transition(
            id,
            TaskState::Queued,
            Some(format!(
                "resolve requested by {by}: conflicts with {} in {files}",
                self.base_branch
            )),
            None,
            |t| {
                t.next_start = crate::git::StartMode::Resolve;
                t.merge_state = MergeState::Unmerged;
                t.merge_wanted = true;
                t.failures = 0;
            },
            vec![],
        )
    }

    /// The row of `id` if it is done and has work to merge.
    pub(super) fn done_row(&self, id: &str, action: &str) -> Result<TaskRow, String> {
        let row = self
            .tasks
            .get(id)
            .cloned()
            .ok_or_else(|| format!("no task {id:?} in this plan"))?;
        if row.state != TaskState::Done {
            return Err(format!(
                "task {id} is {}; {action} needs it to be done",
                row.state
            ));
        }
        if row.skipped {
            return Err(format!(
                "task {id} was skipped: there is no work to {action}"
            ));
        }
        Ok(row)
    }

    /// Record the `before_merge` gate's approval.
    pub(super) fn record_merge_approval(&mut self, id: &str, by: Actor, reason: Option<String>) {
        let why = match &reason {
            Some(reason) => format!("merge approved by {by}: {reason}"),
            None => format!("merge approved by {by}"),
        };
        let approval = self.approval_row(
            id,
            crate::store::Gate::BeforeMerge,
            crate::store::Verdict::Approved,
            &by,
            reason,
        );
        self.persist(Write::Approval(approval));
        self.set_merge(id, MergeState::Unmerged, why, |t| t.merge_approved = true);
    }

    /// Record the `before_merge` gate's rejection: the task is rejected,
    /// its dependents blocked, its branch kept.
    pub(super) fn record_merge_rejection(
        &mut self,
        id: &str,
        by: Actor,
        reason: Option<String>,
    ) -> Result<(), CoreError> {
        let reason = reason.unwrap_or_else(|| "no reason given".into());
        let why = match by {
            Actor::Timeout => format!("merge {reason}"),
            _ => format!("merge rejected by {by}: {reason}"),
        };
        let approval = self.approval_row(
            id,
            crate::store::Gate::BeforeMerge,
            crate::store::Verdict::Rejected,
            &by,
            Some(reason),
        );
        self.transition(
            id,
            TaskState::Rejected,
            Some(why),
            None,
            |t| {
                t.merge_state = MergeState::Unmerged;
                t.merge_approved = false;
                t.merge_wanted = false;
            },
            vec![Write::Approval(approval)],
        )
    }
}
