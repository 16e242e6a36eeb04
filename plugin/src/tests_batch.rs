//! `push-many` against scripted Salesforce answers: every per-record rule of
//! a push holds inside a batch.

use serde_json::{Value, json};

use crate::model::*;
use crate::ports::Method;
use crate::push_batch::push_many;
use crate::testing::{Fakes, NOW, settings};
use crate::{sfid, status};

const COLLECTIONS: &str = "/services/data/v62.0/composite/sobjects";

fn unsub(person: &str, id: &str, at: Timestamp) -> UnsubscribeEvent {
    UnsubscribeEvent {
        person_id: person.into(),
        salesforce_id: Some(id.into()),
        email: None,
        source: "link".into(),
        occurred_at: Some(at),
        received_at: at,
    }
}

/// A valid ID of `object`'s kind, numbered.
fn id(prefix: &str, n: u32) -> String {
    let fifteen = format!("{prefix}5e{n:010}");
    sfid::parse(&fifteen).unwrap().id
}

fn saved(ids: &[(&str, Option<(&str, &str)>)]) -> String {
    let results: Vec<Value> = ids
        .iter()
        .map(|(id, err)| match err {
            None => json!({"id": id, "success": true, "errors": []}),
            Some((code, msg)) => json!({"id": id, "success": false,
                "errors": [{"statusCode": code, "message": msg, "fields": []}]}),
        })
        .collect();
    Value::Array(results).to_string()
}

fn sent_records(f: &Fakes, call: usize) -> Vec<Value> {
    let sent = f.http.sent.borrow();
    let body: Value = serde_json::from_slice(&sent[call].body).unwrap();
    body["records"].as_array().unwrap().clone()
}

#[test]
fn a_mixed_batch_goes_out_in_one_collections_call_leads_first() {
    let f = Fakes::new();
    let (lead, contact) = (id("00Q", 1), id("003", 2));
    let events = [unsub("c", &contact, NOW - 10), unsub("l", &lead, NOW - 10)];
    f.http.expect(
        Method::Patch,
        COLLECTIONS,
        200,
        &saved(&[(&lead, None), (&contact, None)]),
    );
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    let records = sent_records(&f, 0);
    assert_eq!(records[0]["attributes"]["type"], "Lead");
    assert_eq!(records[1]["attributes"]["type"], "Contact");
    for (o, want) in out.iter().zip([&contact, &lead]) {
        let Ok(PushOutcome::Written(w)) = o else {
            panic!("{o:?}")
        };
        assert_eq!(&w.target.id, want);
    }
}

#[test]
fn a_lone_event_goes_out_as_one_patch() {
    let f = Fakes::new();
    let lead = id("00Q", 1);
    f.http.expect(
        Method::Patch,
        &format!("/services/data/v62.0/sobjects/Lead/{lead}"),
        204,
        "",
    );
    let out = push_many(&settings(), &[unsub("l", &lead, NOW - 10)], f.ports()).unwrap();
    f.http.assert_done();
    assert!(matches!(out[0], Ok(PushOutcome::Written(_))), "{out:?}");
}

#[test]
fn failures_in_a_batch_of_two_hundred_are_each_persons_own() {
    let f = Fakes::new();
    let ids: Vec<String> = (0..200).map(|n| id("00Q", n)).collect();
    let events: Vec<UnsubscribeEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, sf)| unsub(&format!("p{i:03}"), sf, NOW - 10))
        .collect();
    let results: Vec<(&str, Option<(&str, &str)>)> = ids
        .iter()
        .enumerate()
        .map(|(i, sf)| {
            let err = match i {
                17 => Some((
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                    "VIPs are not opted out",
                )),
                40 | 41 => Some(("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access")),
                _ => None,
            };
            (sf.as_str(), err)
        })
        .collect();
    f.http
        .expect(Method::Patch, COLLECTIONS, 200, &saved(&results));
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    assert!(
        matches!(&out[17], Err(SyncError::SalesforceError(e)) if e.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        "{:?}",
        out[17]
    );
    assert!(matches!(&out[40], Ok(PushOutcome::QueuedForRetry(q)) if q.attempts == 1));
    assert!(matches!(&out[41], Ok(PushOutcome::QueuedForRetry(_))));
    let written = out
        .iter()
        .filter(|o| matches!(o, Ok(PushOutcome::Written(_))))
        .count();
    assert_eq!(written, 197);
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!((st.held, st.failed, st.pending_retries), (200, 1, 2));
}

#[test]
fn a_batch_over_two_hundred_takes_two_calls() {
    let f = Fakes::new();
    let ids: Vec<String> = (0..250).map(|n| id("003", n)).collect();
    let events: Vec<UnsubscribeEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, sf)| unsub(&format!("p{i:03}"), sf, NOW - 10))
        .collect();
    let ok = |range: std::ops::Range<usize>| {
        saved(
            &ids[range]
                .iter()
                .map(|s| (s.as_str(), None))
                .collect::<Vec<_>>(),
        )
    };
    f.http
        .expect(Method::Patch, COLLECTIONS, 200, &ok(0..200))
        .expect(Method::Patch, COLLECTIONS, 200, &ok(200..250));
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    assert_eq!(
        (sent_records(&f, 0).len(), sent_records(&f, 1).len()),
        (200, 50)
    );
    assert!(out.iter().all(|o| matches!(o, Ok(PushOutcome::Written(_)))));
}

#[test]
fn a_converted_lead_in_a_batch_is_followed_to_its_contact() {
    let f = Fakes::new();
    let (lead, other, contact) = (id("00Q", 1), id("00Q", 2), id("003", 9));
    let events = [
        unsub("conv", &lead, NOW - 10),
        unsub("plain", &other, NOW - 10),
    ];
    let converted = (
        "CANNOT_UPDATE_CONVERTED_LEAD",
        "cannot reference converted lead",
    );
    f.http
        .expect(Method::Patch, COLLECTIONS, 200, &saved(&[(&lead, Some(converted)), (&other, None)]))
        // Followed as a push follows it: its own PATCH, the Lead, the Contact.
        .expect(Method::Patch, &format!("/services/data/v62.0/sobjects/Lead/{lead}"), 400,
            &json!([{"errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead"}]).to_string())
        .expect(Method::Get, &format!("/services/data/v62.0/sobjects/Lead/{lead}?fields=Id%2CConvertedContactId"), 200,
            &json!({"Id": lead, "ConvertedContactId": contact}).to_string())
        .expect(Method::Patch, &format!("/services/data/v62.0/sobjects/Contact/{contact}"), 204, "");
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    let Ok(PushOutcome::Written(w)) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(w.target.id, contact);
    assert_eq!(
        w.redirected.as_ref().unwrap().reason,
        RedirectReason::ConvertedLead
    );
}

#[test]
fn the_same_person_twice_in_a_batch_is_written_once_with_the_newer_record() {
    let f = Fakes::new();
    let (old, new) = (id("00Q", 1), id("003", 2));
    // Out of order: the newer event (naming the Contact) comes first.
    let events = [unsub("p", &new, NOW - 10), unsub("p", &old, NOW - 500)];
    f.http.expect(
        Method::Patch,
        &format!("/services/data/v62.0/sobjects/Contact/{new}"),
        204,
        "",
    );
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    for o in &out {
        let Ok(PushOutcome::Written(w)) = o else {
            panic!("{out:?}")
        };
        assert_eq!(w.target.id, new);
    }
}

#[test]
fn a_field_refused_in_a_batch_is_dropped_and_the_records_sent_again() {
    let f = Fakes::new();
    let mut s = settings();
    s.sales_opt_out_field = Some("Sales_Opt_Out__c".into());
    let (a, b) = (id("003", 1), id("003", 2));
    let events = [unsub("a", &a, NOW - 10), unsub("b", &b, NOW - 10)];
    let invalid = (
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "Unable to create/update fields: Sales_Opt_Out__c.",
    );
    f.http
        .expect(
            Method::Patch,
            COLLECTIONS,
            200,
            &saved(&[(&a, Some(invalid)), (&b, Some(invalid))]),
        )
        .expect(
            Method::Patch,
            COLLECTIONS,
            200,
            &saved(&[(&a, None), (&b, None)]),
        );
    let out = push_many(&s, &events, f.ports()).unwrap();
    f.http.assert_done();
    assert!(
        sent_records(&f, 1)
            .iter()
            .all(|r| r.get("Sales_Opt_Out__c").is_none())
    );
    for o in &out {
        let Ok(PushOutcome::Written(w)) = o else {
            panic!("{out:?}")
        };
        assert_eq!(w.fields, vec!["HasOptedOutOfEmail"]);
        assert_eq!(w.owed[0].problem, FieldProblem::NotWritable);
    }
}

#[test]
fn an_outage_queues_the_whole_batch_and_loses_nothing() {
    let f = Fakes::new();
    let ids: Vec<String> = (0..3).map(|n| id("00Q", n)).collect();
    let events: Vec<UnsubscribeEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, sf)| unsub(&format!("p{i}"), sf, NOW - 10))
        .collect();
    let down = r#"[{"message":"down","errorCode":"SERVER_UNAVAILABLE"}]"#;
    // The first attempt and its two immediate retries.
    for _ in 0..3 {
        f.http.expect(Method::Patch, COLLECTIONS, 503, down);
    }
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    assert!(
        out.iter()
            .all(|o| matches!(o, Ok(PushOutcome::QueuedForRetry(_)))),
        "{out:?}"
    );
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!((st.held, st.pending_retries), (3, 3));
}

/// A Lead and a Contact pushed with both fields selected, the first
/// collections call answered `status` with `body` and the second saving
/// both: the answers (Lead first) and the records the second call sent.
fn both_fields_first_answered(
    status: u16,
    body: &Value,
) -> (Vec<Result<PushOutcome, SyncError>>, Vec<Value>) {
    let f = Fakes::new();
    let mut s = settings();
    s.sales_opt_out_field = Some("Sales_Opt_Out__c".into());
    let (lead, contact) = (id("00Q", 1), id("003", 2));
    let events = [unsub("l", &lead, NOW - 10), unsub("c", &contact, NOW - 10)];
    let both_saved = saved(&[(&lead, None), (&contact, None)]);
    f.http
        .expect(Method::Patch, COLLECTIONS, status, &body.to_string())
        .expect(Method::Patch, COLLECTIONS, 200, &both_saved);
    let out = push_many(&s, &events, f.ports()).unwrap();
    f.http.assert_done();
    (out, sent_records(&f, 1))
}

#[test]
fn a_field_missing_on_one_object_refuses_the_whole_call_and_is_dropped_for_it_alone() {
    // §3.4: a field the user cannot see fails the whole request.
    let missing = json!([{"message": "No such column 'Sales_Opt_Out__c' on sobject of type Lead",
        "errorCode": "INVALID_FIELD"}]);
    let (out, again) = both_fields_first_answered(400, &missing);
    assert!(again[0].get("Sales_Opt_Out__c").is_none(), "{again:?}");
    assert_eq!(again[1]["Sales_Opt_Out__c"], true, "{again:?}");
    let [Ok(PushOutcome::Written(l)), Ok(PushOutcome::Written(c))] = &out[..] else {
        panic!("{out:?}")
    };
    assert_eq!(l.fields, vec!["HasOptedOutOfEmail"]);
    assert_eq!(l.owed.len(), 1);
    assert_eq!(
        (l.owed[0].field.object, l.owed[0].problem),
        (SObject::Lead, FieldProblem::NotInstalled)
    );
    assert_eq!(c.fields, vec!["HasOptedOutOfEmail", "Sales_Opt_Out__c"]);
    assert!(c.owed.is_empty());
}

#[test]
fn a_call_refused_for_a_field_of_no_named_object_drops_it_wherever_it_was_sent() {
    let missing =
        json!([{"message": "No such column 'Sales_Opt_Out__c'", "errorCode": "INVALID_FIELD"}]);
    let (out, again) = both_fields_first_answered(400, &missing);
    assert!(
        again.iter().all(|r| r.get("Sales_Opt_Out__c").is_none()),
        "{again:?}"
    );
    for o in &out {
        let Ok(PushOutcome::Written(w)) = o else {
            panic!("{out:?}")
        };
        assert_eq!(w.fields, vec!["HasOptedOutOfEmail"]);
        assert_eq!(w.owed.len(), 1);
    }
}

#[test]
fn a_call_refused_for_another_reason_fails_each_record_without_a_resend() {
    let f = Fakes::new();
    let (lead, contact) = (id("00Q", 1), id("003", 2));
    let events = [unsub("l", &lead, NOW - 10), unsub("c", &contact, NOW - 10)];
    let bad = json!([{"message": "Cannot deserialize instance of boolean", "errorCode": "JSON_PARSER_ERROR"}]);
    f.http
        .expect(Method::Patch, COLLECTIONS, 400, &bad.to_string());
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    assert!(
        out.iter().all(
            |o| matches!(o, Err(SyncError::SalesforceError(e)) if e.code == "JSON_PARSER_ERROR")
        ),
        "{out:?}"
    );
}

#[test]
fn persons_naming_one_record_share_its_row_even_where_a_call_ends() {
    let f = Fakes::new();
    let ids: Vec<String> = (0..200).map(|n| id("003", n)).collect();
    let mut events: Vec<UnsubscribeEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, sf)| unsub(&format!("p{i:03}"), sf, NOW - 10))
        .collect();
    // A second person naming the last record: 201 writes, 200 records.
    events.push(unsub("q", &ids[199], NOW - 10));
    let all: Vec<(&str, Option<(&str, &str)>)> = ids.iter().map(|s| (s.as_str(), None)).collect();
    f.http.expect(Method::Patch, COLLECTIONS, 200, &saved(&all));
    let out = push_many(&settings(), &events, f.ports()).unwrap();
    f.http.assert_done();
    assert_eq!(sent_records(&f, 0).len(), 200);
    for (o, want) in out.iter().zip(ids.iter().chain([&ids[199]])) {
        let Ok(PushOutcome::Written(w)) = o else {
            panic!("{o:?}")
        };
        assert_eq!(&w.target.id, want);
    }
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!(st.held, 201);
}
