//! The org's REST API as the policy uses it: request paths, call counting by
//! kind, the `Sforce-Limit-Info` watch and the nightly's call budget.

use serde_json::{Value, json};

use crate::model::{ApiCalls, RecordRef, SObject, SalesforceFailure, SyncError};
use crate::ports::{Http, HttpFailure, HttpRequest, HttpResponse, Method};
use crate::salesforce::errors::{
    Disposition, Failure, classify, classify_http, parse_error_body, save_result_failure,
};
use crate::salesforce::soql;

/// What kind of API call a request is, for the report's counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// SOQL pages.
    Query,
    /// Single-record requests.
    Record,
    /// sObject Collections.
    Collections,
    /// Bulk API 2.0.
    Bulk,
    /// Describe and limits.
    Metadata,
}

/// Why a request did not give a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// No response at all.
    NoResponse(HttpFailure),
    /// Salesforce answered with an error status.
    Status(SalesforceFailure),
    /// Not sent: it would break the run's budget (the text says which limit).
    Budget(String),
    /// A success status whose body we could not read.
    BadResponse(String),
}

impl RequestError {
    /// The one mapping of a failed request to a classified failure (and so
    /// to the `sync-error` a caller reports), for a request on `object`
    /// about the record `target`, if it was about one, with `fields`.
    pub fn classify(
        self,
        object: SObject,
        target: Option<&RecordRef>,
        fields: &[String],
    ) -> Failure {
        match self {
            RequestError::Status(sf) => classify(sf, object, target, fields),
            RequestError::NoResponse(h) => classify_http(h),
            RequestError::Budget(m) => Failure {
                disposition: Disposition::Limit,
                error: SyncError::ApiLimitExhausted(m),
            },
            RequestError::BadResponse(m) => Failure {
                disposition: Disposition::Transient,
                error: SyncError::Transport(m),
            },
        }
    }
}

/// Limits on the calls one run may make.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallBudget {
    /// Calls this run may still make; none for no cap.
    pub max_calls: Option<u32>,
    /// Stop before the org's remaining daily requests drop below this.
    pub reserve: u32,
}

/// Extra attempts of a request that got no answer or a 5xx.
pub const IMMEDIATE_RETRIES: u32 = 2;
/// Bodies above this size are never re-sent (and so never copied).
const RETRYABLE_BODY_BYTES: usize = 1 << 20;

/// The outcome of one record in a collections update, in request order.
pub type SaveOutcome = Result<(), SalesforceFailure>;

/// A session against the org's API.
pub struct OrgApi<'a> {
    http: &'a dyn Http,
    version: String,
    /// Calls made so far, by kind.
    pub calls: ApiCalls,
    /// The org's API usage from the last `Sforce-Limit-Info`: (used, max).
    pub usage: Option<(u64, u64)>,
    budget: Option<CallBudget>,
}

impl<'a> OrgApi<'a> {
    /// A session for API version `version` (such as `62.0`), unbudgeted.
    pub fn new(http: &'a dyn Http, version: &str) -> Self {
        OrgApi {
            http,
            version: version.to_string(),
            calls: ApiCalls::default(),
            usage: None,
            budget: None,
        }
    }

    /// Applies a call budget to every later request.
    pub fn with_budget(mut self, budget: CallBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The API version.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The `/services/data/vNN.0` prefix.
    pub fn base(&self) -> String {
        ["/services/data/v", &self.version].concat()
    }

    /// `{base}/sobjects/{Object}/{id}`: one record. Built in one allocation,
    /// without the formatting machinery: every push sends one.
    fn record_path(&self, target: &RecordRef) -> String {
        [
            "/services/data/v",
            &self.version,
            "/sobjects/",
            target.object.api_name(),
            "/",
            &target.id,
        ]
        .concat()
    }

    /// Whether the next request may be sent; `Err` names the limit it breaks.
    pub fn check_budget(&self, calls_needed: u32) -> Result<(), String> {
        let Some(budget) = &self.budget else {
            return Ok(());
        };
        if let Some(max) = budget.max_calls
            && self.calls.total() + calls_needed > max
        {
            return Err(format!("the run's budget of {max} API calls is spent"));
        }
        if let Some((used, max)) = self.usage {
            let remaining = max.saturating_sub(used);
            if remaining < u64::from(budget.reserve) + u64::from(calls_needed) {
                return Err(format!(
                    "the org has {remaining} API requests left today and {} are reserved for real-time pushes",
                    budget.reserve
                ));
            }
        }
        Ok(())
    }

    /// Sends one request, counting it, watching the limit header and turning
    /// error statuses into [`RequestError::Status`].
    ///
    /// A request that gets no answer or a 5xx is sent again at once, up to
    /// [`IMMEDIATE_RETRIES`] times: most such failures are momentary, and a
    /// write that may have landed is harmless to repeat (every write sets
    /// checkboxes to true). Large bodies (a Bulk upload) are sent once, so
    /// they are never copied. Lock errors are not retried here: they want a
    /// backoff, which the retry queue gives.
    pub fn send(
        &mut self,
        kind: CallKind,
        mut request: HttpRequest,
    ) -> Result<HttpResponse, RequestError> {
        let mut attempt = 0;
        loop {
            let last = attempt >= IMMEDIATE_RETRIES || request.body.len() > RETRYABLE_BODY_BYTES;
            let outgoing = if last {
                let method = request.method;
                std::mem::replace(
                    &mut request,
                    HttpRequest {
                        method,
                        path: String::new(),
                        headers: Vec::new(),
                        body: Vec::new(),
                    },
                )
            } else {
                request.clone()
            };
            let result = self.send_once(kind, outgoing);
            let transient = match &result {
                Err(RequestError::NoResponse(HttpFailure::Timeout | HttpFailure::Transport(_))) => {
                    true
                }
                Err(RequestError::Status(sf)) => sf.status >= 500,
                _ => false,
            };
            if last || !transient {
                return result;
            }
            attempt += 1;
        }
    }

    /// Sends one request once.
    fn send_once(
        &mut self,
        kind: CallKind,
        request: HttpRequest,
    ) -> Result<HttpResponse, RequestError> {
        self.check_budget(1).map_err(RequestError::Budget)?;
        match kind {
            CallKind::Query => self.calls.query += 1,
            CallKind::Record => self.calls.record += 1,
            CallKind::Collections => self.calls.collections += 1,
            CallKind::Bulk => self.calls.bulk += 1,
            CallKind::Metadata => self.calls.metadata += 1,
        }
        let response = self.http.send(request).map_err(RequestError::NoResponse)?;
        if let Some(usage) = response
            .header("sforce-limit-info")
            .and_then(parse_limit_info)
        {
            self.usage = Some(usage);
        }
        if (200..300).contains(&response.status) {
            Ok(response)
        } else {
            Err(RequestError::Status(parse_error_body(
                response.status,
                &response.body,
            )))
        }
    }

    fn json_request(method: Method, path: String, body: &Value) -> HttpRequest {
        HttpRequest {
            method,
            path,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("JSON values serialize"),
        }
    }

    fn get(path: String) -> HttpRequest {
        HttpRequest {
            method: Method::Get,
            path,
            headers: vec![("Accept".into(), "application/json".into())],
            body: Vec::new(),
        }
    }

    /// PATCHes one record, setting each field to true (§2.1).
    pub fn patch_record(
        &mut self,
        target: &RecordRef,
        fields: &[String],
    ) -> Result<(), RequestError> {
        // A push's one request: built directly rather than through a JSON
        // `Value`, with the bytes a `Value` object would give (keys sorted,
        // each once).
        let mut names: Vec<&str> = fields.iter().map(String::as_str).collect();
        names.sort_unstable();
        names.dedup();
        let mut body = Vec::with_capacity(2 + names.iter().map(|f| f.len() + 8).sum::<usize>());
        body.push(b'{');
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, name).expect("strings serialize");
            body.extend_from_slice(b":true");
        }
        body.push(b'}');
        let request = HttpRequest {
            method: Method::Patch,
            path: self.record_path(target),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body,
        };
        self.send(CallKind::Record, request).map(|_| ())
    }

    /// Reads chosen fields of one record.
    pub fn get_record(
        &mut self,
        target: &RecordRef,
        fields: &[&str],
    ) -> Result<Value, RequestError> {
        let mut path = self.record_path(target);
        path.push_str("?fields=");
        path.push_str(&soql::encode_component(&fields.join(",")));
        let response = self.send(CallKind::Record, Self::get(path))?;
        parse_json(&response.body)
    }

    /// Runs a SOQL query (`all`: queryAll, which includes deleted rows) and
    /// follows `nextRecordsUrl` to the end; each page is one call.
    pub fn query(&mut self, soql_text: &str, all: bool) -> Result<Vec<Value>, RequestError> {
        let mut path = soql::query_path(&self.version, all, soql_text);
        let mut records = Vec::new();
        loop {
            let response = self.send(CallKind::Query, Self::get(path))?;
            let mut page = parse_json(&response.body)?;
            if let Some(Value::Array(rows)) = page.get_mut("records").map(Value::take) {
                records.extend(rows);
            } else {
                return Err(RequestError::BadResponse(
                    "query answer without records".into(),
                ));
            }
            let done = page.get("done").and_then(Value::as_bool).unwrap_or(true);
            match page.get("nextRecordsUrl").and_then(Value::as_str) {
                Some(next) if !done => {
                    if !next.starts_with("/services/") {
                        return Err(RequestError::BadResponse(format!(
                            "nextRecordsUrl {next:?} is not a path on the org"
                        )));
                    }
                    path = next.to_string();
                }
                _ => return Ok(records),
            }
        }
    }

    /// Updates up to 200 records in one sObject Collections call (§3), each
    /// field set to true, `allOrNone: false`. Records should be sorted by
    /// object so they form at most two chunks. One outcome per record, in order.
    pub fn update_collection(
        &mut self,
        records: &[(RecordRef, Vec<String>)],
    ) -> Result<Vec<SaveOutcome>, RequestError> {
        debug_assert!(!records.is_empty() && records.len() <= 200);
        let rows: Vec<Value> = records
            .iter()
            .map(|(target, fields)| {
                let mut row = serde_json::Map::new();
                row.insert(
                    "attributes".into(),
                    json!({ "type": target.object.api_name() }),
                );
                row.insert("id".into(), Value::String(target.id.clone()));
                for f in fields {
                    row.insert(f.clone(), Value::Bool(true));
                }
                Value::Object(row)
            })
            .collect();
        let body = json!({ "allOrNone": false, "records": rows });
        let path = format!("{}/composite/sobjects", self.base());
        let response = self.send(
            CallKind::Collections,
            Self::json_request(Method::Patch, path, &body),
        )?;
        let results = parse_json(&response.body)?;
        let results = results.as_array().ok_or_else(|| {
            RequestError::BadResponse("collections answer is not an array".into())
        })?;
        if results.len() != records.len() {
            return Err(RequestError::BadResponse(format!(
                "collections answered {} results for {} records",
                results.len(),
                records.len()
            )));
        }
        Ok(results
            .iter()
            .map(|r| {
                if r.get("success").and_then(Value::as_bool) == Some(true) {
                    Ok(())
                } else {
                    Err(save_result_failure(r.get("errors").unwrap_or(&Value::Null)))
                }
            })
            .collect())
    }

    /// Describes an object (§5).
    pub fn describe(&mut self, object: SObject) -> Result<Value, RequestError> {
        let path = format!("{}/sobjects/{}/describe", self.base(), object.api_name());
        let response = self.send(CallKind::Metadata, Self::get(path))?;
        parse_json(&response.body)
    }

    /// The org's daily API requests: (max, remaining), from `/limits` (§7.1).
    pub fn daily_requests(&mut self) -> Result<(u64, u64), RequestError> {
        let path = format!("{}/limits", self.base());
        let response = self.send(CallKind::Metadata, Self::get(path))?;
        let limits = parse_json(&response.body)?;
        let entry = limits.get("DailyApiRequests");
        let number = |key: &str| {
            entry.and_then(|e| e.get(key)).and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            })
        };
        match (number("Max"), number("Remaining")) {
            (Some(max), Some(remaining)) => Ok((max, remaining)),
            _ => Err(RequestError::BadResponse(
                "limits answer without DailyApiRequests".into(),
            )),
        }
    }
}

/// Parses `api-usage=USED/MAX` out of a `Sforce-Limit-Info` header (§7.2),
/// ignoring other segments such as `api-bursts`.
pub fn parse_limit_info(header: &str) -> Option<(u64, u64)> {
    header.split(';').find_map(|segment| {
        let (key, value) = segment.split_once('=')?;
        if key.trim() != "api-usage" {
            return None;
        }
        let (used, max) = value.trim().split_once('/')?;
        Some((used.trim().parse().ok()?, max.trim().parse().ok()?))
    })
}

fn parse_json(body: &[u8]) -> Result<Value, RequestError> {
    serde_json::from_slice(body)
        .map_err(|e| RequestError::BadResponse(format!("Salesforce's answer is not JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_patch_body_is_what_a_json_object_of_the_fields_serializes_to() {
        let cases: [&[&str]; 4] = [
            &["HasOptedOutOfEmail"],
            &["HasOptedOutOfEmail", "Sales_Opt_Out__c"],
            &["Zed_Opt_Out__c", "HasOptedOutOfEmail", "Abc__c"],
            &["ns__Opt_Out__c", "ns__Opt_Out__c"],
        ];
        let path = "/services/data/v62.0/sobjects/Lead/00Q5e00000AbCdEEAV";
        for fields in cases {
            let http = crate::testing::ScriptedHttp::default();
            http.expect(Method::Patch, path, 204, "");
            let mut api = OrgApi::new(&http, "62.0");
            let owned: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
            let target = RecordRef {
                object: SObject::Lead,
                id: "00Q5e00000AbCdEEAV".into(),
            };
            api.patch_record(&target, &owned).unwrap();
            http.assert_done();
            let sent = http.sent.borrow();
            let object: serde_json::Map<String, Value> = owned
                .iter()
                .map(|f| (f.clone(), Value::Bool(true)))
                .collect();
            assert_eq!(
                String::from_utf8_lossy(&sent[0].body),
                serde_json::to_string(&Value::Object(object)).unwrap()
            );
        }
    }

    #[test]
    fn limit_info_is_parsed_with_extra_segments() {
        assert_eq!(
            parse_limit_info("api-usage=1201/100000"),
            Some((1201, 100000))
        );
        assert_eq!(
            parse_limit_info("api-usage=10018/100000; api-bursts=1/750"),
            Some((10018, 100000))
        );
        assert_eq!(
            parse_limit_info("per-app-api-usage=17/250(appName=x)"),
            None
        );
        assert_eq!(parse_limit_info("garbage"), None);
    }
}
