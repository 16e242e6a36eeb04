//! The per-call store data: one context per import, the WASI context (locked
//! down) and the memory limiter. Built fresh for every call.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::imports::clock::ClockState;
use super::imports::http::{HttpCtx, HttpState};
use super::imports::log::{LogCtx, LogState};
use super::imports::storage::{StorageCtx, StorageState};
use crate::ports::clock::Clock;

/// Everything a call's `Store` holds.
pub(crate) struct HostState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub http: HttpCtx,
    pub storage: StorageCtx,
    pub clock: Arc<dyn Clock>,
    pub log: LogCtx,
    pub limiter: MemoryLimiter,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl HttpState for HostState {
    fn http(&mut self) -> &mut HttpCtx {
        &mut self.http
    }
}

impl StorageState for HostState {
    fn storage(&mut self) -> &mut StorageCtx {
        &mut self.storage
    }
}

impl ClockState for HostState {
    fn clock(&mut self) -> &dyn Clock {
        &*self.clock
    }
}

impl LogState for HostState {
    fn log(&mut self) -> &mut LogCtx {
        &mut self.log
    }
}

/// Caps the component's linear memory (all its memories together) and
/// remembers whether the cap was hit (to name it in the error) and the peak.
pub(crate) struct MemoryLimiter {
    pub limit: usize,
    pub current: usize,
    pub peak: usize,
    pub cap_hit: bool,
}

impl MemoryLimiter {
    pub fn new(limit: usize) -> Self {
        MemoryLimiter {
            limit,
            current: 0,
            peak: 0,
            cap_hit: false,
        }
    }
}

/// Table elements one call may have: far above what a compiled Rust
/// component needs, far below what would hurt the host.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.current - current.min(self.current) + desired;
        if total > self.limit {
            // Refuse the growth: `memory.grow` returns -1 and the guest's
            // allocator aborts, which ends the call with a trap we then
            // report as the memory cap.
            self.cap_hit = true;
            return Ok(false);
        }
        self.current = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // A compiled Rust component has a handful of core instances.
        64
    }

    fn tables(&self) -> usize {
        64
    }

    fn memories(&self) -> usize {
        8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_caps_all_memories_together_and_tracks_the_peak() {
        let mut l = MemoryLimiter::new(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        assert_eq!(l.current, 90);
        assert!(!l.memory_growing(30, 50, None).unwrap());
        assert!(l.cap_hit);
        assert!(l.memory_growing(60, 70, None).unwrap());
        assert_eq!(l.peak, 100);
    }
}
