//! The policy's own types: plain Rust mirrors of the WIT contract's records, so
//! the decision modules never depend on generated bindings and run natively.
//! `convert.rs` is the only place that maps between the two.

use serde::{Deserialize, Serialize};

mod reports;
pub use reports::*;

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// The standard Email Opt Out checkbox on Lead and Contact.
pub const EMAIL_OPT_OUT_FIELD: &str = "HasOptedOutOfEmail";

/// The two person objects the sync writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SObject {
    /// A Lead (`00Q`).
    Lead,
    /// A Contact (`003`).
    Contact,
}

impl SObject {
    /// Both objects, in the order the nightly walks them.
    pub const ALL: [SObject; 2] = [SObject::Lead, SObject::Contact];

    /// The API name used in REST paths and SOQL.
    pub fn api_name(self) -> &'static str {
        match self {
            SObject::Lead => "Lead",
            SObject::Contact => "Contact",
        }
    }

    /// The ID key prefix of the object.
    pub fn key_prefix(self) -> &'static str {
        match self {
            SObject::Lead => "00Q",
            SObject::Contact => "003",
        }
    }

    /// The one-letter tag used in storage keys.
    pub fn tag(self) -> char {
        match self {
            SObject::Lead => 'L',
            SObject::Contact => 'C',
        }
    }

    /// Parses an API name as Salesforce returns it in `attributes.type`.
    pub fn from_api_name(name: &str) -> Option<SObject> {
        match name {
            "Lead" => Some(SObject::Lead),
            "Contact" => Some(SObject::Contact),
            _ => None,
        }
    }
}

/// When the nightly run is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Local hour, 0 to 23.
    pub hour: u8,
    /// Local minute, 0 to 59.
    pub minute: u8,
    /// IANA zone name.
    pub time_zone: String,
}

/// What a nightly run may spend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiBudget {
    /// At most this many calls in one run.
    pub max_calls: Option<u32>,
    /// At most this percentage of the remaining daily requests.
    pub max_percent_of_remaining: Option<u8>,
    /// Requests kept free for pushes.
    pub reserve: u32,
}

/// The admin's choices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The unsubscribe sync is enabled.
    pub sync_enabled: bool,
    /// Write `HasOptedOutOfEmail`.
    pub email_opt_out: bool,
    /// The custom sales opt-out checkbox's API name.
    pub sales_opt_out_field: Option<String>,
    /// REST API version such as `62.0`.
    pub api_version: String,
    /// The nightly schedule.
    pub schedule: Schedule,
    /// Held unsubscribes per object from which the nightly uses Bulk API 2.0.
    pub bulk_threshold: u32,
    /// The nightly's API budget.
    pub budget: ApiBudget,
}

/// An unsubscribe event from the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsubscribeEvent {
    /// The app's person ID.
    pub person_id: String,
    /// The Salesforce ID as sent.
    pub salesforce_id: Option<String>,
    /// The email address.
    pub email: Option<String>,
    /// Where it came from.
    pub source: String,
    /// When it happened, if the app said.
    pub occurred_at: Option<Timestamp>,
    /// When the host received it. Absent in JSON written before 0.2.0 (the
    /// fuzz corpora): 0, which is implausible and gives way to the call time.
    #[serde(default)]
    pub received_at: Timestamp,
}

/// A re-subscribe event from the app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResubscribeEvent {
    /// The app's person ID.
    pub person_id: String,
    /// Where it came from.
    pub source: String,
    /// When it happened, if the app said.
    pub occurred_at: Option<Timestamp>,
    /// When the host received it. Absent in JSON written before 0.2.0 (the
    /// fuzz corpora): 0, which is implausible and gives way to the call time.
    #[serde(default)]
    pub received_at: Timestamp,
}

/// A Salesforce record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RecordRef {
    /// Its object.
    pub object: SObject,
    /// Its 18-character ID.
    pub id: String,
}

/// A field on an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FieldRef {
    /// The object.
    pub object: SObject,
    /// The field's API name.
    pub field: String,
}

/// Why a selected field cannot be written on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FieldProblem {
    /// Missing, or hidden by field-level security.
    NotInstalled,
    /// Read-only for the integration user.
    NotWritable,
}

impl FieldProblem {
    /// The typed error for a field with this problem.
    pub fn error(self, field: FieldRef) -> SyncError {
        match self {
            FieldProblem::NotInstalled => SyncError::FieldNotInstalled(field),
            FieldProblem::NotWritable => SyncError::FieldNotWritable(field),
        }
    }

    /// What an admin does about it.
    pub fn remedy(self) -> &'static str {
        match self {
            FieldProblem::NotInstalled => {
                "install the field on the object (for a sales opt-out field, the vendor's package) \
                 and grant the integration user read and edit access; the next nightly writes it"
            }
            FieldProblem::NotWritable => {
                "grant the integration user edit access to the field (field-level security); \
                 the next nightly writes it"
            }
        }
    }
}

/// A selected field not written to a person's record, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwedField {
    /// The field on the object of the record written.
    pub field: FieldRef,
    /// Why it was not written.
    pub problem: FieldProblem,
}

impl OwedField {
    /// The typed error for this owed field.
    pub fn error(&self) -> SyncError {
        self.problem.error(self.field.clone())
    }
}

/// How many held unsubscribes owe a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwedCount {
    /// The field.
    pub field: FieldRef,
    /// Why it is not written.
    pub problem: FieldProblem,
    /// Records owing it.
    pub records: u64,
}

/// A setting that is wrong, and why (the value is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsProblem {
    /// The setting's WIT name, dotted when nested (`schedule.time-zone`).
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

impl SettingsProblem {
    /// The `invalid-settings` error for a problem with `setting`.
    pub fn error(setting: &str, reason: impl Into<String>) -> SyncError {
        SyncError::InvalidSettings(SettingsProblem {
            setting: setting.to_string(),
            reason: reason.into(),
        })
    }
}

/// A malformed Salesforce ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdProblem {
    /// The value as received.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An error Salesforce returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesforceFailure {
    /// HTTP status.
    pub status: u16,
    /// `errorCode` / `statusCode`.
    pub code: String,
    /// Salesforce's message.
    pub message: String,
    /// Fields named by Salesforce.
    pub fields: Vec<String>,
}

/// Why a call could not do what was asked (mirrors the WIT `sync-error`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum SyncError {
    /// A setting is wrong.
    #[error("invalid settings: {}: {}", .0.setting, .0.reason)]
    InvalidSettings(SettingsProblem),
    /// An event is malformed.
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    /// A Salesforce ID is malformed.
    #[error("invalid Salesforce ID {:?}: {}", .0.value, .0.reason)]
    InvalidSalesforceId(IdProblem),
    /// A selected field is missing or invisible.
    #[error("field {}.{} is not installed or not visible to the integration user", .0.object.api_name(), .0.field)]
    FieldNotInstalled(FieldRef),
    /// A selected field is read-only.
    #[error("field {}.{} is not writable by the integration user", .0.object.api_name(), .0.field)]
    FieldNotWritable(FieldRef),
    /// The record was deleted and not merged.
    #[error("{} {} is deleted", .0.object.api_name(), .0.id)]
    RecordDeleted(RecordRef),
    /// Credentials rejected.
    #[error("Salesforce rejected the credentials: {0}")]
    AuthFailed(String),
    /// API allocation or budget spent.
    #[error("API limit exhausted: {0}")]
    ApiLimitExhausted(String),
    /// Another Salesforce error.
    #[error("Salesforce error {} (HTTP {}): {}", .0.code, .0.status, .0.message)]
    SalesforceError(SalesforceFailure),
    /// No answer from Salesforce.
    #[error("transport failure: {0}")]
    Transport(String),
    /// The host refused a request.
    #[error("request denied by the host: {0}")]
    RequestDenied(String),
    /// Storage failed.
    #[error("storage failure: {0}")]
    StorageFailure(String),
}

impl SyncError {
    /// The Salesforce error code behind this error, if any (for audit entries).
    pub fn code(&self) -> Option<String> {
        match self {
            SyncError::SalesforceError(f) => Some(f.code.clone()),
            SyncError::FieldNotInstalled(_) => Some("INVALID_FIELD".into()),
            SyncError::FieldNotWritable(_) => Some("INVALID_FIELD_FOR_INSERT_UPDATE".into()),
            SyncError::RecordDeleted(_) => Some("ENTITY_IS_DELETED".into()),
            SyncError::AuthFailed(_) => Some("INVALID_SESSION_ID".into()),
            SyncError::ApiLimitExhausted(_) => Some("REQUEST_LIMIT_EXCEEDED".into()),
            _ => None,
        }
    }
}

/// Why a write went elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RedirectReason {
    /// Converted Lead → its Contact.
    ConvertedLead,
    /// Merged record → its survivor.
    Merged,
}

/// A followed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    /// The record named by the unsubscribe.
    pub from: RecordRef,
    /// Why.
    pub reason: RedirectReason,
}

/// A successful write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The record written.
    pub target: RecordRef,
    /// Fields set to true.
    pub fields: Vec<String>,
    /// Set when redirected.
    pub redirected: Option<Redirect>,
    /// Selected fields not written.
    pub owed: Vec<OwedField>,
}

/// A queued retry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued {
    /// Attempts so far.
    pub attempts: u32,
    /// When the next one is due.
    pub next_attempt_at: Timestamp,
    /// The last failure.
    pub reason: SyncError,
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PushOutcome {
    /// Written.
    Written(Written),
    /// Held without a Salesforce ID.
    SkippedNoSalesforceId,
    /// Queued for retry.
    QueuedForRetry(Queued),
    /// Already written.
    Duplicate,
    /// Older than a re-subscribe.
    Stale(Timestamp),
}

/// What a re-subscribe did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResubscribeOutcome {
    /// Released.
    Released,
    /// Nothing was held.
    NotHeld,
    /// The held unsubscribe is newer.
    Stale(Timestamp),
}

/// One import event with a problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProblem {
    /// Position in the list.
    pub index: u32,
    /// The problem.
    pub error: SyncError,
    /// Recorded anyway.
    pub recorded: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportSummary {
    /// Newly held.
    pub added: u32,
    /// Updated.
    pub updated: u32,
    /// Unchanged.
    pub unchanged: u32,
    /// Held without a valid ID.
    pub without_salesforce_id: u32,
    /// Problems.
    pub problems: Vec<ImportProblem>,
}
