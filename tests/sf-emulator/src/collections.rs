//! `PATCH /composite/sobjects`: sObject Collections update (plugin/SALESFORCE.md §3).
//!
//! Up to 200 records of Lead and/or Contact, at most 10 type chunks, one API call. The
//! answer is 200 with one SaveResult per record in request order (errors keyed
//! `statusCode`), or a request-level 400 in the REST error shape for malformed input.

use rustc_hash::FxHashSet;
use serde::Serialize;
use serde_json::Value as Json;

use crate::error::{ApiError, RecordError, SaveError};
use crate::http::{Req, Resp};
use crate::model::SObject;
use crate::rest::parse_changes;
use crate::state::State;
use crate::store::Change;
use crate::time;

/// Records per request (§3.1).
pub const MAX_RECORDS: usize = 200;
/// Runs of consecutive same-type records per request (§3.1).
pub const MAX_CHUNKS: usize = 10;

/// One SaveResult; `id` is present on success only, as in the documented examples.
#[derive(Debug, Serialize)]
struct SaveResult {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    success: bool,
    errors: Vec<SaveError>,
}

struct Item {
    object: SObject,
    id: Option<String>,
    changes: Vec<Change>,
}

fn parser_error(message: &str) -> ApiError {
    ApiError::new(400, "JSON_PARSER_ERROR", message)
}

/// Validates the request body into items; any failure here fails the whole request.
fn parse_items(state: &State, body: &[u8]) -> Result<(Vec<Item>, bool), ApiError> {
    let root = match serde_json::from_slice::<Json>(body) {
        Ok(Json::Object(root)) => root,
        Ok(_) => {
            return Err(parser_error(
                "Cannot deserialize instance of SObjectCollectionRequest from START_ARRAY value [line:1, column:1]",
            ));
        }
        Err(e) => return Err(ApiError::json_parser(&e)),
    };
    let all_or_none = match root.get("allOrNone") {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(_) => {
            return Err(parser_error(
                "Cannot deserialize instance of boolean from allOrNone",
            ));
        }
    };
    let records = match root.get("records") {
        Some(Json::Array(r)) => r,
        _ => {
            return Err(parser_error(
                "Cannot deserialize instance of SObjectCollectionRequest: 'records' must be an array",
            ));
        }
    };
    if records.len() > MAX_RECORDS {
        // Observed text (§3.4); the errorCode is the code the message starts with.
        return Err(ApiError::new(
            400,
            "EXCEEDED_ID_LIMIT",
            "EXCEEDED_ID_LIMIT: record limit reached. cannot submit more than 200 records into this call",
        ));
    }
    let org = state.org();
    let mut items = Vec::with_capacity(records.len());
    let (mut chunks, mut previous) = (0usize, None);
    for record in records {
        let Json::Object(map) = record else {
            return Err(parser_error(
                "Cannot deserialize instance of SObject: each record must be a JSON object",
            ));
        };
        let type_name = map
            .get("attributes")
            .and_then(|a| a.get("type"))
            .and_then(Json::as_str);
        let Some(type_name) = type_name else {
            return Err(ApiError::new(
                400,
                "INVALID_TYPE",
                "Must send a concrete entity type.",
            ));
        };
        let Ok(object) = type_name.parse::<SObject>() else {
            // The emulator serves Lead and Contact only.
            return Err(ApiError::new(
                400,
                "INVALID_TYPE",
                format!("sObject type '{type_name}' is not supported."),
            ));
        };
        if previous != Some(object) {
            chunks += 1;
            previous = Some(object);
        }
        if chunks > MAX_CHUNKS {
            // Message as Salesforce words it for mixed-type DML; the errorCode used for
            // Collections is UNCONFIRMED.
            return Err(ApiError::new(
                400,
                "EXCEEDED_MAX_TYPES_LIMIT",
                "Cannot have more than 10 chunks in a single operation. Please rearrange the data to reduce chunking.",
            ));
        }
        let id = match map.iter().find(|(k, _)| k.eq_ignore_ascii_case("id")) {
            None | Some((_, Json::Null)) => None,
            Some((_, Json::String(s))) => Some(s.clone()),
            Some(_) => {
                return Err(parser_error(
                    "Cannot deserialize instance of id from a non-string value",
                ));
            }
        };
        let changes = parse_changes(org.schema(object), body, map, &["id"])?;
        items.push(Item {
            object,
            id,
            changes,
        });
    }
    Ok((items, all_or_none))
}

/// `PATCH /composite/sobjects`. Other methods (create, retrieve, delete) are not emulated.
///
/// Duplicate Ids in one request are UNCONFIRMED (§3.4): the first occurrence
/// is saved, later ones fail with `DUPLICATE_VALUE` "Duplicate id in list: <id>" (the
/// wording of the platform's duplicate-in-list DML error).
pub fn update(state: &State, req: &Req) -> Resp {
    if req.method != "PATCH" {
        return ApiError::method_not_allowed(&req.method, "PATCH").into();
    }
    let (items, all_or_none) = match parse_items(state, &req.body) {
        Ok(parsed) => parsed,
        Err(e) => return e.into(),
    };
    let mut org = state.org_mut();
    let mut lock_errors = 0u64;
    let mut seen = FxHashSet::default();
    let outcomes: Vec<Result<u32, RecordError>> = {
        let mut faults = state.faults();
        let mut roll = || {
            let hit = faults.roll_lock();
            lock_errors += u64::from(hit);
            hit
        };
        items
            .iter()
            .map(|item| {
                let raw = item.id.as_deref().ok_or_else(RecordError::missing_id)?;
                let idx = org.target(item.object, raw)?;
                if !seen.insert(idx) {
                    return Err(RecordError::duplicate_id(org.get(idx).id.as_str()));
                }
                org.prepare(idx, &item.changes, &mut roll)?;
                Ok(idx)
            })
            .collect()
    };
    let failed = outcomes.iter().any(Result::is_err);
    let now = time::now_ms();
    let mut written = 0u64;
    let results: Vec<SaveResult> = outcomes
        .iter()
        .zip(&items)
        .map(|(outcome, item)| match outcome {
            Ok(_) if all_or_none && failed => SaveResult {
                id: None,
                success: false,
                errors: vec![RecordError::rolled_back().to_save_error()],
            },
            Ok(idx) => {
                org.commit(*idx, &item.changes, now);
                written += 1;
                SaveResult {
                    id: Some(org.get(*idx).id.to_string()),
                    success: true,
                    errors: vec![],
                }
            }
            Err(e) => SaveResult {
                id: None,
                success: false,
                errors: vec![e.to_save_error()],
            },
        })
        .collect();
    drop(org);
    state.note_writes(written, lock_errors);
    Resp::json(200, &results)
}
