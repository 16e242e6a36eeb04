//! The component's outcomes and errors in words, and the exit status each
//! maps to: the one description both the CLI and `serve` give.

use super::failure::{Exit, Failure};
use crate::api;
use crate::runtime::error::HostError;

/// A time as RFC 3339 UTC to the second: `2025-07-08T10:00:00Z`.
pub fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `Lead 00Q5e00000AbCdEEAV`.
pub fn record(r: &api::RecordRef) -> String {
    format!("{} {}", object(r.object), r.id)
}

/// `Lead` / `Contact`.
pub fn object(o: api::Sobject) -> &'static str {
    match o {
        api::Sobject::Lead => "Lead",
        api::Sobject::Contact => "Contact",
    }
}

/// `converted lead Lead 00Q...`: where a redirected write came from.
pub fn redirect(r: &api::Redirect) -> String {
    let why = match r.reason {
        api::RedirectReason::ConvertedLead => "converted lead",
        api::RedirectReason::Merged => "merged record",
    };
    format!("{why} {}", record(&r.from))
}

/// One line describing a push outcome.
pub fn describe_push(o: &api::PushOutcome) -> String {
    match o {
        api::PushOutcome::Written(w) => {
            let mut s = format!("written: {} ({} = true)", record(&w.target), w.fields.join(", "));
            if let Some(r) = &w.redirected {
                s.push_str(&format!("; followed the {}", redirect(r)));
            }
            for o in &w.owed {
                s.push_str("; ");
                s.push_str(&describe_owed(o));
            }
            s
        }
        api::PushOutcome::SkippedNoSalesforceId => {
            "held without a Salesforce ID: reported as skipped; it syncs once an event supplies the ID".into()
        }
        api::PushOutcome::QueuedForRetry(q) => format!(
            "queued for retry (attempt {}, next at {}): {}",
            q.attempts,
            ts(q.next_attempt_at),
            describe_sync_error(&q.reason)
        ),
        api::PushOutcome::Duplicate => "already written: nothing sent".into(),
        api::PushOutcome::Stale(at) => format!(
            "ignored: the person re-subscribed at {} after this unsubscribe occurred",
            ts(*at)
        ),
    }
}

/// A field still owed, in words with what to do.
pub fn describe_owed(o: &api::OwedField) -> String {
    let field = format!("{}.{}", object(o.field.object), o.field.field);
    match o.problem {
        api::FieldProblem::NotInstalled => format!(
            "{field} not written: it does not exist or the integration user cannot see it \
             (install it and grant read/edit access; the next nightly writes it)"
        ),
        api::FieldProblem::NotWritable => format!(
            "{field} not written: the integration user cannot edit it \
             (grant edit access in field-level security; the next nightly writes it)"
        ),
    }
}

/// Owed-field counts in words (`status`, the nightly report).
pub fn describe_owed_counts(counts: &[api::OwedCount]) -> Vec<String> {
    counts
        .iter()
        .map(|c| {
            let owed = api::OwedField {
                field: c.field.clone(),
                problem: c.problem,
            };
            format!("{} record(s) owe {}", c.records, describe_owed(&owed))
        })
        .collect()
}

/// One line describing a re-subscribe outcome.
pub fn describe_resubscribe(o: &api::ResubscribeOutcome) -> String {
    match o {
        api::ResubscribeOutcome::Released => {
            "released: the nightly no longer re-asserts it and any queued retry was dropped (nothing written to Salesforce)".into()
        }
        api::ResubscribeOutcome::NotHeld => {
            "no unsubscribe was held; the re-subscribe is remembered so an older unsubscribe arriving late is ignored".into()
        }
        api::ResubscribeOutcome::Stale(at) => format!(
            "kept: the held unsubscribe occurred at {}, after this re-subscribe",
            ts(*at)
        ),
    }
}

/// A component error in words, with what to do.
pub fn describe_sync_error(e: &api::SyncError) -> String {
    use api::SyncError as E;
    match e {
        E::InvalidSettings(p) => format!(
            "invalid settings: {}: {} (fix it in the [settings] of the config)",
            p.setting, p.reason
        ),
        E::InvalidEvent(t) => format!("invalid event: {t} (not recorded; fix the sender)"),
        E::InvalidSalesforceId(p) => format!(
            "invalid Salesforce ID {:?}: {} (the unsubscribe was recorded without an ID; send the right ID)",
            p.value, p.reason
        ),
        E::FieldNotInstalled(f) => format!(
            "field {}.{} does not exist or is not visible to the integration user (install it or grant read/edit access)",
            object(f.object),
            f.field
        ),
        E::FieldNotWritable(f) => format!(
            "field {}.{} is not writable by the integration user (grant edit access: field-level security)",
            object(f.object),
            f.field
        ),
        E::RecordDeleted(r) => format!(
            "{} is deleted and was not merged: nothing to write (still held, reported)",
            record(r)
        ),
        E::AuthFailed(t) => format!(
            "the org rejected the credentials: {t} (re-authorize the connection; queued work waits)"
        ),
        E::ApiLimitExhausted(t) => {
            format!("API limit reached: {t} (queued work resumes when the window rolls over)")
        }
        E::SalesforceError(f) => {
            let fields = if f.fields.is_empty() {
                String::new()
            } else {
                format!(" [{}]", f.fields.join(", "))
            };
            format!(
                "Salesforce refused (HTTP {}): {}: {}{fields}",
                f.status, f.code, f.message
            )
        }
        E::Transport(t) => format!("no answer from the org: {t} (queued for retry)"),
        E::RequestDenied(t) => format!("the host refused a request: {t} (a bug: please report it)"),
        E::StorageFailure(t) => format!("storage failed: {t}"),
    }
}

/// The exit status a component error maps to.
pub fn sync_error_exit(e: &api::SyncError) -> Exit {
    use api::SyncError as E;
    match e {
        // Nothing was recorded: the command line or the sender must change.
        E::InvalidSettings(_) | E::InvalidEvent(_) => Exit::Usage,
        // The unsubscribe was recorded, but it cannot be written until a
        // requirement holds (a valid ID, the field, the credentials): not
        // a usage error, which would say nothing was done.
        E::InvalidSalesforceId(_)
        | E::FieldNotInstalled(_)
        | E::FieldNotWritable(_)
        | E::AuthFailed(_) => Exit::Requirement,
        _ => Exit::Runtime,
    }
}

/// What to do about a component error, where the exit status's general
/// advice would mislead.
fn sync_error_advice(e: &api::SyncError) -> Option<&'static str> {
    match e {
        api::SyncError::InvalidSalesforceId(_) => Some(
            "send the event again with the person's Lead (00Q...) or Contact (003...) ID of 15 or 18 \
             characters; the unsubscribe is held meanwhile and the nightly reports it",
        ),
        api::SyncError::InvalidEvent(_) => Some("correct the event; it was not recorded"),
        _ => None,
    }
}

/// Unwraps a call's two layers: a host error is a runtime failure; a
/// component error maps to its exit status.
pub fn answer<T>(r: Result<Result<T, api::SyncError>, HostError>) -> Result<T, Failure> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure {
            exit: sync_error_exit(&e),
            message: describe_sync_error(&e),
            what_to_do: sync_error_advice(&e).map(str::to_string),
        }),
        Err(h) => Err(h.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc() {
        assert_eq!(ts(1_751_968_800_000), "2025-07-08T10:00:00Z");
    }
}
