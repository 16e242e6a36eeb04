//! Bulk API 2.0 (plugin/SALESFORCE.md §6): ingest update jobs and query jobs, and
//! the CSV they exchange.

use serde_json::{Value, json};

use crate::model::SObject;
use crate::ports::{HttpRequest, Method};
use crate::salesforce::api::{CallKind, OrgApi, RequestError};
use crate::salesforce::soql;

/// A job's state as Salesforce reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// `Open`, `UploadComplete`, `InProgress`, `JobComplete`, `Failed`, `Aborted`.
    pub state: String,
    /// Rows processed (failed ones included).
    pub processed: u64,
    /// Rows that failed.
    pub failed: u64,
    /// Why a job failed, when it did.
    pub error_message: Option<String>,
}

impl JobInfo {
    /// The job will not change any more.
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "JobComplete" | "Failed" | "Aborted")
    }
}

/// One page of a query job's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsPage {
    /// The CSV.
    pub csv: Vec<u8>,
    /// The locator of the next page; none after the last.
    pub next: Option<String>,
}

fn json_request(method: Method, path: String, body: &Value) -> HttpRequest {
    HttpRequest {
        method,
        path,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            ("Accept".into(), "application/json".into()),
        ],
        body: serde_json::to_vec(body).expect("JSON values serialize"),
    }
}

fn get(path: String, accept: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        path,
        headers: vec![("Accept".into(), accept.into())],
        body: Vec::new(),
    }
}

fn parse(body: &[u8]) -> Result<Value, RequestError> {
    serde_json::from_slice(body)
        .map_err(|e| RequestError::BadResponse(format!("Bulk API answer is not JSON: {e}")))
}

fn job_id(info: &Value) -> Result<String, RequestError> {
    info.get("id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(String::from)
        .ok_or_else(|| RequestError::BadResponse("Bulk API job without a usable id".into()))
}

fn job_info(info: &Value) -> JobInfo {
    let number = |k: &str| info.get(k).and_then(Value::as_u64).unwrap_or(0);
    JobInfo {
        state: info
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        processed: number("numberRecordsProcessed"),
        failed: number("numberRecordsFailed"),
        error_message: info
            .get("errorMessage")
            .and_then(Value::as_str)
            .map(String::from),
    }
}

/// Creates a query job (§6.7); returns its id.
pub fn create_query_job(api: &mut OrgApi<'_>, query: &str) -> Result<String, RequestError> {
    let path = format!("{}/jobs/query", api.base());
    let body = json!({ "operation": "query", "query": query });
    let r = api.send(CallKind::Bulk, json_request(Method::Post, path, &body))?;
    job_id(&parse(&r.body)?)
}

/// Polls a query job.
pub fn query_job(api: &mut OrgApi<'_>, id: &str) -> Result<JobInfo, RequestError> {
    let path = format!("{}/jobs/query/{id}", api.base());
    let r = api.send(CallKind::Bulk, get(path, "application/json"))?;
    Ok(job_info(&parse(&r.body)?))
}

/// Fetches one page of a finished query job's CSV results.
pub fn query_results(
    api: &mut OrgApi<'_>,
    id: &str,
    locator: Option<&str>,
    max_records: u32,
) -> Result<ResultsPage, RequestError> {
    let mut path = format!(
        "{}/jobs/query/{id}/results?maxRecords={max_records}",
        api.base()
    );
    if let Some(l) = locator {
        path.push_str("&locator=");
        path.push_str(&soql::encode_component(l));
    }
    let r = api.send(CallKind::Bulk, get(path, "text/csv"))?;
    let next = r
        .header("sforce-locator")
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "null")
        .map(String::from);
    Ok(ResultsPage { csv: r.body, next })
}

/// Creates an ingest update job for `object` (§6.1); returns its id and the
/// path to upload to.
pub fn create_ingest_job(
    api: &mut OrgApi<'_>,
    object: SObject,
) -> Result<(String, String), RequestError> {
    let path = format!("{}/jobs/ingest", api.base());
    let body = json!({
        "object": object.api_name(),
        "operation": "update",
        "contentType": "CSV",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    });
    let r = api.send(CallKind::Bulk, json_request(Method::Post, path, &body))?;
    let info = parse(&r.body)?;
    let id = job_id(&info)?;
    // `contentUrl` has no leading slash (§6.1); it must stay on the org.
    let upload = match info.get("contentUrl").and_then(Value::as_str) {
        Some(url) if url.starts_with("services/") && !url.contains("..") => format!("/{url}"),
        _ => format!("{}/jobs/ingest/{id}/batches", api.base()),
    };
    Ok((id, upload))
}

/// Uploads a job's CSV (§6.2).
pub fn upload(api: &mut OrgApi<'_>, upload_path: &str, csv: Vec<u8>) -> Result<(), RequestError> {
    let request = HttpRequest {
        method: Method::Put,
        path: upload_path.to_string(),
        headers: vec![("Content-Type".into(), "text/csv".into())],
        body: csv,
    };
    api.send(CallKind::Bulk, request).map(|_| ())
}

/// Closes a job so Salesforce processes it (§6.3).
pub fn close(api: &mut OrgApi<'_>, id: &str) -> Result<(), RequestError> {
    let path = format!("{}/jobs/ingest/{id}", api.base());
    api.send(
        CallKind::Bulk,
        json_request(Method::Patch, path, &json!({ "state": "UploadComplete" })),
    )
    .map(|_| ())
}

/// Polls an ingest job (§6.4).
pub fn ingest_job(api: &mut OrgApi<'_>, id: &str) -> Result<JobInfo, RequestError> {
    let path = format!("{}/jobs/ingest/{id}", api.base());
    let r = api.send(CallKind::Bulk, get(path, "application/json"))?;
    Ok(job_info(&parse(&r.body)?))
}

/// A job's failed rows as CSV (§6.5).
pub fn failed_results(api: &mut OrgApi<'_>, id: &str) -> Result<Vec<u8>, RequestError> {
    let path = format!("{}/jobs/ingest/{id}/failedResults/", api.base());
    Ok(api.send(CallKind::Bulk, get(path, "text/csv"))?.body)
}

/// Builds an update CSV: a header `Id,<fields>` and one row per record with
/// every field `true`. Values go through a CSV writer, so any value is quoted
/// and escaped as RFC 4180 requires.
pub struct UpdateCsv {
    writer: csv::Writer<Vec<u8>>,
    fields: usize,
    rows: u64,
}

impl UpdateCsv {
    /// A CSV with room for about `rows` rows.
    pub fn new(fields: &[String], rows: usize) -> Self {
        let row_len = 19 + fields.len() * 5;
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::with_capacity(16 + rows * row_len));
        let mut header = vec!["Id"];
        header.extend(fields.iter().map(String::as_str));
        writer
            .write_record(&header)
            .expect("writing to memory cannot fail");
        UpdateCsv {
            writer,
            fields: fields.len(),
            rows: 0,
        }
    }

    /// Adds a record.
    pub fn push(&mut self, id: &str) {
        let mut row = Vec::with_capacity(1 + self.fields);
        row.push(id);
        row.extend(std::iter::repeat_n("true", self.fields));
        self.writer
            .write_record(&row)
            .expect("writing to memory cannot fail");
        self.rows += 1;
    }

    /// Rows added.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The CSV bytes.
    pub fn finish(self) -> Vec<u8> {
        self.writer
            .into_inner()
            .expect("writing to memory cannot fail")
    }
}

/// Reads a CSV with a header row; calls `row` with each record as a map from
/// column name to value. Stops at the first malformed record.
pub fn read_csv(
    bytes: &[u8],
    mut row: impl FnMut(&csv::StringRecord, &csv::StringRecord),
) -> Result<(), RequestError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let headers = reader
        .headers()
        .map_err(|e| RequestError::BadResponse(format!("Bulk CSV header unreadable: {e}")))?
        .clone();
    for record in reader.records() {
        let record =
            record.map_err(|e| RequestError::BadResponse(format!("Bulk CSV unreadable: {e}")))?;
        row(&headers, &record);
    }
    Ok(())
}

/// The value of `column` in a record.
pub fn column<'r>(
    headers: &csv::StringRecord,
    record: &'r csv::StringRecord,
    column: &str,
) -> Option<&'r str> {
    headers
        .iter()
        .position(|h| h == column)
        .and_then(|i| record.get(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_csv_has_a_header_and_a_row_per_record() {
        let mut csv = UpdateCsv::new(&["HasOptedOutOfEmail".into(), "ns__Opt__c".into()], 2);
        csv.push("00Q5e00000AbCdEEAV");
        csv.push("00Q5e00000AbCdFEAV");
        assert_eq!(csv.rows(), 2);
        assert_eq!(
            String::from_utf8(csv.finish()).unwrap(),
            "Id,HasOptedOutOfEmail,ns__Opt__c\n00Q5e00000AbCdEEAV,true,true\n00Q5e00000AbCdFEAV,true,true\n"
        );
    }

    #[test]
    fn hostile_values_are_quoted() {
        let mut csv = UpdateCsv::new(&["F__c".into()], 1);
        csv.push("a,\"b\"\nc");
        assert_eq!(
            String::from_utf8(csv.finish()).unwrap(),
            "Id,F__c\n\"a,\"\"b\"\"\nc\",true\n"
        );
    }

    #[test]
    fn failed_results_are_read_by_column_name() {
        let body = b"\"sf__Id\",\"sf__Error\",Id,HasOptedOutOfEmail\n\"\",\"ENTITY_IS_DELETED:entity is deleted:--\",00Q5e00000AbCdFEAV,true\n";
        let mut rows = Vec::new();
        read_csv(body, |h, r| {
            rows.push((
                column(h, r, "Id").unwrap().to_string(),
                column(h, r, "sf__Error").unwrap().to_string(),
            ))
        })
        .unwrap();
        assert_eq!(
            rows,
            vec![(
                "00Q5e00000AbCdFEAV".into(),
                "ENTITY_IS_DELETED:entity is deleted:--".into()
            )]
        );
    }
}
