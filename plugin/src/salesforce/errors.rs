//! Salesforce error bodies and what each error means for the sync
//! (plugin/SALESFORCE.md §2.2–2.4, §3.3, §6.5).

use serde::Deserialize;

use crate::model::{FieldRef, RecordRef, SObject, SalesforceFailure, SyncError};
use crate::ports::HttpFailure;

/// What the sync should do about a failed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Expected to pass: retry later (5xx, lock contention, timeouts).
    Transient,
    /// The credentials were rejected: stop, retry after re-authorization.
    Auth,
    /// The API allocation is spent: stop, retry when it rolls over.
    Limit,
    /// A converted Lead: follow `ConvertedContactId`.
    Converted,
    /// A deleted record: look for a merge survivor.
    Deleted,
    /// Will not pass without an admin: record and report.
    Permanent,
}

/// A failed request, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What to do.
    pub disposition: Disposition,
    /// The typed error for the caller, audit and report.
    pub error: SyncError,
}

impl Failure {
    /// Worth retrying later without an admin's help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.disposition,
            Disposition::Transient | Disposition::Auth | Disposition::Limit
        )
    }
}

/// One error object in a REST error array (`errorCode`) or a SaveResult
/// (`statusCode`).
#[derive(Debug, Deserialize)]
struct ErrorObject {
    #[serde(default)]
    message: String,
    #[serde(default, alias = "statusCode")]
    #[serde(rename = "errorCode")]
    code: String,
    #[serde(default)]
    fields: Option<Vec<String>>,
}

/// Parses a non-2xx REST response body into Salesforce's first error. A body
/// that is not Salesforce's error array (a proxy's HTML 503, say) becomes a
/// failure coded `HTTP_<status>` with the start of the body as its message.
pub fn parse_error_body(status: u16, body: &[u8]) -> SalesforceFailure {
    if let Ok(errors) = serde_json::from_slice::<Vec<ErrorObject>>(body)
        && let Some(first) = errors.into_iter().next()
    {
        return SalesforceFailure {
            status,
            code: first.code,
            message: first.message,
            fields: first.fields.unwrap_or_default(),
        };
    }
    let text = String::from_utf8_lossy(body);
    let snippet: String = text.chars().take(200).collect();
    SalesforceFailure {
        status,
        code: format!("HTTP_{status}"),
        message: snippet.trim().to_string(),
        fields: Vec::new(),
    }
}

/// Parses the `errors` of one SaveResult (HTTP status 200 for the request, so
/// `status` is reported as 400, Salesforce's status for a record-level error).
pub fn save_result_failure(errors: &serde_json::Value) -> SalesforceFailure {
    let first = errors
        .as_array()
        .and_then(|a| a.first())
        .and_then(|e| serde_json::from_value::<ErrorObject>(e.clone()).ok());
    match first {
        Some(e) => SalesforceFailure {
            status: 400,
            code: e.code,
            message: e.message,
            fields: e.fields.unwrap_or_default(),
        },
        None => SalesforceFailure {
            status: 400,
            code: "UNKNOWN_ERROR".into(),
            message: "Salesforce reported a failure without an error".into(),
            fields: Vec::new(),
        },
    }
}

/// Parses a Bulk API `sf__Error` cell: `CODE:message:fields--`.
pub fn bulk_error(cell: &str) -> SalesforceFailure {
    let trimmed = cell.strip_suffix("--").unwrap_or(cell);
    let (code, rest) = trimmed.split_once(':').unwrap_or((trimmed, ""));
    let (message, fields) = rest.rsplit_once(':').unwrap_or((rest, ""));
    SalesforceFailure {
        status: 400,
        code: code.to_string(),
        message: message.to_string(),
        fields: fields
            .split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(String::from)
            .collect(),
    }
}

/// Classifies a Salesforce error met on `object` while reading or writing
/// `fields`; `target` is the record the request was about, when it was about
/// one (a deleted record is only `record-deleted` then: a query that meets
/// `ENTITY_IS_DELETED` names no record, and none is invented).
pub fn classify(
    failure: SalesforceFailure,
    object: SObject,
    target: Option<&RecordRef>,
    fields: &[String],
) -> Failure {
    let (disposition, error) = match failure.code.as_str() {
        "INVALID_SESSION_ID" => (
            Disposition::Auth,
            SyncError::AuthFailed(format!("{} (after a token refresh)", failure.message)),
        ),
        "REQUEST_LIMIT_EXCEEDED" => (
            Disposition::Limit,
            SyncError::ApiLimitExhausted(failure.message.clone()),
        ),
        "UNABLE_TO_LOCK_ROW" => (Disposition::Transient, SyncError::SalesforceError(failure)),
        "CANNOT_UPDATE_CONVERTED_LEAD" => {
            (Disposition::Converted, SyncError::SalesforceError(failure))
        }
        "ENTITY_IS_DELETED" => match target {
            Some(target) => (
                Disposition::Deleted,
                SyncError::RecordDeleted(target.clone()),
            ),
            None => (Disposition::Permanent, SyncError::SalesforceError(failure)),
        },
        "INVALID_FIELD" => (
            Disposition::Permanent,
            SyncError::FieldNotInstalled(FieldRef {
                object,
                field: named_field(&failure, fields),
            }),
        ),
        "INVALID_FIELD_FOR_INSERT_UPDATE" => (
            Disposition::Permanent,
            SyncError::FieldNotWritable(FieldRef {
                object,
                field: named_field(&failure, fields),
            }),
        ),
        _ if failure.status >= 500 || failure.status == 429 => {
            (Disposition::Transient, SyncError::SalesforceError(failure))
        }
        _ => (Disposition::Permanent, SyncError::SalesforceError(failure)),
    };
    Failure { disposition, error }
}

impl SalesforceFailure {
    /// Classifies this error met on the record `target` (see [`classify`]).
    pub fn classify_on(self, target: &RecordRef, fields: &[String]) -> Failure {
        classify(self, target.object, Some(target), fields)
    }
}

/// Classifies a request that got no response.
pub fn classify_http(failure: HttpFailure) -> Failure {
    match failure {
        HttpFailure::AuthFailed(m) => Failure {
            disposition: Disposition::Auth,
            error: SyncError::AuthFailed(m),
        },
        HttpFailure::Timeout => Failure {
            disposition: Disposition::Transient,
            error: SyncError::Transport("no response from Salesforce before the timeout".into()),
        },
        HttpFailure::Transport(m) => Failure {
            disposition: Disposition::Transient,
            error: SyncError::Transport(m),
        },
        HttpFailure::ResponseTooLarge(cap) => Failure {
            disposition: Disposition::Transient,
            error: SyncError::Transport(format!(
                "Salesforce's response exceeded the host's {cap}-byte cap"
            )),
        },
        HttpFailure::Denied(m) => Failure {
            disposition: Disposition::Permanent,
            error: SyncError::RequestDenied(m),
        },
    }
}

/// The field an INVALID_FIELD* error is about: Salesforce's `fields`, else the
/// quoted name in "No such column 'X' …", else "Unable to create/update fields:
/// X.", else the only field written.
fn named_field(failure: &SalesforceFailure, written: &[String]) -> String {
    if let Some(f) = failure.fields.first() {
        return f.clone();
    }
    if let Some(rest) = failure.message.split_once("column '").map(|(_, r)| r)
        && let Some((name, _)) = rest.split_once('\'')
    {
        return name.to_string();
    }
    if let Some(rest) = failure.message.split_once("fields: ").map(|(_, r)| r)
        && let Some((name, _)) = rest.split_once('.')
    {
        return name.split(',').next().unwrap_or(name).trim().to_string();
    }
    written.join(",")
}

/// The SObject named by a describe or query `attributes.type`, defaulting to
/// the one asked about.
pub fn object_or(name: Option<&str>, default: SObject) -> SObject {
    name.and_then(SObject::from_api_name).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead() -> RecordRef {
        RecordRef {
            object: SObject::Lead,
            id: "00Q5e00000AbCdEEAV".into(),
        }
    }

    #[test]
    fn rest_error_arrays_are_parsed() {
        let body =
            br#"[{"message":"entity is deleted","errorCode":"ENTITY_IS_DELETED","fields":[]}]"#;
        let f = parse_error_body(404, body);
        assert_eq!(f.code, "ENTITY_IS_DELETED");
        assert_eq!(f.message, "entity is deleted");
        assert_eq!(f.status, 404);
    }

    #[test]
    fn non_salesforce_bodies_keep_status_and_text() {
        let f = parse_error_body(503, b"<html>Service Unavailable</html>");
        assert_eq!(f.code, "HTTP_503");
        assert!(f.message.contains("Service Unavailable"));
        assert_eq!(
            classify(f, SObject::Lead, Some(&lead()), &[]).disposition,
            Disposition::Transient
        );
    }

    #[test]
    fn save_result_errors_use_status_code() {
        let errors = serde_json::json!([{"statusCode":"CANNOT_UPDATE_CONVERTED_LEAD","message":"cannot reference converted lead","fields":[]}]);
        let f = save_result_failure(&errors);
        assert_eq!(f.code, "CANNOT_UPDATE_CONVERTED_LEAD");
        assert_eq!(
            classify(f, SObject::Lead, Some(&lead()), &[]).disposition,
            Disposition::Converted
        );
    }

    #[test]
    fn bulk_error_cells_are_parsed() {
        let f = bulk_error(
            "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: 00Q5e00000AbCdEEAV:--",
        );
        assert_eq!(f.code, "UNABLE_TO_LOCK_ROW");
        assert_eq!(
            f.message,
            "unable to obtain exclusive access to this record or 1 records: 00Q5e00000AbCdEEAV"
        );
        let f = bulk_error(
            "INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: Sales__c:Sales__c--",
        );
        assert_eq!(f.fields, vec!["Sales__c"]);
    }

    #[test]
    fn invalid_field_names_the_field_from_the_message() {
        let f = parse_error_body(
            400,
            br#"[{"message":"No such column 'Mkto_Opt_Out__c' on sobject of type Contact","errorCode":"INVALID_FIELD"}]"#,
        );
        let c = classify(
            f,
            SObject::Lead,
            Some(&lead()),
            &["HasOptedOutOfEmail".into()],
        );
        assert_eq!(
            c.error,
            SyncError::FieldNotInstalled(FieldRef {
                object: SObject::Lead,
                field: "Mkto_Opt_Out__c".into()
            })
        );
        assert_eq!(c.disposition, Disposition::Permanent);
    }

    #[test]
    fn dispositions_follow_the_error_code() {
        let cases = [
            (401, "INVALID_SESSION_ID", Disposition::Auth),
            (403, "REQUEST_LIMIT_EXCEEDED", Disposition::Limit),
            (400, "UNABLE_TO_LOCK_ROW", Disposition::Transient),
            (404, "ENTITY_IS_DELETED", Disposition::Deleted),
            (
                400,
                "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                Disposition::Permanent,
            ),
            (400, "MALFORMED_ID", Disposition::Permanent),
            (404, "NOT_FOUND", Disposition::Permanent),
            (500, "UNKNOWN_EXCEPTION", Disposition::Transient),
            (503, "SERVER_UNAVAILABLE", Disposition::Transient),
        ];
        for (status, code, want) in cases {
            let f = SalesforceFailure {
                status,
                code: code.into(),
                message: "m".into(),
                fields: vec![],
            };
            assert_eq!(
                classify(f, SObject::Lead, Some(&lead()), &[]).disposition,
                want,
                "{code}"
            );
        }
    }
}
