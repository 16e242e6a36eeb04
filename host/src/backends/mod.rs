//! The backends behind the ports: the org client (HTTPS with OAuth, the
//! [`crate::ports::http::HttpTransport`] of production), the SQLite ledger
//! (the [`crate::ports::storage::Storage`] of production) and the webhook
//! inbox `serve` records events in before it answers, the guard that
//! keeps one writer per ledger and notices a ledger vanishing, and
//! PostgreSQL as the store several replicas share (key spaces, inboxes and
//! per-org leases).

pub mod inbox;
pub mod ledger_guard;
pub mod org;
pub mod postgres;
pub mod sqlite;
