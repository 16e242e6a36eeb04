//! The Bulk API 2.0 path of the nightly, for an object holding many
//! unsubscribes (at least `bulk-threshold`).
//!
//! Per object, a few calls instead of two per 200 records:
//! 1. describe the object once (a missing or read-only field would fail every
//!    row of a job);
//! 2. a Bulk query of the records already opted out (every selected field
//!    true; Leads also not converted), kept as a sorted set of compact IDs in
//!    storage;
//! 3. one ingest update job per up to [`MAX_JOB_ROWS`] held records not in
//!    that set: create, upload, close, poll;
//! 4. the job's failed rows, each recorded with its Salesforce error, and a
//!    confirmation for every other row;
//! 5. converted Leads and deleted records among the failures are resolved
//!    over REST (their Contact, their merge survivor), like the collections path.
//!
//! Every phase is checkpointed; the rows of a job and the skip set live in
//! storage under `n/bulk/`, so any call can be the last before a crash.
//!
//! The phases live in `query` (the skip set), `build` (the job) and
//! `confirm` (its outcome and the REST resolution of converted and deleted
//! rows); this module holds the state and what they share.

mod build;
mod confirm;
mod query;

use serde::{Deserialize, Serialize};

use crate::ledger;
use crate::model::{RecordRef, SObject, Settings, SyncError};
use crate::nightly::collections;
use crate::nightly::state::{RunState, Stage};
use crate::nightly::{StepError, checkpoint_op, next_stage};
use crate::ports::{Level, Ports, WriteOp};
use crate::salesforce::api::OrgApi;

/// Most rows in one ingest job: keeps the CSV (about 24 bytes a row) and the
/// guest's memory well inside their caps.
pub const MAX_JOB_ROWS: usize = 500_000;
/// Rows per query-results page.
const RESULTS_PAGE_ROWS: u32 = 250_000;
/// Compact IDs per stored skip-set chunk (1 MiB).
const SKIP_CHUNK: usize = 65_536;
/// Job rows per stored line chunk: one chunk's confirmations (a target
/// index update and an audit entry each) make one bounded storage write.
const LINE_CHUNK: usize = 10_000;
/// Line chunks confirmed per step (the run's loop takes further steps in the
/// same call while its time allows).
const CHUNKS_PER_CALL: u32 = 1;
/// Would-write lines a dry run reports per step.
const DRY_RUN_ROWS: usize = 5_000;
/// The oldest API version with Bulk API 2.0 query jobs (§6.7, §10.3).
const MIN_BULK_API_VERSION: u32 = 47;
/// Below this many records, chunked SOQL and collections cost no more calls
/// than the handful a Bulk job needs.
const MIN_BULK_RECORDS: u64 = 1_000;

/// Where the Bulk path of one object is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Check the fields once.
    Describe,
    /// Create the query job of already-opted-out records.
    StartQuery,
    /// Wait for it, then store its results as the skip set.
    PollQuery {
        /// The query job.
        job: String,
    },
    /// Build, upload and close the next ingest job.
    Build,
    /// Wait for the ingest job.
    PollIngest {
        /// The ingest job.
        job: String,
    },
    /// Record the job's outcomes, a few line chunks per call.
    Confirm {
        /// The ingest job.
        job: String,
        /// The next line chunk.
        next_chunk: u32,
    },
    /// Resolve converted and deleted records over REST.
    Resolve,
}

/// A failed row left for REST resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveEntry {
    /// The record named.
    pub named: RecordRef,
    /// The person.
    pub person_id: String,
    /// Confirmed before.
    pub confirmed: bool,
}

/// The Bulk path's checkpoint for one object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkState {
    /// The object.
    pub object: SObject,
    /// Where it is.
    pub phase: Phase,
    /// Polls of the current job.
    pub polls: u32,
    /// The index key the current job starts after.
    pub start_after: Option<String>,
    /// The last index key in the current job.
    pub end_after: Option<String>,
    /// The index has entries beyond the current job.
    pub more: bool,
    /// Stored skip-set chunks.
    pub skip_chunks: u32,
    /// Stored line chunks of the current job.
    pub line_chunks: u32,
    /// Rows in the current job.
    pub rows: u64,
    /// Failed rows to resolve over REST.
    pub resolve: Vec<ResolveEntry>,
}

impl BulkState {
    /// A fresh state for an object.
    pub fn new(object: SObject) -> Self {
        BulkState {
            object,
            phase: Phase::Describe,
            polls: 0,
            start_after: None,
            end_after: None,
            more: false,
            skip_chunks: 0,
            line_chunks: 0,
            rows: 0,
            resolve: Vec::new(),
        }
    }

    /// What it is doing, for progress displays.
    pub fn describe(&self) -> String {
        match &self.phase {
            Phase::Describe => "checking fields".into(),
            Phase::StartQuery => "starting the Bulk read".into(),
            Phase::PollQuery { job } => format!("Bulk read {job} processing"),
            Phase::Build => "building the Bulk write".into(),
            Phase::PollIngest { job } => {
                format!("Bulk write {job} ({} records) processing", self.rows)
            }
            Phase::Confirm { job, next_chunk } => {
                format!(
                    "recording Bulk write {job}: chunk {next_chunk} of {}",
                    self.line_chunks
                )
            }
            Phase::Resolve => "following converted and deleted records".into(),
        }
    }
}

/// Whether the run should use Bulk API 2.0 for `object`.
pub fn should_use(
    settings: &Settings,
    object: SObject,
    ports: Ports<'_>,
) -> Result<bool, SyncError> {
    // Bulk API 2.0 query jobs (the skip set) exist from API 47.0 (§10.3);
    // an org pinned to an older version goes the REST way.
    if settings.bulk_threshold == 0
        || crate::settings::api_version_number(&settings.api_version)? < MIN_BULK_API_VERSION
    {
        return Ok(false);
    }
    let held = ports
        .store
        .count(&ledger::target_prefix(object))
        .map_err(ledger::storage_error)?;
    Ok(held >= u64::from(settings.bulk_threshold) && held >= MIN_BULK_RECORDS)
}

fn blob_prefix(state: &RunState, object: SObject) -> String {
    format!("n/bulk/{}/{}/", state.run_id, object.tag())
}

fn wait_for(polls: u32) -> u32 {
    // 1 s, 2 s, 4 s … up to 30 s between polls.
    (1_000u32 << polls.min(5)).min(30_000)
}

/// A job still processing: counts the poll, saves it, and says how long to
/// wait before the next one.
fn poll_again(state: &mut RunState, ports: Ports<'_>) -> Result<StepError, SyncError> {
    let b = bulk_state(state);
    b.polls += 1;
    let wait = wait_for(b.polls);
    save(state, Vec::new(), ports)?;
    Ok(StepError::Wait(wait))
}

fn bulk_state(state: &mut RunState) -> &mut BulkState {
    state.bulk.as_mut().expect("the Bulk path has state")
}

/// One step of the Bulk path. Returns the index entries dealt with.
pub(crate) fn step(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let phase = bulk_state(state).phase.clone();
    match phase {
        Phase::Describe => describe(state, object, api, ports),
        Phase::StartQuery => query::start(state, object, api, ports),
        Phase::PollQuery { job } => query::poll(state, object, &job, api, ports),
        Phase::Build => build::build(state, object, api, ports),
        Phase::PollIngest { job } => confirm::poll_ingest(state, object, &job, api, ports),
        Phase::Confirm { job, next_chunk } => {
            confirm::confirm(state, object, &job, next_chunk, ports)
        }
        Phase::Resolve => confirm::resolve(state, object, api, ports),
    }
}

/// Learns which selected fields can be written (a describe: a missing or
/// read-only field would fail every row of a job). Unwritable fields are left
/// out of the job and owed, never allowed to stop the others; with none left
/// the object goes the REST way, which reports them.
fn describe(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    collections::prepare_fields(state, object, true, api, ports)?;
    if state.fields_for(object).is_empty() {
        let why = format!("no selected field can be written on {}", object.api_name());
        fall_back(state, object, &why, ports)?;
        return Ok(0);
    }
    bulk_state(state).phase = Phase::StartQuery;
    save(state, Vec::new(), ports)?;
    Ok(0)
}

fn delete_skip_ops(state: &RunState, object: SObject) -> Vec<WriteOp> {
    let prefix = blob_prefix(state, object);
    let chunks = state.bulk.as_ref().map_or(0, |b| b.skip_chunks);
    (0..chunks)
        .map(|i| WriteOp::Delete(format!("{prefix}skip/{i:04}")))
        .collect()
}

fn delete_lines(state: &RunState, object: SObject, ports: Ports<'_>) -> Result<(), SyncError> {
    let prefix = blob_prefix(state, object);
    let chunks = state.bulk.as_ref().map_or(0, |b| b.line_chunks);
    let mut ops: Vec<WriteOp> = (0..chunks)
        .map(|i| WriteOp::Delete(format!("{prefix}lines/{i:06}")))
        .collect();
    ops.push(WriteOp::Delete(format!("{prefix}failed")));
    ports.store.write(ops).map_err(ledger::storage_error)
}

/// A Bulk job failed as a whole: this object goes the REST way instead, from
/// the start of the index.
fn fall_back(
    state: &mut RunState,
    object: SObject,
    why: &str,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    fall_back_from(state, object, None, why, ports)
}

fn fall_back_from(
    state: &mut RunState,
    object: SObject,
    after: Option<String>,
    why: &str,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    ports.log.write(
        Level::Warn,
        &format!(
            "{why}; {}s continue over REST collections",
            object.api_name()
        ),
    );
    let ops = delete_skip_ops(state, object);
    if let Some(last) = state.strategy.last_mut() {
        *last = format!("collections (Bulk failed: {why})");
    }
    state.bulk = None;
    state.stage = Stage::Walk { object, after };
    save(state, ops, ports)
}

/// Leaves the Bulk path for the next object.
fn finish_object(
    state: &mut RunState,
    object: SObject,
    ops: Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    state.bulk = None;
    state.stage = next_stage(object);
    save(state, ops, ports)
}

/// Writes `ops` with the checkpoint.
fn save(state: &RunState, mut ops: Vec<WriteOp>, ports: Ports<'_>) -> Result<(), SyncError> {
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)
}

#[cfg(test)]
mod tests {
    use super::query::skip_query;
    use super::*;

    #[test]
    fn skip_queries_require_every_field_and_exclude_converted_leads() {
        assert_eq!(
            skip_query(
                SObject::Lead,
                &["HasOptedOutOfEmail".into(), "Sales__c".into()]
            ),
            "SELECT Id FROM Lead WHERE HasOptedOutOfEmail = true AND Sales__c = true AND IsConverted = false"
        );
        assert_eq!(
            skip_query(SObject::Contact, &["HasOptedOutOfEmail".into()]),
            "SELECT Id FROM Contact WHERE HasOptedOutOfEmail = true"
        );
    }

    #[test]
    fn polls_back_off_to_thirty_seconds() {
        assert_eq!(wait_for(0), 1_000);
        assert_eq!(wait_for(1), 2_000);
        assert_eq!(wait_for(4), 16_000);
        assert_eq!(wait_for(9), 30_000);
    }
}
