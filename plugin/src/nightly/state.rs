//! A nightly run's checkpoint: everything needed to resume it after any call,
//! crash or budget stop, stored as one JSON value.

use serde::{Deserialize, Serialize};

use crate::model::{
    ApiCalls, OwedCount, OwedField, RecordRef, RedirectReason, SObject, StopReason, Timestamp,
};

/// Key of the real run's checkpoint.
pub const RUN_KEY: &str = "n/run";
/// Key of a dry run's checkpoint: a dry run never disturbs a real one.
pub const DRY_RUN_KEY: &str = "n/dry-run";
/// Key of the last finished (or stopped) real run's report.
pub const LAST_REPORT_KEY: &str = "n/last";
/// Key of the run sequence, for unique run IDs.
pub const RUN_SEQ_KEY: &str = "n/run-seq";

/// Where a run is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Stage {
    /// Walking one object's target index after a key.
    Walk {
        /// The object.
        object: SObject,
        /// The last index key dealt with.
        after: Option<String>,
    },
    /// Listing the held unsubscribes without an ID for the report.
    Skipped {
        /// The last key listed.
        after: Option<String>,
    },
    /// Writing what is left in `pending`.
    Flush,
    /// Writing the report.
    Finish,
}

/// A write the run has decided on but not yet sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWrite {
    /// The person.
    pub person_id: String,
    /// The record the unsubscribe names.
    pub named: RecordRef,
    /// The record to write.
    pub target: RecordRef,
    /// Why `target` differs from `named`.
    pub redirect: Option<RedirectReason>,
    /// It was confirmed before (so a write is a re-assertion).
    pub reassert: bool,
}

/// The report's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Already opted out.
    pub already: u64,
    /// First writes.
    pub written: u64,
    /// Re-assertions.
    pub reasserted: u64,
    /// Redirected writes.
    pub redirected: u64,
    /// Failures.
    pub failed: u64,
    /// Without a valid ID.
    pub skipped: u64,
    /// Still owing a selected field.
    #[serde(default)]
    pub field_owed: u64,
}

/// The checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// The run's ID.
    pub run_id: String,
    /// When it started.
    pub started_at: Timestamp,
    /// A dry run.
    pub dry_run: bool,
    /// The fields it writes.
    pub fields: Vec<String>,
    /// Held unsubscribes at the start.
    pub held: u64,
    /// Held with a Salesforce ID at the start.
    pub total: u64,
    /// Index entries dealt with.
    pub done: u64,
    /// Where it is.
    pub stage: Stage,
    /// `collections` or `bulk`, per object walked.
    pub strategy: Vec<String>,
    /// Decided, unsent writes.
    pub pending: Vec<PendingWrite>,
    /// Counters.
    pub counts: Counts,
    /// API calls so far.
    pub calls: ApiCalls,
    /// `calls.total()` when the current budget window began (run start or the
    /// resume after a stop).
    pub calls_at_window_start: u32,
    /// The call budget of a window; none for no cap.
    pub max_calls: Option<u32>,
    /// Daily requests kept for pushes.
    pub reserve: u32,
    /// The org's API usage last seen: (used, max).
    pub usage: Option<(u64, u64)>,
    /// Report lines written so far.
    pub items_total: u64,
    /// Set while stopped by a budget or the org; cleared on resume.
    pub stopped: Option<StopReason>,
    /// Consecutive calls that ended waiting on a transient failure.
    pub transient_failures: u32,
    /// Selected fields this run cannot write, per object (from a describe or
    /// a refusal): they are neither read nor written, and reported as owed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed: Vec<OwedField>,
    /// How many records owe each field, for the report.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub owed_counts: Vec<OwedCount>,
    /// Bulk API state of the object being walked, when it uses Bulk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk: Option<crate::nightly::bulk::BulkState>,
}

impl RunState {
    /// The checkpoint key for this run.
    pub fn key(&self) -> &'static str {
        if self.dry_run { DRY_RUN_KEY } else { RUN_KEY }
    }

    /// Calls left in the current budget window.
    pub fn calls_left(&self) -> Option<u32> {
        self.max_calls
            .map(|max| max.saturating_sub(self.calls.total() - self.calls_at_window_start))
    }

    /// The selected fields this run writes on `object`.
    pub fn fields_for(&self, object: SObject) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| {
                !self
                    .owed
                    .iter()
                    .any(|o| o.field.object == object && o.field.field == **f)
            })
            .cloned()
            .collect()
    }

    /// The selected fields this run cannot write on `object`.
    pub fn owed_for(&self, object: SObject) -> Vec<OwedField> {
        self.owed
            .iter()
            .filter(|o| o.field.object == object)
            .cloned()
            .collect()
    }

    /// Notes a field that cannot be written on its object (once).
    pub fn learn_owed(&mut self, owed: OwedField) {
        self.owed.retain(|o| o.field != owed.field);
        self.owed.push(owed);
    }

    /// Counts `records` records that owe `owed` (nothing when empty).
    pub fn count_owed(&mut self, owed: &[OwedField], records: u64) {
        if owed.is_empty() || records == 0 {
            return;
        }
        self.counts.field_owed += records;
        for o in owed {
            match self
                .owed_counts
                .iter_mut()
                .find(|c| c.field == o.field && c.problem == o.problem)
            {
                Some(c) => c.records += records,
                None => self.owed_counts.push(OwedCount {
                    field: o.field.clone(),
                    problem: o.problem,
                    records,
                }),
            }
        }
    }

    /// Adds a call session's counts to the run's.
    pub fn add_calls(&mut self, calls: &ApiCalls) {
        self.calls.query += calls.query;
        self.calls.record += calls.record;
        self.calls.collections += calls.collections;
        self.calls.bulk += calls.bulk;
        self.calls.metadata += calls.metadata;
    }
}
