//! `resubscribe` (R5): releases a held unsubscribe. Never writes to
//! Salesforce: an admin clears the field there by hand if they want it cleared.

use crate::intake;
use crate::ledger::{self, AuditLog, PersonRecord};
use crate::lifecycle;
use crate::model::{AuditEntry, AuditKind, ResubscribeEvent, ResubscribeOutcome, SyncError};
use crate::ports::{Level, Ports};

/// Releases the person's unsubscribe, unless it is newer than the re-subscribe.
pub fn resubscribe(
    event: &ResubscribeEvent,
    ports: Ports<'_>,
) -> Result<ResubscribeOutcome, SyncError> {
    intake::check_person_id(&event.person_id)?;
    let now = ports.clock.now();
    let mut notes = Vec::new();
    let source = intake::clean_source(&event.source, &mut notes);
    let occurred_at = intake::event_time(event.occurred_at, event.received_at, now, &mut notes);
    let existing = ledger::load_person(ports.store, &event.person_id)?;
    let mut record = existing
        .clone()
        .unwrap_or_else(|| PersonRecord::new(&event.person_id));
    let mut audit = AuditLog::open(ports.store)?;
    let mut ops = Vec::new();

    if record.held && record.occurred_at > occurred_at {
        audit.append(&mut ops, &event.person_id, &AuditEntry {
            at: now,
            kind: AuditKind::Stale,
            record: None,
            fields: Vec::new(),
            error_code: None,
            detail: format!(
                "re-subscribe from {source} at {occurred_at} is older than the unsubscribe at {}",
                record.occurred_at
            ),
        });
        audit.flush(&mut ops);
        ports.store.write(ops).map_err(ledger::storage_error)?;
        return Ok(ResubscribeOutcome::Stale(record.occurred_at));
    }

    let was_held = record.held;
    lifecycle::release(&mut record, occurred_at);
    let mut detail =
        format!("source={source} occurred-at={occurred_at}; nothing written to Salesforce");
    for note in notes {
        detail.push_str("; ");
        detail.push_str(&note);
    }
    audit.append(
        &mut ops,
        &event.person_id,
        &AuditEntry {
            at: now,
            kind: AuditKind::Resubscribed,
            record: record.salesforce_id.clone(),
            fields: Vec::new(),
            error_code: None,
            detail,
        },
    );
    ledger::record_ops(existing.as_ref(), &record, &mut ops);
    audit.flush(&mut ops);
    ports.store.write(ops).map_err(ledger::storage_error)?;
    if was_held {
        ports.log.write(
            Level::Info,
            &format!("released the unsubscribe of {}", event.person_id),
        );
        Ok(ResubscribeOutcome::Released)
    } else {
        Ok(ResubscribeOutcome::NotHeld)
    }
}
