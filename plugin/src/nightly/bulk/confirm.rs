//! A finished ingest job: its failed rows kept, every row's outcome recorded
//! through the record lifecycle, converted and deleted rows resolved over
//! REST.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    CHUNKS_PER_CALL, Phase, ResolveEntry, blob_prefix, bulk_state, delete_lines, delete_skip_ops,
    fall_back_from, finish_object, poll_again, save,
};
use crate::ledger::{self, AuditLog};
use crate::lifecycle::{self, Confirmation, Outcome, Settle};
use crate::model::{ItemKind, RecordRef, ReportItem, SObject, SyncError};
use crate::nightly::collections;
use crate::nightly::decide::{self, Entry};
use crate::nightly::report::add_item;
use crate::nightly::state::RunState;
use crate::nightly::{Interrupt, StepError, interrupt};
use crate::ports::{HttpFailure, Ports, WriteOp};
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::bulk as api_bulk;
use crate::salesforce::errors::{self, Disposition};
use crate::sfid;

/// Polls the ingest job; when it is done, keeps its failed rows for the
/// confirmation.
pub(super) fn poll_ingest(
    state: &mut RunState,
    object: SObject,
    job: &str,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let info = api_bulk::ingest_job(api, job).map_err(|e| interrupt(e, object, &state.fields))?;
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
        match api_bulk::failed_results(api, job) {
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
    bulk_state(state).phase = Phase::Confirm {
        job: job.to_string(),
        next_chunk: 0,
    };
    save(state, ops, ports)?;
    Ok(0)
}

/// Follows the converted and deleted records among the failed rows over
/// REST, as the collections path does, then leaves the Bulk path.
pub(super) fn resolve(
    state: &mut RunState,
    object: SObject,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let resolve = std::mem::take(&mut bulk_state(state).resolve);
    if resolve.is_empty() {
        finish_object(state, object, Vec::new(), ports)?;
        return Ok(0);
    }
    let entries: Vec<Entry> = resolve
        .iter()
        .map(|r| Entry {
            named: r.named.clone(),
            person_id: r.person_id.clone(),
            confirmed: r.confirmed,
        })
        .collect();
    let mut ops = Vec::new();
    let now = ports.clock.now();
    let decided = decide::decide(state, object, &entries, api, ports.store, now, &mut ops)
        .inspect_err(|_| {
            // Keep them for the redo of this step.
            bulk_state(state).resolve = resolve.clone();
        })?;
    collections::take_decisions(state, decided, &mut ops, ports)?;
    finish_object(state, object, ops, ports)?;
    Ok(0)
}

/// Records a finished job's outcome, [`CHUNKS_PER_CALL`] line chunks at a time.
pub(super) fn confirm(
    state: &mut RunState,
    object: SObject,
    job: &str,
    next_chunk: u32,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    let prefix = blob_prefix(state, object);
    let line_chunks = bulk_state(state).line_chunks;
    let last = (next_chunk + CHUNKS_PER_CALL).min(line_chunks);
    let keys: Vec<String> = (next_chunk..last)
        .map(|i| format!("{prefix}lines/{i:06}"))
        .collect();
    let values = ports.store.get_many(&keys).map_err(ledger::storage_error)?;
    let mut audit = AuditLog::open(ports.store)?;
    let mut ops = Vec::new();
    let context = format!("nightly {} (Bulk job {job})", state.run_id);
    let mut c = Confirming {
        failures: load_failures(&prefix, ports)?,
        retrying: retrying(ports)?,
        fields: state.fields_for(object),
        owed: state.owed_for(object),
        touched: Vec::new(),
        s: Settle {
            now: ports.clock.now(),
            audit: &mut audit,
            ops: &mut ops,
            context: &context,
        },
    };
    for (key, value) in keys.iter().zip(values) {
        let text = String::from_utf8(
            value.ok_or_else(|| SyncError::StorageFailure(format!("{key} is missing")))?,
        )
        .map_err(|e| SyncError::StorageFailure(format!("{key}: {e}")))?;
        for line in text.lines() {
            c.line(state, object, line);
        }
        c.s.ops.push(WriteOp::Delete(key.clone()));
    }
    let touched = std::mem::take(&mut c.touched);
    update_persons(state, object, touched, &mut c.s, ports)?;
    drop(c);
    audit.flush(&mut ops);
    advance(state, object, job, last, &mut ops);
    save(state, ops, ports)?;
    Ok(0)
}

/// The persons with a retry queued (their record is settled, not only
/// indexed, when their row is written).
fn retrying(ports: Ports<'_>) -> Result<BTreeSet<String>, SyncError> {
    Ok(ports
        .store
        .list(ledger::RETRY, None, 1000)
        .map_err(ledger::storage_error)?
        .entries
        .iter()
        .filter_map(|(k, _)| k.rsplit_once('/').map(|(_, p)| ledger::unescape(p)))
        .collect())
}

/// After a confirmation step: the next chunk, the next job, or the REST
/// resolution.
fn advance(state: &mut RunState, object: SObject, job: &str, last: u32, ops: &mut Vec<WriteOp>) {
    let prefix = blob_prefix(state, object);
    let b = bulk_state(state);
    if last < b.line_chunks {
        b.phase = Phase::Confirm {
            job: job.to_string(),
            next_chunk: last,
        };
        return;
    }
    ops.push(WriteOp::Delete(format!("{prefix}failed")));
    b.line_chunks = 0;
    b.rows = 0;
    if b.more {
        b.start_after = b.end_after.clone();
        b.phase = Phase::Build;
    } else {
        b.phase = Phase::Resolve;
        ops.extend(delete_skip_ops(state, object));
    }
}

/// One confirmation step's context.
struct Confirming<'a> {
    failures: BTreeMap<String, crate::model::SalesforceFailure>,
    retrying: BTreeSet<String>,
    fields: Vec<String>,
    owed: Vec<crate::model::OwedField>,
    touched: Vec<Touched>,
    s: Settle<'a>,
}

impl Confirming<'_> {
    /// One line of the job (`id \t person \t c|-`): its row written or failed.
    fn line(&mut self, state: &mut RunState, object: SObject, line: &str) {
        let mut parts = line.split('\t');
        let (Some(id), Some(person), Some(flag)) = (parts.next(), parts.next(), parts.next())
        else {
            return;
        };
        let person_id = ledger::unescape(person);
        let named = RecordRef {
            object,
            id: id.to_string(),
        };
        let reasserted = flag == "c";
        match self.failures.get(id) {
            None => self.written(state, person_id, named, reasserted),
            Some(sf) => {
                let failure = sf.clone().classify_on(&named, &self.fields);
                if matches!(
                    failure.disposition,
                    Disposition::Converted | Disposition::Deleted
                ) {
                    bulk_state(state).resolve.push(ResolveEntry {
                        named,
                        person_id,
                        confirmed: reasserted,
                    });
                    return;
                }
                state.counts.failed += 1;
                let item = ReportItem {
                    kind: ItemKind::Failed,
                    person_id: person_id.clone(),
                    record: Some(named.clone()),
                    redirected: None,
                    target: None,
                    error: Some(failure.error.clone()),
                    owed: Vec::new(),
                };
                add_item(state, &item, self.s.ops);
                self.touched.push((person_id, Some(failure), named, false));
            }
        }
    }

    fn written(
        &mut self,
        state: &mut RunState,
        person_id: String,
        named: RecordRef,
        reasserted: bool,
    ) {
        if reasserted {
            state.counts.reasserted += 1;
        } else {
            state.counts.written += 1;
        }
        state.count_owed(&self.owed, 1);
        if reasserted || !self.owed.is_empty() {
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
                owed: self.owed.clone(),
            };
            add_item(state, &item, self.s.ops);
        }
        if self.retrying.contains(&person_id) || !self.owed.is_empty() {
            // Its record changes (a retry settled, a field owed): loaded and
            // settled with the step's other touched persons.
            self.touched.push((person_id, None, named, reasserted));
        } else {
            lifecycle::confirm_indexed(&named, &person_id, reasserted, &self.fields, &mut self.s);
        }
    }
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
