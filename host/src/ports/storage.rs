//! The component's durable key-value store as the host sees it: the
//! [`Storage`] trait, its values, and [`MemoryStorage`] for benchmarks. The
//! SQLite ledger ([`crate::backends::sqlite::SqliteStorage`]) implements it
//! in production.
//!
//! The component does read-modify-write on its ledger, so calls that share a
//! storage must not run concurrently: [`crate::Runtime`] callers serialize
//! them (the CLI runs one call at a time; `serve` holds one lock around every
//! component call).

use std::collections::BTreeMap;
use std::sync::Mutex;
/// One change in an atomic write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOp {
    /// Sets a key to a value.
    Set(String, Vec<u8>),
    /// Removes a key (missing is fine).
    Delete(String),
}

/// One page of a prefix listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Key-value pairs in ascending key (byte) order.
    pub entries: Vec<(String, Vec<u8>)>,
    /// The `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

impl Page {
    /// A page from a listing that fetched up to `limit + 1` entries: the
    /// extra one, if there, only says that another page follows.
    pub fn from_overfetch(mut entries: Vec<(String, Vec<u8>)>, limit: usize) -> Page {
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        Page { entries, next }
    }
}

/// Why a storage operation failed; mirrors the WIT `storage-error`. Every case
/// means nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StorageError {
    /// The store cannot be used now (locked, disk full, I/O error). Retryable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The store is damaged or was not written by this component.
    #[error("storage corrupt: {0}")]
    Corrupt(String),
    /// A key or value exceeds the host's size limits.
    #[error("too large: {0}")]
    TooLarge(String),
}

/// A durable key-value backend. Keys are ordered by their UTF-8 bytes.
pub trait Storage: Send + Sync {
    /// Reads a key.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Reads many keys; one answer per key, in order.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError>;
    /// Sets a key.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes a key; a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Applies all operations in one transaction, in order. Takes the
    /// operations by value so a backend can keep keys and values without
    /// copying them.
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError>;
    /// Lists keys starting with `prefix`, after `after`, at most `limit`
    /// (already clamped by the host) entries.
    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Page, StorageError>;
    /// Counts keys starting with `prefix`.
    fn count(&self, prefix: &str) -> Result<u64, StorageError>;
}

/// An in-memory backend (a `BTreeMap` behind a mutex): for benchmarks and
/// tests. Not durable.
#[derive(Default)]
pub struct MemoryStorage {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>>, StorageError> {
        self.map
            .lock()
            .map_err(|_| StorageError::Unavailable("the in-memory store's lock is poisoned".into()))
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.lock()?.get(key).cloned())
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StorageError> {
        let map = self.lock()?;
        Ok(keys.iter().map(|k| map.get(k).cloned()).collect())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.lock()?.insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.lock()?.remove(key);
        Ok(())
    }
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StorageError> {
        let mut map = self.lock()?;
        for op in ops {
            match op {
                WriteOp::Set(k, v) => {
                    map.insert(k, v);
                }
                WriteOp::Delete(k) => {
                    map.remove(&k);
                }
            }
        }
        Ok(())
    }
    fn list(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Page, StorageError> {
        use std::ops::Bound;
        let map = self.lock()?;
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_string()),
            _ => Bound::Included(prefix.to_string()),
        };
        let entries: Vec<(String, Vec<u8>)> = map
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit + 1)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Page::from_overfetch(entries, limit))
    }
    fn count(&self, prefix: &str) -> Result<u64, StorageError> {
        let map = self.lock()?;
        Ok(map
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .count() as u64)
    }
}

/// Conformance checks any [`Storage`] must pass; run against every backend
/// (public, though hidden, so the e2e tests run it against PostgreSQL).
#[doc(hidden)]
pub mod conformance {
    use super::*;

    /// Checks `s`, an empty store, against the trait's contract: reads,
    /// writes, atomic multi-op writes, paged prefix listings in byte order
    /// and counts. Panics on a deviation, as a test does.
    pub fn run(s: &dyn Storage) {
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", b"1").unwrap();
        assert_eq!(s.get("a").unwrap(), Some(b"1".to_vec()));
        s.delete("a").unwrap();
        s.delete("a").unwrap();
        assert_eq!(s.get("a").unwrap(), None);

        let mut ops: Vec<WriteOp> = (0..25)
            .map(|i| WriteOp::Set(format!("held/{i:03}"), vec![i as u8]))
            .collect();
        ops.push(WriteOp::Set("helm".into(), b"x".to_vec()));
        ops.push(WriteOp::Set("hel".into(), b"x".to_vec()));
        ops.push(WriteOp::Set("held/005".into(), b"five".to_vec()));
        ops.push(WriteOp::Delete("held/006".into()));
        s.write(ops).unwrap();
        assert_eq!(s.count("held/").unwrap(), 24);
        assert_eq!(s.count("").unwrap(), 26);
        assert_eq!(
            s.get_many(&["held/005".into(), "held/006".into(), "hel".into()])
                .unwrap(),
            vec![Some(b"five".to_vec()), None, Some(b"x".to_vec())]
        );

        let mut keys = Vec::new();
        let mut after = None;
        loop {
            let page = s.list("held/", after.as_deref(), 10).unwrap();
            assert!(page.entries.len() <= 10);
            keys.extend(page.entries.iter().map(|(k, _)| k.clone()));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25)
            .filter(|i| *i != 6)
            .map(|i| format!("held/{i:03}"))
            .collect();
        assert_eq!(keys, expected);
        // An `after` before the prefix starts at the prefix.
        let page = s.list("held/", Some("a"), 1).unwrap();
        assert_eq!(page.entries[0].0, "held/000");
        // Exactly `limit` entries left: the page is the last one.
        let page = s.list("held/02", None, 5).unwrap();
        assert_eq!(page.entries.len(), 5);
        assert_eq!(page.next, None);
        // Byte order, with non-ASCII keys.
        s.set("u/é", b"").unwrap();
        s.set("u/z", b"").unwrap();
        let page = s.list("u/", None, 10).unwrap();
        let ks: Vec<_> = page.entries.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(ks, ["u/z", "u/é"]);
        s.write(Vec::new()).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_storage_conforms() {
        conformance::run(&MemoryStorage::new());
    }
}
