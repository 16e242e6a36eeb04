//! The one integration-test binary of the workspace (wasmtime links once).
//!
//! - `sandbox`: the hostile guest against every bound of the runtime.
//! - `http_client`: the real HTTP client (OAuth refresh, origins, caps) against the emulator.
//! - `cli`, `webhook`, `e2e`, `schedule`: the `unsubscribe-sync` binary end to end.
//! - `scenario`: the emulator scenario every host (Rust, Node, Python) runs.
//! - `postgres`: the PostgreSQL backends (storage, inbox, leases) on a real server.

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod crash;
mod e2e;
mod every_optout_lands;
mod hostile;
mod http_client;
mod json_interface;
mod listener;
mod one_writer;
// PostgreSQL as the shared store: storage, inbox and leases on a real server.
mod postgres;
mod sandbox;
mod scale;
mod scenario;
mod schedule;
mod soak;
mod standard_webhooks;
mod storage;
mod tls;
mod webhook;
// The WIT-defined fixture suite over tests/fixtures/*.json.
mod fixtures;
// WIT values as the fixtures' JSON.
mod wit_json;
