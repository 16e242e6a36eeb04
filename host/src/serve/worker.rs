//! The worker: the only caller of the component. Inbox events in arrival
//! order first, then the nightly (its steps continue between events), then
//! due retries.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::events::{handle_event, refresh_from_status, refresh_pending};
use super::scheduler::{Plan, Work};
use super::{DEFER_MS, MIN_NIGHTLY_GAP_MS, REPLAN_MS, Service};
use crate::api;
use crate::app::describe_sync_error;
use crate::backends::inbox::{self, Kind};

/// How often the worker looks again at a ledger found gone.
const LEDGER_RECHECK_MS: i64 = 5_000;

/// The worker: the only caller of the component.
pub(super) fn worker_loop(s: &Service) {
    let clock = s.app.caps.clock.clone();
    let mut plan = Plan::default();
    refresh_from_status(s, &mut plan);
    plan_nightly(s, &mut plan, clock.now_ms());
    catch_up_missed_nightly(s, &mut plan, clock.now_ms());
    let mut nightly_started: Option<Instant> = None;
    // The due instant of the run under way (or of the last one).
    let mut run_due = clock.now_ms();
    let mut ledger_gone = false;
    while !s.shutdown.load(Ordering::SeqCst) {
        let now = clock.now_ms();
        // A ledger deleted or replaced under the service: no call is made
        // (it would write into a file nobody will read again) until the
        // operator restores it and restarts; intake refuses meanwhile.
        if let Some(why) = s.ledger_problem() {
            if !ledger_gone {
                tracing::error!(reason = %why, "the worker stops calling the component");
                ledger_gone = true;
            }
            s.sleep_until(Some(now + LEDGER_RECHECK_MS));
            continue;
        }
        // Inbox events first, in arrival order; a deferred event steps
        // aside until its time, so it never holds back the ones behind it.
        let inbox_wake = match s.inbox.next(now) {
            Ok(inbox::Next::Due(ev)) => {
                // Several unsubscribes waiting go out together; a lone one
                // (or a re-subscribe) is handled at once, on its own.
                let batch = match ev.kind {
                    Kind::Unsubscribe if s.app.config.server.batch_max > 1 => s
                        .inbox
                        .due_unsubscribes(now, s.app.config.server.batch_max)
                        .unwrap_or_default(),
                    _ => Vec::new(),
                };
                if batch.len() > 1 {
                    super::batch::handle_batch(s, &mut plan, batch, now);
                } else {
                    handle_event(s, &mut plan, ev, now);
                }
                continue;
            }
            Ok(inbox::Next::WaitUntil(at)) => Some(at),
            Ok(inbox::Next::Empty) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox");
                Some(now + DEFER_MS)
            }
        };
        match plan.next_work(now) {
            Work::NightlyStep => {
                let started = *nightly_started.get_or_insert_with(Instant::now);
                if !plan.nightly_active {
                    run_due = plan.next_nightly.unwrap_or(now);
                }
                plan.nightly_active = true;
                plan.nightly_resume_at = None;
                match s.app.runtime.nightly(
                    &s.app.caps,
                    s.app.settings(),
                    &api::NightlyOptions { dry_run: false },
                ) {
                    Ok(Ok(api::NightlyOutcome::InProgress(p))) => {
                        tracing::debug!(run = %p.run_id, stage = %p.stage, done = p.done, total = p.total, "nightly step");
                        if p.wait_ms > 0 {
                            plan.nightly_resume_at = Some(clock.now_ms() + i64::from(p.wait_ms));
                        }
                    }
                    Ok(Ok(api::NightlyOutcome::Finished(r))) => {
                        let ms = started.elapsed().as_millis() as u64;
                        s.metrics.nightly_runs.fetch_add(1, Ordering::Relaxed);
                        s.metrics
                            .nightly_last_duration_ms
                            .store(ms, Ordering::Relaxed);
                        tracing::info!(
                            run = %r.run_id, held = r.held, written = r.written, reasserted = r.reasserted,
                            redirected = r.redirected, failed = r.failed, skipped = r.skipped_no_salesforce_id,
                            stopped = r.stopped.is_some(), "nightly finished"
                        );
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Ok(Ok(api::NightlyOutcome::Disabled)) => {
                        tracing::info!("the sync is disabled: no nightly run");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %describe_sync_error(&e), "nightly failed");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Err(h) => {
                        tracing::error!(error = %h, "nightly stopped");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                }
            }
            Work::PlanNightly => plan_nightly(s, &mut plan, now),
            Work::DrainRetries => {
                s.metrics.retry_drains.fetch_add(1, Ordering::Relaxed);
                match s.app.runtime.drain_retries(
                    &s.app.caps,
                    s.app.settings(),
                    s.app.config.server.retry_batch,
                ) {
                    Ok(Ok(d)) => {
                        tracing::info!(
                            attempted = d.attempted,
                            written = d.written,
                            requeued = d.requeued,
                            failed = d.failed,
                            "retries drained"
                        );
                        plan.next_retry = d.next_due;
                        // Never busy-loop on a retry the component keeps due.
                        if d.attempted == 0 && plan.next_retry.is_some_and(|t| t <= now) {
                            plan.next_retry = Some(now + DEFER_MS);
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %describe_sync_error(&e), "draining retries failed");
                        plan.next_retry = Some(now + DEFER_MS);
                    }
                    Err(h) => {
                        tracing::error!(error = %h, "draining retries stopped");
                        plan.next_retry = Some(now + DEFER_MS);
                    }
                }
                refresh_pending(s);
            }
            Work::Idle(until) => {
                let wake = [until, inbox_wake].into_iter().flatten().min();
                s.sleep_until(wake);
            }
        }
    }
}

/// A run ended: plan the next one. It is asked for strictly after both now
/// and an hour past the run's due instant, so a component answering "in a
/// moment" again and again cannot make the host run nightlies back to back.
fn end_nightly(s: &Service, plan: &mut Plan, started: &mut Option<Instant>, run_due: i64) {
    plan.nightly_active = false;
    plan.nightly_resume_at = None;
    *started = None;
    refresh_from_status(s, plan);
    let after = s.app.caps.clock.now_ms().max(run_due + MIN_NIGHTLY_GAP_MS);
    plan_nightly(s, plan, after);
}

fn plan_nightly(s: &Service, plan: &mut Plan, now: i64) {
    plan.replan_at = None;
    if !s.app.settings().sync_enabled {
        plan.next_nightly = None;
        return;
    }
    match super::scheduler::next_nightly(
        &s.app.runtime,
        &s.app.caps,
        &s.app.settings().schedule,
        now,
    ) {
        Ok(due) => {
            tracing::info!(due = %crate::app::ts(due), "next nightly planned");
            plan.next_nightly = Some(due);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot plan the nightly; trying again in a minute");
            plan.next_nightly = None;
            plan.replan_at = Some(now + REPLAN_MS);
        }
    }
}

/// A nightly that fell due while the service was down runs at once: the
/// last run started before the most recent due instant.
fn catch_up_missed_nightly(s: &Service, plan: &mut Plan, now: i64) {
    if plan.nightly_active || !s.app.settings().sync_enabled {
        return;
    }
    let Ok(Ok(st)) = s.app.runtime.status(&s.app.caps, s.app.settings()) else {
        return;
    };
    // Before the first run there is nothing to catch up: the first one
    // comes at its due time.
    let Some(last) = st.last_report else { return };
    let schedule = &s.app.settings().schedule;
    let Ok(due) =
        super::scheduler::last_due_at_or_before(&s.app.runtime, &s.app.caps, schedule, now)
    else {
        return;
    };
    if last.started_at < due {
        tracing::warn!(
            missed = %crate::app::ts(due),
            last_run = %crate::app::ts(last.started_at),
            "a nightly fell due while the service was down; running it now"
        );
        plan.next_nightly = Some(now);
    }
}
