//! The nightly's read-before-write for one chunk of held unsubscribes: SOQL
//! reads of up to 200 records (and of the records conversions and merges lead
//! to), and for each entry the decision: nothing to write, a write, or a
//! failure. Shared by the collections path and the Bulk path's resolution of
//! converted and deleted rows.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::fields::{self, FieldCache};
use crate::follow;
use crate::ledger;
use crate::model::{
    OwedField, RecordRef, RedirectReason, SObject, SalesforceFailure, SyncError, Timestamp,
};
use crate::nightly::state::{PendingWrite, RunState};
use crate::nightly::{Interrupt, interrupt};
use crate::ports::{Store, WriteOp};
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::soql;
use crate::sfid;

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

/// What a chunk's reads decided.
pub(crate) struct Decided {
    /// Entries whose record has every writable field set.
    pub already: Vec<(Entry, RecordRef)>,
    pub writes: Vec<PendingWrite>,
    pub unwritable: Vec<Unwritable>,
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

/// Reads a chunk's records (and where needed the records they lead to) and
/// decides, for each entry, nothing / a write / a failure. `ops` receives
/// what a refused field teaches the field cache.
pub(crate) fn decide(
    state: &mut RunState,
    object: SObject,
    entries: &[Entry],
    api: &mut OrgApi<'_>,
    store: &dyn Store,
    now: Timestamp,
    ops: &mut Vec<WriteOp>,
) -> Result<Decided, Interrupt> {
    let mut decided = Decided {
        already: Vec::new(),
        writes: Vec::new(),
        unwritable: Vec::new(),
    };
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e.named.id.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let extra: &[&str] = if object == SObject::Lead {
        &follow::CONVERSION_FIELDS
    } else {
        &[]
    };
    let rows = read_fields(state, object, extra, &ids, api, store, now, ops)?;
    let fields = state.fields_for(object);
    let mut missing: Vec<&Entry> = Vec::new();
    let mut redirects: Vec<(&Entry, RecordRef, RedirectReason)> = Vec::new();
    for entry in entries {
        match rows.get(&entry.named.id) {
            None => missing.push(entry),
            Some(row) if follow::is_converted(row) => match follow::converted_contact(row) {
                Some(contact) => redirects.push((entry, contact, RedirectReason::ConvertedLead)),
                None => decided
                    .unwritable
                    .push(unwritable(entry, None, None, no_contact())),
            },
            Some(row) if all_set(row, &fields) => {
                decided.already.push((entry.clone(), entry.named.clone()));
            }
            Some(_) => decided
                .writes
                .push(pending(entry, entry.named.clone(), None)),
        }
    }
    resolve_missing(state, object, &missing, api, &mut redirects, &mut decided)?;
    decide_redirects(state, redirects, api, store, now, ops, &mut decided)?;
    Ok(decided)
}

/// Deleted or purged records: a merge survivor is followed, the rest fail.
fn resolve_missing<'e>(
    state: &RunState,
    object: SObject,
    missing: &[&'e Entry],
    api: &mut OrgApi<'_>,
    redirects: &mut Vec<(&'e Entry, RecordRef, RedirectReason)>,
    decided: &mut Decided,
) -> Result<(), Interrupt> {
    if missing.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = missing.iter().map(|e| e.named.id.as_str()).collect();
    let deleted = read(api, object, &follow::MERGE_FIELDS, &ids, true)
        .map_err(|e| interrupt(e, object, &state.fields))?;
    for &entry in missing {
        let row = deleted.get(&entry.named.id);
        match row.and_then(|r| follow::merge_survivor(r, object)) {
            Some(master) => redirects.push((entry, master, RedirectReason::Merged)),
            None if row.is_some() => decided.unwritable.push(unwritable(
                entry,
                None,
                None,
                SyncError::RecordDeleted(entry.named.clone()),
            )),
            None => decided
                .unwritable
                .push(unwritable(entry, None, None, not_found(object))),
        }
    }
    Ok(())
}

/// Reads the records the redirects lead to, so those already opted out are
/// not written either.
fn decide_redirects(
    state: &mut RunState,
    redirects: Vec<(&Entry, RecordRef, RedirectReason)>,
    api: &mut OrgApi<'_>,
    store: &dyn Store,
    now: Timestamp,
    ops: &mut Vec<WriteOp>,
    decided: &mut Decided,
) -> Result<(), Interrupt> {
    let mut by_object: BTreeMap<SObject, Vec<&str>> = BTreeMap::new();
    for (_, target, _) in &redirects {
        by_object
            .entry(target.object)
            .or_default()
            .push(target.id.as_str());
    }
    let mut target_rows: BTreeMap<String, Value> = BTreeMap::new();
    for (target_object, ids) in by_object {
        let rows = read_fields(state, target_object, &[], &ids, api, store, now, ops)?;
        target_rows.extend(rows);
    }
    for (entry, target, reason) in redirects {
        let fields = state.fields_for(target.object);
        match target_rows.get(&target.id) {
            Some(row) if all_set(row, &fields) => decided.already.push((entry.clone(), target)),
            Some(_) => decided.writes.push(pending(entry, target, Some(reason))),
            None => decided.unwritable.push(unwritable(
                entry,
                Some(target.clone()),
                Some(reason),
                SyncError::RecordDeleted(target),
            )),
        }
    }
    Ok(())
}

/// Reads `Id`, the writable selected fields and `extra` of the records
/// `ids`. A selected field Salesforce refuses in the query (`No such
/// column`) is learned as owed, in the run and the field cache, and the read
/// repeated without it: at most once per selected field.
#[allow(clippy::too_many_arguments)]
fn read_fields(
    state: &mut RunState,
    object: SObject,
    extra: &[&str],
    ids: &[&str],
    api: &mut OrgApi<'_>,
    store: &dyn Store,
    now: Timestamp,
    ops: &mut Vec<WriteOp>,
) -> Result<BTreeMap<String, Value>, Interrupt> {
    loop {
        let fields = state.fields_for(object);
        let mut select: Vec<&str> = vec!["Id"];
        select.extend(fields.iter().map(String::as_str));
        select.extend(extra);
        let error = match read(api, object, &select, ids, false) {
            Ok(rows) => return Ok(rows),
            Err(e) => e,
        };
        let failure = error.clone().classify(object, None, &fields);
        match fields::refused_field(&failure.error, &fields) {
            Some(refused) => learn_refused(state, refused, store, now, ops)?,
            None => return Err(interrupt(error, object, &state.fields)),
        }
    }
}

/// Notes a field Salesforce refused: owed for the rest of the run, and known
/// in the field cache (so pushes leave it out).
pub(crate) fn learn_refused(
    state: &mut RunState,
    refused: OwedField,
    store: &dyn Store,
    now: Timestamp,
    ops: &mut Vec<WriteOp>,
) -> Result<(), SyncError> {
    let mut cache = FieldCache::load(store)?;
    cache.learn(
        refused.field.object,
        &refused.field.field,
        Some(refused.problem),
        now,
    );
    ops.extend(cache.store_op());
    state.learn_owed(refused);
    Ok(())
}

/// Runs `SELECT select FROM object WHERE Id IN ids` (or queryAll), in chunks
/// that fit the URI limit; rows keyed by their 18-character Id.
fn read(
    api: &mut OrgApi<'_>,
    object: SObject,
    select: &[&str],
    ids: &[&str],
    all: bool,
) -> Result<BTreeMap<String, Value>, RequestError> {
    let mut rows = BTreeMap::new();
    for chunk in soql::chunk_ids(api.version(), select, object, ids) {
        let query = soql::select_by_ids(select, object, &chunk);
        for row in api.query(&query, all)? {
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

/// Every field in `fields` is true in a row (a query or record answer). A
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

fn pending(entry: &Entry, target: RecordRef, redirect: Option<RedirectReason>) -> PendingWrite {
    PendingWrite {
        person_id: entry.person_id.clone(),
        named: entry.named.clone(),
        target,
        redirect,
        reassert: entry.confirmed,
    }
}

fn unwritable(
    entry: &Entry,
    target: Option<RecordRef>,
    redirect: Option<RedirectReason>,
    error: SyncError,
) -> Unwritable {
    Unwritable {
        entry: entry.clone(),
        target,
        redirect,
        error,
    }
}

fn no_contact() -> SyncError {
    SyncError::SalesforceError(SalesforceFailure {
        status: 400,
        code: "CANNOT_UPDATE_CONVERTED_LEAD".into(),
        message: "the Lead is converted and has no ConvertedContactId to write instead".into(),
        fields: Vec::new(),
    })
}

fn not_found(object: SObject) -> SyncError {
    SyncError::SalesforceError(SalesforceFailure {
        status: 404,
        code: "NOT_FOUND".into(),
        message: format!(
            "no {} with this ID in the org (purged, or from another org); send the right ID",
            object.api_name()
        ),
        fields: Vec::new(),
    })
}
