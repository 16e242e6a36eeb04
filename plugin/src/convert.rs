//! Conversions between the generated WIT types and the policy's own types.
//! With `lib.rs`, the only code that names the bindings.

use crate::bindings::exports::unsubscribe_sync::salesforce::sync as wit;
use crate::model as m;

/// WIT → policy.
pub fn settings(s: wit::Settings) -> m::Settings {
    m::Settings {
        sync_enabled: s.sync_enabled,
        email_opt_out: s.email_opt_out,
        sales_opt_out_field: s.sales_opt_out_field,
        api_version: s.api_version,
        schedule: schedule(s.schedule),
        bulk_threshold: s.bulk_threshold,
        budget: m::ApiBudget {
            max_calls: s.budget.max_calls,
            max_percent_of_remaining: s.budget.max_percent_of_remaining,
            reserve: s.budget.reserve,
        },
    }
}

/// WIT → policy.
pub fn schedule(s: wit::Schedule) -> m::Schedule {
    m::Schedule {
        hour: s.hour,
        minute: s.minute,
        time_zone: s.time_zone,
    }
}

/// WIT → policy.
pub fn unsubscribe(e: wit::UnsubscribeEvent) -> m::UnsubscribeEvent {
    m::UnsubscribeEvent {
        person_id: e.person_id,
        salesforce_id: e.salesforce_id,
        email: e.email,
        source: e.source,
        occurred_at: e.occurred_at,
        received_at: e.received_at,
    }
}

/// WIT → policy.
pub fn resubscribe(e: wit::ResubscribeEvent) -> m::ResubscribeEvent {
    m::ResubscribeEvent {
        person_id: e.person_id,
        source: e.source,
        occurred_at: e.occurred_at,
        received_at: e.received_at,
    }
}

fn sobject(o: m::SObject) -> wit::Sobject {
    match o {
        m::SObject::Lead => wit::Sobject::Lead,
        m::SObject::Contact => wit::Sobject::Contact,
    }
}

fn record(r: m::RecordRef) -> wit::RecordRef {
    wit::RecordRef {
        object: sobject(r.object),
        id: r.id,
    }
}

fn field(f: m::FieldRef) -> wit::FieldRef {
    wit::FieldRef {
        object: sobject(f.object),
        field: f.field,
    }
}

fn owed_field(o: m::OwedField) -> wit::OwedField {
    wit::OwedField {
        field: field(o.field),
        problem: match o.problem {
            m::FieldProblem::NotInstalled => wit::FieldProblem::NotInstalled,
            m::FieldProblem::NotWritable => wit::FieldProblem::NotWritable,
        },
    }
}

fn owed(list: Vec<m::OwedField>) -> Vec<wit::OwedField> {
    list.into_iter().map(owed_field).collect()
}

fn owed_counts(list: Vec<m::OwedCount>) -> Vec<wit::OwedCount> {
    list.into_iter()
        .map(|c| {
            let o = owed_field(m::OwedField {
                field: c.field,
                problem: c.problem,
            });
            wit::OwedCount {
                field: o.field,
                problem: o.problem,
                records: c.records,
            }
        })
        .collect()
}

/// Policy → WIT.
pub fn error(e: m::SyncError) -> wit::SyncError {
    use m::SyncError as E;
    match e {
        E::InvalidSettings(p) => wit::SyncError::InvalidSettings(wit::SettingsProblem {
            setting: p.setting,
            reason: p.reason,
        }),
        E::InvalidEvent(s) => wit::SyncError::InvalidEvent(s),
        E::InvalidSalesforceId(p) => wit::SyncError::InvalidSalesforceId(wit::IdProblem {
            value: p.value,
            reason: p.reason,
        }),
        E::FieldNotInstalled(f) => wit::SyncError::FieldNotInstalled(field(f)),
        E::FieldNotWritable(f) => wit::SyncError::FieldNotWritable(field(f)),
        E::RecordDeleted(r) => wit::SyncError::RecordDeleted(record(r)),
        E::AuthFailed(s) => wit::SyncError::AuthFailed(s),
        E::ApiLimitExhausted(s) => wit::SyncError::ApiLimitExhausted(s),
        E::SalesforceError(f) => wit::SyncError::SalesforceError(wit::SalesforceFailure {
            status: f.status,
            code: f.code,
            message: f.message,
            fields: f.fields,
        }),
        E::Transport(s) => wit::SyncError::Transport(s),
        E::RequestDenied(s) => wit::SyncError::RequestDenied(s),
        E::StorageFailure(s) => wit::SyncError::StorageFailure(s),
    }
}

fn redirect(r: m::Redirect) -> wit::Redirect {
    wit::Redirect {
        from: record(r.from),
        reason: match r.reason {
            m::RedirectReason::ConvertedLead => wit::RedirectReason::ConvertedLead,
            m::RedirectReason::Merged => wit::RedirectReason::Merged,
        },
    }
}

/// Policy → WIT.
pub fn push_outcome(o: m::PushOutcome) -> wit::PushOutcome {
    match o {
        m::PushOutcome::Written(w) => wit::PushOutcome::Written(wit::Written {
            target: record(w.target),
            fields: w.fields,
            redirected: w.redirected.map(redirect),
            owed: owed(w.owed),
        }),
        m::PushOutcome::SkippedNoSalesforceId => wit::PushOutcome::SkippedNoSalesforceId,
        m::PushOutcome::QueuedForRetry(q) => wit::PushOutcome::QueuedForRetry(wit::Queued {
            attempts: q.attempts,
            next_attempt_at: q.next_attempt_at,
            reason: error(q.reason),
        }),
        m::PushOutcome::Duplicate => wit::PushOutcome::Duplicate,
        m::PushOutcome::Stale(t) => wit::PushOutcome::Stale(t),
    }
}

/// Policy → WIT.
pub fn resubscribe_outcome(o: m::ResubscribeOutcome) -> wit::ResubscribeOutcome {
    match o {
        m::ResubscribeOutcome::Released => wit::ResubscribeOutcome::Released,
        m::ResubscribeOutcome::NotHeld => wit::ResubscribeOutcome::NotHeld,
        m::ResubscribeOutcome::Stale(t) => wit::ResubscribeOutcome::Stale(t),
    }
}

/// Policy → WIT.
pub fn import_summary(s: m::ImportSummary) -> wit::ImportSummary {
    wit::ImportSummary {
        added: s.added,
        updated: s.updated,
        unchanged: s.unchanged,
        without_salesforce_id: s.without_salesforce_id,
        problems: s
            .problems
            .into_iter()
            .map(|p| wit::ImportProblem {
                index: p.index,
                error: error(p.error),
                recorded: p.recorded,
            })
            .collect(),
    }
}

fn progress(p: m::NightlyProgress) -> wit::NightlyProgress {
    wit::NightlyProgress {
        run_id: p.run_id,
        stage: p.stage,
        done: p.done,
        total: p.total,
        wait_ms: p.wait_ms,
    }
}

fn item(i: m::ReportItem) -> wit::ReportItem {
    wit::ReportItem {
        kind: match i.kind {
            m::ItemKind::Written => wit::ItemKind::Written,
            m::ItemKind::Reasserted => wit::ItemKind::Reasserted,
            m::ItemKind::WouldWrite => wit::ItemKind::WouldWrite,
            m::ItemKind::Redirected => wit::ItemKind::Redirected,
            m::ItemKind::Failed => wit::ItemKind::Failed,
            m::ItemKind::SkippedNoSalesforceId => wit::ItemKind::SkippedNoSalesforceId,
            m::ItemKind::FieldOwed => wit::ItemKind::FieldOwed,
        },
        person_id: i.person_id,
        record: i.record.map(record),
        redirected: i.redirected.map(redirect),
        target: i.target.map(record),
        error: i.error.map(error),
        owed: owed(i.owed),
    }
}

fn report(r: m::NightlyReport) -> wit::NightlyReport {
    wit::NightlyReport {
        run_id: r.run_id,
        started_at: r.started_at,
        finished_at: r.finished_at,
        dry_run: r.dry_run,
        held: r.held,
        already_opted_out: r.already_opted_out,
        written: r.written,
        reasserted: r.reasserted,
        redirected: r.redirected,
        failed: r.failed,
        skipped_no_salesforce_id: r.skipped_no_salesforce_id,
        field_owed: r.field_owed,
        owed_fields: owed_counts(r.owed_fields),
        api_calls: wit::ApiCalls {
            query: r.api_calls.query,
            record: r.api_calls.record,
            collections: r.api_calls.collections,
            bulk: r.api_calls.bulk,
            metadata: r.api_calls.metadata,
        },
        strategy: r.strategy,
        stopped: r.stopped.map(|s| match s {
            m::StopReason::Budget(t) => wit::StopReason::Budget(t),
            m::StopReason::ApiLimit(t) => wit::StopReason::ApiLimit(t),
            m::StopReason::Auth(t) => wit::StopReason::Auth(t),
        }),
        items: r.items.into_iter().map(item).collect(),
        items_total: r.items_total,
    }
}

/// Policy → WIT.
pub fn nightly_outcome(o: m::NightlyOutcome) -> wit::NightlyOutcome {
    match o {
        m::NightlyOutcome::Disabled => wit::NightlyOutcome::Disabled,
        m::NightlyOutcome::InProgress(p) => wit::NightlyOutcome::InProgress(progress(p)),
        m::NightlyOutcome::Finished(r) => wit::NightlyOutcome::Finished(report(r)),
    }
}

/// Policy → WIT.
pub fn report_page(p: m::ReportPage) -> wit::ReportPage {
    wit::ReportPage {
        items: p.items.into_iter().map(item).collect(),
        next: p.next,
    }
}

/// Policy → WIT.
pub fn check_report(r: m::CheckReport) -> wit::CheckReport {
    wit::CheckReport {
        passed: r.passed,
        items: r
            .items
            .into_iter()
            .map(|i| wit::CheckItem {
                requirement: match i.requirement {
                    m::Requirement::Settings => wit::Requirement::Settings,
                    m::Requirement::SyncEnabled => wit::Requirement::SyncEnabled,
                    m::Requirement::Credentials => wit::Requirement::Credentials,
                    m::Requirement::FieldExists => wit::Requirement::FieldExists,
                    m::Requirement::FieldWritable => wit::Requirement::FieldWritable,
                    m::Requirement::SampleRead => wit::Requirement::SampleRead,
                    m::Requirement::ApiBudget => wit::Requirement::ApiBudget,
                },
                subject: i.subject,
                passed: i.passed,
                detail: i.detail,
                error: i.error.map(error),
                remedy: i.remedy,
            })
            .collect(),
    }
}

/// Policy → WIT.
pub fn status_report(s: m::StatusReport) -> wit::StatusReport {
    wit::StatusReport {
        held: s.held,
        held_without_salesforce_id: s.held_without_salesforce_id,
        pending_retries: s.pending_retries,
        next_retry_at: s.next_retry_at,
        owed_fields: owed_counts(s.owed_fields),
        failed: s.failed,
        nightly_in_progress: s.nightly_in_progress.map(progress),
        last_report: s.last_report.map(report),
    }
}

/// Policy → WIT.
pub fn audit_trail(t: m::AuditTrail) -> wit::AuditTrail {
    wit::AuditTrail {
        person_id: t.person_id,
        held: t.held,
        salesforce_id: t.salesforce_id,
        owed: owed(t.owed),
        entries: t
            .entries
            .into_iter()
            .map(|e| wit::AuditEntry {
                at: e.at,
                kind: match e.kind {
                    m::AuditKind::Received => wit::AuditKind::Received,
                    m::AuditKind::Resubscribed => wit::AuditKind::Resubscribed,
                    m::AuditKind::Stale => wit::AuditKind::Stale,
                    m::AuditKind::InvalidId => wit::AuditKind::InvalidId,
                    m::AuditKind::Attempt => wit::AuditKind::Attempt,
                    m::AuditKind::Confirmed => wit::AuditKind::Confirmed,
                    m::AuditKind::AlreadyOptedOut => wit::AuditKind::AlreadyOptedOut,
                    m::AuditKind::Queued => wit::AuditKind::Queued,
                    m::AuditKind::Failed => wit::AuditKind::Failed,
                    m::AuditKind::Redirected => wit::AuditKind::Redirected,
                    m::AuditKind::FieldOwed => wit::AuditKind::FieldOwed,
                    m::AuditKind::Superseded => wit::AuditKind::Superseded,
                },
                record: e.record.map(record),
                fields: e.fields,
                error_code: e.error_code,
                detail: e.detail,
            })
            .collect(),
    }
}

/// Policy → WIT.
pub fn drain_summary(s: m::DrainSummary) -> wit::DrainSummary {
    wit::DrainSummary {
        attempted: s.attempted,
        written: s.written,
        requeued: s.requeued,
        failed: s.failed,
        next_due: s.next_due,
    }
}
