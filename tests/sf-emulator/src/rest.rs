//! Single-record resources and small REST resources: versions, the version root, limits,
//! `GET`/`PATCH /sobjects/{type}/{id}` (plugin/SALESFORCE.md §2, §7, §10).

use serde::Serialize;
use serde_json::{Map, Value as Json};

use crate::error::{ApiError, RecordError};
use crate::http::{Req, Resp};
use crate::model::SObject;
use crate::query::write_record;
use crate::router::{ApiVersion, MAX_VERSION, MIN_VERSION};
use crate::schema::{FieldRef, FieldType, ObjectSchema};
use crate::sfid;
use crate::state::State;
use crate::store::{Change, NewValue, Org};
use crate::time;

#[derive(Serialize)]
struct VersionEntry {
    label: String,
    url: String,
    version: String,
}

/// `GET /services/data/`: every served version, oldest first (§10.1).
pub fn versions() -> Resp {
    let list: Vec<VersionEntry> = (MIN_VERSION..=MAX_VERSION)
        .map(|v| {
            let v = ApiVersion(v);
            VersionEntry {
                label: v.label(),
                url: v.prefix(),
                version: v.to_string(),
            }
        })
        .collect();
    Resp::json(200, &list)
}

/// `GET /services/data/vNN.0`: the resources this emulator serves.
pub fn version_root(version: ApiVersion) -> Resp {
    let p = version.prefix();
    Resp::json(
        200,
        &serde_json::json!({
            "limits": format!("{p}/limits"),
            "sobjects": format!("{p}/sobjects"),
            "query": format!("{p}/query"),
            "queryAll": format!("{p}/queryAll"),
            "composite": format!("{p}/composite"),
            "jobs": format!("{p}/jobs")
        }),
    )
}

/// `GET /limits` (§7.1).
pub fn limits(state: &State, req: &Req) -> Resp {
    if req.method != "GET" {
        return ApiError::method_not_allowed(&req.method, "GET,HEAD").into();
    }
    Resp::json(200, &state.limits().body())
}

/// Jackson's name for a JSON token, as Salesforce's parser messages use them.
fn token_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "VALUE_NULL",
        Json::Bool(true) => "VALUE_TRUE",
        Json::Bool(false) => "VALUE_FALSE",
        Json::Number(n) if n.is_f64() => "VALUE_NUMBER_FLOAT",
        Json::Number(_) => "VALUE_NUMBER_INT",
        Json::String(_) => "VALUE_STRING",
        Json::Array(_) => "START_ARRAY",
        Json::Object(_) => "START_OBJECT",
    }
}

/// Line and column (1-based) of the value of `"key"` in a raw body, approximately:
/// the first occurrence of the quoted key. Only used to decorate parser messages.
fn value_position(body: &[u8], key: &str) -> (usize, usize) {
    let needle = format!("\"{key}\"");
    let Some(at) = body
        .windows(needle.len().max(1))
        .position(|w| w == needle.as_bytes())
    else {
        return (1, 1);
    };
    let mut i = at + needle.len();
    while i < body.len() && (body[i] == b':' || body[i].is_ascii_whitespace()) {
        i += 1;
    }
    let line = body[..i].iter().filter(|&&b| b == b'\n').count() + 1;
    let col = i - body[..i]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1)
        + 1;
    (line, col)
}

/// The body of a non-boolean value sent to a checkbox (or a non-string to a text field).
/// Salesforce answers such bodies with a Jackson deserialisation message under
/// `JSON_PARSER_ERROR`; the exact text is UNCONFIRMED (§2.4), this follows its pattern.
fn type_mismatch(body: &[u8], key: &str, expected: &str, value: &Json) -> ApiError {
    let shown = match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    };
    let (line, col) = value_position(body, key);
    ApiError::new(
        400,
        "JSON_PARSER_ERROR",
        format!(
            "Cannot deserialize instance of {expected} from {} value {shown} or request may be missing a required field at [line:{line}, column:{col}]",
            token_name(value)
        ),
    )
}

/// Turns a JSON record body into field changes. Keys listed in `skip` (compared
/// case-insensitively) are ignored, as is `attributes`. Unknown or hidden fields are
/// `INVALID_FIELD`; wrongly typed values `JSON_PARSER_ERROR`. Both are request-level 400s:
/// Salesforce fails while deserialising the record, before any save.
pub fn parse_changes(
    schema: &ObjectSchema,
    body: &[u8],
    map: &Map<String, Json>,
    skip: &[&str],
) -> Result<Vec<Change>, ApiError> {
    let mut changes = Vec::with_capacity(map.len());
    for (key, value) in map {
        if key == "attributes" || skip.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            continue;
        }
        let Some(info) = schema.lookup(key) else {
            return Err(RecordError::invalid_field(schema.object, key).to_api_error());
        };
        let new = match info.ty {
            FieldType::Boolean => match value {
                Json::Bool(b) => NewValue::Bool(*b),
                other => return Err(type_mismatch(body, key, "boolean", other)),
            },
            FieldType::String | FieldType::Email if info.updateable => match value {
                Json::String(s) => NewValue::Text(Some(s.as_str().into())),
                Json::Null => NewValue::Text(None),
                other => return Err(type_mismatch(body, key, "string", other)),
            },
            // System and read-only fields are refused by the save step with
            // INVALID_FIELD_FOR_INSERT_UPDATE whatever their value.
            _ => NewValue::Text(None),
        };
        changes.push(Change {
            field: info.field,
            value: new,
        });
    }
    Ok(changes)
}

/// The Id in a `/sobjects/{type}/{id}` path, checked the way Salesforce does: something
/// that is not an Id at all is taken as an external-Id lookup (404), an Id of another
/// object is `MALFORMED_ID`, an unknown Id is `NOT_FOUND`.
fn resolve_path_id(org: &Org, object: SObject, raw: &str) -> Result<u32, ApiError> {
    let id = crate::http::percent_decode(raw.as_bytes(), false);
    let Ok(key) = sfid::normalize(&id) else {
        return Err(ApiError::new(
            404,
            "NOT_FOUND",
            format!("Provided external ID field does not exist or is not accessible: {id}"),
        ));
    };
    if sfid::SfId::from_key(&key).sobject() != Some(object) {
        return Err(RecordError::malformed_id(object, &id).to_api_error());
    }
    org.resolve_key(&key).ok_or_else(ApiError::not_found)
}

/// `GET /sobjects/{type}/{id}[?fields=A,B]`.
pub fn get_record(
    state: &State,
    req: &Req,
    version: ApiVersion,
    object: SObject,
    raw_id: &str,
) -> Resp {
    let org = state.org();
    let idx = match resolve_path_id(&org, object, raw_id) {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    let rec = org.get(idx);
    if rec.is_deleted() {
        return RecordError::entity_is_deleted().to_api_error().into();
    }
    let schema = org.schema(object);
    let fields: Vec<(FieldRef, String)> = match req.query_param("fields") {
        Some(list) => {
            let mut out = Vec::new();
            for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match schema.lookup(name) {
                    Some(info) => out.push((info.field, info.name.to_owned())),
                    None => {
                        return RecordError::invalid_field(object, name)
                            .to_api_error()
                            .into();
                    }
                }
            }
            out
        }
        None => schema
            .visible_fields()
            .iter()
            .map(|f| (f.field, f.name.to_owned()))
            .collect(),
    };
    let mut out = Vec::with_capacity(512);
    write_record(&mut out, rec, &fields, version);
    Resp::json_bytes(200, out)
}

/// `PATCH /sobjects/{type}/{id}` (also `POST ...?_HttpMethod=PATCH`): 204 on success.
pub fn patch_record(state: &State, req: &Req, object: SObject, raw_id: &str) -> Resp {
    let mut org = state.org_mut();
    let idx = match resolve_path_id(&org, object, raw_id) {
        Ok(i) => i,
        Err(e) => return e.into(),
    };
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return ApiError::new(
            400,
            "JSON_PARSER_ERROR",
            "No content to map due to end-of-input at [line:1, column:0]",
        )
        .into();
    }
    let map = match serde_json::from_slice::<Json>(&req.body) {
        Ok(Json::Object(map)) => map,
        Ok(other) => {
            return ApiError::new(
                400,
                "JSON_PARSER_ERROR",
                format!(
                    "Cannot deserialize instance of {} from {} value [line:1, column:1]",
                    object.name(),
                    token_name(&other)
                ),
            )
            .into();
        }
        Err(e) => return ApiError::json_parser(&e).into(),
    };
    let changes = match parse_changes(org.schema(object), &req.body, &map, &[]) {
        Ok(c) => c,
        Err(e) => return e.into(),
    };
    if let Err(e) = org.check_writable(idx) {
        return e.to_api_error().into();
    }
    let mut lock_errors = 0;
    let prepared = {
        let mut faults = state.faults();
        org.prepare(idx, &changes, &mut || {
            let hit = faults.roll_lock();
            lock_errors += u64::from(hit);
            hit
        })
    };
    let resp = match prepared {
        Ok(()) => {
            org.commit(idx, &changes, time::now_ms());
            Resp::empty(204)
        }
        Err(e) => e.to_api_error().into(),
    };
    drop(org);
    state.note_writes(u64::from(resp.status == 204), lock_errors);
    resp
}

/// `/sobjects/{type}` without an Id: `GET` answers the basic information; creating
/// records (`POST`) is not emulated; `PATCH` and others are 405 as in Salesforce (§2.1).
pub fn sobject_base(req: &Req, version: ApiVersion, object: Result<SObject, String>) -> Resp {
    let Ok(object) = object else {
        return ApiError::not_found().into();
    };
    if req.method == "GET" {
        let base = format!("{}/sobjects/{}", version.prefix(), object.name());
        return Resp::json(
            200,
            &serde_json::json!({
                "objectDescribe": {
                    "name": object.name(),
                    "label": object.name(),
                    "labelPlural": object.label_plural(),
                    "keyPrefix": object.key_prefix(),
                    "custom": false,
                    "queryable": true,
                    "updateable": true,
                    "urls": {
                        "sobject": base,
                        "describe": format!("{base}/describe"),
                        "rowTemplate": format!("{base}/{{ID}}")
                    }
                },
                "recentItems": []
            }),
        );
    }
    ApiError::method_not_allowed(&req.method, "HEAD,GET,POST").into()
}
