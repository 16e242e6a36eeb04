//! `status`: the ledger's size, pending retries and the last nightly report.
//! It prints where each credential comes from, never a value.

use super::Cli;
use super::output::{Table, print_json, shaped};
use crate::app::describe::{answer, ts};
use crate::app::{CmdResult, Exit};
use crate::secrets;

/// Arguments of `status`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Needs no connection to the org. Credentials are shown as set or missing and \
where they come from, never their values."
)]
pub struct StatusArgs {
    /// Print everything as JSON.
    #[arg(long)]
    pub json: bool,
}

fn source(env: &str, in_file: bool) -> &'static str {
    if std::env::var_os(env).is_some_and(|v| !v.is_empty()) {
        "set (environment)"
    } else if in_file {
        "set (credentials file)"
    } else {
        "missing"
    }
}

/// Runs `status`.
pub fn run(cli: &Cli, args: &StatusArgs) -> CmdResult {
    let app = super::load_app(cli)?;
    let report = answer(app.runtime.status(&app.caps, app.settings()))?;
    let file_creds = app
        .config
        .org
        .credentials_file
        .as_deref()
        .and_then(|p| secrets::Credentials::from_file(p).ok())
        .unwrap_or_default();
    let creds = serde_json::json!({
        "client_id": source(secrets::ENV_CLIENT_ID, file_creds.client_id.is_some()),
        "client_secret": source(secrets::ENV_CLIENT_SECRET, file_creds.client_secret.is_some()),
        "refresh_token": source(secrets::ENV_REFRESH_TOKEN, file_creds.refresh_token.is_some()),
        "webhook_secret": source(secrets::ENV_WEBHOOK_SECRET, file_creds.webhook_secret.is_some()),
    });
    let db_bytes = std::fs::metadata(&app.config.storage_path)
        .map(|m| m.len())
        .unwrap_or(0);
    let inbox = crate::backends::inbox::Inbox::open(&app.config.storage_path)
        .and_then(|i| i.depth())
        .unwrap_or(0);
    if args.json {
        print_json(&serde_json::json!({
            "config": app.config.file,
            "storage": { "path": app.config.storage_path, "bytes": db_bytes, "serve_inbox": inbox },
            "credentials": creds,
            "ledger": shaped(&report)?,
        }))?;
        return Ok(Exit::Ok);
    }
    let mut t = Table::new(&["", ""]);
    t.row(vec!["config".into(), app.config.file.display().to_string()]);
    t.row(vec![
        "storage".into(),
        format!(
            "{} ({} KiB)",
            app.config.storage_path.display(),
            db_bytes.div_ceil(1024)
        ),
    ]);
    for key in [
        "client_id",
        "client_secret",
        "refresh_token",
        "webhook_secret",
    ] {
        t.row(vec![
            key.replace('_', " "),
            creds[key].as_str().unwrap_or("").to_string(),
        ]);
    }
    t.row(vec!["held unsubscribes".into(), report.held.to_string()]);
    t.row(vec![
        "  without a Salesforce ID".into(),
        report.held_without_salesforce_id.to_string(),
    ]);
    t.row(vec![
        "  failed permanently".into(),
        report.failed.to_string(),
    ]);
    for line in crate::app::describe::describe_owed_counts(&report.owed_fields) {
        t.row(vec!["  field owed".into(), line]);
    }
    t.row(vec![
        "pending retries".into(),
        match report.next_retry_at {
            Some(at) => format!("{} (next at {})", report.pending_retries, ts(at)),
            None => report.pending_retries.to_string(),
        },
    ]);
    t.row(vec![
        "serve inbox".into(),
        format!("{inbox} event(s) waiting"),
    ]);
    if let Some(p) = &report.nightly_in_progress {
        t.row(vec![
            "nightly in progress".into(),
            format!("run {}: {} ({}/{})", p.run_id, p.stage, p.done, p.total),
        ]);
    }
    match &report.last_report {
        Some(r) => t.row(vec![
            "last nightly".into(),
            format!(
                "run {} finished {}: {} written, {} reasserted, {} redirected, {} failed, {} skipped{}",
                r.run_id,
                ts(r.finished_at),
                r.written,
                r.reasserted,
                r.redirected,
                r.failed,
                r.skipped_no_salesforce_id,
                if r.stopped.is_some() { " (stopped early)" } else { "" }
            ),
        ]),
        None => t.row(vec!["last nightly".into(), "none yet".into()]),
    }
    // Without the header row: a two-column listing.
    let text = t.render();
    for line in text.lines().skip(2) {
        println!("{line}");
    }
    Ok(Exit::Ok)
}
