//! Scenario tests of the policy over in-memory fakes. The fixture suite in
//! `tests/fixtures` runs the same rules through the compiled component.

use serde_json::{Value, json};

use crate::model::*;
use crate::ports::{HttpFailure, Method};
use crate::testing::{Fakes, NOW, settings};
use crate::{nightly, push, resubscribe, status};

const LEAD_A: &str = "00Q5e00000AbCdEEAV";
const LEAD_B: &str = "00Q5e00000AbCdFEAV";
const CONVERTED: &str = "00Q5e00000KqLmNEAV";
const CONTACT_A: &str = "0035e00000XyZaBAAV";
const CONTACT_B: &str = "0035e00000XyZaCAAV";

fn unsub(person: &str, id: Option<&str>) -> UnsubscribeEvent {
    UnsubscribeEvent {
        person_id: person.into(),
        salesforce_id: id.map(String::from),
        email: Some(format!("{person}@example.com")),
        source: "link".into(),
        occurred_at: Some(NOW - 60_000),
        received_at: NOW - 60_000,
    }
}

fn patch_path(object: &str, id: &str) -> String {
    format!("/services/data/v62.0/sobjects/{object}/{id}")
}

fn query_path(soql: &str) -> String {
    crate::salesforce::soql::query_path("62.0", false, soql)
}

fn rows(object: &str, rows: &[Value]) -> String {
    let records: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["attributes"] = json!({"type": object});
            r
        })
        .collect();
    json!({"totalSize": records.len(), "done": true, "records": records}).to_string()
}

fn finish(settings: &Settings, f: &Fakes) -> NightlyReport {
    for _ in 0..100 {
        match nightly::nightly(settings, NightlyOptions::default(), f.ports()).unwrap() {
            NightlyOutcome::Finished(r) => return r,
            NightlyOutcome::InProgress(p) => {
                f.clock.0.set(f.clock.0.get() + i64::from(p.wait_ms));
                continue;
            }
            NightlyOutcome::Disabled => panic!("disabled"),
        }
    }
    panic!("the nightly did not finish in 100 calls")
}

#[test]
fn push_patches_the_lead_and_confirms() {
    let f = Fakes::new();
    f.http
        .expect(Method::Patch, &patch_path("Lead", LEAD_A), 204, "");
    let out = push::push(&settings(), &unsub("p1", Some(&LEAD_A[..15])), f.ports()).unwrap();
    let PushOutcome::Written(w) = out else {
        panic!("{out:?}")
    };
    assert_eq!(w.target.id, LEAD_A);
    assert_eq!(w.fields, vec!["HasOptedOutOfEmail"]);
    f.http.assert_done();
    let body: Value = serde_json::from_slice(&f.http.sent.borrow()[0].body).unwrap();
    assert_eq!(body, json!({"HasOptedOutOfEmail": true}));
    assert_eq!(f.store.keys("t/"), vec![format!("t/L/{LEAD_A}/p1")]);
    assert_eq!(f.store.map.borrow()[&format!("t/L/{LEAD_A}/p1")], b"c");
    let trail = status::audit("p1", f.ports()).unwrap().unwrap();
    let kinds: Vec<AuditKind> = trail.entries.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            AuditKind::Received,
            AuditKind::Attempt,
            AuditKind::Confirmed
        ]
    );
}

#[test]
fn push_follows_a_converted_lead_to_its_contact() {
    let f = Fakes::new();
    f.http
        .expect(Method::Patch, &patch_path("Lead", CONVERTED), 400, r#"[{"message":"cannot reference converted lead","errorCode":"CANNOT_UPDATE_CONVERTED_LEAD","fields":[]}]"#)
        .expect(
            Method::Get,
            &format!("{}?fields=Id%2CConvertedContactId", patch_path("Lead", CONVERTED)),
            200,
            &json!({"attributes":{"type":"Lead"},"Id": CONVERTED, "ConvertedContactId": CONTACT_B}).to_string(),
        )
        .expect(Method::Patch, &patch_path("Contact", CONTACT_B), 204, "");
    let out = push::push(&settings(), &unsub("p1", Some(CONVERTED)), f.ports()).unwrap();
    let PushOutcome::Written(w) = out else {
        panic!("{out:?}")
    };
    assert_eq!(w.target.id, CONTACT_B);
    assert_eq!(w.redirected.unwrap().reason, RedirectReason::ConvertedLead);
    f.http.assert_done();
    // The next push for the person goes straight to the Contact.
    let mut again = unsub("p1", Some(CONVERTED));
    again.occurred_at = again.occurred_at.map(|t| t + 1);
    f.http
        .expect(Method::Patch, &patch_path("Contact", CONTACT_B), 204, "");
    push::push(&settings(), &again, f.ports()).unwrap();
    f.http.assert_done();
}

#[test]
fn a_lock_error_is_queued_and_drained_later() {
    let f = Fakes::new();
    f.http.expect(Method::Patch, &patch_path("Lead", LEAD_A), 400, r#"[{"message":"unable to obtain exclusive access to this record or 1 records: 00Q5e00000AbCdEEAV","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#);
    let out = push::push(&settings(), &unsub("p1", Some(LEAD_A)), f.ports()).unwrap();
    let PushOutcome::QueuedForRetry(q) = out else {
        panic!("{out:?}")
    };
    assert_eq!(q.attempts, 1);
    assert_eq!(q.next_attempt_at, NOW + 30_000);
    assert_eq!(
        status::status(&settings(), f.ports())
            .unwrap()
            .pending_retries,
        1
    );

    // Not due yet: nothing sent.
    let s = push::drain_retries(&settings(), 10, f.ports()).unwrap();
    assert_eq!(s.attempted, 0);
    assert_eq!(s.next_due, Some(NOW + 30_000));

    f.clock.0.set(NOW + 30_000);
    f.http
        .expect(Method::Patch, &patch_path("Lead", LEAD_A), 204, "");
    let s = push::drain_retries(&settings(), 10, f.ports()).unwrap();
    assert_eq!((s.attempted, s.written, s.next_due), (1, 1, None));
    assert_eq!(
        status::status(&settings(), f.ports())
            .unwrap()
            .pending_retries,
        0
    );
    f.http.assert_done();
}

#[test]
fn a_push_lists_the_retry_queue_only_when_a_retry_may_be_due() {
    let f = Fakes::new();
    let hint = || {
        f.store
            .map
            .borrow()
            .get(crate::ledger::RETRY_NEXT)
            .map(|v| String::from_utf8(v.clone()).unwrap())
    };
    let retry_listings = || {
        f.store
            .listed
            .borrow()
            .iter()
            .filter(|p| *p == "r/")
            .count()
    };
    let push_ok = |person: &str, id: &str| {
        f.http
            .expect(Method::Patch, &patch_path("Lead", id), 204, "");
        let mut event = unsub(person, Some(id));
        event.occurred_at = Some(f.clock.0.get() - 1_000);
        let out = push::push(&settings(), &event, f.ports()).unwrap();
        assert!(matches!(out, PushOutcome::Written(_)), "{out:?}");
        f.http.assert_done();
    };

    // No hint yet: the first push lists the queue, finds it empty, says so.
    push_ok("p1", LEAD_A);
    assert_eq!((retry_listings(), hint().as_deref()), (1, Some("null")));
    // Known empty: no listing.
    push_ok("p2", LEAD_B);
    assert_eq!(retry_listings(), 1);

    // A lock error queues p3 and forgets the hint in the same write.
    f.http.expect(Method::Patch, &patch_path("Contact", CONTACT_A), 400, r#"[{"message":"unable to obtain exclusive access to this record","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]"#);
    let out = push::push(&settings(), &unsub("p3", Some(CONTACT_A)), f.ports()).unwrap();
    let PushOutcome::QueuedForRetry(q) = out else {
        panic!("{out:?}")
    };
    assert_eq!((retry_listings(), hint()), (1, None));

    // Unknown: the next push lists, sees p3 not yet due, and keeps that time.
    push_ok("p4", LEAD_A);
    let due = q.next_attempt_at.to_string();
    assert_eq!((retry_listings(), hint()), (2, Some(due.clone())));
    // Not due yet: no listing.
    push_ok("p5", LEAD_B);
    assert_eq!(retry_listings(), 2);

    // Due: the push lists and drains p3 after its own write.
    f.clock.0.set(q.next_attempt_at);
    f.http
        .expect(Method::Patch, &patch_path("Lead", LEAD_A), 204, "")
        .expect(Method::Patch, &patch_path("Contact", CONTACT_A), 204, "");
    let mut event = unsub("p6", Some(LEAD_A));
    event.occurred_at = Some(q.next_attempt_at - 1_000);
    push::push(&settings(), &event, f.ports()).unwrap();
    f.http.assert_done();
    // Retries were attempted, so the old time stays (a lower bound still)...
    assert_eq!((retry_listings(), hint()), (3, Some(due)));
    assert!(f.store.keys("r/").is_empty(), "p3 was drained");
    // ...and the next push lists once more and finds the queue empty.
    push_ok("p7", LEAD_B);
    assert_eq!((retry_listings(), hint().as_deref()), (4, Some("null")));
    push_ok("p8", LEAD_A);
    assert_eq!(retry_listings(), 4);
}

#[test]
fn an_unreadable_retry_hint_means_the_queue_is_listed() {
    use crate::ledger::RetryHint;
    assert_eq!(RetryHint::from_stored(None), RetryHint::Unknown);
    assert_eq!(RetryHint::from_stored(Some(b"null")), RetryHint::Empty);
    assert_eq!(
        RetryHint::from_stored(Some(b"1796097630000")),
        RetryHint::NotBefore(1_796_097_630_000)
    );
    for garbage in [&b""[..], b"soon", b"{}", b"-"] {
        assert_eq!(RetryHint::from_stored(Some(garbage)), RetryHint::Unknown);
    }
    assert!(RetryHint::Unknown.may_be_due(0));
    assert!(!RetryHint::Empty.may_be_due(i64::MAX));
    assert!(RetryHint::NotBefore(10).may_be_due(10));
    assert!(!RetryHint::NotBefore(11).may_be_due(10));
    // A stored hint reads back as itself.
    for h in [RetryHint::Empty, RetryHint::NotBefore(1_796_097_630_000)] {
        let Some(crate::ports::WriteOp::Set(_, v)) = h.store_op() else {
            panic!("{h:?} is stored")
        };
        assert_eq!(RetryHint::from_stored(Some(&v)), h);
    }
    assert!(RetryHint::Unknown.store_op().is_none());
}

#[test]
fn a_transport_failure_never_loses_the_unsubscribe() {
    let f = Fakes::new();
    // The first attempt and both immediate retries fail.
    for _ in 0..3 {
        f.http.expect_failure(
            Method::Patch,
            &patch_path("Contact", CONTACT_A),
            HttpFailure::Transport("connection reset".into()),
        );
    }
    let out = push::push(&settings(), &unsub("p1", Some(CONTACT_A)), f.ports()).unwrap();
    assert!(matches!(out, PushOutcome::QueuedForRetry(_)));
    f.http.assert_done();
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!((st.held, st.pending_retries), (1, 1));
}

#[test]
fn a_momentary_failure_is_retried_at_once() {
    let f = Fakes::new();
    f.http
        .expect(
            Method::Patch,
            &patch_path("Lead", LEAD_A),
            503,
            r#"[{"message":"busy","errorCode":"SERVER_UNAVAILABLE"}]"#,
        )
        .expect_failure(
            Method::Patch,
            &patch_path("Lead", LEAD_A),
            HttpFailure::Timeout,
        )
        .expect(Method::Patch, &patch_path("Lead", LEAD_A), 204, "");
    let out = push::push(&settings(), &unsub("p1", Some(LEAD_A)), f.ports()).unwrap();
    assert!(matches!(out, PushOutcome::Written(_)), "{out:?}");
    f.http.assert_done();
    assert_eq!(
        status::status(&settings(), f.ports())
            .unwrap()
            .pending_retries,
        0
    );
}

#[test]
fn a_permanent_failure_is_recorded_and_kept() {
    let f = Fakes::new();
    f.http.expect(Method::Patch, &patch_path("Lead", LEAD_A), 400, r#"[{"message":"Sales reps may not opt out VIPs","errorCode":"FIELD_CUSTOM_VALIDATION_EXCEPTION","fields":[]}]"#);
    let e = push::push(&settings(), &unsub("p1", Some(LEAD_A)), f.ports()).unwrap_err();
    assert!(
        matches!(&e, SyncError::SalesforceError(sf) if sf.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION")
    );
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!((st.held, st.failed, st.pending_retries), (1, 1, 0));
}

#[test]
fn nightly_reads_first_and_writes_only_what_is_unset() {
    let f = Fakes::new();
    for (p, id) in [("p1", LEAD_A), ("p2", LEAD_B), ("p3", CONTACT_A)] {
        crate::import::import(&[unsub(p, Some(id))], f.ports()).unwrap();
    }
    let s = settings();
    f.http
        .expect(
            Method::Get,
            &query_path(&format!("SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead WHERE Id IN ('{LEAD_A}','{LEAD_B}')")),
            200,
            &rows("Lead", &[
                json!({"Id": LEAD_A, "HasOptedOutOfEmail": true, "IsConverted": false, "ConvertedContactId": null}),
                json!({"Id": LEAD_B, "HasOptedOutOfEmail": false, "IsConverted": false, "ConvertedContactId": null}),
            ]),
        )
        .expect(
            Method::Get,
            &query_path(&format!("SELECT Id, HasOptedOutOfEmail FROM Contact WHERE Id IN ('{CONTACT_A}')")),
            200,
            &rows("Contact", &[json!({"Id": CONTACT_A, "HasOptedOutOfEmail": false})]),
        )
        .expect(
            Method::Patch,
            "/services/data/v62.0/composite/sobjects",
            200,
            &json!([{"id": LEAD_B, "success": true, "errors": []}, {"id": CONTACT_A, "success": true, "errors": []}]).to_string(),
        );
    let r = finish(&s, &f);
    f.http.assert_done();
    assert_eq!(
        (r.already_opted_out, r.written, r.reasserted, r.failed),
        (1, 2, 0, 0)
    );
    assert_eq!(r.api_calls.total(), 3);
    let body: Value = serde_json::from_slice(&f.http.sent.borrow()[2].body).unwrap();
    assert_eq!(
        body["records"][0],
        json!({"attributes": {"type": "Lead"}, "id": LEAD_B, "HasOptedOutOfEmail": true})
    );
    assert_eq!(body["records"][1]["attributes"]["type"], "Contact");
}

#[test]
fn resubscribed_people_are_not_touched_by_the_nightly() {
    let f = Fakes::new();
    crate::import::import(&[unsub("p1", Some(LEAD_A))], f.ports()).unwrap();
    let out = resubscribe::resubscribe(
        &ResubscribeEvent {
            person_id: "p1".into(),
            source: "preference-center".into(),
            occurred_at: Some(NOW),
            received_at: NOW,
        },
        f.ports(),
    )
    .unwrap();
    assert_eq!(out, ResubscribeOutcome::Released);
    let r = finish(&settings(), &f);
    assert_eq!(r.held, 0);
    assert_eq!(r.api_calls.total(), 0);
    assert!(f.http.sent.borrow().is_empty());
}

#[test]
fn nightly_with_the_sync_disabled_does_nothing() {
    let f = Fakes::new();
    crate::import::import(&[unsub("p1", Some(LEAD_A))], f.ports()).unwrap();
    let mut s = settings();
    s.sync_enabled = false;
    assert_eq!(
        nightly::nightly(&s, NightlyOptions::default(), f.ports()).unwrap(),
        NightlyOutcome::Disabled
    );
    assert!(f.http.sent.borrow().is_empty());
}

#[test]
fn a_budget_stop_keeps_its_place() {
    let f = Fakes::new();
    let events: Vec<UnsubscribeEvent> = (0..250)
        .map(|i| {
            let id15 = format!("00Q5e0000{i:06}");
            unsub(&format!("p{i}"), Some(&id15))
        })
        .collect();
    crate::import::import(&events, f.ports()).unwrap();
    let mut s = settings();
    s.budget.max_calls = Some(1);
    // The first chunk's read fits the budget; its write does not.
    let ids: Vec<String> = f
        .store
        .keys("t/L/")
        .iter()
        .take(200)
        .map(|k| k[4..22].to_string())
        .collect();
    let select = format!(
        "SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead WHERE Id IN ({})",
        ids.iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let unset: Vec<Value> = ids.iter().map(|i| json!({"Id": i, "HasOptedOutOfEmail": false, "IsConverted": false, "ConvertedContactId": null})).collect();
    f.http.expect(
        Method::Get,
        &query_path(&select),
        200,
        &rows("Lead", &unset),
    );
    let NightlyOutcome::Finished(r) =
        nightly::nightly(&s, NightlyOptions::default(), f.ports()).unwrap()
    else {
        panic!("expected a stopped report")
    };
    assert!(
        matches!(r.stopped, Some(StopReason::Budget(_))),
        "{:?}",
        r.stopped
    );
    assert_eq!(r.written, 0);
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!(st.nightly_in_progress.unwrap().done, 200);
    f.http.assert_done();

    // Resumed with a fresh window of 1 call: the pending write goes out first.
    f.http.expect(
        Method::Patch,
        "/services/data/v62.0/composite/sobjects",
        200,
        &Value::Array(
            ids.iter()
                .map(|i| json!({"id": i, "success": true, "errors": []}))
                .collect(),
        )
        .to_string(),
    );
    let NightlyOutcome::Finished(r) =
        nightly::nightly(&s, NightlyOptions::default(), f.ports()).unwrap()
    else {
        panic!("expected a stopped report")
    };
    assert!(r.stopped.is_some());
    assert_eq!(r.written, 200);
    f.http.assert_done();
}

fn bulk_ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| crate::sfid::parse(&format!("00Q5e0000{i:06}")).unwrap().id)
        .collect()
}

/// Imports `n` held unsubscribes, one per Lead ID from `bulk_ids`, and
/// returns the IDs.
/// The Bulk path's Lead describe (only `HasOptedOutOfEmail`) and its skip
/// set query, answered with the IDs in `opted` (one quoted ID a line).
fn expect_bulk_skip_set(f: &Fakes, opted: &str) {
    let base = "/services/data/v62.0";
    f.http
        .expect(Method::Get, &format!("{base}/sobjects/Lead/describe"), 200, &json!({"fields": [{"name": "HasOptedOutOfEmail", "type": "boolean", "updateable": true}]}).to_string())
        .expect(Method::Post, &format!("{base}/jobs/query"), 200, r#"{"id":"750Q00000000001AAA","state":"UploadComplete"}"#)
        .expect(Method::Get, &format!("{base}/jobs/query/750Q00000000001AAA"), 200, r#"{"id":"750Q00000000001AAA","state":"JobComplete"}"#)
        .expect(Method::Get, &format!("{base}/jobs/query/750Q00000000001AAA/results?maxRecords=250000"), 200, &format!("\"Id\"\n{opted}"));
}

/// The ingest job's create, upload and close, accepted.
fn expect_bulk_ingest_sent(f: &Fakes) {
    let base = "/services/data/v62.0";
    f.http
        .expect(Method::Post, &format!("{base}/jobs/ingest"), 200, r#"{"id":"750I00000000001AAA","state":"Open","contentUrl":"services/data/v62.0/jobs/ingest/750I00000000001AAA/batches"}"#)
        .expect(Method::Put, &format!("{base}/jobs/ingest/750I00000000001AAA/batches"), 201, "")
        .expect(Method::Patch, &format!("{base}/jobs/ingest/750I00000000001AAA"), 200, r#"{"id":"750I00000000001AAA","state":"UploadComplete"}"#);
}

fn import_bulk_people(f: &Fakes, n: usize) -> Vec<String> {
    let ids = bulk_ids(n);
    let events: Vec<UnsubscribeEvent> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| unsub(&format!("p{i:04}"), Some(id)))
        .collect();
    crate::import::import(&events, f.ports()).unwrap();
    ids
}

#[test]
fn large_objects_go_through_bulk_api_with_few_calls() {
    let f = Fakes::new();
    let ids = import_bulk_people(&f, 1200);
    let mut s = settings();
    s.bulk_threshold = 1000;
    let base = "/services/data/v62.0";
    // 100 already opted out; one deleted row fails in the job.
    let opted: String = ids[..100].iter().map(|i| format!("\"{i}\"\n")).collect();
    let deleted = &ids[500];
    expect_bulk_skip_set(&f, &opted);
    expect_bulk_ingest_sent(&f);
    f.http
        .expect(Method::Get, &format!("{base}/jobs/ingest/750I00000000001AAA"), 200, r#"{"id":"750I00000000001AAA","state":"JobComplete","numberRecordsProcessed":1100,"numberRecordsFailed":1}"#)
        .expect(Method::Get, &format!("{base}/jobs/ingest/750I00000000001AAA/failedResults/"), 200, &format!("\"sf__Id\",\"sf__Error\",Id,HasOptedOutOfEmail\n\"\",\"ENTITY_IS_DELETED:entity is deleted:--\",{deleted},true\n"))
        .expect(
            Method::Get,
            &query_path(&format!("SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead WHERE Id IN ('{deleted}')")),
            200,
            &rows("Lead", &[]),
        )
        .expect(
            Method::Get,
            &crate::salesforce::soql::query_path("62.0", true, &format!("SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE Id IN ('{deleted}')")),
            200,
            &rows("Lead", &[json!({"Id": deleted, "IsDeleted": true, "MasterRecordId": null})]),
        );
    let r = finish(&s, &f);
    f.http.assert_done();
    assert_eq!(r.strategy, vec!["bulk", "collections"]);
    assert_eq!((r.already_opted_out, r.written, r.failed), (100, 1099, 1));
    assert_eq!(r.api_calls.bulk, 8);
    assert_eq!(r.api_calls.total(), 11);
    // The upload carried exactly the 1100 unset records.
    let upload = f
        .http
        .sent
        .borrow()
        .iter()
        .find(|r| r.method == Method::Put)
        .unwrap()
        .body
        .clone();
    let text = String::from_utf8(upload).unwrap();
    assert_eq!(text.lines().count(), 1101);
    assert!(text.starts_with(&format!("Id,HasOptedOutOfEmail\n{},true\n", ids[100])));
    // Nothing is left behind in scratch storage, and confirmations landed.
    assert!(
        f.store.keys("n/bulk/").is_empty(),
        "{:?}",
        f.store.keys("n/bulk/")
    );
    assert_eq!(
        f.store.map.borrow()[&format!("t/L/{}/p0100", ids[100])],
        b"c"
    );
    assert_eq!(f.store.map.borrow()[&format!("t/L/{}/p0000", ids[0])], b"");
    assert_eq!(r.items.len(), 1);
    assert_eq!(
        r.items[0].error,
        Some(SyncError::RecordDeleted(RecordRef {
            object: SObject::Lead,
            id: deleted.clone()
        }))
    );
}

/// Regression (found by the fault soak, `tests/all/soak.rs`): a Bulk build
/// the org interrupts (here the ingest job's creation answers 503 on every
/// immediate attempt) is redone from its start, and must not count the
/// records it skipped as already opted out twice.
#[test]
fn an_interrupted_bulk_build_counts_skipped_records_once() {
    let f = Fakes::new();
    let ids = import_bulk_people(&f, 1200);
    let mut s = settings();
    s.bulk_threshold = 1000;
    let base = "/services/data/v62.0";
    let opted: String = ids[..100].iter().map(|i| format!("\"{i}\"\n")).collect();
    let unavailable = r#"[{"message":"Service Unavailable","errorCode":"SERVER_UNAVAILABLE"}]"#;
    expect_bulk_skip_set(&f, &opted);
    f.http
        .expect(
            Method::Post,
            &format!("{base}/jobs/ingest"),
            503,
            unavailable,
        )
        .expect(
            Method::Post,
            &format!("{base}/jobs/ingest"),
            503,
            unavailable,
        )
        .expect(
            Method::Post,
            &format!("{base}/jobs/ingest"),
            503,
            unavailable,
        );
    expect_bulk_ingest_sent(&f);
    f.http
        .expect(Method::Get, &format!("{base}/jobs/ingest/750I00000000001AAA"), 200, r#"{"id":"750I00000000001AAA","state":"JobComplete","numberRecordsProcessed":1100,"numberRecordsFailed":0}"#);
    let r = finish(&s, &f);
    f.http.assert_done();
    assert_eq!(r.strategy, vec!["bulk", "collections"]);
    assert_eq!((r.already_opted_out, r.written, r.failed), (100, 1100, 0));
}

/// Regression (found by the fault soak, `tests/all/soak.rs`): a permanent
/// failure the nightly meets takes the person out of the retry queue, as
/// one after a push does. Before, the ledger counted such people as failed
/// and as pending a retry at once, and the retry loop sent again the write
/// Salesforce had refused (or to a record it had just found deleted).
#[test]
fn a_permanent_failure_in_the_nightly_leaves_the_retry_queue() {
    let f = Fakes::new();
    let lock = |id: &str| {
        format!(
            r#"[{{"message":"unable to obtain exclusive access to this record or 1 records: {id}","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}}]"#
        )
    };
    f.http
        .expect(
            Method::Patch,
            &patch_path("Lead", LEAD_A),
            400,
            &lock(LEAD_A),
        )
        .expect(
            Method::Patch,
            &patch_path("Lead", LEAD_B),
            400,
            &lock(LEAD_B),
        );
    for (p, id) in [("p1", LEAD_A), ("p2", LEAD_B)] {
        let out = push::push(&settings(), &unsub(p, Some(id)), f.ports()).unwrap();
        assert!(matches!(out, PushOutcome::QueuedForRetry(_)), "{out:?}");
    }
    assert_eq!(
        status::status(&settings(), f.ports())
            .unwrap()
            .pending_retries,
        2
    );

    // The nightly finds LEAD_B deleted (no survivor) and Salesforce refuses
    // the write to LEAD_A.
    f.http
        .expect(
            Method::Get,
            &query_path(&format!("SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead WHERE Id IN ('{LEAD_A}','{LEAD_B}')")),
            200,
            &rows("Lead", &[json!({"Id": LEAD_A, "HasOptedOutOfEmail": false, "IsConverted": false, "ConvertedContactId": null})]),
        )
        .expect(
            Method::Get,
            &crate::salesforce::soql::query_path("62.0", true, &format!("SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE Id IN ('{LEAD_B}')")),
            200,
            &rows("Lead", &[json!({"Id": LEAD_B, "IsDeleted": true, "MasterRecordId": null})]),
        )
        .expect(
            Method::Patch,
            "/services/data/v62.0/composite/sobjects",
            200,
            &json!([{"id": LEAD_A, "success": false, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION", "message": "Opt-out blocked", "fields": []}]}]).to_string(),
        );
    let r = finish(&settings(), &f);
    f.http.assert_done();
    assert_eq!(r.failed, 2);
    let st = status::status(&settings(), f.ports()).unwrap();
    assert_eq!((st.held, st.failed, st.pending_retries), (2, 2, 0));
    // Nothing is due later either.
    f.clock.0.set(NOW + 3_600_000);
    let d = push::drain_retries(&settings(), 10, f.ports()).unwrap();
    assert_eq!((d.attempted, d.next_due), (0, None));
}

/// R2 on the Bulk path: the Lead describe shows no custom field, so the
/// job reads and writes `HasOptedOutOfEmail` alone (one bad field would
/// fail every row), and the report counts every Lead as owing the field.
#[test]
fn a_bulk_nightly_leaves_a_missing_field_out_of_its_job_and_reports_it_owed() {
    let f = Fakes::new();
    let ids = import_bulk_people(&f, 1200);
    let mut s = settings();
    s.bulk_threshold = 1000;
    s.sales_opt_out_field = Some("Sales_Opt_Out__c".into());
    let base = "/services/data/v62.0";
    let opted: String = ids[..100].iter().map(|i| format!("\"{i}\"\n")).collect();
    expect_bulk_skip_set(&f, &opted);
    expect_bulk_ingest_sent(&f);
    f.http
        .expect(Method::Get, &format!("{base}/jobs/ingest/750I00000000001AAA"), 200, r#"{"id":"750I00000000001AAA","state":"JobComplete","numberRecordsProcessed":1100,"numberRecordsFailed":0}"#);
    let r = finish(&s, &f);
    f.http.assert_done();
    assert_eq!(r.strategy, vec!["bulk", "collections"]);
    assert_eq!((r.already_opted_out, r.written, r.failed), (100, 1100, 0));
    let sent = f.http.sent.borrow();
    let query = sent
        .iter()
        .find(|r| r.path.ends_with("/jobs/query"))
        .unwrap();
    let query = String::from_utf8_lossy(&query.body);
    assert!(
        query.contains("HasOptedOutOfEmail = true") && !query.contains("Sales_Opt_Out__c"),
        "{query}"
    );
    let csv = sent.iter().find(|r| r.path.ends_with("/batches")).unwrap();
    assert!(
        csv.body.starts_with(b"Id,HasOptedOutOfEmail\n"),
        "{:?}",
        String::from_utf8_lossy(&csv.body[..40])
    );
    // Every Lead owes the field, written or found already opted out.
    assert_eq!(r.field_owed, 1200);
    assert_eq!(r.owed_fields.len(), 1);
    assert_eq!(r.owed_fields[0].field.field, "Sales_Opt_Out__c");
    assert_eq!(r.owed_fields[0].problem, FieldProblem::NotInstalled);
    assert_eq!(r.owed_fields[0].records, 1200);
    // The written ones carry it on their record, for `audit`.
    let p = crate::ledger::load_person(&f.store, "p0500")
        .unwrap()
        .unwrap();
    assert_eq!(p.owed.len(), 1);
    // And status counts it from what the describe taught.
    let st = status::status(&s, f.ports()).unwrap();
    assert_eq!(st.owed_fields[0].records, 1200);
}

/// Bulk API 2.0 query jobs exist from API 47.0: an org pinned to an older
/// version is walked over REST, whatever the threshold says.
#[test]
fn an_api_version_without_bulk_query_jobs_goes_the_rest_way() {
    let f = Fakes::new();
    import_bulk_people(&f, 1200);
    let mut s = settings();
    s.bulk_threshold = 1000;
    for (version, bulk) in [("46.0", false), ("47.0", true)] {
        s.api_version = version.into();
        let use_bulk = crate::nightly::bulk::should_use(&s, SObject::Lead, f.ports()).unwrap();
        assert_eq!(use_bulk, bulk, "{version}");
    }
}
