//! `orch events [--follow] [--json]`: the event log of `state.db`, oldest
//! first, read in pages so memory stays bounded; with `--follow`, the rows
//! persisted after that, as the running orch wakes the reader.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::store::{EventRow, Store, StoreError};
use crate::timefmt;

/// What a wait for new events ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// Something was published: read again.
    Changed,
    /// Nothing within the wait: read again anyway (cheap, and catches a
    /// wake that was dropped).
    Quiet,
    /// The running orch ended: read once more and stop.
    Gone,
}

/// Something that can wait until the running instance has published new
/// events.
pub trait Wake {
    fn wait(&mut self, max: Duration) -> Woken;
}

const PAGE: usize = 500;

/// Print every persisted event, then (with `wake`) new ones until the
/// running orch ends. The exit status.
pub fn run(state_dir: &Path, json: bool, wake: Option<&mut dyn Wake>) -> i32 {
    let db = state_dir.join("state.db");
    let mut out = std::io::stdout().lock();
    follow(&db, json, wake, PAGE, &mut out)
}

fn follow(
    db: &Path,
    json: bool,
    mut wake: Option<&mut dyn Wake>,
    page: usize,
    out: &mut dyn Write,
) -> i32 {
    let mut last = 0i64;
    let mut store: Option<Store> = None;
    loop {
        if store.is_none() {
            match Store::open_read_only(db) {
                Ok(opened) => store = Some(opened),
                Err(StoreError::Missing { .. } | StoreError::Empty { .. }) if wake.is_some() => {}
                Err(StoreError::Missing { .. } | StoreError::Empty { .. }) => {
                    eprintln!("orch: no events yet in {}", db.display());
                    return 0;
                }
                Err(err) => {
                    eprintln!("orch: {err}");
                    return 1;
                }
            }
        }
        if let Some(store) = &store {
            match print_after(store, &mut last, json, page, out) {
                Ok(true) => {}
                // Stdout closed (`| head`): done.
                Ok(false) => return 0,
                Err(err) => {
                    eprintln!("orch: {err}");
                    return 1;
                }
            }
        }
        let Some(waker) = wake.as_deref_mut() else {
            return 0;
        };
        if waker.wait(Duration::from_secs(2)) == Woken::Gone {
            wake = None;
        }
    }
}

/// Print the rows after `last`, page by page; `Ok(false)` once stdout is
/// closed.
fn print_after(
    store: &Store,
    last: &mut i64,
    json: bool,
    page: usize,
    out: &mut dyn Write,
) -> Result<bool, StoreError> {
    loop {
        let rows = store.events_after(*last, page)?;
        let Some(end) = rows.last().map(|r| r.seq) else {
            return Ok(true);
        };
        let mut text = String::new();
        for row in &rows {
            text.push_str(&if json { json_line(row) } else { text_line(row) });
            text.push('\n');
        }
        if out
            .write_all(text.as_bytes())
            .and_then(|_| out.flush())
            .is_err()
        {
            return Ok(false);
        }
        *last = end;
        if rows.len() < page {
            return Ok(true);
        }
    }
}

fn text_line(row: &EventRow) -> String {
    let mut line = format!(
        "{}  {:<16} {:<4} {:<14}",
        timefmt::date_time(row.at),
        row.task_id.as_deref().unwrap_or("-"),
        row.attempt.map(|a| format!("#{a}")).unwrap_or_default(),
        row.kind,
    );
    match (&row.from_state, &row.to_state) {
        (Some(from), Some(to)) => line.push_str(&format!(" {from} -> {to}")),
        (None, Some(to)) => line.push_str(&format!(" -> {to}")),
        _ => {}
    }
    if let Some(cause) = &row.cause {
        line.push_str(&format!("  {cause}"));
    }
    line.trim_end().to_string()
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    seq: i64,
    at: i64,
    time: String,
    run_id: Option<i64>,
    task: Option<&'a str>,
    attempt: Option<u32>,
    kind: &'a str,
    from: Option<&'a str>,
    to: Option<&'a str>,
    cause: Option<&'a str>,
}

fn json_line(row: &EventRow) -> String {
    let event = JsonEvent {
        seq: row.seq,
        at: row.at,
        time: timefmt::rfc3339(row.at),
        run_id: row.run_id,
        task: row.task_id.as_deref(),
        attempt: row.attempt,
        kind: &row.kind,
        from: row.from_state.as_deref(),
        to: row.to_state.as_deref(),
        cause: row.cause.as_deref(),
    };
    serde_json::to_string(&event).unwrap_or_else(|err| format!("{{\"error\":\"{err}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(task: &str, kind: &str, to: &str) -> EventRow {
        EventRow {
            seq: 0,
            at: 1_700_000_000_000,
            run_id: None,
            task_id: Some(task.into()),
            attempt: Some(1),
            kind: kind.into(),
            from_state: Some("queued".into()),
            to_state: Some(to.into()),
            cause: Some("because".into()),
        }
    }

    fn write(store: &mut Store, rows: &[EventRow]) {
        let mut batch = store.batch().expect("batch");
        for row in rows {
            batch.event(row).expect("event");
        }
        batch.commit().expect("commit");
    }

    struct Script<'a> {
        store: &'a mut Store,
        steps: Vec<Option<EventRow>>,
    }

    impl Wake for Script<'_> {
        fn wait(&mut self, _max: Duration) -> Woken {
            match self.steps.pop() {
                Some(Some(row)) => {
                    write(self.store, &[row]);
                    Woken::Changed
                }
                Some(None) => Woken::Quiet,
                None => Woken::Gone,
            }
        }
    }

    #[test]
    fn prints_every_event_in_pages_then_follows_until_the_run_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("state.db");
        let mut store = Store::open(&db).expect("store");
        write(
            &mut store,
            &[
                event("a", "state", "running"),
                event("b", "state", "running"),
                event("c", "state", "done"),
            ],
        );
        let mut script = Script {
            store: &mut store,
            steps: vec![Some(event("d", "state", "done")), None],
        };
        let mut out = Vec::new();
        // Pages of two cross the first batch's boundary.
        let code = follow(&db, false, Some(&mut script), 2, &mut out);
        assert_eq!(code, 0);
        let text = String::from_utf8(out).expect("utf8");
        let tasks: Vec<&str> = text
            .lines()
            .map(|l| l.split_whitespace().nth(2).unwrap_or(""))
            .collect();
        assert_eq!(tasks, ["a", "b", "c", "d"], "{text}");
        assert!(text.contains("#1"), "{text}");
        assert!(text.contains("queued -> done  because"), "{text}");
    }

    #[test]
    fn json_lines_carry_every_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("state.db");
        let mut store = Store::open(&db).expect("store");
        write(&mut store, &[event("a", "state", "done")]);
        drop(store);
        let mut out = Vec::new();
        assert_eq!(follow(&db, true, None, 10, &mut out), 0);
        let line: serde_json::Value =
            serde_json::from_slice(out.split(|b| *b == b'\n').next().expect("a line"))
                .expect("json");
        assert_eq!(line["task"], "a");
        assert_eq!(line["attempt"], 1);
        assert_eq!(line["kind"], "state");
        assert_eq!(line["from"], "queued");
        assert_eq!(line["to"], "done");
        assert_eq!(line["cause"], "because");
        assert_eq!(line["at"], 1_700_000_000_000i64);
        assert!(line["time"]
            .as_str()
            .is_some_and(|t| t.starts_with("2023-11-14")));
        assert!(line["seq"].as_i64().is_some_and(|s| s > 0));
    }
}
