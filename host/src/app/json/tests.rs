//! Tests of the JSON shape.

use super::*;
use crate::api;

#[test]
fn names_are_kebab_case() {
    assert_eq!(kebab("SkippedNoSalesforceId"), "skipped-no-salesforce-id");
    assert_eq!(kebab("person_id"), "person-id");
    assert_eq!(kebab("at"), "at");
}

#[test]
fn variants_are_tagged_enums_are_strings_and_times_have_their_rfc3339_twin() {
    let event = api::UnsubscribeEvent {
        person_id: "p-1".into(),
        salesforce_id: None,
        email: Some("HasOptedOutOfEmail".into()),
        source: "link".into(),
        occurred_at: Some(1_751_968_800_000),
        received_at: 1_751_968_800_000,
    };
    let v = to_json(&event).unwrap();
    assert_eq!(v["person-id"], "p-1");
    assert_eq!(v["salesforce-id"], Value::Null);
    // Data is never reshaped, only names.
    assert_eq!(v["email"], "HasOptedOutOfEmail");
    assert_eq!(v["occurred-at-rfc3339"], "2025-07-08T10:00:00.000Z");
    assert_eq!(v["received-at-rfc3339"], "2025-07-08T10:00:00.000Z");

    let dup = to_json(&api::PushOutcome::Duplicate).unwrap();
    assert_eq!(dup, serde_json::json!({ "outcome": "duplicate" }));
    assert_eq!(to_json(&api::Sobject::Lead).unwrap(), "lead");
    let e = to_json(&api::SyncError::InvalidEvent("no person".into())).unwrap();
    assert_eq!(
        e,
        serde_json::json!({ "kind": "invalid-event", "value": "no person" })
    );
    // A host JSON value passes with its keys as written.
    let raw = to_json(&serde_json::json!({ "Keep_Me": [1, "A"] })).unwrap();
    assert_eq!(raw, serde_json::json!({ "Keep_Me": [1, "A"] }));
}
