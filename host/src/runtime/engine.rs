//! The wasmtime engine configuration (epoch deadlines, the pooling
//! allocator) and the ticker thread that drives the deadlines.

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::RuntimeOptions;
use crate::limits;

pub(super) fn engine_config(options: &RuntimeOptions, pooling: bool) -> Config {
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
pub(super) fn start_ticker(engine: &Engine) {
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
