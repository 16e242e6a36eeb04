//! `audit`: the trail of one person's unsubscribe.

use super::Cli;
use super::output::{Table, print_json};
use crate::api;
use crate::app::describe::{answer, record, ts};
use crate::app::{CmdResult, Exit, Failure};

/// Arguments of `audit`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Shows when the unsubscribe arrived, each attempt to write it, Salesforce's \
answers (confirmed, failed with the error, redirected) and any re-subscribe. Exit 1 when nothing was \
ever recorded for the person."
)]
pub struct AuditArgs {
    /// The app's person ID.
    pub person_id: String,
    /// Print the trail as JSON.
    #[arg(long)]
    pub json: bool,
}

fn kind(k: api::AuditKind) -> &'static str {
    match k {
        api::AuditKind::Received => "received",
        api::AuditKind::Resubscribed => "resubscribed",
        api::AuditKind::Stale => "stale",
        api::AuditKind::InvalidId => "invalid ID",
        api::AuditKind::Attempt => "attempt",
        api::AuditKind::Confirmed => "confirmed",
        api::AuditKind::AlreadyOptedOut => "already opted out",
        api::AuditKind::Queued => "queued",
        api::AuditKind::Failed => "FAILED",
        api::AuditKind::Redirected => "redirected",
        api::AuditKind::FieldOwed => "field owed",
        api::AuditKind::Superseded => "superseded",
    }
}

/// Control characters escaped (`\u{1b}`), so a value sent by a hostile
/// client (a malformed Salesforce ID is shown as received) cannot drive the
/// operator's terminal.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The trail as text.
pub fn render(trail: &api::AuditTrail) -> String {
    let mut out = format!(
        "person {}: {}{}\n",
        printable(&trail.person_id),
        if trail.held {
            "unsubscribe held"
        } else {
            "no unsubscribe held"
        },
        trail
            .salesforce_id
            .as_ref()
            .map(|id| format!(", Salesforce ID {}", printable(id)))
            .unwrap_or_default()
    );
    for o in &trail.owed {
        out.push_str(&format!(
            "owed: {}\n",
            crate::app::describe::describe_owed(o)
        ));
    }
    let mut t = Table::new(&["when", "what", "record", "fields", "detail"]);
    for e in &trail.entries {
        let detail = match &e.error_code {
            Some(code) => format!("{code}: {}", e.detail),
            None => e.detail.clone(),
        };
        t.row(vec![
            ts(e.at),
            kind(e.kind).into(),
            e.record.as_ref().map(record).unwrap_or_else(|| "-".into()),
            if e.fields.is_empty() {
                "-".into()
            } else {
                printable(&e.fields.join(", "))
            },
            printable(&detail),
        ]);
    }
    out.push_str(&t.render());
    out
}

/// Runs `audit`.
pub fn run(cli: &Cli, args: &AuditArgs) -> CmdResult {
    let app = super::load_app(cli)?;
    // Looked up as every entry point records it (without surrounding
    // whitespace), and refused as they would refuse it.
    let person_id =
        crate::app::input::person_id_from(args.person_id.clone()).map_err(Failure::usage)?;
    match answer(app.runtime.audit(&app.caps, &person_id))? {
        Some(trail) => {
            if args.json {
                print_json(&trail)?;
            } else {
                print!("{}", render(&trail));
            }
            Ok(Exit::Ok)
        }
        None => Err(Failure::not_found(format!(
            "not found: nothing was ever recorded for person {person_id:?}"
        ))
        .with_advice(
            "check the person ID as the sales app sends it; `unsubscribe-sync status` shows the ledger's size",
        )),
    }
}
