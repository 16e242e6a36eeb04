//! Salesforce error shapes.
//!
//! REST resources answer errors as a JSON array of `{message, errorCode, fields?}`
//! (plugin/SALESFORCE.md §2.2). Record-level save errors inside sObject Collections results
//! and Bulk results use `statusCode` instead of `errorCode` (§3.3, §6.5). Both are built
//! from the same [`RecordError`] so the codes and messages stay identical everywhere.

use serde::Serialize;

use crate::model::SObject;

/// A request-level error: an HTTP status plus the REST error array body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Salesforce `errorCode`.
    pub error_code: String,
    /// Salesforce `message`.
    pub message: String,
    /// `fields`; omitted from the body when `None` (several real errors carry no `fields`).
    pub fields: Option<Vec<String>>,
}

#[derive(Serialize)]
struct RestErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "errorCode")]
    error_code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a [String]>,
}

impl ApiError {
    /// A new error without `fields`.
    pub fn new(status: u16, error_code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error_code: error_code.to_owned(),
            message: message.into(),
            fields: None,
        }
    }

    /// The JSON body: a one-element array.
    pub fn body(&self) -> Vec<u8> {
        let item = RestErrorBody {
            message: &self.message,
            error_code: &self.error_code,
            fields: self.fields.as_deref(),
        };
        serde_json::to_vec(&[item]).unwrap_or_default()
    }

    /// 401 `INVALID_SESSION_ID` (§1.6).
    pub fn invalid_session() -> ApiError {
        ApiError::new(401, "INVALID_SESSION_ID", "Session expired or invalid")
    }

    /// 403 `REQUEST_LIMIT_EXCEEDED` (§7.3).
    pub fn request_limit_exceeded() -> ApiError {
        ApiError::new(
            403,
            "REQUEST_LIMIT_EXCEEDED",
            "TotalRequests Limit exceeded.",
        )
    }

    /// 404 `NOT_FOUND` for a well-formed URL with no resource behind it.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    /// 405 `METHOD_NOT_ALLOWED` (§2.1).
    pub fn method_not_allowed(method: &str, allowed: &str) -> ApiError {
        ApiError::new(
            405,
            "METHOD_NOT_ALLOWED",
            format!("HTTP Method '{method}' not allowed. Allowed are {allowed}"),
        )
    }

    /// 400 `JSON_PARSER_ERROR` from a serde_json error, in the style of Salesforce's
    /// Jackson messages (`... at [line:1, column:12]`). The exact wording is UNCONFIRMED
    /// (§2.4); clients should key off the code.
    pub fn json_parser(err: &serde_json::Error) -> ApiError {
        let text = err.to_string();
        // serde_json appends " at line L column C"; Salesforce writes the position its own way.
        let detail = text
            .rsplit_once(" at line ")
            .map(|(head, _)| head.to_owned())
            .unwrap_or(text);
        ApiError::new(
            400,
            "JSON_PARSER_ERROR",
            format!("{detail} at [line:{}, column:{}]", err.line(), err.column()),
        )
    }
}

/// A record-level save error, shared by single-record PATCH, Collections and Bulk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The Salesforce status/error code, e.g. `ENTITY_IS_DELETED`.
    pub code: &'static str,
    /// The message.
    pub message: String,
    /// `fields`. `None` means the REST shape omits the key (Collections print `[]`).
    pub fields: Option<Vec<String>>,
}

/// A Collections/Bulk error object: `{statusCode, message, fields}` (§3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaveError {
    /// The code, under the key `statusCode`.
    #[serde(rename = "statusCode")]
    pub status_code: String,
    /// The message.
    pub message: String,
    /// Affected fields (possibly empty).
    pub fields: Vec<String>,
}

impl RecordError {
    fn new(code: &'static str, message: impl Into<String>, fields: Option<Vec<String>>) -> Self {
        RecordError {
            code,
            message: message.into(),
            fields,
        }
    }

    /// `ENTITY_IS_DELETED` — the record is in the recycle bin (incl. merge losers).
    pub fn entity_is_deleted() -> Self {
        Self::new("ENTITY_IS_DELETED", "entity is deleted", Some(vec![]))
    }

    /// `CANNOT_UPDATE_CONVERTED_LEAD`. Whether real REST bodies carry `fields` is
    /// UNCONFIRMED (); we follow the §2.4 example body, which has `"fields":[]`.
    pub fn converted_lead() -> Self {
        Self::new(
            "CANNOT_UPDATE_CONVERTED_LEAD",
            "cannot reference converted lead",
            Some(vec![]),
        )
    }

    /// `MALFORMED_ID` — the Id's key prefix belongs to another object, or it is not an Id.
    pub fn malformed_id(object: SObject, id: &str) -> Self {
        Self::new(
            "MALFORMED_ID",
            format!("{} ID: id value of incorrect type: {id}", object.name()),
            Some(vec!["Id".to_owned()]),
        )
    }

    /// `INVALID_FIELD` — no such field, or hidden by field-level security (same error).
    pub fn invalid_field(object: SObject, field: &str) -> Self {
        Self::new(
            "INVALID_FIELD",
            format!(
                "No such column '{field}' on sobject of type {}",
                object.name()
            ),
            None,
        )
    }

    /// `INVALID_FIELD_FOR_INSERT_UPDATE` — visible but not editable.
    pub fn not_updateable(field: &str) -> Self {
        Self::new(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            format!(
                "Unable to create/update fields: {field}. Please check the security settings of this field and verify that it is read/write for your profile or permission set."
            ),
            Some(vec![field.to_owned()]),
        )
    }

    /// `UNABLE_TO_LOCK_ROW` — transient row-lock contention (injected fault).
    pub fn unable_to_lock_row(id: &str) -> Self {
        Self::new(
            "UNABLE_TO_LOCK_ROW",
            format!("unable to obtain exclusive access to this record or 1 records: {id}"),
            Some(vec![]),
        )
    }

    /// `FIELD_CUSTOM_VALIDATION_EXCEPTION` with the admin's message.
    pub fn validation(message: &str, field: Option<&str>) -> Self {
        Self::new(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            message,
            Some(field.map(|f| vec![f.to_owned()]).unwrap_or_default()),
        )
    }

    /// `INVALID_EMAIL_ADDRESS` for a malformed `Email` value.
    pub fn invalid_email(value: &str) -> Self {
        Self::new(
            "INVALID_EMAIL_ADDRESS",
            format!("Email: invalid email address: {value}"),
            Some(vec!["Email".to_owned()]),
        )
    }

    /// `REQUIRED_FIELD_MISSING` when `LastName` is cleared.
    pub fn required_missing(field: &str) -> Self {
        Self::new(
            "REQUIRED_FIELD_MISSING",
            format!("Required fields are missing: [{field}]"),
            Some(vec![field.to_owned()]),
        )
    }

    /// `STRING_TOO_LONG` for a text value longer than the field allows.
    pub fn too_long(label: &str, field: &str, value: &str, max: u32) -> Self {
        Self::new(
            "STRING_TOO_LONG",
            format!("{label}: data value too large: {value} (max length={max})"),
            Some(vec![field.to_owned()]),
        )
    }

    /// `INVALID_TYPE_ON_FIELD_IN_RECORD` for a Bulk CSV value that is not a boolean.
    pub fn bad_boolean(label: &str, field: &str, value: &str) -> Self {
        Self::new(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            format!("{label}: value not of required type: {value}"),
            Some(vec![field.to_owned()]),
        )
    }

    /// `MISSING_ARGUMENT` — an update without an Id.
    pub fn missing_id() -> Self {
        Self::new(
            "MISSING_ARGUMENT",
            "Id not specified in an update call",
            Some(vec![]),
        )
    }

    /// `DUPLICATE_VALUE` for the second occurrence of an Id in one Collections request.
    /// Real behaviour is UNCONFIRMED (§3.4); see `collections.rs`.
    pub fn duplicate_id(id: &str) -> Self {
        Self::new(
            "DUPLICATE_VALUE",
            format!("Duplicate id in list: {id}"),
            Some(vec![]),
        )
    }

    /// `ALL_OR_NONE_OPERATION_ROLLED_BACK` for the innocent records of a failed
    /// `allOrNone` request (§3.3).
    pub fn rolled_back() -> Self {
        Self::new(
            "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "Record rolled back because not all records were valid and the request was using AllOrNone header",
            Some(vec![]),
        )
    }

    /// The HTTP status the single-record PATCH answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self.code {
            "ENTITY_IS_DELETED" | "NOT_FOUND" => 404,
            _ => 400,
        }
    }

    /// As a REST error (single-record resources).
    pub fn to_api_error(&self) -> ApiError {
        ApiError {
            status: self.http_status(),
            error_code: self.code.to_owned(),
            message: self.message.clone(),
            fields: self.fields.clone(),
        }
    }

    /// As a Collections error object (`statusCode`, `fields` always present).
    pub fn to_save_error(&self) -> SaveError {
        SaveError {
            status_code: self.code.to_owned(),
            message: self.message.clone(),
            fields: self.fields.clone().unwrap_or_default(),
        }
    }

    /// As a Bulk `sf__Error` value: `CODE:message:fields--` (§6.5), e.g.
    /// `ENTITY_IS_DELETED:entity is deleted:--`.
    pub fn to_bulk_error(&self) -> String {
        let fields = self.fields.as_deref().unwrap_or_default().join(",");
        format!("{}:{}:{}--", self.code, self.message, fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_shape_uses_error_code() {
        let body = RecordError::entity_is_deleted().to_api_error().body();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"[{"message":"entity is deleted","errorCode":"ENTITY_IS_DELETED","fields":[]}]"#
        );
        let body = RecordError::invalid_field(SObject::Contact, "Mkto_Opt_Out__c")
            .to_api_error()
            .body();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"[{"message":"No such column 'Mkto_Opt_Out__c' on sobject of type Contact","errorCode":"INVALID_FIELD"}]"#
        );
    }

    #[test]
    fn bulk_error_format() {
        assert_eq!(
            RecordError::entity_is_deleted().to_bulk_error(),
            "ENTITY_IS_DELETED:entity is deleted:--"
        );
        assert_eq!(
            RecordError::converted_lead().to_bulk_error(),
            "CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead:--"
        );
    }
}
