//! The REST path of the nightly: SOQL reads of 200 IDs, sObject Collections
//! writes of 200 records. Converted Leads and merged records are followed;
//! records already opted out are never written.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::ledger::{self, AuditLog, PersonRecord};
use crate::model::{
    AuditEntry, AuditKind, ItemKind, RecordRef, Redirect, RedirectReason, ReportItem, SObject,
    SalesforceFailure, SyncError,
};
use crate::nightly::report::add_item;
use crate::nightly::state::{PendingWrite, RunState, Stage};
use crate::nightly::{CHUNK, Interrupt, StepError, checkpoint_op, interrupt, next_stage};
use crate::ports::{Ports, WriteOp};
use crate::salesforce::api::OrgApi;
use crate::salesforce::errors::{self, Disposition};
use crate::salesforce::soql;
use crate::sfid;
use crate::writer;

/// Most records one collections call may carry (§3.1).
const COLLECTION_SIZE: usize = 200;

/// One target index entry.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The record the unsubscribe names.
    pub named: RecordRef,
    /// The person.
    pub person_id: String,
    /// Confirmed before.
    pub confirmed: bool,
}

/// A held unsubscribe the run could not write, with why.
pub(crate) struct Unwritable {
    pub entry: Entry,
    pub target: Option<RecordRef>,
    pub redirect: Option<RedirectReason>,
    pub error: SyncError,
}

/// Parses a page of index entries.
pub(crate) fn parse_entries(page: &[(String, Vec<u8>)]) -> Vec<Entry> {
    page.iter()
        .filter_map(|(key, value)| {
            let (named, person_id) = ledger::parse_target_key(key)?;
            Some(Entry {
                named,
                person_id,
                confirmed: value.as_slice() == b"c",
            })
        })
        .collect()
}

/// Walks one chunk of an object's index: reads, decides, writes full batches.
/// Returns the number of index entries dealt with.
pub(crate) fn walk_chunk(
    state: &mut RunState,
    object: SObject,
    after: Option<String>,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    // Full batches left by a stopped or interrupted call go out before more
    // is read.
    while state.pending.len() >= COLLECTION_SIZE {
        flush_batch(state, api, ports)?;
    }
    let page = ports
        .store
        .list(&ledger::target_prefix(object), after.as_deref(), CHUNK)
        .map_err(ledger::storage_error)?;
    let Some((last_key, _)) = page.entries.last() else {
        state.stage = next_stage(object);
        return Ok(0);
    };
    let last_key = last_key.clone();
    let entries = parse_entries(&page.entries);
    let decided = decide(state, object, &entries, api)?;
    let mut ops = Vec::new();
    record_unwritable(state, decided.unwritable, &mut ops, ports)?;
    state.counts.already += decided.already;
    state.pending.extend(decided.writes);
    state.done += page.entries.len() as u64;
    state.stage = Stage::Walk {
        object,
        after: Some(last_key),
    };
    // The decisions and the checkpoint land together; full batches are then
    // written, each with its own checkpoint.
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    while state.pending.len() >= COLLECTION_SIZE {
        flush_batch(state, api, ports)?;
    }
    Ok(page.entries.len() as u64)
}

/// What a chunk's reads decided.
pub(crate) struct Decided {
    pub already: u64,
    pub writes: Vec<PendingWrite>,
    pub unwritable: Vec<Unwritable>,
}

/// Reads a chunk's records (and where needed the records they lead to) and
/// decides, for each entry, nothing / a write / a failure.
pub(crate) fn decide(
    state: &RunState,
    object: SObject,
    entries: &[Entry],
    api: &mut OrgApi<'_>,
) -> Result<Decided, Interrupt> {
    let fields = state.fields.clone();
    let ids: BTreeSet<&str> = entries.iter().map(|e| e.named.id.as_str()).collect();
    let mut select: Vec<&str> = vec!["Id"];
    select.extend(fields.iter().map(String::as_str));
    if object == SObject::Lead {
        select.extend(["IsConverted", "ConvertedContactId"]);
    }
    let rows = read(
        api,
        object,
        &select,
        &ids.into_iter().collect::<Vec<_>>(),
        false,
        &fields,
    )?;

    let mut decided = Decided {
        already: 0,
        writes: Vec::new(),
        unwritable: Vec::new(),
    };
    let mut missing: Vec<&Entry> = Vec::new();
    let mut redirects: Vec<(&Entry, RecordRef, RedirectReason)> = Vec::new();
    for entry in entries {
        match rows.get(&entry.named.id) {
            None => missing.push(entry),
            Some(row) if row.get("IsConverted").and_then(Value::as_bool) == Some(true) => match row
                .get("ConvertedContactId")
                .and_then(Value::as_str)
                .and_then(|id| sfid::parse(id).ok())
            {
                Some(contact) => redirects.push((entry, contact, RedirectReason::ConvertedLead)),
                None => decided.unwritable.push(Unwritable {
                    entry: entry.clone(),
                    target: None,
                    redirect: None,
                    error: SyncError::SalesforceError(SalesforceFailure {
                        status: 400,
                        code: "CANNOT_UPDATE_CONVERTED_LEAD".into(),
                        message:
                            "the Lead is converted and has no ConvertedContactId to write instead"
                                .into(),
                        fields: Vec::new(),
                    }),
                }),
            },
            Some(row) if all_set(row, &fields) => decided.already += 1,
            Some(_) => decided.writes.push(PendingWrite {
                person_id: entry.person_id.clone(),
                named: entry.named.clone(),
                target: entry.named.clone(),
                redirect: None,
                reassert: entry.confirmed,
            }),
        }
    }

    if !missing.is_empty() {
        let ids: Vec<&str> = missing.iter().map(|e| e.named.id.as_str()).collect();
        let deleted = read(
            api,
            object,
            &["Id", "IsDeleted", "MasterRecordId"],
            &ids,
            true,
            &fields,
        )?;
        for entry in missing {
            let master = deleted
                .get(&entry.named.id)
                .and_then(|row| row.get("MasterRecordId"))
                .and_then(Value::as_str)
                .and_then(|id| sfid::parse(id).ok());
            match (master, deleted.contains_key(&entry.named.id)) {
                (Some(master), _) => redirects.push((entry, master, RedirectReason::Merged)),
                (None, true) => decided.unwritable.push(Unwritable {
                    entry: entry.clone(),
                    target: None,
                    redirect: None,
                    error: SyncError::RecordDeleted(entry.named.clone()),
                }),
                (None, false) => decided.unwritable.push(Unwritable {
                    entry: entry.clone(),
                    target: None,
                    redirect: None,
                    error: SyncError::SalesforceError(SalesforceFailure {
                        status: 404,
                        code: "NOT_FOUND".into(),
                        message: format!(
                            "no {} with this ID in the org (purged, or from another org); send the right ID",
                            object.api_name()
                        ),
                        fields: Vec::new(),
                    }),
                }),
            }
        }
    }

    // Read the records the redirects lead to, so those already opted out are
    // not written either.
    let mut by_object: BTreeMap<SObject, Vec<&str>> = BTreeMap::new();
    for (_, target, _) in &redirects {
        by_object
            .entry(target.object)
            .or_default()
            .push(target.id.as_str());
    }
    let mut target_rows: BTreeMap<String, Value> = BTreeMap::new();
    for (target_object, ids) in by_object {
        let mut select: Vec<&str> = vec!["Id"];
        select.extend(fields.iter().map(String::as_str));
        target_rows.extend(read(api, target_object, &select, &ids, false, &fields)?);
    }
    for (entry, target, reason) in redirects {
        match target_rows.get(&target.id) {
            Some(row) if all_set(row, &fields) => decided.already += 1,
            Some(_) => decided.writes.push(PendingWrite {
                person_id: entry.person_id.clone(),
                named: entry.named.clone(),
                target,
                redirect: Some(reason),
                reassert: entry.confirmed,
            }),
            None => decided.unwritable.push(Unwritable {
                entry: entry.clone(),
                target: Some(target.clone()),
                redirect: Some(reason),
                error: SyncError::RecordDeleted(target),
            }),
        }
    }
    Ok(decided)
}

/// Runs `SELECT select FROM object WHERE Id IN ids` (or queryAll), in chunks
/// that fit the URI limit; rows keyed by their 18-character Id.
fn read(
    api: &mut OrgApi<'_>,
    object: SObject,
    select: &[&str],
    ids: &[&str],
    all: bool,
    fields: &[String],
) -> Result<BTreeMap<String, Value>, Interrupt> {
    let mut rows = BTreeMap::new();
    for chunk in soql::chunk_ids(api.version(), select, object, ids) {
        let query = soql::select_by_ids(select, object, &chunk);
        let found = api
            .query(&query, all)
            .map_err(|e| interrupt(e, object, fields))?;
        for row in found {
            if let Some(id) = row
                .get("Id")
                .and_then(Value::as_str)
                .and_then(|id| sfid::parse(id).ok())
            {
                rows.insert(id.id, row);
            }
        }
    }
    Ok(rows)
}

/// Every selected field is true in a row (a query or record answer). A
/// missing field counts as not set.
pub fn all_set(row: &Value, fields: &[String]) -> bool {
    fields.iter().all(|f| {
        row.get(f)
            .or_else(|| {
                // Salesforce echoes API names in their canonical case.
                row.as_object().and_then(|o| {
                    o.iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(f))
                        .map(|(_, v)| v)
                })
            })
            .and_then(Value::as_bool)
            == Some(true)
    })
}

/// Records failures decided without a write (deleted, purged, converted with
/// no Contact): report lines, and on real runs the person's failed state.
pub(crate) fn record_unwritable(
    state: &mut RunState,
    unwritable: Vec<Unwritable>,
    ops: &mut Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    if unwritable.is_empty() {
        return Ok(());
    }
    let persons: Vec<String> = unwritable
        .iter()
        .map(|u| u.entry.person_id.clone())
        .collect();
    let records = if state.dry_run {
        Vec::new()
    } else {
        ledger::load_persons(ports.store, &persons)?
    };
    let mut audit = AuditLog::open(ports.store)?;
    let now = ports.clock.now();
    for (i, u) in unwritable.into_iter().enumerate() {
        state.counts.failed += 1;
        add_item(
            state,
            &ReportItem {
                kind: ItemKind::Failed,
                person_id: u.entry.person_id.clone(),
                record: Some(u.entry.named.clone()),
                redirected: u.redirect.map(|reason| Redirect {
                    from: u.entry.named.clone(),
                    reason,
                }),
                target: u.target.clone(),
                error: Some(u.error.clone()),
            },
            ops,
        );
        if let Some(Some(old)) = records.get(i) {
            let mut record = old.clone();
            record.failed = true;
            // A permanent failure leaves the retry queue, as a push's does
            // (`writer::record_attempt`): the next nightly tries again.
            record.retry_key = None;
            record.last_error = Some(u.error.clone());
            audit.append(
                ops,
                &record.person_id,
                &AuditEntry {
                    at: now,
                    kind: AuditKind::Failed,
                    record: Some(u.target.unwrap_or(u.entry.named)),
                    fields: state.fields.clone(),
                    error_code: u.error.code(),
                    detail: format!("nightly {}: {}", state.run_id, u.error),
                },
            );
            ledger::record_ops(Some(old), &record, ops);
        }
    }
    audit.flush(ops);
    Ok(())
}

/// Writes the first (up to) 200 pending writes in one collections call and
/// records every outcome with the checkpoint, atomically.
pub(crate) fn flush_batch(
    state: &mut RunState,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let take = state.pending.len().min(COLLECTION_SIZE);
    let mut batch: Vec<PendingWrite> = state.pending[..take].to_vec();
    // Leads then Contacts: at most two type chunks per call (§3.1).
    batch.sort_by(|a, b| a.target.cmp(&b.target));
    let person_ids: Vec<String> = batch.iter().map(|p| p.person_id.clone()).collect();
    let records = ledger::load_persons(ports.store, &person_ids)?;
    // A person released or given another ID since the read is not written.
    let live: Vec<(PendingWrite, PersonRecord)> = batch
        .into_iter()
        .zip(records)
        .filter_map(|(p, r)| match r {
            Some(r) if r.held && r.salesforce_id.as_ref() == Some(&p.named) => Some((p, r)),
            _ => None,
        })
        .collect();
    let mut ops = Vec::new();
    if state.dry_run {
        for (p, _) in &live {
            add_item(state, &item(ItemKind::WouldWrite, p, None), &mut ops);
        }
    } else if !live.is_empty() {
        let mut targets: Vec<(RecordRef, Vec<String>)> = live
            .iter()
            .map(|(p, _)| (p.target.clone(), state.fields.clone()))
            .collect();
        targets.dedup_by(|a, b| a.0 == b.0);
        let results = api.update_collection(&targets).map_err(|e| {
            StepError::Interrupt(interrupt(
                e,
                live[0]
                    .1
                    .salesforce_id
                    .as_ref()
                    .map_or(SObject::Lead, |r| r.object),
                &state.fields,
            ))
        })?;
        let outcome: BTreeMap<RecordRef, Result<(), SalesforceFailure>> =
            targets.into_iter().map(|(t, _)| t).zip(results).collect();
        record_results(state, &live, &outcome, &mut ops, ports)?;
    }
    state.pending.drain(..take);
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(())
}

fn item(kind: ItemKind, p: &PendingWrite, error: Option<SyncError>) -> ReportItem {
    ReportItem {
        kind,
        person_id: p.person_id.clone(),
        record: Some(p.named.clone()),
        redirected: p.redirect.map(|reason| Redirect {
            from: p.named.clone(),
            reason,
        }),
        target: p.redirect.map(|_| p.target.clone()),
        error,
    }
}

/// Records each written person's outcome: confirmation, retry or failure.
fn record_results(
    state: &mut RunState,
    live: &[(PendingWrite, PersonRecord)],
    outcome: &BTreeMap<RecordRef, Result<(), SalesforceFailure>>,
    ops: &mut Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    let now = ports.clock.now();
    let mut audit = AuditLog::open(ports.store)?;
    for (p, old) in live {
        let mut record = old.clone();
        match &outcome[&p.target] {
            Ok(()) => {
                if let Some(reason) = p.redirect {
                    state.counts.redirected += 1;
                    add_item(state, &item(ItemKind::Redirected, p, None), ops);
                    record.redirect = Some((p.target.clone(), reason));
                } else if p.reassert {
                    state.counts.reasserted += 1;
                    add_item(state, &item(ItemKind::Reasserted, p, None), ops);
                } else {
                    state.counts.written += 1;
                }
                record.confirmed_at = Some(now);
                record.attempts = 0;
                record.failed = false;
                record.last_error = None;
                record.retry_key = None;
                let what = if p.reassert { "re-asserted" } else { "written" };
                audit.append(
                    ops,
                    &record.person_id,
                    &AuditEntry {
                        at: now,
                        kind: AuditKind::Confirmed,
                        record: Some(p.target.clone()),
                        fields: state.fields.clone(),
                        error_code: None,
                        detail: format!("nightly {}: {what}", state.run_id),
                    },
                );
            }
            Err(sf) => {
                let failure = errors::classify(sf.clone(), &p.target, &state.fields);
                state.counts.failed += 1;
                add_item(
                    state,
                    &item(ItemKind::Failed, p, Some(failure.error.clone())),
                    ops,
                );
                record.attempts += 1;
                record.last_error = Some(failure.error.clone());
                if failure.is_retryable() {
                    // Lock contention and the like: the retry queue tries again.
                    let due = now + writer::backoff_ms(record.attempts);
                    ledger::queue_retry(&mut record, due, now, ops);
                } else if failure.disposition != Disposition::Converted {
                    record.failed = true;
                    // Permanent: out of the retry queue (see `record_unwritable`).
                    record.retry_key = None;
                }
                audit.append(
                    ops,
                    &record.person_id,
                    &AuditEntry {
                        at: now,
                        kind: if failure.is_retryable() {
                            AuditKind::Queued
                        } else {
                            AuditKind::Failed
                        },
                        record: Some(p.target.clone()),
                        fields: state.fields.clone(),
                        error_code: failure.error.code(),
                        detail: format!("nightly {}: {}", state.run_id, failure.error),
                    },
                );
            }
        }
        ledger::record_ops(Some(old), &record, ops);
    }
    audit.flush(ops);
    Ok(())
}

/// Writes everything still pending, then moves on to the report.
pub(crate) fn flush_all(
    state: &mut RunState,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    if state.pending.is_empty() {
        state.stage = Stage::Finish;
        return Ok(());
    }
    flush_batch(state, api, ports)
}

/// Lists the held unsubscribes without an ID as report lines (R6).
pub(crate) fn list_skipped(
    state: &mut RunState,
    after: Option<String>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let page = ports
        .store
        .list(ledger::NO_ID, after.as_deref(), 500)
        .map_err(ledger::storage_error)?;
    let Some((last, _)) = page.entries.last() else {
        state.stage = Stage::Flush;
        return Ok(());
    };
    let last = last.clone();
    let persons: Vec<String> = page
        .entries
        .iter()
        .filter_map(|(k, _)| k.strip_prefix(ledger::NO_ID).map(ledger::unescape))
        .collect();
    let records = ledger::load_persons(ports.store, &persons)?;
    let mut ops = Vec::new();
    for (person_id, record) in persons.into_iter().zip(records) {
        state.counts.skipped += 1;
        let error = record
            .and_then(|r| r.invalid_id)
            .and_then(|raw| sfid::parse(&raw).err())
            .map(SyncError::InvalidSalesforceId);
        add_item(
            state,
            &ReportItem {
                kind: ItemKind::SkippedNoSalesforceId,
                person_id,
                record: None,
                redirected: None,
                target: None,
                error,
            },
            &mut ops,
        );
    }
    state.stage = Stage::Skipped { after: Some(last) };
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(())
}
