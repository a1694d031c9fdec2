//! `state.db`: every piece of orchestration state, in SQLite (WAL mode).
//!
//! The engine owns the only writing [`Store`]; it groups each state change
//! into one [`Batch`] (task row + attempt + event) committed atomically before
//! the change is published. Readers (`orch status`, reports) open their own
//! connection; WAL lets them read while a run writes.

mod inspect;
mod migrations;
mod rows;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

pub use rows::{
    ActivityRow, AddedTaskRow, ApprovalRow, AttemptRow, AttemptStatus, EventRow, Gate, MergeRow,
    MergeState, MessageRow, MessageState, SampleRow, TaskRow, Verdict, WorktreeRow, WorktreeState,
    ORIGIN_CLI, ORIGIN_CONFIG,
};

use crate::engine::state::TaskState;
use crate::git::Known;

/// Health samples kept per task: a minute at one a second, what the control
/// room's sparkline shows. `orch status` reads only the newest. Older ones
/// are deleted as new ones come in.
pub const SAMPLES_KEPT: u32 = 60;

/// What [`Store::inspect`] found at a `state.db` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbCondition {
    /// No file: nothing has run here.
    Missing,
    /// Zero bytes, or an SQLite file without any schema.
    Empty,
    /// Not an SQLite file, a failed integrity check, or tables missing for
    /// its schema version; the detail says which.
    Damaged(String),
    /// Usable (possibly of a newer schema, which [`Store::open`] refuses).
    Healthy,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state database {path} has schema version {found}, newer than this orch understands ({known}); upgrade orch")]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("state database {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error("no state database at {path} (nothing has run here yet)")]
    Missing { path: PathBuf },
    #[error("state database {path} is empty")]
    Empty { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, StoreError>;

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sql(path, e))?;
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Open an existing database for reading only. An empty or truncated
    /// file is [`StoreError::Empty`], not a store without tasks; one an
    /// older orch wrote is migrated first.
    pub fn open_read_only(path: &Path) -> Result<Store> {
        match std::fs::metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::Missing {
                    path: path.to_path_buf(),
                })
            }
            Ok(meta) if meta.len() == 0 => {
                return Err(StoreError::Empty {
                    path: path.to_path_buf(),
                })
            }
            _ => {}
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql(path, e))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| sql(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        let version = store.user_version()?;
        let known = migrations::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: store.path.clone(),
                found: version,
                known,
            });
        }
        if version == 0 {
            return Err(StoreError::Empty {
                path: store.path.clone(),
            });
        }
        if version < known {
            // Written by an older orch: brought up to this one's schema
            // (each step only adds), so reading it works. An older orch
            // still running here keeps working on it.
            drop(store);
            return Store::open(path);
        }
        Ok(store)
    }

    /// Says whether the database at `path` is missing, empty, damaged or
    /// healthy, creating and changing nothing: no file, no `-wal`, no
    /// `-shm` (without a `-wal` left by a killed writer the file is read
    /// as immutable, since a read-only SQLite connection would otherwise
    /// create both). Runs `PRAGMA quick_check` and checks that every table,
    /// index and trigger of its schema version exists. Errors are only for
    /// a file that cannot be read at all.
    pub fn inspect(path: &Path) -> Result<DbCondition> {
        inspect::condition(path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&mut self) -> Result<()> {
        // WAL: readers never block the writer. synchronous=NORMAL is durable
        // across a crash of orch (not of the OS), which is what we promise.
        self.conn
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(|e| sql(&self.path, e))?;
        self.conn
            .busy_timeout(Duration::from_secs(5))
            .map_err(|e| sql(&self.path, e))
    }

    fn user_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| sql(&self.path, e))
    }

    fn migrate(&mut self) -> Result<()> {
        let version = self.user_version()?;
        let known = migrations::MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: version,
                known,
            });
        }
        if version == known {
            return Ok(());
        }
        // All the steps in one transaction: a reader (`orch status` while
        // a new run starts) sees the old schema or the new one, never half.
        let tx = self.conn.transaction().map_err(|e| sql(&self.path, e))?;
        for step in migrations::MIGRATIONS.iter().skip(version as usize) {
            tx.execute_batch(step).map_err(|e| sql(&self.path, e))?;
        }
        tx.pragma_update(None, "user_version", known)
            .map_err(|e| sql(&self.path, e))?;
        tx.commit().map_err(|e| sql(&self.path, e))
    }

    pub fn schema_version(&self) -> Result<i64> {
        self.user_version()
    }

    /// Start an atomic group of writes.
    pub fn batch(&mut self) -> Result<Batch<'_>> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sql(&path, e))?;
        Ok(Batch { tx, path })
    }

    pub fn tasks(&self) -> Result<Vec<TaskRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM tasks ORDER BY created_at, rowid",
                TaskRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], TaskRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    pub fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM tasks WHERE id = ?1", TaskRow::COLUMNS),
                [id],
                TaskRow::from_row,
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
            .and_then(|row| row.transpose().map_err(|d| self.corrupt(d)))
    }

    /// The tasks added at run time, in the order they were added.
    pub fn added_tasks(&self) -> Result<Vec<AddedTaskRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM added_tasks ORDER BY added_at, rowid",
                AddedTaskRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], AddedTaskRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    pub fn attempts(&self, task: &str) -> Result<Vec<AttemptRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM attempts WHERE task_id = ?1 ORDER BY attempt",
                AttemptRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([task], AttemptRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    pub fn all_attempts(&self) -> Result<Vec<AttemptRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM attempts ORDER BY task_id, attempt",
                AttemptRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], AttemptRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    pub fn running_attempts(&self) -> Result<Vec<AttemptRow>> {
        Ok(self
            .all_attempts()?
            .into_iter()
            .filter(|a| a.status == AttemptStatus::Running)
            .collect())
    }

    pub fn approvals(&self, task: &str) -> Result<Vec<ApprovalRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT task_id, gate, decision, by, reason, at FROM approvals
                 WHERE task_id = ?1 ORDER BY id",
            )
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([task], |r| {
                let gate: String = r.get(1)?;
                let decision: String = r.get(2)?;
                let (Some(gate), Some(decision)) = (Gate::parse(&gate), Verdict::parse(&decision))
                else {
                    return Ok(Err(format!("unknown approval {gate:?}/{decision:?}")));
                };
                Ok(Ok(ApprovalRow {
                    task_id: r.get(0)?,
                    gate,
                    decision,
                    by: r.get(3)?,
                    reason: r.get(4)?,
                    at: r.get(5)?,
                }))
            })
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    /// The most recent events, oldest first; `task` filters to one task.
    pub fn events(&self, task: Option<&str>, limit: usize) -> Result<Vec<EventRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM events WHERE (?1 IS NULL OR task_id = ?1)
                 ORDER BY seq DESC LIMIT ?2",
                EventRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![task, limit_param(limit)], EventRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        let mut events = self.collect(rows)?;
        events.reverse();
        Ok(events)
    }

    /// Up to `limit` events with a sequence number above `seq`, oldest
    /// first: a page of the history for readers that follow it (`seq` 0
    /// starts at the beginning; the next page starts after the last row).
    /// A walk of the primary key, so a page costs the same at any depth.
    pub fn events_after(&self, seq: i64, limit: usize) -> Result<Vec<EventRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {} FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                EventRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![seq, limit_param(limit)], EventRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    pub fn worktree(&self, task: &str) -> Result<Option<WorktreeRow>> {
        self.conn
            .query_row(
                &format!(
                    "SELECT {} FROM worktrees WHERE task_id = ?1",
                    WorktreeRow::COLUMNS
                ),
                [task],
                WorktreeRow::from_row,
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
            .and_then(|row| row.transpose().map_err(|d| self.corrupt(d)))
    }

    /// The base branch of the latest run of the plan (a command's one-shot
    /// run does not count), if any run recorded one.
    pub fn last_run_base(&self) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT base_branch FROM runs WHERE mode != 'command' AND base_branch IS NOT NULL
                 ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    /// What the store knows about `task`'s worktree, for
    /// [`crate::git::Repo::prepare_worktree`]. A worktree recorded as
    /// `creating` counts as [`Known::Creating`] (safe to make again) only
    /// while no attempt has had an agent process since it was recorded;
    /// otherwise an agent may have worked in it and it is [`Known::Ready`]:
    /// kept as is.
    pub fn known_worktree(&self, task: &str) -> Result<Known> {
        let Some(row) = self.worktree(task)? else {
            return Ok(Known::No);
        };
        if row.removed_at.is_some() {
            return Ok(Known::Removed);
        }
        if row.state == WorktreeState::Ready {
            return Ok(Known::Ready);
        }
        // An attempt spawned into this worktree ended (or was closed as
        // interrupted) after the intent was recorded, or has not ended.
        let agent_ran: bool = self
            .conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM attempts WHERE task_id = ?1 AND pid IS NOT NULL
                                AND (ended_at IS NULL OR ended_at >= ?2))",
                params![task, row.created_at],
                |r| r.get(0),
            )
            .map_err(|e| sql(&self.path, e))?;
        Ok(if agent_ran {
            Known::Ready
        } else {
            Known::Creating
        })
    }

    /// The latest health sample of each task's current attempt.
    pub fn latest_samples(&self) -> Result<Vec<SampleRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT s.task_id, s.attempt, s.at, s.cpu, s.rss, s.procs FROM agent_samples s
                 JOIN (SELECT task_id, MAX(at) AS at FROM agent_samples GROUP BY task_id) m
                   ON s.task_id = m.task_id AND s.at = m.at",
            )
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Ok(SampleRow {
                    task_id: r.get(0)?,
                    attempt: r.get(1)?,
                    at: r.get(2)?,
                    cpu: r.get(3)?,
                    rss: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
                    procs: r.get(5)?,
                }))
            })
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    /// Messages not acknowledged yet, oldest first: what agents are still
    /// to read.
    pub fn unacknowledged_messages(&self) -> Result<Vec<MessageRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM messages WHERE state != 'acknowledged' ORDER BY id",
                MessageRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map([], MessageRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        self.collect(rows)
    }

    /// The most recent messages (all states), oldest first; `task` keeps
    /// those for or from that task.
    pub fn messages(&self, task: Option<&str>, limit: usize) -> Result<Vec<MessageRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {} FROM messages WHERE (?1 IS NULL OR task_id = ?1 OR from_task = ?1)
                 ORDER BY id DESC LIMIT ?2",
                MessageRow::COLUMNS
            ))
            .map_err(|e| sql(&self.path, e))?;
        let rows = stmt
            .query_map(params![task, limit_param(limit)], MessageRow::from_row)
            .map_err(|e| sql(&self.path, e))?;
        let mut out = self.collect(rows)?;
        out.reverse();
        Ok(out)
    }

    /// The highest message id ever given (0 for none): new ones count on.
    pub fn last_message_id(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT COALESCE(MAX(id), 0) FROM messages", [], |r| {
                r.get(0)
            })
            .map_err(|e| sql(&self.path, e))
    }

    /// The run that is (or was last) in progress: (id, pid, ended?).
    pub fn last_run(&self) -> Result<Option<(i64, u32, bool)>> {
        self.conn
            .query_row(
                "SELECT id, pid, ended_at IS NOT NULL FROM runs ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| sql(&self.path, e))
    }

    fn collect<T>(
        &self,
        rows: impl Iterator<Item = rusqlite::Result<std::result::Result<T, String>>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for row in rows {
            out.push(
                row.map_err(|e| sql(&self.path, e))?
                    .map_err(|d| self.corrupt(d))?,
            );
        }
        Ok(out)
    }

    fn corrupt(&self, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail,
        }
    }
}

/// A row count as SQLite's `LIMIT` takes it (beyond `i64::MAX` is no limit).
fn limit_param(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn sql(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// Deletes the samples of task ?1 older than its newest ?2.
const PRUNE_SAMPLES: &str = "DELETE FROM agent_samples WHERE task_id = ?1 AND rowid <= (
        SELECT rowid FROM agent_samples WHERE task_id = ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2)";

/// One atomic group of writes; nothing is visible until [`Batch::commit`].
pub struct Batch<'a> {
    tx: Transaction<'a>,
    path: PathBuf,
}

impl Batch<'_> {
    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql(&self.path, e)
    }

    /// Insert or replace a task row.
    pub fn put_task(&mut self, row: &TaskRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO tasks (id, title, agent, state, attempts, failures, cause, retry_at,
                                    approved, merge_state, created_at, updated_at, skipped,
                                    merge_note, conflicts, merge_commit, merge_approved,
                                    merge_wanted, next_start, pushed, origin, parent, session_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20, ?21, ?22, ?23)
                 ON CONFLICT(id) DO UPDATE SET title = ?2, agent = ?3, state = ?4, attempts = ?5,
                    failures = ?6, cause = ?7, retry_at = ?8, approved = ?9, merge_state = ?10,
                    updated_at = ?12, skipped = ?13, merge_note = ?14, conflicts = ?15,
                    merge_commit = ?16, merge_approved = ?17, merge_wanted = ?18,
                    next_start = ?19, pushed = ?20, origin = ?21, parent = ?22,
                    session_id = ?23",
                params![
                    row.id,
                    row.title,
                    row.agent,
                    row.state.as_str(),
                    row.attempts,
                    row.failures,
                    row.cause,
                    row.retry_at,
                    row.approved,
                    row.merge_state.as_str(),
                    row.created_at,
                    row.updated_at,
                    row.skipped,
                    row.merge_note,
                    (!row.conflicts.is_empty()).then(|| row.conflicts.join("\n")),
                    row.merge_commit,
                    row.merge_approved,
                    row.merge_wanted,
                    row.next_start.as_str(),
                    row.pushed,
                    row.origin,
                    row.parent,
                    row.session_id,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Keep the definition of a task added at run time (replacing an
    /// earlier one of the same id).
    pub fn put_added_task(&mut self, a: &AddedTaskRow) -> Result<()> {
        let t = &a.task;
        self.tx
            .execute(
                "INSERT INTO added_tasks (id, agent, prompt, title, depends_on, origin, added_by,
                                          added_at, parent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(id) DO UPDATE SET agent = ?2, prompt = ?3, title = ?4,
                    depends_on = ?5, origin = ?6, added_by = ?7, added_at = ?8, parent = ?9",
                params![
                    t.id,
                    t.agent,
                    t.prompt,
                    t.title,
                    (!t.depends_on.is_empty()).then(|| t.depends_on.join("\n")),
                    a.origin,
                    a.added_by,
                    a.added_at,
                    t.parent,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn put_attempt(&mut self, a: &AttemptRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO attempts (task_id, attempt, agent, status, started_at, ended_at, pid,
                                       exit_code, signal, cause, log_path, commit_id, sandbox,
                                       progress, note, activity, activity_since, activity_signal,
                                       activity_detail, question, session_id, resumed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                         ?17, ?18, ?19, ?20, ?21, ?22)
                 ON CONFLICT(task_id, attempt) DO UPDATE SET agent = ?3, status = ?4,
                    started_at = ?5, ended_at = ?6, pid = ?7, exit_code = ?8, signal = ?9,
                    cause = ?10, log_path = ?11, commit_id = ?12, sandbox = ?13,
                    progress = ?14, note = ?15, activity = ?16, activity_since = ?17,
                    activity_signal = ?18, activity_detail = ?19, question = ?20,
                    session_id = ?21, resumed = ?22",
                params![
                    a.task_id,
                    a.attempt,
                    a.agent,
                    a.status.as_str(),
                    a.started_at,
                    a.ended_at,
                    a.pid,
                    a.exit_code,
                    a.signal,
                    a.cause,
                    a.log_path,
                    a.commit_id,
                    a.sandbox,
                    a.progress,
                    a.note,
                    a.activity.as_ref().map(|m| m.state.as_str()),
                    a.activity.as_ref().map(|m| m.since),
                    a.activity.as_ref().and_then(|m| m.signal.as_deref()),
                    a.activity.as_ref().and_then(|m| m.detail.as_deref()),
                    a.activity.as_ref().and_then(|m| m.question.as_deref()),
                    a.session_id,
                    a.resumed,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn approval(&mut self, a: &ApprovalRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO approvals (task_id, gate, decision, by, reason, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    a.task_id,
                    a.gate.as_str(),
                    a.decision.as_str(),
                    a.by,
                    a.reason,
                    a.at
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Record a health sample and drop the task's samples beyond the newest
    /// [`SAMPLES_KEPT`]. Both statements go through the `(task_id, ...)`
    /// index and touch at most `SAMPLES_KEPT + 1` rows: the table stays
    /// bounded without ever being scanned.
    pub fn sample(&mut self, s: &SampleRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO agent_samples (task_id, attempt, at, cpu, rss, procs)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    s.task_id,
                    s.attempt,
                    s.at,
                    s.cpu,
                    i64::try_from(s.rss).unwrap_or(i64::MAX),
                    s.procs
                ])
            })
            .map_err(|e| sql(&self.path, e))?;
        self.tx
            .prepare_cached(PRUNE_SAMPLES)
            .and_then(|mut stmt| stmt.execute(params![s.task_id, SAMPLES_KEPT]))
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn worktree(&mut self, w: &WorktreeRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO worktrees (task_id, path, branch, created_at, removed_at, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(task_id) DO UPDATE SET path = ?2, branch = ?3, created_at = ?4,
                    removed_at = ?5, state = ?6",
                params![
                    w.task_id,
                    w.path,
                    w.branch,
                    w.created_at,
                    w.removed_at,
                    w.state.as_str()
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Append to the merge history.
    pub fn merge(&mut self, m: &MergeRow) -> Result<()> {
        self.tx
            .execute(
                "INSERT INTO merges (task_id, at, base, outcome, commit_id, files, by, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    m.task_id,
                    m.at,
                    m.base,
                    m.outcome,
                    m.commit_id,
                    (!m.files.is_empty()).then(|| m.files.join("\n")),
                    m.by,
                    m.detail,
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// A message as it now stands (its id is the engine's).
    pub fn put_message(&mut self, m: &MessageRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO messages (id, task_id, sender, from_task, from_attempt, body, at,
                    state, delivered_at, delivered_attempt, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT(id) DO UPDATE SET state = ?8, delivered_at = ?9,
                    delivered_attempt = ?10, read_at = ?11",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    m.id,
                    m.to_task,
                    m.sender,
                    m.from_task,
                    m.from_attempt,
                    m.text,
                    m.sent_at,
                    m.state.as_str(),
                    m.delivered_at,
                    m.delivered_attempt,
                    m.acked_at,
                ])
            })
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Append to the event history (`seq` is assigned here; the row's is ignored).
    pub fn event(&mut self, e: &EventRow) -> Result<()> {
        self.tx
            .prepare_cached(
                "INSERT INTO events (at, run_id, task_id, attempt, kind, from_state, to_state, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .and_then(|mut stmt| {
                stmt.execute(params![
                    e.at,
                    e.run_id,
                    e.task_id,
                    e.attempt,
                    e.kind,
                    e.from_state,
                    e.to_state,
                    e.cause
                ])
            })
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// A state-change event for `task`.
    pub fn state_event(
        &mut self,
        run_id: Option<i64>,
        task: &TaskRow,
        from: Option<TaskState>,
        attempt: Option<u32>,
    ) -> Result<()> {
        self.event(&EventRow {
            seq: 0,
            at: task.updated_at,
            run_id,
            task_id: Some(task.id.clone()),
            attempt,
            kind: "state".into(),
            from_state: from.map(|s| s.as_str().to_string()),
            to_state: Some(task.state.as_str().to_string()),
            cause: task.cause.clone(),
        })
    }

    pub fn start_run(&mut self, pid: u32, mode: &str, base: &str, at: i64) -> Result<i64> {
        self.tx
            .execute(
                "INSERT INTO runs (pid, mode, started_at, base_branch) VALUES (?1, ?2, ?3, ?4)",
                params![pid, mode, at, base],
            )
            .map_err(|e| self.err(e))?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn end_run(&mut self, run_id: i64, at: i64, exit_code: i32) -> Result<()> {
        self.tx
            .execute(
                "UPDATE runs SET ended_at = ?2, exit_code = ?3 WHERE id = ?1",
                params![run_id, at, exit_code],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn commit(self) -> Result<()> {
        let path = self.path;
        self.tx.commit().map_err(|e| sql(&path, e))
    }
}

#[cfg(test)]
mod tests;
