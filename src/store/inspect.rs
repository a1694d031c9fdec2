//! [`Store::inspect`](super::Store::inspect): is a `state.db` missing,
//! empty, damaged or healthy? Read without creating or changing anything.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{migrations, sql, DbCondition, Result, StoreError};

/// The first 16 bytes of every SQLite 3 database file.
const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// An SQLite file is at least its 100-byte header.
const HEADER_LEN: usize = 100;

pub(super) fn condition(path: &Path) -> Result<DbCondition> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DbCondition::Missing),
        Err(e) => return Err(io(e)),
    };
    let mut header = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(io)?;
    if header.is_empty() {
        return Ok(DbCondition::Empty);
    }
    if header.len() < HEADER_LEN || !header.starts_with(MAGIC) {
        return Ok(DbCondition::Damaged("it is not an SQLite database".into()));
    }
    drop(file);
    match checked(path) {
        Ok(condition) => Ok(condition),
        Err(e) if is_damage(&e) => Ok(DbCondition::Damaged(e.to_string())),
        Err(e) => Err(sql(path, e)),
    }
}

/// Integrity and schema of a file that starts like an SQLite database.
fn checked(path: &Path) -> rusqlite::Result<DbCondition> {
    let conn = open_untouched(path)?;
    let problems: Vec<String> = conn
        .prepare("PRAGMA quick_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if problems != ["ok"] {
        let shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Ok(DbCondition::Damaged(format!(
            "its integrity check failed: {}",
            shown.join("; ")
        )));
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let found = schema_objects(&conn)?;
    if version == 0 {
        return Ok(if found.is_empty() {
            DbCondition::Empty
        } else {
            DbCondition::Damaged("it has tables but no schema version".into())
        });
    }
    let Ok(steps) = usize::try_from(version) else {
        return Ok(DbCondition::Damaged(format!(
            "its schema version {version} is invalid"
        )));
    };
    if steps > migrations::MIGRATIONS.len() {
        // Newer than this orch: `Store::open` says so.
        return Ok(DbCondition::Healthy);
    }
    let missing: Vec<String> = expected_objects(steps)?
        .difference(&found)
        .map(|(kind, name)| format!("{kind} {name}"))
        .collect();
    if missing.is_empty() {
        Ok(DbCondition::Healthy)
    } else {
        Ok(DbCondition::Damaged(format!(
            "schema version {version} but missing {}",
            missing.join(", ")
        )))
    }
}

/// A read-only connection that creates no `-wal` or `-shm` file. With a
/// `-wal` present (a writer was killed) the log holds committed data and
/// must be read, which a normal read-only open does using the files that
/// are already there; without one the main file is complete, and is opened
/// as immutable so SQLite does not create the pair.
fn open_untouched(path: &Path) -> rusqlite::Result<Connection> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if Path::new(&wal).exists() {
        return Connection::open_with_flags(path, flags);
    }
    let uri = format!("file:{}?mode=ro&immutable=1", uri_path(path));
    Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
}

/// `path` percent-encoded for an SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for &byte in path.as_os_str().as_encoded_bytes() {
        if byte.is_ascii_alphanumeric() || b"/._-~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The tables, indexes and triggers `steps` migrations create.
fn expected_objects(steps: usize) -> rusqlite::Result<BTreeSet<(String, String)>> {
    let conn = Connection::open_in_memory()?;
    for step in &migrations::MIGRATIONS[..steps] {
        conn.execute_batch(step)?;
    }
    schema_objects(&conn)
}

/// (type, name) of each schema object, SQLite's own left out.
fn schema_objects(conn: &Connection) -> rusqlite::Result<BTreeSet<(String, String)>> {
    conn.prepare(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
    )?
    .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
    .collect()
}

/// Errors that mean the file is not a sound database (as opposed to one
/// that cannot be read right now).
fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
    )
}
