//! What the nightly, `check`, `status`, `audit` and the retry drain report:
//! mirrors of the WIT records those exports return.

use serde::{Deserialize, Serialize};

use super::{OwedCount, OwedField, RecordRef, Redirect, SyncError, Timestamp};

/// Options of a nightly run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightlyOptions {
    /// Write nothing.
    pub dry_run: bool,
}

/// API calls by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiCalls {
    /// SOQL pages.
    pub query: u32,
    /// Single-record requests.
    pub record: u32,
    /// Collections updates.
    pub collections: u32,
    /// Bulk API 2.0 requests.
    pub bulk: u32,
    /// Describe and limits.
    pub metadata: u32,
}

impl ApiCalls {
    /// All calls.
    pub fn total(&self) -> u32 {
        self.query + self.record + self.collections + self.bulk + self.metadata
    }
}

/// Progress of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightlyProgress {
    /// Run ID.
    pub run_id: String,
    /// What it is doing.
    pub stage: String,
    /// Done so far.
    pub done: u64,
    /// Total.
    pub total: u64,
    /// Wait before the next call.
    pub wait_ms: u32,
}

/// What a report line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ItemKind {
    /// First write.
    Written,
    /// Written again after being unchecked.
    Reasserted,
    /// Dry run.
    WouldWrite,
    /// Written elsewhere.
    Redirected,
    /// Not written.
    Failed,
    /// No valid ID.
    SkippedNoSalesforceId,
    /// Nothing (more) to write, but a selected field is owed.
    FieldOwed,
}

/// One report line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportItem {
    /// What.
    pub kind: ItemKind,
    /// The person.
    pub person_id: String,
    /// The named record.
    pub record: Option<RecordRef>,
    /// The redirect, if any.
    pub redirected: Option<Redirect>,
    /// The record written elsewhere.
    pub target: Option<RecordRef>,
    /// The error.
    pub error: Option<SyncError>,
    /// Fields still owed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<OwedField>,
}

/// Why a run stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// Run budget.
    Budget(String),
    /// Org allocation.
    ApiLimit(String),
    /// Credentials.
    Auth(String),
}

/// A nightly report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightlyReport {
    /// Run ID.
    pub run_id: String,
    /// Start.
    pub started_at: Timestamp,
    /// End.
    pub finished_at: Timestamp,
    /// Dry run.
    pub dry_run: bool,
    /// Held at start.
    pub held: u64,
    /// Already opted out.
    pub already_opted_out: u64,
    /// First writes.
    pub written: u64,
    /// Re-assertions.
    pub reasserted: u64,
    /// Redirected writes.
    pub redirected: u64,
    /// Failures.
    pub failed: u64,
    /// Without a valid ID.
    pub skipped_no_salesforce_id: u64,
    /// Still owing a field.
    #[serde(default)]
    pub field_owed: u64,
    /// Owed fields with counts.
    #[serde(default)]
    pub owed_fields: Vec<OwedCount>,
    /// API calls.
    pub api_calls: ApiCalls,
    /// Strategy per object.
    pub strategy: Vec<String>,
    /// Early stop.
    pub stopped: Option<StopReason>,
    /// First lines.
    pub items: Vec<ReportItem>,
    /// All lines.
    pub items_total: u64,
}

/// What a nightly call did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NightlyOutcome {
    /// Sync disabled.
    Disabled,
    /// More to do.
    InProgress(NightlyProgress),
    /// Ended.
    Finished(NightlyReport),
}

/// A page of report lines.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportPage {
    /// Lines.
    pub items: Vec<ReportItem>,
    /// Next cursor.
    pub next: Option<String>,
}

/// A pre-flight requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Requirement {
    /// Settings valid.
    Settings,
    /// Sync enabled.
    SyncEnabled,
    /// Credentials work.
    Credentials,
    /// Field exists.
    FieldExists,
    /// Field writable.
    FieldWritable,
    /// Sample read.
    SampleRead,
    /// API budget.
    ApiBudget,
}

/// One pre-flight result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckItem {
    /// Which requirement.
    pub requirement: Requirement,
    /// What was checked.
    pub subject: String,
    /// Passed.
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// The error when failed.
    pub error: Option<SyncError>,
    /// What to do when failed.
    pub remedy: Option<String>,
}

/// The pre-flight's findings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// Items.
    pub items: Vec<CheckItem>,
    /// All passed.
    pub passed: bool,
}

/// Ledger counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// Held.
    pub held: u64,
    /// Held without ID.
    pub held_without_salesforce_id: u64,
    /// Retries queued.
    pub pending_retries: u64,
    /// Earliest retry.
    pub next_retry_at: Option<Timestamp>,
    /// Permanently failed.
    pub failed: u64,
    /// Owed fields with counts.
    pub owed_fields: Vec<OwedCount>,
    /// Run in progress.
    pub nightly_in_progress: Option<NightlyProgress>,
    /// Last report.
    pub last_report: Option<NightlyReport>,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditKind {
    /// Arrived.
    Received,
    /// Re-subscribed.
    Resubscribed,
    /// Ignored as stale.
    Stale,
    /// Malformed ID.
    InvalidId,
    /// Write attempted.
    Attempt,
    /// Write confirmed.
    Confirmed,
    /// Found already set.
    AlreadyOptedOut,
    /// Queued for retry.
    Queued,
    /// Failed permanently.
    Failed,
    /// Written elsewhere.
    Redirected,
    /// A selected field stays owed.
    FieldOwed,
    /// A pending write given up for a newer record.
    Superseded,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: AuditKind,
    /// Record concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<RecordRef>,
    /// Fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Salesforce error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A person's audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditTrail {
    /// Person.
    pub person_id: String,
    /// Held now.
    pub held: bool,
    /// ID held.
    pub salesforce_id: Option<String>,
    /// Fields still owed.
    pub owed: Vec<OwedField>,
    /// Entries.
    pub entries: Vec<AuditEntry>,
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainSummary {
    /// Attempted.
    pub attempted: u32,
    /// Written.
    pub written: u32,
    /// Re-queued.
    pub requeued: u32,
    /// Failed.
    pub failed: u32,
    /// Earliest remaining.
    pub next_due: Option<Timestamp>,
}
