//! A local Salesforce stand-in that speaks the REST and Bulk API 2.0 over real HTTP on
//! 127.0.0.1, for tests and benchmarks that must never reach the internet.
//!
//! It follows `plugin/SALESFORCE.md` (the project's API memo) to the field name: OAuth
//! refresh-token grant, versions, single-record GET/PATCH, sObject Collections update,
//! SOQL query with paging, describe with field-level security, limits and the
//! `Sforce-Limit-Info` header, Bulk API 2.0 ingest (update) and query jobs, Salesforce's
//! error shapes, and seeded fault injection. Where the memo marks behaviour UNCONFIRMED,
//! the documented behaviour is used and the code says so where it is implemented.
//!
//! ```no_run
//! use sf_emulator::{Emulator, EmulatorConfig, OrgSeed, SeedRecord};
//!
//! let seed = OrgSeed {
//!     records: vec![SeedRecord::lead("ada@example.com").with_id("00Q5e00000AbCdEEAV")],
//!     ..OrgSeed::default()
//! };
//! let emu = Emulator::start(EmulatorConfig::default(), seed).unwrap();
//! println!("token endpoint: {}", emu.token_url());
//! assert!(!emu.record("00Q5e00000AbCdE").unwrap().has_opted_out_of_email);
//! ```

#![deny(missing_docs)]

mod admin;
mod auth;
mod bulk;
mod calls;
mod collections;
mod config;
mod describe;
mod error;
mod faults;
mod http;
mod limits;
mod model;
mod query;
mod rest;
mod router;
mod schema;
mod server;
pub mod sfid;
mod soql;
mod state;
mod store;
mod synthetic;
mod time;
mod tls;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub use auth::sign as token_signature;
pub use calls::{CallCounts, CallKind, CallLogEntry};
pub use config::EmulatorConfig;
pub use faults::FaultConfig;
pub use model::{
    CustomFieldDef, FieldAccess, FieldAccessRule, OrgSeed, RecordSnapshot, SObject, SeedRecord,
    UnknownSObject, ValidationRule,
};
pub use router::{MAX_VERSION, MIN_VERSION};
pub use store::AdminError;
pub use synthetic::{
    synthetic_email, synthetic_id, synthetic_lead_count, synthetic_opted_out, synthetic_org,
};

use state::State;
use store::Org;

/// A running emulator on `127.0.0.1` with its own Tokio runtime thread. Dropping it (or
/// calling [`Emulator::shutdown`]) stops the server.
///
/// The plain admin methods (`insert`, `convert_lead`, ...) are test-setup helpers and
/// panic with a clear message on invalid input; each has a `try_` twin that returns the
/// error instead.
pub struct Emulator {
    state: Arc<State>,
    addr: SocketAddr,
    ca_pem: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Loads `seed`, binds `127.0.0.1:config.port` (0 = any free port) and starts serving.
    /// Returns once the socket is listening. An invalid seed is `InvalidData`.
    pub fn start(config: EmulatorConfig, seed: OrgSeed) -> io::Result<Emulator> {
        let now = time::now_ms();
        let mut org = Org::new(now);
        org.load_seed(seed, now)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("sf-emulator")
            .enable_all()
            .build()?;
        let tls = if config.tls {
            Some(tls::generate()?)
        } else {
            None
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{addr}");
        let salt = (now as u64).rotate_left(17) ^ u64::from(addr.port());
        let state = Arc::new(State::new(config, base_url, org, salt));
        let (tx, rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<io::Result<()>>();
        let serve_state = Arc::clone(&state);
        let acceptor = tls.as_ref().map(|identity| identity.acceptor.clone());
        let thread = std::thread::Builder::new()
            .name("sf-emulator-main".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            server::serve(listener, serve_state, acceptor, rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(2));
            })?;
        ready_rx
            .recv()
            .map_err(|_| io::Error::other("emulator thread ended before listening"))??;
        Ok(Emulator {
            state,
            addr,
            ca_pem: tls.map(|identity| identity.ca_pem),
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The CA (PEM) that signed the server certificate when serving HTTPS
    /// ([`EmulatorConfig::tls`]); `None` over plain HTTP. Made for this run
    /// only: trust it in the client under test.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// `http://127.0.0.1:PORT` (`https://` with [`EmulatorConfig::tls`]),
    /// also the `instance_url` the token endpoint returns.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// `base_url() + "/services/oauth2/token"`.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.state.base_url)
    }

    /// The port listened on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The start configuration.
    pub fn config(&self) -> &EmulatorConfig {
        &self.state.config
    }

    /// A record by 15- or 18-character Id, deleted ones included.
    pub fn record(&self, id: &str) -> Option<RecordSnapshot> {
        admin::record(&self.state, id)
    }

    /// Loads more records and schema into the running org. Returns the number of records.
    pub fn seed(&self, seed: OrgSeed) -> Result<usize, AdminError> {
        admin::seed(&self.state, seed, false)
    }

    /// Inserts a record and returns its 18-character Id.
    ///
    /// # Panics
    /// On an invalid record (bad Id, undeclared custom field); see [`Emulator::try_insert`].
    pub fn insert(&self, rec: SeedRecord) -> String {
        self.try_insert(rec)
            .unwrap_or_else(|e| panic!("sf-emulator insert: {e}"))
    }

    /// Inserts a record and returns its 18-character Id.
    pub fn try_insert(&self, rec: SeedRecord) -> Result<String, AdminError> {
        admin::insert(&self.state, rec)
    }

    /// Converts a Lead: `IsConverted = true`, `ConvertedContactId = contact_id`.
    ///
    /// # Panics
    /// When the Lead does not exist or an Id is of the wrong object.
    pub fn convert_lead(&self, lead_id: &str, contact_id: &str) {
        self.try_convert_lead(lead_id, contact_id)
            .unwrap_or_else(|e| panic!("sf-emulator convert_lead: {e}"));
    }

    /// Fallible [`Emulator::convert_lead`].
    pub fn try_convert_lead(&self, lead_id: &str, contact_id: &str) -> Result<(), AdminError> {
        admin::convert_lead(&self.state, lead_id, contact_id)
    }

    /// Merges: the loser gets `IsDeleted = true` and `MasterRecordId = master_id`.
    ///
    /// # Panics
    /// When either record does not exist or the objects differ.
    pub fn merge(&self, loser_id: &str, master_id: &str) {
        self.try_merge(loser_id, master_id)
            .unwrap_or_else(|e| panic!("sf-emulator merge: {e}"));
    }

    /// Fallible [`Emulator::merge`].
    pub fn try_merge(&self, loser_id: &str, master_id: &str) -> Result<(), AdminError> {
        admin::merge(&self.state, loser_id, master_id)
    }

    /// Soft-deletes a record (recycle bin).
    ///
    /// # Panics
    /// When the record does not exist.
    pub fn delete(&self, id: &str) {
        self.try_delete(id)
            .unwrap_or_else(|e| panic!("sf-emulator delete: {e}"));
    }

    /// Fallible [`Emulator::delete`].
    pub fn try_delete(&self, id: &str) -> Result<(), AdminError> {
        admin::delete(&self.state, id)
    }

    /// Sets a checkbox (`HasOptedOutOfEmail` or a custom one) as an admin editing the
    /// record in Salesforce would: no field-level security, no validation rules, bumps
    /// `LastModifiedDate` but not the API write counter.
    ///
    /// # Panics
    /// When the record or field does not exist.
    pub fn set_field(&self, id: &str, field: &str, value: bool) {
        self.try_set_field(id, field, value)
            .unwrap_or_else(|e| panic!("sf-emulator set_field: {e}"));
    }

    /// Fallible [`Emulator::set_field`].
    pub fn try_set_field(&self, id: &str, field: &str, value: bool) -> Result<(), AdminError> {
        admin::set_field(&self.state, id, field, value)
    }

    /// Adds a custom checkbox field to an object (idempotent).
    ///
    /// # Panics
    /// When the name is not an API name or clashes with a standard field.
    pub fn add_checkbox_field(&self, object: SObject, field: &str) {
        self.try_add_checkbox_field(object, field)
            .unwrap_or_else(|e| panic!("sf-emulator add_checkbox_field: {e}"));
    }

    /// Fallible [`Emulator::add_checkbox_field`].
    pub fn try_add_checkbox_field(&self, object: SObject, field: &str) -> Result<(), AdminError> {
        admin::add_checkbox_field(&self.state, object, field, None)
    }

    /// Sets field-level security of a field for the integration user.
    pub fn set_field_access(&self, object: SObject, field: &str, access: FieldAccess) {
        admin::set_field_access(&self.state, object, field, access);
    }

    /// Adds a validation rule (`FIELD_CUSTOM_VALIDATION_EXCEPTION` on matching writes).
    ///
    /// # Panics
    /// When the rule's `record_id` is not an Id.
    pub fn add_validation_rule(&self, rule: ValidationRule) {
        self.try_add_validation_rule(rule)
            .unwrap_or_else(|e| panic!("sf-emulator add_validation_rule: {e}"));
    }

    /// Fallible [`Emulator::add_validation_rule`].
    pub fn try_add_validation_rule(&self, rule: ValidationRule) -> Result<(), AdminError> {
        admin::add_validation_rule(&self.state, rule)
    }

    /// Every issued access token becomes invalid (401 `INVALID_SESSION_ID`).
    pub fn expire_tokens(&self) {
        self.state.auth().expire_all();
    }

    /// The refresh token stops working: the token endpoint answers 400 `invalid_grant`.
    pub fn revoke_refresh_token(&self) {
        self.state.auth().revoke_refresh_token();
    }

    /// Undoes [`Emulator::revoke_refresh_token`].
    pub fn restore_refresh_token(&self) {
        self.state.auth().restore_refresh_token();
    }

    /// Issues a valid access token without an OAuth call (not counted).
    pub fn issue_access_token(&self) -> String {
        self.state.auth().issue()
    }

    /// Replaces the fault configuration; the fault stream restarts from its seed.
    pub fn set_faults(&self, faults: FaultConfig) {
        admin::set_faults(&self.state, faults);
    }

    /// Sets `DailyApiRequests.Remaining`; at 0, data calls answer 403 `REQUEST_LIMIT_EXCEEDED`.
    pub fn set_api_remaining(&self, remaining: u64) {
        admin::set_api_remaining(&self.state, remaining);
    }

    /// `DailyApiRequests.Remaining`.
    pub fn api_remaining(&self) -> u64 {
        self.state.limits().remaining()
    }

    /// Call counts by kind, fault and limit statistics.
    pub fn call_counts(&self) -> CallCounts {
        self.state.calls().counts()
    }

    /// The call log (method, path with query, status, kind, time), oldest first; bounded
    /// by [`EmulatorConfig::call_log_capacity`].
    pub fn call_log(&self) -> Vec<CallLogEntry> {
        self.state.calls().log()
    }

    /// Clears call counts and the call log (not the daily limit).
    pub fn reset_counts(&self) {
        self.state.calls().reset();
    }

    /// Non-deleted records of `object` whose checkbox `field` is true.
    ///
    /// # Panics
    /// When the object has no such checkbox.
    pub fn count_opted_out(&self, object: SObject, field: &str) -> u64 {
        self.try_count_opted_out(object, field)
            .unwrap_or_else(|e| panic!("sf-emulator count_opted_out: {e}"))
    }

    /// Fallible [`Emulator::count_opted_out`].
    pub fn try_count_opted_out(&self, object: SObject, field: &str) -> Result<u64, AdminError> {
        admin::count_opted_out(&self.state, object, field)
    }

    /// Records of `object` (deleted ones included) written by at least one
    /// API call.
    pub fn count_written(&self, object: SObject) -> u64 {
        admin::count_written(&self.state, object)
    }

    /// Number of records held (deleted ones included).
    pub fn record_count(&self) -> usize {
        self.state.org().len()
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}
