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

pub mod bindings;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod imports;
pub mod limits;
pub mod policy;
pub mod runtime;
pub mod secrets;
pub mod serve;
mod state;

pub use bindings::api;
pub use cache::CacheUse;
pub use error::HostError;
pub use imports::clock::{Clock, FixedClock, SystemClock};
pub use imports::http::{
    HttpError, HttpRequest, HttpResponse, HttpTransport, Method, StaticResponder,
};
pub use imports::log::{LogLevel, LogSink, MemoryLog, NullLog, TracingLog};
pub use imports::oauth::{OrgClient, OrgConfig, OrgStats};
pub use imports::sqlite::SqliteStorage;
pub use imports::storage::{MemoryStorage, Page, Storage, StorageError, WriteOp};
pub use runtime::{Capabilities, Runtime, RuntimeOptions, RuntimeStats};
pub use secrets::Secret;

/// The unsubscribe-sync component (`plugin/`), built for `wasm32-wasip2` by
/// this crate's build script and embedded in the binary.
pub const PLUGIN_WASM: &[u8] = include_bytes!(env!("UNSUBSCRIBE_SYNC_PLUGIN_WASM"));
