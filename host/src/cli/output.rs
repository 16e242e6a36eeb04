//! Printing: timestamps, records, the component's outcomes and errors in
//! words, aligned tables, JSON.

use serde::Serialize;

use super::{Exit, Failure};
use crate::{HostError, api};

/// `2025-07-08 10:00:00 UTC`.
pub fn ts(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
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
        E::InvalidSettings(_) | E::InvalidEvent(_) | E::InvalidSalesforceId(_) => Exit::Usage,
        E::FieldNotInstalled(_) | E::FieldNotWritable(_) | E::AuthFailed(_) => Exit::Requirement,
        _ => Exit::Runtime,
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
        }),
        Err(h) => Err(h.into()),
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::runtime(format!("encoding JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A plain-text table with aligned columns.
#[derive(Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row.
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }
    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
    /// Renders the table.
    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            let line: Vec<String> = row
                .iter()
                .enumerate()
                .map(|(c, cell)| {
                    if c + 1 == row.len() {
                        cell.clone()
                    } else {
                        format!("{cell:<w$}", w = widths[c])
                    }
                })
                .collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
            if i == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                out.push_str(&rule.join("  "));
                out.push('\n');
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_timestamps_read_as_utc() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["long cell".into(), "x".into()]);
        assert_eq!(t.render(), "a          bb\n---------  --\nlong cell  x\n");
        assert_eq!(ts(1_751_968_800_000), "2025-07-08 10:00:00 UTC");
    }
}
