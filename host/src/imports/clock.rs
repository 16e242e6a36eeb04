//! The `clock` import, and the same clock installed as the guest's WASI wall
//! clock, so the component cannot read a different "now" through
//! `std::time::SystemTime`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::bindings::wit_clock;

/// A wall clock: milliseconds since the Unix epoch, UTC.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;
}

/// The system's UTC clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        }
    }
}

/// A clock that stands still until told otherwise: for tests.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        FixedClock(AtomicI64::new(now_ms))
    }
    /// Sets the time.
    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    /// Moves the time forward (or back, with a negative amount).
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The borrowed view that implements the generated `Host` trait.
pub(crate) struct ClockView<'a>(pub &'a dyn Clock);

/// `HasData` marker for [`ClockView`].
pub(crate) struct ClockData;
impl wasmtime::component::HasData for ClockData {
    type Data<'a> = ClockView<'a>;
}

impl wit_clock::Host for ClockView<'_> {
    fn now(&mut self) -> wasmtime::Result<i64> {
        Ok(self.0.now_ms())
    }
}

/// Adds the `clock` import to the linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::state::HostState>,
) -> wasmtime::Result<()> {
    wit_clock::add_to_linker::<_, ClockData>(linker, |s| ClockView(&*s.clock))
}

/// Adapts a [`Clock`] to WASI's wall clock (`wasi:clocks/wall-clock`).
pub(crate) struct WasiWallClock(pub Arc<dyn Clock>);

impl wasmtime_wasi::HostWallClock for WasiWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn now(&self) -> Duration {
        // Before 1970 cannot be expressed as a Duration; clamp to the epoch.
        Duration::from_millis(self.0.now_ms().max(0) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::new(1_000);
        assert_eq!(c.now_ms(), 1_000);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set(7);
        assert_eq!(c.now_ms(), 7);
    }

    #[test]
    fn system_clock_is_after_2024() {
        assert!(SystemClock.now_ms() > 1_704_067_200_000);
    }
}
