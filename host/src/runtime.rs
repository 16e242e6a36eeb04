//! The runtime: one engine, one linker and one `InstancePre`, built once; a
//! fresh `Store` per call, bounded by an epoch deadline and a memory cap.
//!
//! [`Runtime`] is `Send + Sync` and can be shared by threads. Calls that share
//! a storage must not run concurrently (the component does read-modify-write
//! on its ledger): callers serialize them (the CLI runs one call at a time;
//! `serve` holds one lock around every component call).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{
    ComponentExportIndex, ComponentNamedList, Instance, Lift, Linker, Lower, ResourceTable, Val,
};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::WasiCtx;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::bindings::{UnsubscribeSyncPre, api};
use crate::cache::{self, CacheUse};
use crate::error::{self, Failure, HostError};
use crate::imports::clock::{Clock, SystemClock, WasiWallClock};
use crate::imports::http::{HttpCtx, HttpTransport};
use crate::imports::log::{LogCtx, LogSink, TracingLog};
use crate::imports::storage::{Storage, StorageCtx};
use crate::limits;
use crate::state::{HostState, MemoryLimiter};

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

/// The `sync` exports, looked up once: a call then type-checks only the
/// function it calls, not all eleven (as the generated `instantiate` does).
struct Exports {
    validate_settings: ComponentExportIndex,
    push: ComponentExportIndex,
    push_many: ComponentExportIndex,
    resubscribe: ComponentExportIndex,
    import: ComponentExportIndex,
    nightly: ComponentExportIndex,
    report_items: ComponentExportIndex,
    next_nightly: ComponentExportIndex,
    check: ComponentExportIndex,
    status: ComponentExportIndex,
    audit: ComponentExportIndex,
    drain_retries: ComponentExportIndex,
}

/// The exported interface's name.
const SYNC_INTERFACE: &str = "unsubscribe-sync:salesforce/sync@0.2.0";

impl Exports {
    fn resolve(component: &wasmtime::component::Component) -> Result<Exports, HostError> {
        let sync = component
            .get_export_index(None, SYNC_INTERFACE)
            .ok_or_else(|| {
                HostError::Incompatible(format!("the component does not export {SYNC_INTERFACE}"))
            })?;
        let f = |name: &str| {
            component
                .get_export_index(Some(&sync), name)
                .ok_or_else(|| {
                    HostError::Incompatible(format!(
                        "the component's {SYNC_INTERFACE} has no function `{name}`"
                    ))
                })
        };
        Ok(Exports {
            validate_settings: f("validate-settings")?,
            push: f("push")?,
            push_many: f("push-many")?,
            resubscribe: f("resubscribe")?,
            import: f("import")?,
            nightly: f("nightly")?,
            report_items: f("report-items")?,
            next_nightly: f("next-nightly")?,
            check: f("check")?,
            status: f("status")?,
            audit: f("audit")?,
            drain_retries: f("drain-retries")?,
        })
    }
}

impl Exports {
    /// The export's WIT name as a `'static` (error values carry it) and its
    /// index, for a call by name.
    fn named(&self, name: &str) -> Option<(&'static str, &ComponentExportIndex)> {
        Some(match name {
            "validate-settings" => ("validate-settings", &self.validate_settings),
            "push" => ("push", &self.push),
            "push-many" => ("push-many", &self.push_many),
            "resubscribe" => ("resubscribe", &self.resubscribe),
            "import" => ("import", &self.import),
            "nightly" => ("nightly", &self.nightly),
            "report-items" => ("report-items", &self.report_items),
            "next-nightly" => ("next-nightly", &self.next_nightly),
            "check" => ("check", &self.check),
            "status" => ("status", &self.status),
            "audit" => ("audit", &self.audit),
            "drain-retries" => ("drain-retries", &self.drain_retries),
            _ => return None,
        })
    }
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

fn engine_config(options: &RuntimeOptions, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    // Deadlines: the ticker thread advances the epoch; each store traps when
    // its deadline epoch passes. Cheaper than fuel, and wall-clock based, so
    // it also bounds time spent in host calls (checked on return to wasm).
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if pooling {
        // The pooling allocator reserves instance slots once, so a call's
        // instantiation is a few memory-mapping operations rather than fresh
        // allocations: the bulk of the per-call saving measured by `bench`.
        let page = 64 << 10;
        let max_memory = options.memory_limit_bytes.div_ceil(page) * page;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits::POOL_INSTANCES)
            .total_core_instances(limits::POOL_INSTANCES * 8)
            .total_memories(limits::POOL_INSTANCES * 2)
            .total_tables(limits::POOL_INSTANCES * 8)
            .max_memory_size(max_memory.max(page));
        if pagemap_scan_available() {
            // Between calls a slot's memory is not handed back to the kernel
            // (which would cost a page fault for every page the next call
            // touches): the pages the call wrote are found with the
            // PAGEMAP_SCAN ioctl and restored in place, up to this many bytes.
            // Without the ioctl this would mean a memset of the whole range
            // per call, slower than the page faults, so it is off then.
            pool.pagemap_scan(wasmtime::Enabled::Yes)
                .linear_memory_keep_resident(limits::KEEP_RESIDENT_BYTES.min(max_memory))
                .table_keep_resident(64 << 10);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// Linux's PAGEMAP_SCAN ioctl exists from kernel 6.7 on.
fn pagemap_scan_available() -> bool {
    if !cfg!(target_os = "linux") {
        return false;
    }
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release.trim().split(['.', '-']);
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    (major, minor) >= (6, 7)
}

/// Advances the engine's epoch every tick until the engine is dropped (the
/// thread holds only a weak reference).
fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("unsubscribe-sync-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(limits::EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        })
        .expect("spawning the epoch ticker thread");
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
        crate::imports::add_to_linker(&mut linker)
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

/// The export calls, one method each. The outer `Result` is the host's
/// (a trap, the deadline, the memory cap); the inner one is the component's
/// answer, as the WIT declares it.
impl Runtime {
    /// `validate-settings`.
    pub fn validate_settings(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<(), api::SyncError>, HostError> {
        self.invoke(
            caps,
            "validate-settings",
            &self.exports.validate_settings,
            (s,),
        )
    }

    /// `push`.
    pub fn push(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        e: &api::UnsubscribeEvent,
    ) -> Result<Result<api::PushOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "push", &self.exports.push, (s, e))
    }

    /// `push-many`: one answer per event, in order.
    pub fn push_many(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        events: &[api::UnsubscribeEvent],
    ) -> Result<Result<Vec<Result<api::PushOutcome, api::SyncError>>, api::SyncError>, HostError>
    {
        self.invoke(caps, "push-many", &self.exports.push_many, (s, events))
    }

    /// `resubscribe`.
    pub fn resubscribe(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        e: &api::ResubscribeEvent,
    ) -> Result<Result<api::ResubscribeOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "resubscribe", &self.exports.resubscribe, (s, e))
    }

    /// `import`.
    pub fn import(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        events: &[api::UnsubscribeEvent],
    ) -> Result<Result<api::ImportSummary, api::SyncError>, HostError> {
        self.invoke(caps, "import", &self.exports.import, (s, events))
    }

    /// `nightly` (one bounded step; call again while `in-progress`).
    pub fn nightly(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        o: &api::NightlyOptions,
    ) -> Result<Result<api::NightlyOutcome, api::SyncError>, HostError> {
        self.invoke(caps, "nightly", &self.exports.nightly, (s, *o))
    }

    /// `report-items`.
    pub fn report_items(
        &self,
        caps: &Capabilities,
        run_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Result<api::ReportPage, api::SyncError>, HostError> {
        self.invoke(
            caps,
            "report-items",
            &self.exports.report_items,
            (run_id, after, limit),
        )
    }

    /// `next-nightly`.
    pub fn next_nightly(
        &self,
        caps: &Capabilities,
        schedule: &api::Schedule,
        after: api::Timestamp,
    ) -> Result<Result<api::Timestamp, api::SyncError>, HostError> {
        self.invoke(
            caps,
            "next-nightly",
            &self.exports.next_nightly,
            (schedule, after),
        )
    }

    /// `check`.
    pub fn check(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<api::CheckReport, api::SyncError>, HostError> {
        self.invoke(caps, "check", &self.exports.check, (s,))
    }

    /// `status`.
    pub fn status(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
    ) -> Result<Result<api::StatusReport, api::SyncError>, HostError> {
        self.invoke(caps, "status", &self.exports.status, (s,))
    }

    /// `audit`.
    pub fn audit(
        &self,
        caps: &Capabilities,
        person_id: &str,
    ) -> Result<Result<Option<api::AuditTrail>, api::SyncError>, HostError> {
        self.invoke(caps, "audit", &self.exports.audit, (person_id,))
    }

    /// `drain-retries`.
    pub fn drain_retries(
        &self,
        caps: &Capabilities,
        s: &api::Settings,
        max: u32,
    ) -> Result<Result<api::DrainSummary, api::SyncError>, HostError> {
        self.invoke(caps, "drain-retries", &self.exports.drain_retries, (s, max))
    }
}

/// Dynamically typed calls, for callers that handle the WIT's values
/// generically from the export's type (the fixture suite reads them from
/// JSON) instead of through the generated Rust types. Same store, limits and
/// error classification as the typed calls above.
impl Runtime {
    /// The type of the `sync` export named `name` (its WIT name, such as
    /// `push` or `drain-retries`); none when there is no such function.
    pub fn export_type(&self, name: &str) -> Option<ComponentFunc> {
        self.exports.named(name)?;
        let component = self.pre.instance_pre().component().component_type();
        let ComponentItem::ComponentInstance(sync) =
            component.get_export(&self.engine, SYNC_INTERFACE)?.ty
        else {
            return None;
        };
        match sync.get_export(&self.engine, name)?.ty {
            ComponentItem::ComponentFunc(func) => Some(func),
            _ => None,
        }
    }

    /// Calls the `sync` export named `name` with `args`, which must match its
    /// [`export_type`](Self::export_type); returns its results.
    pub fn call_dynamic(
        &self,
        caps: &Capabilities,
        name: &str,
        args: &[Val],
    ) -> Result<Vec<Val>, HostError> {
        let (export, index) = self.exports.named(name).ok_or_else(|| {
            HostError::Incompatible(format!("{SYNC_INTERFACE} has no function `{name}`"))
        })?;
        self.call(caps, export, |instance, store| {
            let func = instance
                .get_func(&mut *store, index)
                .ok_or_else(|| wasmtime::format_err!("`{export}` is not a function"))?;
            let mut results = vec![Val::Bool(false); func.ty(&*store).results().len()];
            func.call(&mut *store, args, &mut results)?;
            Ok(results)
        })
    }
}
