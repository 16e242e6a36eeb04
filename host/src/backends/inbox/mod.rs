//! The `serve` inbox: webhook events recorded durably (their own SQLite
//! tables in the storage file, outside the component's key space) before
//! the webhook is answered 202, then handed to the component in arrival
//! order by the single worker (an event deferred after a failure steps aside
//! until its time; see [`Inbox::next`]). On restart the inbox is drained first, so an accepted
//! event is never lost. Also remembers the signatures of accepted webhooks
//! for the replay window, so a replayed request is refused even across a
//! restart.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};

use super::sqlite::{open_connection, sql_error};
use crate::ports::storage::StorageError;

#[doc(hidden)]
pub mod behaviour;
mod store;

pub use store::InboxStore;
pub(crate) use store::unsubscribe_run;

/// How long a Standard Webhooks `webhook-id` is remembered, so a redelivery
/// is answered without being recorded again: 3 days, beyond the retry
/// schedules of common senders (Svix retries for about 28 hours), and never
/// less than twice the replay window.
pub const REDELIVERY_RETENTION_MS: i64 = 3 * 24 * 3_600_000;

/// What an inbox event asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Kind {
    /// An unsubscribe (`POST /v1/unsubscribes`).
    Unsubscribe,
    /// A re-subscribe (`POST /v1/resubscribes`).
    Resubscribe,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Unsubscribe => "unsubscribe",
            Kind::Resubscribe => "resubscribe",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        match s {
            "unsubscribe" => Some(Kind::Unsubscribe),
            "resubscribe" => Some(Kind::Resubscribe),
            _ => None,
        }
    }
}

/// One event waiting in the inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Its inbox ID (increasing with arrival).
    pub id: i64,
    /// What it asks for.
    pub kind: Kind,
    /// The event as received (JSON).
    pub body: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Not before this instant (ms).
    pub not_before: i64,
    /// When it arrived (ms): handed to the component as the event's
    /// `received-at`, however late the worker gets to it.
    pub received_at: i64,
}

/// What [`Inbox::next`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// This event is due: hand it to the component.
    Due(Event),
    /// Every event waiting is deferred; the earliest is due at this instant.
    WaitUntil(i64),
    /// The inbox is empty.
    Empty,
}

/// Why an event was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The same signed request was already accepted.
    Replay,
    /// The inbox could not record it.
    Storage(StorageError),
}

/// One webhook request to record: what [`Inbox::accept_many`] takes.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// What it asks for.
    pub kind: Kind,
    /// The event as received (JSON).
    pub body: String,
    /// What identifies the request for replay detection (its signature, or
    /// `whid:` and a Standard Webhooks message ID).
    pub key: String,
    /// When it arrived (ms).
    pub now_ms: i64,
    /// The replay window (ms).
    pub window_ms: i64,
}

/// The inbox (a connection of its own to the storage file).
pub struct Inbox {
    conn: Mutex<Connection>,
    path: std::path::PathBuf,
}

impl Inbox {
    /// Opens the inbox in the storage file, creating its tables on first use.
    pub fn open(path: &Path) -> Result<Inbox, StorageError> {
        let conn = open_connection(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS inbox (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 kind TEXT NOT NULL,
                 body TEXT NOT NULL,
                 received_at INTEGER NOT NULL,
                 attempts INTEGER NOT NULL DEFAULT 0,
                 not_before INTEGER NOT NULL DEFAULT 0,
                 last_error TEXT);
             CREATE TABLE IF NOT EXISTS dead_letter (
                 id INTEGER PRIMARY KEY,
                 kind TEXT NOT NULL,
                 body TEXT NOT NULL,
                 received_at INTEGER NOT NULL,
                 failed_at INTEGER NOT NULL,
                 error TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS webhook_seen (
                 signature TEXT PRIMARY KEY,
                 seen_at INTEGER NOT NULL) WITHOUT ROWID;",
        )
        .map_err(|e| sql_error(path, e))?;
        Ok(Inbox {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StorageError> {
        self.conn
            .lock()
            .map_err(|_| StorageError::Unavailable("the inbox lock is poisoned".into()))
    }

    /// Records many arrivals in ONE transaction (one fsync), each as
    /// [`InboxStore::accept`] records one: a replayed one is refused on its own
    /// without failing the others. `Err` when the transaction failed:
    /// nothing of it was recorded.
    pub fn accept_many(
        &self,
        arrivals: &[Arrival],
    ) -> Result<Vec<Result<i64, Refused>>, StorageError> {
        let Some(latest) = arrivals.iter().map(|a| (a.now_ms, a.window_ms)).max() else {
            return Ok(Vec::new());
        };
        let mut conn = self.conn()?;
        let err = |e| sql_error(&self.path, e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        // Signatures older than twice the window can never match a request
        // that passes the timestamp check again. Standard Webhooks message
        // IDs (`whid:`) are kept longer: a sender re-signs each retry with a
        // fresh timestamp, over hours.
        let (now_ms, window_ms) = latest;
        tx.execute(
            "DELETE FROM webhook_seen WHERE seen_at < ?1 AND (signature NOT LIKE 'whid:%' OR seen_at < ?2)",
            params![now_ms - 2 * window_ms, now_ms - REDELIVERY_RETENTION_MS.max(2 * window_ms)],
        )
        .map_err(err)?;
        let mut answers = Vec::with_capacity(arrivals.len());
        {
            let mut seen = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO webhook_seen (signature, seen_at) VALUES (?1, ?2)",
                )
                .map_err(err)?;
            let mut insert = tx
                .prepare_cached("INSERT INTO inbox (kind, body, received_at) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for a in arrivals {
                if seen.execute(params![a.key, a.now_ms]).map_err(err)? == 0 {
                    answers.push(Err(Refused::Replay));
                    continue;
                }
                insert
                    .execute(params![a.kind.as_str(), a.body, a.now_ms])
                    .map_err(err)?;
                answers.push(Ok(tx.last_insert_rowid()));
            }
        }
        tx.commit().map_err(err)?;
        Ok(answers)
    }

    /// What the worker should do next at `now`: the oldest event that is
    /// due, else when the earliest deferred one will be.
    ///
    /// Events come out in arrival order, but a deferred event (the
    /// component could not record it: trouble with that person's stored
    /// record, or settings it refuses) steps aside until its time, so one
    /// event that keeps failing never holds back the events behind it. An
    /// event overtaking an older one of the same person changes nothing: the
    /// component orders a person's unsubscribes and re-subscribes by when
    /// they occurred, and records the older one as stale.
    pub fn next(&self, now: i64) -> Result<Next, StorageError> {
        let conn = self.conn()?;
        let err = |e| sql_error(&self.path, e);
        // In id order, so SQLite stops at the first due event: as cheap as
        // reading the head while nothing is deferred.
        if let Some(ev) = Self::due_events(&conn, &self.path, now, 1)?.pop() {
            return Ok(Next::Due(ev));
        }
        let earliest: Option<i64> = conn
            .query_row("SELECT MIN(not_before) FROM inbox", [], |r| r.get(0))
            .map_err(err)?;
        Ok(earliest.map_or(Next::Empty, Next::WaitUntil))
    }

    /// The due unsubscribes at the head of the inbox, in arrival order, at
    /// most `max`: the run of unsubscribes that [`Inbox::next`] would hand
    /// out one by one, ending before the first due re-subscribe (which must
    /// be taken after them, in its place).
    pub fn due_unsubscribes(&self, now: i64, max: usize) -> Result<Vec<Event>, StorageError> {
        let conn = self.conn()?;
        Ok(unsubscribe_run(Self::due_events(
            &conn, &self.path, now, max,
        )?))
    }

    /// The first `max` due events, in id order (SQLite stops at the first
    /// rows that qualify: as cheap as reading the head while nothing is
    /// deferred).
    fn due_events(
        conn: &Connection,
        path: &Path,
        now: i64,
        max: usize,
    ) -> Result<Vec<Event>, StorageError> {
        let err = |e| sql_error(path, e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, kind, body, attempts, not_before, received_at FROM inbox
                 WHERE not_before <= ?1 ORDER BY id LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![now, max as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, u32>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, kind, body, attempts, not_before, received_at) = row.map_err(err)?;
            let kind = Kind::parse(&kind).ok_or_else(|| {
                StorageError::Corrupt(format!("inbox event {id} has an unknown kind {kind:?}"))
            })?;
            out.push(Event {
                id,
                kind,
                body,
                attempts,
                not_before,
                received_at,
            });
        }
        Ok(out)
    }

    /// Removes handled events, in one transaction.
    pub fn done_many(&self, ids: &[i64]) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let err = |e| sql_error(&self.path, e);
        let tx = conn.transaction().map_err(err)?;
        {
            let mut stmt = tx
                .prepare_cached("DELETE FROM inbox WHERE id = ?1")
                .map_err(err)?;
            for id in ids {
                stmt.execute(params![id]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Removes a handled event.
    pub fn done(&self, id: i64) -> Result<(), StorageError> {
        self.conn()?
            .execute("DELETE FROM inbox WHERE id = ?1", params![id])
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }

    /// Keeps an event for a later attempt.
    pub fn defer(&self, id: i64, error: &str, not_before: i64) -> Result<(), StorageError> {
        self.conn()?
            .execute(
                "UPDATE inbox SET attempts = attempts + 1, not_before = ?2, last_error = ?3 WHERE id = ?1",
                params![id, not_before, error],
            )
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(())
    }

    /// Moves an event the component cannot take (malformed, or it trapped)
    /// to the dead letters, with the reason; it stays there for an operator.
    pub fn dead(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StorageError> {
        let mut conn = self.conn()?;
        let err = |e| sql_error(&self.path, e);
        let tx = conn.transaction().map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO dead_letter (id, kind, body, received_at, failed_at, error)
             SELECT id, kind, body, received_at, ?2, ?3 FROM inbox WHERE id = ?1",
            params![id, now_ms, error],
        )
        .map_err(err)?;
        tx.execute("DELETE FROM inbox WHERE id = ?1", params![id])
            .map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Events waiting.
    pub fn depth(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT count(*) FROM inbox", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(n as u64)
    }

    /// Events in the dead letters.
    pub fn dead_count(&self) -> Result<u64, StorageError> {
        let n: i64 = self
            .conn()?
            .query_row("SELECT count(*) FROM dead_letter", [], |r| r.get(0))
            .map_err(|e| sql_error(&self.path, e))?;
        Ok(n as u64)
    }
}

#[cfg(test)]
mod tests;
