//! One person's write to Salesforce (a push or a retry): a PATCH to the
//! record, following a converted Lead to its Contact and a merged record to its
//! survivor, then the ledger update that records the outcome.

use crate::fields::{self, FieldCache, FieldPlan};
use crate::follow;
use crate::ledger::{AuditLog, PersonRecord};
use crate::lifecycle::{self, Confirmation, Outcome, Settle};
use crate::model::{
    OwedField, PushOutcome, Queued, RecordRef, Redirect, RedirectReason, SyncError, Timestamp,
    Written,
};
use crate::ports::WriteOp;
use crate::salesforce::api::OrgApi;
use crate::salesforce::errors::{Disposition, Failure};
use crate::salesforce::soql;

/// Redirect hops followed before giving up (a converted Lead whose Contact
/// was merged is two).
const MAX_HOPS: usize = 3;

/// The first retry waits this long; each further one twice as long.
const RETRY_BASE_MS: i64 = 30_000;
/// Retries never wait longer than this.
const RETRY_MAX_MS: i64 = 3_600_000;

/// The record a write reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reached {
    /// The record written.
    pub target: RecordRef,
    /// How it was reached, when not the first record tried.
    pub redirect: Option<(RecordRef, RedirectReason)>,
    /// The error that caused the redirect (for the audit trail).
    pub redirect_cause: Option<SyncError>,
}

/// What one write attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The record tried first.
    pub first: RecordRef,
    /// The fields of the first request.
    pub tried: Vec<String>,
    /// The record written, or why nothing was.
    pub result: Result<Reached, Failure>,
    /// The fields set on the record written.
    pub written: Vec<String>,
    /// Selected fields left out (known or found missing or read-only).
    pub owed: Vec<OwedField>,
}

/// Writes the `selected` fields = true on `start` (the person's current
/// target), following conversions and merges, field by field: a field the
/// cache knows to be unwritable is left out, and a field Salesforce refuses
/// is dropped and the PATCH repeated at once without it. Each repeat drops a
/// field, so a write makes at most one request per selected field per record
/// reached. What the refusals teach goes into `cache`.
pub fn write_record(
    api: &mut OrgApi<'_>,
    start: &RecordRef,
    selected: &[String],
    cache: &mut FieldCache,
    now: Timestamp,
) -> Attempt {
    let mut target = start.clone();
    let mut redirect = None;
    let mut redirect_cause = None;
    let mut plan = cache.plan(target.object, selected, now);
    let tried = plan.write.clone();
    let done = |result, plan: FieldPlan| Attempt {
        first: start.clone(),
        tried: tried.clone(),
        result,
        written: plan.write,
        owed: plan.owed,
    };
    for _ in 0..MAX_HOPS {
        let failure = loop {
            if let Some(error) = plan.nothing_writable() {
                let failure = Failure {
                    disposition: Disposition::Permanent,
                    error,
                };
                return done(Err(failure), plan);
            }
            let failure = match api.patch_record(&target, &plan.write) {
                Ok(()) => {
                    let reached = Reached {
                        target,
                        redirect,
                        redirect_cause,
                    };
                    return done(Ok(reached), plan);
                }
                Err(e) => e.classify(target.object, Some(&target), &plan.write),
            };
            match fields::refused_field(&failure.error, &plan.write) {
                Some(refused) => {
                    cache.learn(
                        target.object,
                        &refused.field.field,
                        Some(refused.problem),
                        now,
                    );
                    plan.drop_refused(refused);
                }
                None => break failure,
            }
        };
        let next = match failure.disposition {
            Disposition::Converted => converted_contact(api, &target),
            Disposition::Deleted => merge_survivor(api, &target),
            _ => return done(Err(failure), plan),
        };
        match next {
            Ok(Some(next)) => {
                let reason = if failure.disposition == Disposition::Converted {
                    RedirectReason::ConvertedLead
                } else {
                    RedirectReason::Merged
                };
                redirect_cause = Some(failure.error);
                redirect = Some((next.clone(), reason));
                plan = cache.plan(next.object, selected, now);
                target = next;
            }
            Ok(None) => return done(Err(dead_end(failure, &target)), plan),
            Err(lookup_failure) => return done(Err(lookup_failure), plan),
        }
    }
    let failure = Failure {
        disposition: Disposition::Permanent,
        error: SyncError::RecordDeleted(target),
    };
    done(Err(failure), plan)
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

/// Reads a converted Lead's `ConvertedContactId` (`plugin/SALESFORCE.md`,
/// "Conversion and merges").
fn converted_contact(api: &mut OrgApi<'_>, lead: &RecordRef) -> Result<Option<RecordRef>, Failure> {
    let row = api
        .get_record(lead, &["Id", "ConvertedContactId"])
        .map_err(|e| e.classify(lead.object, Some(lead), &[]))?;
    Ok(follow::converted_contact(&row))
}

/// Looks a deleted record up with queryAll for its `MasterRecordId`.
fn merge_survivor(api: &mut OrgApi<'_>, deleted: &RecordRef) -> Result<Option<RecordRef>, Failure> {
    let query = soql::select_by_ids(
        &follow::MERGE_FIELDS,
        deleted.object,
        &[deleted.id.as_str()],
    );
    let rows = api
        .query(&query, true)
        .map_err(|e| e.classify(deleted.object, Some(deleted), &[]))?;
    Ok(rows
        .first()
        .and_then(|row| follow::merge_survivor(row, deleted.object)))
}

/// The wait before retry number `attempts` (1-based): 30 s, 1 min, 2 min, …,
/// at most 1 h. Deterministic, so runs and tests are reproducible.
pub fn backoff_ms(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(20);
    (RETRY_BASE_MS << doublings).min(RETRY_MAX_MS)
}

/// Records an attempt's outcome on the person through the record's
/// lifecycle ([`lifecycle::settle`]): the attempt on the audit trail, then a
/// confirmation, a queued retry or a permanent failure. Returns the push
/// outcome, or the typed error of a permanent failure.
pub fn record_attempt(
    record: &mut PersonRecord,
    named: &RecordRef,
    attempt: Attempt,
    now: Timestamp,
    audit: &mut AuditLog,
    ops: &mut Vec<WriteOp>,
) -> Result<PushOutcome, SyncError> {
    let mut s = Settle {
        now,
        audit,
        ops,
        context: "",
    };
    let person_id = record.person_id.clone();
    let result = match attempt.result {
        Ok(reached) => {
            let cause = reached.redirect_cause.as_ref();
            lifecycle::attempted(&person_id, &attempt.first, &attempt.tried, cause, &mut s);
            let confirmation = Confirmation {
                target: reached.target.clone(),
                redirect: reached.redirect,
                fields: attempt.written.clone(),
                owed: attempt.owed.clone(),
                reasserted: false,
            };
            lifecycle::settle(record, Outcome::Confirmed(confirmation), &mut s);
            let redirected = record.redirect.as_ref().map(|(_, reason)| Redirect {
                from: named.clone(),
                reason: *reason,
            });
            Ok(PushOutcome::Written(Written {
                target: reached.target,
                fields: attempt.written,
                redirected,
                owed: attempt.owed,
            }))
        }
        Err(failure) => {
            let error = Some(&failure.error);
            lifecycle::attempted(&person_id, &attempt.first, &attempt.tried, error, &mut s);
            let (at, fields) = (attempt.first, attempt.tried);
            if failure.is_retryable() {
                let outcome = Outcome::Retry {
                    at,
                    fields,
                    error: failure.error.clone(),
                };
                let due = lifecycle::settle(record, outcome, &mut s).expect("a retry is due");
                Ok(PushOutcome::QueuedForRetry(Queued {
                    attempts: record.attempts,
                    next_attempt_at: due,
                    reason: failure.error,
                }))
            } else {
                let outcome = Outcome::Failed {
                    at,
                    fields,
                    error: failure.error.clone(),
                    owed: attempt.owed,
                };
                lifecycle::settle(record, outcome, &mut s);
                Err(failure.error)
            }
        }
    };
    s.audit.flush(s.ops);
    result
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
