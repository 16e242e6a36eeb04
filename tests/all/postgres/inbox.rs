//! `PgInbox` on a real server: the behaviour every inbox shows (the same
//! checks the SQLite inbox passes), scoped per org, and fenced by the org's
//! lease.

use std::time::Duration;

use unsubscribe_sync::StorageError;
use unsubscribe_sync::backends::inbox::{InboxStore, Kind, Next, Refused, behaviour};
use unsubscribe_sync::backends::postgres::{Leases, PgInbox};

use crate::support::postgres::TestDb;

const TTL: Duration = Duration::from_secs(60);

/// One of the shared behaviour checks.
type Check = fn(&dyn InboxStore);

#[test]
fn the_inbox_behaves_as_the_sqlite_one_each_org_apart() {
    let t = TestDb::new();
    let db = t.open(2);
    let leases = Leases::new(db.clone());
    let checks: [(&str, Check); 4] = [
        (
            "batch",
            behaviour::many_arrivals_share_one_transaction_and_a_replay_among_them_is_refused_alone,
        ),
        ("resubscribe", behaviour::a_batch_stops_before_a_resubscribe),
        (
            "order",
            behaviour::events_come_out_in_order_and_replays_are_refused,
        ),
        ("redelivery", behaviour::redelivery_ids_outlive_signatures),
    ];
    // One database, one org per check: each sees an empty inbox while the
    // others' events stay in theirs.
    for (org, check) in checks {
        let lease = leases
            .acquire(org, "replica-1", TTL)
            .unwrap()
            .expect("a free org");
        check(&PgInbox::worker(db.clone(), lease));
    }
    let depth = |org| PgInbox::intake(db.clone(), org).depth().unwrap();
    assert_eq!(
        (depth("batch"), depth("resubscribe"), depth("order")),
        (1, 4, 0)
    );
    assert_eq!(
        PgInbox::intake(db.clone(), "order").dead_count().unwrap(),
        1
    );
    assert_eq!(PgInbox::intake(db, "nobody").depth().unwrap(), 0);
}

#[test]
fn events_are_taken_only_under_the_orgs_live_lease() {
    let t = TestDb::new();
    let db = t.open(2);
    let leases = Leases::new(db.clone());
    // Any replica's intake accepts; the org becomes claimable.
    let intake = PgInbox::intake(db.clone(), "org-a");
    let id = intake
        .accept(
            Kind::Unsubscribe,
            "{\"person_id\":\"p\"}",
            "sig-1",
            1_000,
            300_000,
        )
        .unwrap();
    let elsewhere = PgInbox::intake(db.clone(), "org-b");
    assert_eq!(
        elsewhere
            .accept(Kind::Unsubscribe, "{}", "sig-1", 1_001, 300_000)
            .map(|_| ()),
        Ok(()),
        "replay memory is per org"
    );
    assert_eq!(
        intake.accept(Kind::Unsubscribe, "{}", "sig-1", 1_002, 300_000),
        Err(Refused::Replay)
    );
    let err = intake.next(2_000).unwrap_err();
    assert!(err.to_string().contains("holder of its lease"), "{err}");

    let claimed = leases.claim_free("replica-1", 10, TTL).unwrap();
    let mut orgs: Vec<&str> = claimed.iter().map(|l| l.org.as_str()).collect();
    orgs.sort();
    assert_eq!(orgs, ["org-a", "org-b"], "accepting registered both orgs");
    let lease = claimed.into_iter().find(|l| l.org == "org-a").unwrap();
    let worker = PgInbox::worker(db.clone(), lease.clone());
    let Next::Due(ev) = worker.next(2_000).unwrap() else {
        panic!("the event is due")
    };
    assert_eq!((ev.id, ev.received_at), (id, 1_000));

    // The lease runs out and another replica takes the org: the old
    // holder can neither take nor settle the event.
    assert!(leases.renew(&lease, Duration::from_millis(150)).unwrap());
    std::thread::sleep(Duration::from_millis(450));
    let successor = leases
        .acquire("org-a", "replica-2", TTL)
        .unwrap()
        .expect("expired");
    assert!(successor.token > lease.token);
    for result in [
        worker.next(2_000).map(|_| ()),
        worker.due_unsubscribes(2_000, 10).map(|_| ()),
        worker.done(id),
        worker.defer(id, "late", 9_000),
        worker.dead(id, "late", 9_000),
    ] {
        match result {
            Err(StorageError::Unavailable(m)) if m.contains("lease lost") => {}
            other => panic!("the old holder was not refused: {other:?}"),
        }
    }
    let new = PgInbox::worker(db, successor);
    let due = new.due_unsubscribes(2_000, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].id, due[0].attempts),
        (id, 0),
        "untouched by the old holder"
    );
    new.done(id).unwrap();
    assert_eq!(new.next(2_000).unwrap(), Next::Empty);
}
