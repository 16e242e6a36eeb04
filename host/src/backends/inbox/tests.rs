//! Tests of the `inbox` module.

use super::*;

#[test]
fn many_arrivals_share_one_transaction_and_a_replay_among_them_is_refused_alone() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::open(&dir.path().join("s.db")).unwrap();
    let arrival = |key: &str, person: &str| Arrival {
        kind: Kind::Unsubscribe,
        body: format!("{{\"person_id\":\"{person}\"}}"),
        key: key.into(),
        now_ms: 1_000,
        window_ms: 300_000,
    };
    let answers = inbox
        .accept_many(&[
            arrival("k1", "a"),
            arrival("k2", "b"),
            arrival("k1", "a-again"),
            arrival("k3", "c"),
        ])
        .unwrap();
    assert!(
        answers[0].is_ok() && answers[1].is_ok() && answers[3].is_ok(),
        "{answers:?}"
    );
    assert_eq!(answers[2], Err(Refused::Replay));
    assert_eq!(inbox.depth().unwrap(), 3);
    // In arrival order, so the worker's batch reads them as sent.
    let due = inbox.due_unsubscribes(2_000, 10).unwrap();
    let bodies: Vec<&str> = due.iter().map(|e| e.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "{\"person_id\":\"a\"}",
            "{\"person_id\":\"b\"}",
            "{\"person_id\":\"c\"}"
        ]
    );
    inbox.done_many(&[due[0].id, due[2].id]).unwrap();
    assert_eq!(inbox.depth().unwrap(), 1);
}

#[test]
fn a_batch_stops_before_a_resubscribe() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::open(&dir.path().join("s.db")).unwrap();
    for (i, kind) in [
        Kind::Unsubscribe,
        Kind::Unsubscribe,
        Kind::Resubscribe,
        Kind::Unsubscribe,
    ]
    .into_iter()
    .enumerate()
    {
        inbox
            .accept(
                kind,
                "{\"person_id\":\"p\"}",
                &format!("s{i}"),
                1_000,
                300_000,
            )
            .unwrap();
    }
    assert_eq!(inbox.due_unsubscribes(2_000, 200).unwrap().len(), 2);
}

#[test]
fn events_come_out_in_order_and_replays_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::open(&dir.path().join("s.db")).unwrap();
    let a = inbox
        .accept(
            Kind::Unsubscribe,
            "{\"person_id\":\"a\"}",
            "sig-a",
            1_000,
            300_000,
        )
        .unwrap();
    let b = inbox
        .accept(
            Kind::Resubscribe,
            "{\"person_id\":\"b\"}",
            "sig-b",
            1_001,
            300_000,
        )
        .unwrap();
    assert!(a < b);
    assert_eq!(
        inbox.accept(Kind::Unsubscribe, "{}", "sig-a", 1_002, 300_000),
        Err(Refused::Replay)
    );
    assert_eq!(inbox.depth().unwrap(), 2);
    let Next::Due(first) = inbox.next(1_002).unwrap() else {
        panic!("a is due")
    };
    assert_eq!((first.id, first.kind), (a, Kind::Unsubscribe));
    // Deferred, `a` steps aside: `b` comes out first...
    inbox.defer(a, "storage unavailable", 5_000).unwrap();
    let Next::Due(second) = inbox.next(1_003).unwrap() else {
        panic!("b is due")
    };
    assert_eq!((second.id, second.kind), (b, Kind::Resubscribe));
    inbox.dead(b, "invalid event", 1_004).unwrap();
    // ...then nothing is due until `a`'s time, and then `a` is.
    assert_eq!(inbox.next(1_005).unwrap(), Next::WaitUntil(5_000));
    let Next::Due(again) = inbox.next(5_000).unwrap() else {
        panic!("a is due again")
    };
    assert_eq!((again.id, again.attempts, again.not_before), (a, 1, 5_000));
    inbox.done(a).unwrap();
    assert_eq!(inbox.next(5_001).unwrap(), Next::Empty);
    assert_eq!(inbox.dead_count().unwrap(), 1);
}

#[test]
fn the_inbox_survives_a_restart_and_shares_the_file_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = crate::SqliteStorage::open(&path).unwrap();
    {
        let inbox = Inbox::open(&path).unwrap();
        inbox
            .accept(Kind::Unsubscribe, "{\"person_id\":\"a\"}", "s1", 1, 300_000)
            .unwrap();
    }
    use crate::Storage;
    store.set("k", b"v").unwrap();
    drop(store);
    let inbox = Inbox::open(&path).unwrap();
    assert_eq!(inbox.depth().unwrap(), 1);
    assert_eq!(
        inbox.accept(Kind::Unsubscribe, "{}", "s1", 2, 300_000),
        Err(Refused::Replay)
    );
    assert!(
        crate::SqliteStorage::open(&path).is_ok(),
        "the store still accepts the file"
    );
}
