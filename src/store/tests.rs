use std::path::Path;

use super::*;

fn task(id: &str, state: TaskState) -> TaskRow {
    TaskRow {
        state,
        attempts: 0,
        cause: None,
        created_at: 1,
        updated_at: 1,
        ..TaskRow::pending(id, id, "sh", 1)
    }
}

#[test]
fn migrates_once_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/state.db");
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    let mode: String = store
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
}

#[test]
fn refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = Store::open(&path).unwrap();
    store.conn.pragma_update(None, "user_version", 99).unwrap();
    drop(store);
    let err = Store::open(&path).err().unwrap();
    assert!(
        err.to_string().contains("newer than this orch understands"),
        "{err}"
    );
}

#[test]
fn batch_is_atomic_and_rows_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let mut row = task("a", TaskState::Queued);
    {
        let mut b = store.batch().unwrap();
        b.put_task(&row).unwrap();
        b.state_event(None, &row, None, None).unwrap();
        b.commit().unwrap();
    }
    // A batch dropped without commit leaves nothing behind.
    {
        let mut b = store.batch().unwrap();
        row.state = TaskState::Running;
        b.put_task(&row).unwrap();
    }
    assert_eq!(store.task("a").unwrap().unwrap().state, TaskState::Queued);

    row.state = TaskState::Running;
    row.attempts = 1;
    let attempt = AttemptRow {
        task_id: "a".into(),
        attempt: 1,
        agent: "sh".into(),
        status: AttemptStatus::Running,
        started_at: 5,
        ended_at: None,
        pid: Some(42),
        exit_code: None,
        signal: None,
        cause: None,
        log_path: Some("logs/a/1.log".into()),
        commit_id: None,
        sandbox: None,
        progress: None,
        note: None,
        activity: None,
        session_id: None,
        resumed: None,
    };
    let mut b = store.batch().unwrap();
    b.put_task(&row).unwrap();
    b.put_attempt(&attempt).unwrap();
    b.state_event(None, &row, Some(TaskState::Queued), Some(1))
        .unwrap();
    b.commit().unwrap();

    assert_eq!(store.tasks().unwrap(), vec![row]);
    assert_eq!(store.attempts("a").unwrap(), vec![attempt.clone()]);
    assert_eq!(store.running_attempts().unwrap(), vec![attempt]);
    let events = store.events(Some("a"), 10).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].from_state.as_deref(), Some("queued"));
    assert_eq!(events[1].to_state.as_deref(), Some("running"));
}

#[test]
fn events_are_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let row = task("a", TaskState::Pending);
    let mut b = store.batch().unwrap();
    b.put_task(&row).unwrap();
    b.state_event(None, &row, None, None).unwrap();
    b.commit().unwrap();
    assert!(store.conn.execute("DELETE FROM events", []).is_err());
    assert!(store
        .conn
        .execute("UPDATE events SET kind = 'x'", [])
        .is_err());
}

#[test]
fn events_after_pages_forward_from_a_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    let mut b = store.batch().unwrap();
    for at in 1..=5 {
        let mut row = task(&format!("t{at}"), TaskState::Queued);
        row.updated_at = at;
        b.put_task(&row).unwrap();
        b.state_event(Some(7), &row, Some(TaskState::Pending), Some(2))
            .unwrap();
    }
    b.commit().unwrap();
    let reader = Store::open_read_only(store.path()).unwrap();
    let first = reader.events_after(0, 2).unwrap();
    assert_eq!(
        first.iter().map(|e| e.at).collect::<Vec<_>>(),
        vec![1, 2],
        "oldest first"
    );
    assert_eq!(first[0].run_id, Some(7));
    assert_eq!(first[0].attempt, Some(2));
    assert_eq!(first[0].task_id.as_deref(), Some("t1"));
    assert_eq!(first[0].from_state.as_deref(), Some("pending"));
    let rest = reader.events_after(first[1].seq, 10).unwrap();
    assert_eq!(rest.iter().map(|e| e.at).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert!(rest.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(reader.events_after(rest[2].seq, 10).unwrap().is_empty());
    // The same rows as the newest-first query, in the same shape.
    assert_eq!(reader.events(None, 3).unwrap(), rest);
}

#[test]
fn read_only_sees_writes_and_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::Missing { .. })
    ));
    let mut store = Store::open(&path).unwrap();
    let mut b = store.batch().unwrap();
    b.put_task(&task("x", TaskState::Done)).unwrap();
    b.commit().unwrap();
    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(reader.tasks().unwrap()[0].state, TaskState::Done);
}

fn sample(task: &str, at: i64) -> SampleRow {
    SampleRow {
        task_id: task.into(),
        attempt: 1,
        at,
        cpu: at as f64,
        rss: 1,
        procs: 1,
    }
}

#[test]
fn samples_keep_a_bounded_window_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    for at in 0..200 {
        let mut b = store.batch().unwrap();
        b.sample(&sample("a", at)).unwrap();
        if at < 5 {
            b.sample(&sample("b", at)).unwrap();
        }
        b.commit().unwrap();
    }
    let count = |task: &str| -> i64 {
        store
            .conn
            .query_row(
                "SELECT COUNT(*) FROM agent_samples WHERE task_id = ?1",
                [task],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(count("a"), i64::from(SAMPLES_KEPT));
    assert_eq!(count("b"), 5, "another task's samples are its own");
    let oldest: i64 = store
        .conn
        .query_row(
            "SELECT MIN(at) FROM agent_samples WHERE task_id = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(oldest, 200 - i64::from(SAMPLES_KEPT), "the newest are kept");
    let latest = store.latest_samples().unwrap();
    assert!(latest.iter().any(|s| s.task_id == "a" && s.at == 199));
}

#[test]
fn pruning_samples_goes_through_the_task_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("state.db")).unwrap();
    let plan: Vec<String> = store
        .conn
        .prepare(&format!("EXPLAIN QUERY PLAN {PRUNE_SAMPLES}"))
        .unwrap()
        .query_map(params!["a", SAMPLES_KEPT], |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert!(!plan.is_empty());
    for step in &plan {
        assert!(
            !step.starts_with("SCAN") || step.contains("INDEX"),
            "a full scan: {plan:?}"
        );
    }
}

/// A database at `path` as schema version `version` left it.
fn at_version(path: &Path, version: usize) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    for step in &migrations::MIGRATIONS[..version] {
        conn.execute_batch(step).unwrap();
    }
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn
}

#[test]
fn migration_trims_samples_an_earlier_version_accumulated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = at_version(&path, 3);
        for at in 0..150 {
            conn.execute(
                "INSERT INTO agent_samples VALUES ('a', 1, ?1, 0, 0, 1)",
                [at],
            )
            .unwrap();
        }
    }
    let store = Store::open(&path).unwrap();
    let (n, oldest): (i64, i64) = store
        .conn
        .query_row("SELECT COUNT(*), MIN(at) FROM agent_samples", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!((n, oldest), (60, 90));
}

#[test]
fn known_worktree_follows_the_intent_and_the_agents() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db")).unwrap();
    assert_eq!(store.known_worktree("a").unwrap(), Known::No);
    let put = |store: &mut Store, row: WorktreeRow| {
        let mut b = store.batch().unwrap();
        b.worktree(&row).unwrap();
        b.commit().unwrap();
    };
    put(
        &mut store,
        WorktreeRow::creating("a", "/w/a", "orch/a", 100),
    );
    assert_eq!(store.known_worktree("a").unwrap(), Known::Creating);
    // An attempt of an earlier worktree, ended before the intent: no agent
    // has worked in this one.
    let attempt = AttemptRow {
        task_id: "a".into(),
        attempt: 1,
        agent: "sh".into(),
        status: AttemptStatus::Succeeded,
        started_at: 10,
        ended_at: Some(20),
        pid: Some(7),
        exit_code: Some(0),
        signal: None,
        cause: None,
        log_path: None,
        commit_id: None,
        sandbox: None,
        progress: None,
        note: None,
        activity: None,
        session_id: None,
        resumed: None,
    };
    let mut b = store.batch().unwrap();
    b.put_task(&task("a", TaskState::Running)).unwrap();
    b.put_attempt(&attempt).unwrap();
    b.commit().unwrap();
    assert_eq!(store.known_worktree("a").unwrap(), Known::Creating);
    // The current attempt started before the intent, but got a pid: an
    // agent may have worked in it, so it is kept as is.
    let mut b = store.batch().unwrap();
    b.put_attempt(&AttemptRow {
        attempt: 2,
        started_at: 90,
        ended_at: None,
        status: AttemptStatus::Running,
        ..attempt
    })
    .unwrap();
    b.commit().unwrap();
    assert_eq!(store.known_worktree("a").unwrap(), Known::Ready);

    put(&mut store, WorktreeRow::ready("b", "/w/b", "orch/b", 100));
    assert_eq!(store.known_worktree("b").unwrap(), Known::Ready);
    put(
        &mut store,
        WorktreeRow {
            removed_at: Some(200),
            ..WorktreeRow::ready("b", "/w/b", "orch/b", 100)
        },
    );
    assert_eq!(store.known_worktree("b").unwrap(), Known::Removed);
    assert_eq!(
        store.worktree("b").unwrap().map(|w| w.state),
        Some(WorktreeState::Ready)
    );
}

/// Files in `dir`, with their sizes.
fn listing(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<(String, u64)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn inspect_tells_missing_empty_damaged_and_healthy_apart_touching_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Missing);
    assert!(listing(dir.path()).is_empty());

    std::fs::write(&path, "").unwrap();
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Empty);
    assert!(matches!(
        Store::open_read_only(&path),
        Err(StoreError::Empty { .. })
    ));

    std::fs::write(&path, "not a database at all, just some text ".repeat(10)).unwrap();
    assert!(matches!(
        Store::inspect(&path).unwrap(),
        DbCondition::Damaged(d) if d.contains("not an SQLite database")
    ));

    std::fs::remove_file(&path).unwrap();
    drop(Store::open(&path).unwrap());
    let before = listing(dir.path());
    assert_eq!(before, vec![("state.db".to_string(), before[0].1)]);
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Healthy);
    assert_eq!(listing(dir.path()), before, "no -wal or -shm created");

    // Missing tables for its version.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE messages").unwrap();
    }
    assert!(matches!(
        Store::inspect(&path).unwrap(),
        DbCondition::Damaged(d) if d.contains("table messages")
    ));

    // Pages overwritten in the middle.
    std::fs::remove_file(&path).unwrap();
    {
        let mut store = Store::open(&path).unwrap();
        let mut b = store.batch().unwrap();
        for i in 0..500 {
            b.put_task(&task(
                &format!("task-{i}-{}", "x".repeat(100)),
                TaskState::Done,
            ))
            .unwrap();
        }
        b.commit().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[4096..8192] {
        *b = 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(
        matches!(Store::inspect(&path).unwrap(), DbCondition::Damaged(_)),
        "{:?}",
        Store::inspect(&path)
    );
}

#[test]
fn inspect_reads_what_a_killed_writer_left_in_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    let mut b = store.batch().unwrap();
    b.put_task(&task("a", TaskState::Done)).unwrap();
    b.commit().unwrap();
    // Still open, as a killed orch leaves it: the schema may be only in
    // the -wal file.
    assert!(dir.path().join("state.db-wal").exists());
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Healthy);
    drop(store);
}

fn added(id: &str, deps: &[&str], at: i64) -> AddedTaskRow {
    AddedTaskRow {
        task: crate::config::NewTask {
            id: id.into(),
            agent: "sh".into(),
            prompt: format!("make {id}\nwith care"),
            title: (id == "b").then(|| "Bee".to_string()),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            parent: (id == "c").then(|| "a".to_string()),
        },
        origin: ORIGIN_CLI.into(),
        added_by: "alice".into(),
        added_at: at,
    }
}

#[test]
fn added_tasks_and_origins_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut store = Store::open(&path).unwrap();
    assert!(store.added_tasks().unwrap().is_empty());
    let first = added("b", &[], 10);
    let second = added("c", &["a", "b"], 20);
    let mut row = task("c", TaskState::Pending);
    row.origin = ORIGIN_CLI.into();
    row.parent = Some("a".into());
    let mut b = store.batch().unwrap();
    b.put_added_task(&second).unwrap();
    b.put_added_task(&first).unwrap();
    b.put_task(&row).unwrap();
    b.commit().unwrap();
    drop(store);

    let reader = Store::open_read_only(&path).unwrap();
    assert_eq!(
        reader.added_tasks().unwrap(),
        vec![first, second.clone()],
        "in the order they were added"
    );
    assert_eq!(
        reader.task("c").unwrap().map(|t| (t.origin, t.parent)),
        Some(("cli".into(), Some("a".into())))
    );
    assert_eq!(
        reader.added_tasks().unwrap()[1].task.parent.as_deref(),
        Some("a"),
        "a subtask's definition names its parent"
    );
    drop(reader);

    // Writing the same id again replaces its definition.
    let mut store = Store::open(&path).unwrap();
    let again = AddedTaskRow {
        added_by: "bob".into(),
        ..added("c", &[], 30)
    };
    let mut b = store.batch().unwrap();
    b.put_added_task(&again).unwrap();
    row.origin = ORIGIN_CONFIG.into();
    b.put_task(&row).unwrap();
    b.commit().unwrap();
    let rows = store.added_tasks().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1], again);
    assert_eq!(
        store.task("c").unwrap().map(|t| t.origin),
        Some("config".into())
    );
}

#[test]
fn migration_marks_earlier_tasks_as_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = at_version(&path, 6);
        conn.execute(
            "INSERT INTO tasks (id, title, agent, state, created_at, updated_at)
             VALUES ('old', 'old', 'sh', 'done', 1, 1)",
            [],
        )
        .unwrap();
        assert!(
            conn.prepare("SELECT id FROM added_tasks").is_err(),
            "no such table before"
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        migrations::MIGRATIONS.len() as i64
    );
    let old = store.task("old").unwrap().expect("kept");
    assert_eq!(
        (old.state, old.origin.as_str()),
        (TaskState::Done, "config")
    );
    assert!(store.added_tasks().unwrap().is_empty());
    drop(store);
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Healthy);
}

#[test]
fn migration_adds_the_sandbox_of_attempts_none_for_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = at_version(&path, 7);
        conn.execute_batch(
            "INSERT INTO tasks (id, title, agent, state, created_at, updated_at)
             VALUES ('old', 'old', 'sh', 'done', 1, 1);
             INSERT INTO attempts (task_id, attempt, agent, status, started_at)
             VALUES ('old', 1, 'sh', 'succeeded', 1);",
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let old = store.attempts("old").unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].sandbox, None);
    let confined = AttemptRow {
        attempt: 2,
        sandbox: Some("partial (ABI 2)".into()),
        ..old[0].clone()
    };
    let mut b = store.batch().unwrap();
    b.put_attempt(&confined).unwrap();
    b.commit().unwrap();
    assert_eq!(store.attempts("old").unwrap()[1], confined);
    // An update keeps what the row says now.
    let updated = AttemptRow {
        sandbox: Some("worktree".into()),
        ..confined
    };
    let mut b = store.batch().unwrap();
    b.put_attempt(&updated).unwrap();
    b.commit().unwrap();
    assert_eq!(store.attempts("old").unwrap()[1], updated);
}

#[test]
fn migration_9_adds_progress_and_note_of_attempts_none_for_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let conn = at_version(&path, 8);
        conn.execute_batch(
            "INSERT INTO tasks (id, title, agent, state, created_at, updated_at)
             VALUES ('old', 'old', 'sh', 'running', 1, 1);
             INSERT INTO attempts (task_id, attempt, agent, status, started_at)
             VALUES ('old', 1, 'sh', 'running', 1);",
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let old = store.attempts("old").unwrap().remove(0);
    assert_eq!((old.progress, old.note.as_deref()), (None, None));
    let said = AttemptRow {
        progress: Some(42),
        note: Some("parsing the schema".into()),
        activity: None,
        session_id: None,
        resumed: None,
        ..old
    };
    let mut b = store.batch().unwrap();
    b.put_attempt(&said).unwrap();
    b.commit().unwrap();
    assert_eq!(store.attempts("old").unwrap()[0], said);
    drop(store);
    assert_eq!(Store::inspect(&path).unwrap(), DbCondition::Healthy);
}
