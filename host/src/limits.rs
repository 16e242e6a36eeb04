//! Every limit the host enforces on the component, in one place.
//!
//! | limit | default | where |
//! |---|---|---|
//! | call deadline (epoch) | 10 s | [`DEFAULT_CALL_TIMEOUT`], `RuntimeOptions::call_timeout`, config `limits.call_timeout_secs` |
//! | guest linear memory | 64 MiB | [`DEFAULT_MEMORY_BYTES`], `RuntimeOptions::memory_limit_bytes`, config `limits.memory_mib` |
//! | one HTTP request (also capped by what is left of the call's deadline) | 30 s | [`DEFAULT_HTTP_TIMEOUT`], config `org.timeout_secs` |
//! | HTTP response body | 32 MiB | [`DEFAULT_MAX_RESPONSE_BYTES`], config `org.max_response_bytes` |
//! | HTTP request body | 32 MiB | [`MAX_REQUEST_BODY_BYTES`] |
//! | request path and query | 16 KiB | [`MAX_PATH_BYTES`] |
//! | request headers | 32 headers, 8 KiB | [`MAX_REQUEST_HEADERS`], [`MAX_REQUEST_HEADER_BYTES`] |
//! | storage key | 2 KiB | [`MAX_KEY_BYTES`] |
//! | storage value | 16 MiB | [`MAX_VALUE_BYTES`] |
//! | one atomic `write` | 100 000 ops, 64 MiB | [`MAX_WRITE_OPS`], [`MAX_WRITE_BYTES`] |
//! | `get-many` keys | 10 000 | [`MAX_GET_MANY_KEYS`] |
//! | `list` page | 1 000 entries | [`MAX_PAGE_ENTRIES`] |
//! | log messages per call | 10 000, 4 KiB each | [`MAX_LOG_MESSAGES_PER_CALL`], [`MAX_LOG_MESSAGE_BYTES`] |
//! | guest stderr kept for a trap message | 4 KiB | [`MAX_GUEST_STDERR_BYTES`] |
//!
//! The deadline covers the whole call, time spent in host calls included:
//! an HTTP request is given at most what is left of it.

use std::time::Duration;

/// Default bound on one call into the component.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default cap on the component's linear memory (all memories together).
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
/// How often the epoch ticker advances the engine's epoch; the deadline is
/// enforced to within one tick.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Default timeout of one HTTP request to the org.
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on an HTTP response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 32 << 20;
/// Cap on an HTTP request body from the component.
pub const MAX_REQUEST_BODY_BYTES: usize = 32 << 20;
/// Cap on a request's path and query string.
pub const MAX_PATH_BYTES: usize = 16 << 10;
/// Cap on the number of request headers from the component.
pub const MAX_REQUEST_HEADERS: usize = 32;
/// Cap on the total size of the request headers from the component.
pub const MAX_REQUEST_HEADER_BYTES: usize = 8 << 10;
/// Cap on a storage key. The component's longest key embeds a person ID,
/// which the WIT contract allows up to 255 characters: 1020 bytes of UTF-8,
/// in a key of up to 1043 bytes (`t/L/<18-character ID>/<person>`). 1 KiB
/// refused valid events with four-byte characters.
pub const MAX_KEY_BYTES: usize = 2 << 10;
/// Cap on a storage value.
pub const MAX_VALUE_BYTES: usize = 16 << 20;
/// Cap on the number of operations in one atomic `write`.
pub const MAX_WRITE_OPS: usize = 100_000;
/// Cap on the bytes (keys and values) of one atomic `write`.
pub const MAX_WRITE_BYTES: usize = 64 << 20;
/// Cap on the keys of one `get-many`.
pub const MAX_GET_MANY_KEYS: usize = 10_000;
/// Cap on the entries of one `list` page.
pub const MAX_PAGE_ENTRIES: usize = 1_000;
/// Log messages kept per call; later ones are counted and dropped.
pub const MAX_LOG_MESSAGES_PER_CALL: u32 = 10_000;
/// A log message longer than this is cut.
pub const MAX_LOG_MESSAGE_BYTES: usize = 4 << 10;
/// Bytes of the component's stderr kept to explain a trap (a Rust panic
/// message lands there).
pub const MAX_GUEST_STDERR_BYTES: usize = 4 << 10;
/// Component instances (and so concurrent calls) the pooling allocator has
/// room for; a call beyond that waits for none: it fails with a clear error.
pub const POOL_INSTANCES: u32 = 64;
/// Bytes of a pool slot's linear memory kept resident between calls and
/// restored in place (where Linux's PAGEMAP_SCAN is available): covers the
/// component's whole memory (about 2 MiB), so a call takes no page fault.
pub const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// Headers must arrive within 10 s: a real sender writes them in one packet;
/// a client that trickles them (slowloris) holds a connection for no more.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection with no traffic for 60 s is dropped: longer than any event
/// takes to send or to answer (the answer waits only for one SQLite write).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// At most 512 connections at once: far above what webhook senders open
/// (a handful each), and well under the default 1024 file descriptors.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Waiting unsubscribes `serve` hands to the component in one `push-many`
/// call: one sObject Collections call takes 200 records, so a burst costs
/// one Salesforce call per 200 events instead of one each.
pub const DEFAULT_BATCH_MAX: usize = 200;
