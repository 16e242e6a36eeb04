//! PostgreSQL as the shared store, on a real server (a throwaway cluster
//! started once per test process, or `UNSUBSCRIBE_SYNC_TEST_DATABASE_URL`;
//! see `support::postgres`), each test in a database of its own.
//!
//! - `storage`: the storage conformance suite, two orgs isolated, atomic
//!   writes rolled back, byte-order listings against the in-memory model,
//!   and the schema check (foreign and newer schemas refused untouched).
//! - `inbox`: the shared inbox behaviour, scoped per org and fenced by the
//!   org's lease.
//! - `lease`: races for one org, expiry and takeover with a higher fencing
//!   token, fenced writes of a holder that lost its lease, `claim_free`
//!   from several replicas at once, and a holder process killed with
//!   SIGKILL.

mod inbox;
mod lease;
mod storage;
