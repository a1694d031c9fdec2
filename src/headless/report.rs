//! The run report, built from `state.db` (the store is the truth, so a report
//! after a resumed run covers earlier runs' attempts too), rendered as JSON,
//! JUnit XML, or a summary table.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::agent::log_file::read_log;
use crate::agent::screen::TerminalScreen;
use crate::config::Config;
use crate::engine::TaskState;
use crate::plan::Plan;
use crate::store::{AttemptRow, MergeState, Store, StoreError};
use crate::timefmt;

/// Lines of the agent's screen attached to a JUnit failure.
const FAILURE_TAIL_LINES: usize = 50;

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub exit_code: i32,
    pub started_at: String,
    pub finished_at: String,
    pub duration_ms: u64,
    pub base_branch: String,
    pub counts: BTreeMap<String, usize>,
    pub stages: Vec<Vec<String>>,
    pub tasks: Vec<TaskReport>,
}

#[derive(Debug, Serialize)]
pub struct TaskReport {
    pub id: String,
    pub title: String,
    pub agent: String,
    pub state: TaskState,
    /// Marked done by a user, not by a successful run.
    pub skipped: bool,
    pub stage: usize,
    pub depends_on: Vec<String>,
    pub branch: String,
    /// unmerged | awaiting_approval | waiting | merged | conflict | never
    pub merge_state: MergeState,
    /// Why the merge waits, what it conflicts on, or "merged as COMMIT".
    pub merge_note: Option<String>,
    /// Files the merge conflicts on.
    pub conflicts: Vec<String>,
    /// The merge commit on the base branch, once merged.
    pub merge_commit: Option<String>,
    pub worktree: Option<String>,
    /// The task this one is a subtask of, if any.
    pub parent: Option<String>,
    pub cause: Option<String>,
    pub attempts: Vec<AttemptReport>,
    /// Last lines of the latest attempt's screen (only for tasks not done).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output_tail: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct AttemptReport {
    pub attempt: u32,
    pub agent: String,
    pub status: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<u64>,
    pub cause: Option<String>,
    pub log: Option<String>,
    pub commit: Option<String>,
}

impl From<&AttemptRow> for AttemptReport {
    fn from(a: &AttemptRow) -> Self {
        AttemptReport {
            attempt: a.attempt,
            agent: a.agent.clone(),
            status: a.status.as_str().to_string(),
            exit_code: a.exit_code,
            signal: a.signal,
            started_at: timefmt::rfc3339(a.started_at),
            ended_at: a.ended_at.map(timefmt::rfc3339),
            duration_ms: a
                .ended_at
                .map(|end| timefmt::between(a.started_at, end).as_millis() as u64),
            cause: a.cause.clone(),
            log: a.log_path.clone(),
            commit: a.commit_id.clone(),
        }
    }
}

impl RunReport {
    pub fn collect(
        store: &Store,
        config: &Config,
        base_branch: &str,
        exit_code: i32,
        started_ms: i64,
        finished_ms: i64,
    ) -> Result<RunReport, StoreError> {
        let plan = Plan::new(&config.tasks);
        let stage_of = plan.stage_of();
        let rows: BTreeMap<String, _> = store
            .tasks()?
            .into_iter()
            .map(|t| (t.id.clone(), t))
            .collect();
        let mut attempts: BTreeMap<String, Vec<AttemptRow>> = BTreeMap::new();
        for attempt in store.all_attempts()? {
            attempts
                .entry(attempt.task_id.clone())
                .or_default()
                .push(attempt);
        }
        let mut counts = BTreeMap::new();
        let mut tasks = Vec::new();
        for task in &config.tasks {
            let Some(row) = rows.get(&task.id) else {
                continue;
            };
            *counts.entry(row.state.as_str().to_string()).or_insert(0) += 1;
            let task_attempts = attempts.remove(&task.id).unwrap_or_default();
            let worktree = store.worktree(&task.id)?.map(|w| w.path);
            let output_tail = if row.state == TaskState::Done {
                Vec::new()
            } else {
                task_attempts
                    .last()
                    .and_then(|a| a.log_path.as_deref())
                    .map(|log| screen_tail(Path::new(log), FAILURE_TAIL_LINES))
                    .unwrap_or_default()
            };
            tasks.push(TaskReport {
                id: task.id.clone(),
                title: task.title.clone(),
                agent: task.agent.clone(),
                state: row.state,
                skipped: row.skipped,
                stage: stage_of.get(&task.id).copied().unwrap_or(0),
                depends_on: task.depends_on.clone(),
                branch: format!("orch/{}", task.id),
                merge_state: row.merge_state,
                merge_note: row.merge_note.clone(),
                conflicts: row.conflicts.clone(),
                merge_commit: row.merge_commit.clone(),
                worktree,
                parent: row.parent.clone(),
                cause: row.cause.clone(),
                attempts: task_attempts.iter().map(AttemptReport::from).collect(),
                output_tail,
            });
        }
        Ok(RunReport {
            exit_code,
            started_at: timefmt::rfc3339(started_ms),
            finished_at: timefmt::rfc3339(finished_ms),
            duration_ms: timefmt::between(started_ms, finished_ms).as_millis() as u64,
            base_branch: base_branch.to_string(),
            counts,
            stages: plan.stages(),
            tasks,
        })
    }

    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// One testcase per task. A task fails when it did not end done, and
    /// also when it did but its merge conflicts or still waits (the run's
    /// exit code is 1 for those too).
    pub fn to_junit(&self) -> String {
        let failures = self
            .tasks
            .iter()
            .filter(|t| t.state != TaskState::Done || t.merge_problem().is_some())
            .count();
        let skipped = self
            .tasks
            .iter()
            .filter(|t| t.skipped && t.merge_problem().is_none())
            .count();
        let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            xml,
            "<testsuites name=\"orch\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{}\">",
            self.tasks.len(),
            secs(self.duration_ms)
        );
        let _ = writeln!(
            xml,
            "  <testsuite name=\"orch\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{}\" timestamp=\"{}\">",
            self.tasks.len(),
            secs(self.duration_ms),
            escape(&self.started_at)
        );
        for task in &self.tasks {
            let time: u64 = task.attempts.iter().filter_map(|a| a.duration_ms).sum();
            let _ = write!(
                xml,
                "    <testcase name=\"{}\" classname=\"orch.stage{}\" time=\"{}\"",
                escape(&task.id),
                task.stage,
                secs(time)
            );
            // What goes inside the testcase: a subtask's parent, then its
            // failure or skip.
            let mut inner = String::new();
            if let Some(parent) = &task.parent {
                let _ = writeln!(
                    inner,
                    "      <properties>\n        <property name=\"parent\" value=\"{}\"/>\n      </properties>",
                    escape(parent)
                );
            }
            inner.push_str(&junit_outcome(task, &self.base_branch));
            if inner.is_empty() {
                xml.push_str("/>\n");
            } else {
                let _ = write!(xml, ">\n{inner}    </testcase>\n");
            }
        }
        xml.push_str("  </testsuite>\n</testsuites>\n");
        xml
    }

    /// The table printed at the end of a headless run.
    pub fn summary(&self) -> String {
        // Subtasks under their parents, two spaces deeper each level.
        let items: Vec<(&str, Option<&str>)> = self
            .tasks
            .iter()
            .map(|t| (t.id.as_str(), t.parent.as_deref()))
            .collect();
        let order = crate::plan::nest::by_parent(&items);
        let name =
            |i: usize, depth: usize| format!("{}{}", "  ".repeat(depth.min(8)), self.tasks[i].id);
        let id_w = order
            .iter()
            .map(|&(i, depth)| name(i, depth).chars().count())
            .max()
            .unwrap_or(4)
            .max(4);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<id_w$}  {:<17}  {:>8}  {:>9}  cause",
            "task", "state", "attempts", "time"
        );
        for &(i, depth) in &order {
            let task = &self.tasks[i];
            let time: u64 = task.attempts.iter().filter_map(|a| a.duration_ms).sum();
            let state = if task.skipped {
                "done (skipped)"
            } else {
                task.state.as_str()
            };
            let cause = match task.merge_problem() {
                Some(problem) if task.state == TaskState::Done => problem.message(),
                _ => task.cause.clone().unwrap_or_default(),
            };
            let line = format!(
                "{:<id_w$}  {:<17}  {:>8}  {:>9}  {cause}",
                name(i, depth),
                state,
                task.attempts.len(),
                timefmt::short_duration(std::time::Duration::from_millis(time)),
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(
            out,
            "{} task(s): {}; exit code {}",
            self.tasks.len(),
            if counts.is_empty() {
                "none".to_string()
            } else {
                counts.join(", ")
            },
            self.exit_code
        );
        out
    }
}

/// A testcase's failure or skip element (with its newline), or nothing
/// for a task that is done and merged as its policy wants.
fn junit_outcome(task: &TaskReport, base_branch: &str) -> String {
    if task.state == TaskState::Done {
        if let Some(problem) = task.merge_problem() {
            let body = format!(
                "task {} is done, but its merge onto {base_branch} {}\n",
                task.id,
                problem.detail()
            );
            return format!(
                "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
                escape(&problem.message()),
                problem.kind(),
                escape(&body)
            );
        }
    }
    if task.skipped {
        let reason = task.cause.clone().unwrap_or_else(|| "skipped".into());
        return format!("      <skipped message=\"{}\"/>\n", escape(&reason));
    }
    if task.state == TaskState::Done {
        return String::new();
    }
    let cause = task.cause.clone().unwrap_or_else(|| task.state.to_string());
    let message = format!("{}: {cause}", task.state);
    let mut body = format!(
        "task {} ended {} after {} attempt(s)\ncause: {cause}\n",
        task.id,
        task.state,
        task.attempts.len()
    );
    if !task.output_tail.is_empty() {
        let _ = writeln!(
            body,
            "--- last {} lines of the agent's screen ---",
            task.output_tail.len()
        );
        for line in &task.output_tail {
            body.push_str(line);
            body.push('\n');
        }
    }
    format!(
        "      <failure message=\"{}\" type=\"{}\">{}</failure>\n",
        escape(&message),
        task.state,
        escape(&body)
    )
}

/// A merge that keeps a done task from counting as a success.
enum MergeProblem<'t> {
    Conflict(&'t TaskReport),
    Waiting(&'t TaskReport),
}

impl TaskReport {
    fn merge_problem(&self) -> Option<MergeProblem<'_>> {
        match self.merge_state {
            MergeState::Conflict => Some(MergeProblem::Conflict(self)),
            MergeState::Waiting => Some(MergeProblem::Waiting(self)),
            _ => None,
        }
    }
}

impl MergeProblem<'_> {
    /// JUnit's failure type.
    fn kind(&self) -> &'static str {
        match self {
            MergeProblem::Conflict(_) => "merge_conflict",
            MergeProblem::Waiting(_) => "merge_waiting",
        }
    }

    /// One line: `merge conflict in a.rs, b.rs`, `merge waiting: why`.
    fn message(&self) -> String {
        match self {
            MergeProblem::Conflict(task) if task.conflicts.is_empty() => {
                let note = task.merge_note.as_deref().unwrap_or("files not recorded");
                format!("merge conflict: {note}")
            }
            MergeProblem::Conflict(task) => {
                format!("merge conflict in {}", task.conflicts.join(", "))
            }
            MergeProblem::Waiting(task) => match &task.merge_note {
                Some(note) => format!("merge waiting: {note}"),
                None => "merge waiting".to_string(),
            },
        }
    }

    /// The rest of "its merge onto BASE ...".
    fn detail(&self) -> String {
        match self {
            MergeProblem::Conflict(task) => {
                let mut text = String::from("conflicts");
                if !task.conflicts.is_empty() {
                    let _ = write!(text, " in:\n  {}", task.conflicts.join("\n  "));
                }
                if let Some(note) = &task.merge_note {
                    let _ = write!(text, "\nnote: {note}");
                }
                let _ = write!(
                    text,
                    "\n(orch task resolve {} hands it back to its agent)",
                    task.id
                );
                text
            }
            MergeProblem::Waiting(task) => match &task.merge_note {
                Some(note) => format!("is still waiting: {note}"),
                None => "is still waiting".to_string(),
            },
        }
    }
}

/// Replay an attempt's log through a terminal screen and take its last lines:
/// what the agent's screen showed, without escape sequences.
pub fn screen_tail(log: &Path, lines: usize) -> Vec<String> {
    let Ok(bytes) = read_log(log) else {
        return Vec::new();
    };
    let mut screen = TerminalScreen::new(50, 200, lines);
    screen.process(&bytes);
    screen.tail_text(lines)
}

/// Write `contents` to `path` atomically (temp file, then rename).
pub fn write_file(path: &Path, contents: &str) -> std::io::Result<PathBuf> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("orch-tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)?;
    Ok(path.to_path_buf())
}

/// XML-escape text and attribute values; drop characters XML 1.0 forbids
/// (agents print raw control bytes).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_xml_and_drops_control_bytes() {
        assert_eq!(
            escape("a<b>&\"c'\u{1b}[31m"),
            "a&lt;b&gt;&amp;&quot;c&apos;[31m"
        );
    }

    fn task(id: &str, state: TaskState, merge_state: MergeState) -> TaskReport {
        TaskReport {
            id: id.into(),
            title: id.into(),
            agent: "sh".into(),
            state,
            skipped: false,
            stage: 0,
            depends_on: Vec::new(),
            branch: format!("orch/{id}"),
            merge_state,
            merge_note: None,
            conflicts: Vec::new(),
            merge_commit: None,
            worktree: None,
            parent: None,
            cause: None,
            attempts: Vec::new(),
            output_tail: Vec::new(),
        }
    }

    fn report(tasks: Vec<TaskReport>) -> RunReport {
        RunReport {
            exit_code: 1,
            started_at: "2026-01-01T00:00:00Z".into(),
            finished_at: "2026-01-01T00:01:00Z".into(),
            duration_ms: 60_000,
            base_branch: "main".into(),
            counts: BTreeMap::new(),
            stages: vec![tasks.iter().map(|t| t.id.clone()).collect()],
            tasks,
        }
    }

    /// A merged task, one in conflict, one waiting on the user's changes,
    /// a failed one and a skipped (merged) one.
    fn mixed() -> RunReport {
        let merged = TaskReport {
            merge_note: Some("merged as 1234abcd".into()),
            merge_commit: Some("1234abcd".into()),
            ..task("merged", TaskState::Done, MergeState::Merged)
        };
        let conflict = TaskReport {
            merge_note: Some("both changed the same lines".into()),
            conflicts: vec!["src/a.rs".into(), "b <&>.md".into()],
            ..task("conflict", TaskState::Done, MergeState::Conflict)
        };
        let waiting = TaskReport {
            merge_note: Some("local changes in README.md".into()),
            ..task("waiting", TaskState::Done, MergeState::Waiting)
        };
        let failed = TaskReport {
            cause: Some("exit code 1".into()),
            ..task("failed", TaskState::NeedsReview, MergeState::Unmerged)
        };
        let skipped = TaskReport {
            skipped: true,
            ..task("skipped", TaskState::Done, MergeState::Merged)
        };
        report(vec![merged, conflict, waiting, failed, skipped])
    }

    #[test]
    fn the_json_report_carries_each_merge() {
        let json: serde_json::Value = serde_json::from_str(&mixed().to_json()).expect("valid JSON");
        let tasks = json["tasks"].as_array().expect("tasks");
        assert_eq!(tasks[0]["merge_state"], "merged");
        assert_eq!(tasks[0]["merge_commit"], "1234abcd");
        assert_eq!(tasks[0]["merge_note"], "merged as 1234abcd");
        assert_eq!(tasks[0]["conflicts"], serde_json::json!([]));
        assert_eq!(tasks[1]["merge_state"], "conflict");
        assert_eq!(
            tasks[1]["conflicts"],
            serde_json::json!(["src/a.rs", "b <&>.md"])
        );
        assert_eq!(tasks[1]["merge_commit"], serde_json::Value::Null);
        assert_eq!(tasks[2]["merge_state"], "waiting");
        assert_eq!(tasks[2]["merge_note"], "local changes in README.md");
        assert_eq!(tasks[3]["merge_state"], "unmerged");
    }

    #[test]
    fn junit_fails_a_conflict_and_a_waiting_merge() {
        let xml = mixed().to_junit();
        assert!(
            xml.contains("tests=\"5\" failures=\"3\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"merged\" classname=\"orch.stage0\" time=\"0.000\"/>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"merge conflict in src/a.rs, b &lt;&amp;&gt;.md\" type=\"merge_conflict\">task conflict is done, but its merge onto main conflicts in:\n  src/a.rs\n  b &lt;&amp;&gt;.md\nnote: both changed the same lines\n(orch task resolve conflict hands it back to its agent)\n</failure>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"merge waiting: local changes in README.md\" type=\"merge_waiting\">task waiting is done, but its merge onto main is still waiting: local changes in README.md\n</failure>"),
            "{xml}"
        );
        assert!(
            xml.contains("<failure message=\"needs_review: exit code 1\" type=\"needs_review\">"),
            "{xml}"
        );
        assert!(xml.contains("<testcase name=\"skipped\" classname=\"orch.stage0\" time=\"0.000\">\n      <skipped message=\"skipped\"/>"), "{xml}");
        // A conflict without recorded files still fails, and says so.
        let bare = report(vec![task("c", TaskState::Done, MergeState::Conflict)]).to_junit();
        assert!(
            bare.contains("message=\"merge conflict: files not recorded\" type=\"merge_conflict\""),
            "{bare}"
        );
    }

    #[test]
    fn the_summary_names_a_merge_problem_as_the_cause() {
        let summary = mixed().summary();
        let line = |id: &str| {
            summary
                .lines()
                .find(|l| l.starts_with(id))
                .unwrap_or_else(|| panic!("no {id} in {summary}"))
                .to_string()
        };
        assert!(
            line("conflict").ends_with("merge conflict in src/a.rs, b <&>.md"),
            "{summary}"
        );
        assert!(
            line("waiting").ends_with("merge waiting: local changes in README.md"),
            "{summary}"
        );
        // Merged: nothing in the cause column.
        assert_eq!(line("merged").split_whitespace().count(), 4, "{summary}");
        assert!(line("failed").ends_with("exit code 1"), "{summary}");
    }

    #[test]
    fn subtasks_carry_their_parent_in_every_report_and_nest_in_the_summary() {
        let parent = task("p", TaskState::Done, MergeState::Unmerged);
        let child = TaskReport {
            parent: Some("p".into()),
            ..task("p-a", TaskState::Done, MergeState::Never)
        };
        let failed = TaskReport {
            parent: Some("p".into()),
            cause: Some("exit code 1".into()),
            ..task("p-b", TaskState::NeedsReview, MergeState::Never)
        };
        let other = task("q", TaskState::Done, MergeState::Unmerged);
        let report = report(vec![parent, other, child, failed]);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).expect("json");
        assert_eq!(json["tasks"][2]["parent"], "p");
        assert!(json["tasks"][0]["parent"].is_null());

        let xml = report.to_junit();
        assert!(
            xml.contains("<testcase name=\"p-a\" classname=\"orch.stage0\" time=\"0.000\">\n      <properties>\n        <property name=\"parent\" value=\"p\"/>\n      </properties>\n    </testcase>\n"),
            "{xml}"
        );
        assert!(
            xml.contains("<property name=\"parent\" value=\"p\"/>\n      </properties>\n      <failure message=\"needs_review: exit code 1\""),
            "{xml}"
        );
        assert!(
            xml.contains("<testcase name=\"p\" classname=\"orch.stage0\" time=\"0.000\"/>"),
            "{xml}"
        );

        let summary = report.summary();
        let names: Vec<&str> = summary
            .lines()
            .skip(1)
            .take(4)
            .map(|l| l.split("  done").next().unwrap_or(l))
            .map(|l| l.split("  needs_review").next().unwrap_or(l).trim_end())
            .collect();
        assert_eq!(names, ["p", "  p-a", "  p-b", "q"], "{summary}");
    }
}
