//! [`PgStorage`]: one org's key space in the shared `kv` table, a
//! [`Storage`] like the SQLite ledger: keys in byte order (`bytea`), prefix
//! listings as range scans of the primary key, every `write` one
//! transaction, optionally fenced by the org's lease.

use std::collections::HashMap;
use std::sync::Arc;

use postgres::Transaction;

use super::PgDatabase;
use super::lease::{Lease, check_held};
use crate::ports::storage::{Page, Storage, StorageError, WriteOp};

/// One org's [`Storage`] in a shared [`PgDatabase`]. Two orgs' storages never
/// see each other's keys.
///
/// Made with [`PgStorage::guarded`], every change is fenced by the org's
/// lease: its transaction first checks (`SELECT … FOR SHARE`) that the lease
/// is still the caller's and unexpired, and fails with `unavailable` ("lease
/// lost") without changing anything otherwise. The share lock also makes a
/// takeover wait until the write has committed, so a replica that paused
/// past its lease's expiry cannot write over its successor's work.
pub struct PgStorage {
    db: Arc<PgDatabase>,
    org: String,
    guard: Option<Lease>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("db", &self.db.target())
            .field("org", &self.org)
            .field("guard", &self.guard)
            .finish()
    }
}

impl PgStorage {
    /// The key space of `org`, unfenced: for a single replica, or for tools
    /// that run while no replica works for the org.
    pub fn new(db: Arc<PgDatabase>, org: &str) -> PgStorage {
        PgStorage {
            db,
            org: org.to_string(),
            guard: None,
        }
    }

    /// The key space of the lease's org, every change fenced by `lease`
    /// (see [`PgStorage`]). A renewal keeps the lease's token, so the
    /// storage stays valid for as long as the lease is renewed in time.
    pub fn guarded(db: Arc<PgDatabase>, lease: Lease) -> PgStorage {
        PgStorage {
            db,
            org: lease.org.clone(),
            guard: Some(lease),
        }
    }

    /// The org whose keys this storage holds.
    pub fn org(&self) -> &str {
        &self.org
    }

    fn key_string(&self, raw: Vec<u8>) -> Result<String, StorageError> {
        String::from_utf8(raw).map_err(|_| {
            StorageError::Corrupt(format!(
                "{}: a key of org {} is not UTF-8",
                self.db.target(),
                self.org
            ))
        })
    }

    /// Applies the final state of each key in `ops` (the last operation on
    /// a key decides it, as applying them in order would): one statement
    /// for the deletions and one for the upserts, however many keys.
    fn apply(&self, tx: &mut Transaction<'_>, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let mut last: HashMap<String, Option<Vec<u8>>> = HashMap::with_capacity(ops.len());
        for op in ops {
            match op {
                WriteOp::Set(k, v) => last.insert(k, Some(v)),
                WriteOp::Delete(k) => last.insert(k, None),
            };
        }
        let (mut set_keys, mut set_values, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
        for (k, v) in &last {
            match v {
                Some(v) => {
                    set_keys.push(k.as_bytes());
                    set_values.push(v.as_slice());
                }
                None => deletes.push(k.as_bytes()),
            }
        }
        if !deletes.is_empty() {
            tx.execute(
                "DELETE FROM unsubscribe_sync.kv WHERE org = $1 AND key = ANY($2)",
                &[&self.org, &deletes],
            )
            .map_err(|e| self.db.err(e))?;
        }
        if !set_keys.is_empty() {
            tx.execute(
                "INSERT INTO unsubscribe_sync.kv (org, key, value)
                 SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS t(k, v)
                 ON CONFLICT (org, key) DO UPDATE SET value = excluded.value",
                &[&self.org, &set_keys, &set_values],
            )
            .map_err(|e| self.db.err(e))?;
        }
        Ok(())
    }
}

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when there is none (an empty prefix, or all 0xFF): the exclusive
/// upper end of a prefix's range.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let cut = prefix.iter().rposition(|b| *b < 0xFF)?;
    let mut end = prefix[..=cut].to_vec();
    end[cut] += 1;
    Some(end)
}

impl Storage for PgStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let row = self
            .db
            .conn()?
            .query_opt(
                "SELECT value FROM unsubscribe_sync.kv WHERE org = $1 AND key = $2",
                &[&self.org, &key.as_bytes()],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        // One statement, so the answers are consistent with each other.
        let wanted: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        let rows = self
            .db
            .conn()?
            .query(
                "SELECT key, value FROM unsubscribe_sync.kv WHERE org = $1 AND key = ANY($2)",
                &[&self.org, &wanted],
            )
            .map_err(|e| self.db.err(e))?;
        let found: HashMap<Vec<u8>, Vec<u8>> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        Ok(keys
            .iter()
            .map(|k| found.get(k.as_bytes()).cloned())
            .collect())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.write(vec![WriteOp::Set(key.to_string(), value.to_vec())])
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.write(vec![WriteOp::Delete(key.to_string())])
    }

    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        if ops.is_empty() && self.guard.is_none() {
            return Ok(());
        }
        self.db.transaction(|tx, target| {
            if let Some(lease) = &self.guard {
                check_held(tx, target, lease)?;
            }
            self.apply(tx, ops)
        })
    }

    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Page, StorageError> {
        let (lower, inclusive) = match after {
            Some(a) if a >= prefix => (a.as_bytes(), false),
            _ => (prefix.as_bytes(), true),
        };
        let upper = prefix_end(prefix.as_bytes());
        let sql = format!(
            "SELECT key, value FROM unsubscribe_sync.kv WHERE org = $1 AND key {} $2 {}
             ORDER BY key LIMIT $4",
            if inclusive { ">=" } else { ">" },
            if upper.is_some() {
                "AND key < $3"
            } else {
                "AND $3::bytea IS NULL"
            }
        );
        let rows = self
            .db
            .conn()?
            .query(&sql, &[&self.org, &lower, &upper, &((limit + 1) as i64)])
            .map_err(|e| self.db.err(e))?;
        let mut entries = Vec::with_capacity(rows.len());
        for r in rows {
            entries.push((self.key_string(r.get(0))?, r.get(1)));
        }
        Ok(Page::from_overfetch(entries, limit))
    }

    fn count(&self, prefix: &str) -> Result<u64, StorageError> {
        let upper = prefix_end(prefix.as_bytes());
        let sql = if upper.is_some() {
            "SELECT count(*) FROM unsubscribe_sync.kv WHERE org = $1 AND key >= $2 AND key < $3"
        } else {
            "SELECT count(*) FROM unsubscribe_sync.kv WHERE org = $1 AND key >= $2 AND $3::bytea IS NULL"
        };
        let n: i64 = self
            .db
            .conn()?
            .query_one(sql, &[&self.org, &prefix.as_bytes(), &upper])
            .map_err(|e| self.db.err(e))?
            .get(0);
        Ok(n as u64)
    }
}
