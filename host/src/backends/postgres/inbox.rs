//! [`PgInbox`]: one org's webhook inbox in the shared database, the
//! PostgreSQL [`InboxStore`]: the same operations and semantics as the
//! SQLite [`crate::backends::inbox::Inbox`], with every row scoped by org.
//!
//! Any replica may accept events for any org (the intake needs no lease).
//! Taking and settling events (`next`, `due_unsubscribes`, `done`, `defer`,
//! `dead`) is fenced by the org's lease: each runs in a transaction that
//! first checks, under a share lock, that the lease is still the caller's,
//! so only the one live holder of an org works through its events.

use std::sync::Arc;

use postgres::Transaction;

use super::PgDatabase;
use super::lease::{Lease, check_held, register_in};
use crate::backends::inbox::{
    Arrival, Event, InboxStore, Kind, Next, REDELIVERY_RETENTION_MS, Refused, unsubscribe_run,
};
use crate::ports::storage::StorageError;

/// One org's inbox in a shared [`PgDatabase`]. Event IDs come from one
/// identity sequence, so they increase with arrival across replicas (two
/// accepted at the same moment by different replicas are ordered by the
/// sequence, and the component orders a person's events by when they
/// occurred anyway).
pub struct PgInbox {
    db: Arc<PgDatabase>,
    org: String,
    lease: Option<Lease>,
}

impl std::fmt::Debug for PgInbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgInbox")
            .field("db", &self.db.target())
            .field("org", &self.org)
            .field("lease", &self.lease)
            .finish()
    }
}

impl PgInbox {
    /// The intake of `org`'s inbox: accepts events and counts them; taking
    /// them needs the lease ([`PgInbox::worker`]) and fails without it.
    pub fn intake(db: Arc<PgDatabase>, org: &str) -> PgInbox {
        PgInbox {
            db,
            org: org.to_string(),
            lease: None,
        }
    }

    /// The inbox of the lease's org, for its holder: everything the intake
    /// does, and taking and settling events while the lease holds.
    pub fn worker(db: Arc<PgDatabase>, lease: Lease) -> PgInbox {
        PgInbox {
            db,
            org: lease.org.clone(),
            lease: Some(lease),
        }
    }

    /// The org whose events this inbox holds.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// Runs `f` in a transaction fenced by the lease (see the module docs).
    fn fenced<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &str) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let Some(lease) = &self.lease else {
            return Err(StorageError::Unavailable(format!(
                "the inbox of org {} is worked through by the holder of its lease only: \
                 open it with PgInbox::worker",
                self.org
            )));
        };
        self.db.transaction(|tx, target| {
            check_held(tx, target, lease)?;
            f(tx, target)
        })
    }

    /// The first `max` due events, in id order.
    fn due_events(
        &self,
        tx: &mut Transaction<'_>,
        target: &str,
        now: i64,
        max: usize,
    ) -> Result<Vec<Event>, StorageError> {
        let rows = tx
            .query(
                "SELECT id, kind, body, attempts, not_before, received_at FROM unsubscribe_sync.inbox
                 WHERE org = $1 AND not_before <= $2 ORDER BY id LIMIT $3",
                &[&self.org, &now, &i64::try_from(max).unwrap_or(i64::MAX)],
            )
            .map_err(|e| super::pg_error(target, e))?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.get(0);
                let kind: String = r.get(1);
                let attempts: i32 = r.get(3);
                Ok(Event {
                    id,
                    kind: Kind::parse(&kind).ok_or_else(|| {
                        StorageError::Corrupt(format!(
                            "inbox event {id} has an unknown kind {kind:?}"
                        ))
                    })?,
                    body: r.get(2),
                    attempts: u32::try_from(attempts).unwrap_or(0),
                    not_before: r.get(4),
                    received_at: r.get(5),
                })
            })
            .collect()
    }

    fn count(&self, sql: &str) -> Result<u64, StorageError> {
        let n: i64 = self
            .db
            .conn()?
            .query_one(sql, &[&self.org])
            .map_err(|e| self.db.err(e))?
            .get(0);
        Ok(n as u64)
    }
}

impl InboxStore for PgInbox {
    fn accept_many(&self, arrivals: &[Arrival]) -> Result<Vec<Result<i64, Refused>>, StorageError> {
        let Some((now_ms, window_ms)) = arrivals.iter().map(|a| (a.now_ms, a.window_ms)).max()
        else {
            return Ok(Vec::new());
        };
        self.db.transaction(|tx, target| {
            let err = |e| super::pg_error(target, e);
            // The org becomes claimable by a replica (a free lease row).
            register_in(tx, target, &self.org)?;
            // As the SQLite inbox: signatures are kept for twice the window,
            // Standard Webhooks message IDs for the redelivery retention.
            tx.execute(
                "DELETE FROM unsubscribe_sync.webhook_seen WHERE org = $1 AND seen_at < $2
                 AND (signature NOT LIKE 'whid:%' OR seen_at < $3)",
                &[
                    &self.org,
                    &(now_ms - 2 * window_ms),
                    &(now_ms - REDELIVERY_RETENTION_MS.max(2 * window_ms)),
                ],
            )
            .map_err(err)?;
            let seen = tx
                .prepare(
                    "INSERT INTO unsubscribe_sync.webhook_seen (org, signature, seen_at)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .map_err(err)?;
            let insert = tx
                .prepare(
                    "INSERT INTO unsubscribe_sync.inbox (org, kind, body, received_at)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                )
                .map_err(err)?;
            let mut answers = Vec::with_capacity(arrivals.len());
            for a in arrivals {
                // A concurrent replica accepting the same key waits here for
                // the first one's commit, then finds it: a replay.
                if tx
                    .execute(&seen, &[&self.org, &a.key, &a.now_ms])
                    .map_err(err)?
                    == 0
                {
                    answers.push(Err(Refused::Replay));
                    continue;
                }
                let row = tx
                    .query_one(&insert, &[&self.org, &a.kind.as_str(), &a.body, &a.now_ms])
                    .map_err(err)?;
                answers.push(Ok(row.get(0)));
            }
            Ok(answers)
        })
    }

    fn next(&self, now: i64) -> Result<Next, StorageError> {
        self.fenced(|tx, target| {
            if let Some(ev) = self.due_events(tx, target, now, 1)?.pop() {
                return Ok(Next::Due(ev));
            }
            let earliest: Option<i64> = tx
                .query_one(
                    "SELECT MIN(not_before) FROM unsubscribe_sync.inbox WHERE org = $1",
                    &[&self.org],
                )
                .map_err(|e| super::pg_error(target, e))?
                .get(0);
            Ok(earliest.map_or(Next::Empty, Next::WaitUntil))
        })
    }

    fn due_unsubscribes(&self, now: i64, max: usize) -> Result<Vec<Event>, StorageError> {
        self.fenced(|tx, target| Ok(unsubscribe_run(self.due_events(tx, target, now, max)?)))
    }

    fn done_many(&self, ids: &[i64]) -> Result<(), StorageError> {
        self.fenced(|tx, target| {
            tx.execute(
                "DELETE FROM unsubscribe_sync.inbox WHERE org = $1 AND id = ANY($2)",
                &[&self.org, &ids],
            )
            .map_err(|e| super::pg_error(target, e))?;
            Ok(())
        })
    }

    fn defer(&self, id: i64, error: &str, not_before: i64) -> Result<(), StorageError> {
        self.fenced(|tx, target| {
            tx.execute(
                "UPDATE unsubscribe_sync.inbox
                 SET attempts = attempts + 1, not_before = $3, last_error = $4
                 WHERE org = $1 AND id = $2",
                &[&self.org, &id, &not_before, &error],
            )
            .map_err(|e| super::pg_error(target, e))?;
            Ok(())
        })
    }

    fn dead(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StorageError> {
        self.fenced(|tx, target| {
            let err = |e| super::pg_error(target, e);
            tx.execute(
                "INSERT INTO unsubscribe_sync.dead_letter (id, org, kind, body, received_at, failed_at, error)
                 SELECT id, org, kind, body, received_at, $3, $4 FROM unsubscribe_sync.inbox
                 WHERE org = $1 AND id = $2
                 ON CONFLICT (id) DO UPDATE SET failed_at = excluded.failed_at, error = excluded.error",
                &[&self.org, &id, &now_ms, &error],
            )
            .map_err(err)?;
            tx.execute(
                "DELETE FROM unsubscribe_sync.inbox WHERE org = $1 AND id = $2",
                &[&self.org, &id],
            )
            .map_err(err)?;
            Ok(())
        })
    }

    fn depth(&self) -> Result<u64, StorageError> {
        self.count("SELECT count(*) FROM unsubscribe_sync.inbox WHERE org = $1")
    }

    fn dead_count(&self) -> Result<u64, StorageError> {
        self.count("SELECT count(*) FROM unsubscribe_sync.dead_letter WHERE org = $1")
    }
}
