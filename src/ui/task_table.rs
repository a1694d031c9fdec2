//! The tasks as the control room knows them: each task's config and row as
//! the engine last published them, its screen (live or replayed), health
//! history and the times the panes show. Plain data, updated by the event
//! loop with the time passed in, read by every pane.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::{Config, TaskConfig};
use crate::engine::message::Progress;
use crate::engine::policy::Level;
use crate::engine::{HealthView, TaskState};
use crate::plan::Plan;
use crate::store::{MergeState, TaskRow};
use crate::ui::output_source::OutputSource;

/// Samples kept for the CPU sparkline: a minute at one sample a second.
pub const SPARK_SAMPLES: usize = 60;

/// Screens of finished attempts kept in memory (each holds up to 10,000
/// lines of history); the least recently viewed beyond this are dropped and
/// replayed from their log when viewed again.
pub const FINISHED_SCREENS_KEPT: usize = 8;

/// Where a replay of the task's last log stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not asked for (or its screen was dropped to bound memory).
    Idle,
    /// Asked for this attempt's log; the result has not come back.
    Loading(u32),
    /// Done for this attempt, with or without a screen: an attempt can
    /// leave no log (a command that was not found), so it is tried once.
    Tried(u32),
}

/// One task as the control room shows it.
#[derive(Debug, Clone)]
pub struct TaskEntry {
    pub config: TaskConfig,
    pub row: TaskRow,
    pub output: Option<OutputSource>,
    /// `output_seq` when the user last looked at this task's output.
    pub seen_seq: u64,
    pub health: Option<HealthView>,
    /// CPU, one entry per second (a sample that covers several seconds
    /// fills several), newest last.
    pub cpu_history: VecDeque<u64>,
    /// The second the newest `cpu_history` entry stands for.
    cpu_history_at: Option<Instant>,
    /// When the current state began, for elapsed times.
    pub since: Instant,
    /// Whether the frame being drawn shows the "unseen output" marker
    /// (decided before drawing, see `App::prepare_frame`).
    pub marker_shown: bool,
    /// When `health` arrived.
    pub health_at: Option<Instant>,
    /// How long the last attempt seen running in this session took.
    pub last_run: Option<Duration>,
    pub replay: Replay,
    /// The frame at which this task's screen was last shown (or arrived):
    /// decides which finished screens stay in memory.
    pub viewed: u64,
    /// What the running attempt's agent last said (`orch heartbeat`).
    pub progress: Option<Progress>,
    /// The agent the latest attempt seen starting in this session runs (a
    /// fallback where the configured one is not installed).
    pub ran_agent: Option<String>,
    /// What the running attempt's agent is doing, when it needs someone
    /// (idle, or waiting with its question).
    pub attention: Option<crate::engine::message::Attention>,
}

impl TaskEntry {
    fn new(config: TaskConfig, row: TaskRow, since: Instant) -> TaskEntry {
        TaskEntry {
            config,
            row,
            output: None,
            seen_seq: 0,
            health: None,
            cpu_history: VecDeque::with_capacity(SPARK_SAMPLES),
            cpu_history_at: None,
            since,
            marker_shown: false,
            health_at: None,
            last_run: None,
            replay: Replay::Idle,
            viewed: 0,
            progress: None,
            ran_agent: None,
            attention: None,
        }
    }

    /// Waiting for a human at a gate: before it starts (the task is
    /// `awaiting_approval`), or before its branch is merged (done, merge
    /// state `awaiting_approval`).
    pub fn awaits_approval(&self) -> bool {
        self.row.state == TaskState::AwaitingApproval || self.awaits_merge_approval()
    }

    /// Done, its merge waiting for approval (the `before_merge` gate).
    pub fn awaits_merge_approval(&self) -> bool {
        self.row.state == TaskState::Done && self.row.merge_state == MergeState::AwaitingApproval
    }

    /// Printed something the user has not seen.
    pub fn has_unseen_output(&self) -> bool {
        self.output
            .as_ref()
            .is_some_and(|o| o.output_seq() > self.seen_seq)
    }

    pub fn heartbeat_level(&self) -> Level {
        self.health.as_ref().map_or(Level::Ok, |h| h.heartbeat)
    }

    /// Time since the agent last showed life: its output, or (from the
    /// engine's last sample) a file change, whichever is more recent.
    pub fn heartbeat_age(&self, now: Instant) -> Option<Duration> {
        let process = self.output.as_ref().and_then(|o| o.process())?;
        let output_age =
            now.saturating_duration_since(process.last_output_at().unwrap_or(process.started_at()));
        Some(
            self.sampled_heartbeat_age(now)
                .map_or(output_age, |s| s.min(output_age)),
        )
    }

    /// The engine's last heartbeat age, aged by the time since it arrived.
    pub fn sampled_heartbeat_age(&self, now: Instant) -> Option<Duration> {
        match (&self.health, self.health_at) {
            (Some(h), Some(at)) => Some(h.heartbeat_age + now.saturating_duration_since(at)),
            _ => None,
        }
    }

    /// A screen of an attempt that is over: a replay, or an agent that exited.
    fn holds_finished_screen(&self) -> bool {
        match &self.output {
            Some(OutputSource::Replay(_)) => true,
            Some(OutputSource::Live(process)) => {
                self.row.state != TaskState::Running && process.has_exited()
            }
            None => false,
        }
    }
}

/// Every task of the plan, in plan order, with lookups by id.
pub struct TaskTable {
    pub tasks: Vec<TaskEntry>,
    index: HashMap<String, usize>,
    plan: Plan,
    agents: BTreeMap<String, Vec<String>>,
}

impl TaskTable {
    pub fn new(config: &Config, rows: Vec<TaskRow>, now: Instant) -> TaskTable {
        let by_id: BTreeMap<&str, &TaskRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let tasks = config
            .tasks
            .iter()
            .map(|t| {
                let row = by_id
                    .get(t.id.as_str())
                    .map(|r| (*r).clone())
                    .unwrap_or_else(|| TaskRow::pending(&t.id, &t.title, &t.agent, 0));
                TaskEntry::new(t.clone(), row, now)
            })
            .collect();
        let mut table = TaskTable {
            tasks,
            index: HashMap::new(),
            plan: Plan::new(&config.tasks),
            agents: BTreeMap::new(),
        };
        table.reindex(config);
        table
    }

    /// The plan changed (orch.toml was reloaded): the tasks now in it, in
    /// plan order, keeping what is known about tasks that stay (screens,
    /// health).
    pub fn reload(&mut self, config: &Config, rows: Vec<TaskRow>, now: Instant) {
        let mut old: HashMap<String, TaskEntry> = self
            .tasks
            .drain(..)
            .map(|t| (t.config.id.clone(), t))
            .collect();
        let by_id: BTreeMap<&str, &TaskRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        self.tasks = config
            .tasks
            .iter()
            .filter_map(|t| {
                let row = (*by_id.get(t.id.as_str())?).clone();
                Some(match old.remove(&t.id) {
                    Some(mut entry) => {
                        entry.config = t.clone();
                        entry.row = row;
                        entry
                    }
                    None => TaskEntry::new(t.clone(), row, now),
                })
            })
            .collect();
        self.plan = Plan::new(&config.tasks);
        self.reindex(config);
    }

    fn reindex(&mut self, config: &Config) {
        self.index = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.config.id.clone(), i))
            .collect();
        self.agents = config
            .agents
            .iter()
            .map(|(name, a)| (name.clone(), a.command.clone()))
            .collect();
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    pub fn task(&self, id: &str) -> Option<&TaskEntry> {
        self.position(id).map(|i| &self.tasks[i])
    }

    pub fn task_mut(&mut self, id: &str) -> Option<&mut TaskEntry> {
        self.position(id).map(move |i| &mut self.tasks[i])
    }

    /// Tasks waiting at a gate (to start or to be merged), oldest first.
    pub fn approvals(&self) -> Vec<&TaskEntry> {
        let mut waiting: Vec<&TaskEntry> =
            self.tasks.iter().filter(|t| t.awaits_approval()).collect();
        waiting.sort_by_key(|t| t.row.updated_at);
        waiting
    }

    /// Everything that needs a person, oldest first: tasks at a gate,
    /// agents waiting for an answer or idle after their turn, merges that
    /// conflicted.
    pub fn needs_you(&self) -> Vec<Need<'_>> {
        let mut needs: Vec<Need<'_>> = self
            .tasks
            .iter()
            .filter_map(|t| {
                let (kind, at) = if t.row.state == TaskState::AwaitingApproval {
                    (NeedKind::Start, t.row.updated_at)
                } else if t.awaits_merge_approval() {
                    (NeedKind::Merge, t.row.updated_at)
                } else if let Some(a) = t
                    .attention
                    .as_ref()
                    .filter(|_| t.row.state == TaskState::Running)
                {
                    match &a.activity.question {
                        Some(q) => (NeedKind::Waiting(q.clone()), a.activity.since),
                        None => (NeedKind::Idle, a.activity.since),
                    }
                } else if t.row.state == TaskState::Done
                    && t.row.merge_state == MergeState::Conflict
                {
                    (NeedKind::Conflict, t.row.updated_at)
                } else {
                    return None;
                };
                Some(Need { entry: t, kind, at })
            })
            .collect();
        needs.sort_by_key(|n| n.at);
        needs
    }

    /// Running tasks, in plan order.
    pub fn running(&self) -> Vec<&TaskEntry> {
        self.tasks
            .iter()
            .filter(|t| t.row.state == TaskState::Running)
            .collect()
    }

    pub fn counts(&self) -> BTreeMap<TaskState, usize> {
        let mut counts = BTreeMap::new();
        for t in &self.tasks {
            *counts.entry(t.row.state).or_insert(0) += 1;
        }
        counts
    }

    /// An agent's command as configured, for the details view.
    pub fn agent_command(&self, name: &str) -> String {
        self.agents
            .get(name)
            .map(|argv| argv.join(" "))
            .unwrap_or_else(|| "unknown agent".into())
    }

    /// A task changed. Returns whether it is a task of this plan.
    pub fn on_task(&mut self, row: TaskRow, now: Instant) -> bool {
        let Some(entry) = self.task_mut(&row.id) else {
            return false;
        };
        if entry.row.state != row.state {
            if entry.row.state == TaskState::Running {
                entry.last_run = Some(now.saturating_duration_since(entry.since));
            }
            entry.since = now;
            if row.state != TaskState::Running {
                entry.health = None;
                entry.health_at = None;
            }
        }
        // Said by an attempt that is over.
        if row.state != TaskState::Running || row.attempts != entry.row.attempts {
            entry.progress = None;
            entry.attention = None;
        }
        entry.row = row;
        true
    }

    /// What a running attempt's agent is doing changed: kept while it
    /// needs someone.
    pub fn on_attention(&mut self, attention: crate::engine::message::Attention) {
        if let Some(entry) = self.task_mut(&attention.task) {
            if entry.row.state == TaskState::Running && entry.row.attempts == attention.attempt {
                entry.attention = (attention.activity.state != "busy").then_some(attention);
            }
        }
    }

    /// A running attempt's agent said how far it is.
    pub fn on_progress(&mut self, progress: Progress) {
        if let Some(entry) = self.task_mut(&progress.task) {
            if entry.row.state == TaskState::Running && entry.row.attempts == progress.attempt {
                entry.progress = Some(progress);
            }
        }
    }

    /// A task's screen arrived (a live agent, or a replay), at frame `frame`.
    pub fn on_output(&mut self, task: &str, output: OutputSource, frame: u64) {
        if let Some(entry) = self.task_mut(task) {
            entry.seen_seq = 0;
            entry.output = Some(output);
            entry.cpu_history.clear();
            entry.cpu_history_at = None;
            entry.viewed = frame;
        }
    }

    pub fn on_health(&mut self, view: HealthView, now: Instant) {
        let Some(entry) = self.task_mut(&view.sample.task) else {
            return;
        };
        let cpu = view.sample.cpu.round().max(0.0) as u64;
        // A quiet agent is sampled every few seconds: its sample stands for
        // each second since the last one, so the sparkline keeps time.
        let seconds = entry.cpu_history_at.map_or(1, |at| {
            (now.saturating_duration_since(at).as_secs_f64() + 0.5) as usize
        });
        if seconds == 0 {
            if let Some(last) = entry.cpu_history.back_mut() {
                *last = cpu;
            }
        }
        for _ in 0..seconds.min(SPARK_SAMPLES) {
            if entry.cpu_history.len() == SPARK_SAMPLES {
                entry.cpu_history.pop_front();
            }
            entry.cpu_history.push_back(cpu);
        }
        entry.cpu_history_at = Some(match entry.cpu_history_at {
            Some(at) if seconds <= SPARK_SAMPLES => at + Duration::from_secs(seconds as u64),
            _ => now,
        });
        entry.health = Some(view);
        entry.health_at = Some(now);
    }

    /// Keep at most `keep` finished screens, dropping the least recently
    /// viewed; a dropped screen is replayed from its log when viewed again.
    /// Running agents' screens are never dropped (the engine holds them
    /// anyway), nor is `shown`'s.
    pub fn bound_finished_screens(&mut self, keep: usize, shown: Option<usize>) {
        let mut finished: Vec<(u64, usize)> = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(i, t)| Some(*i) != shown && t.holds_finished_screen())
            .map(|(i, t)| (t.viewed, i))
            .collect();
        let kept_for_shown = shown
            .and_then(|i| self.tasks.get(i))
            .is_some_and(TaskEntry::holds_finished_screen);
        let room = keep.saturating_sub(usize::from(kept_for_shown));
        if finished.len() <= room {
            return;
        }
        finished.sort_unstable();
        let excess = finished.len() - room;
        for &(_, i) in &finished[..excess] {
            let entry = &mut self.tasks[i];
            tracing::debug!("dropping the screen of {} to bound memory", entry.config.id);
            entry.output = None;
            entry.seen_seq = 0;
            entry.marker_shown = false;
            entry.replay = Replay::Idle;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::HealthSample;

    fn table(n: usize, now: Instant) -> TaskTable {
        let mut toml = String::from("[agents.sh]\ncommand = [\"sh\", \"-c\", \"{prompt}\"]\n");
        for i in 0..n {
            toml.push_str(&format!(
                "[[tasks]]\nid = \"t{i}\"\nagent = \"sh\"\nprompt = \"p\"\n"
            ));
        }
        let config = crate::config::parse(&toml, std::path::Path::new("orch.toml")).unwrap();
        TaskTable::new(&config, Vec::new(), now)
    }

    #[test]
    fn finished_screens_beyond_the_bound_are_dropped_least_recently_viewed_first() {
        let now = Instant::now();
        let mut table = table(12, now);
        for i in 0..12 {
            let output = OutputSource::from_bytes(format!("task {i}\r\n").as_bytes(), 5, 20);
            table.on_output(&format!("t{i}"), output, i as u64);
            table.tasks[i].replay = Replay::Tried(1);
        }
        // t0 was viewed again most recently; t11 is the one on screen.
        table.tasks[0].viewed = 100;
        table.bound_finished_screens(FINISHED_SCREENS_KEPT, Some(11));
        let kept: Vec<usize> = (0..12)
            .filter(|&i| table.tasks[i].output.is_some())
            .collect();
        assert_eq!(kept.len(), FINISHED_SCREENS_KEPT, "{kept:?}");
        // The shown one, the re-viewed one, and the six most recent others.
        assert_eq!(kept, vec![0, 5, 6, 7, 8, 9, 10, 11]);
        for i in 1..5 {
            assert_eq!(
                table.tasks[i].replay,
                Replay::Idle,
                "t{i} replays on demand"
            );
        }
    }

    #[test]
    fn a_sample_fills_the_seconds_since_the_last_so_the_sparkline_keeps_time() {
        let t0 = Instant::now();
        let mut table = table(1, t0);
        let view = |cpu: f64| HealthView {
            sample: HealthSample {
                task: "t0".into(),
                attempt: 1,
                pid: 1,
                cpu,
                rss: 1,
                procs: 1,
            },
            heartbeat_age: Duration::ZERO,
            heartbeat: Level::Ok,
            cpu: Level::Ok,
        };
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        table.on_health(view(50.0), at(0));
        table.on_health(view(40.0), at(1_000));
        // A quiet agent's next sample comes five seconds later.
        table.on_health(view(0.0), at(6_050));
        // Published again within the same second (its heartbeat level moved).
        table.on_health(view(0.0), at(6_300));
        // Late samples do not drift: 1.4 s then 0.6 s are two seconds.
        table.on_health(view(7.0), at(7_450));
        table.on_health(view(8.0), at(8_050));
        let history: Vec<u64> = table.tasks[0].cpu_history.iter().copied().collect();
        assert_eq!(history, vec![50, 40, 0, 0, 0, 0, 0, 7, 8]);
    }

    #[test]
    fn health_samples_age_from_when_they_arrived() {
        let t0 = Instant::now();
        let mut table = table(1, t0);
        let view = HealthView {
            sample: HealthSample {
                task: "t0".into(),
                attempt: 1,
                pid: 1,
                cpu: 3.0,
                rss: 1,
                procs: 1,
            },
            heartbeat_age: Duration::from_secs(4),
            heartbeat: Level::Ok,
            cpu: Level::Ok,
        };
        table.on_health(view, t0);
        assert_eq!(
            table.tasks[0].sampled_heartbeat_age(t0 + Duration::from_secs(2)),
            Some(Duration::from_secs(6))
        );
    }
}

/// One item of the "needs you" queue.
#[derive(Debug)]
pub struct Need<'a> {
    pub entry: &'a TaskEntry,
    pub kind: NeedKind,
    /// Since when (unix ms).
    pub at: i64,
}

/// What a person is needed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedKind {
    /// Approve or reject the start.
    Start,
    /// Approve or reject the merge.
    Merge,
    /// The agent asked this and waits.
    Waiting(String),
    /// The agent finished its turn and waits for the next prompt.
    Idle,
    /// Its merge conflicted: resolve it (or hand it back to the agent).
    Conflict,
}

impl NeedKind {
    /// The column the queue shows it under.
    pub fn label(&self) -> &'static str {
        match self {
            NeedKind::Start => "start",
            NeedKind::Merge => "merge",
            NeedKind::Waiting(_) => "input",
            NeedKind::Idle => "idle",
            NeedKind::Conflict => "conflict",
        }
    }

    /// An approval: `a` and `x` act on it.
    pub fn is_approval(&self) -> bool {
        matches!(self, NeedKind::Start | NeedKind::Merge)
    }
}
