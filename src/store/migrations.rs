//! Versioned schema migrations, applied in order and tracked with
//! `PRAGMA user_version`. Append new steps; never edit a released one.

pub const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE tasks (
        id          TEXT PRIMARY KEY,
        title       TEXT NOT NULL,
        agent       TEXT NOT NULL,
        state       TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,  -- attempts started
        failures    INTEGER NOT NULL DEFAULT 0,  -- attempts that failed (the retry budget)
        cause       TEXT,                        -- why the task is where it is, if not obvious
        retry_at    INTEGER,                     -- unix ms, while retrying
        approved    INTEGER NOT NULL DEFAULT 0,  -- start approval granted
        merge_state TEXT NOT NULL DEFAULT 'unmerged',
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
    );
    CREATE TABLE attempts (
        task_id    TEXT NOT NULL REFERENCES tasks(id),
        attempt    INTEGER NOT NULL,
        agent      TEXT NOT NULL,
        status     TEXT NOT NULL,   -- running | succeeded | failed | interrupted | cancelled
        started_at INTEGER NOT NULL,
        ended_at   INTEGER,
        pid        INTEGER,
        exit_code  INTEGER,
        signal     INTEGER,
        cause      TEXT,
        log_path   TEXT,
        commit_id  TEXT,
        PRIMARY KEY (task_id, attempt)
    );
    CREATE TABLE approvals (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id  TEXT NOT NULL REFERENCES tasks(id),
        gate     TEXT NOT NULL,      -- before_start | before_merge
        decision TEXT NOT NULL,      -- approved | rejected
        by       TEXT NOT NULL,      -- who: a user name, "--approve-all", "timeout"
        reason   TEXT,
        at       INTEGER NOT NULL
    );
    CREATE TABLE agent_samples (
        task_id  TEXT NOT NULL,
        attempt  INTEGER NOT NULL,
        at       INTEGER NOT NULL,
        cpu      REAL NOT NULL,      -- percent of one core, whole process tree
        rss      INTEGER NOT NULL,   -- bytes, whole process tree
        procs    INTEGER NOT NULL
    );
    CREATE INDEX agent_samples_by_task ON agent_samples(task_id, attempt, at);
    CREATE TABLE worktrees (
        task_id    TEXT PRIMARY KEY,
        path       TEXT NOT NULL,
        branch     TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        removed_at INTEGER
    );
    CREATE TABLE messages (
        id      INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id TEXT NOT NULL,
        sender  TEXT NOT NULL,
        body    TEXT NOT NULL,
        at      INTEGER NOT NULL,
        read_at INTEGER
    );
    CREATE TABLE runs (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        pid        INTEGER NOT NULL,
        mode       TEXT NOT NULL,    -- tui | headless
        started_at INTEGER NOT NULL,
        ended_at   INTEGER,
        exit_code  INTEGER
    );
    -- Append-only history: every state change and every notable happening.
    CREATE TABLE events (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        at         INTEGER NOT NULL,
        run_id     INTEGER,
        task_id    TEXT,
        attempt    INTEGER,
        kind       TEXT NOT NULL,    -- state | run_started | run_ended | attempt_interrupted | ...
        from_state TEXT,
        to_state   TEXT,
        cause      TEXT
    );
    CREATE INDEX events_by_task ON events(task_id, seq);
    CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
    "#,
    // 2: a task marked done without running (skip) says so.
    "ALTER TABLE tasks ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;",
    // 3: a worktree is recorded before it is made (`creating`) and marked
    // `ready` once complete, so a run killed half-way through a checkout
    // leaves a worktree the next run knows it may finish.
    "ALTER TABLE worktrees ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';",
    // 4: health samples became a bounded window per task (see
    // `Batch::sample`); trim what earlier versions accumulated.
    r#"
    DELETE FROM agent_samples WHERE rowid NOT IN (
        SELECT s.rowid FROM agent_samples s
        WHERE s.task_id = agent_samples.task_id
        ORDER BY s.rowid DESC LIMIT 60
    );
    "#,
    // 5: work flows along the graph: what became of each task's merge, how
    // its next attempt starts, what was pushed; and a history of merges.
    r#"
    ALTER TABLE tasks ADD COLUMN merge_note TEXT;
    ALTER TABLE tasks ADD COLUMN conflicts TEXT;              -- one file a line
    ALTER TABLE tasks ADD COLUMN merge_commit TEXT;
    ALTER TABLE tasks ADD COLUMN merge_approved INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN merge_wanted INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tasks ADD COLUMN next_start TEXT NOT NULL DEFAULT 'continue';  -- continue | fresh | resolve
    ALTER TABLE tasks ADD COLUMN pushed INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE merges (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        task_id   TEXT NOT NULL,
        at        INTEGER NOT NULL,
        base      TEXT NOT NULL,
        outcome   TEXT NOT NULL,     -- merged | already_merged | conflict | local_changes | failed
        commit_id TEXT,
        files     TEXT,              -- conflicting or in-the-way files, one a line
        by        TEXT NOT NULL,     -- who asked: a user, "policy" (merge = auto)
        detail    TEXT
    );
    CREATE INDEX merges_by_task ON merges(task_id, id);
    "#,
    // 6: the base branch each run used, so commands run later (a merge
    // from the command line) land where the run's work was meant to.
    "ALTER TABLE runs ADD COLUMN base_branch TEXT;",
    // 7: tasks added while orch runs (`orch task add`): where each task
    // comes from, and the definitions of those not in `orch.toml`, so a
    // restart or a reload keeps them.
    r#"
    ALTER TABLE tasks ADD COLUMN origin TEXT NOT NULL DEFAULT 'config';  -- config | cli
    CREATE TABLE added_tasks (
        id         TEXT PRIMARY KEY,
        agent      TEXT NOT NULL,
        prompt     TEXT NOT NULL,
        title      TEXT,
        depends_on TEXT,             -- task ids, one a line
        origin     TEXT NOT NULL,    -- cli
        added_by   TEXT NOT NULL,    -- who: as approvals.by
        added_at   INTEGER NOT NULL
    );
    "#,
    // 8: the confinement each attempt's agent got (`none`, `worktree`,
    // `partial (ABI n)`, `unavailable`); NULL for attempts before it and
    // for those whose agent never started.
    "ALTER TABLE attempts ADD COLUMN sandbox TEXT;",
    // 9: subtasks (`orch task add --parent`): the task each one is a
    // subtask of, on its row and in its added definition.
    r#"
    ALTER TABLE tasks ADD COLUMN parent TEXT;
    ALTER TABLE added_tasks ADD COLUMN parent TEXT;
    "#,
    // 10: what a running attempt's agent last said of itself with `orch
    // heartbeat`: percent done (0-100) and a short note; NULL when it
    // never said.
    r#"
    ALTER TABLE attempts ADD COLUMN progress INTEGER;
    ALTER TABLE attempts ADD COLUMN note TEXT;
    "#,
    // 11: messages between agents (`orch msg send/poll`), on the table the
    // first schema set aside: who sent each (agent task and attempt), where
    // it is (pending -> delivered -> acknowledged), when and to which
    // attempt it was handed out; `read_at` is when it was acknowledged.
    r#"
    ALTER TABLE messages ADD COLUMN from_task TEXT;
    ALTER TABLE messages ADD COLUMN from_attempt INTEGER;
    ALTER TABLE messages ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
    ALTER TABLE messages ADD COLUMN delivered_at INTEGER;
    ALTER TABLE messages ADD COLUMN delivered_attempt INTEGER;
    CREATE INDEX messages_by_task ON messages(task_id, state, id);
    "#,
    // 12: agents that need a human. What each running attempt's agent is
    // doing (busy | idle | waiting), since when, which signal said so
    // (agent | os | screen | input), what decided it and the question it
    // asked; the conversation (session id) its agent reported and the one
    // it resumed; on the task, the conversation its next attempt resumes.
    r#"
    ALTER TABLE attempts ADD COLUMN activity TEXT;
    ALTER TABLE attempts ADD COLUMN activity_since INTEGER;
    ALTER TABLE attempts ADD COLUMN activity_signal TEXT;
    ALTER TABLE attempts ADD COLUMN activity_detail TEXT;
    ALTER TABLE attempts ADD COLUMN question TEXT;
    ALTER TABLE attempts ADD COLUMN session_id TEXT;
    ALTER TABLE attempts ADD COLUMN resumed TEXT;
    ALTER TABLE tasks ADD COLUMN session_id TEXT;
    "#,
];
