//! Where an opt-out goes when the record named is gone: a converted Lead's
//! Contact, a merged record's survivor. The one place that reads those
//! answers, for the single-record path (a push, a retry) and the nightly's
//! batched reads alike (see `plugin/SALESFORCE.md`, "Conversion and merges").

use serde_json::Value;

use crate::model::{RecordRef, SObject};
use crate::sfid;

/// Fields that tell whether a Lead was converted, and into which Contact.
pub const CONVERSION_FIELDS: [&str; 2] = ["IsConverted", "ConvertedContactId"];
/// Fields a `queryAll` reads of a deleted record to find its merge survivor.
pub const MERGE_FIELDS: [&str; 3] = ["Id", "IsDeleted", "MasterRecordId"];

/// A Lead row (from a query or a record GET) says it was converted.
pub fn is_converted(row: &Value) -> bool {
    row.get("IsConverted").and_then(Value::as_bool) == Some(true)
}

/// The Contact a converted Lead became, when the row names one. Anything that
/// is not a valid Contact ID (an Account, a malformed value) is no Contact:
/// the opt-out would otherwise land on the wrong kind of record.
pub fn converted_contact(row: &Value) -> Option<RecordRef> {
    row.get("ConvertedContactId")
        .and_then(Value::as_str)
        .and_then(|id| sfid::parse(id).ok())
        .filter(|r| r.object == SObject::Contact)
}

/// The record a deleted one was merged into, when the row names one of the
/// same object (Salesforce merges Leads into Leads and Contacts into
/// Contacts).
pub fn merge_survivor(row: &Value, object: SObject) -> Option<RecordRef> {
    row.get("MasterRecordId")
        .and_then(Value::as_str)
        .and_then(|id| sfid::parse(id).ok())
        .filter(|r| r.object == object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_contact_is_a_converted_leads_target() {
        let row = json!({"IsConverted": true, "ConvertedContactId": "0035e00000XyZaBAAV"});
        assert!(is_converted(&row));
        assert_eq!(converted_contact(&row).unwrap().object, SObject::Contact);
        let account = json!({"IsConverted": true, "ConvertedContactId": "0015e00000XyZaBAAV"});
        assert_eq!(converted_contact(&account), None);
        assert_eq!(converted_contact(&json!({"IsConverted": true})), None);
    }

    #[test]
    fn a_survivor_is_of_the_same_object() {
        let row = json!({"IsDeleted": true, "MasterRecordId": "00Q5e00000AbCdEEAV"});
        assert!(merge_survivor(&row, SObject::Lead).is_some());
        assert!(merge_survivor(&row, SObject::Contact).is_none());
        assert!(merge_survivor(&json!({"MasterRecordId": null}), SObject::Lead).is_none());
    }
}
