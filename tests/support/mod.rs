//! Shared helpers of the integration tests: the guests' bytes, a runtime
//! with a shared precompile cache, capabilities over real SQLite files and
//! the emulator, and a way to run the CLI as a process.
#![allow(dead_code)]

pub mod cli;
pub mod ledger;
pub mod loopback;
pub mod nightly;
pub mod postgres;
pub mod rng;
pub mod scenario;
pub mod serve;
pub mod shape;
pub mod webhooks;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sf_emulator::{Emulator, EmulatorConfig, OrgSeed};
use unsubscribe_sync::{
    Capabilities, FixedClock, HttpTransport, MemoryLog, OrgClient, OrgConfig, Runtime,
    RuntimeOptions, Secret, SqliteStorage, api,
};

/// The hostile guest (tests/hostile-guest), built by tests/build.rs.
pub const HOSTILE_WASM: &[u8] = include_bytes!(env!("HOSTILE_GUEST_WASM"));

/// Where compiled components are cached across tests and runs.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// Runtime options for tests: the given deadline, the default memory cap,
/// the shared cache.
pub fn options(call_timeout: Duration) -> RuntimeOptions {
    RuntimeOptions {
        call_timeout,
        cache_dir: Some(cache_dir()),
        ..RuntimeOptions::default()
    }
}

/// One hostile-guest runtime shared by the tests (1 s deadline, 64 MiB).
pub fn hostile_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(HOSTILE_WASM, options(Duration::from_secs(1))).expect("hostile runtime")
    })
}

/// One runtime of the real component shared by the tests.
pub fn plugin_runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        Runtime::new(
            unsubscribe_sync::PLUGIN_WASM,
            options(Duration::from_secs(10)),
        )
        .expect("plugin runtime")
    })
}

/// The default settings of the WIT contract.
pub fn settings() -> api::Settings {
    unsubscribe_sync::config::default_settings()
}

/// An unsubscribe event.
pub fn event(person_id: &str, salesforce_id: Option<&str>) -> api::UnsubscribeEvent {
    api::UnsubscribeEvent {
        person_id: person_id.to_string(),
        salesforce_id: salesforce_id.map(str::to_string),
        email: Some(format!("{person_id}@example.com")),
        source: "link".to_string(),
        occurred_at: Some(1_751_968_800_000),
        received_at: 1_751_968_800_000,
    }
}

/// A temporary directory holding a fresh SQLite store.
pub struct TempStore {
    pub dir: tempfile::TempDir,
    pub storage: Arc<SqliteStorage>,
}

impl TempStore {
    pub fn new() -> TempStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Arc::new(SqliteStorage::open(&dir.path().join("sync.db")).expect("sqlite"));
        TempStore { dir, storage }
    }
}

/// Capabilities over `http`, a fresh SQLite file, a fixed clock and a
/// recording log.
pub struct TestCaps {
    pub caps: Capabilities,
    pub store: TempStore,
    pub clock: Arc<FixedClock>,
    pub log: Arc<MemoryLog>,
}

pub fn caps_with(http: Arc<dyn HttpTransport>) -> TestCaps {
    let store = TempStore::new();
    let clock = Arc::new(FixedClock::new(1_751_968_800_000));
    let log = Arc::new(MemoryLog::new());
    let caps = Capabilities {
        http,
        storage: store.storage.clone(),
        clock: clock.clone(),
        log: log.clone(),
    };
    TestCaps {
        caps,
        store,
        clock,
        log,
    }
}

/// The emulator settings every end-to-end test starts from: the defaults,
/// over HTTPS with a CA made for the run, as Salesforce is only reached
/// over HTTPS.
pub fn emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        tls: true,
        ..EmulatorConfig::default()
    }
}

/// An emulator (HTTPS) with the given records and default credentials.
pub fn emulator(seed: OrgSeed) -> Emulator {
    Emulator::start(emulator_config(), seed).expect("emulator starts")
}

/// The emulator's default connection settings.
pub fn org_config(emu: &Emulator) -> OrgConfig {
    OrgConfig {
        login_url: emu.base_url(),
        instance_url: None,
        api_version: "62.0".into(),
        client_id: "emulator-client".into(),
        client_secret: Secret::new("emulator-secret"),
        refresh_token: Secret::new("emulator-refresh-token"),
        timeout: Duration::from_secs(10),
        max_response_bytes: 32 << 20,
        trusted_ca_pem: emu.ca_pem().map(|pem| pem.as_bytes().to_vec()),
    }
}

/// An [`OrgClient`] connected to the emulator.
pub fn org_client(emu: &Emulator) -> Arc<OrgClient> {
    Arc::new(OrgClient::new(org_config(emu)).expect("org client"))
}
