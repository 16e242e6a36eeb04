//! The bundled wasmtime host of the unsubscribe-sync component.
//!
//! The component (the sync policy, `plugin/`, compiled to `wasm32-wasip2`)
//! is embedded in this crate as [`PLUGIN_WASM`]. A [`Runtime`] compiles it
//! once and runs each call of the exported `sync` interface in a fresh store
//! bounded by a deadline and a memory cap; [`Capabilities`] supply the
//! component's imports: [`OrgClient`] (HTTP to one Salesforce org, OAuth
//! owned by the host), [`SqliteStorage`], a [`Clock`] and a [`LogSink`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use unsubscribe_sync::{api, Capabilities, MemoryStorage, Runtime, RuntimeOptions, StaticResponder};
//!
//! let runtime = Runtime::new(unsubscribe_sync::PLUGIN_WASM, RuntimeOptions::default())?;
//! let caps = Capabilities::new(
//!     Arc::new(StaticResponder::new(204, Vec::new())),
//!     Arc::new(MemoryStorage::new()),
//! );
//! let settings = unsubscribe_sync::config::default_settings();
//! let event = api::UnsubscribeEvent {
//!     person_id: "person-1".into(),
//!     salesforce_id: Some("00Q5e00000AbCdEEAV".into()),
//!     email: None,
//!     source: "link".into(),
//!     occurred_at: Some(1_751_968_800_000),
//!     received_at: 1_751_968_800_000,
//! };
//! match runtime.push(&caps, &settings, &event)? {
//!     Ok(outcome) => println!("{outcome:?}"),
//!     Err(sync_error) => println!("the component refused: {sync_error:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Calls that share a storage must not run concurrently (the component does
//! read-modify-write on its ledger); see [`Runtime`].
#![deny(missing_docs)]
//!
//! # Layers
//!
//! From the bottom up; a module uses only the layers below it (checked by
//! the `layering` test):
//!
//! 1. [`limits`], [`policy`], [`secrets`]: constants, pure checks, the
//!    redacting secret type.
//! 2. [`ports`]: the small traits the host needs from the world (HTTP to the
//!    org, the key-value ledger, a clock, a log sink), no wasmtime in them.
//! 3. [`runtime`] (wasmtime: the bindings, the imports, the per-call store,
//!    the compiled component) and [`backends`] (the org client with OAuth,
//!    the SQLite ledger, the webhook inbox). Each implements or consumes the
//!    ports; neither knows the other.
//! 4. [`app`]: configuration, the context a command runs in, event input,
//!    the description of outcomes.
//! 5. [`serve`], the service; then [`cli`], the command line, which also
//!    starts the service. `serve` never uses `cli`.

pub mod app;
pub mod backends;
pub mod cli;
#[cfg(test)]
mod layering;
pub mod limits;
pub mod policy;
pub mod ports;
pub mod runtime;
pub mod secrets;
pub mod serve;

pub use app::config;
pub use backends::org::{OrgClient, OrgConfig, OrgStats};
pub use backends::sqlite::SqliteStorage;
pub use ports::clock::{Clock, FixedClock, SystemClock};
pub use ports::http::{
    HttpError, HttpRequest, HttpResponse, HttpTransport, Method, StaticResponder,
};
pub use ports::log::{LogLevel, LogSink, MemoryLog, NullLog, TracingLog};
pub use ports::storage::{MemoryStorage, Page, Storage, StorageError, WriteOp};
pub use runtime::bindings::{self, api};
pub use runtime::cache::{self, CacheUse};
pub use runtime::error::HostError;
pub use runtime::{Capabilities, Runtime, RuntimeOptions, RuntimeStats};
pub use secrets::Secret;

/// The unsubscribe-sync component (`plugin/`), built for `wasm32-wasip2` by
/// this crate's build script and embedded in the binary.
pub const PLUGIN_WASM: &[u8] = include_bytes!(env!("UNSUBSCRIBE_SYNC_PLUGIN_WASM"));
