//! The ports: what the host needs from the world, as small traits and plain
//! values with no wasmtime in them. The runtime's imports consume them; the
//! backends ([`crate::backends`]) and the test doubles here implement them.

pub mod clock;
pub mod http;
pub mod log;
pub mod storage;
