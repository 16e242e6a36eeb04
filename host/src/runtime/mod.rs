//! The runtime: one engine, one linker and one `InstancePre`, built once; a
//! fresh `Store` per call, bounded by an epoch deadline and a memory cap.
//!
//! [`Runtime`] is `Send + Sync` and can be shared by threads. Calls that share
//! a storage must not run concurrently (the component does read-modify-write
//! on its ledger): callers serialize them (the CLI runs one call at a time;
//! `serve` holds one lock around every component call).

pub mod bindings;
pub mod cache;
mod calls;
mod dynamic;
mod engine;
pub mod error;
mod exports;
pub mod imports;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, Lift, Linker, Lower, ResourceTable,
};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use self::bindings::{UnsubscribeSyncPre, api};
use self::cache::CacheUse;
use self::engine::{engine_config, start_ticker};
use self::error::{Failure, HostError};
use self::exports::Exports;
use self::imports::clock::WasiWallClock;
use self::imports::http::HttpCtx;
use self::imports::log::LogCtx;
use self::imports::storage::StorageCtx;
use self::state::{HostState, MemoryLimiter};
use crate::limits;
use crate::ports::clock::{Clock, SystemClock};
use crate::ports::http::HttpTransport;
use crate::ports::log::{LogSink, TracingLog};
use crate::ports::storage::Storage;

/// How the runtime is built. `Default` gives the documented defaults.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Deadline of one call, host calls included (default 10 s).
    pub call_timeout: Duration,
    /// Cap on the component's linear memory (default 64 MiB).
    pub memory_limit_bytes: usize,
    /// Where the precompiled component is cached; `None` compiles in memory.
    pub cache_dir: Option<PathBuf>,
    /// Use the pooling instance allocator (default true; the runtime falls
    /// back to on-demand allocation where the pool cannot be reserved).
    pub pooling: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            call_timeout: limits::DEFAULT_CALL_TIMEOUT,
            memory_limit_bytes: limits::DEFAULT_MEMORY_BYTES,
            cache_dir: None,
            pooling: true,
        }
    }
}

/// The capabilities one call runs with: the backends behind the imports.
#[derive(Clone)]
pub struct Capabilities {
    /// Requests to the org.
    pub http: Arc<dyn HttpTransport>,
    /// The component's durable key-value store.
    pub storage: Arc<dyn Storage>,
    /// The wall clock (also the guest's WASI wall clock).
    pub clock: Arc<dyn Clock>,
    /// Where the component's log messages go.
    pub log: Arc<dyn LogSink>,
}

impl Capabilities {
    /// Capabilities with the system clock and `tracing` logging.
    pub fn new(http: Arc<dyn HttpTransport>, storage: Arc<dyn Storage>) -> Self {
        Capabilities {
            http,
            storage,
            clock: Arc::new(SystemClock),
            log: Arc::new(TracingLog),
        }
    }
}

/// Counters of the runtime's calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeStats {
    /// Calls made.
    pub calls: u64,
    /// Calls that ended in a trap, a deadline or the memory cap.
    pub traps: u64,
    /// Of those, calls stopped by the deadline.
    pub deadline_hits: u64,
    /// Of those, calls stopped by the memory cap.
    pub memory_cap_hits: u64,
    /// The largest linear memory (all memories of one instance) seen in a call.
    pub peak_guest_memory_bytes: usize,
    /// HTTP requests the component made through this runtime.
    pub http_requests: u64,
    /// The pooling allocator is in use.
    pub pooling: bool,
    /// What the precompile cache did.
    pub cache: Option<CacheUse>,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    traps: AtomicU64,
    deadline_hits: AtomicU64,
    memory_cap_hits: AtomicU64,
    peak_memory: AtomicUsize,
    http_requests: AtomicU64,
}

/// The component, compiled once, ready to be instantiated for every call.
pub struct Runtime {
    engine: Engine,
    pre: UnsubscribeSyncPre<HostState>,
    exports: Exports,
    options: RuntimeOptions,
    deadline_ticks: u64,
    pooling: bool,
    cache_use: CacheUse,
    counters: Counters,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("options", &self.options)
            .field("pooling", &self.pooling)
            .field("cache", &self.cache_use)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Compiles (or loads from the cache) the component and prepares its
    /// instantiation. Fails if the component does not fit the world.
    pub fn new(wasm: &[u8], options: RuntimeOptions) -> Result<Runtime, HostError> {
        let (engine, pooling) = if options.pooling {
            match Engine::new(&engine_config(&options, true)) {
                Ok(e) => (e, true),
                Err(e) => {
                    tracing::warn!(error = %e, "the pooling allocator is not available here; using on-demand allocation");
                    (Self::plain_engine(&options)?, false)
                }
            }
        } else {
            (Self::plain_engine(&options)?, false)
        };
        let mut linker = Linker::<HostState>::new(&engine);
        imports::add_to_linker(&mut linker)
            .map_err(|e| HostError::Load(format!("linking the imports: {e}")))?;
        let (component, cache_use) = cache::load(&engine, wasm, options.cache_dir.as_deref())?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| HostError::Incompatible(first_line(&e)))?;
        let pre = UnsubscribeSyncPre::new(instance_pre)
            .map_err(|e| HostError::Incompatible(first_line(&e)))?;
        let exports = Exports::resolve(pre.instance_pre().component())?;
        start_ticker(&engine);
        let tick = limits::EPOCH_TICK.as_nanos().max(1);
        // One tick more than the timeout: the deadline is never shorter than asked.
        let deadline_ticks = (options.call_timeout.as_nanos().div_ceil(tick) as u64).max(1) + 1;
        let runtime = Runtime {
            engine,
            pre,
            exports,
            options,
            deadline_ticks,
            pooling,
            cache_use,
            counters: Counters::default(),
        };
        runtime.typecheck_exports()?;
        Ok(runtime)
    }

    /// Instantiates the component once and type-checks every export against
    /// the world (what the generated bindings do on each instantiation), so a
    /// component of another shape is refused here rather than at a call.
    fn typecheck_exports(&self) -> Result<(), HostError> {
        let probe = Capabilities {
            http: Arc::new(crate::StaticResponder::new(503, Vec::new())),
            storage: Arc::new(crate::MemoryStorage::new()),
            clock: Arc::new(SystemClock),
            log: Arc::new(crate::NullLog),
        };
        let (mut store, _stderr) = self.new_store(&probe);
        let instance = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .map_err(|e| HostError::Instantiate {
                export: "(load)",
                message: first_line(&e),
            })?;
        crate::bindings::UnsubscribeSyncIndices::new(self.pre.instance_pre())
            .and_then(|indices| indices.load(&mut store, &instance))
            .map(|_| ())
            .map_err(|e| HostError::Incompatible(first_line(&e)))
    }

    fn plain_engine(options: &RuntimeOptions) -> Result<Engine, HostError> {
        Engine::new(&engine_config(options, false))
            .map_err(|e| HostError::Load(format!("creating the engine: {e}")))
    }

    /// The options the runtime was built with.
    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// The engine (for embedders that precompile or inspect).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Counters of the calls so far.
    pub fn stats(&self) -> RuntimeStats {
        RuntimeStats {
            calls: self.counters.calls.load(Ordering::Relaxed),
            traps: self.counters.traps.load(Ordering::Relaxed),
            deadline_hits: self.counters.deadline_hits.load(Ordering::Relaxed),
            memory_cap_hits: self.counters.memory_cap_hits.load(Ordering::Relaxed),
            peak_guest_memory_bytes: self.counters.peak_memory.load(Ordering::Relaxed),
            http_requests: self.counters.http_requests.load(Ordering::Relaxed),
            pooling: self.pooling,
            cache: Some(self.cache_use),
        }
    }

    /// A fresh store for one call: the capabilities, a locked-down WASI
    /// context, the memory limiter and the epoch deadline.
    fn new_store(&self, caps: &Capabilities) -> (Store<HostState>, MemoryOutputPipe) {
        let stderr = MemoryOutputPipe::new(limits::MAX_GUEST_STDERR_BYTES);
        let wasi = WasiCtx::builder()
            .wall_clock(WasiWallClock(caps.clock.clone()))
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            table: ResourceTable::new(),
            http: HttpCtx {
                transport: caps.http.clone(),
                deadline: Instant::now() + self.options.call_timeout,
                max_response_bytes: limits::DEFAULT_MAX_RESPONSE_BYTES,
                requests: 0,
            },
            storage: StorageCtx {
                backend: caps.storage.clone(),
            },
            clock: caps.clock.clone(),
            log: LogCtx {
                sink: caps.log.clone(),
                written: 0,
                dropped: 0,
            },
            limiter: MemoryLimiter::new(self.options.memory_limit_bytes),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        // With epochs on, a store without a deadline would trap at once.
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();
        (store, stderr)
    }

    /// Calls one export (`index`) in a fresh store with the call's limits.
    fn invoke<P, T>(
        &self,
        caps: &Capabilities,
        export: &'static str,
        index: &ComponentExportIndex,
        params: P,
    ) -> Result<Result<T, api::SyncError>, HostError>
    where
        P: ComponentNamedList + Lower,
        (Result<T, api::SyncError>,): ComponentNamedList + Lift,
    {
        self.call(caps, export, |instance, store| {
            let func =
                instance.get_typed_func::<P, (Result<T, api::SyncError>,)>(&mut *store, index)?;
            Ok(func.call(&mut *store, params)?.0)
        })
    }

    /// Runs `f` against a fresh instance in a fresh store.
    fn call<R>(
        &self,
        caps: &Capabilities,
        export: &'static str,
        f: impl FnOnce(&Instance, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        let (mut store, stderr) = self.new_store(caps);
        let instance = match self.pre.instance_pre().instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                self.note_end(&store);
                if store.data().limiter.cap_hit {
                    let err = HostError::MemoryCap {
                        export,
                        limit_bytes: self.options.memory_limit_bytes,
                    };
                    self.count_failure(&err);
                    return Err(err);
                }
                return Err(HostError::Instantiate {
                    export,
                    message: first_line(&e),
                });
            }
        };
        let result = f(&instance, &mut store);
        self.note_end(&store);
        let dropped = store.data().log.dropped;
        if dropped > 0 {
            tracing::warn!(
                export,
                dropped,
                "the component's log messages over the per-call cap were dropped"
            );
        }
        result.map_err(|e| {
            let err = error::classify(
                e,
                Failure {
                    export,
                    timeout: self.options.call_timeout,
                    memory_cap_hit: store.data().limiter.cap_hit,
                    memory_limit: self.options.memory_limit_bytes,
                    stderr: &stderr.contents(),
                },
            );
            self.count_failure(&err);
            tracing::error!(export, error = %err, "component call failed");
            err
        })
    }

    fn note_end(&self, store: &Store<HostState>) {
        let data = store.data();
        self.counters
            .peak_memory
            .fetch_max(data.limiter.peak, Ordering::Relaxed);
        self.counters
            .http_requests
            .fetch_add(u64::from(data.http.requests), Ordering::Relaxed);
    }

    fn count_failure(&self, err: &HostError) {
        self.counters.traps.fetch_add(1, Ordering::Relaxed);
        match err {
            HostError::Deadline { .. } => {
                self.counters.deadline_hits.fetch_add(1, Ordering::Relaxed)
            }
            HostError::MemoryCap { .. } => self
                .counters
                .memory_cap_hits
                .fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
    }
}

fn first_line(e: &wasmtime::Error) -> String {
    // `{:#}` would add the wasm backtrace; the first line says what happened.
    format!("{e}")
        .lines()
        .next()
        .unwrap_or("unknown error")
        .to_string()
}
