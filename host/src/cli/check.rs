//! `check`: the requirements pre-flight. Each requirement is printed as ok
//! or FAILED with what to do; any failure exits 3.
//!
//! The storage file is examined first, read-only ([`inspect`]): a file that
//! is not SQLite, a damaged or truncated database, an SQLite database of
//! another application or one written by a newer host is reported as a
//! failed `storage` requirement naming the file and what is wrong, and the
//! check stops there, so the file is never opened for writing.

use super::Cli;
use super::output::{print_json, shaped};
use crate::app::App;
use crate::app::config::Config;
use crate::app::context as app;
use crate::app::describe::{answer, describe_sync_error};
use crate::app::{CmdResult, Exit};
use crate::backends::org::{NOT_A_TOKEN_ENDPOINT, UNTRUSTED_CERTIFICATE};
use crate::backends::sqlite::{Inspection, inspect};
use crate::{HttpError, StorageError, api};

/// Arguments of `check`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Checks, in order: the config; the storage file, read without writing to it (SQLite's \
quick_check, and that it is this application's: a file that is not stops the check here, untouched); the \
credentials are present and the org accepts them; then the component's pre-flight: the settings, sync \
enabled, each selected field exists on Lead and Contact, is a checkbox and is writable by the integration user, a sample read, the API budget. Writes \
nothing to Salesforce. Exit 0 when everything holds, 3 when a requirement fails."
)]
pub struct CheckArgs {
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One line of the pre-flight.
#[derive(serde::Serialize, Debug, Clone)]
pub struct Finding {
    /// What was checked.
    pub requirement: String,
    /// The subject (a field, a file).
    pub subject: String,
    /// It holds.
    pub passed: bool,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub remedy: Option<String>,
}

fn requirement_name(r: api::Requirement) -> &'static str {
    match r {
        api::Requirement::Settings => "settings",
        api::Requirement::SyncEnabled => "sync enabled",
        api::Requirement::Credentials => "credentials",
        api::Requirement::FieldExists => "field exists",
        api::Requirement::FieldWritable => "field writable",
        api::Requirement::SampleRead => "sample read",
        api::Requirement::ApiBudget => "API budget",
    }
}

fn config_finding(config: &Config) -> Finding {
    Finding {
        requirement: "config".into(),
        subject: config.file.display().to_string(),
        passed: true,
        detail: format!("read; storage at {}", config.storage_path.display()),
        remedy: None,
    }
}

/// The storage file, examined without writing to it.
pub fn storage_finding(config: &Config) -> Finding {
    let subject = config.storage_path.display().to_string();
    match inspect(&config.storage_path) {
        Ok(found) => Finding {
            requirement: "storage".into(),
            subject,
            passed: true,
            detail: match found {
                Inspection::Missing => "not created yet: it is created on first use".into(),
                Inspection::Empty => "empty: the schema is created on first use".into(),
                Inspection::Intact {
                    bytes,
                    schema_version,
                } => format!(
                    "an unsubscribe-sync database (schema version {schema_version}, {bytes} bytes); quick_check ok"
                ),
            },
            remedy: None,
        },
        Err(e) => {
            let remedy = match &e {
                StorageError::Corrupt(_) => {
                    "the file was left untouched: restore it from a backup, upgrade unsubscribe-sync if a newer one wrote it, \
                     or point storage.path at a new file"
                }
                StorageError::Unavailable(_) | StorageError::TooLarge(_) => {
                    "make the file readable and writable by this user, and not locked by another program"
                }
            };
            let (StorageError::Corrupt(detail)
            | StorageError::Unavailable(detail)
            | StorageError::TooLarge(detail)) = e;
            Finding {
                requirement: "storage".into(),
                subject,
                passed: false,
                detail,
                remedy: Some(remedy.into()),
            }
        }
    }
}

/// Runs the host's checks and the component's; returns every finding.
pub fn findings(app: &App) -> Result<Vec<Finding>, super::Failure> {
    let mut out = vec![config_finding(&app.config)];
    let Some(org) = &app.org else {
        out.push(Finding {
            requirement: "credentials".into(),
            subject: "client id, client secret, refresh token".into(),
            passed: false,
            detail: app.org_missing.clone().unwrap_or_default(),
            remedy: Some(
                "set UNSUBSCRIBE_SYNC_CLIENT_ID, UNSUBSCRIBE_SYNC_CLIENT_SECRET and UNSUBSCRIBE_SYNC_REFRESH_TOKEN, \
                 or name a credentials file (chmod 600) in org.credentials_file"
                    .into(),
            ),
        });
        return Ok(out);
    };
    match org.verify_credentials() {
        Ok(instance) => out.push(Finding {
            requirement: "credentials".into(),
            subject: org.token_url(),
            passed: true,
            detail: format!("the org issued an access token; instance {instance}"),
            remedy: None,
        }),
        Err(e) => {
            let remedy = match &e {
                HttpError::AuthFailed(_) => {
                    "re-authorize the connected app and update the refresh token (or fix the client id and secret)"
                }
                HttpError::Denied(_) => {
                    "fix org.login_url / org.instance_url so they name the same org"
                }
                HttpError::Transport(m) if m.starts_with(NOT_A_TOKEN_ENDPOINT) => {
                    "set org.login_url to https://login.salesforce.com (production), https://test.salesforce.com \
                     (sandbox) or the org's My Domain (https://<domain>.my.salesforce.com)"
                }
                HttpError::Transport(m) if m.starts_with(UNTRUSTED_CERTIFICATE) => {
                    "if the org is reached through a TLS-inspecting proxy, set org.ca_file to its CA \
                     certificate (PEM); if org.ca_file is set, check that it holds the CA that signed the \
                     server's certificate"
                }
                _ => "check the network path to org.login_url and try again",
            };
            out.push(Finding {
                requirement: "credentials".into(),
                subject: org.token_url(),
                passed: false,
                detail: e.to_string(),
                remedy: Some(remedy.into()),
            });
            return Ok(out);
        }
    }
    let report = answer(app.runtime.check(&app.caps, app.settings()))?;
    for item in report.items {
        out.push(Finding {
            requirement: requirement_name(item.requirement).into(),
            subject: item.subject,
            passed: item.passed,
            detail: match (&item.error, item.detail.is_empty()) {
                (Some(e), true) => describe_sync_error(e),
                _ => item.detail,
            },
            remedy: item.remedy,
        });
    }
    Ok(out)
}

/// Prints findings as `ok` / `FAILED` lines with the remedy under a failure.
pub fn render(findings: &[Finding]) -> String {
    let width = findings
        .iter()
        .map(|f| f.requirement.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for f in findings {
        let mark = if f.passed { "ok    " } else { "FAILED" };
        out.push_str(&format!(
            "{mark}  {:<width$}  {}: {}\n",
            f.requirement, f.subject, f.detail
        ));
        if let Some(r) = f.remedy.as_ref().filter(|_| !f.passed) {
            out.push_str(&format!("        {:<width$}  -> {r}\n", ""));
        }
    }
    let failed = findings.iter().filter(|f| !f.passed).count();
    if failed == 0 {
        out.push_str("all requirements hold\n");
    } else {
        out.push_str(&format!("{failed} requirement(s) failed\n"));
    }
    out
}

/// What `check` promises and keeps: it only reads.
const NOTHING_WRITTEN: &str =
    "check wrote nothing: no file was created or changed, and only reads were sent to Salesforce";

/// Runs `check`.
pub fn run(cli: &Cli, args: &CheckArgs) -> CmdResult {
    let config = Config::load(&Config::locate(cli.config.as_deref()))?;
    let storage = storage_finding(&config);
    let found = if storage.passed {
        let credentials = app::load_credentials(&config)?;
        // Read-only: `check` creates no ledger and writes to none.
        let app = App::build_read_only(config, credentials, cli.component.as_deref())?;
        let mut found = findings(&app)?;
        found.insert(1, storage);
        found
    } else {
        // Stop here: opening the file for the other checks could write to it.
        vec![config_finding(&config), storage]
    };
    let passed = found.iter().all(|f| f.passed);
    if args.json {
        // A requirement by its WIT enum case (`api-budget`), not its label.
        let mut items = shaped(&found)?;
        for item in items.as_array_mut().into_iter().flatten() {
            if let Some(r) = item.get_mut("requirement")
                && let Some(label) = r.as_str()
            {
                *r = serde_json::Value::String(label.to_ascii_lowercase().replace(' ', "-"));
            }
        }
        print_json(
            &serde_json::json!({ "passed": passed, "items": items, "wrote-nothing": true }),
        )?;
    } else {
        print!("{}", render(&found));
        println!("{NOTHING_WRITTEN}");
    }
    Ok(if passed { Exit::Ok } else { Exit::Requirement })
}
