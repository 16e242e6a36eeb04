//! The REST path of the nightly: SOQL reads of 200 IDs, sObject Collections
//! writes of 200 records. Converted Leads and merged records are followed;
//! records already opted out are never written.

use std::collections::BTreeMap;

use crate::fields::{self, FieldCache};
use crate::ledger::{self, AuditLog, PersonRecord};
use crate::lifecycle::{self, Confirmation, Outcome, Settle};
use crate::model::{
    ItemKind, RecordRef, Redirect, ReportItem, SObject, SalesforceFailure, SyncError,
};
use crate::nightly::decide::{self, Decided, Unwritable};
use crate::nightly::report::add_item;
use crate::nightly::state::{PendingWrite, RunState, Stage};
use crate::nightly::{CHUNK, StepError, checkpoint_op, interrupt, next_stage};
use crate::ports::{Ports, WriteOp};
use crate::salesforce::api::OrgApi;
use crate::salesforce::errors::Disposition;
use crate::sfid;

/// Most records one collections call may carry (`plugin/SALESFORCE.md`,
/// "sObject Collections").
const COLLECTION_SIZE: usize = 200;

/// Learns which selected fields can be written on `object` before it is
/// walked. A describe costs a call, so it is made only when the field cache
/// knows of a problem with one of them (or when `force`d, by the Bulk path,
/// where one bad field would fail every row): a field installed since is then
/// written by this run. Fields never seen are tried, and a refusal teaches
/// the rest ([`decide`]).
pub(crate) fn prepare_fields(
    state: &mut RunState,
    object: SObject,
    force: bool,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let mut cache = FieldCache::load(ports.store)?;
    let now = ports.clock.now();
    let known_problem = !cache
        .plan_within(object, &state.fields, now, i64::MAX)
        .owed
        .is_empty();
    if !force && !known_problem {
        return Ok(());
    }
    let describe = api
        .describe(object)
        .map_err(|e| interrupt(e, object, &state.fields))?;
    cache.learn_describe(object, &describe, &state.fields, now);
    state.owed.retain(|o| o.field.object != object);
    for owed in cache.plan_within(object, &state.fields, now, i64::MAX).owed {
        state.learn_owed(owed);
    }
    let mut ops: Vec<WriteOp> = cache.store_op().into_iter().collect();
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(())
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
    let entries = decide::parse_entries(&page.entries);
    let mut ops = Vec::new();
    let now = ports.clock.now();
    let decided = decide::decide(state, object, &entries, api, ports.store, now, &mut ops)?;
    take_decisions(state, decided, &mut ops, ports)?;
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

/// Books a chunk's decisions: failures recorded, records already set
/// counted (and reported when they owe a field), writes queued.
pub(crate) fn take_decisions(
    state: &mut RunState,
    decided: Decided,
    ops: &mut Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    record_unwritable(state, decided.unwritable, ops, ports)?;
    for (entry, target) in decided.already {
        let owed = state.owed_for(target.object);
        if !state.fields_for(target.object).is_empty() {
            state.counts.already += 1;
        }
        if !owed.is_empty() {
            state.count_owed(&owed, 1);
            let item = ReportItem {
                kind: ItemKind::FieldOwed,
                person_id: entry.person_id.clone(),
                record: Some(entry.named.clone()),
                redirected: None,
                target: (target != entry.named).then_some(target),
                error: owed.first().map(|o| o.error()),
                owed,
            };
            add_item(state, &item, ops);
        }
    }
    state.pending.extend(decided.writes);
    Ok(())
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
    let context = format!("nightly {}", state.run_id);
    for (i, u) in unwritable.into_iter().enumerate() {
        state.counts.failed += 1;
        let item = ReportItem {
            kind: ItemKind::Failed,
            person_id: u.entry.person_id.clone(),
            record: Some(u.entry.named.clone()),
            redirected: u.redirect.map(|reason| Redirect {
                from: u.entry.named.clone(),
                reason,
            }),
            target: u.target.clone(),
            error: Some(u.error.clone()),
            owed: Vec::new(),
        };
        add_item(state, &item, ops);
        if let Some(Some(old)) = records.get(i) {
            let mut record = old.clone();
            let outcome = Outcome::Failed {
                at: u.target.unwrap_or(u.entry.named),
                fields: state.fields.clone(),
                error: u.error,
                owed: Vec::new(),
            };
            let mut s = Settle {
                now: ports.clock.now(),
                audit: &mut audit,
                ops,
                context: &context,
            };
            lifecycle::settle(&mut record, outcome, &mut s);
        }
    }
    audit.flush(ops);
    Ok(())
}

/// Writes the first (up to) 200 pending writes in one collections call and
/// records every outcome with the checkpoint, atomically. Records refused
/// only for a missing or read-only field are sent once more at once, without
/// it (one extra call), and the field is owed from then on.
pub(crate) fn flush_batch(
    state: &mut RunState,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), StepError> {
    let take = state.pending.len().min(COLLECTION_SIZE);
    let mut batch: Vec<PendingWrite> = state.pending[..take].to_vec();
    // Leads then Contacts: at most two type chunks per call.
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
            let owed = state.owed_for(p.target.object);
            add_item(state, &item(ItemKind::WouldWrite, p, None, owed), &mut ops);
        }
    } else if !live.is_empty() {
        let targets: Vec<&RecordRef> = live.iter().map(|(p, _)| &p.target).collect();
        let outcome = write_targets(state, &targets, api, &mut ops, ports)?;
        record_results(state, &live, &outcome, &mut ops, ports)?;
    }
    state.pending.drain(..take);
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(())
}

type WriteResults = BTreeMap<RecordRef, Result<(), SalesforceFailure>>;

/// Sends one collections update for `targets` (each with the fields writable
/// on its object), and once more for the records refused only for a field
/// that is then learned as owed.
fn write_targets(
    state: &mut RunState,
    targets: &[&RecordRef],
    api: &mut OrgApi<'_>,
    ops: &mut Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<WriteResults, StepError> {
    let mut outcome = send(state, targets, api)?;
    let mut refused_targets: Vec<&RecordRef> = Vec::new();
    for target in targets {
        let Some(Err(sf)) = outcome.get(*target) else {
            continue;
        };
        let fields = state.fields_for(target.object);
        let failure = sf.clone().classify_on(target, &fields);
        if let Some(refused) = fields::refused_field(&failure.error, &fields) {
            decide::learn_refused(state, refused, ports.store, ports.clock.now(), ops)?;
            refused_targets.push(target);
        }
    }
    refused_targets.dedup();
    let retry: Vec<&RecordRef> = refused_targets
        .into_iter()
        .filter(|t| !state.fields_for(t.object).is_empty())
        .collect();
    if !retry.is_empty() {
        outcome.extend(send(state, &retry, api)?);
    }
    Ok(outcome)
}

fn send(
    state: &RunState,
    targets: &[&RecordRef],
    api: &mut OrgApi<'_>,
) -> Result<WriteResults, StepError> {
    let mut rows: Vec<(RecordRef, Vec<String>)> = targets
        .iter()
        .map(|t| ((*t).clone(), state.fields_for(t.object)))
        .collect();
    rows.dedup_by(|a, b| a.0 == b.0);
    let results = api
        .update_collection(&rows)
        .map_err(|e| StepError::Interrupt(interrupt(e, rows[0].0.object, &state.fields)))?;
    Ok(rows.into_iter().map(|(t, _)| t).zip(results).collect())
}

fn item(
    kind: ItemKind,
    p: &PendingWrite,
    error: Option<SyncError>,
    owed: Vec<crate::model::OwedField>,
) -> ReportItem {
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
        owed,
    }
}

/// Records each written person's outcome through the record's lifecycle:
/// confirmation, retry or failure, with a report line where one is due.
fn record_results(
    state: &mut RunState,
    live: &[(PendingWrite, PersonRecord)],
    outcome: &WriteResults,
    ops: &mut Vec<WriteOp>,
    ports: Ports<'_>,
) -> Result<(), SyncError> {
    let now = ports.clock.now();
    let mut audit = AuditLog::open(ports.store)?;
    let context = format!("nightly {}", state.run_id);
    for (p, old) in live {
        let mut record = old.clone();
        let fields = state.fields_for(p.target.object);
        let owed = state.owed_for(p.target.object);
        let settled = match &outcome[&p.target] {
            Ok(()) => {
                let kind = if p.redirect.is_some() {
                    state.counts.redirected += 1;
                    Some(ItemKind::Redirected)
                } else if p.reassert {
                    state.counts.reasserted += 1;
                    Some(ItemKind::Reasserted)
                } else {
                    state.counts.written += 1;
                    (!owed.is_empty()).then_some(ItemKind::Written)
                };
                state.count_owed(&owed, 1);
                if let Some(kind) = kind {
                    add_item(state, &item(kind, p, None, owed.clone()), ops);
                }
                Outcome::Confirmed(Confirmation {
                    target: p.target.clone(),
                    redirect: p.redirect.map(|reason| (p.target.clone(), reason)),
                    fields,
                    owed,
                    reasserted: p.reassert,
                })
            }
            Err(sf) => {
                let failure = sf.clone().classify_on(&p.target, &fields);
                state.counts.failed += 1;
                let error = Some(failure.error.clone());
                add_item(state, &item(ItemKind::Failed, p, error, Vec::new()), ops);
                let at = p.target.clone();
                let error = failure.error.clone();
                // A converted Lead met here (converted since the read) is
                // followed by the next nightly's read: not a lost opt-out,
                // but reported and kept like any failure.
                if failure.is_retryable() && failure.disposition != Disposition::Converted {
                    Outcome::Retry { at, fields, error }
                } else {
                    Outcome::Failed {
                        at,
                        fields,
                        error,
                        owed: Vec::new(),
                    }
                }
            }
        };
        let mut s = Settle {
            now,
            audit: &mut audit,
            ops,
            context: &context,
        };
        lifecycle::settle(&mut record, settled, &mut s);
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
                owed: Vec::new(),
            },
            &mut ops,
        );
    }
    state.stage = Stage::Skipped { after: Some(last) };
    ops.push(checkpoint_op(state));
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(())
}
