//! Read-only views of the ledger: `status`, `audit` and `report-items`.

use crate::fields::FieldCache;
use crate::ledger;
use crate::model::{
    AuditEntry, AuditTrail, NightlyReport, OwedCount, ReportPage, Settings, StatusReport, SyncError,
};
use crate::nightly;
use crate::nightly::state::LAST_REPORT_KEY;
use crate::ports::Ports;

/// Audit entries listed per storage page.
const AUDIT_PAGE: u32 = 500;

/// Ledger counts, the retry queue, the fields owed and the last report.
///
/// A field known (from a describe or a refusal) to be missing or read-only on
/// an object is owed by every held unsubscribe naming a record of that
/// object: the count is that object's target index, so it needs no index of
/// its own that could drift from the records.
pub fn status(settings: &Settings, ports: Ports<'_>) -> Result<StatusReport, SyncError> {
    let count = |prefix: &str| ports.store.count(prefix).map_err(ledger::storage_error);
    let next_retry_at = ports
        .store
        .list(ledger::RETRY, None, 1)
        .map_err(ledger::storage_error)?
        .entries
        .first()
        .and_then(|(k, _)| ledger::retry_due(k));
    let selected = crate::settings::fields_to_write(settings);
    let mut owed_fields = Vec::new();
    for owed in FieldCache::load(ports.store)?.problems(&selected) {
        owed_fields.push(OwedCount {
            records: count(&ledger::target_prefix(owed.field.object))?,
            field: owed.field,
            problem: owed.problem,
        });
    }
    Ok(StatusReport {
        owed_fields,
        held: count(ledger::HELD)?,
        held_without_salesforce_id: count(ledger::NO_ID)?,
        pending_retries: count(ledger::RETRY)?,
        next_retry_at,
        failed: count(ledger::FAILED)?,
        nightly_in_progress: nightly::in_progress(ports)?,
        last_report: ledger::load::<NightlyReport>(ports.store, LAST_REPORT_KEY)?,
    })
}

/// One person's audit trail; none if the person was never seen.
pub fn audit(person_id: &str, ports: Ports<'_>) -> Result<Option<AuditTrail>, SyncError> {
    let Some(record) = ledger::load_person(ports.store, person_id)? else {
        return Ok(None);
    };
    let prefix = ledger::audit_prefix(person_id);
    let mut entries = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = ports
            .store
            .list(&prefix, after.as_deref(), AUDIT_PAGE)
            .map_err(ledger::storage_error)?;
        for (key, value) in &page.entries {
            let entry: AuditEntry = serde_json::from_slice(value).map_err(|e| {
                SyncError::StorageFailure(format!("{key} holds an unreadable audit entry: {e}"))
            })?;
            entries.push(entry);
        }
        match (page.next, page.entries.last()) {
            (Some(_), Some((last, _))) => after = Some(last.clone()),
            _ => break,
        }
    }
    Ok(Some(AuditTrail {
        person_id: person_id.to_string(),
        held: record.held,
        salesforce_id: record.salesforce_id.map(|r| r.id).or(record.invalid_id),
        owed: record.owed,
        entries,
    }))
}

/// A page of a run's report lines.
pub fn report_items(
    run_id: &str,
    after: Option<&str>,
    limit: u32,
    ports: Ports<'_>,
) -> Result<ReportPage, SyncError> {
    nightly::report::page(ports.store, run_id, after, limit)
}
