//! Behaviour every [`InboxStore`] must show, each check on an empty inbox:
//! run against the SQLite inbox (its unit tests) and the PostgreSQL one (the
//! e2e tests, which have a server). Panics on a failure, as a test does.

use super::{Arrival, InboxStore, Kind, Next, Refused};

/// `accept_many` records a batch in order and refuses a replay within it
/// alone; `done_many` removes some.
pub fn many_arrivals_share_one_transaction_and_a_replay_among_them_is_refused_alone(
    inbox: &dyn InboxStore,
) {
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

/// `due_unsubscribes` stops before the first re-subscribe.
pub fn a_batch_stops_before_a_resubscribe(inbox: &dyn InboxStore) {
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

/// Events come out in arrival order, a deferred one steps aside until its
/// time, a replay is refused, and dead letters are counted.
pub fn events_come_out_in_order_and_replays_are_refused(inbox: &dyn InboxStore) {
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

/// A plain signature is forgotten after twice the replay window, a
/// Standard Webhooks message ID (`whid:`) only after
/// [`super::REDELIVERY_RETENTION_MS`], so a sender's retry hours later is
/// still recognized.
pub fn redelivery_ids_outlive_signatures(inbox: &dyn InboxStore) {
    let window = 1_000;
    let accept = |key: &str, at: i64| inbox.accept(Kind::Unsubscribe, "{}", key, at, window);
    assert!(accept("sig-x", 0).is_ok());
    assert!(accept("whid:m1", 0).is_ok());
    assert_eq!(accept("sig-x", 1), Err(Refused::Replay));
    let later = 10 * window;
    assert!(accept("sig-x", later).is_ok(), "a signature is forgotten");
    assert_eq!(accept("whid:m1", later), Err(Refused::Replay));
    let much_later = super::REDELIVERY_RETENTION_MS + later + 1;
    assert!(
        accept("whid:m1", much_later).is_ok(),
        "and a message ID in the end"
    );
}
