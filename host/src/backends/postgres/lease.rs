//! Per-org leases: which replica works for an org now.
//!
//! The guarantee: **at most one live holder per org at any moment**, by the
//! database's clock (`clock_timestamp()`, never a replica's, so replicas'
//! clocks may disagree). A lease is live until its expiry; its holder
//! extends it with [`Leases::renew`] before then, and a holder that dies or
//! stalls loses it when the TTL runs out, after which another replica takes
//! it ([`Leases::acquire`], [`Leases::claim_free`]).
//!
//! Every new holder gets a higher fencing token (a per-org counter kept in
//! the lease row, which is never deleted). A holder's writes check it
//! ([`check_held`], used by [`super::PgStorage::guarded`] and
//! [`super::PgInbox`]) in their own transaction, under a share lock that
//! makes a takeover wait for them: so a replica that wakes from a pause
//! after its lease expired has its writes refused, not interleaved with its
//! successor's.
//!
//! [`Leases::claim_free`] uses `FOR UPDATE SKIP LOCKED` (the pattern of
//! River, Oban and graphile-worker): replicas claiming at once each get
//! different orgs, without waiting on each other.

use std::sync::Arc;
use std::time::Duration;

use postgres::{GenericClient, Transaction};

use super::PgDatabase;
use crate::ports::storage::StorageError;

/// A lease held on one org: what a holder shows to renew, release or fence
/// a write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The org it is for.
    pub org: String,
    /// Who holds it (a replica's name).
    pub holder: String,
    /// The fencing token: higher for every new holder of the org.
    pub token: i64,
}

/// The leases of a [`PgDatabase`].
#[derive(Clone, Debug)]
pub struct Leases {
    db: Arc<PgDatabase>,
}

/// A TTL in whole milliseconds, for `$n * interval '1 millisecond'`.
fn millis(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

impl Leases {
    /// The leases kept in `db`.
    pub fn new(db: Arc<PgDatabase>) -> Leases {
        Leases { db }
    }

    /// Makes `org` known to [`Leases::claim_free`] (a free lease row), if it
    /// is not already. Accepting an inbox event does this for its org.
    pub fn register(&self, org: &str) -> Result<(), StorageError> {
        register_in(&mut *self.db.conn()?, self.db.target(), org)
    }

    /// Takes the lease on `org` for `ttl` if it is free or expired: `None`
    /// when another holder's lease is live (even if that holder is
    /// `holder`: a lease is renewed, not acquired again). Two replicas
    /// racing for one org: exactly one gets it.
    pub fn acquire(
        &self,
        org: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StorageError> {
        // The upsert's WHERE is evaluated on the row's newest version under
        // its row lock, so of two racing callers only the first sees it free.
        let row = self
            .db
            .conn()?
            .query_opt(
                "INSERT INTO unsubscribe_sync.lease AS l (org, holder, token, expires_at)
                 VALUES ($1, $2, 1, clock_timestamp() + $3::bigint * interval '1 millisecond')
                 ON CONFLICT (org) DO UPDATE
                   SET holder = excluded.holder, token = l.token + 1, expires_at = excluded.expires_at
                   WHERE l.holder IS NULL OR l.expires_at <= clock_timestamp()
                 RETURNING l.token",
                &[&org, &holder, &millis(ttl)],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(row.map(|r| Lease {
            org: org.to_string(),
            holder: holder.to_string(),
            token: r.get(0),
        }))
    }

    /// Extends a live lease to `ttl` from now. `false`: the lease was lost
    /// (it expired, or another holder took it); stop working for the org.
    pub fn renew(&self, lease: &Lease, ttl: Duration) -> Result<bool, StorageError> {
        let n = self
            .db
            .conn()?
            .execute(
                "UPDATE unsubscribe_sync.lease
                 SET expires_at = clock_timestamp() + $4::bigint * interval '1 millisecond'
                 WHERE org = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()",
                &[&lease.org, &lease.holder, &lease.token, &millis(ttl)],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(n == 1)
    }

    /// Gives the lease up now, so another replica may take the org at once.
    /// A lease already lost is left alone.
    pub fn release(&self, lease: &Lease) -> Result<(), StorageError> {
        self.db
            .conn()?
            .execute(
                "UPDATE unsubscribe_sync.lease SET holder = NULL, expires_at = clock_timestamp()
                 WHERE org = $1 AND holder = $2 AND token = $3",
                &[&lease.org, &lease.holder, &lease.token],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(())
    }

    /// The live holder of `org`'s lease, if any.
    pub fn holder(&self, org: &str) -> Result<Option<String>, StorageError> {
        let row = self
            .db
            .conn()?
            .query_opt(
                "SELECT holder FROM unsubscribe_sync.lease
                 WHERE org = $1 AND holder IS NOT NULL AND expires_at > clock_timestamp()",
                &[&org],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Takes up to `max` orgs whose lease is free or expired (longest
    /// waiting first), each for `ttl`. Rows another replica is claiming at
    /// the same moment are skipped, not waited for, so concurrent callers
    /// never get the same org and never block each other.
    pub fn claim_free(
        &self,
        holder: &str,
        max: usize,
        ttl: Duration,
    ) -> Result<Vec<Lease>, StorageError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        // The outer WHERE repeats the test: a row locked in the CTE was free
        // when locked, and stays locked until this statement commits.
        let rows = self
            .db
            .conn()?
            .query(
                "WITH free AS (
                     SELECT org FROM unsubscribe_sync.lease
                     WHERE holder IS NULL OR expires_at <= clock_timestamp()
                     ORDER BY expires_at LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE unsubscribe_sync.lease l
                 SET holder = $1, token = l.token + 1,
                     expires_at = clock_timestamp() + $3::bigint * interval '1 millisecond'
                 FROM free
                 WHERE l.org = free.org AND (l.holder IS NULL OR l.expires_at <= clock_timestamp())
                 RETURNING l.org, l.token",
                &[&holder, &max, &millis(ttl)],
            )
            .map_err(|e| self.db.err(e))?;
        Ok(rows
            .iter()
            .map(|r| Lease {
                org: r.get(0),
                holder: holder.to_string(),
                token: r.get(1),
            })
            .collect())
    }
}

/// Fails with `unavailable` ("lease lost") unless `lease` is still live and
/// its holder's, and keeps it so (a share lock on its row) until `tx` ends:
/// the fence of a holder's writes.
pub(super) fn check_held(
    tx: &mut Transaction<'_>,
    target: &str,
    lease: &Lease,
) -> Result<(), StorageError> {
    let held = tx
        .query_opt(
            "SELECT 1 FROM unsubscribe_sync.lease
             WHERE org = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()
             FOR SHARE",
            &[&lease.org, &lease.holder, &lease.token],
        )
        .map_err(|e| super::pg_error(target, e))?;
    match held {
        Some(_) => Ok(()),
        None => Err(StorageError::Unavailable(format!(
            "lease lost: {} no longer holds the lease on org {} (token {}); nothing was \
             written: stop working for this org, another replica has it or will take it",
            lease.holder, lease.org, lease.token
        ))),
    }
}

/// Adds a free lease row for `org` unless it has one, through `client` (a
/// connection, or a transaction that records the org's first event).
pub(super) fn register_in(
    client: &mut impl GenericClient,
    target: &str,
    org: &str,
) -> Result<(), StorageError> {
    client
        .execute(
            "INSERT INTO unsubscribe_sync.lease (org, holder, token, expires_at)
             VALUES ($1, NULL, 0, '-infinity') ON CONFLICT (org) DO NOTHING",
            &[&org],
        )
        .map_err(|e| super::pg_error(target, e))?;
    Ok(())
}
