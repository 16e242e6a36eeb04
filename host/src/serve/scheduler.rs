//! The scheduler of `serve`: when the nightly is due and when retries are.
//!
//! The component owns the time-zone logic: its `next-nightly` export gives
//! the first instant after a given one at which the schedule's local time
//! falls, on the right side of each daylight-saving switch. The host checks
//! the answer is sane (strictly later, and within two days: a daily
//! schedule is never further) so a broken component can neither make the
//! host spin nor sleep forever.

use crate::{Capabilities, Runtime, api};

/// A daily schedule's next run is never further than this (a day plus a
/// daylight-saving hour, with margin).
const MAX_AHEAD_MS: i64 = 2 * 24 * 3_600_000;

/// Asks the component for the next due instant strictly after `after`, and
/// checks the answer.
pub fn next_nightly(
    runtime: &Runtime,
    caps: &Capabilities,
    schedule: &api::Schedule,
    after: i64,
) -> Result<i64, String> {
    let due = match runtime.next_nightly(caps, schedule, after) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(crate::app::describe_sync_error(&e)),
        Err(h) => return Err(h.to_string()),
    };
    if due <= after || due - after > MAX_AHEAD_MS {
        return Err(format!(
            "the component named {due} as the next nightly after {after}, which is not within the next two days"
        ));
    }
    Ok(due)
}

/// The most recent due instant at or before `now` (within the last two days).
pub fn last_due_at_or_before(
    runtime: &Runtime,
    caps: &Capabilities,
    schedule: &api::Schedule,
    now: i64,
) -> Result<i64, String> {
    let mut due = next_nightly(runtime, caps, schedule, now - MAX_AHEAD_MS)?;
    loop {
        let next = next_nightly(runtime, caps, schedule, due)?;
        if next > now {
            return Ok(due);
        }
        due = next;
    }
}

/// The next `n` due instants from `from` on: what `serve` would run.
pub fn upcoming(
    runtime: &Runtime,
    caps: &Capabilities,
    schedule: &api::Schedule,
    from: i64,
    n: usize,
) -> Result<Vec<i64>, String> {
    let mut out = Vec::with_capacity(n);
    let mut after = from;
    for _ in 0..n {
        after = next_nightly(runtime, caps, schedule, after)?;
        out.push(after);
    }
    Ok(out)
}

/// What the worker should do next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Run one step of the nightly (starting or resuming the run).
    NightlyStep,
    /// Ask the component for the next due instant again (the last try failed).
    PlanNightly,
    /// Attempt the due retries.
    DrainRetries,
    /// Nothing is due; wake at this instant at the latest (or when told).
    Idle(Option<i64>),
}

/// The scheduler's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// When the next nightly is due; `None` when none is planned.
    pub next_nightly: Option<i64>,
    /// When the earliest retry is due; `None` when the queue is empty.
    pub next_retry: Option<i64>,
    /// A nightly run is under way (its steps continue between events).
    pub nightly_active: bool,
    /// The running nightly asked to be called again no sooner than this.
    pub nightly_resume_at: Option<i64>,
    /// Planning the nightly failed; try again at this instant.
    pub replan_at: Option<i64>,
}

fn due(t: Option<i64>, now: i64) -> bool {
    t.is_some_and(|t| now >= t)
}

impl Plan {
    /// What is due at `now`. A running nightly goes first (its steps are
    /// short and checkpointed; webhook events are handled between them),
    /// then a due nightly, a re-plan, then due retries.
    pub fn next_work(&self, now: i64) -> Work {
        if self.nightly_active {
            if self.nightly_resume_at.is_none_or(|t| now >= t) {
                return Work::NightlyStep;
            }
        } else if due(self.next_nightly, now) {
            return Work::NightlyStep;
        }
        if due(self.replan_at, now) {
            return Work::PlanNightly;
        }
        if due(self.next_retry, now) {
            return Work::DrainRetries;
        }
        let nightly = if self.nightly_active {
            self.nightly_resume_at
        } else {
            self.next_nightly
        };
        let wake = [nightly, self.replan_at, self.next_retry]
            .into_iter()
            .flatten()
            .min();
        Work::Idle(wake)
    }

    /// Notes a retry the component queued.
    pub fn retry_at(&mut self, at: i64) {
        self.next_retry = Some(self.next_retry.map_or(at, |t| t.min(at)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_orders_the_work() {
        let mut p = Plan {
            next_nightly: Some(1_000),
            next_retry: Some(500),
            ..Plan::default()
        };
        assert_eq!(p.next_work(100), Work::Idle(Some(500)));
        assert_eq!(p.next_work(600), Work::DrainRetries);
        assert_eq!(p.next_work(1_000), Work::NightlyStep);
        p.next_nightly = Some(90_000);
        p.nightly_active = true;
        assert_eq!(p.next_work(600), Work::NightlyStep);
        // A step asked to wait: retries may run meanwhile, then the step.
        p.nightly_resume_at = Some(2_000);
        assert_eq!(p.next_work(600), Work::DrainRetries);
        p.next_retry = None;
        assert_eq!(p.next_work(600), Work::Idle(Some(2_000)));
        assert_eq!(p.next_work(2_000), Work::NightlyStep);
        p.nightly_active = false;
        p.nightly_resume_at = None;
        p.replan_at = Some(700);
        assert_eq!(p.next_work(800), Work::PlanNightly);
        p.replan_at = None;
        p.next_retry = None;
        p.retry_at(700);
        p.retry_at(650);
        assert_eq!(p.next_retry, Some(650));
        assert_eq!(Plan::default().next_work(0), Work::Idle(None));
    }
}
