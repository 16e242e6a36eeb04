//! Counting and logging API calls by kind.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// What kind of API call a request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// `POST /services/oauth2/token`.
    Token,
    /// `GET /services/data/`.
    Versions,
    /// `GET /sobjects/{type}/{id}`.
    SobjectGet,
    /// `PATCH /sobjects/{type}/{id}`.
    SobjectPatch,
    /// `PATCH /composite/sobjects`.
    Collections,
    /// `GET /query` or `/queryAll`.
    Query,
    /// `GET /query/{locator}`.
    QueryMore,
    /// `GET /sobjects/{type}/describe`.
    Describe,
    /// `GET /limits`.
    Limits,
    /// `POST /jobs/ingest`.
    BulkIngestCreate,
    /// `PUT /jobs/ingest/{id}/batches`.
    BulkIngestUpload,
    /// `PATCH /jobs/ingest/{id}` (UploadComplete or Aborted).
    BulkIngestClose,
    /// `GET /jobs/ingest/{id}`.
    BulkIngestPoll,
    /// `GET /jobs/ingest/{id}/{successfulResults|failedResults|unprocessedrecords}`.
    BulkIngestResults,
    /// `POST /jobs/query`.
    BulkQueryCreate,
    /// `GET /jobs/query/{id}`.
    BulkQueryPoll,
    /// `GET /jobs/query/{id}/results`.
    BulkQueryResults,
    /// Anything else (version root, job lists, deletes, unknown resources).
    Other,
}

/// Call counts by kind plus fault and limit statistics (`GET /__admin/calls`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallCounts {
    /// Token endpoint calls.
    pub token: u64,
    /// Versions list calls.
    pub versions: u64,
    /// Single-record GETs.
    pub sobject_get: u64,
    /// Single-record PATCHes.
    pub sobject_patch: u64,
    /// sObject Collections updates.
    pub collections: u64,
    /// Queries (first page).
    pub query: u64,
    /// Query-more pages.
    pub query_more: u64,
    /// Describes.
    pub describe: u64,
    /// Limits calls.
    pub limits: u64,
    /// Bulk ingest job creations.
    pub bulk_ingest_create: u64,
    /// Bulk ingest uploads.
    pub bulk_ingest_upload: u64,
    /// Bulk ingest closes/aborts.
    pub bulk_ingest_close: u64,
    /// Bulk ingest polls.
    pub bulk_ingest_poll: u64,
    /// Bulk ingest result downloads.
    pub bulk_ingest_results: u64,
    /// Bulk query job creations.
    pub bulk_query_create: u64,
    /// Bulk query polls.
    pub bulk_query_poll: u64,
    /// Bulk query result pages.
    pub bulk_query_results: u64,
    /// Other requests.
    pub other: u64,
    /// Calls counted against the daily API limit.
    pub total_api_calls: u64,
    /// Requests refused with 403 `REQUEST_LIMIT_EXCEEDED`.
    pub limit_exceeded: u64,
    /// Records written through the API (REST, Collections, Bulk).
    pub records_written: u64,
    /// Injected 503 answers.
    pub injected_5xx: u64,
    /// Injected dropped connections.
    pub injected_drops: u64,
    /// Injected `UNABLE_TO_LOCK_ROW` record errors.
    pub injected_lock_errors: u64,
    /// Injected token expiries.
    pub injected_token_expiries: u64,
}

/// Maps each kind to its counter field, once, for both reading and writing.
macro_rules! kind_slot {
    ($kind:expr; $($base:tt)+) => {
        match $kind {
            CallKind::Token => $($base)+.token,
            CallKind::Versions => $($base)+.versions,
            CallKind::SobjectGet => $($base)+.sobject_get,
            CallKind::SobjectPatch => $($base)+.sobject_patch,
            CallKind::Collections => $($base)+.collections,
            CallKind::Query => $($base)+.query,
            CallKind::QueryMore => $($base)+.query_more,
            CallKind::Describe => $($base)+.describe,
            CallKind::Limits => $($base)+.limits,
            CallKind::BulkIngestCreate => $($base)+.bulk_ingest_create,
            CallKind::BulkIngestUpload => $($base)+.bulk_ingest_upload,
            CallKind::BulkIngestClose => $($base)+.bulk_ingest_close,
            CallKind::BulkIngestPoll => $($base)+.bulk_ingest_poll,
            CallKind::BulkIngestResults => $($base)+.bulk_ingest_results,
            CallKind::BulkQueryCreate => $($base)+.bulk_query_create,
            CallKind::BulkQueryPoll => $($base)+.bulk_query_poll,
            CallKind::BulkQueryResults => $($base)+.bulk_query_results,
            CallKind::Other => $($base)+.other,
        }
    };
}

impl CallCounts {
    /// The count for one kind.
    pub fn get(&self, kind: CallKind) -> u64 {
        kind_slot!(kind; self)
    }

    fn bump(&mut self, kind: CallKind) {
        *kind_slot!(kind; &mut self) += 1;
    }
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallLogEntry {
    /// HTTP method.
    pub method: String,
    /// Path with query string.
    pub path: String,
    /// HTTP status; 0 when the connection was dropped by fault injection.
    pub status: u16,
    /// The kind.
    pub kind: CallKind,
    /// Time the emulator spent on the request, excluding injected latency, in µs.
    pub micros: u64,
}

/// Counts plus a bounded log.
#[derive(Debug)]
pub struct CallRecorder {
    counts: CallCounts,
    log: VecDeque<CallLogEntry>,
    capacity: usize,
}

impl CallRecorder {
    /// A recorder keeping at most `capacity` log entries.
    pub fn new(capacity: usize) -> CallRecorder {
        CallRecorder {
            counts: CallCounts::default(),
            log: VecDeque::new(),
            capacity,
        }
    }

    /// Records one request.
    pub fn record(&mut self, entry: CallLogEntry) {
        self.counts.bump(entry.kind);
        if self.capacity == 0 {
            return;
        }
        if self.log.len() >= self.capacity {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Mutable statistics (limit, faults, writes).
    pub fn counts_mut(&mut self) -> &mut CallCounts {
        &mut self.counts
    }

    /// A copy of the counts.
    pub fn counts(&self) -> CallCounts {
        self.counts.clone()
    }

    /// A copy of the log, oldest first.
    pub fn log(&self) -> Vec<CallLogEntry> {
        self.log.iter().cloned().collect()
    }

    /// Clears counts and log.
    pub fn reset(&mut self) {
        self.counts = CallCounts::default();
        self.log.clear();
    }
}
