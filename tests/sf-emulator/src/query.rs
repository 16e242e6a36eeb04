//! SOQL execution over the store, JSON record rendering, and the REST `query`,
//! `queryAll` and query-more resources with `nextRecordsUrl` paging (plugin/SALESFORCE.md §4).

use std::cmp::Ordering;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::error::ApiError;
use crate::http::{Req, Resp};
use crate::model::SObject;
use crate::router::ApiVersion;
use crate::schema::FieldRef;
use crate::sfid;
use crate::soql::{self, Filter, Plan};
use crate::state::State;
use crate::store::{Org, Record, Value, fold_email};
use crate::time;

/// Default and bounds of `Sforce-Query-Options: batchSize=N` (§4.1).
pub const DEFAULT_BATCH: usize = 2000;
const MIN_BATCH: usize = 200;
/// Open cursors kept; the oldest is forgotten first (its locator then answers
/// `INVALID_QUERY_LOCATOR`).
const MAX_CURSORS: usize = 256;

fn text_matches(values: &rustc_hash::FxHashSet<String>, s: &str) -> bool {
    values.contains(fold_email(s).as_ref())
}

/// Does a record satisfy a bound filter?
pub fn matches(rec: &Record, filter: &Filter) -> bool {
    match filter {
        Filter::And(terms) => terms.iter().all(|t| matches(rec, t)),
        Filter::Or(terms) => terms.iter().any(|t| matches(rec, t)),
        Filter::Not(inner) => !matches(rec, inner),
        Filter::Bool { field, t, f } => {
            if rec.checkbox(*field) {
                *t
            } else {
                *f
            }
        }
        Filter::Ids { field, keys, null } => match rec.value(*field) {
            Value::Id(Some(id)) => keys.contains(&id.key()),
            _ => *null,
        },
        Filter::Texts {
            field,
            values,
            null,
        } => match rec.value(*field) {
            Value::Text(Some(s)) => text_matches(values, s),
            _ => *null,
        },
        Filter::Never => false,
    }
}

/// Candidate positions from an index when the filter pins `Id` or `Email` (at the top or
/// inside a top-level AND); `None` means scan everything.
fn index_candidates(org: &Org, filter: &Filter) -> Option<Vec<u32>> {
    match filter {
        Filter::Ids {
            field: FieldRef::Id,
            keys,
            ..
        } => Some(keys.iter().filter_map(|k| org.resolve_key(k)).collect()),
        Filter::Texts {
            field: FieldRef::Email,
            values,
            null: false,
        } => Some(values.iter().flat_map(|v| org.find_email(v)).collect()),
        Filter::And(terms) => terms.iter().find_map(|t| index_candidates(org, t)),
        _ => None,
    }
}

fn cmp_values(a: Value<'_>, b: Value<'_>) -> Ordering {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x.cmp(&y),
        (Value::DateTime(x), Value::DateTime(y)) => x.cmp(&y),
        (Value::Id(x), Value::Id(y)) => x.map(|i| i.as_str()).cmp(&y.map(|i| i.as_str())),
        (Value::Text(x), Value::Text(y)) => match (x, y) {
            (Some(x), Some(y)) => fold_email(x).cmp(&fold_email(y)),
            (x, y) => x.is_some().cmp(&y.is_some()),
        },
        _ => Ordering::Equal,
    }
}

/// Runs a plan: positions of matching records of the plan's object, in insertion order
/// (or ORDER BY), after LIMIT. Deleted records are included only for `queryAll`.
pub fn execute(org: &Org, plan: &Plan, include_deleted: bool) -> Vec<u32> {
    let keep = |idx: u32| {
        let rec = org.get(idx);
        rec.object == plan.object
            && (include_deleted || !rec.is_deleted())
            && plan.filter.as_ref().is_none_or(|f| matches(rec, f))
    };
    let mut rows: Vec<u32> = match plan.filter.as_ref().and_then(|f| index_candidates(org, f)) {
        Some(mut candidates) => {
            candidates.sort_unstable();
            candidates.dedup();
            candidates.retain(|&i| keep(i));
            candidates
        }
        None => (0..org.len() as u32).filter(|&i| keep(i)).collect(),
    };
    if !plan.order.is_empty() {
        rows.sort_by(|&a, &b| {
            let (ra, rb) = (org.get(a), org.get(b));
            plan.order
                .iter()
                .map(|&(field, desc)| {
                    let o = cmp_values(ra.value(field), rb.value(field));
                    if desc { o.reverse() } else { o }
                })
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        });
    }
    if let Some(limit) = plan.limit {
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    rows
}

fn write_json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes a value as JSON (checkboxes as booleans, empty fields as `null`).
pub fn write_value(out: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Value::Text(Some(s)) => write_json_str(out, s),
        Value::Id(Some(id)) => {
            out.push(b'"');
            out.extend_from_slice(id.as_str().as_bytes());
            out.push(b'"');
        }
        Value::Text(None) | Value::Id(None) => out.extend_from_slice(b"null"),
        Value::DateTime(ms) => {
            out.push(b'"');
            out.extend_from_slice(time::format_sf(ms).as_bytes());
            out.push(b'"');
        }
    }
}

/// Writes one record: `{"attributes":{"type":..,"url":..},"Field":value,...}`.
pub fn write_record(
    out: &mut Vec<u8>,
    rec: &Record,
    fields: &[(FieldRef, String)],
    version: ApiVersion,
) {
    let _ = write!(
        out,
        "{{\"attributes\":{{\"type\":\"{obj}\",\"url\":\"{prefix}/sobjects/{obj}/{id}\"}}",
        obj = rec.object.name(),
        prefix = version.prefix(),
        id = rec.id
    );
    for (field, name) in fields {
        out.push(b',');
        write_json_str(out, name);
        out.push(b':');
        write_value(out, rec.value(*field));
    }
    out.push(b'}');
}

/// A paged result waiting for query-more calls.
#[derive(Debug, Clone)]
pub struct Cursor {
    object: SObject,
    fields: Arc<[(FieldRef, String)]>,
    rows: Arc<[u32]>,
    batch: usize,
}

/// Open cursors by cursor id.
#[derive(Debug, Default)]
pub struct Cursors {
    map: FxHashMap<String, Cursor>,
    order: VecDeque<String>,
    counter: u64,
}

impl Cursors {
    fn open(&mut self, cursor: Cursor) -> String {
        self.counter += 1;
        // Locator ids look like real ones: key prefix 01g plus an 18-character checksum.
        let id = sfid::make_id("01g", "5Q", self.counter).to_string();
        if self.order.len() >= MAX_CURSORS
            && let Some(old) = self.order.pop_front()
        {
            self.map.remove(&old);
        }
        self.order.push_back(id.clone());
        self.map.insert(id.clone(), cursor);
        id
    }
}

/// Renders one page of a result.
fn page(
    org: &Org,
    cursor_id: Option<&str>,
    c: &Cursor,
    offset: usize,
    version: ApiVersion,
) -> Resp {
    let end = offset.saturating_add(c.batch).min(c.rows.len());
    let start = offset.min(end);
    let done = end >= c.rows.len();
    let mut out = Vec::with_capacity(64 + (end - start) * (64 + 32 * c.fields.len()));
    let _ = write!(out, "{{\"totalSize\":{},\"done\":{}", c.rows.len(), done);
    if let (false, Some(id)) = (done, cursor_id) {
        let _ = write!(
            out,
            ",\"nextRecordsUrl\":\"{}/query/{}-{}\"",
            version.prefix(),
            id,
            end
        );
    }
    out.extend_from_slice(b",\"records\":[");
    for (n, &idx) in c.rows[start..end].iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let rec = org.get(idx);
        // A row read at page time may belong to a record deleted since; it is still shown
        // (the cursor captured it), which matches a server-side cursor snapshot closely enough.
        debug_assert_eq!(rec.object, c.object);
        write_record(&mut out, rec, &c.fields, version);
    }
    out.extend_from_slice(b"]}");
    Resp::json_bytes(200, out)
}

/// `batchSize` from `Sforce-Query-Options`, clamped to 200..=2000. Out-of-range values
/// are clamped rather than refused (Salesforce "may return a different batch size").
fn batch_size(req: &Req) -> usize {
    req.header("sforce-query-options")
        .and_then(|h| {
            h.split(',').find_map(|part| {
                let (k, v) = part.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("batchSize")
                    .then(|| v.trim().parse::<usize>().ok())
                    .flatten()
            })
        })
        .map(|n| n.clamp(MIN_BATCH, DEFAULT_BATCH))
        .unwrap_or(DEFAULT_BATCH)
}

/// Parses and binds a query for an object's schema.
pub fn plan(org: &Org, q: &str) -> Result<Plan, ApiError> {
    let stmt = soql::parse(q).map_err(|e| e.to_api_error(q))?;
    let object = soql::object_of(&stmt).map_err(|e| e.to_api_error(q))?;
    soql::bind(&stmt, org.schema(object)).map_err(|e| e.to_api_error(q))
}

/// `GET /query?q=` and `GET /queryAll?q=`.
pub fn query(state: &State, req: &Req, version: ApiVersion, include_deleted: bool) -> Resp {
    if req.method != "GET" {
        return ApiError::method_not_allowed(&req.method, "GET,HEAD").into();
    }
    let Some(q) = req.query_param("q").filter(|q| !q.trim().is_empty()) else {
        return ApiError::new(400, "MALFORMED_QUERY", "A query string has to be specified").into();
    };
    let org = state.org();
    let plan = match plan(&org, &q) {
        Ok(p) => p,
        Err(e) => return e.into(),
    };
    let rows = execute(&org, &plan, include_deleted);
    let Some(fields) = plan.fields else {
        // SELECT COUNT(): the count is totalSize, no records.
        let body = format!(
            "{{\"totalSize\":{},\"done\":true,\"records\":[]}}",
            rows.len()
        );
        return Resp::json_bytes(200, body.into_bytes());
    };
    let cursor = Cursor {
        object: plan.object,
        fields: fields.into(),
        rows: rows.into(),
        batch: batch_size(req),
    };
    if cursor.rows.len() <= cursor.batch {
        return page(&org, None, &cursor, 0, version);
    }
    let resp_cursor = cursor.clone();
    let id = state.cursors().open(cursor);
    page(&org, Some(&id), &resp_cursor, 0, version)
}

/// `GET /query/{cursor}-{offset}`.
pub fn query_more(state: &State, req: &Req, version: ApiVersion, locator: &str) -> Resp {
    if req.method != "GET" {
        return ApiError::method_not_allowed(&req.method, "GET,HEAD").into();
    }
    // Wording UNCONFIRMED (§4.5).
    let invalid = || ApiError::new(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
    let Some((id, offset)) = locator.rsplit_once('-') else {
        return invalid().into();
    };
    let Ok(offset) = offset.parse::<usize>() else {
        return invalid().into();
    };
    let Some(cursor) = state.cursors().map.get(id).cloned() else {
        return invalid().into();
    };
    if offset > cursor.rows.len() {
        return invalid().into();
    }
    let org = state.org();
    page(&org, Some(id), &cursor, offset, version)
}
