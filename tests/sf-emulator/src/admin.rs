//! Test-control operations, shared by the library API ([`crate::Emulator`]) and the
//! `/__admin/` HTTP endpoints. Admin calls are not API calls: they are neither counted,
//! logged, limited nor subject to fault injection.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::faults::FaultConfig;
use crate::http::{Req, Resp};
use crate::model::{
    CustomFieldDef, FieldAccess, FieldAccessRule, OrgSeed, RecordSnapshot, SObject, SeedRecord,
    ValidationRule,
};
use crate::query::Cursors;
use crate::state::State;
use crate::store::{AdminError, Org};
use crate::time;

/// Loads a seed into the running org; with `replace` the org is emptied first (open
/// query cursors are then forgotten). Returns how many records were loaded.
pub fn seed(state: &State, seed: OrgSeed, replace: bool) -> Result<usize, AdminError> {
    let now = time::now_ms();
    let mut org = state.org_mut();
    if replace {
        let mut fresh = Org::new(now);
        let n = fresh.load_seed(seed, now)?;
        *org = fresh;
        *state.cursors() = Cursors::default();
        return Ok(n);
    }
    org.load_seed(seed, now)
}

/// Inserts one record.
pub fn insert(state: &State, rec: SeedRecord) -> Result<String, AdminError> {
    state
        .org_mut()
        .insert(rec, time::now_ms())
        .map(|id| id.to_string())
}

/// A record by 15- or 18-character Id (deleted ones included).
pub fn record(state: &State, id: &str) -> Option<RecordSnapshot> {
    let org = state.org();
    org.resolve(id).map(|idx| org.snapshot(idx))
}

/// Converts a Lead into a Contact.
pub fn convert_lead(state: &State, lead_id: &str, contact_id: &str) -> Result<(), AdminError> {
    state
        .org_mut()
        .convert_lead(lead_id, contact_id, time::now_ms())
}

/// Merges `loser` into `master`.
pub fn merge(state: &State, loser_id: &str, master_id: &str) -> Result<(), AdminError> {
    state.org_mut().merge(loser_id, master_id, time::now_ms())
}

/// Soft-deletes a record.
pub fn delete(state: &State, id: &str) -> Result<(), AdminError> {
    state.org_mut().delete(id, time::now_ms())
}

/// Sets a checkbox as an admin would.
pub fn set_field(state: &State, id: &str, field: &str, value: bool) -> Result<(), AdminError> {
    state
        .org_mut()
        .set_checkbox(id, field, value, time::now_ms())
}

/// Adds a custom checkbox field.
pub fn add_checkbox_field(
    state: &State,
    object: SObject,
    field: &str,
    label: Option<&str>,
) -> Result<(), AdminError> {
    state
        .org_mut()
        .schema_mut(object)
        .add_custom(field, label, time::now_ms())
        .map(|_| ())
        .map_err(AdminError::from)
}

/// Sets field-level security.
pub fn set_field_access(state: &State, object: SObject, field: &str, access: FieldAccess) {
    state
        .org_mut()
        .schema_mut(object)
        .set_access(field, access, time::now_ms());
}

/// Adds a validation rule.
pub fn add_validation_rule(state: &State, rule: ValidationRule) -> Result<(), AdminError> {
    state.org_mut().add_rule(rule)
}

/// Replaces the fault configuration (restarting the fault stream from its seed).
pub fn set_faults(state: &State, faults: FaultConfig) {
    state.faults().set(faults);
}

/// Sets `DailyApiRequests.Remaining`.
pub fn set_api_remaining(state: &State, remaining: u64) {
    state.limits().set_remaining(remaining);
}

/// Counts records of `object` written by at least one API call.
pub fn count_written(state: &State, object: SObject) -> u64 {
    state.org().count_written(object)
}

/// Counts non-deleted records of `object` with checkbox `field` checked.
pub fn count_opted_out(state: &State, object: SObject, field: &str) -> Result<u64, AdminError> {
    state.org().count_checked(object, field)
}

#[derive(Deserialize)]
struct ConvertBody {
    lead_id: String,
    contact_id: String,
}

#[derive(Deserialize)]
struct MergeBody {
    loser_id: String,
    master_id: String,
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
}

#[derive(Deserialize)]
struct SetFieldBody {
    id: String,
    field: String,
    value: bool,
}

#[derive(Deserialize)]
struct RemainingBody {
    remaining: u64,
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
}

fn error(status: u16, message: impl Into<String>) -> Resp {
    Resp::json(
        status,
        &ErrorBody {
            error: message.into(),
        },
    )
}

fn admin_error(e: &AdminError) -> Resp {
    let status = if matches!(e, AdminError::NoSuchRecord(_)) {
        404
    } else {
        400
    };
    error(status, e.to_string())
}

fn ok() -> Resp {
    Resp::json(200, &json!({ "ok": true }))
}

fn body<T: for<'de> Deserialize<'de>>(req: &Req) -> Result<T, Resp> {
    serde_json::from_slice(&req.body).map_err(|e| error(400, format!("invalid JSON body: {e}")))
}

fn done(result: Result<(), AdminError>) -> Resp {
    match result {
        Ok(()) => ok(),
        Err(e) => admin_error(&e),
    }
}

/// Serves `/__admin/...`.
pub fn handle(state: &State, req: &Req) -> Resp {
    let path = req
        .path
        .trim_start_matches("/__admin/")
        .trim_end_matches('/');
    let method = req.method.as_str();
    let result: Result<Resp, Resp> = (|| {
        Ok(match (method, path) {
            ("POST", "seed") => {
                let replace = req
                    .query_param("replace")
                    .is_some_and(|v| v == "true" || v == "1");
                match seed(state, body(req)?, replace) {
                    Ok(n) => Resp::json(200, &json!({ "loaded": n })),
                    Err(e) => admin_error(&e),
                }
            }
            ("POST", "insert") => match insert(state, body(req)?) {
                Ok(id) => Resp::json(200, &json!({ "id": id })),
                Err(e) => admin_error(&e),
            },
            ("GET", p) if p.starts_with("record/") => {
                let id = crate::http::percent_decode(&p.as_bytes()["record/".len()..], false);
                match record(state, &id) {
                    Some(snap) => Resp::json(200, &snap),
                    None => error(404, format!("no record with Id '{id}'")),
                }
            }
            ("GET", "calls") => Resp::json(200, &state.calls().counts()),
            ("GET", "call-log") => Resp::json(200, &state.calls().log()),
            ("POST", "reset-counts") => {
                state.calls().reset();
                ok()
            }
            ("POST", "expire-tokens") => {
                state.auth().expire_all();
                ok()
            }
            ("POST", "revoke-refresh-token") => {
                state.auth().revoke_refresh_token();
                ok()
            }
            ("POST", "restore-refresh-token") => {
                state.auth().restore_refresh_token();
                ok()
            }
            ("POST", "token") => Resp::json(200, &json!({ "access_token": state.auth().issue() })),
            ("GET", "faults") => Resp::json(200, state.faults().config()),
            ("POST", "faults") => {
                set_faults(state, body(req)?);
                ok()
            }
            ("POST", "convert") => {
                let b: ConvertBody = body(req)?;
                done(convert_lead(state, &b.lead_id, &b.contact_id))
            }
            ("POST", "merge") => {
                let b: MergeBody = body(req)?;
                done(merge(state, &b.loser_id, &b.master_id))
            }
            ("POST", "delete") => {
                let b: IdBody = body(req)?;
                done(delete(state, &b.id))
            }
            ("POST", "set-field") => {
                let b: SetFieldBody = body(req)?;
                done(set_field(state, &b.id, &b.field, b.value))
            }
            ("POST", "field-access") => {
                let b: FieldAccessRule = body(req)?;
                set_field_access(state, b.object, &b.field, b.access);
                ok()
            }
            ("POST", "checkbox-field") => {
                let b: CustomFieldDef = body(req)?;
                done(add_checkbox_field(
                    state,
                    b.object,
                    &b.name,
                    b.label.as_deref(),
                ))
            }
            ("POST", "validation-rule") => done(add_validation_rule(state, body(req)?)),
            ("POST", "api-remaining") => {
                let b: RemainingBody = body(req)?;
                set_api_remaining(state, b.remaining);
                ok()
            }
            ("GET", "opted-out-count") => {
                let object = req.query_param("object").unwrap_or_default();
                let Ok(object) = object.parse::<SObject>() else {
                    return Err(error(400, format!("unknown object '{object}'")));
                };
                let field = req
                    .query_param("field")
                    .unwrap_or_else(|| "HasOptedOutOfEmail".to_owned());
                match count_opted_out(state, object, &field) {
                    Ok(count) => Resp::json(200, &json!({ "count": count })),
                    Err(e) => admin_error(&e),
                }
            }
            ("GET", "written-count") => {
                let object = req.query_param("object").unwrap_or_default();
                let Ok(object) = object.parse::<SObject>() else {
                    return Err(error(400, format!("unknown object '{object}'")));
                };
                Resp::json(200, &json!({ "count": count_written(state, object) }))
            }
            ("GET", "status") => {
                let limits = state.limits().clone();
                Resp::json(
                    200,
                    &json!({
                        "base_url": state.base_url,
                        "records": state.org().len(),
                        "api_used": limits.used(),
                        "api_max": limits.max()
                    }),
                )
            }
            _ => error(404, format!("no admin endpoint {method} /__admin/{path}")),
        })
    })();
    result.unwrap_or_else(|resp| resp)
}
