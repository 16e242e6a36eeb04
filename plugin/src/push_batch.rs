//! `push-many`: a backlog of unsubscribes recorded in one atomic write and
//! written with sObject Collections, 200 records a call, instead of one
//! PATCH each. Every per-record rule of a single push holds: the same
//! intake (duplicates, stale events, older events never replacing a newer
//! record), the same field plan and refusals (field by field), the same
//! lifecycle for the outcome (audit, retries and backoff, failures), and a
//! converted or deleted record is followed exactly as a push follows it.
//! A record is sent once however many persons name it, and a field missing
//! on one object is dropped for that object alone, whether Salesforce refuses
//! it record by record or, as it does for a field it cannot see, the whole
//! call. A lone write still goes out as one PATCH.

use std::collections::BTreeMap;

use crate::fields::{self, FieldCache, FieldPlan};
use crate::intake::{self, Intake};
use crate::ledger::{self, AuditLog, PersonRecord};
use crate::model::{
    OwedField, PushOutcome, RecordRef, SObject, Settings, SyncError, UnsubscribeEvent,
};
use crate::ports::{Ports, WriteOp};
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::errors::{Disposition, Failure};
use crate::settings;
use crate::writer::{self, Attempt, Reached};

/// Most events one call takes (five collections calls: a call stays well
/// inside the host's deadline).
pub const MAX_EVENTS: usize = 1_000;
/// Most records one collections call carries (§3.1).
const COLLECTION_SIZE: usize = 200;

/// One person of the batch: the record before and after intake, and what
/// each of their events came to at intake.
struct Person {
    old: Option<PersonRecord>,
    record: PersonRecord,
    /// Whether an event of the batch holds an unsubscribe to write.
    to_write: bool,
}

/// Records every event, then writes the held ones. One answer per event, in
/// order: what a `push` of it alone would have answered.
pub fn push_many(
    settings: &Settings,
    events: &[UnsubscribeEvent],
    ports: Ports<'_>,
) -> Result<Vec<Result<PushOutcome, SyncError>>, SyncError> {
    if events.len() > MAX_EVENTS {
        return Err(SyncError::InvalidEvent(format!(
            "{} events in one push-many; at most {MAX_EVENTS}",
            events.len()
        )));
    }
    settings::validate(settings)?;
    let now = ports.clock.now();
    let mut answers: Vec<Option<Result<PushOutcome, SyncError>>> = vec![None; events.len()];
    let mut persons = load(events, ports)?;
    let mut audit = AuditLog::open(ports.store)?;
    let mut ops = Vec::new();
    // Intake, event by event, in the order given: a person named twice sees
    // the first event's effect when the second is taken in.
    let mut id_problems: BTreeMap<usize, SyncError> = BTreeMap::new();
    for (i, event) in events.iter().enumerate() {
        let clean = match intake::clean(event, now) {
            Ok(c) => c,
            Err(e) => {
                answers[i] = Some(Err(e));
                continue;
            }
        };
        let p = persons.get_mut(&clean.person_id).expect("loaded");
        let (taken, entries) = intake::apply(&mut p.record, &clean, now);
        for entry in &entries {
            audit.append(&mut ops, &clean.person_id, entry);
        }
        match taken {
            Intake::Stale(at) => answers[i] = Some(Ok(PushOutcome::Stale(at))),
            Intake::Duplicate => answers[i] = Some(Ok(PushOutcome::Duplicate)),
            Intake::Held { id_problem, .. } => {
                if let Some(problem) = id_problem {
                    id_problems.insert(i, SyncError::InvalidSalesforceId(problem));
                }
                p.to_write = true;
            }
        }
    }
    // Recorded before anything can fail: from here on every unsubscribe is safe.
    for p in persons.values() {
        if p.old.as_ref() != Some(&p.record) {
            ledger::record_ops(p.old.as_ref(), &p.record, &mut ops);
        }
    }
    audit.flush(&mut ops);
    ports.store.write(ops).map_err(ledger::storage_error)?;

    let outcomes = write_all(settings, &mut persons, now, &mut audit, ports)?;
    for (i, event) in events.iter().enumerate() {
        if answers[i].is_some() {
            continue;
        }
        let person_id = event.person_id.as_str();
        let outcome = outcomes
            .get(person_id)
            .cloned()
            .unwrap_or(Ok(PushOutcome::SkippedNoSalesforceId));
        answers[i] = Some(match id_problems.remove(&i) {
            Some(problem) => Err(problem),
            None => outcome,
        });
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every event answered"))
        .collect())
}

/// Reads every person the events name, with the field cache, in one
/// `get-many`.
fn load(
    events: &[UnsubscribeEvent],
    ports: Ports<'_>,
) -> Result<BTreeMap<String, Person>, SyncError> {
    let mut ids: Vec<String> = events.iter().map(|e| e.person_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let records = ledger::load_persons(ports.store, &ids)?;
    Ok(ids
        .into_iter()
        .zip(records)
        .map(|(id, old)| {
            let record = old.clone().unwrap_or_else(|| PersonRecord::new(&id));
            let person = Person {
                old,
                record,
                to_write: false,
            };
            (id, person)
        })
        .collect())
}

/// Writes every held unsubscribe of the batch that has a Salesforce ID;
/// the push outcome per person.
fn write_all(
    settings: &Settings,
    persons: &mut BTreeMap<String, Person>,
    now: i64,
    audit: &mut AuditLog,
    ports: Ports<'_>,
) -> Result<BTreeMap<String, Result<PushOutcome, SyncError>>, SyncError> {
    let selected = settings::fields_to_write(settings);
    let mut cache = FieldCache::load(ports.store)?;
    let mut api = OrgApi::new(ports.http, &settings.api_version);
    // Each record once, with the persons naming it (in the order of their
    // IDs): persons naming one record share its row and its result, so a
    // record is never sent twice, even where a call's 200 records end, and a
    // call takes 200 records whoever names them. Leads then Contacts (the
    // map's order): at most two type chunks per collections call.
    let mut records: BTreeMap<RecordRef, Vec<String>> = BTreeMap::new();
    for (id, p) in persons.iter().filter(|(_, p)| p.to_write) {
        if let Some(target) = p.record.target() {
            records.entry(target.clone()).or_default().push(id.clone());
        }
    }
    let records: Vec<(RecordRef, Vec<String>)> = records.into_iter().collect();
    let mut attempts: Vec<(String, Attempt)> = Vec::new();
    if let [(target, named_by)] = records.as_slice() {
        // A lone record goes out at once as one PATCH, as a push would.
        let attempt = writer::write_record(&mut api, target, &selected, &mut cache, now);
        attempts.extend(named_by.iter().map(|p| (p.clone(), attempt.clone())));
    } else {
        for chunk in records.chunks(COLLECTION_SIZE) {
            attempts.extend(write_chunk(chunk, &selected, &mut cache, now, &mut api));
        }
    }
    let mut ops: Vec<WriteOp> = Vec::new();
    let mut outcomes = BTreeMap::new();
    for (person_id, attempt) in attempts {
        let p = persons.get_mut(&person_id).expect("a person of the batch");
        let named = p.record.salesforce_id.clone().expect("a target has an ID");
        let outcome = writer::record_attempt(&mut p.record, &named, attempt, now, audit, &mut ops);
        outcomes.insert(person_id, outcome);
    }
    ops.extend(cache.store_op());
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(outcomes)
}

/// One collections call for up to 200 records (each with the persons naming
/// it), each with the fields its object can take; a field refused (for a
/// record, or for an object when the call is refused as a whole) is dropped
/// and the records sent again at once without it, and a converted or deleted
/// record is followed as a push follows it (its own requests).
fn write_chunk(
    chunk: &[(RecordRef, Vec<String>)],
    selected: &[String],
    cache: &mut FieldCache,
    now: i64,
    api: &mut OrgApi<'_>,
) -> Vec<(String, Attempt)> {
    let mut plans: BTreeMap<RecordRef, FieldPlan> = chunk
        .iter()
        .map(|(t, _)| (t.clone(), cache.plan(t.object, selected, now)))
        .collect();
    // What the first request tries, for the audit trail's attempt entry.
    let tried: BTreeMap<RecordRef, Vec<String>> = plans
        .iter()
        .map(|(t, p)| (t.clone(), p.write.clone()))
        .collect();
    let mut results: BTreeMap<RecordRef, Result<(), Failure>> = BTreeMap::new();
    let mut pending: Vec<RecordRef> = plans.keys().cloned().collect();
    // Each repeat drops a field: a record's own (at most one round per
    // selected field), or one object's when the whole call is refused (which
    // may hold the other object's records back one round per field of it).
    for _ in 0..=2 * selected.len() {
        let (sendable, nothing): (Vec<RecordRef>, Vec<RecordRef>) = pending
            .into_iter()
            .partition(|t| plans[t].nothing_writable().is_none());
        for t in nothing {
            let error = plans[&t].nothing_writable().expect("nothing writable");
            let failure = Failure {
                disposition: Disposition::Permanent,
                error,
            };
            results.insert(t, Err(failure));
        }
        if sendable.is_empty() {
            break;
        }
        let rows: Vec<(RecordRef, Vec<String>)> = sendable
            .iter()
            .map(|t| (t.clone(), plans[t].write.clone()))
            .collect();
        pending = Vec::new();
        match api.update_collection(&rows) {
            Err(e) => {
                let refusals = refused_in_call(&e, &rows);
                if refusals.is_empty() {
                    for (t, fields) in rows {
                        let failure = e.clone().classify(t.object, None, &fields);
                        results.insert(t, Err(failure));
                    }
                } else {
                    // Nothing of the call was saved: every record goes again,
                    // without the refused field where its object lacks it.
                    for refused in &refusals {
                        let field = &refused.field;
                        cache.learn(field.object, &field.field, Some(refused.problem), now);
                    }
                    for (t, _) in rows {
                        let plan = plans.get_mut(&t).expect("planned");
                        for refused in refusals.iter().filter(|r| r.field.object == t.object) {
                            plan.drop_refused(refused.clone());
                        }
                        pending.push(t);
                    }
                }
            }
            Ok(saved) => {
                for ((t, fields), result) in rows.into_iter().zip(saved) {
                    let failure = match result {
                        Ok(()) => {
                            results.insert(t, Ok(()));
                            continue;
                        }
                        Err(sf) => sf.classify_on(&t, &fields),
                    };
                    match fields::refused_field(&failure.error, &fields) {
                        Some(refused) => {
                            cache.learn(t.object, &refused.field.field, Some(refused.problem), now);
                            plans.get_mut(&t).expect("planned").drop_refused(refused);
                            pending.push(t);
                        }
                        None => {
                            results.insert(t, Err(failure));
                        }
                    }
                }
            }
        }
        if pending.is_empty() {
            break;
        }
    }
    let mut attempts = Vec::new();
    for (target, named_by) in chunk {
        let plan = plans[target].clone();
        let result = results
            .get(target)
            .cloned()
            .expect("every record of the chunk has a result");
        let attempt = match result {
            Err(f) if matches!(f.disposition, Disposition::Converted | Disposition::Deleted) => {
                writer::write_record(api, target, selected, cache, now)
            }
            result => Attempt {
                first: target.clone(),
                tried: tried[target].clone(),
                result: result.map(|()| Reached {
                    target: target.clone(),
                    redirect: None,
                    redirect_cause: None,
                }),
                written: plan.write,
                owed: plan.owed,
            },
        };
        // Persons naming one record share its result.
        attempts.extend(named_by.iter().map(|p| (p.clone(), attempt.clone())));
    }
    attempts
}

/// The fields a collections call was refused for as a whole: a field the
/// integration user cannot see fails the whole request with a REST-shaped
/// `INVALID_FIELD` (`plugin/SALESFORCE.md` §3.4), so no record was saved.
/// Each is on the object Salesforce's message names (`No such column 'X'
/// on sobject of type Lead`); when it names none, on every object of the
/// call that sent the field (a field wrongly taken as missing stays owed, is
/// reported, and is written by the nightly, whose describe corrects the
/// cache). Empty for any other failure.
fn refused_in_call(e: &RequestError, rows: &[(RecordRef, Vec<String>)]) -> Vec<OwedField> {
    let RequestError::Status(sf) = e else {
        return Vec::new();
    };
    let named = named_object(&sf.message);
    SObject::ALL
        .into_iter()
        .filter(|object| named.is_none_or(|n| n == *object))
        .filter_map(|object| {
            // Every field some record of the object sent.
            let mut sent: Vec<String> = rows
                .iter()
                .filter(|(t, _)| t.object == object)
                .flat_map(|(_, fields)| fields.iter().cloned())
                .collect();
            sent.sort();
            sent.dedup();
            let failure = e.clone().classify(object, None, &sent);
            fields::refused_field(&failure.error, &sent)
        })
        .collect()
}

/// The object a write error's message names (`… on sobject of type Lead`,
/// or a query's `… on entity 'Lead'`).
fn named_object(message: &str) -> Option<SObject> {
    let (_, rest) = message
        .split_once("sobject of type ")
        .or_else(|| message.split_once("entity '"))?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    SObject::from_api_name(&name)
}
