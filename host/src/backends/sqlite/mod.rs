//! [`SqliteStorage`]: the production storage backend, one SQLite file.
//!
//! The file is created on first use, in WAL mode with `synchronous = FULL`, so
//! a write that returned survives a crash of the host or the machine. An
//! atomic multi-key `write` is one `BEGIN IMMEDIATE` transaction. A file that
//! is not SQLite, or an SQLite database of another application, is refused
//! with a clear error and never modified.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

mod file;

pub use file::{Inspection, inspect, open_connection, sql_error};
use file::{check_ours, create_schema, open_guarded};

use crate::ports::storage::{Page, Storage, StorageError, WriteOp};

/// The production [`Storage`]: one SQLite file (WAL, `synchronous = FULL`).
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStorage")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStorage {
    /// Opens the database at `path`, creating it (and its directory) on first
    /// use. Refuses, without writing to it, a file that is not SQLite or an
    /// SQLite database of another application.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let conn = open_connection(path)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Opens an existing ledger for reading only (`check`): nothing is
    /// created or written, and a write through it fails.
    pub fn open_read_only(path: &Path) -> Result<Self, StorageError> {
        let conn = open_guarded(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        check_ours(path, &conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// An empty ledger in memory, with the schema: stands in for a ledger
    /// not created yet where nothing may be created (`check`).
    pub fn open_in_memory() -> Result<Self, StorageError> {
        let path = Path::new(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| sql_error(path, e))?;
        create_schema(path, &conn)?;
        Ok(SqliteStorage {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StorageError> {
        self.conn.lock().map_err(|_| {
            StorageError::Unavailable("the storage connection's lock is poisoned".into())
        })
    }

    fn err(&self, e: rusqlite::Error) -> StorageError {
        sql_error(&self.path, e)
    }
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when there is none (an empty prefix, or all 0xFF).
fn prefix_end(prefix: &str) -> Option<Vec<u8>> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn key_string(path: &Path, raw: Vec<u8>) -> Result<String, StorageError> {
    String::from_utf8(raw)
        .map_err(|_| StorageError::Corrupt(format!("{}: a key is not UTF-8", path.display())))
}

impl Storage for SqliteStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare_cached("SELECT value FROM kv WHERE key = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_row(params![key.as_bytes()], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let conn = self.conn()?;
        // One read transaction so the answers are consistent with each other.
        let tx = conn.unchecked_transaction().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(keys.len());
        {
            let mut stmt = tx
                .prepare_cached("SELECT value FROM kv WHERE key = ?1")
                .map_err(|e| self.err(e))?;
            for k in keys {
                out.push(
                    stmt.query_row(params![k.as_bytes()], |r| r.get(0))
                        .optional()
                        .map_err(|e| self.err(e))?,
                );
            }
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        let conn = self.conn()?;
        conn.prepare_cached("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .and_then(|mut s| s.execute(params![key.as_bytes(), value]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        let conn = self.conn()?;
        conn.prepare_cached("DELETE FROM kv WHERE key = ?1")
            .and_then(|mut s| s.execute(params![key.as_bytes()]))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&self.path, e))?;
        {
            let mut set = tx
                .prepare_cached("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                .map_err(|e| sql_error(&self.path, e))?;
            let mut del = tx
                .prepare_cached("DELETE FROM kv WHERE key = ?1")
                .map_err(|e| sql_error(&self.path, e))?;
            for op in ops {
                match op {
                    WriteOp::Set(k, v) => set.execute(params![k.as_bytes(), v]),
                    WriteOp::Delete(k) => del.execute(params![k.as_bytes()]),
                }
                .map_err(|e| sql_error(&self.path, e))?;
            }
        }
        // Dropping `tx` on an error above rolls everything back.
        tx.commit().map_err(|e| sql_error(&self.path, e))
    }

    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Page, StorageError> {
        let conn = self.conn()?;
        let (lower, inclusive) = match after {
            Some(a) if a >= prefix => (a.as_bytes().to_vec(), false),
            _ => (prefix.as_bytes().to_vec(), true),
        };
        let upper = prefix_end(prefix);
        let sql = format!(
            "SELECT key, value FROM kv WHERE key {} ?1 {} ORDER BY key LIMIT ?3",
            if inclusive { ">=" } else { ">" },
            if upper.is_some() {
                "AND key < ?2"
            } else {
                "AND ?2 IS NULL"
            }
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows: Vec<(Vec<u8>, Vec<u8>)> = stmt
            .query_map(params![lower, upper, (limit + 1) as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| self.err(e))?;
        let mut entries = Vec::with_capacity(rows.len());
        for (k, v) in rows {
            entries.push((key_string(&self.path, k)?, v));
        }
        Ok(Page::from_overfetch(entries, limit))
    }

    fn count(&self, prefix: &str) -> Result<u64, StorageError> {
        let conn = self.conn()?;
        let upper = prefix_end(prefix);
        let sql = if upper.is_some() {
            "SELECT count(*) FROM kv WHERE key >= ?1 AND key < ?2"
        } else {
            "SELECT count(*) FROM kv WHERE key >= ?1 AND ?2 IS NULL"
        };
        let n: i64 = conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params![prefix.as_bytes(), upper], |r| r.get(0)))
            .map_err(|e| self.err(e))?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_storage_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(&dir.path().join("sub/dir/sync.db")).unwrap();
        crate::ports::storage::conformance::run(&s);
    }

    #[test]
    fn data_survives_reopening_and_the_file_is_wal_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.db");
        {
            let s = SqliteStorage::open(&path).unwrap();
            s.write(vec![
                WriteOp::Set("a".into(), b"1".to_vec()),
                WriteOp::Set("b".into(), b"2".to_vec()),
            ])
            .unwrap();
        }
        let s = SqliteStorage::open(&path).unwrap();
        assert_eq!(s.get("b").unwrap(), Some(b"2".to_vec()));
        let conn = s.conn().unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous must be FULL");
    }

    #[test]
    fn refuses_a_file_that_is_not_sqlite_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let content = b"these are my notes, not a database\n".repeat(200);
        std::fs::write(&path, &content).unwrap();
        let err = SqliteStorage::open(&path).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }

    #[test]
    fn refuses_a_database_of_another_application() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'x');")
                .unwrap();
        }
        let err = SqliteStorage::open(&path).unwrap_err();
        assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
        assert!(err.to_string().contains("customers"), "{err}");
        let c = Connection::open(&path).unwrap();
        let tables: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type='table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(tables, 1, "nothing was added to the foreign database");
    }

    fn side_files(path: &Path) -> Vec<bool> {
        ["-wal", "-shm"]
            .iter()
            .map(|suffix| {
                let mut p = path.as_os_str().to_owned();
                p.push(suffix);
                Path::new(&p).exists()
            })
            .collect()
    }

    #[test]
    fn opening_a_database_of_ours_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.db");
        SqliteStorage::open(&path).unwrap().set("k", b"v").unwrap();
        let before = std::fs::read(&path).unwrap();
        drop(SqliteStorage::open(&path).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(side_files(&path), [false, false]);
    }

    #[test]
    fn a_newer_schema_or_a_wal_mode_foreign_database_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.db");
        SqliteStorage::open(&path).unwrap().set("k", b"v").unwrap();
        {
            let c = Connection::open(&path).unwrap();
            c.execute(
                "UPDATE meta SET value = '7' WHERE key = 'schema_version'",
                [],
            )
            .unwrap();
        }
        let before = std::fs::read(&path).unwrap();
        let err = SqliteStorage::open(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("newer unsubscribe-sync (schema version 7"),
            "{err}"
        );
        assert!(matches!(inspect(&path), Err(StorageError::Corrupt(_))));
        assert_eq!(std::fs::read(&path).unwrap(), before);
        assert_eq!(
            side_files(&path),
            [false, false],
            "no -wal/-shm left behind"
        );

        let other = dir.path().join("other.db");
        {
            let c = Connection::open(&other).unwrap();
            c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE notes (body TEXT);")
                .unwrap();
        }
        let before = std::fs::read(&other).unwrap();
        assert!(SqliteStorage::open(&other).is_err());
        assert!(inspect(&other).is_err());
        assert_eq!(std::fs::read(&other).unwrap(), before);
        assert_eq!(side_files(&other), [false, false]);
    }

    #[test]
    fn inspect_reports_missing_empty_intact_and_damaged_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sync.db");
        assert_eq!(inspect(&path).unwrap(), Inspection::Missing);
        std::fs::write(&path, b"").unwrap();
        assert_eq!(inspect(&path).unwrap(), Inspection::Empty);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"",
            "inspect created nothing"
        );
        let s = SqliteStorage::open(&path).unwrap();
        let ops: Vec<WriteOp> = (0..2000)
            .map(|i| WriteOp::Set(format!("k{i:05}"), vec![7; 200]))
            .collect();
        s.write(ops).unwrap();
        drop(s);
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            inspect(&path).unwrap(),
            Inspection::Intact {
                schema_version: 1,
                ..
            }
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before, "inspect wrote");
        assert_eq!(side_files(&path), [false, false]);
        // Damage a page in the middle of the kv table.
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 4096 / 2 * 4096;
        bytes[middle..middle + 64].fill(0xFF);
        std::fs::write(&path, &bytes).unwrap();
        let err = inspect(&path).unwrap_err();
        assert!(err.to_string().contains("is damaged"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn prefix_end_is_the_next_byte_string() {
        assert_eq!(prefix_end("ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(""), None);
    }
}
