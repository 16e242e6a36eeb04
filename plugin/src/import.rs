//! `import`: records many unsubscribes at once (a backfill) without writing
//! to Salesforce; the next nightly writes them.

use std::collections::BTreeMap;

use crate::intake::{self, Intake};
use crate::ledger::{self, AuditLog, PersonRecord};
use crate::model::{ImportProblem, ImportSummary, SyncError, UnsubscribeEvent};
use crate::ports::Ports;

/// Records every event; one atomic write for the whole call.
pub fn import(events: &[UnsubscribeEvent], ports: Ports<'_>) -> Result<ImportSummary, SyncError> {
    let now = ports.clock.now();
    let mut summary = ImportSummary::default();
    let mut cleaned = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        match intake::clean(event, now) {
            Ok(c) => cleaned.push((index, c)),
            Err(error) => summary.problems.push(ImportProblem {
                index: index as u32,
                error,
                recorded: false,
            }),
        }
    }
    let mut ids: Vec<String> = cleaned.iter().map(|(_, c)| c.person_id.clone()).collect();
    ids.sort();
    ids.dedup();
    let loaded = ledger::load_persons(ports.store, &ids)?;
    // Original and working copy per person: an import may name a person twice.
    let mut records: BTreeMap<String, (Option<PersonRecord>, PersonRecord)> = ids
        .into_iter()
        .zip(loaded)
        .map(|(id, old)| {
            let work = old.clone().unwrap_or_else(|| PersonRecord::new(&id));
            (id, (old, work))
        })
        .collect();
    let mut audit = AuditLog::open(ports.store)?;
    let mut ops = Vec::new();
    for (index, clean) in &cleaned {
        let (_, record) = records.get_mut(&clean.person_id).expect("loaded above");
        let (intake, entries) = intake::apply(record, clean, now);
        for entry in &entries {
            audit.append(&mut ops, &clean.person_id, entry);
        }
        match intake {
            Intake::Stale(_) | Intake::Duplicate => summary.unchanged += 1,
            Intake::Held {
                added,
                changed,
                id_problem,
            } => {
                if added {
                    summary.added += 1;
                } else if changed {
                    summary.updated += 1;
                } else {
                    summary.unchanged += 1;
                }
                if let Some(problem) = id_problem {
                    summary.problems.push(ImportProblem {
                        index: *index as u32,
                        error: SyncError::InvalidSalesforceId(problem),
                        recorded: true,
                    });
                }
            }
        }
    }
    summary.problems.sort_by_key(|p| p.index);
    for (old, record) in records.values() {
        if old.as_ref() != Some(record) {
            ledger::record_ops(old.as_ref(), record, &mut ops);
        }
        if record.held && record.salesforce_id.is_none() {
            summary.without_salesforce_id += 1;
        }
    }
    audit.flush(&mut ops);
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(summary)
}
