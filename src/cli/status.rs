//! `orch status`: tasks and agents, read from state.db (no running orch needed).

use std::path::Path;

use serde::Serialize;

use crate::agent::proc_tree;
use crate::store::{AttemptRow, AttemptStatus, SampleRow, Store, StoreError, TaskRow};
use crate::timefmt;

#[derive(Serialize)]
struct Status {
    state_dir: String,
    /// pid of the orch currently running here, if any.
    running_instance: Option<u32>,
    tasks: Vec<TaskStatus>,
}

#[derive(Serialize)]
struct TaskStatus {
    #[serde(flatten)]
    task: TaskRow,
    last_attempt: Option<AttemptRow>,
    agent_pid: Option<u32>,
    health: Option<SampleRow>,
    /// Messages for it that its agent has not acknowledged (`orch msg`).
    unread_messages: usize,
}

pub fn run(config_path: &Path, json: bool) -> i32 {
    let state_dir = super::state_dir_for(config_path);
    let holder = crate::session::lock_holder(&state_dir);
    let store = match Store::open_read_only(&state_dir.join("state.db")) {
        Ok(store) => Some(store),
        // A run that has just started may not have written its store yet.
        Err(StoreError::Missing { .. } | StoreError::Empty { .. }) if holder.is_some() => None,
        Err(err) => {
            eprintln!("orch: {err}");
            return 1;
        }
    };
    match collect(store.as_ref(), holder, &state_dir) {
        Ok(status) if json => {
            match serde_json::to_string_pretty(&status) {
                Ok(text) => println!("{text}"),
                Err(err) => {
                    eprintln!("orch: {err}");
                    return 1;
                }
            }
            0
        }
        Ok(status) => {
            print!("{}", render(&status));
            0
        }
        Err(err) => {
            eprintln!("orch: {err}");
            1
        }
    }
}

fn collect(
    store: Option<&Store>,
    holder: Option<u32>,
    state_dir: &Path,
) -> Result<Status, StoreError> {
    let Some(store) = store else {
        return Ok(Status {
            state_dir: state_dir.display().to_string(),
            running_instance: holder,
            tasks: Vec::new(),
        });
    };
    // The run lock's holder, as the kernel records it, names the running
    // orch from the instant it starts; the runs table is the fallback
    // where the kernel cannot say.
    let running_instance = match holder {
        Some(pid) => Some(pid),
        None => store
            .last_run()?
            .filter(|(_, pid, ended)| !ended && proc_tree::is_alive(*pid))
            .map(|(_, pid, _)| pid),
    };
    let samples = store.latest_samples()?;
    let unread = store.unacknowledged_messages()?;
    let mut tasks = Vec::new();
    for mut task in store.tasks()? {
        let mut last_attempt = store.attempts(&task.id)?.pop();
        if running_instance.is_none() {
            settle_unfinished(&mut task, last_attempt.as_mut());
        }
        let agent_pid = last_attempt
            .as_ref()
            .filter(|a| a.status == AttemptStatus::Running && running_instance.is_some())
            .and_then(|a| a.pid);
        let health = agent_pid.and_then(|_| samples.iter().find(|s| s.task_id == task.id).cloned());
        let unread_messages = unread.iter().filter(|m| m.to_task == task.id).count();
        tasks.push(TaskStatus {
            task,
            last_attempt,
            agent_pid,
            health,
            unread_messages,
        });
    }
    Ok(Status {
        state_dir: state_dir.display().to_string(),
        running_instance,
        tasks,
    })
}

/// With no orch running, nothing runs: a task the store still calls
/// running (its orch was killed) is shown as the next start will make it,
/// queued again with its attempt interrupted.
fn settle_unfinished(task: &mut TaskRow, attempt: Option<&mut AttemptRow>) {
    if task.state != crate::engine::TaskState::Running {
        return;
    }
    task.state = crate::engine::TaskState::Queued;
    task.cause = Some("orch stopped while it ran; it resumes when orch starts again".into());
    if let Some(attempt) = attempt.filter(|a| a.status == AttemptStatus::Running) {
        attempt.status = AttemptStatus::Interrupted;
        attempt.cause = Some("orch stopped while the attempt ran".into());
    }
}

fn render(status: &Status) -> String {
    let mut out = match status.running_instance {
        Some(pid) => format!(
            "orch is running (pid {pid}); state in {}\n",
            status.state_dir
        ),
        None => format!(
            "no orch running; last known state in {}\n",
            status.state_dir
        ),
    };
    // Subtasks under their parents, two spaces deeper each level.
    let items: Vec<(&str, Option<&str>)> = status
        .tasks
        .iter()
        .map(|t| (t.task.id.as_str(), t.task.parent.as_deref()))
        .collect();
    let order = crate::plan::nest::by_parent(&items);
    let name = |i: usize, depth: usize| {
        format!("{}{}", "  ".repeat(depth.min(8)), status.tasks[i].task.id)
    };
    let id_w = order
        .iter()
        .map(|&(i, depth)| name(i, depth).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:<id_w$}  {:<17}  {:>7}  {:<19}  {}\n",
        "task", "state", "attempt", "updated", "detail"
    ));
    for &(i, depth) in &order {
        let t = &status.tasks[i];
        let mut detail = match (&t.agent_pid, &t.health) {
            (Some(pid), Some(h)) => format!(
                "pid {pid}, cpu {:.0}%, rss {} MiB",
                h.cpu,
                h.rss / (1024 * 1024)
            ),
            (Some(pid), None) => format!("pid {pid}"),
            _ if t.task.state == crate::engine::TaskState::Done && !t.task.skipped => {
                let merge = match &t.task.merge_note {
                    Some(note) => format!("merge {}: {note}", t.task.merge_state),
                    None => format!("merge {}", t.task.merge_state),
                };
                match &t.task.cause {
                    Some(cause) => format!("{cause}; {merge}"),
                    None => merge,
                }
            }
            _ => t.task.cause.clone().unwrap_or_default(),
        };
        // What a running agent last said of itself (`orch heartbeat`).
        let said = t
            .agent_pid
            .and(t.last_attempt.as_ref())
            .map(|a| crate::engine::message::progress_text(a.progress, a.note.as_deref()));
        if let Some(said) = said {
            if !said.is_empty() {
                detail = format!("{said}; {detail}");
            }
        }
        // What a running agent is doing when it needs someone.
        let marked = t
            .agent_pid
            .and(t.last_attempt.as_ref())
            .and_then(|a| a.activity.as_ref())
            .filter(|m| m.state != "busy");
        if let Some(m) = marked {
            let what = match &m.question {
                Some(q) => format!("waiting for input: {q}"),
                None => m.state.clone(),
            };
            let signal = m.signal.as_deref().unwrap_or("?");
            detail = format!(
                "{what} (since {}, said by {signal}); {detail}",
                timefmt::date_time(m.since)
            );
        }
        if t.unread_messages > 0 {
            let unread = format!("{} unread message(s)", t.unread_messages);
            detail = match detail.is_empty() {
                true => unread,
                false => format!("{detail}; {unread}"),
            };
        }
        let line = format!(
            "{:<id_w$}  {:<17}  {:>7}  {:<19}  {}",
            name(i, depth),
            t.task.state.as_str(),
            t.task.attempts,
            timefmt::date_time(t.task.updated_at),
            detail
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TaskState;

    fn task(id: &str, parent: Option<&str>, state: TaskState) -> TaskStatus {
        let mut row = TaskRow::pending(id, id, "sh", 0);
        row.state = state;
        row.parent = parent.map(str::to_string);
        TaskStatus {
            task: row,
            last_attempt: None,
            agent_pid: None,
            health: None,
            unread_messages: 0,
        }
    }

    #[test]
    fn subtasks_are_listed_under_their_parent_and_their_parent_is_in_the_json() {
        let status = Status {
            state_dir: "/r/.orch".into(),
            running_instance: None,
            tasks: vec![
                task("p", None, TaskState::Blocked),
                task("q", None, TaskState::Done),
                task("p-a", Some("p"), TaskState::Done),
                task("p-a-x", Some("p-a"), TaskState::Running),
            ],
        };
        let text = render(&status);
        // Each line's name column as shown: its indent and the id.
        let names: Vec<String> = text
            .lines()
            .skip(2)
            .map(|l| l.split("  blocked").next().unwrap_or(l).to_string())
            .map(|l| l.split("  done").next().unwrap_or(&l).to_string())
            .map(|l| {
                l.split("  running")
                    .next()
                    .unwrap_or(&l)
                    .trim_end()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["p", "  p-a", "    p-a-x", "q"], "{text}");
        let json = serde_json::to_value(&status).expect("json");
        assert_eq!(json["tasks"][2]["parent"], "p");
        assert!(json["tasks"][0]["parent"].is_null());
    }
}
