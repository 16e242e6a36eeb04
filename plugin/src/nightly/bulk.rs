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

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::ledger::{self, AuditLog};
use crate::lifecycle::{self, Confirmation, Outcome, Settle};
use crate::model::{ItemKind, RecordRef, ReportItem, SObject, Settings, StopReason, SyncError};
use crate::nightly::collections;
use crate::nightly::decide::{self, Entry};
use crate::nightly::report::add_item;
use crate::nightly::state::{RunState, Stage};
use crate::nightly::{Interrupt, StepError, checkpoint_op, interrupt, next_stage};
use crate::ports::{HttpFailure, Level, Ports, WriteOp};
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::bulk::{self as api_bulk, UpdateCsv};
use crate::salesforce::errors::{self, Disposition};
use crate::sfid;

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
    if settings.bulk_threshold == 0 {
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
        Phase::Describe => {
            // A missing or read-only field would fail every row of a job: it
            // is left out of the job (and owed), never allowed to stop the
            // fields that can be written.
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
        Phase::StartQuery => {
            api.check_budget(3)
                .map_err(|m| Interrupt::Stop(StopReason::Budget(m)))?;
            let job =
                api_bulk::create_query_job(api, &skip_query(object, &state.fields_for(object)))
                    .map_err(|e| interrupt(e, object, &state.fields))?;
            ports.log.write(
                Level::Info,
                &format!(
                    "Bulk read {job} of opted-out {}s started",
                    object.api_name()
                ),
            );
            let b = bulk_state(state);
            b.phase = Phase::PollQuery { job };
            b.polls = 0;
            save(state, Vec::new(), ports)?;
            Err(StepError::Wait(wait_for(0)))
        }
        Phase::PollQuery { job } => {
            let info =
                api_bulk::query_job(api, &job).map_err(|e| interrupt(e, object, &state.fields))?;
            if !info.is_final() {
                return Err(poll_again(state, ports)?);
            }
            if info.state != "JobComplete" {
                fall_back(
                    state,
                    object,
                    &format!(
                        "Bulk read {job} {}: {}",
                        info.state,
                        info.error_message.unwrap_or_default()
                    ),
                    ports,
                )?;
                return Ok(0);
            }
            store_skip_set(state, object, &job, api, ports)?;
            // The build streams the whole index: it gets a fresh call of its own.
            Err(StepError::Wait(0))
        }
        Phase::Build => build(state, object, api, ports),
        Phase::PollIngest { job } => {
            let info =
                api_bulk::ingest_job(api, &job).map_err(|e| interrupt(e, object, &state.fields))?;
            if !info.is_final() {
                return Err(poll_again(state, ports)?);
            }
            if info.state != "JobComplete" {
                let why = format!(
                    "Bulk write {job} {}: {}",
                    info.state,
                    info.error_message.unwrap_or_default()
                );
                let start = bulk_state(state).start_after.clone();
                delete_lines(state, object, ports)?;
                fall_back_from(state, object, start, &why, ports)?;
                return Ok(0);
            }
            let failures = if info.failed > 0 {
                match api_bulk::failed_results(api, &job) {
                    Ok(csv) => csv,
                    Err(RequestError::NoResponse(HttpFailure::ResponseTooLarge(cap))) => {
                        return Err(Interrupt::Fail(SyncError::Transport(format!(
                            "{} of {} rows of Bulk write {job} failed and their errors exceed the host's {cap}-byte response cap; \
                             check validation rules and field security on {}, then run the nightly again",
                            info.failed,
                            info.processed,
                            object.api_name()
                        )))
                        .into());
                    }
                    Err(e) => return Err(interrupt(e, object, &state.fields).into()),
                }
            } else {
                Vec::new()
            };
            let mut ops = Vec::new();
            if !failures.is_empty() {
                ops.push(WriteOp::Set(
                    format!("{}failed", blob_prefix(state, object)),
                    failures,
                ));
            }
            bulk_state(state).phase = Phase::Confirm { job, next_chunk: 0 };
            save(state, ops, ports)?;
            Ok(0)
        }
        Phase::Confirm { job, next_chunk } => confirm(state, object, &job, next_chunk, ports),
        Phase::Resolve => {
            let resolve = std::mem::take(&mut bulk_state(state).resolve);
            if !resolve.is_empty() {
                let entries: Vec<Entry> = resolve
                    .into_iter()
                    .map(|r| Entry {
                        named: r.named,
                        person_id: r.person_id,
                        confirmed: r.confirmed,
                    })
                    .collect();
                let mut ops = Vec::new();
                let now = ports.clock.now();
                let decided =
                    decide::decide(state, object, &entries, api, ports.store, now, &mut ops)
                        .inspect_err(|_| {
                            // Keep them for the redo of this step.
                            bulk_state(state).resolve = entries
                                .iter()
                                .map(|e| ResolveEntry {
                                    named: e.named.clone(),
                                    person_id: e.person_id.clone(),
                                    confirmed: e.confirmed,
                                })
                                .collect();
                        })?;
                collections::take_decisions(state, decided, &mut ops, ports)?;
                finish_object(state, object, ops, ports)?;
            } else {
                finish_object(state, object, Vec::new(), ports)?;
            }
            Ok(0)
        }
    }
}

/// `SELECT Id FROM <object> WHERE <every field> = true [AND IsConverted = false]`.
fn skip_query(object: SObject, fields: &[String]) -> String {
    let mut conditions: Vec<String> = fields.iter().map(|f| format!("{f} = true")).collect();
    if object == SObject::Lead {
        // Converted Leads are written (and fail, and are followed to their
        // Contact) whatever their own checkbox says.
        conditions.push("IsConverted = false".into());
    }
    format!(
        "SELECT Id FROM {} WHERE {}",
        object.api_name(),
        conditions.join(" AND ")
    )
}

/// Fetches the query job's results and stores them as sorted compact IDs.
fn store_skip_set(
    state: &mut RunState,
    object: SObject,
    job: &str,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let mut ids: Vec<u128> = Vec::new();
    let mut locator: Option<String> = None;
    loop {
        let page = api_bulk::query_results(api, job, locator.as_deref(), RESULTS_PAGE_ROWS)
            .map_err(|e| interrupt(e, object, &state.fields))?;
        api_bulk::read_csv(&page.csv, |headers, record| {
            if let Some(n) = api_bulk::column(headers, record, "Id").and_then(sfid::compact) {
                ids.push(n);
            }
        })
        .map_err(|e| interrupt(e, object, &state.fields))?;
        match page.next {
            Some(next) => locator = Some(next),
            None => break,
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let prefix = blob_prefix(state, object);
    let mut ops = Vec::new();
    let chunks = ids.chunks(SKIP_CHUNK).count() as u32;
    for (i, chunk) in ids.chunks(SKIP_CHUNK).enumerate() {
        let bytes: Vec<u8> = chunk.iter().flat_map(|n| n.to_le_bytes()).collect();
        ops.push(WriteOp::Set(format!("{prefix}skip/{i:04}"), bytes));
    }
    ports.log.write(
        Level::Info,
        &format!(
            "{} {}s are already opted out in Salesforce",
            ids.len(),
            object.api_name()
        ),
    );
    let b = bulk_state(state);
    b.skip_chunks = chunks;
    b.phase = Phase::Build;
    b.polls = 0;
    save(state, ops, ports)?;
    Ok(())
}

fn load_skip_set(
    state: &RunState,
    object: SObject,
    ports: Ports<'_>,
) -> Result<Vec<u128>, SyncError> {
    let prefix = blob_prefix(state, object);
    let chunks = state.bulk.as_ref().map_or(0, |b| b.skip_chunks);
    let keys: Vec<String> = (0..chunks)
        .map(|i| format!("{prefix}skip/{i:04}"))
        .collect();
    let mut ids = Vec::new();
    for (key, value) in keys
        .iter()
        .zip(ports.store.get_many(&keys).map_err(ledger::storage_error)?)
    {
        let bytes = value.ok_or_else(|| SyncError::StorageFailure(format!("{key} is missing")))?;
        ids.extend(
            bytes
                .chunks_exact(16)
                .map(|b| u128::from_le_bytes(b.try_into().expect("16 bytes"))),
        );
    }
    Ok(ids)
}

/// Streams the index from the job's start, skipping records already opted
/// out, and sends one ingest job (or, on a dry run, reports would-writes).
fn build(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let skip = load_skip_set(state, object, ports)?;
    let prefix = blob_prefix(state, object);
    let index = ledger::target_prefix(object);
    let remaining = ports.store.count(&index).map_err(ledger::storage_error)?;
    let mut csv = UpdateCsv::new(
        &state.fields_for(object),
        (remaining as usize).min(MAX_JOB_ROWS),
    );
    let mut lines = String::new();
    let mut line_count = 0usize;
    let mut chunks = 0u32;
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut after = bulk_state(state).start_after.clone();
    let mut last_id = String::new();
    let mut entries = 0u64;
    // Counted into the run only with the checkpoint that moves past this
    // stretch: a build the org interrupts (an outage, the budget) is redone
    // from `start_after`, and must not count its skipped records twice.
    let mut already = 0u64;
    let mut more = false;
    let mut items: Vec<ReportItem> = Vec::new();
    let max_rows = if state.dry_run {
        DRY_RUN_ROWS
    } else {
        MAX_JOB_ROWS
    };
    'pages: loop {
        let page = ports
            .store
            .list(&index, after.as_deref(), 1000)
            .map_err(ledger::storage_error)?;
        for (key, value) in &page.entries {
            let rows_so_far = if state.dry_run {
                items.len()
            } else {
                csv.rows() as usize
            };
            let same_record = key.get(4..22) == Some(last_id.as_str());
            if rows_so_far >= max_rows && !same_record {
                // The next job starts at a record boundary.
                more = true;
                break 'pages;
            }
            after = Some(key.clone());
            entries += 1;
            let Some((named, person)) = ledger::parse_target_key(key) else {
                continue;
            };
            let skipped = sfid::compact(&named.id).is_some_and(|n| skip.binary_search(&n).is_ok());
            if skipped {
                already += 1;
                continue;
            }
            if state.dry_run {
                last_id = named.id.clone();
                items.push(ReportItem {
                    kind: ItemKind::WouldWrite,
                    person_id: person,
                    record: Some(named),
                    redirected: None,
                    target: None,
                    error: None,
                    owed: state.owed_for(object),
                });
                continue;
            }
            if named.id != last_id {
                csv.push(&named.id);
                last_id = named.id.clone();
            }
            let flag = if value.as_slice() == b"c" { "c" } else { "-" };
            lines.push_str(&format!(
                "{}\t{}\t{flag}\n",
                named.id,
                ledger::escape(&person)
            ));
            line_count += 1;
            if line_count.is_multiple_of(LINE_CHUNK) {
                // Written at once rather than held until the checkpoint: the
                // lines are scratch for this run, and holding them all would
                // double the guest's memory. A redo overwrites them.
                let blob = std::mem::take(&mut lines).into_bytes();
                ports
                    .store
                    .write(vec![WriteOp::Set(
                        format!("{prefix}lines/{chunks:06}"),
                        blob,
                    )])
                    .map_err(ledger::storage_error)?;
                chunks += 1;
            }
        }
        if page.next.is_none() {
            break;
        }
    }
    if !lines.is_empty() {
        ops.push(WriteOp::Set(
            format!("{prefix}lines/{chunks:06}"),
            lines.into_bytes(),
        ));
        chunks += 1;
    }
    for item in &items {
        add_item(state, item, &mut ops);
    }
    let rows = csv.rows();
    {
        let b = bulk_state(state);
        b.end_after = after.clone();
        b.more = more;
        b.line_chunks = chunks;
        b.rows = rows;
    }
    if rows == 0 {
        // Nothing to write in this stretch (or a dry run).
        state.done += entries;
        state.counts.already += already;
        let b = bulk_state(state);
        if more {
            b.start_after = after;
        } else {
            b.phase = Phase::Resolve;
            ops.extend(delete_skip_ops(state, object));
        }
        save(state, ops, ports)?;
        return Ok(entries);
    }
    api.check_budget(4)
        .map_err(|m| Interrupt::Stop(StopReason::Budget(m)))?;
    let fail = |e| interrupt(e, object, &state.fields);
    let (job, upload_path) = api_bulk::create_ingest_job(api, object).map_err(fail)?;
    api_bulk::upload(api, &upload_path, csv.finish()).map_err(fail)?;
    api_bulk::close(api, &job).map_err(fail)?;
    ports.log.write(
        Level::Info,
        &format!("Bulk write {job}: {rows} {}s to opt out", object.api_name()),
    );
    state.done += entries;
    state.counts.already += already;
    let b = bulk_state(state);
    b.phase = Phase::PollIngest { job };
    b.polls = 0;
    // The job's lines and the checkpoint land together: a crash before this
    // write redoes the build (the unsent or duplicate job writes the same
    // values); a crash after it resumes polling.
    save(state, ops, ports)?;
    Err(StepError::Wait(wait_for(0)))
}

/// Records a finished job's outcome, [`CHUNKS_PER_CALL`] line chunks at a time.
fn confirm(
    state: &mut RunState,
    object: SObject,
    job: &str,
    next_chunk: u32,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let prefix = blob_prefix(state, object);
    let failures = load_failures(&prefix, ports)?;
    let retrying: BTreeSet<String> = ports
        .store
        .list(ledger::RETRY, None, 1000)
        .map_err(ledger::storage_error)?
        .entries
        .iter()
        .filter_map(|(k, _)| k.rsplit_once('/').map(|(_, p)| ledger::unescape(p)))
        .collect();
    let line_chunks = bulk_state(state).line_chunks;
    let last = (next_chunk + CHUNKS_PER_CALL).min(line_chunks);
    let keys: Vec<String> = (next_chunk..last)
        .map(|i| format!("{prefix}lines/{i:06}"))
        .collect();
    let values = ports.store.get_many(&keys).map_err(ledger::storage_error)?;
    let now = ports.clock.now();
    let mut audit = AuditLog::open(ports.store)?;
    let mut ops = Vec::new();
    let mut touched: Vec<Touched> = Vec::new();
    let fields = state.fields_for(object);
    let owed = state.owed_for(object);
    let context = format!("nightly {} (Bulk job {job})", state.run_id);
    for (key, value) in keys.iter().zip(values) {
        let text = String::from_utf8(
            value.ok_or_else(|| SyncError::StorageFailure(format!("{key} is missing")))?,
        )
        .map_err(|e| SyncError::StorageFailure(format!("{key}: {e}")))?;
        for line in text.lines() {
            let mut parts = line.split('\t');
            let (Some(id), Some(person), Some(flag)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let person_id = ledger::unescape(person);
            let named = RecordRef {
                object,
                id: id.to_string(),
            };
            match failures.get(id) {
                None => {
                    let reasserted = flag == "c";
                    if reasserted {
                        state.counts.reasserted += 1;
                    } else {
                        state.counts.written += 1;
                    }
                    state.count_owed(&owed);
                    if reasserted || !owed.is_empty() {
                        let kind = if reasserted {
                            ItemKind::Reasserted
                        } else {
                            ItemKind::Written
                        };
                        let item = ReportItem {
                            kind,
                            person_id: person_id.clone(),
                            record: Some(named.clone()),
                            redirected: None,
                            target: None,
                            error: None,
                            owed: owed.clone(),
                        };
                        add_item(state, &item, &mut ops);
                    }
                    if retrying.contains(&person_id) || !owed.is_empty() {
                        // Its record changes (a retry settled, a field owed):
                        // loaded below.
                        touched.push((person_id, None, named, reasserted));
                    } else {
                        let mut s = Settle {
                            now,
                            audit: &mut audit,
                            ops: &mut ops,
                            context: &context,
                        };
                        lifecycle::confirm_indexed(&named, &person_id, reasserted, &fields, &mut s);
                    }
                }
                Some(sf) => {
                    let failure = sf.clone().classify_on(&named, &fields);
                    match failure.disposition {
                        Disposition::Converted | Disposition::Deleted => {
                            bulk_state(state).resolve.push(ResolveEntry {
                                named,
                                person_id,
                                confirmed: flag == "c",
                            });
                        }
                        _ => {
                            state.counts.failed += 1;
                            add_item(
                                state,
                                &ReportItem {
                                    kind: ItemKind::Failed,
                                    person_id: person_id.clone(),
                                    record: Some(named.clone()),
                                    redirected: None,
                                    target: None,
                                    error: Some(failure.error.clone()),
                                    owed: Vec::new(),
                                },
                                &mut ops,
                            );
                            touched.push((person_id, Some(failure), named, false));
                        }
                    }
                }
            }
        }
        ops.push(WriteOp::Delete(key.clone()));
    }
    let mut s = Settle {
        now,
        audit: &mut audit,
        ops: &mut ops,
        context: &context,
    };
    update_persons(state, object, touched, &mut s, ports)?;
    audit.flush(&mut ops);
    let done = last >= line_chunks;
    let b = bulk_state(state);
    if done {
        ops.push(WriteOp::Delete(format!("{prefix}failed")));
        if b.more {
            b.start_after = b.end_after.clone();
            b.phase = Phase::Build;
        } else {
            b.phase = Phase::Resolve;
        }
        b.line_chunks = 0;
        b.rows = 0;
        if !b.more {
            ops.extend(delete_skip_ops(state, object));
        }
    } else {
        b.phase = Phase::Confirm {
            job: job.to_string(),
            next_chunk: last,
        };
    }
    save(state, ops, ports)?;
    Ok(0)
}

/// The job's failed rows, by ID.
fn load_failures(
    prefix: &str,
    ports: Ports<'_>,
) -> Result<BTreeMap<String, crate::model::SalesforceFailure>, SyncError> {
    let mut failures = BTreeMap::new();
    if let Some(csv) = ports
        .store
        .get(&format!("{prefix}failed"))
        .map_err(ledger::storage_error)?
    {
        api_bulk::read_csv(&csv, |headers, record| {
            if let (Some(id), Some(error)) = (
                api_bulk::column(headers, record, "Id"),
                api_bulk::column(headers, record, "sf__Error"),
            ) && let Ok(r) = sfid::parse(id)
            {
                failures.insert(r.id, errors::bulk_error(error));
            }
        })
        .map_err(|_| {
            SyncError::StorageFailure(format!("{prefix}failed holds an unreadable CSV"))
        })?;
    }
    Ok(failures)
}

/// A person whose record a job's outcome changes: the failure (none when
/// written), the record named, and whether it was confirmed before.
type Touched = (String, Option<errors::Failure>, RecordRef, bool);

/// Settles the person records a job's outcome changes: those written while
/// a retry was queued, and those whose row failed.
fn update_persons(
    state: &RunState,
    object: SObject,
    touched: Vec<Touched>,
    s: &mut Settle<'_>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    if touched.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = touched.iter().map(|(p, ..)| p.clone()).collect();
    let records = ledger::load_persons(ports.store, &ids)?;
    let fields = state.fields_for(object);
    for ((_, failure, named, reasserted), old) in touched.into_iter().zip(records) {
        let Some(mut record) = old else { continue };
        let outcome = match failure {
            None => Outcome::Confirmed(Confirmation {
                target: named,
                redirect: None,
                fields: fields.clone(),
                owed: state.owed_for(object),
                reasserted,
            }),
            Some(failure) if failure.is_retryable() => Outcome::Retry {
                at: named,
                fields: fields.clone(),
                error: failure.error,
            },
            Some(failure) => Outcome::Failed {
                at: named,
                fields: fields.clone(),
                error: failure.error,
                owed: Vec::new(),
            },
        };
        lifecycle::settle(&mut record, outcome, s);
    }
    Ok(())
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
