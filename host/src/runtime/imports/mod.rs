//! The component's imports, one module each (`http`, `storage`, `clock`,
//! `log`), each with the same template: a per-call context, a borrowed view
//! implementing the generated `Host` trait, a `HasData` marker, a small
//! trait through which any store data lends its context (`HttpState`, ...),
//! and an `add_to_linker` generic over that store data (as wasmtime-wasi's
//! `WasiView` is). Side effects sit behind the [`crate::ports`] traits, so
//! tests and benchmarks swap the backends.

pub mod clock;
mod guest_errors;
pub mod http;
pub mod log;
pub mod storage;

use wasmtime::component::Linker;
use wasmtime_wasi::WasiView;

/// Adds WASI (locked down: no files, sockets or environment; the wall clock
/// is ours) and the four imports of the world to a linker whose store data
/// lends every context.
pub fn add_to_linker<T>(linker: &mut Linker<T>) -> wasmtime::Result<()>
where
    T: WasiView + http::HttpState + storage::StorageState + clock::ClockState + log::LogState,
    T: 'static,
{
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
