//! One person's write to Salesforce (a push or a retry): a PATCH to the
//! record, following a converted Lead to its Contact and a merged record to its
//! survivor, then the ledger update that records the outcome.

use serde_json::Value;

use crate::ledger::{self, AuditLog, PersonRecord};
use crate::model::{
    AuditEntry, AuditKind, PushOutcome, Queued, RecordRef, Redirect, RedirectReason, SObject,
    SyncError, Timestamp, Written,
};
use crate::ports::WriteOp;
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::errors::{self, Disposition, Failure};
use crate::salesforce::soql;
use crate::sfid;

/// Redirect hops followed before giving up (a converted Lead whose Contact
/// was merged is two).
const MAX_HOPS: usize = 3;

/// The first retry waits this long; each further one twice as long.
const RETRY_BASE_MS: i64 = 30_000;
/// Retries never wait longer than this.
const RETRY_MAX_MS: i64 = 3_600_000;

/// What one write attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Salesforce accepted the write.
    Written {
        /// The record written.
        target: RecordRef,
        /// How it was reached, when not the first record tried.
        redirect: Option<(RecordRef, RedirectReason)>,
        /// The error that caused the redirect (for the audit trail).
        redirect_cause: Option<String>,
    },
    /// It failed.
    Failed(Failure),
}

/// Writes `fields` = true on `start` (the person's current target), following
/// conversions and merges.
pub fn write_record(api: &mut OrgApi<'_>, start: &RecordRef, fields: &[String]) -> Attempt {
    let mut target = start.clone();
    let mut redirect = None;
    let mut redirect_cause = None;
    for _ in 0..MAX_HOPS {
        let failure = match api.patch_record(&target, fields) {
            Ok(()) => {
                return Attempt::Written {
                    target,
                    redirect,
                    redirect_cause,
                };
            }
            Err(e) => request_failure(e, &target, fields),
        };
        let next = match failure.disposition {
            Disposition::Converted => converted_contact(api, &target),
            Disposition::Deleted => merge_survivor(api, &target),
            _ => return Attempt::Failed(failure),
        };
        match next {
            Ok(Some(next)) => {
                let reason = if failure.disposition == Disposition::Converted {
                    RedirectReason::ConvertedLead
                } else {
                    RedirectReason::Merged
                };
                redirect_cause = failure.error.code();
                redirect = Some((next.clone(), reason));
                target = next;
            }
            Ok(None) => return Attempt::Failed(dead_end(failure, &target)),
            Err(lookup_failure) => return Attempt::Failed(lookup_failure),
        }
    }
    Attempt::Failed(Failure {
        disposition: Disposition::Permanent,
        error: SyncError::RecordDeleted(target),
    })
}

/// A converted Lead with no Contact, or a deleted record with no survivor.
fn dead_end(failure: Failure, target: &RecordRef) -> Failure {
    match failure.disposition {
        Disposition::Deleted => Failure {
            disposition: Disposition::Permanent,
            error: SyncError::RecordDeleted(target.clone()),
        },
        _ => Failure {
            disposition: Disposition::Permanent,
            error: failure.error,
        },
    }
}

/// Turns a request error into a classified failure for `target`.
pub fn request_failure(e: RequestError, target: &RecordRef, fields: &[String]) -> Failure {
    match e {
        RequestError::Status(sf) => errors::classify(sf, target, fields),
        RequestError::NoResponse(h) => errors::classify_http(h),
        RequestError::Budget(m) => Failure {
            disposition: Disposition::Limit,
            error: SyncError::ApiLimitExhausted(m),
        },
        RequestError::BadResponse(m) => Failure {
            disposition: Disposition::Transient,
            error: SyncError::Transport(m),
        },
    }
}

/// Reads a converted Lead's `ConvertedContactId` (§9.1).
fn converted_contact(api: &mut OrgApi<'_>, lead: &RecordRef) -> Result<Option<RecordRef>, Failure> {
    let row = api
        .get_record(lead, &["Id", "ConvertedContactId"])
        .map_err(|e| request_failure(e, lead, &[]))?;
    Ok(row
        .get("ConvertedContactId")
        .and_then(Value::as_str)
        .and_then(|id| sfid::parse(id).ok())
        .filter(|r| r.object == SObject::Contact))
}

/// Looks a deleted record up with queryAll for its `MasterRecordId` (§9.2).
fn merge_survivor(api: &mut OrgApi<'_>, deleted: &RecordRef) -> Result<Option<RecordRef>, Failure> {
    let query = soql::select_by_ids(
        &["Id", "IsDeleted", "MasterRecordId"],
        deleted.object,
        &[deleted.id.as_str()],
    );
    let rows = api
        .query(&query, true)
        .map_err(|e| request_failure(e, deleted, &[]))?;
    Ok(rows
        .first()
        .and_then(|row| row.get("MasterRecordId"))
        .and_then(Value::as_str)
        .and_then(|id| sfid::parse(id).ok()))
}

/// The wait before retry number `attempts` (1-based): 30 s, 1 min, 2 min, …,
/// at most 1 h. Deterministic, so runs and tests are reproducible.
pub fn backoff_ms(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (RETRY_BASE_MS << doublings).min(RETRY_MAX_MS)
}

/// Records an attempt's outcome on the person, writing the audit entries and
/// queueing a retry where the failure should pass. Returns the push outcome,
/// or the typed error of a permanent failure.
pub fn record_attempt(
    record: &mut PersonRecord,
    named: &RecordRef,
    fields: &[String],
    attempt: Attempt,
    now: Timestamp,
    audit: &mut AuditLog,
    ops: &mut Vec<WriteOp>,
) -> Result<PushOutcome, SyncError> {
    let old = record.clone();
    let first = record.target().cloned().unwrap_or_else(|| named.clone());
    let result = match attempt {
        Attempt::Written {
            target,
            redirect,
            redirect_cause,
        } => {
            audit.append(
                ops,
                &record.person_id,
                &AuditEntry {
                    at: now,
                    kind: AuditKind::Attempt,
                    record: Some(first.clone()),
                    fields: fields.to_vec(),
                    error_code: redirect_cause,
                    detail: String::new(),
                },
            );
            if let Some((to, reason)) = &redirect {
                audit.append(
                    ops,
                    &record.person_id,
                    &AuditEntry {
                        at: now,
                        kind: AuditKind::Redirected,
                        record: Some(to.clone()),
                        fields: Vec::new(),
                        error_code: None,
                        detail: format!("{} → {} ({})", first.id, to.id, reason_text(*reason)),
                    },
                );
                record.redirect = Some((to.clone(), *reason));
            }
            audit.append(
                ops,
                &record.person_id,
                &AuditEntry {
                    at: now,
                    kind: AuditKind::Confirmed,
                    record: Some(target.clone()),
                    fields: fields.to_vec(),
                    error_code: None,
                    detail: String::new(),
                },
            );
            record.confirmed_at = Some(now);
            record.attempts = 0;
            record.failed = false;
            record.last_error = None;
            record.retry_key = None;
            let redirected = record.redirect.as_ref().map(|(_, reason)| Redirect {
                from: named.clone(),
                reason: *reason,
            });
            Ok(PushOutcome::Written(Written {
                target,
                fields: fields.to_vec(),
                redirected,
            }))
        }
        Attempt::Failed(failure) => {
            record.attempts += 1;
            record.last_error = Some(failure.error.clone());
            audit.append(
                ops,
                &record.person_id,
                &AuditEntry {
                    at: now,
                    kind: AuditKind::Attempt,
                    record: Some(first.clone()),
                    fields: fields.to_vec(),
                    error_code: failure.error.code(),
                    detail: failure.error.to_string(),
                },
            );
            if failure.is_retryable() {
                let due = now + backoff_ms(record.attempts);
                ledger::queue_retry(record, due, now, ops);
                audit.append(
                    ops,
                    &record.person_id,
                    &AuditEntry {
                        at: now,
                        kind: AuditKind::Queued,
                        record: None,
                        fields: Vec::new(),
                        error_code: None,
                        detail: format!("retry {} due at {due}", record.attempts + 1),
                    },
                );
                Ok(PushOutcome::QueuedForRetry(Queued {
                    attempts: record.attempts,
                    next_attempt_at: due,
                    reason: failure.error,
                }))
            } else {
                record.retry_key = None;
                record.failed = true;
                audit.append(
                    ops,
                    &record.person_id,
                    &AuditEntry {
                        at: now,
                        kind: AuditKind::Failed,
                        record: Some(first),
                        fields: fields.to_vec(),
                        error_code: failure.error.code(),
                        detail: "kept and reported; the nightly tries again".into(),
                    },
                );
                Err(failure.error)
            }
        }
    };
    // Also deletes a replaced retry entry: it is one of the old index entries.
    ledger::record_ops(Some(&old), record, ops);
    audit.flush(ops);
    result
}

/// Words for a redirect reason in audit details.
pub fn reason_text(reason: RedirectReason) -> &'static str {
    match reason {
        RedirectReason::ConvertedLead => "converted lead",
        RedirectReason::Merged => "merged",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 30_000);
        assert_eq!(backoff_ms(2), 60_000);
        assert_eq!(backoff_ms(3), 120_000);
        assert_eq!(backoff_ms(8), 3_600_000);
        assert_eq!(backoff_ms(1000), 3_600_000);
    }
}
