//! The pre-flight (R6): every requirement checked and reported with what to
//! do, before go-live or whenever an admin asks. Writes nothing to Salesforce.

use crate::fields::{self, Described};
use crate::ledger;
use crate::model::{
    CheckItem, CheckReport, FieldProblem, FieldRef, Requirement, SObject, Settings,
    SettingsProblem, SyncError,
};
use crate::nightly::all_set;
use crate::ports::{HttpFailure, Ports};
use crate::salesforce::api::{OrgApi, RequestError};
use crate::salesforce::soql;
use crate::settings;

/// Held unsubscribes sampled per object for the read check.
const SAMPLE_PER_OBJECT: u32 = 5;

/// Runs the pre-flight.
pub fn check(settings: &Settings, ports: Ports<'_>) -> Result<CheckReport, SyncError> {
    let mut items = Vec::new();
    let valid = settings::validate(settings);
    items.push(match &valid {
        Ok(()) => pass(
            Requirement::Settings,
            "settings",
            "the settings are valid".into(),
        ),
        Err(e) => fail(
            Requirement::Settings,
            "settings",
            e.to_string(),
            e.clone(),
            "correct the setting named above",
        ),
    });
    items.push(if settings.sync_enabled {
        pass(Requirement::SyncEnabled, "sync", "the unsubscribe sync is enabled; the nightly runs".into())
    } else {
        let e = SettingsProblem::error("sync-enabled", "the unsubscribe sync is disabled");
        fail(
            Requirement::SyncEnabled,
            "sync",
            "disabled: the nightly does not run, and pushes write HasOptedOutOfEmail only".into(),
            e,
            "enable the sync (sync-enabled = true) to run the nightly and write the selected fields",
        )
    });
    if valid.is_err() {
        return Ok(finish(items));
    }
    let fields = settings::fields_to_write(settings);
    let mut api = OrgApi::new(ports.http, &settings.api_version);

    // Credentials and the API budget, from one /limits call.
    if !credentials_and_budget(&mut api, settings, &mut items) {
        return Ok(finish(items));
    }
    let mut readable = Vec::new();
    for object in SObject::ALL {
        readable.push((object, check_fields(&mut api, object, &fields, &mut items)));
    }
    items.push(sample_read(&mut api, &readable, ports)?);
    Ok(finish(items))
}

/// Checks the credentials and the API budget with one `/limits` call;
/// false when the credentials fail (nothing else can be checked then).
fn credentials_and_budget(
    api: &mut OrgApi<'_>,
    settings: &Settings,
    items: &mut Vec<CheckItem>,
) -> bool {
    match api.daily_requests() {
        Ok((max, remaining)) => {
            items.push(pass(
                Requirement::Credentials,
                "org",
                "the org accepted the credentials".into(),
            ));
            let reserve = u64::from(settings.budget.reserve);
            items.push(if remaining > reserve {
                pass(Requirement::ApiBudget, "DailyApiRequests", format!("{remaining} of {max} requests left today; {reserve} reserved for pushes"))
            } else {
                fail(
                    Requirement::ApiBudget,
                    "DailyApiRequests",
                    format!("{remaining} of {max} requests left today, at or below the reserve of {reserve}"),
                    SyncError::ApiLimitExhausted(format!("{remaining} requests left")),
                    "wait for the 24-hour window to roll over, or lower budget.reserve",
                )
            });
        }
        Err(RequestError::Status(sf)) if sf.code == "REQUEST_LIMIT_EXCEEDED" => {
            items.push(pass(
                Requirement::Credentials,
                "org",
                "the org accepted the credentials".into(),
            ));
            items.push(fail(
                Requirement::ApiBudget,
                "DailyApiRequests",
                "the org's daily API allocation is spent".into(),
                SyncError::ApiLimitExhausted(sf.message),
                "wait for the 24-hour window to roll over; queued pushes resume by themselves",
            ));
        }
        Err(RequestError::Status(sf)) if sf.status == 403 => {
            items.push(pass(
                Requirement::Credentials,
                "org",
                "the org accepted the credentials".into(),
            ));
            let detail = format!("cannot read /limits ({}: {})", sf.code, sf.message);
            items.push(if settings.budget.max_percent_of_remaining.is_some() {
                fail(
                    Requirement::ApiBudget,
                    "DailyApiRequests",
                    detail,
                    SyncError::SalesforceError(sf),
                    "give the integration user View Setup and Configuration, or remove budget.max-percent-of-remaining",
                )
            } else {
                pass(Requirement::ApiBudget, "DailyApiRequests", detail)
            });
        }
        Err(e) => {
            let (error, remedy) = credential_failure(e);
            items.push(fail(
                Requirement::Credentials,
                "org",
                error.to_string(),
                error,
                remedy,
            ));
            return false;
        }
    }

    true
}

fn credential_failure(e: RequestError) -> (SyncError, &'static str) {
    match e {
        RequestError::NoResponse(HttpFailure::AuthFailed(m)) => (
            SyncError::AuthFailed(m),
            "re-authorize the connection: create a new refresh token for the integration user",
        ),
        RequestError::Status(sf) if sf.status == 401 => (
            SyncError::AuthFailed(sf.message),
            "re-authorize the connection: create a new refresh token for the integration user",
        ),
        e @ RequestError::NoResponse(_) => (
            e.classify(SObject::Lead, None, &[]).error,
            "check the org's instance URL and that this host can reach it",
        ),
        RequestError::Status(sf) => (
            SyncError::SalesforceError(sf),
            "check the org's instance URL and the API version",
        ),
        e @ (RequestError::Budget(_) | RequestError::BadResponse(_)) => (
            e.classify(SObject::Lead, None, &[]).error,
            "check the org's instance URL: it did not answer like Salesforce",
        ),
    }
}

/// Checks each field on one object via describe (`plugin/SALESFORCE.md`,
/// "Describe"), read by [`fields::describe_field`] as every describe is.
/// Nothing is stored: the pre-flight only reads. Returns the fields that
/// exist as checkboxes (the ones a read can select).
fn check_fields(
    api: &mut OrgApi<'_>,
    object: SObject,
    fields: &[String],
    items: &mut Vec<CheckItem>,
) -> Vec<String> {
    let mut readable = Vec::new();
    let describe = match api.describe(object) {
        Ok(d) => d,
        Err(e) => {
            let error = match e {
                RequestError::Status(sf) => SyncError::SalesforceError(sf),
                e => e.classify(object, None, fields).error,
            };
            for field in fields {
                items.push(fail(
                    Requirement::FieldExists,
                    &format!("{}.{field}", object.api_name()),
                    format!("could not describe {}: {error}", object.api_name()),
                    error.clone(),
                    "give the integration user read access to the object, then check again",
                ));
            }
            return readable;
        }
    };
    for field in fields {
        let subject = format!("{}.{field}", object.api_name());
        let field_ref = FieldRef {
            object,
            field: field.clone(),
        };
        let not_installed = FieldProblem::NotInstalled;
        match fields::describe_field(&describe, field) {
            Described::Missing => items.push(fail(
                Requirement::FieldExists,
                &subject,
                "not found: the field does not exist, or field-level security hides it from the \
                 integration user; the other selected fields are still written, this one is owed"
                    .into(),
                not_installed.error(field_ref),
                not_installed.remedy(),
            )),
            Described::NotCheckbox(kind) => items.push(fail(
                Requirement::FieldExists,
                &subject,
                format!("is a {kind} field, not a checkbox"),
                not_installed.error(field_ref),
                "select a checkbox (boolean) field",
            )),
            described => {
                readable.push(field.clone());
                items.push(pass(
                    Requirement::FieldExists,
                    &subject,
                    "exists and is a checkbox".into(),
                ));
                items.push(if described == Described::Writable {
                    pass(
                        Requirement::FieldWritable,
                        &subject,
                        "the integration user can edit it".into(),
                    )
                } else {
                    fail(
                        Requirement::FieldWritable,
                        &subject,
                        "read-only for the integration user; the other selected fields are still \
                         written, this one is owed"
                            .into(),
                        FieldProblem::NotWritable.error(field_ref),
                        FieldProblem::NotWritable.remedy(),
                    )
                });
            }
        }
    }
    readable
}

/// Reads back a sample of held unsubscribes, as the nightly would.
fn sample_read(
    api: &mut OrgApi<'_>,
    readable: &[(SObject, Vec<String>)],
    ports: Ports<'_>,
) -> Result<CheckItem, SyncError> {
    let mut sampled = 0usize;
    let mut found = 0usize;
    let mut already = 0usize;
    for (object, fields) in readable {
        let (object, fields) = (*object, fields.as_slice());
        let page = ports
            .store
            .list(&ledger::target_prefix(object), None, SAMPLE_PER_OBJECT)
            .map_err(ledger::storage_error)?;
        let ids: Vec<String> = page
            .entries
            .iter()
            .filter_map(|(k, _)| ledger::parse_target_key(k).map(|(r, _)| r.id))
            .collect();
        if ids.is_empty() {
            continue;
        }
        sampled += ids.len();
        let mut select = vec!["Id"];
        select.extend(fields.iter().map(String::as_str));
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        match api.query(&soql::select_by_ids(&select, object, &refs), false) {
            Ok(rows) => {
                found += rows.len();
                already += rows.iter().filter(|r| all_set(r, fields)).count();
            }
            Err(e) => {
                let error = e.classify(object, None, fields).error;
                return Ok(fail(
                    Requirement::SampleRead,
                    "sample",
                    format!(
                        "reading {} {}s failed: {error}",
                        ids.len(),
                        object.api_name()
                    ),
                    error,
                    "fix the problem above; the nightly reads records the same way",
                ));
            }
        }
    }
    Ok(if sampled == 0 {
        pass(
            Requirement::SampleRead,
            "sample",
            "no held unsubscribes with a Salesforce ID to sample yet".into(),
        )
    } else {
        pass(
            Requirement::SampleRead,
            "sample",
            format!(
                "read {found} of {sampled} sampled records ({already} already opted out, {} not found: deleted or merged records are followed by the nightly)",
                sampled - found
            ),
        )
    })
}

fn pass(requirement: Requirement, subject: &str, detail: String) -> CheckItem {
    CheckItem {
        requirement,
        subject: subject.to_string(),
        passed: true,
        detail,
        error: None,
        remedy: None,
    }
}

fn fail(
    requirement: Requirement,
    subject: &str,
    detail: String,
    error: SyncError,
    remedy: &str,
) -> CheckItem {
    CheckItem {
        requirement,
        subject: subject.to_string(),
        passed: false,
        detail,
        error: Some(error),
        remedy: Some(remedy.to_string()),
    }
}

fn finish(items: Vec<CheckItem>) -> CheckReport {
    let passed = items.iter().all(|i| i.passed);
    CheckReport { items, passed }
}
