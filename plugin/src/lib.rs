//! The unsubscribe-sync policy: a WebAssembly component (`wasm32-wasip2`)
//! implementing the `unsubscribe-sync:salesforce@0.2.0` contract in `wit/`.
//!
//! This file is the bindings layer only: it implements the ports with the WIT
//! imports, converts WIT types (`convert.rs`) and delegates to the policy
//! modules, which never call an import and are unit-tested natively.
//!
//! Host contract: calls that share a storage must not run concurrently (the
//! policy reads, decides and writes its ledger within a call).
//!
//! # Where each rule lives
//!
//! Each rule is decided in one module; the others call it.
//!
//! | Rule | Module |
//! |---|---|
//! | R1 push: record, then write at once | [`push`] (the call), [`intake`] (recording the event), [`writer`] (the PATCH) |
//! | R2 which fields; field by field | [`settings::fields_to_write`] (selected), [`fields`] (writable: describe, cache, refusals) |
//! | R3 a disabled sync writes Email Opt Out only | [`settings::fields_to_write`] |
//! | R4 nightly: read before write, collections or Bulk | [`nightly`] (run and checkpoints), `nightly::decide` (reads), `nightly::collections`, [`nightly::bulk`] |
//! | R5 re-subscribes never written; order by time | [`resubscribe`], [`lifecycle::release`], [`intake::event_time`] and [`intake::apply`] (ordering) |
//! | R6 requirements: settings, fields, IDs | [`settings::validate`] (the only authority), [`check`] (pre-flight), [`sfid`] (IDs) |
//! | R7 Leads and Contacts alike | [`model::SObject`], [`sfid`] |
//! | converted and merged records followed | [`follow`] |
//! | a person's record after a write (confirmed, queued, failed, redirected, owed) | [`lifecycle`] |
//! | a failed request as a `sync-error` | [`salesforce::api::RequestError::classify`], [`salesforce::errors`] |
//! | retries and backoff | [`ledger::queue_retry`], [`writer::backoff_ms`] |
//! | the nightly's API budget and reserve | [`salesforce::api::CallBudget`] |
//! | the nightly's schedule | [`schedule`] |
//! | the storage layout | [`ledger`] |
//!
//! The Salesforce behaviour the modules rely on is described in
//! `plugin/SALESFORCE.md`; a `§N.M` in a comment is a section of that file.

#![deny(missing_docs)]

#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "unsubscribe-sync",
        generate_all,
    });
}

// The arena's unsafe code is confined to its module: a `GlobalAlloc` cannot be
// written without it.
#[allow(unsafe_code)]
pub mod call_arena;
/// The component's allocator (see [`call_arena`]).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: call_arena::CallArena<{ call_arena::ARENA_BYTES }> = call_arena::CallArena::new();

pub mod check;
mod convert;
pub mod fields;
pub mod follow;
pub mod import;
pub mod intake;
pub mod ledger;
pub mod lifecycle;
pub mod model;
pub mod nightly;
pub mod ports;
pub mod push;
pub mod push_batch;
pub mod resubscribe;
pub mod salesforce;
pub mod schedule;
pub mod settings;
pub mod sfid;
pub mod status;
pub mod writer;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_batch;

use bindings::exports::unsubscribe_sync::salesforce::sync as wit;
use bindings::unsubscribe_sync::salesforce::{clock, http, log, storage};
use ports::{
    HttpFailure, HttpRequest, HttpResponse, Level, Method, Page, Ports, StoreError, WriteOp,
};

/// The ports backed by the host's imports.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Imports;

impl ports::Http for Imports {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpFailure> {
        let method = match request.method {
            Method::Get => http::Method::Get,
            Method::Post => http::Method::Post,
            Method::Put => http::Method::Put,
            Method::Patch => http::Method::Patch,
            Method::Delete => http::Method::Delete,
        };
        http::send(&http::Request {
            method,
            path: request.path,
            headers: request.headers,
            body: request.body,
        })
        .map(|r| HttpResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
        .map_err(|e| match e {
            http::HttpError::Denied(m) => HttpFailure::Denied(m),
            http::HttpError::AuthFailed(m) => HttpFailure::AuthFailed(m),
            http::HttpError::Timeout => HttpFailure::Timeout,
            http::HttpError::Transport(m) => HttpFailure::Transport(m),
            http::HttpError::ResponseTooLarge(n) => HttpFailure::ResponseTooLarge(n),
        })
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn store_error(e: storage::StorageError) -> StoreError {
    match e {
        storage::StorageError::Unavailable(m) => StoreError::Unavailable(m),
        storage::StorageError::Corrupt(m) => StoreError::Corrupt(m),
        storage::StorageError::TooLarge(m) => StoreError::TooLarge(m),
    }
}

impl ports::Store for Imports {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        // The contract reads single keys with `get-many` (0.2.0 has no `get`).
        let mut values = storage::get_many(&[key.to_string()]).map_err(store_error)?;
        Ok(values.pop().flatten())
    }
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        storage::get_many(keys).map_err(store_error)
    }
    fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        if ops.is_empty() {
            return Ok(());
        }
        let ops: Vec<storage::WriteOp> = ops
            .into_iter()
            .map(|op| match op {
                WriteOp::Set(k, v) => storage::WriteOp::Set((k, v)),
                WriteOp::Delete(k) => storage::WriteOp::Delete(k),
            })
            .collect();
        storage::write(&ops).map_err(store_error)
    }
    fn list(&self, prefix: &str, after: Option<&str>, limit: u32) -> Result<Page, StoreError> {
        storage::list(prefix, after, limit)
            .map(|p| Page {
                entries: p.entries,
                next: p.next,
            })
            .map_err(store_error)
    }
    fn count(&self, prefix: &str) -> Result<u64, StoreError> {
        storage::count(prefix).map_err(store_error)
    }
}

impl ports::Clock for Imports {
    fn now(&self) -> model::Timestamp {
        clock::now()
    }
}

impl ports::Log for Imports {
    fn write(&self, level: Level, message: &str) {
        let level = match level {
            Level::Debug => log::Level::Debug,
            Level::Info => log::Level::Info,
            Level::Warn => log::Level::Warn,
            Level::Error => log::Level::Error,
        };
        log::write(level, message);
    }
}

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
static IMPORTS: Imports = Imports;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn ports() -> Ports<'static> {
    Ports {
        http: &IMPORTS,
        store: &IMPORTS,
        clock: &IMPORTS,
        log: &IMPORTS,
    }
}

/// The component.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl wit::Guest for Component {
    fn validate_settings(s: wit::Settings) -> Result<(), wit::SyncError> {
        settings::validate(&convert::settings(s)).map_err(convert::error)
    }

    fn push(
        s: wit::Settings,
        e: wit::UnsubscribeEvent,
    ) -> Result<wit::PushOutcome, wit::SyncError> {
        push::push(&convert::settings(s), &convert::unsubscribe(e), ports())
            .map(convert::push_outcome)
            .map_err(convert::error)
    }

    fn push_many(
        s: wit::Settings,
        events: Vec<wit::UnsubscribeEvent>,
    ) -> Result<Vec<Result<wit::PushOutcome, wit::SyncError>>, wit::SyncError> {
        let events: Vec<_> = events.into_iter().map(convert::unsubscribe).collect();
        push_batch::push_many(&convert::settings(s), &events, ports())
            .map(|answers| {
                answers
                    .into_iter()
                    .map(|a| a.map(convert::push_outcome).map_err(convert::error))
                    .collect()
            })
            .map_err(convert::error)
    }

    fn resubscribe(
        _s: wit::Settings,
        e: wit::ResubscribeEvent,
    ) -> Result<wit::ResubscribeOutcome, wit::SyncError> {
        resubscribe::resubscribe(&convert::resubscribe(e), ports())
            .map(convert::resubscribe_outcome)
            .map_err(convert::error)
    }

    fn import(
        _s: wit::Settings,
        events: Vec<wit::UnsubscribeEvent>,
    ) -> Result<wit::ImportSummary, wit::SyncError> {
        let events: Vec<_> = events.into_iter().map(convert::unsubscribe).collect();
        import::import(&events, ports())
            .map(convert::import_summary)
            .map_err(convert::error)
    }

    fn nightly(
        s: wit::Settings,
        o: wit::NightlyOptions,
    ) -> Result<wit::NightlyOutcome, wit::SyncError> {
        let options = model::NightlyOptions { dry_run: o.dry_run };
        nightly::nightly(&convert::settings(s), options, ports())
            .map(convert::nightly_outcome)
            .map_err(convert::error)
    }

    fn report_items(
        run_id: String,
        after: Option<String>,
        limit: u32,
    ) -> Result<wit::ReportPage, wit::SyncError> {
        status::report_items(&run_id, after.as_deref(), limit, ports())
            .map(convert::report_page)
            .map_err(convert::error)
    }

    fn next_nightly(
        s: wit::Schedule,
        after: wit::Timestamp,
    ) -> Result<wit::Timestamp, wit::SyncError> {
        schedule::next_nightly(&convert::schedule(s), after).map_err(convert::error)
    }

    fn check(s: wit::Settings) -> Result<wit::CheckReport, wit::SyncError> {
        check::check(&convert::settings(s), ports())
            .map(convert::check_report)
            .map_err(convert::error)
    }

    fn status(s: wit::Settings) -> Result<wit::StatusReport, wit::SyncError> {
        status::status(&convert::settings(s), ports())
            .map(convert::status_report)
            .map_err(convert::error)
    }

    fn audit(person_id: String) -> Result<Option<wit::AuditTrail>, wit::SyncError> {
        status::audit(&person_id, ports())
            .map(|t| t.map(convert::audit_trail))
            .map_err(convert::error)
    }

    fn drain_retries(s: wit::Settings, max: u32) -> Result<wit::DrainSummary, wit::SyncError> {
        push::drain_retries(&convert::settings(s), max, ports())
            .map(convert::drain_summary)
            .map_err(convert::error)
    }
}

// Exported only when built as the component: the export names contain `:`
// and `@`, which a native shared library cannot carry.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::{Component, bindings};
    bindings::export!(Component with_types_in bindings);
}
