//! Emulator configuration.

use serde::{Deserialize, Serialize};

use crate::faults::FaultConfig;

/// How to start an emulator. `EmulatorConfig::default()` gives a loopback server on a free
/// port with the default credentials, a 100,000-call daily limit and no faults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmulatorConfig {
    /// TCP port on 127.0.0.1; 0 picks any free port.
    pub port: u16,
    /// Connected-app consumer key accepted by the token endpoint.
    pub client_id: String,
    /// Connected-app consumer secret (also the HMAC key of the token `signature`).
    pub client_secret: String,
    /// The refresh token the token endpoint accepts.
    pub refresh_token: String,
    /// `DailyApiRequests` Max (default 100,000).
    pub daily_api_limit: u64,
    /// Fault injection settings at start.
    pub faults: FaultConfig,
    /// Time a closed Bulk job takes to complete; 0 = it is `JobComplete` at the first poll.
    pub bulk_processing_delay_ms: u64,
    /// Organization Id used in the identity URL and access tokens.
    pub org_id: String,
    /// User Id of the integration user (identity URL, `createdById`).
    pub user_id: String,
    /// How many call-log entries are kept (oldest dropped first).
    pub call_log_capacity: usize,
    /// Tokio worker threads serving requests.
    pub worker_threads: usize,
    /// Serve HTTPS with a certificate signed by a CA made at start
    /// ([`crate::Emulator::ca_pem`]) instead of plain HTTP.
    pub tls: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            port: 0,
            client_id: "emulator-client".to_owned(),
            client_secret: "emulator-secret".to_owned(),
            refresh_token: "emulator-refresh-token".to_owned(),
            daily_api_limit: 100_000,
            faults: FaultConfig::default(),
            bulk_processing_delay_ms: 0,
            // The fixture values of plugin/SALESFORCE.md.
            org_id: "00D5e000000AbCdEAK".to_owned(),
            user_id: "0055e000001QwErAAK".to_owned(),
            call_log_capacity: 100_000,
            worker_threads: 2,
            tls: false,
        }
    }
}
