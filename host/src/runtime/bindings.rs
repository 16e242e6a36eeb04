//! The one `bindgen!` of the host: Rust types and traits generated from
//! `wit/` (package `unsubscribe-sync:salesforce@0.2.0`, world
//! `unsubscribe-sync`), shared with the plugin through the same directory.
//!
//! Every import is `trappable` and the two WIT error types (`http-error`,
//! `storage-error`) are mapped to the host's own error types
//! ([`crate::HttpError`], [`crate::StorageError`]); the single place that
//! decides whether a host-side failure becomes the guest-visible WIT error or
//! a trap is [`crate::runtime::error`].
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "unsubscribe-sync",
    imports: { default: trappable },
    trappable_error_type: {
        "unsubscribe-sync:salesforce/http.http-error" => crate::ports::http::HttpError,
        "unsubscribe-sync:salesforce/storage.storage-error" => crate::ports::storage::StorageError,
    },
    additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
});

/// The exported `sync` interface's types (`api::Settings`, `api::PushOutcome`,
/// ...), as the component's callers name them.
pub use self::exports::unsubscribe_sync::salesforce::sync as api;

/// The imported interfaces' generated modules.
pub use self::unsubscribe_sync::salesforce::{
    clock as wit_clock, http as wit_http, log as wit_log, storage as wit_storage,
};
