//! The one place that moves a person's record through its lifecycle after a
//! write: confirmed (possibly redirected, possibly owing a field), queued for
//! retry, or failed permanently; and released by a re-subscribe. Each
//! transition sets the record's fields, adds its audit entries and the
//! storage writes (the record, its indexes, the retry queue) in one place, so
//! push, the retry drain and both nightly paths cannot drift apart, and
//! `status` and `audit`, which read the same record, cannot disagree.
//!
//! Taking an event in (received, stale, a new record named) is
//! [`crate::intake`]'s job; it hands over the record this module settles.

use crate::ledger::{self, AuditLog, PersonRecord};
use crate::model::{
    AuditEntry, AuditKind, OwedField, RecordRef, RedirectReason, SyncError, Timestamp,
};
use crate::ports::WriteOp;
use crate::writer::backoff_ms;

/// Where the outcome was reached, for audit details: empty for a push or a
/// retry, `nightly <run>` (and the Bulk job) for a nightly run.
pub struct Settle<'a> {
    /// Now.
    pub now: Timestamp,
    /// The call's audit sequence.
    pub audit: &'a mut AuditLog,
    /// The call's pending atomic write.
    pub ops: &'a mut Vec<WriteOp>,
    /// Prefix of audit details (`nightly 2026...-3`), or empty.
    pub context: &'a str,
}

impl Settle<'_> {
    fn detail(&self, text: &str) -> String {
        if self.context.is_empty() {
            text.to_string()
        } else {
            [self.context, ": ", text].concat()
        }
    }

    fn append(&mut self, person_id: &str, entry: AuditEntry) {
        self.audit.append(self.ops, person_id, &entry);
    }
}

/// A successful write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The record written.
    pub target: RecordRef,
    /// Set when `target` is not the record the unsubscribe names.
    pub redirect: Option<(RecordRef, RedirectReason)>,
    /// The fields set to true.
    pub fields: Vec<String>,
    /// Selected fields not written (missing or read-only).
    pub owed: Vec<OwedField>,
    /// It had been confirmed before (the nightly found it unchecked).
    pub reasserted: bool,
}

/// What a write attempt came to, for the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Salesforce has the opt-out (in the fields written).
    Confirmed(Confirmation),
    /// A failure expected to pass: queue a retry.
    Retry {
        /// The record tried.
        at: RecordRef,
        /// The fields tried.
        fields: Vec<String>,
        /// Why it failed.
        error: SyncError,
    },
    /// A failure that needs an admin: kept, reported, tried by the nightly.
    Failed {
        /// The record concerned.
        at: RecordRef,
        /// The fields tried.
        fields: Vec<String>,
        /// Why it failed.
        error: SyncError,
        /// Selected fields that could not be written (all of them, when the
        /// failure is that no selected field exists).
        owed: Vec<OwedField>,
    },
}

/// Settles `record` with `outcome`: updates it, appends its audit entries,
/// and adds the writes that store it (record, indexes, retry entry) to
/// `s.ops`. Returns the retry's due time when one was queued.
pub fn settle(
    record: &mut PersonRecord,
    outcome: Outcome,
    s: &mut Settle<'_>,
) -> Option<Timestamp> {
    let old = record.clone();
    let due = match outcome {
        Outcome::Confirmed(c) => {
            confirm(record, c, s);
            None
        }
        Outcome::Retry { at, fields, error } => {
            record.attempts += 1;
            let due = s.now + backoff_ms(record.attempts);
            ledger::queue_retry(record, due, s.now, s.ops);
            let detail = s.detail(&format!(
                "{error}; retry {} due at {due}",
                record.attempts + 1
            ));
            s.append(
                &record.person_id,
                AuditEntry {
                    at: s.now,
                    kind: AuditKind::Queued,
                    record: Some(at),
                    fields,
                    error_code: error.code(),
                    detail,
                },
            );
            record.last_error = Some(error);
            Some(due)
        }
        Outcome::Failed {
            at,
            fields,
            error,
            owed,
        } => {
            record.attempts += 1;
            record.failed = true;
            record.retry_key = None;
            let detail = s.detail(&format!(
                "{error}; kept and reported; the nightly tries again"
            ));
            s.append(
                &record.person_id,
                AuditEntry {
                    at: s.now,
                    kind: AuditKind::Failed,
                    record: Some(at.clone()),
                    fields,
                    error_code: error.code(),
                    detail,
                },
            );
            note_owed(record, &at, &owed, s);
            record.owed = owed;
            record.last_error = Some(error);
            None
        }
    };
    // Also deletes a replaced retry entry: it is one of the old index entries.
    ledger::record_ops(Some(&old), record, s.ops);
    due
}

fn confirm(record: &mut PersonRecord, c: Confirmation, s: &mut Settle<'_>) {
    if let Some((to, reason)) = &c.redirect
        && record.redirect.as_ref() != Some(&(to.clone(), *reason))
    {
        let from = record
            .salesforce_id
            .as_ref()
            .map_or("?", |r| r.id.as_str())
            .to_string();
        let detail = s.detail(&format!("{from} → {} ({})", to.id, reason_text(*reason)));
        s.append(
            &record.person_id,
            AuditEntry {
                at: s.now,
                kind: AuditKind::Redirected,
                record: Some(to.clone()),
                fields: Vec::new(),
                error_code: None,
                detail,
            },
        );
    }
    let what = if c.reasserted {
        "re-asserted"
    } else {
        "written"
    };
    let detail = if s.context.is_empty() {
        String::new()
    } else {
        s.detail(what)
    };
    s.append(
        &record.person_id,
        AuditEntry {
            at: s.now,
            kind: AuditKind::Confirmed,
            record: Some(c.target.clone()),
            fields: c.fields,
            error_code: None,
            detail,
        },
    );
    note_owed(record, &c.target, &c.owed, s);
    if c.redirect.is_some() {
        record.redirect = c.redirect;
    }
    record.confirmed_at = Some(s.now);
    record.attempts = 0;
    record.failed = false;
    record.last_error = None;
    record.retry_key = None;
    record.owed = c.owed;
}

/// Confirms a write of the Bulk path without loading the person's record
/// (a job confirms up to half a million rows): the target index marks the
/// record confirmed and the trail says so. Only a record with nothing else to
/// change may be confirmed this way: one with a queued retry, a failure or
/// an owed field is loaded and [`settle`]d instead.
pub fn confirm_indexed(
    named: &RecordRef,
    person_id: &str,
    reasserted: bool,
    fields: &[String],
    s: &mut Settle<'_>,
) {
    if !reasserted {
        s.ops.push(WriteOp::Set(
            ledger::target_key(named, person_id),
            b"c".to_vec(),
        ));
    }
    let detail = s.detail(if reasserted { "re-asserted" } else { "written" });
    s.append(
        person_id,
        AuditEntry {
            at: s.now,
            kind: AuditKind::Confirmed,
            record: Some(named.clone()),
            fields: fields.to_vec(),
            error_code: None,
            detail,
        },
    );
}

/// One audit entry per field newly owed (a field still owed from the last
/// write is not noted again on every nightly).
fn note_owed(record: &PersonRecord, at: &RecordRef, owed: &[OwedField], s: &mut Settle<'_>) {
    for field in owed.iter().filter(|f| !record.owed.contains(f)) {
        let detail = s.detail(&format!("{}; {}", field.error(), field.problem.remedy()));
        s.append(
            &record.person_id,
            AuditEntry {
                at: s.now,
                kind: AuditKind::FieldOwed,
                record: Some(at.clone()),
                fields: vec![field.field.field.clone()],
                error_code: field.error().code(),
                detail,
            },
        );
    }
}

/// Records a write attempt on the audit trail (push and retry): the record
/// tried first, the fields, and the error code that made it go elsewhere or
/// fail.
pub fn attempted(
    person_id: &str,
    first: &RecordRef,
    fields: &[String],
    error: Option<&SyncError>,
    s: &mut Settle<'_>,
) {
    s.append(
        person_id,
        AuditEntry {
            at: s.now,
            kind: AuditKind::Attempt,
            record: Some(first.clone()),
            fields: fields.to_vec(),
            error_code: error.and_then(SyncError::code),
            detail: error.map(ToString::to_string).unwrap_or_default(),
        },
    );
}

/// Releases the unsubscribe (a re-subscribe): nothing is owed or queued any
/// more, and the re-subscribe's time is remembered so an older unsubscribe
/// arriving late is recognised as stale.
pub fn release(record: &mut PersonRecord, resubscribed_at: Timestamp) {
    record.held = false;
    record.retry_key = None;
    record.failed = false;
    record.attempts = 0;
    record.last_error = None;
    record.owed.clear();
    record.resubscribed_at = Some(
        record
            .resubscribed_at
            .map_or(resubscribed_at, |t| t.max(resubscribed_at)),
    );
}

/// Words for a redirect reason in audit details.
pub fn reason_text(reason: RedirectReason) -> &'static str {
    match reason {
        RedirectReason::ConvertedLead => "converted lead",
        RedirectReason::Merged => "merged",
    }
}
