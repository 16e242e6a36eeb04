//! Bulk API 2.0 ingest jobs, `update` operation (plugin/SALESFORCE.md §6.1–§6.6).
//!
//! Lifecycle: create (`Open`) → one CSV upload → close (`UploadComplete` → `InProgress`
//! → `JobComplete` | `Failed`) or abort (`Aborted`). Rows are applied in 10,000-row
//! batches, each under one short hold of the org lock, with the same per-record checks as
//! single-record PATCH and Collections. Rows are not copied: a row is a byte range into the
//! uploaded CSV, which result files echo verbatim after the `sf__` columns.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rustc_hash::FxHashMap;
use serde_json::Value as Json;

use super::{
    JobHeader, JobInfo, JobState, Shared, bad_job, bad_state, delimiter_byte, job_key, write_quoted,
};
use crate::error::{ApiError, RecordError};
use crate::http::{Req, Resp};
use crate::model::SObject;
use crate::router::{ApiVersion, ResultSet};
use crate::schema::{FieldRef, FieldType};
use crate::sfid::SfId;
use crate::state::State;
use crate::store::{Change, NewValue};
use crate::time;

/// Rows per internal batch (Salesforce splits ingest data into 10,000-record batches).
const BATCH_ROWS: usize = 10_000;
/// Largest accepted upload (§6.2: 150 MB after base64 ≈ 100 MB raw).
pub const MAX_UPLOAD: usize = 150 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowStatus {
    Unprocessed,
    Success,
    Failed,
}

/// One uploaded row: its byte range (line terminator excluded) and outcome.
#[derive(Debug, Clone, Copy)]
struct Row {
    start: u32,
    end: u32,
    status: RowStatus,
    id: Option<SfId>,
}

/// The result of processing an upload.
#[derive(Debug, Default)]
struct Outcome {
    header: (usize, usize),
    rows: Vec<Row>,
    failures: FxHashMap<u32, String>,
    processed: u64,
    failed: u64,
    error: Option<String>,
    millis: u64,
}

/// One ingest job.
#[derive(Debug)]
pub struct IngestJob {
    header: JobHeader,
    line_ending: String,
    delimiter: String,
    data: Option<Bytes>,
    outcome: Option<Outcome>,
}

impl IngestJob {
    fn info(&self, poll: bool) -> JobInfo {
        let mut info = self.header.info(&self.line_ending, &self.delimiter);
        if poll {
            let (processed, failed, millis) = self
                .outcome
                .as_ref()
                .map_or((0, 0, 0), |o| (o.processed, o.failed, o.millis));
            info.job_type = Some("V2Ingest");
            info.number_records_processed = Some(processed);
            info.number_records_failed = Some(failed);
            info.retries = Some(0);
            info.total_processing_time = Some(millis);
            info.api_active_processing_time = Some(millis);
            info.apex_processing_time = Some(0);
        } else {
            info.content_url = Some(format!(
                "services/data/v{}/jobs/ingest/{}/batches",
                self.header.version, self.header.id
            ));
        }
        info
    }
}

fn body_json(req: &Req) -> Result<serde_json::Map<String, Json>, ApiError> {
    match serde_json::from_slice::<Json>(&req.body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(bad_job("the request body must be a JSON object")),
        Err(e) => Err(ApiError::json_parser(&e)),
    }
}

fn str_prop<'a>(map: &'a serde_json::Map<String, Json>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Json::as_str)
}

/// `POST /jobs/ingest` → 200 JobInfo (`Open`). 200 rather than 201 follows the observed
/// status (§6.1 [OBS]).
pub fn create(state: &State, req: &Req, version: ApiVersion) -> Resp {
    let map = match body_json(req) {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let Some(object_name) = str_prop(&map, "object") else {
        return bad_job("InvalidJob : Object is required").into();
    };
    let Ok(object) = object_name.parse::<SObject>() else {
        return ApiError::new(
            400,
            "INVALIDENTITY",
            format!("Entity '{object_name}' is not supported by the Bulk API."),
        )
        .into();
    };
    match str_prop(&map, "operation") {
        Some("update") => {}
        Some(op @ ("insert" | "upsert" | "delete" | "hardDelete")) => {
            // Valid in Salesforce, not emulated: the sync only updates.
            return ApiError::new(
                400,
                "FEATURENOTENABLED",
                format!(
                    "The emulator supports only the 'update' operation for ingest jobs, not '{op}'"
                ),
            )
            .into();
        }
        Some(op) => return bad_job(format!("InvalidJob : Invalid operation: {op}")).into(),
        None => return bad_job("InvalidJob : Operation is required").into(),
    }
    if str_prop(&map, "contentType").is_some_and(|c| c != "CSV") {
        return bad_job("InvalidJob : contentType must be CSV").into();
    }
    let line_ending = str_prop(&map, "lineEnding").unwrap_or("LF");
    if line_ending != "LF" && line_ending != "CRLF" {
        return bad_job(format!("InvalidJob : Invalid lineEnding: {line_ending}")).into();
    }
    let delimiter = str_prop(&map, "columnDelimiter").unwrap_or("COMMA");
    if delimiter_byte(delimiter).is_none() {
        return bad_job(format!("InvalidJob : Invalid columnDelimiter: {delimiter}")).into();
    }
    let mut jobs = state.jobs();
    let id = jobs.next_id();
    let job = IngestJob {
        header: JobHeader::new(
            id.clone(),
            "update",
            object,
            version,
            JobState::Open,
            &state.config.user_id,
        ),
        line_ending: line_ending.to_owned(),
        delimiter: delimiter.to_owned(),
        data: None,
        outcome: None,
    };
    let resp = Resp::json(200, &job.info(false));
    jobs.ingest.insert(id, job);
    resp
}

/// `GET /jobs/ingest`: every ingest job.
pub fn list(state: &State) -> Resp {
    let jobs = state.jobs();
    let mut records: Vec<JobInfo> = jobs.ingest.values().map(|j| j.info(true)).collect();
    records.sort_by(|a, b| a.id.cmp(&b.id));
    Resp::json(
        200,
        &serde_json::json!({ "done": true, "records": records, "nextRecordsUrl": null }),
    )
}

/// `PUT /jobs/ingest/{id}/batches` (text/csv) → 201 with no body.
///
/// Only one upload per job is accepted. Whether Salesforce accepts several is UNCONFIRMED
/// (§6.2); a second upload is refused with the text Salesforce uses for jobs
/// that received more than one upload.
pub fn upload(state: &State, req: &Req, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    if let Some(ct) = req.header("content-type")
        && !ct.starts_with("text/csv")
    {
        return ApiError::new(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            format!("Unsupported content type: {ct}; use text/csv"),
        )
        .into();
    }
    if req.body.len() > MAX_UPLOAD {
        return ApiError::new(
            400,
            "CLIENTINPUTERROR",
            "ClientInputError : upload exceeds 150 MB",
        )
        .into();
    }
    let mut jobs = state.jobs();
    let Some(job) = jobs.ingest.get_mut(&id) else {
        return ApiError::not_found().into();
    };
    if job.header.state != JobState::Open {
        return bad_state(format!(
            "Job {id} is not Open (state {:?})",
            job.header.state
        ))
        .into();
    }
    if job.data.is_some() {
        return bad_state(format!(
            "Found multiple contents for job: <{id}>, please 'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make sure you only do 'PUT' once on a given Job."
        ))
        .into();
    }
    job.data = Some(req.body.clone());
    Resp::empty(201)
}

/// `PATCH /jobs/ingest/{id}` with `{"state":"UploadComplete"}` or `{"state":"Aborted"}`.
/// The answer is the JobInfo in its new state. With `bulk_processing_delay_ms = 0` the job
/// is processed before this call returns, so the first poll sees `JobComplete`.
pub fn close(shared: &Shared, req: &Req, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let map = match body_json(req) {
        Ok(m) => m,
        Err(e) => return e.into(),
    };
    let target = str_prop(&map, "state").unwrap_or("");
    let mut jobs = shared.jobs();
    let Some(job) = jobs.ingest.get_mut(&id) else {
        return ApiError::not_found().into();
    };
    match target {
        "Aborted" => {
            if job.header.state.is_final() {
                return bad_state(format!("Job {id} is already {:?}", job.header.state)).into();
            }
            job.header.set_state(JobState::Aborted);
            return Resp::json(200, &job.info(false));
        }
        "UploadComplete" => {}
        other => return bad_state(format!("Invalid state transition to '{other}'")).into(),
    }
    if job.header.state != JobState::Open {
        return bad_state(format!(
            "Job {id} is not Open (state {:?})",
            job.header.state
        ))
        .into();
    }
    job.header.set_state(JobState::UploadComplete);
    let resp = Resp::json(200, &job.info(false));
    let spec = Spec {
        object: job.header.object,
        data: job.data.clone().unwrap_or_default(),
        crlf: job.line_ending == "CRLF",
        delimiter: delimiter_byte(&job.delimiter).unwrap_or(b','),
    };
    drop(jobs);
    let delay = shared.config.bulk_processing_delay_ms;
    if delay == 0 {
        run(shared, &id, &spec);
    } else {
        let shared = Shared::clone(shared);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay / 2)).await;
            if !mark_in_progress(&shared, &id) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(delay - delay / 2)).await;
            let _ = tokio::task::spawn_blocking(move || run(&shared, &id, &spec)).await;
        });
    }
    resp
}

/// Moves a queued job to `InProgress`; false when it was aborted or deleted meanwhile.
fn mark_in_progress(state: &State, id: &str) -> bool {
    let mut jobs = state.jobs();
    match jobs.ingest.get_mut(id) {
        Some(job) if job.header.state == JobState::UploadComplete => {
            job.header.set_state(JobState::InProgress);
            true
        }
        _ => false,
    }
}

fn run(state: &State, id: &str, spec: &Spec) {
    let _ = mark_in_progress(state, id);
    let outcome = process(state, spec);
    let mut jobs = state.jobs();
    if let Some(job) = jobs.ingest.get_mut(id) {
        if job.header.state == JobState::Aborted {
            return;
        }
        job.header.error_message = outcome.error.clone();
        job.header.set_state(if outcome.error.is_some() {
            JobState::Failed
        } else {
            JobState::JobComplete
        });
        job.outcome = Some(outcome);
    }
}

/// `GET /jobs/ingest/{id}`.
pub fn poll(state: &State, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let jobs = state.jobs();
    match jobs.ingest.get(&id) {
        Some(job) => Resp::json(200, &job.info(true)),
        None => ApiError::not_found().into(),
    }
}

/// `DELETE /jobs/ingest/{id}` → 204 (status UNCONFIRMED, §6.3). A job being processed
/// cannot be deleted.
pub fn delete(state: &State, raw_id: &str) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let mut jobs = state.jobs();
    match jobs.ingest.get(&id).map(|j| j.header.state) {
        None => ApiError::not_found().into(),
        Some(JobState::UploadComplete | JobState::InProgress) => {
            bad_state(format!("Job {id} is being processed and cannot be deleted")).into()
        }
        Some(_) => {
            jobs.ingest.remove(&id);
            Resp::empty(204)
        }
    }
}

/// `GET /jobs/ingest/{id}/{successfulResults|failedResults|unprocessedrecords}/` (§6.5).
/// Results exist once the job has reached a final state; asking earlier is refused
/// (behaviour for unfinished jobs UNCONFIRMED).
pub fn results(state: &State, raw_id: &str, set: ResultSet) -> Resp {
    let Some(id) = job_key(raw_id) else {
        return ApiError::not_found().into();
    };
    let jobs = state.jobs();
    let Some(job) = jobs.ingest.get(&id) else {
        return ApiError::not_found().into();
    };
    if !job.header.state.is_final() {
        return bad_state(format!(
            "Job {id} is not complete (state {:?})",
            job.header.state
        ))
        .into();
    }
    let data = job.data.clone().unwrap_or_default();
    let empty = Outcome::default();
    let outcome = job.outcome.as_ref().unwrap_or(&empty);
    let header = if outcome.header.1 > outcome.header.0 {
        &data[outcome.header.0..outcome.header.1]
    } else {
        // An aborted job was never parsed: its header is the first line of the upload.
        first_line(&data)
    };
    let mut out = Vec::with_capacity(64 + data.len() / 2);
    match set {
        ResultSet::Successful => out.extend_from_slice(b"\"sf__Id\",\"sf__Created\","),
        ResultSet::Failed => out.extend_from_slice(b"\"sf__Id\",\"sf__Error\","),
        ResultSet::Unprocessed => {}
    }
    out.extend_from_slice(header);
    out.push(b'\n');
    if job.outcome.is_none() && set == ResultSet::Unprocessed {
        // Aborted before processing: every uploaded row is unprocessed.
        let body = &data[header.len().min(data.len())..];
        for line in body.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        return Resp::csv(200, out);
    }
    for (n, row) in outcome.rows.iter().enumerate() {
        let line = &data[row.start as usize..row.end as usize];
        match (set, row.status) {
            (ResultSet::Successful, RowStatus::Success) => {
                out.push(b'"');
                out.extend_from_slice(row.id.map(|i| i.to_string()).unwrap_or_default().as_bytes());
                out.extend_from_slice(b"\",\"false\",");
            }
            (ResultSet::Failed, RowStatus::Failed) => {
                // `sf__Id` is empty for failed rows, as in the §6.5 example (Salesforce
                // fills it since 53.0 when it knows the Id; clients should read `Id`).
                out.extend_from_slice(b"\"\",");
                let err = outcome.failures.get(&(n as u32)).map_or("", String::as_str);
                write_quoted(&mut out, err.as_bytes());
                out.push(b',');
            }
            (ResultSet::Unprocessed, RowStatus::Unprocessed) => {}
            _ => continue,
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    Resp::csv(200, out)
}

fn first_line(data: &[u8]) -> &[u8] {
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let line = &data[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What to process.
#[derive(Debug, Clone)]
struct Spec {
    object: SObject,
    data: Bytes,
    crlf: bool,
    delimiter: u8,
}

/// A resolved CSV column.
#[derive(Debug, Clone)]
enum Column {
    Id,
    Field {
        field: FieldRef,
        ty: FieldType,
        updateable: bool,
        label: String,
        name: String,
    },
}

fn failed(outcome: &mut Outcome, message: String) {
    outcome.error = Some(message);
}

/// `LineEnding is invalid on user data` when the file's line endings contradict the job's
/// `lineEnding` (the message Salesforce gives for this mistake).
fn line_ending_ok(data: &[u8], crlf: bool) -> bool {
    let mut prev = 0u8;
    for &b in data {
        if b == b'\n' {
            let is_crlf = prev == b'\r';
            if is_crlf != crlf {
                return false;
            }
        }
        prev = b;
    }
    true
}

fn cell_str(cell: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(cell)
}

fn process(state: &State, spec: &Spec) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome::default();
    let data = &spec.data[..];
    if !line_ending_ok(data, spec.crlf) {
        failed(
            &mut outcome,
            format!(
                "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is {}",
                if spec.crlf { "CRLF" } else { "LF" }
            ),
        );
        outcome.millis = started.elapsed().as_millis() as u64;
        return outcome;
    }
    let reader = || {
        csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(spec.delimiter)
            .from_reader(data)
    };
    // Pass 1: structure (row ranges, column counts, header).
    let mut rdr = reader();
    let mut rec = csv::ByteRecord::new();
    let header_names: Vec<String> = match rdr.read_byte_record(&mut rec) {
        Ok(true) => rec
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let text = cell_str(c).trim().to_owned();
                if i == 0 {
                    text.trim_start_matches('\u{feff}').to_owned()
                } else {
                    text
                }
            })
            .collect(),
        _ => {
            failed(
                &mut outcome,
                "InvalidBatch : The uploaded file has no header row".to_owned(),
            );
            return outcome;
        }
    };
    let header_start = rec.position().map_or(0, |p| p.byte() as usize);
    let mut starts: Vec<usize> = Vec::new();
    let mut bad_row: Option<usize> = None;
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {
                if rec.len() != header_names.len() && bad_row.is_none() {
                    bad_row = Some(starts.len() + 1);
                }
                starts.push(rec.position().map_or(0, |p| p.byte() as usize));
            }
            Ok(false) => break,
            Err(e) => {
                failed(
                    &mut outcome,
                    format!("InvalidBatch : Failed to parse CSV: {e}"),
                );
                return outcome;
            }
        }
    }
    let trim = |mut end: usize, start: usize| {
        while end > start && (data[end - 1] == b'\n' || data[end - 1] == b'\r') {
            end -= 1;
        }
        end
    };
    let header_end = trim(starts.first().copied().unwrap_or(data.len()), header_start);
    let bom = if data[header_start..].starts_with("\u{feff}".as_bytes()) {
        3
    } else {
        0
    };
    outcome.header = (header_start + bom, header_end);
    outcome.rows = starts
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let next = starts.get(i + 1).copied().unwrap_or(data.len());
            Row {
                start: start as u32,
                end: trim(next, start) as u32,
                status: RowStatus::Unprocessed,
                id: None,
            }
        })
        .collect();
    if let Some(row) = bad_row {
        failed(
            &mut outcome,
            format!(
                "ClientInputError : Wrong number of columns in row {row}: expected {}",
                header_names.len()
            ),
        );
        return outcome;
    }
    // Header → columns. An unknown or hidden column fails the whole job.
    let columns: Vec<Column> = {
        let org = state.org();
        let schema = org.schema(spec.object);
        let mut cols = Vec::with_capacity(header_names.len());
        for name in &header_names {
            if name.eq_ignore_ascii_case("Id") {
                cols.push(Column::Id);
                continue;
            }
            match schema.lookup(name) {
                Some(info) => cols.push(Column::Field {
                    field: info.field,
                    ty: info.ty,
                    updateable: info.updateable,
                    label: info.label.to_owned(),
                    name: info.name.to_owned(),
                }),
                None => {
                    failed(
                        &mut outcome,
                        format!("InvalidBatch : Field name not found : {name}"),
                    );
                    return outcome;
                }
            }
        }
        cols
    };
    // Pass 2: apply rows, one 10,000-row batch per lock hold.
    let mut rdr = reader();
    let _ = rdr.read_byte_record(&mut rec);
    let mut changes: Vec<Change> = Vec::with_capacity(columns.len());
    let (mut written, mut lock_errors) = (0u64, 0u64);
    let total = outcome.rows.len();
    let mut row_index = 0usize;
    while row_index < total {
        let batch_end = (row_index + BATCH_ROWS).min(total);
        let mut org = state.org_mut();
        let mut faults = state.faults();
        let now = time::now_ms();
        while row_index < batch_end {
            if !matches!(rdr.read_byte_record(&mut rec), Ok(true)) {
                // Cannot happen (pass 1 read the same bytes), but never spin: the
                // remaining rows stay unprocessed.
                row_index = total;
                break;
            }
            let result = apply_row(
                &mut org,
                &mut faults,
                spec.object,
                &columns,
                &rec,
                &mut changes,
                now,
                &mut lock_errors,
            );
            let row = &mut outcome.rows[row_index];
            match result {
                Ok(id) => {
                    row.status = RowStatus::Success;
                    row.id = Some(id);
                    written += 1;
                }
                Err(e) => {
                    row.status = RowStatus::Failed;
                    outcome.failures.insert(row_index as u32, e.to_bulk_error());
                    outcome.failed += 1;
                }
            }
            outcome.processed += 1;
            row_index += 1;
        }
        drop(faults);
        drop(org);
    }
    state.note_writes(written, lock_errors);
    outcome.millis = started.elapsed().as_millis() as u64;
    outcome
}

#[allow(clippy::too_many_arguments)]
fn apply_row(
    org: &mut crate::store::Org,
    faults: &mut crate::faults::Faults,
    object: SObject,
    columns: &[Column],
    rec: &csv::ByteRecord,
    changes: &mut Vec<Change>,
    now: i64,
    lock_errors: &mut u64,
) -> Result<SfId, RecordError> {
    changes.clear();
    let mut id_cell: Option<&[u8]> = None;
    for (col, cell) in columns.iter().zip(rec.iter()) {
        match col {
            Column::Id => id_cell = Some(cell),
            Column::Field { .. } if cell.is_empty() => {}
            Column::Field {
                field,
                ty,
                updateable,
                label,
                name,
            } => {
                let text = cell_str(cell);
                let null = text == "#N/A";
                let value = match ty {
                    FieldType::Boolean => {
                        let v = text.trim();
                        if null || v.eq_ignore_ascii_case("false") || v == "0" {
                            NewValue::Bool(false)
                        } else if v.eq_ignore_ascii_case("true") || v == "1" {
                            NewValue::Bool(true)
                        } else {
                            return Err(RecordError::bad_boolean(label, name, &text));
                        }
                    }
                    FieldType::String | FieldType::Email if *updateable && !null => {
                        NewValue::Text(Some(text.as_ref().into()))
                    }
                    // Null text, or a system/read-only column refused by `prepare`.
                    _ => NewValue::Text(None),
                };
                changes.push(Change {
                    field: *field,
                    value,
                });
            }
        }
    }
    let id_text = id_cell.map(cell_str).unwrap_or_default();
    let id_text = id_text.trim();
    if id_text.is_empty() {
        return Err(RecordError::missing_id());
    }
    let idx = org.target(object, id_text)?;
    org.prepare(idx, changes, &mut || {
        let hit = faults.roll_lock();
        *lock_errors += u64::from(hit);
        hit
    })?;
    org.commit(idx, changes, now);
    Ok(org.get(idx).id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings() {
        assert!(line_ending_ok(b"Id\na\n", false));
        assert!(!line_ending_ok(b"Id\r\na\r\n", false));
        assert!(line_ending_ok(b"Id\r\na\r\n", true));
        assert!(!line_ending_ok(b"Id\na\n", true));
    }
}
