//! Bulk API 2.0: ingest (update) jobs and query jobs (plugin/SALESFORCE.md §6).
//!
//! Error bodies use the REST error shape. The exact codes of several Bulk 2.0 request
//! errors are UNCONFIRMED; the emulator uses Bulk's own vocabulary (`INVALIDJOB`,
//! `INVALIDJOBSTATE`, `INVALIDENTITY`, `FEATURENOTENABLED`), and clients should key off
//! the HTTP status.

pub mod ingest;
pub mod query;

use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::error::ApiError;
use crate::model::SObject;
use crate::router::ApiVersion;
use crate::sfid;
use crate::time;

/// A job's state (§6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum JobState {
    /// Accepting uploads (ingest).
    Open,
    /// Closed, queued.
    UploadComplete,
    /// Being processed.
    InProgress,
    /// Done (rows may still have failed).
    JobComplete,
    /// Could not complete; see `errorMessage`.
    Failed,
    /// Cancelled.
    Aborted,
}

impl JobState {
    /// Terminal states.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::JobComplete | JobState::Failed | JobState::Aborted
        )
    }
}

/// JobInfo as serialised; field order follows §6.1 (create) and §6.4 (poll).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobInfo {
    /// Job Id (`750...`).
    pub id: String,
    /// `update`, `query`, `queryAll`.
    pub operation: String,
    /// `Lead` / `Contact`.
    pub object: String,
    /// The integration user.
    pub created_by_id: String,
    /// Creation time.
    pub created_date: String,
    /// Last change.
    pub system_modstamp: String,
    /// State.
    pub state: JobState,
    /// Always `Parallel`.
    pub concurrency_mode: &'static str,
    /// Always `CSV`.
    pub content_type: &'static str,
    /// A JSON number such as `62.0`.
    pub api_version: f64,
    /// Upload URL without a leading slash (create/close of ingest jobs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    /// `V2Ingest` / `V2Query` (poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_type: Option<&'static str>,
    /// `LF` / `CRLF`.
    pub line_ending: String,
    /// `COMMA`, `TAB`, ...
    pub column_delimiter: String,
    /// Rows processed, failed ones included (poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_records_processed: Option<u64>,
    /// Rows failed (ingest poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_records_failed: Option<u64>,
    /// Batch retries (poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Milliseconds (poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_processing_time: Option<u64>,
    /// Milliseconds (ingest poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_active_processing_time: Option<u64>,
    /// Milliseconds (ingest poll).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apex_processing_time: Option<u64>,
    /// Why a job `Failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// Fields every job has.
#[derive(Debug, Clone)]
pub struct JobHeader {
    /// Job Id.
    pub id: String,
    /// Operation.
    pub operation: String,
    /// Object.
    pub object: SObject,
    /// API version of the creating request.
    pub version: ApiVersion,
    /// Created, epoch ms.
    pub created_ms: i64,
    /// Last state change, epoch ms.
    pub modstamp_ms: i64,
    /// State.
    pub state: JobState,
    /// Failure reason.
    pub error_message: Option<String>,
    /// The creating user.
    pub created_by: String,
}

impl JobHeader {
    /// A new job header.
    pub fn new(
        id: String,
        operation: &str,
        object: SObject,
        version: ApiVersion,
        state: JobState,
        created_by: &str,
    ) -> JobHeader {
        let now = time::now_ms();
        JobHeader {
            id,
            operation: operation.to_owned(),
            object,
            version,
            created_ms: now,
            modstamp_ms: now,
            state,
            error_message: None,
            created_by: created_by.to_owned(),
        }
    }

    /// Changes state and touches `systemModstamp`.
    pub fn set_state(&mut self, state: JobState) {
        self.state = state;
        self.modstamp_ms = time::now_ms().max(self.modstamp_ms);
    }

    /// The common JobInfo fields; callers fill in the poll statistics.
    pub fn info(&self, line_ending: &str, delimiter: &str) -> JobInfo {
        JobInfo {
            id: self.id.clone(),
            operation: self.operation.clone(),
            object: self.object.name().to_owned(),
            created_by_id: self.created_by.clone(),
            created_date: time::format_sf(self.created_ms),
            system_modstamp: time::format_sf(self.modstamp_ms),
            state: self.state,
            concurrency_mode: "Parallel",
            content_type: "CSV",
            api_version: f64::from(self.version.0),
            content_url: None,
            job_type: None,
            line_ending: line_ending.to_owned(),
            column_delimiter: delimiter.to_owned(),
            number_records_processed: None,
            number_records_failed: None,
            retries: None,
            total_processing_time: None,
            api_active_processing_time: None,
            apex_processing_time: None,
            error_message: self.error_message.clone(),
        }
    }
}

/// All Bulk jobs.
#[derive(Debug, Default)]
pub struct Jobs {
    /// Ingest jobs by Id.
    pub ingest: FxHashMap<String, ingest::IngestJob>,
    /// Query jobs by Id.
    pub query: FxHashMap<String, query::QueryJob>,
    counter: u64,
}

impl Jobs {
    /// A fresh job Id (`750` key prefix, valid checksum).
    pub fn next_id(&mut self) -> String {
        self.counter += 1;
        sfid::make_id("750", "5B", self.counter).to_string()
    }
}

/// Normalises a job Id from a path (15 or 18 characters) to its canonical form.
pub fn job_key(raw: &str) -> Option<String> {
    sfid::to18(raw).ok()
}

/// `400 INVALIDJOBSTATE` (code UNCONFIRMED, see module docs).
pub fn bad_state(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "INVALIDJOBSTATE", message)
}

/// `400 INVALIDJOB` (code UNCONFIRMED, see module docs).
pub fn bad_job(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "INVALIDJOB", message)
}

/// Column delimiters by name (§6.1).
pub fn delimiter_byte(name: &str) -> Option<u8> {
    Some(match name {
        "COMMA" => b',',
        "TAB" => b'\t',
        "PIPE" => b'|',
        "SEMICOLON" => b';',
        "CARET" => b'^',
        "BACKQUOTE" => b'`',
        _ => return None,
    })
}

/// Writes `s` as a CSV field, always quoted, inner quotes doubled.
pub fn write_quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Shared handle type for spawning delayed processing.
pub type Shared = Arc<crate::state::State>;
