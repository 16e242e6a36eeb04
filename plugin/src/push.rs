//! `push` (R1–R3, R6) and the retry queue's drain.

use crate::fields::{self, FieldCache};
use crate::intake::{self, Intake};
use crate::ledger::{self, AuditLog, PersonRecord, RetryHint};
use crate::model::{DrainSummary, PushOutcome, Settings, SyncError, UnsubscribeEvent};
use crate::ports::{Level, Ports, WriteOp};
use crate::salesforce::api::OrgApi;
use crate::salesforce::errors::Disposition;
use crate::settings;
use crate::writer::{self, Attempt};

/// Due retries a push drains after its own write, so a steady trickle of
/// pushes keeps the queue moving even without a scheduler.
const RETRIES_PER_PUSH: u32 = 3;

/// Records an unsubscribe, then writes it to Salesforce.
///
/// A push is the hot path, so its host round trips are few: one `get-many`
/// (the person, the audit sequence, the retry queue's hint and the field
/// cache), one write
/// recording the event before the request, the PATCH, and one write recording
/// the outcome. The retry queue is listed only when its hint says a retry may
/// be due (and the hint is then stored again, once, if the listing shows
/// nothing due).
pub fn push(
    settings: &Settings,
    event: &UnsubscribeEvent,
    ports: Ports<'_>,
) -> Result<PushOutcome, SyncError> {
    let now = ports.clock.now();
    let clean = intake::clean(event, now)?;
    let Loaded {
        mut record,
        mut audit,
        retry_hint,
        mut cache,
    } = load(&clean.person_id, ports)?;
    let before = record.clone();
    let (intake, entries) = intake::apply(&mut record, &clean, now);
    let mut ops = Vec::new();
    for entry in &entries {
        audit.append(&mut ops, &clean.person_id, entry);
    }
    let id_problem = match intake {
        Intake::Stale(at) => {
            audit.flush(&mut ops);
            ports.store.write(ops).map_err(ledger::storage_error)?;
            ports.log.write(
                Level::Info,
                &format!("ignored stale unsubscribe for {}", clean.person_id),
            );
            return Ok(PushOutcome::Stale(at));
        }
        Intake::Duplicate => return Ok(PushOutcome::Duplicate),
        Intake::Held { id_problem, .. } => id_problem,
    };
    // Recorded before anything can fail: from here on the unsubscribe is safe.
    ledger::record_ops(Some(&before), &record, &mut ops);
    audit.flush(&mut ops);
    ports.store.write(ops).map_err(ledger::storage_error)?;

    let Some(named) = record.salesforce_id.clone() else {
        ports.log.write(
            Level::Info,
            &format!(
                "held unsubscribe for {} without a Salesforce ID",
                clean.person_id
            ),
        );
        return match id_problem {
            Some(problem) => Err(SyncError::InvalidSalesforceId(problem)),
            None => Ok(PushOutcome::SkippedNoSalesforceId),
        };
    };
    settings::validate(settings)?;
    let fields = settings::fields_to_write(settings);
    let mut api = OrgApi::new(ports.http, &settings.api_version);
    let outcome = write_person(
        &mut api,
        &mut record,
        &named,
        &fields,
        &mut cache,
        now,
        &mut audit,
        ports,
    )?;
    let stop_draining = matches!(
        &outcome,
        Err(SyncError::AuthFailed(_) | SyncError::ApiLimitExhausted(_))
    ) || matches!(
        &outcome,
        Ok(PushOutcome::QueuedForRetry(q)) if matches!(q.reason, SyncError::AuthFailed(_) | SyncError::ApiLimitExhausted(_))
    );
    if !stop_draining && retry_hint.may_be_due(now) {
        let drained = drain(
            settings,
            RETRIES_PER_PUSH,
            now,
            &mut cache,
            &mut audit,
            false,
            ports,
        )?;
        if let Some(op) = drained.hint.and_then(RetryHint::store_op) {
            ports.store.write(vec![op]).map_err(ledger::storage_error)?;
        }
    }
    match id_problem {
        Some(problem) => Err(SyncError::InvalidSalesforceId(problem)),
        None => outcome,
    }
}

/// What a push reads before it decides, in its one `get-many`.
struct Loaded {
    record: PersonRecord,
    audit: AuditLog,
    retry_hint: RetryHint,
    cache: FieldCache,
}

fn load(person_id: &str, ports: Ports<'_>) -> Result<Loaded, SyncError> {
    let keys = [
        ledger::person_key(person_id),
        ledger::AUDIT_SEQ.to_string(),
        ledger::RETRY_NEXT.to_string(),
        fields::CACHE_KEY.to_string(),
    ];
    let mut values = ports
        .store
        .get_many(&keys)
        .map_err(ledger::storage_error)?
        .into_iter();
    let record = match values.next().flatten() {
        Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            SyncError::StorageFailure(format!("{} holds unreadable data: {e}", keys[0]))
        })?,
        None => PersonRecord::new(person_id),
    };
    Ok(Loaded {
        record,
        audit: AuditLog::from_stored(values.next().flatten().as_deref())?,
        retry_hint: RetryHint::from_stored(values.next().flatten().as_deref()),
        cache: FieldCache::from_stored(values.next().flatten().as_deref()),
    })
}

/// Attempts one person's write and records the outcome (and what the
/// attempt taught the field cache) in one atomic write. The outer `Result`
/// is storage; the inner one is the push's answer.
#[allow(clippy::too_many_arguments)]
fn write_person(
    api: &mut OrgApi<'_>,
    record: &mut PersonRecord,
    named: &crate::model::RecordRef,
    fields: &[String],
    cache: &mut FieldCache,
    now: crate::model::Timestamp,
    audit: &mut AuditLog,
    ports: Ports<'_>,
) -> Result<Result<PushOutcome, SyncError>, SyncError> {
    let start = record.target().cloned().unwrap_or_else(|| named.clone());
    let attempt = writer::write_record(api, &start, fields, cache, now);
    log_attempt(&record.person_id, &attempt, ports);
    let mut ops: Vec<WriteOp> = Vec::new();
    let outcome = writer::record_attempt(record, named, attempt, now, audit, &mut ops);
    ops.extend(cache.store_op());
    ports.store.write(ops).map_err(ledger::storage_error)?;
    Ok(outcome)
}

fn log_attempt(person_id: &str, attempt: &Attempt, ports: Ports<'_>) {
    match &attempt.result {
        Ok(writer::Reached {
            target, redirect, ..
        }) => {
            // Every push logs this line: built without the formatting
            // machinery, which costs a measurable share of a push.
            let mut message = [
                "opted out ",
                target.object.api_name(),
                " ",
                &target.id,
                " for ",
                person_id,
            ]
            .concat();
            if let Some((_, reason)) = redirect {
                message.push_str(" (");
                message.push_str(crate::lifecycle::reason_text(*reason));
                message.push(')');
            }
            for owed in &attempt.owed {
                message.push_str("; owed: ");
                message.push_str(&owed.error().to_string());
            }
            ports.log.write(Level::Info, &message);
        }
        Err(f) => {
            let level = if f.disposition == Disposition::Permanent {
                Level::Error
            } else {
                Level::Warn
            };
            ports
                .log
                .write(level, &format!("write for {person_id} failed: {}", f.error));
        }
    }
}

/// Attempts up to `max` due retries, oldest due first.
pub fn drain_retries(
    settings: &Settings,
    max: u32,
    ports: Ports<'_>,
) -> Result<DrainSummary, SyncError> {
    settings::validate(settings)?;
    let now = ports.clock.now();
    let mut audit = AuditLog::open(ports.store)?;
    let mut cache = FieldCache::load(ports.store)?;
    drain(settings, max, now, &mut cache, &mut audit, true, ports).map(|d| d.summary)
}

/// What a drain did, and what its listing showed of the queue.
struct Drained {
    summary: DrainSummary,
    /// The queue's hint when the listing showed nothing due (so nothing was
    /// written since); `None` when retries were attempted.
    hint: Option<RetryHint>,
}

/// Attempts up to `max` due retries; `next_due` is filled in only when asked
/// (a push does not need it, and it costs a listing).
fn drain(
    settings: &Settings,
    max: u32,
    now: crate::model::Timestamp,
    cache: &mut FieldCache,
    audit: &mut AuditLog,
    want_next_due: bool,
    ports: Ports<'_>,
) -> Result<Drained, SyncError> {
    let mut summary = DrainSummary::default();
    let fields = settings::fields_to_write(settings);
    let mut api = OrgApi::new(ports.http, &settings.api_version);
    let page = ports
        .store
        .list(ledger::RETRY, None, max.max(1))
        .map_err(ledger::storage_error)?;
    let hint = match page.entries.first() {
        None => Some(RetryHint::Empty),
        Some((key, _)) => ledger::retry_due(key)
            .filter(|due| *due > now)
            .map(RetryHint::NotBefore),
    };
    for (key, _) in page.entries.iter().take(max as usize) {
        if ledger::retry_due(key).is_none_or(|due| due > now) {
            break;
        }
        let person_id = key
            .rsplit_once('/')
            .map(|(_, p)| ledger::unescape(p))
            .unwrap_or_default();
        let record = ledger::load_person(ports.store, &person_id)?;
        let (mut record, named) = match record {
            Some(r) if r.held && r.retry_key.as_deref() == Some(key.as_str()) => {
                match r.salesforce_id.clone() {
                    Some(named) => (r, named),
                    None => {
                        ports
                            .store
                            .write(vec![WriteOp::Delete(key.clone())])
                            .map_err(ledger::storage_error)?;
                        continue;
                    }
                }
            }
            // Released, written meanwhile, or re-queued under another key.
            _ => {
                ports
                    .store
                    .write(vec![WriteOp::Delete(key.clone())])
                    .map_err(ledger::storage_error)?;
                continue;
            }
        };
        summary.attempted += 1;
        match write_person(
            &mut api,
            &mut record,
            &named,
            &fields,
            cache,
            now,
            audit,
            ports,
        )? {
            Ok(PushOutcome::QueuedForRetry(q)) => {
                summary.requeued += 1;
                if matches!(
                    q.reason,
                    SyncError::AuthFailed(_) | SyncError::ApiLimitExhausted(_)
                ) {
                    // Every other retry would fail the same way: stop here.
                    break;
                }
            }
            Ok(_) => summary.written += 1,
            Err(_) => summary.failed += 1,
        }
    }
    if !want_next_due {
        return Ok(Drained { summary, hint });
    }
    summary.next_due = ports
        .store
        .list(ledger::RETRY, None, 1)
        .map_err(ledger::storage_error)?
        .entries
        .first()
        .and_then(|(k, _)| ledger::retry_due(k));
    Ok(Drained { summary, hint })
}
