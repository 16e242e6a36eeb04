//! Tests of the `input` module.

use super::*;

#[test]
fn json_events_take_defaults_and_both_time_forms() {
    let e = unsubscribe_from_json(r#"{"person_id":"p1"}"#, 5, "cli").unwrap();
    assert_eq!(
        (
            e.person_id.as_str(),
            e.source.as_str(),
            e.occurred_at,
            e.received_at
        ),
        ("p1", "cli", None, 5)
    );
    // `null` and "" say as little as a missing time: the component takes
    // the time received, never the time of its call.
    for none in ["null", "\"\""] {
        let text = format!(r#"{{"person_id":"p1","occurred_at":{none}}}"#);
        assert_eq!(
            unsubscribe_from_json(&text, 5, "cli").unwrap().occurred_at,
            None
        );
    }
    assert_eq!(e.salesforce_id, None);
    let e = unsubscribe_from_json(
        r#"{"person_id":"p1","salesforce_id":"00Q5e00000AbCdEEAV","occurred_at":"2025-07-08T10:00:00Z"}"#,
        5,
        "cli",
    )
    .unwrap();
    assert_eq!(e.occurred_at, Some(1_751_968_800_000));
    assert!(unsubscribe_from_json(r#"{"person":"p1"}"#, 5, "cli").is_err());
    assert!(
        unsubscribe_from_json(r#"{"person_id":"p1","occurred_at":"yesterday"}"#, 5, "cli").is_err()
    );
}

#[test]
fn only_a_json_object_is_an_event_and_errors_name_the_field() {
    let e = |t: &str| unsubscribe_from_json(t, 5, "cli").unwrap_err();
    // serde would read an array as the struct's fields in order.
    assert!(
        e(r#"["p1", null, null, null, null]"#).contains("expected a JSON object, got an array")
    );
    assert!(e("null").contains("got null"));
    assert!(e("42").contains("got a number"));
    assert!(e("  \n ").contains("the event is empty"));
    assert!(e(r#"{"person_id": 42}"#).contains("person_id: invalid type: integer"));
    assert!(e(r#"{"person_id":"a","person_id":"b"}"#).contains("duplicate field `person_id`"));
    assert!(e(r#"{"person_id":"a","admin":true}"#).contains("unknown field `admin`"));
    assert!(e(r#"{"person_id":"a"} {"person_id":"b"}"#).contains("trailing characters"));
    assert!(
        e(r#"{"person_id":"a","occurred_at":1.5e12}"#)
            .contains("occurred_at: 1500000000000 is not a whole number")
    );
    assert!(
        e(r#"{"person_id":"a","occurred_at":18446744073709551615}"#)
            .contains("occurred_at: 18446744073709551615 is out of range")
    );
    assert!(
        e(r#"{"person_id":"a","occurred_at":true}"#).contains("occurred_at: invalid type: boolean")
    );
    let deep = format!(
        r#"{{"person_id":"a","email":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(
        e(&deep).contains("email: invalid type: sequence"),
        "{}",
        e(&deep)
    );
    let deep = format!(
        r#"{{"person_id":"a","occurred_at":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(e(&deep).contains("occurred_at"), "{}", e(&deep));
    let deep = format!("{}{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
    assert!(e(&deep).contains("unknown field `a`"), "{}", e(&deep));
    assert_eq!(
        unsubscribe_from_json(
            r#"{"person_id":"a","occurred_at":-9223372036854775808}"#,
            5,
            "cli"
        )
        .unwrap()
        .occurred_at,
        Some(i64::MIN)
    );
}

#[test]
fn person_ids_follow_the_contract() {
    let e = |t: &str| unsubscribe_from_json(t, 5, "cli").unwrap_err();
    assert_eq!(e(r#"{"person_id":""}"#), "person_id is empty");
    assert!(e(r#"{"person_id":"a\u0000b"}"#).contains("control characters"));
    assert!(e(&format!(r#"{{"person_id":"{}"}}"#, "x".repeat(256))).contains("longer than 255"));
    // Surrounding whitespace is not part of the ID (as in CSV imports).
    assert_eq!(
        unsubscribe_from_json(r#"{"person_id":"  p1 \t"}"#, 5, "cli")
            .unwrap()
            .person_id,
        "p1"
    );
    assert_eq!(
        resubscribe_from_json(r#"{"person_id":" p1"}"#, 5, "cli")
            .unwrap()
            .person_id,
        "p1"
    );
    assert_eq!(e(r#"{"person_id":"  "}"#), "person_id is empty");
    assert_eq!(
        unsubscribe_from_json(r#"{"person_id":"p 1"}"#, 5, "cli")
            .unwrap()
            .person_id,
        "p 1",
        "inner spaces are kept"
    );
    let ok = format!(r#"{{"person_id":"{}"}}"#, "\u{1F642}".repeat(255));
    assert!(unsubscribe_from_json(&ok, 5, "cli").is_ok());
    assert!(resubscribe_from_json(r#"{"person_id":""}"#, 5, "cli").is_err());
}

#[test]
fn oversized_and_non_utf8_event_text_is_refused() {
    let big = "x".repeat(MAX_EVENT_BYTES + 1);
    assert!(
        read_event_text(Some(&big), None)
            .unwrap_err()
            .contains("larger than 1 MiB")
    );
    assert!(
        event_text(b"{\"person_id\":\"p\xff\"}".to_vec(), "on stdin")
            .unwrap_err()
            .contains("not UTF-8 (invalid byte at offset 15)")
    );
}
