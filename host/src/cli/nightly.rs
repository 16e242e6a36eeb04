//! `nightly`: runs (or resumes) the nightly reconciliation now, one bounded
//! component call per step, with a progress bar on a terminal and a final
//! report table (or `--json`).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::Cli;
use super::output::{Table, print_json};
use crate::api;
use crate::app::App;
use crate::app::describe::{answer, describe_sync_error, record, redirect, ts};
use crate::app::{CmdResult, Exit, Failure};

/// A run that asks for more steps than this is stopped (a component bug).
const MAX_STEPS: u32 = 1_000_000;
/// Report lines shown in the table; `--json` has them all.
const SHOWN_ITEMS: usize = 50;

/// Arguments of `nightly`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each step is one bounded call; the run checkpoints after every step, so an \
interrupted run resumes where it stopped. With the sync disabled nothing runs (exit 3)."
)]
pub struct NightlyArgs {
    /// Read everything and report what would be written, but write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report (with every line) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Steps the nightly until it finishes; `on_progress` sees each step.
/// `Ok(None)`: the sync is disabled.
pub fn run_to_end(
    app: &App,
    options: &api::NightlyOptions,
    mut on_progress: impl FnMut(&api::NightlyProgress),
    stop: impl Fn() -> bool,
) -> Result<Option<api::NightlyReport>, Failure> {
    for _ in 0..MAX_STEPS {
        match answer(app.runtime.nightly(&app.caps, app.settings(), options))? {
            api::NightlyOutcome::Disabled => return Ok(None),
            api::NightlyOutcome::Finished(report) => return Ok(Some(report)),
            api::NightlyOutcome::InProgress(p) => {
                on_progress(&p);
                if stop() {
                    return Err(Failure::runtime(format!(
                        "stopped after a checkpoint of run {} ({}/{}); run `nightly` again to resume",
                        p.run_id, p.done, p.total
                    )));
                }
                if p.wait_ms > 0 {
                    std::thread::sleep(Duration::from_millis(u64::from(p.wait_ms)));
                }
            }
        }
    }
    Err(Failure::runtime(format!(
        "the nightly asked for more than {MAX_STEPS} steps"
    )))
}

/// Pages through all the lines of a run's report.
pub fn all_items(app: &App, report: &api::NightlyReport) -> Result<Vec<api::ReportItem>, Failure> {
    if report.items_total <= report.items.len() as u64 {
        return Ok(report.items.clone());
    }
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page =
            answer(
                app.runtime
                    .report_items(&app.caps, &report.run_id, after.as_deref(), 1000),
            )?;
        let done = page.items.is_empty() || page.next.is_none();
        items.extend(page.items);
        match page.next {
            Some(n) if !done => after = Some(n),
            _ => return Ok(items),
        }
    }
}

/// Runs `nightly`.
pub fn run(cli: &Cli, args: &NightlyArgs) -> CmdResult {
    let mut app = super::load_app(cli)?;
    app.lock_for_writing("nightly")?;
    let options = api::NightlyOptions {
        dry_run: args.dry_run,
    };
    let bar = if !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} nightly {msg} [{bar:40}] {pos}/{len} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let outcome = run_to_end(
        &app,
        &options,
        |p| {
            bar.set_length(p.total);
            bar.set_position(p.done);
            bar.set_message(p.stage.clone());
        },
        || false,
    );
    bar.finish_and_clear();
    let Some(report) = outcome? else {
        let message =
            "the sync is disabled (settings.sync_enabled = false): the nightly does not run";
        if args.json {
            print_json(&serde_json::json!({ "disabled": true, "message": message }))?;
        } else {
            println!("{message}");
        }
        return Ok(Exit::Requirement);
    };
    let items = all_items(&app, &report)?;
    if args.json {
        // One list of items: every line of the run, in place of the
        // report's first thousand.
        let mut full = report.clone();
        full.items = items;
        print_json(&full)?;
    } else {
        print!("{}", render_report(&report, &items));
    }
    Ok(match report.stopped {
        Some(api::StopReason::Auth(_)) => Exit::Requirement,
        Some(_) => Exit::Runtime,
        None => Exit::Ok,
    })
}

fn kind(k: api::ItemKind) -> &'static str {
    match k {
        api::ItemKind::Written => "written",
        api::ItemKind::Reasserted => "reasserted",
        api::ItemKind::WouldWrite => "would write",
        api::ItemKind::Redirected => "redirected",
        api::ItemKind::Failed => "FAILED",
        api::ItemKind::SkippedNoSalesforceId => "skipped (no ID)",
        api::ItemKind::FieldOwed => "field owed",
    }
}

/// The report as text: the counts, then a table of its lines.
pub fn render_report(r: &api::NightlyReport, items: &[api::ReportItem]) -> String {
    let mut out = String::new();
    let title = if r.dry_run {
        "nightly dry run"
    } else {
        "nightly run"
    };
    out.push_str(&format!(
        "{title} {} ({} to {})\n",
        r.run_id,
        ts(r.started_at),
        ts(r.finished_at)
    ));
    let mut counts = Table::new(&["", "count"]);
    for (label, n) in [
        ("held unsubscribes", r.held),
        ("already opted out", r.already_opted_out),
        ("written", r.written),
        ("reasserted", r.reasserted),
        ("redirected", r.redirected),
        ("failed", r.failed),
        ("skipped (no Salesforce ID)", r.skipped_no_salesforce_id),
        ("owing a field", r.field_owed),
    ] {
        counts.row(vec![label.to_string(), n.to_string()]);
    }
    let c = &r.api_calls;
    counts.row(vec![
        "API calls".into(),
        format!(
            "{} (query {}, record {}, collections {}, bulk {}, metadata {})",
            c.query + c.record + c.collections + c.bulk + c.metadata,
            c.query,
            c.record,
            c.collections,
            c.bulk,
            c.metadata
        ),
    ]);
    if !r.strategy.is_empty() {
        counts.row(vec![
            "strategy (Lead, Contact)".into(),
            r.strategy.join(", "),
        ]);
    }
    out.push_str(&counts.render());
    for line in crate::app::describe::describe_owed_counts(&r.owed_fields) {
        out.push_str(&format!("field owed: {line}\n"));
    }
    if let Some(stop) = &r.stopped {
        let why = match stop {
            api::StopReason::Budget(t) => format!("the run's API budget: {t}"),
            api::StopReason::ApiLimit(t) => format!("the org's API limit: {t}"),
            api::StopReason::Auth(t) => format!("the org rejected the credentials: {t}"),
        };
        out.push_str(&format!(
            "stopped early by {why}; the next run resumes where this one stopped\n"
        ));
    }
    if !items.is_empty() {
        let mut t = Table::new(&["result", "person", "record", "detail"]);
        for i in items.iter().take(SHOWN_ITEMS) {
            let detail = match (&i.error, &i.redirected, &i.target) {
                (Some(e), _, _) => describe_sync_error(e),
                (None, Some(from), Some(to)) => {
                    format!("{} -> wrote {}", redirect(from), record(to))
                }
                (None, None, Some(to)) => format!("wrote {}", record(to)),
                _ => String::new(),
            };
            let owed: Vec<String> = i
                .owed
                .iter()
                .map(crate::app::describe::describe_owed)
                .collect();
            let detail = match (detail.is_empty(), owed.is_empty()) {
                (_, true) => detail,
                (true, false) => owed.join("; "),
                (false, false) => format!("{detail}; {}", owed.join("; ")),
            };
            t.row(vec![
                kind(i.kind).into(),
                i.person_id.clone(),
                i.record.as_ref().map(record).unwrap_or_else(|| "-".into()),
                detail,
            ]);
        }
        out.push('\n');
        out.push_str(&t.render());
        if items.len() > SHOWN_ITEMS {
            out.push_str(&format!(
                "... {} more lines (run with --json for all of them)\n",
                items.len() - SHOWN_ITEMS
            ));
        }
    }
    out
}
