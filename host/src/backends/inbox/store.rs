//! [`InboxStore`]: what an inbox does, whatever keeps it: the SQLite
//! [`Inbox`] of one host, or the PostgreSQL inbox of one org shared by
//! several replicas ([`crate::backends::postgres::PgInbox`]). The shared
//! behaviour tests ([`super::behaviour`]) run against both.

use super::{Arrival, Event, Inbox, Kind, Next, Refused};
use crate::ports::storage::StorageError;

/// A durable inbox of webhook events: recorded before the webhook is
/// answered, handed out in arrival order (a deferred event stepping aside
/// until its time), then removed, deferred or moved to the dead letters.
/// Remembers accepted requests' replay keys (see
/// [`super::REDELIVERY_RETENTION_MS`]).
pub trait InboxStore: Send + Sync {
    /// Records many arrivals in one transaction: a replayed one is refused
    /// on its own without failing the others. `Err` when the transaction
    /// failed: nothing of it was recorded.
    fn accept_many(&self, arrivals: &[Arrival]) -> Result<Vec<Result<i64, Refused>>, StorageError>;

    /// Records one event and its signature; refuses a signature already
    /// seen within the window. `now_ms` is the arrival.
    fn accept(
        &self,
        kind: Kind,
        body: &str,
        signature: &str,
        now_ms: i64,
        window_ms: i64,
    ) -> Result<i64, Refused> {
        let arrival = Arrival {
            kind,
            body: body.to_string(),
            key: signature.to_string(),
            now_ms,
            window_ms,
        };
        self.accept_many(std::slice::from_ref(&arrival))
            .map_err(Refused::Storage)?
            .pop()
            .unwrap_or_else(|| {
                Err(Refused::Storage(StorageError::Unavailable(
                    "no answer".into(),
                )))
            })
    }

    /// What the worker should do next at `now`: the oldest event that is
    /// due, else when the earliest deferred one will be (see [`Inbox::next`]).
    fn next(&self, now: i64) -> Result<Next, StorageError>;

    /// The due unsubscribes at the head of the inbox, in arrival order, at
    /// most `max`, ending before the first due re-subscribe.
    fn due_unsubscribes(&self, now: i64, max: usize) -> Result<Vec<Event>, StorageError>;

    /// Removes handled events, in one transaction.
    fn done_many(&self, ids: &[i64]) -> Result<(), StorageError>;

    /// Removes a handled event.
    fn done(&self, id: i64) -> Result<(), StorageError> {
        self.done_many(&[id])
    }

    /// Keeps an event for a later attempt, not before `not_before`.
    fn defer(&self, id: i64, error: &str, not_before: i64) -> Result<(), StorageError>;

    /// Moves an event the component cannot take to the dead letters.
    fn dead(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StorageError>;

    /// Events waiting.
    fn depth(&self) -> Result<u64, StorageError>;

    /// Events in the dead letters.
    fn dead_count(&self) -> Result<u64, StorageError>;
}

/// The run of unsubscribes at the head of `due` (events in id order): what
/// a batch may take, since a re-subscribe must be handled in its place.
pub(crate) fn unsubscribe_run(mut due: Vec<Event>) -> Vec<Event> {
    let run = due
        .iter()
        .position(|e| e.kind != Kind::Unsubscribe)
        .unwrap_or(due.len());
    due.truncate(run);
    due
}

impl InboxStore for Inbox {
    fn accept_many(&self, arrivals: &[Arrival]) -> Result<Vec<Result<i64, Refused>>, StorageError> {
        Inbox::accept_many(self, arrivals)
    }
    fn next(&self, now: i64) -> Result<Next, StorageError> {
        Inbox::next(self, now)
    }
    fn due_unsubscribes(&self, now: i64, max: usize) -> Result<Vec<Event>, StorageError> {
        Inbox::due_unsubscribes(self, now, max)
    }
    fn done_many(&self, ids: &[i64]) -> Result<(), StorageError> {
        Inbox::done_many(self, ids)
    }
    fn done(&self, id: i64) -> Result<(), StorageError> {
        Inbox::done(self, id)
    }
    fn defer(&self, id: i64, error: &str, not_before: i64) -> Result<(), StorageError> {
        Inbox::defer(self, id, error, not_before)
    }
    fn dead(&self, id: i64, error: &str, now_ms: i64) -> Result<(), StorageError> {
        Inbox::dead(self, id, error, now_ms)
    }
    fn depth(&self) -> Result<u64, StorageError> {
        Inbox::depth(self)
    }
    fn dead_count(&self) -> Result<u64, StorageError> {
        Inbox::dead_count(self)
    }
}
