//! The component's imports, one module each (`http`, `storage`, `clock`,
//! `log`), each with the same template: a per-call context, a borrowed view
//! implementing the generated `Host` trait, a `HasData` marker and an
//! `add_to_linker`. Side effects sit behind small traits
//! ([`http::HttpTransport`], [`storage::Storage`], [`clock::Clock`],
//! [`log::LogSink`]) so tests and benchmarks swap the backends.

pub mod clock;
pub mod http;
pub mod log;
pub mod oauth;
pub mod sqlite;
pub mod storage;

use wasmtime::component::Linker;

use crate::state::HostState;

/// Adds WASI (locked down: no files, sockets or environment; the wall clock
/// is ours) and the four imports of the world to the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    // A Rust component built for wasm32-wasip2 imports parts of WASI for its
    // standard library (stdio, environment, exit, random...). They are
    // linked, but the per-call `WasiCtx` grants nothing: no preopened
    // directories, no environment variables, TCP/UDP/name lookup off.
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    http::add_to_linker(linker)?;
    storage::add_to_linker(linker)?;
    clock::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    Ok(())
}
