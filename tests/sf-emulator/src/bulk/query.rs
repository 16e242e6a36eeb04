//! Bulk API 2.0 query jobs (plugin/SALESFORCE.md §6.7).
//!
//! The query runs once (a snapshot), rendering every row to CSV; result pages are slices
//! of that buffer, so paging a million rows costs no re-rendering.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value as Json;

use super::{JobHeader, JobInfo, JobState, Shared, bad_job, bad_state, job_key, write_quoted};
use crate::error::ApiError;
use crate::http::{Req, Resp};
use crate::query::{execute, plan};
use crate::router::ApiVersion;
use crate::schema::FieldRef;
use crate::soql::Plan;
use crate::state::State;
use crate::store::{Org, Value};
use crate::time;

/// Rows per result page when `maxRecords` is absent. Salesforce chooses a size-based
/// default (UNCONFIRMED); a fixed page keeps clients honest about following the locator.
pub const DEFAULT_MAX_RECORDS: usize = 50_000;
/// Longest accepted SOQL statement (§4.6).
const MAX_SOQL: usize = 100_000;

/// A rendered result: header line, rows, and where each row starts.
#[derive(Debug, Default)]
struct Rendered {
    header: Vec<u8>,
    rows: Vec<u8>,
    starts: Vec<usize>,
}

/// One query job.
#[derive(Debug)]
pub struct QueryJob {
    header: JobHeader,
    plan: Plan,
    include_deleted: bool,
    result: Option<Rendered>,
    millis: u64,
}

impl QueryJob {
    fn info(&self, poll: bool) -> JobInfo {
        let mut info = self.header.info("LF", "COMMA");
        if poll {
            info.job_type = Some("V2Query");
            info.number_records_processed =
                Some(self.result.as_ref().map_or(0, |r| r.starts.len() as u64));
            info.retries = Some(0);
            info.total_processing_time = Some(self.millis);
        }
        info
    }
}

/// Writes one value as a quoted CSV field (`""` for null; checkboxes `true`/`false`).
fn write_csv_value(out: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::Bool(b) => out.extend_from_slice(if b { b"\"true\"" } else { b"\"false\"" }),
        Value::Text(Some(s)) => write_quoted(out, s.as_bytes()),
        Value::Id(Some(id)) => write_quoted(out, id.as_str().as_bytes()),
        Value::Text(None) | Value::Id(None) => out.extend_from_slice(b"\"\""),
        Value::DateTime(ms) => write_quoted(out, time::format_sf(ms).as_bytes()),
    }
}

fn render(org: &Org, plan: &Plan, include_deleted: bool) -> Rendered {
    let fields: &[(FieldRef, String)] = plan.fields.as_deref().unwrap_or_default();
    let rows = execute(org, plan, include_deleted);
    let mut out = Rendered {
        header: Vec::new(),
        rows: Vec::with_capacity(rows.len() * (8 + 24 * fields.len())),
        starts: Vec::with_capacity(rows.len()),
    };
    for (i, (_, name)) in fields.iter().enumerate() {
        if i > 0 {
            out.header.push(b',');
        }
        write_quoted(&mut out.header, name.as_bytes());
    }
    out.header.push(b'\n');
    for idx in rows {
        out.starts.push(out.rows.len());
        let rec = org.get(idx);
        for (i, (field, _)) in fields.iter().enumerate() {
            if i > 0 {
                out.rows.push(b',');
            }
            write_csv_value(&mut out.rows, rec.value(*field));
        }
        out.rows.push(b'\n');
    }
    out
}

/// `POST /jobs/query` with `{"operation":"query"|"queryAll","query":"SELECT ..."}` →
/// 200 JobInfo in `UploadComplete` (§6.7). SOQL errors answer 400 in the REST shape.
pub fn create(shared: &Shared, req: &Req, version: ApiVersion) -> Resp {
    let map = match serde_json::from_slice::<Json>(&req.body) {
        Ok(Json::Object(map)) => map,
        Ok(_) => return bad_job("the request body must be a JSON object").into(),
        Err(e) => return ApiError::json_parser(&e).into(),
    };
    let include_deleted = match map.get("operation").and_then(Json::as_str) {
        Some("query") => false,
        Some("queryAll") => true,
        Some(other) => return bad_job(format!("InvalidJob : Invalid operation: {other}")).into(),
        None => return bad_job("InvalidJob : Operation is required").into(),
    };
    let Some(q) = map.get("query").and_then(Json::as_str) else {
        return bad_job("InvalidJob : Query is required").into();
    };
    if q.len() > MAX_SOQL {
        return ApiError::new(
            400,
            "MALFORMED_QUERY",
            "Query is too long: the SOQL statement exceeds 100,000 characters",
        )
        .into();
    }
    let plan = {
        let org = shared.org();
        match plan(&org, q) {
            Ok(p) => p,
            Err(e) => return e.into(),
        }
    };
    if plan.fields.is_none() {
        return ApiError::new(
            400,
            "API_ERROR",
            "Aggregate queries (COUNT()) are not supported by Bulk API 2.0 query jobs",
        )
        .into();
    }
    let operation = if include_deleted { "queryAll" } else { "query" };
    let mut jobs = shared.jobs();
    let id = jobs.next_id();
    let job = QueryJob {
        header: JobHeader::new(
            id.clone(),
            operation,
            plan.object,
            version,
            JobState::UploadComplete,
            &shared.config.user_id,
        ),
        plan,
        include_deleted,
        result: None,
        millis: 0,
    };
    let resp = Resp::json(200, &job.info(false));
    jobs.query.insert(id.clone(), job);
    drop(jobs);
    let delay = shared.config.bulk_processing_delay_ms;
    if delay == 0 {
        run(shared, &id);
    } else {
        let shared = Shared::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay / 2)).await;
            if let Some(job) = shared.jobs().query.get_mut(&id)
                && job.header.state == JobState::UploadComplete
            {
                job.header.set_state(JobState::InProgress);
            }
            tokio::time::sleep(Duration::from_millis(delay - delay / 2)).await;
            let _ = tokio::task::spawn_blocking(move || run(&shared, &id)).await;
        });
    }
    resp
}

fn run(state: &State, id: &str) {
    let Some((plan, include_deleted)) = state
        .jobs()
        .query
        .get(id)
        .filter(|j| !j.header.state.is_final())
        .map(|j| (j.plan.clone(), j.include_deleted))
    else {
        return;
    };
    let started = Instant::now();
    let rendered = render(&state.org(), &plan, include_deleted);
    let millis = started.elapsed().as_millis() as u64;
    if let Some(job) = state.jobs().query.get_mut(id) {
        if job.header.state.is_final() {
            return;
        }
        job.result = Some(rendered);
        job.millis = millis;
        job.header.set_state(JobState::JobComplete);
    }
}

/// `GET /jobs/query`: every query job.
pub fn list(state: &State) -> Resp {
    let jobs = state.jobs();
    let mut records: Vec<JobInfo> = jobs.query.values().map(|j| j.info(true)).collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Resp::json(
        200,
        &serde_json::json!({ "done": true, "records": records, "nextRecordsUrl": null }),
    )
}

/// `GET /jobs/query/{id}`.
pub fn poll(state: &State, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    match state.jobs().query.get(&id) {
        Some(job) => Resp::json(200, &job.info(true)),
        None => ApiError::not_found().into(),
    }
}

/// `PATCH /jobs/query/{id}` with `{"state":"Aborted"}`.
pub fn abort(state: &State, req: &Req, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let target = serde_json::from_slice::<Json>(&req.body)
        .ok()
        .and_then(|v| v.get("state").and_then(Json::as_str).map(str::to_owned));
    let mut jobs = state.jobs();
    let Some(job) = jobs.query.get_mut(&id) else {
        return ApiError::not_found().into();
    };
    if target.as_deref() != Some("Aborted") {
        return bad_state("Only the 'Aborted' state can be set on a query job").into();
    }
    if job.header.state.is_final() {
        return bad_state(format!("Job {id} is already {:?}", job.header.state)).into();
    }
    job.header.set_state(JobState::Aborted);
    Resp::json(200, &job.info(false))
}

/// `DELETE /jobs/query/{id}` → 204.
pub fn delete(state: &State, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    match state.jobs().query.remove(&id) {
        Some(_) => Resp::empty(204),
        None => ApiError::not_found().into(),
    }
}

fn encode_locator(offset: usize) -> String {
    STANDARD_NO_PAD.encode(offset.to_string())
}

fn decode_locator(locator: &str) -> Option<usize> {
    let bytes = STANDARD_NO_PAD.decode(locator.trim_end_matches('=')).ok()?;
    std::str::from_utf8(&bytes).ok()?.parse().ok()
}

/// `GET /jobs/query/{id}/results?locator=&maxRecords=` → CSV with `Sforce-Locator` (the
/// string `null` on the last page) and `Sforce-NumberOfRecords`. Locators are base64 of
/// the row offset, like Salesforce's. A request with another API version than the job's
/// is 409 (§6.7).
pub fn results(state: &State, req: &Req, version: ApiVersion, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let jobs = state.jobs();
    let Some(job) = jobs.query.get(&id) else {
        return ApiError::not_found().into();
    };
    if job.header.version != version {
        return ApiError::new(
            409,
            "API_VERSION_MISMATCH",
            format!("Job {id} was created with API version {}; use the same version to read its results", job.header.version),
        )
        .into();
    }
    let Some(result) = job
        .result
        .as_ref()
        .filter(|_| job.header.state == JobState::JobComplete)
    else {
        return bad_state(format!(
            "Job {id} is not complete (state {:?})",
            job.header.state
        ))
        .into();
    };
    let offset = match req
        .query_param("locator")
        .filter(|l| !l.is_empty() && l != "null")
    {
        None => 0,
        Some(l) => match decode_locator(&l) {
            Some(o) if o <= result.starts.len() => o,
            _ => {
                return ApiError::new(400, "INVALIDLOCATOR", format!("Invalid locator: {l}"))
                    .into();
            }
        },
    };
    let max = match req.query_param("maxRecords") {
        None => DEFAULT_MAX_RECORDS,
        Some(m) => match m.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return ApiError::new(400, "INVALIDMAXRECORDS", format!("Invalid maxRecords: {m}"))
                    .into();
            }
        },
    };
    let end = offset.saturating_add(max).min(result.starts.len());
    let byte_start = result
        .starts
        .get(offset)
        .copied()
        .unwrap_or(result.rows.len());
    let byte_end = result.starts.get(end).copied().unwrap_or(result.rows.len());
    let mut body = Vec::with_capacity(result.header.len() + byte_end - byte_start);
    body.extend_from_slice(&result.header);
    body.extend_from_slice(&result.rows[byte_start..byte_end]);
    let locator = if end < result.starts.len() {
        encode_locator(end)
    } else {
        "null".to_owned()
    };
    Resp::csv(200, body)
        .with_header("sforce-locator", locator)
        .with_header("sforce-numberofrecords", (end - offset).to_string())
}
