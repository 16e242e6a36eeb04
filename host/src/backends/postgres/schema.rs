//! The tables of the shared store, created on first use, and the check that
//! a database is ours before anything is written to it.
//!
//! Everything lives in a schema of its own, `unsubscribe_sync`, so the
//! database may be shared with other applications. That schema is refused
//! untouched when it holds tables that are not ours, lacks our marker, or
//! was written by a newer host.

use postgres::Transaction;

use super::error::pg_error;
use crate::ports::storage::StorageError;

/// The schema version this host writes and reads.
pub(super) const SCHEMA_VERSION: i64 = 1;
/// What the marker row says: the application the schema belongs to.
const APPLICATION: &str = "unsubscribe-sync";
/// Tables the `unsubscribe_sync` schema may hold.
const OUR_TABLES: &[&str] = &[
    "meta",
    "kv",
    "lease",
    "inbox",
    "dead_letter",
    "webhook_seen",
];
/// Serializes schema creation across replicas opening at once (a
/// `CREATE TABLE IF NOT EXISTS` race otherwise fails on the catalog's
/// unique index). The number is "USYC" in ASCII.
const SCHEMA_LOCK: i64 = 0x5553_5943;

/// Version 1. Keys are `bytea`, so order and prefix ranges are their bytes'
/// (as in SQLite, and whatever the database's collation), and any string a
/// key may hold (a NUL among them) is stored as it is.
const CREATE: &str = r#"
CREATE SCHEMA IF NOT EXISTS unsubscribe_sync;
CREATE TABLE unsubscribe_sync.meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE unsubscribe_sync.kv (
    org TEXT NOT NULL,
    key BYTEA NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (org, key));
CREATE TABLE unsubscribe_sync.lease (
    org TEXT PRIMARY KEY,
    holder TEXT,
    token BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL);
CREATE INDEX lease_free ON unsubscribe_sync.lease (expires_at);
CREATE TABLE unsubscribe_sync.inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before BIGINT NOT NULL DEFAULT 0,
    last_error TEXT);
CREATE INDEX inbox_org ON unsubscribe_sync.inbox (org, id);
CREATE TABLE unsubscribe_sync.dead_letter (
    id BIGINT PRIMARY KEY,
    org TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    failed_at BIGINT NOT NULL,
    error TEXT NOT NULL);
CREATE INDEX dead_letter_org ON unsubscribe_sync.dead_letter (org);
CREATE TABLE unsubscribe_sync.webhook_seen (
    org TEXT NOT NULL,
    signature TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (org, signature));
"#;

/// Creates the schema in a database that has none, or checks that the one
/// there is ours and not newer. Writes nothing to a schema that is refused,
/// nor to one of ours that is complete.
pub(super) fn ensure(tx: &mut Transaction<'_>, target: &str) -> Result<(), StorageError> {
    let err = |e| pg_error(target, e);
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .map_err(err)?;
    let tables: Vec<String> = tx
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'unsubscribe_sync' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             ORDER BY 1",
            &[],
        )
        .map_err(err)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if tables.is_empty() {
        tx.batch_execute(CREATE).map_err(err)?;
        tx.execute(
            "INSERT INTO unsubscribe_sync.meta (key, value) VALUES ('application', $1), ('schema_version', $2)",
            &[&APPLICATION, &SCHEMA_VERSION.to_string()],
        )
        .map_err(err)?;
        return Ok(());
    }
    let refuse = |why: String| {
        StorageError::Corrupt(format!(
            "{target}: the schema unsubscribe_sync {why} (tables: {}); refusing to use it: \
             point the host at another database, or drop that schema if it is not needed",
            tables.join(", ")
        ))
    };
    if tables.iter().any(|t| !OUR_TABLES.contains(&t.as_str())) {
        return Err(refuse("belongs to another application".into()));
    }
    if !tables.iter().any(|t| t == "meta") {
        return Err(refuse("has no marker table (meta)".into()));
    }
    let meta: Vec<(String, String)> = tx
        .query("SELECT key, value FROM unsubscribe_sync.meta", &[])
        .map_err(err)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let value = |k: &str| {
        meta.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    if value("application") != Some(APPLICATION) {
        return Err(refuse(format!(
            "is marked as another application's ({:?})",
            value("application").unwrap_or("no mark")
        )));
    }
    match value("schema_version").map(str::parse::<i64>) {
        Some(Ok(v)) if v > SCHEMA_VERSION => Err(StorageError::Corrupt(format!(
            "{target} was written by a newer unsubscribe-sync (schema version {v}; this host \
             reads version {SCHEMA_VERSION}); refusing to use it: upgrade unsubscribe-sync"
        ))),
        Some(Ok(v)) if v >= 1 && tables.len() == OUR_TABLES.len() => Ok(()),
        Some(Ok(_)) => Err(refuse("lacks some of its tables".into())),
        _ => Err(refuse("has no valid schema version".into())),
    }
}
