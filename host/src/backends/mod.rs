//! The backends behind the ports: the org client (HTTPS with OAuth, the
//! [`crate::ports::http::HttpTransport`] of production), the SQLite ledger
//! (the [`crate::ports::storage::Storage`] of production) and the webhook
//! inbox `serve` records events in before it answers, and the guard that
//! keeps one writer per ledger and notices a ledger vanishing.

pub mod inbox;
pub mod ledger_guard;
pub mod org;
pub mod sqlite;
