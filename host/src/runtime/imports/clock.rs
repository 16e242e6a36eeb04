//! The `clock` import, and the same clock installed as the guest's WASI wall
//! clock, so the component cannot read a different "now" through
//! `std::time::SystemTime`.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;

use crate::ports::clock::Clock;
use crate::runtime::bindings::wit_clock;

/// A store's data that can lend the `clock` import its clock.
pub trait ClockState {
    /// The clock of this call.
    fn clock(&mut self) -> &dyn Clock;
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

/// Adds the `clock` import to a linker whose store data lends a clock.
pub fn add_to_linker<T: ClockState + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit_clock::add_to_linker::<T, ClockData>(linker, |s| ClockView(s.clock()))
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
