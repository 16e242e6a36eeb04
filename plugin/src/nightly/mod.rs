//! The nightly reconciliation (R4, R5): every held unsubscribe with a
//! Salesforce ID is read back and, where a selected field is not set, written.
//!
//! A run is a sequence of bounded calls. Each call loads the checkpoint, does
//! a slice of work (one index chunk at a time: read, decide, write), saves the
//! checkpoint in the same atomic write as the slice's results, and returns
//! `in-progress` until the run is done. A killed host loses at most the slice
//! in flight, which the next call redoes.

pub mod bulk;
mod collections;
mod decide;
pub use decide::all_set;
pub mod report;
pub mod state;

use chrono::{DateTime, Utc};

use crate::ledger;
use crate::model::{
    ApiCalls, NightlyOptions, NightlyOutcome, NightlyProgress, SObject, Settings, StopReason,
    SyncError,
};
use crate::ports::{HttpFailure, Level, Ports, WriteOp};
use crate::salesforce::api::{CallBudget, OrgApi, RequestError};
use crate::salesforce::errors;
use crate::settings;
use state::{Counts, DRY_RUN_KEY, RUN_KEY, RUN_SEQ_KEY, RunState, Stage};

/// Index entries one call deals with at most (25 chunks of 200).
const ENTRIES_PER_CALL: u64 = 5_000;
/// Wall time after which a call checkpoints and returns, well inside the
/// host's per-call deadline.
const MS_PER_CALL: i64 = 3_000;
/// Index entries read per chunk: one SOQL read and at most one 200-record write.
pub(crate) const CHUNK: u32 = 200;
/// Consecutive transient failures after which a run gives up for now.
const MAX_TRANSIENT_FAILURES: u32 = 8;

/// Why a slice of work stopped early.
#[derive(Debug)]
pub(crate) enum Interrupt {
    /// End the run's call with a stop: it keeps its place.
    Stop(StopReason),
    /// Transient: come back later; the slice will be redone.
    Wait(SyncError),
    /// A problem the run cannot get past without an admin (or storage).
    Fail(SyncError),
}

impl From<SyncError> for Interrupt {
    fn from(e: SyncError) -> Self {
        Interrupt::Fail(e)
    }
}

/// Why a step of the run returned early.
#[derive(Debug)]
pub(crate) enum StepError {
    /// Nothing wrong: wait this many ms (a Bulk job is processing).
    Wait(u32),
    /// Interrupted.
    Interrupt(Interrupt),
}

impl From<Interrupt> for StepError {
    fn from(i: Interrupt) -> Self {
        StepError::Interrupt(i)
    }
}

impl From<SyncError> for StepError {
    fn from(e: SyncError) -> Self {
        StepError::Interrupt(Interrupt::Fail(e))
    }
}

/// Maps a request error met by the run (outside a per-record write).
pub(crate) fn interrupt(e: RequestError, object: SObject, fields: &[String]) -> Interrupt {
    match e {
        RequestError::Budget(m) => Interrupt::Stop(StopReason::Budget(m)),
        RequestError::NoResponse(HttpFailure::AuthFailed(m)) => {
            Interrupt::Stop(StopReason::Auth(m))
        }
        RequestError::NoResponse(HttpFailure::Denied(m)) => {
            Interrupt::Fail(SyncError::RequestDenied(m))
        }
        e => {
            let failure = e.classify(object, None, fields);
            match failure.disposition {
                errors::Disposition::Auth => {
                    Interrupt::Stop(StopReason::Auth(failure.error.to_string()))
                }
                errors::Disposition::Limit => {
                    Interrupt::Stop(StopReason::ApiLimit(failure.error.to_string()))
                }
                errors::Disposition::Transient => Interrupt::Wait(failure.error),
                _ => Interrupt::Fail(failure.error),
            }
        }
    }
}

/// Runs (or resumes) the nightly for one bounded call.
pub fn nightly(
    settings: &Settings,
    options: NightlyOptions,
    ports: Ports<'_>,
) -> Result<NightlyOutcome, SyncError> {
    settings::validate(settings)?;
    if !settings.sync_enabled {
        ports.log.write(
            Level::Info,
            "nightly skipped: the unsubscribe sync is disabled",
        );
        return Ok(NightlyOutcome::Disabled);
    }
    let call_started = ports.clock.now();
    let key = if options.dry_run {
        DRY_RUN_KEY
    } else {
        RUN_KEY
    };
    let mut state = match ledger::load::<RunState>(ports.store, key)? {
        Some(s) => resume(s, ports),
        None => start(settings, options, ports)?,
    };
    let base_calls = state.calls;
    let mut api = OrgApi::new(ports.http, &settings.api_version).with_budget(CallBudget {
        max_calls: state.calls_left(),
        reserve: state.reserve,
    });
    api.usage = state.usage;

    if state.calls.total() == 0
        && state.stage == initial_stage()
        && settings.budget.max_percent_of_remaining.is_some()
        && let Err(i) = apply_percent_budget(&mut state, settings, &mut api, ports)
    {
        return end_interrupted(state, i, &api, base_calls, ports);
    }

    let mut entries_this_call = 0u64;
    loop {
        sync_calls(&mut state, base_calls, &api);
        if entries_this_call >= ENTRIES_PER_CALL || ports.clock.now() - call_started > MS_PER_CALL {
            save(&state, ports)?;
            return Ok(NightlyOutcome::InProgress(progress(&state, 0)));
        }
        let result = match state.stage.clone() {
            Stage::Walk { object, after } => {
                walk(&mut state, settings, object, after, &mut api, ports)
                    .map(|n| entries_this_call += n)
            }
            Stage::Skipped { after } => collections::list_skipped(&mut state, after, ports),
            Stage::Flush => collections::flush_all(&mut state, &mut api, ports),
            Stage::Finish => return finish(state, &api, base_calls, ports),
        };
        match result {
            Ok(()) => state.transient_failures = 0,
            Err(StepError::Wait(ms)) => {
                sync_calls(&mut state, base_calls, &api);
                save(&state, ports)?;
                return Ok(NightlyOutcome::InProgress(progress(&state, ms)));
            }
            Err(StepError::Interrupt(i)) => {
                return end_interrupted(state, i, &api, base_calls, ports);
            }
        }
    }
}

/// One step of walking `object`: at its start, the strategy (Bulk for a
/// large object, else collections after learning which fields can be
/// written), then a chunk of the chosen path. Returns the entries dealt with.
fn walk(
    state: &mut RunState,
    settings: &Settings,
    object: SObject,
    after: Option<String>,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<u64, StepError> {
    if after.is_none() && state.bulk.is_none() && state.strategy.len() < walk_index(object) + 1 {
        let use_bulk = bulk::should_use(settings, object, ports)?;
        // The Bulk path describes the object itself, whatever is known.
        if !use_bulk {
            collections::prepare_fields(state, object, false, api, ports)?;
        }
        state
            .strategy
            .push(if use_bulk { "bulk" } else { "collections" }.into());
        if use_bulk {
            state.bulk = Some(bulk::BulkState::new(object));
        }
    }
    if state.bulk.is_some() {
        bulk::step(state, object, api, ports)
    } else {
        collections::walk_chunk(state, object, after, api, ports)
    }
}

/// The stage a run starts in.
fn initial_stage() -> Stage {
    Stage::Walk {
        object: SObject::Lead,
        after: None,
    }
}

/// The position of an object in the walk (Leads, then Contacts).
fn walk_index(object: SObject) -> usize {
    match object {
        SObject::Lead => 0,
        SObject::Contact => 1,
    }
}

/// The stage after walking `object`.
pub(crate) fn next_stage(object: SObject) -> Stage {
    match object {
        SObject::Lead => Stage::Walk {
            object: SObject::Contact,
            after: None,
        },
        SObject::Contact => Stage::Skipped { after: None },
    }
}

/// A run found in storage: one stopped by its budget or the org resumes
/// with a fresh budget window.
fn resume(mut s: RunState, ports: Ports<'_>) -> RunState {
    if let Some(reason) = s.stopped.take() {
        ports.log.write(
            Level::Info,
            &format!("resuming run {} stopped by {reason:?}", s.run_id),
        );
        s.calls_at_window_start = s.calls.total();
    }
    s
}

fn start(
    settings: &Settings,
    options: NightlyOptions,
    ports: Ports<'_>,
) -> Result<RunState, SyncError> {
    let now = ports.clock.now();
    let seq: u64 = ledger::load(ports.store, RUN_SEQ_KEY)?.unwrap_or(0) + 1;
    let when = DateTime::<Utc>::from_timestamp_millis(now)
        .map(|t| t.format("%Y%m%dT%H%M%SZ").to_string())
        .unwrap_or_else(|| now.to_string());
    let run_id = format!("{}{when}-{seq}", if options.dry_run { "dry-" } else { "" });
    let count = |prefix: &str| ports.store.count(prefix).map_err(ledger::storage_error);
    let state = RunState {
        run_id,
        started_at: now,
        dry_run: options.dry_run,
        fields: settings::fields_to_write(settings),
        held: count(ledger::HELD)?,
        total: count("t/")?,
        done: 0,
        stage: initial_stage(),
        strategy: Vec::new(),
        pending: Vec::new(),
        counts: Counts::default(),
        calls: ApiCalls::default(),
        calls_at_window_start: 0,
        max_calls: settings.budget.max_calls,
        reserve: settings.budget.reserve,
        usage: None,
        items_total: 0,
        stopped: None,
        transient_failures: 0,
        owed: Vec::new(),
        owed_counts: Vec::new(),
        bulk: None,
    };
    ports
        .store
        .write(vec![WriteOp::Set(
            RUN_SEQ_KEY.into(),
            seq.to_string().into_bytes(),
        )])
        .map_err(ledger::storage_error)?;
    ports.log.write(
        Level::Info,
        &format!(
            "nightly run {} started: {} held, {} with a Salesforce ID{}",
            state.run_id,
            state.held,
            state.total,
            if state.dry_run { " (dry run)" } else { "" }
        ),
    );
    Ok(state)
}

/// Caps the run at a percentage of the org's remaining daily requests.
fn apply_percent_budget(
    state: &mut RunState,
    settings: &Settings,
    api: &mut OrgApi<'_>,
    ports: Ports<'_>,
) -> Result<(), Interrupt> {
    let Some(pct) = settings.budget.max_percent_of_remaining else {
        return Ok(());
    };
    match api.daily_requests() {
        Ok((max, remaining)) => {
            let cap =
                u32::try_from(remaining.saturating_mul(u64::from(pct)) / 100).unwrap_or(u32::MAX);
            state.max_calls = Some(state.max_calls.map_or(cap, |m| m.min(cap)));
            state.usage = Some((max.saturating_sub(remaining), max));
            api.usage = state.usage;
            ports.log.write(
                Level::Info,
                &format!("run budget: {cap} calls ({pct}% of {remaining} remaining today)"),
            );
            Ok(())
        }
        // Reading limits needs "View Setup and Configuration"; without it the
        // run still honours max-calls and the reserve, seen in response headers.
        Err(RequestError::Status(sf))
            if sf.status == 403 && sf.code != "REQUEST_LIMIT_EXCEEDED" =>
        {
            ports.log.write(
                Level::Warn,
                &format!(
                    "cannot read /limits ({}); the percentage budget is not applied",
                    sf.code
                ),
            );
            Ok(())
        }
        Err(e) => Err(interrupt(e, SObject::Lead, &state.fields)),
    }
}

/// Brings the run's call counts up to date with this call's session.
fn sync_calls(state: &mut RunState, base: ApiCalls, api: &OrgApi<'_>) {
    state.calls = base;
    state.add_calls(&api.calls);
    state.usage = api.usage.or(state.usage);
}

/// Saves the checkpoint on its own.
fn save(state: &RunState, ports: Ports<'_>) -> Result<(), SyncError> {
    ports
        .store
        .write(vec![checkpoint_op(state)])
        .map_err(ledger::storage_error)
}

/// The write that stores the checkpoint.
pub(crate) fn checkpoint_op(state: &RunState) -> WriteOp {
    WriteOp::Set(
        state.key().into(),
        serde_json::to_vec(state).expect("checkpoints serialize"),
    )
}

fn progress(state: &RunState, wait_ms: u32) -> NightlyProgress {
    let stage = match &state.stage {
        Stage::Walk { object, .. } => match &state.bulk {
            Some(b) => format!("{}s: {}", object.api_name(), b.describe()),
            None => format!("reading and writing {}s", object.api_name()),
        },
        Stage::Skipped { .. } => "listing unsubscribes without a Salesforce ID".into(),
        Stage::Flush => "writing the last records".into(),
        Stage::Finish => "writing the report".into(),
    };
    NightlyProgress {
        run_id: state.run_id.clone(),
        stage,
        done: state.done,
        total: state.total,
        wait_ms,
    }
}

fn end_interrupted(
    mut state: RunState,
    interrupt: Interrupt,
    api: &OrgApi<'_>,
    base_calls: ApiCalls,
    ports: Ports<'_>,
) -> Result<NightlyOutcome, SyncError> {
    sync_calls(&mut state, base_calls, api);
    match interrupt {
        Interrupt::Stop(reason) => {
            ports.log.write(
                Level::Warn,
                &format!(
                    "run {} stopped: {reason:?}; it keeps its place",
                    state.run_id
                ),
            );
            state.stopped = Some(reason.clone());
            let now = ports.clock.now();
            let report = report::build(&state, ports.store, now, Some(reason))?;
            let mut ops = vec![checkpoint_op(&state)];
            report::publish(ports.store, &report, &mut ops)?;
            ports.store.write(ops).map_err(ledger::storage_error)?;
            Ok(NightlyOutcome::Finished(report))
        }
        Interrupt::Wait(error) => {
            state.transient_failures += 1;
            if state.transient_failures > MAX_TRANSIENT_FAILURES {
                save(&state, ports)?;
                ports.log.write(
                    Level::Error,
                    &format!(
                        "run {} paused after repeated failures: {error}",
                        state.run_id
                    ),
                );
                return Err(error);
            }
            // 2 s, 4 s, 8 s … at most 5 min: the requests already got their
            // immediate retries.
            let wait = 2_000u32
                .saturating_mul(1 << (state.transient_failures - 1).min(8))
                .min(300_000);
            ports.log.write(
                Level::Warn,
                &format!("run {} waits {wait} ms: {error}", state.run_id),
            );
            save(&state, ports)?;
            Ok(NightlyOutcome::InProgress(progress(&state, wait)))
        }
        Interrupt::Fail(error) => {
            save(&state, ports)?;
            ports.log.write(
                Level::Error,
                &format!("run {} cannot go on: {error}", state.run_id),
            );
            Err(error)
        }
    }
}

fn finish(
    mut state: RunState,
    api: &OrgApi<'_>,
    base_calls: ApiCalls,
    ports: Ports<'_>,
) -> Result<NightlyOutcome, SyncError> {
    sync_calls(&mut state, base_calls, api);
    let now = ports.clock.now();
    let report = report::build(&state, ports.store, now, None)?;
    let mut ops = vec![WriteOp::Delete(state.key().into())];
    report::publish(ports.store, &report, &mut ops)?;
    ports.store.write(ops).map_err(ledger::storage_error)?;
    let c = &state.counts;
    ports.log.write(
        Level::Info,
        &format!(
            "nightly run {} finished: {} already opted out, {} written, {} re-asserted, {} redirected, {} failed, {} without ID, {} API calls",
            state.run_id,
            c.already,
            c.written,
            c.reasserted,
            c.redirected,
            c.failed,
            c.skipped,
            state.calls.total()
        ),
    );
    Ok(NightlyOutcome::Finished(report))
}

/// The progress of the real run in progress, for `status`.
pub fn in_progress(ports: Ports<'_>) -> Result<Option<NightlyProgress>, SyncError> {
    Ok(ledger::load::<RunState>(ports.store, RUN_KEY)?.map(|s| progress(&s, 0)))
}
