//! The nightly report: lines stored as the run goes, the final report, and
//! pruning old runs' lines.

use crate::ledger;
use crate::model::{NightlyReport, ReportItem, ReportPage, StopReason, SyncError, Timestamp};
use crate::nightly::state::{LAST_REPORT_KEY, RunState};
use crate::ports::{Store, WriteOp};

/// Lines carried in the report itself; the rest are paged by `report-items`.
pub const ITEMS_IN_REPORT: usize = 1000;
/// Runs whose lines are kept.
const RUNS_KEPT: usize = 5;
/// Key of the list of runs with stored lines, oldest first.
const RUNS_KEY: &str = "n/runs";
/// Line keys deleted per finishing call when pruning an old run.
const PRUNE_PER_CALL: usize = 20_000;

/// The prefix of a run's lines.
pub fn items_prefix(run_id: &str) -> String {
    format!("n/i/{run_id}/")
}

/// Adds a report line to `ops`, numbering it after the run's last one.
pub fn add_item(state: &mut RunState, item: &ReportItem, ops: &mut Vec<WriteOp>) {
    let key = format!("{}{:010}", items_prefix(&state.run_id), state.items_total);
    state.items_total += 1;
    ops.push(WriteOp::Set(
        key,
        serde_json::to_vec(item).expect("report items serialize"),
    ));
}

/// A page of a run's lines.
pub fn page(
    store: &dyn Store,
    run_id: &str,
    after: Option<&str>,
    limit: u32,
) -> Result<ReportPage, SyncError> {
    let prefix = items_prefix(run_id);
    let after_key = after.map(|a| format!("{prefix}{a}"));
    let page = store
        .list(&prefix, after_key.as_deref(), limit.clamp(1, 1000))
        .map_err(ledger::storage_error)?;
    let mut items = Vec::with_capacity(page.entries.len());
    for (key, value) in &page.entries {
        let item: ReportItem = serde_json::from_slice(value).map_err(|e| {
            SyncError::StorageFailure(format!("{key} holds an unreadable report line: {e}"))
        })?;
        items.push(item);
    }
    let next = match (&page.next, page.entries.last()) {
        (Some(_), Some((last, _))) => last.strip_prefix(&prefix).map(String::from),
        _ => None,
    };
    Ok(ReportPage { items, next })
}

/// The report as of now (final, or partial when `stopped`).
pub fn build(
    state: &RunState,
    store: &dyn Store,
    now: Timestamp,
    stopped: Option<StopReason>,
) -> Result<NightlyReport, SyncError> {
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    while items.len() < ITEMS_IN_REPORT {
        let want = (ITEMS_IN_REPORT - items.len()) as u32;
        let p = page(store, &state.run_id, after.as_deref(), want)?;
        items.extend(p.items);
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    items.truncate(ITEMS_IN_REPORT);
    let c = &state.counts;
    Ok(NightlyReport {
        run_id: state.run_id.clone(),
        started_at: state.started_at,
        finished_at: now,
        dry_run: state.dry_run,
        held: state.held,
        already_opted_out: c.already,
        written: c.written,
        reasserted: c.reasserted,
        redirected: c.redirected,
        failed: c.failed,
        skipped_no_salesforce_id: c.skipped,
        field_owed: c.field_owed,
        owed_fields: state.owed_counts.clone(),
        api_calls: state.calls,
        strategy: state.strategy.clone(),
        stopped,
        items,
        items_total: state.items_total,
    })
}

/// Stores the report as the last one (real runs only) and registers the run's
/// lines, pruning the oldest run's lines beyond the ones kept.
pub fn publish(
    store: &dyn Store,
    report: &NightlyReport,
    ops: &mut Vec<WriteOp>,
) -> Result<(), SyncError> {
    if !report.dry_run {
        ops.push(WriteOp::Set(
            LAST_REPORT_KEY.into(),
            serde_json::to_vec(report).expect("reports serialize"),
        ));
    }
    let mut runs: Vec<String> = ledger::load(store, RUNS_KEY)?.unwrap_or_default();
    if !runs.contains(&report.run_id) {
        runs.push(report.run_id.clone());
    }
    if runs.len() > RUNS_KEPT {
        let oldest = runs[0].clone();
        let prefix = items_prefix(&oldest);
        let mut deleted = 0;
        let mut after: Option<String> = None;
        let mut finished = true;
        while deleted < PRUNE_PER_CALL {
            let p = store
                .list(&prefix, after.as_deref(), 1000)
                .map_err(ledger::storage_error)?;
            deleted += p.entries.len();
            after = p.entries.last().map(|(k, _)| k.clone());
            ops.extend(p.entries.into_iter().map(|(k, _)| WriteOp::Delete(k)));
            if p.next.is_none() {
                break;
            }
            if deleted >= PRUNE_PER_CALL {
                finished = false;
            }
        }
        // A very large old run is pruned over several finishing calls.
        if finished {
            runs.remove(0);
        }
    }
    ops.push(WriteOp::Set(
        RUNS_KEY.into(),
        serde_json::to_vec(&runs).expect("run lists serialize"),
    ));
    Ok(())
}
