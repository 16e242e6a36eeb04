//! PostgreSQL as the shared store of several `serve` replicas serving many
//! orgs: one database holds every org's key space ([`PgStorage`]), webhook
//! inbox ([`PgInbox`]) and lease ([`Leases`]), all in the schema
//! `unsubscribe_sync`. SQLite stays the embedded default.
//!
//! [`PgDatabase`] is the connection: a small pool of the synchronous
//! rust-postgres client, and the schema check made when it opens.
//!
//! The synchronous client runs a Tokio runtime of its own for each call, so
//! it must not be called from a thread of a Tokio runtime (it panics
//! there): call it from plain threads (the worker's), or from async code
//! through `tokio::task::spawn_blocking`. The [`Storage`] trait is
//! synchronous for the same reason.
//!
//! The one-caller-per-org rule of [`crate::ports::storage`] is kept across
//! replicas by the leases: a replica works for an org only while it holds
//! that org's lease, and its writes ([`PgStorage::guarded`]) and its taking
//! of inbox events check, in the same transaction, that it still does.
//!
//! [`Storage`]: crate::ports::storage::Storage

use std::str::FromStr;
use std::time::Duration;

use postgres::config::Host;
use postgres::{Config, Transaction};

mod error;
mod inbox;
mod lease;
mod pool;
mod schema;
mod storage;

pub use inbox::PgInbox;
pub use lease::{Lease, Leases};
pub use storage::PgStorage;

use crate::ports::storage::StorageError;
use error::pg_error;
use pool::{Pool, Pooled};

/// How many connections a [`PgDatabase`] opens at most unless told.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;
/// How long opening a connection may take before it is `unavailable`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One PostgreSQL database of ours: a pool of connections to it, shared by
/// the storages, inboxes and leases of every org.
pub struct PgDatabase {
    pool: Pool,
}

impl std::fmt::Debug for PgDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The target only: the URL's password is never shown.
        f.debug_struct("PgDatabase")
            .field("target", &self.pool.target)
            .finish()
    }
}

impl PgDatabase {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`,
    /// or the `key=value` form libpq takes), using at most `max_connections`
    /// at once, and creates the schema on first use. Refuses, without
    /// writing to it, a database whose `unsubscribe_sync` schema belongs to
    /// another application or was written by a newer host. Errors name the
    /// database as `user@host:port/db`, never with the password.
    pub fn open(url: &str, max_connections: usize) -> Result<PgDatabase, StorageError> {
        let mut config = Config::from_str(url).map_err(|e| {
            // The driver's parse error does not echo the URL.
            StorageError::Unavailable(format!("the PostgreSQL URL is not valid: {e}"))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("unsubscribe-sync");
        }
        let target = describe(&config);
        let db = PgDatabase {
            pool: Pool::new(config, max_connections, target),
        };
        db.transaction(schema::ensure)?;
        Ok(db)
    }

    /// The database as errors name it: `user@host:port/db`.
    pub fn target(&self) -> &str {
        &self.pool.target
    }

    /// The schema version this host writes and reads.
    pub fn schema_version() -> i64 {
        schema::SCHEMA_VERSION
    }

    fn conn(&self) -> Result<Pooled<'_>, StorageError> {
        self.pool.get()
    }

    fn err(&self, e: postgres::Error) -> StorageError {
        pg_error(&self.pool.target, e)
    }

    /// Runs `f` in one transaction, committed when it returns `Ok`, rolled
    /// back (by dropping it) otherwise.
    fn transaction<T>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>, &str) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction().map_err(|e| self.err(e))?;
        let out = f(&mut tx, &self.pool.target)?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(out)
    }
}

/// `user@host:port/db` of a configuration: what errors and logs may show.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_of_a_url_leaves_the_password_out() {
        let c = Config::from_str("postgres://sync:s3cret@db.example:6543/ledger").unwrap();
        let d = describe(&c);
        assert_eq!(d, "sync@db.example:6543/ledger");
        assert!(!d.contains("s3cret"));
    }

    #[test]
    fn an_unreachable_server_is_unavailable_and_the_error_hides_the_password() {
        // Port 1 on loopback: nothing listens there.
        let err = PgDatabase::open("postgres://u:hunter2@127.0.0.1:1/db", 1).unwrap_err();
        assert!(matches!(err, StorageError::Unavailable(_)), "{err:?}");
        assert!(err.to_string().contains("u@127.0.0.1:1/db"), "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn prefix_ends_are_byte_strings() {
        assert_eq!(storage::prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(storage::prefix_end(b"a\xFF"), Some(b"b".to_vec()));
        assert_eq!(storage::prefix_end(b"\xFF\xFF"), None);
        assert_eq!(storage::prefix_end(b""), None);
    }
}
