//! What the worker does with one inbox event: the call for it (a push or a
//! re-subscribe) and the one rule for what its outcome means for the inbox
//! ([`settle`]: done, deferred or dead-lettered), which the batched path
//! ([`super::batch`]) follows event by event too.

use std::sync::atomic::Ordering;

use super::scheduler::Plan;
use super::{DEFER_MS, Service};
use crate::api;
use crate::app::input;
use crate::app::{describe_push, describe_sync_error};
use crate::backends::inbox::{self, Kind};

pub(super) fn handle_event(s: &Service, plan: &mut Plan, ev: inbox::Event, now: i64) {
    let caps = &s.app.caps;
    let settings = s.app.settings();
    // Whether the retry queue may have changed (the pending-retries gauge).
    let mut queue_changed = false;
    // The body was checked on arrival; a failure here means it was edited
    // in the database: dead-letter it.
    let outcome: Result<Result<String, api::SyncError>, crate::HostError> = match ev.kind {
        Kind::Unsubscribe => {
            match input::unsubscribe_from_json(&ev.body, ev.received_at, "webhook") {
                Ok(e) => s.app.runtime.push(caps, settings, &e).map(|r| {
                    r.map(|o| {
                        s.metrics.push_outcome(&o);
                        if let api::PushOutcome::QueuedForRetry(q) = &o {
                            plan.retry_at(q.next_attempt_at);
                            queue_changed = true;
                        }
                        format!("{}: {}", e.person_id, describe_push(&o))
                    })
                }),
                Err(e) => Ok(Err(api::SyncError::InvalidEvent(e))),
            }
        }
        Kind::Resubscribe => {
            match input::resubscribe_from_json(&ev.body, ev.received_at, "webhook") {
                Ok(e) => s.app.runtime.resubscribe(caps, settings, &e).map(|r| {
                    r.map(|o| {
                        s.metrics.resubscribes.fetch_add(1, Ordering::Relaxed);
                        // A release drops any queued retry of the person.
                        queue_changed |= matches!(o, api::ResubscribeOutcome::Released);
                        format!("{}: {}", e.person_id, crate::app::describe_resubscribe(&o))
                    })
                }),
                Err(e) => Ok(Err(api::SyncError::InvalidEvent(e))),
            }
        }
    };
    let settled = settle(s, plan, &ev, outcome, queue_changed);
    apply(s, ev.id, settled, now);
}

/// What becomes of an inbox event after its call.
pub(super) enum Settled {
    /// Handled (recorded by the component, whatever Salesforce said).
    Done,
    /// Nothing was recorded and retrying may help: kept, in order.
    Defer(String),
    /// Kept aside for an operator, with the reason.
    Dead(String),
}

/// The one rule for what an event's outcome means for the inbox (a push,
/// a re-subscribe, or one event of a batch): logs it, counts it, and says
/// whether the event is done, deferred or dead-lettered.
pub(super) fn settle(
    s: &Service,
    plan: &mut Plan,
    ev: &inbox::Event,
    outcome: Result<Result<String, api::SyncError>, crate::HostError>,
    queue_changed: bool,
) -> Settled {
    match outcome {
        Ok(Ok(text)) => {
            tracing::info!(event = ev.id, "{text}");
            if queue_changed {
                refresh_pending(s);
            }
            Settled::Done
        }
        // Nothing was recorded and retrying may help: keep it, in order.
        Ok(Err(e @ (api::SyncError::StorageFailure(_) | api::SyncError::InvalidSettings(_)))) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            let text = describe_sync_error(&e);
            tracing::error!(event = ev.id, attempts = ev.attempts + 1, error = %text, "event kept for a later attempt");
            Settled::Defer(text)
        }
        // The sender must fix it: keep it aside for an operator.
        Ok(Err(e @ api::SyncError::InvalidEvent(_))) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            s.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            let text = describe_sync_error(&e);
            tracing::error!(event = ev.id, error = %text, "event refused by the component; moved to the dead letters");
            Settled::Dead(text)
        }
        // Recorded by the component (which holds it and retries or reports
        // it); the error is Salesforce's side.
        Ok(Err(e)) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = ev.id, error = %describe_sync_error(&e), "event recorded; not written");
            refresh_from_status(s, plan);
            Settled::Done
        }
        // A trap, the deadline or the memory cap: the host keeps serving;
        // the event is kept aside with the reason.
        Err(h) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            s.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event = ev.id, error = %h, "the component failed on an event; moved to the dead letters");
            Settled::Dead(h.to_string())
        }
    }
}

/// Carries out what [`settle`] decided for one event.
pub(super) fn apply(s: &Service, id: i64, settled: Settled, now: i64) {
    let result = match settled {
        Settled::Done => s.inbox.done(id),
        Settled::Defer(text) => s.inbox.defer(id, &text, now + DEFER_MS),
        Settled::Dead(text) => s.inbox.dead(id, &text, now),
    };
    if let Err(e) = result {
        tracing::error!(event = id, error = %e, "cannot update the inbox");
        s.sleep_until(Some(now + 1_000));
    }
}

pub(super) fn refresh_from_status(s: &Service, plan: &mut Plan) {
    match s.app.runtime.status(&s.app.caps, s.app.settings()) {
        Ok(Ok(st)) => {
            s.metrics
                .retries_pending
                .store(st.pending_retries, Ordering::Relaxed);
            plan.next_retry = st.next_retry_at;
            if st.nightly_in_progress.is_some() && s.app.settings().sync_enabled {
                // A run was interrupted (a restart): resume it.
                plan.nightly_active = true;
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %describe_sync_error(&e), "status failed"),
        Err(h) => tracing::warn!(error = %h, "status stopped"),
    }
}

pub(super) fn refresh_pending(s: &Service) {
    if let Ok(Ok(st)) = s.app.runtime.status(&s.app.caps, s.app.settings()) {
        s.metrics
            .retries_pending
            .store(st.pending_retries, Ordering::Relaxed);
    }
}
