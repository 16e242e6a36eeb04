//! The batched path of the worker: when several unsubscribes wait at the
//! head of the inbox (a burst, a catch-up), up to `server.batch_max` of them
//! (200 by default: one sObject Collections call) go to the component in one
//! `push-many` call, which records them all in one atomic write and writes
//! them 200 records a call; each event's answer is then settled exactly as a
//! lone push's would be ([`super::events::settle`]). A lone event never
//! waits for company: it goes out at once on its own (one PATCH).

use std::sync::atomic::Ordering;

use super::Service;
use super::events::{Settled, apply, handle_event, settle};
use super::scheduler::Plan;
use crate::api;
use crate::app::describe_push;
use crate::app::input;
use crate::backends::inbox::Event;

/// Hands `events` (due unsubscribes, in arrival order, at least two) to the
/// component in one call and settles each.
pub(super) fn handle_batch(s: &Service, plan: &mut Plan, events: Vec<Event>, now: i64) {
    // The bodies were checked on arrival; one that no longer reads (edited
    // in the database) is settled on its own, as a lone push would be.
    let mut parsed = Vec::with_capacity(events.len());
    let mut taken = Vec::with_capacity(events.len());
    for ev in events {
        match input::unsubscribe_from_json(&ev.body, ev.received_at, "webhook") {
            Ok(e) => {
                parsed.push(e);
                taken.push(ev);
            }
            Err(_) => handle_event(s, plan, ev, now),
        }
    }
    if taken.is_empty() {
        return;
    }
    let answers = match s
        .app
        .runtime
        .push_many(&s.app.caps, s.app.settings(), &parsed)
    {
        Ok(Ok(answers)) if answers.len() == taken.len() => answers,
        // The batch as a whole was not taken (storage, settings): nothing
        // was recorded, so each event is settled by the same error.
        Ok(Ok(_)) | Ok(Err(_)) | Err(_) => {
            return one_by_one(s, plan, taken, now);
        }
    };
    let mut done = Vec::with_capacity(taken.len());
    let mut queue_changed = false;
    for (ev, (event, answer)) in taken.iter().zip(parsed.iter().zip(answers)) {
        let outcome = Ok(answer.map(|o| {
            s.metrics.push_outcome(&o);
            if let api::PushOutcome::QueuedForRetry(q) = &o {
                plan.retry_at(q.next_attempt_at);
                queue_changed = true;
            }
            format!("{}: {}", event.person_id, describe_push(&o))
        }));
        match settle(s, plan, ev, outcome, false) {
            Settled::Done => done.push(ev.id),
            other => apply(s, ev.id, other, now),
        }
    }
    s.metrics.batches.fetch_add(1, Ordering::Relaxed);
    if queue_changed {
        super::events::refresh_pending(s);
    }
    // One transaction for the handled events, not one commit each.
    if let Err(e) = s.inbox.done_many(&done) {
        tracing::error!(events = done.len(), error = %e, "cannot update the inbox");
        s.sleep_until(Some(now + 1_000));
    }
}

/// The batch call failed as a whole (the component refused it, trapped, or
/// answered the wrong number of results): each event is handled on its own,
/// so one poisonous event is dead-lettered alone and the others go through.
fn one_by_one(s: &Service, plan: &mut Plan, events: Vec<Event>, now: i64) {
    tracing::warn!(
        events = events.len(),
        "a batch was not taken as a whole; its events are pushed one by one"
    );
    for ev in events {
        handle_event(s, plan, ev, now);
    }
}
