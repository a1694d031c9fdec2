use super::*;

fn task(id: &str, state: TaskState) -> TaskRow {
    TaskRow {
        id: id.into(),
        title: id.into(),
        agent: "sh".into(),
        state,
        attempts: 0,
        failures: 0,
        cause: None,
        retry_at: None,
        approved: false,
        merge_state: crate::store::MergeState::Unmerged,
        created_at: 1,
        updated_at: 1,
        skipped: false,
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
