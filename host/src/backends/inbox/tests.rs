//! Tests of the `inbox` module.

use super::*;

/// A fresh SQLite inbox, in a directory that lives as long as it.
fn fresh() -> (tempfile::TempDir, Inbox) {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::open(&dir.path().join("s.db")).unwrap();
    (dir, inbox)
}

#[test]
fn many_arrivals_share_one_transaction_and_a_replay_among_them_is_refused_alone() {
    let (_dir, inbox) = fresh();
    behaviour::many_arrivals_share_one_transaction_and_a_replay_among_them_is_refused_alone(&inbox);
}

#[test]
fn a_batch_stops_before_a_resubscribe() {
    let (_dir, inbox) = fresh();
    behaviour::a_batch_stops_before_a_resubscribe(&inbox);
}

#[test]
fn events_come_out_in_order_and_replays_are_refused() {
    let (_dir, inbox) = fresh();
    behaviour::events_come_out_in_order_and_replays_are_refused(&inbox);
}

#[test]
fn redelivery_ids_outlive_signatures() {
    let (_dir, inbox) = fresh();
    behaviour::redelivery_ids_outlive_signatures(&inbox);
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
