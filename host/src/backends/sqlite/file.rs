//! The ledger file itself: opening it (creating it only where the ledger
//! guard allows), making sure it is ours before anything is written, the
//! schema, the read-only inspection `check` makes, and SQLite's errors in
//! the WIT's terms.

use std::path::Path;
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension};

use crate::backends::ledger_guard::LedgerGuard;
use crate::ports::storage::StorageError;

/// `PRAGMA application_id` of our databases ("USYC").
const APPLICATION_ID: i64 = 0x5553_5943;
/// The schema version this host writes and reads.
const SCHEMA_VERSION: i64 = 1;
/// Tables a database of ours may hold: the component's key space, our marker,
/// and the `serve` inbox and its dead letters.
const OUR_TABLES: &[&str] = &["meta", "kv", "inbox", "dead_letter", "webhook_seen"];
/// How long a writer waits for another connection's lock before giving up
/// with `unavailable`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens (creating on first use) a database file of ours and checks it is
/// one: used by [`SqliteStorage`](super::SqliteStorage) and by the `serve` inbox, which keeps its own
/// table in the same file.
///
/// Nothing is written to a file before it is known to be ours: a file that
/// is not SQLite, a damaged one, an SQLite database of another application
/// or one written by a newer host is refused untouched (not even a WAL
/// checkpoint on close). A database of ours that already has its schema is
/// not written to by opening it.
pub fn open_connection(path: &Path) -> Result<Connection, StorageError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StorageError::Unavailable(format!("cannot create directory {}: {e}", parent.display()))
        })?;
    }
    // A ledger is created only where none was before: a missing one whose
    // lock file remains was deleted or moved, and is not silently replaced.
    let existed = path.exists();
    if !existed {
        LedgerGuard::may_create(path).map_err(|e| StorageError::Unavailable(e.to_string()))?;
    }
    let conn = open_guarded(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let found = check_ours(path, &conn)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false)
        .map_err(|e| sql_error(path, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StorageError::Unavailable(format!(
            "{}: cannot switch to WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
        .map_err(|e| sql_error(path, e))?;
    if found == Found::New {
        create_schema(path, &conn)?;
        if !existed {
            LedgerGuard::remember_creation(path, "unsubscribe-sync")
                .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        }
    }
    Ok(conn)
}

/// What [`check_ours`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// An empty database (a new file): the schema is to be created.
    New,
    /// A database of ours with its schema.
    Ours,
}

/// What [`inspect`] found in a storage file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inspection {
    /// No file yet: it is created on first use.
    Missing,
    /// An empty SQLite database (or an empty file): the schema is created on
    /// first use.
    Empty,
    /// A database of ours, intact (`PRAGMA quick_check` is `ok`).
    Intact {
        /// Its size in bytes.
        bytes: u64,
        /// Its schema version.
        schema_version: i64,
    },
}

/// Examines the storage file for `check` without writing to it: it must be
/// absent, empty, or a database of ours that SQLite's `quick_check` finds
/// intact (every page readable and well formed). A file that is not SQLite,
/// is damaged or truncated, belongs to another application or was written
/// by a newer host is an error naming the file and what is wrong. Costs a
/// read of the whole file, so only the pre-flight does it; other commands
/// rely on the cheap checks of [`open_connection`] and on SQLite's own
/// detection of damage as they read.
pub fn inspect(path: &Path) -> Result<Inspection, StorageError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Inspection::Missing),
        Err(e) => {
            return Err(StorageError::Unavailable(format!(
                "{}: {e}",
                path.display()
            )));
        }
    };
    if !meta.is_file() {
        return Err(StorageError::Unavailable(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    // Read-write (WAL needs its shared-memory file) but without CREATE;
    // nothing here writes to the file.
    let conn = open_guarded(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if check_ours(path, &conn)? == Found::New {
        return Ok(Inspection::Empty);
    }
    let mut stmt = conn
        .prepare("PRAGMA quick_check(5)")
        .map_err(|e| sql_error(path, e))?;
    let problems: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sql_error(path, e))?;
    if problems != ["ok"] {
        return Err(StorageError::Corrupt(format!(
            "{} is damaged (SQLite's quick_check: {}); refusing to use it: restore it from a backup, \
             or point storage.path at a new file",
            path.display(),
            problems.join("; ")
        )));
    }
    let schema_version: i64 = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .map_err(|e| sql_error(path, e))?
        .parse()
        .unwrap_or(0);
    Ok(Inspection::Intact {
        bytes: meta.len(),
        schema_version,
    })
}

/// Opens a connection that cannot change the file by being closed. Reading
/// a WAL-mode database creates its `-wal` and `-shm` files when they are
/// missing; closing the last connection then checkpoints the (empty) log
/// and removes both, under SQLite's own locks, leaving the directory as it
/// was. A `-wal` that existed before may hold another program's frames:
/// then the checkpoint on close is turned off (until the file is known to be
/// ours), so they are never copied into a file that is not ours.
pub(super) fn open_guarded(path: &Path, flags: OpenFlags) -> Result<Connection, StorageError> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_existed = Path::new(&wal).exists();
    let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error(path, e))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, wal_existed)
        .map_err(|e| sql_error(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| sql_error(path, e))?;
    Ok(conn)
}

/// Refuses a file that is not SQLite or belongs to another application.
pub(super) fn check_ours(path: &Path, conn: &Connection) -> Result<Found, StorageError> {
    // The first read of the header fails with NOTADB on a file that is not
    // SQLite, and with CORRUPT on one shorter than its header says (a
    // truncated copy); nothing has been written to it at this point.
    let app_id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| sql_error(path, e))?;
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .map_err(|e| sql_error(path, e))?;
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sql_error(path, e))?;
    let foreign: Vec<&String> = tables
        .iter()
        .filter(|t| !OUR_TABLES.contains(&t.as_str()))
        .collect();
    if (app_id != 0 && app_id != APPLICATION_ID)
        || !foreign.is_empty()
        || (app_id == 0 && !tables.is_empty())
    {
        return Err(StorageError::Corrupt(format!(
            "{} is an SQLite database of another application (application id {app_id:#x}, tables: {}); \
             refusing to use it: point storage.path at a new file",
            path.display(),
            if tables.is_empty() {
                "none".to_string()
            } else {
                tables.join(", ")
            }
        )));
    }
    if app_id == 0 {
        return Ok(Found::New);
    }
    if !tables.iter().any(|t| t == "meta") || !tables.iter().any(|t| t == "kv") {
        return Err(StorageError::Corrupt(format!(
            "{} is marked as an unsubscribe-sync database but lacks its tables (found: {}); \
             refusing to use it: restore it from a backup, or point storage.path at a new file",
            path.display(),
            if tables.is_empty() {
                "none".to_string()
            } else {
                tables.join(", ")
            }
        )));
    }
    let version: Option<String> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| sql_error(path, e))?;
    match version.as_deref().map(str::parse::<i64>) {
        Some(Ok(v)) if (1..=SCHEMA_VERSION).contains(&v) => Ok(Found::Ours),
        Some(Ok(v)) if v > SCHEMA_VERSION => Err(StorageError::Corrupt(format!(
            "{} was written by a newer unsubscribe-sync (schema version {v}; this host reads \
             version {SCHEMA_VERSION}); refusing to use it: upgrade unsubscribe-sync",
            path.display()
        ))),
        _ => Err(StorageError::Corrupt(format!(
            "{} has no valid schema version; refusing to use it: restore it from a backup",
            path.display()
        ))),
    }
}

pub(super) fn create_schema(path: &Path, conn: &Connection) -> Result<(), StorageError> {
    conn.execute_batch(&format!(
        "BEGIN IMMEDIATE;
         PRAGMA application_id = {APPLICATION_ID};
         CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
         CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
         COMMIT;"
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        sql_error(path, e)
    })
}

/// Maps an SQLite error to the WIT storage error a caller can act on.
pub fn sql_error(path: &Path, e: rusqlite::Error) -> StorageError {
    let text = format!("{}: {e}", path.display());
    match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => StorageError::Corrupt(format!(
            "{} is not an SQLite database; refusing to touch it: point storage.path at a new file",
            path.display()
        )),
        Some(ErrorCode::DatabaseCorrupt) => StorageError::Corrupt(format!(
            "{} is damaged or truncated ({e}); refusing to use it: restore it from a backup, \
             or point storage.path at a new file",
            path.display()
        )),
        Some(ErrorCode::TooBig) => StorageError::TooLarge(text),
        _ => StorageError::Unavailable(text),
    }
}
