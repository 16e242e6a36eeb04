//! `import`: many unsubscribes (CSV or JSON lines) recorded for the next
//! nightly run, in batches, with a progress bar.

use std::io::Read;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::app::App;
use super::output::{answer, describe_sync_error, print_json};
use super::{Cli, CmdResult, Exit, Failure, input};
use crate::api;

/// Events per call: each call is bounded by the deadline and memory cap.
const BATCH: usize = 1_000;

/// The file's format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// Arguments of `import`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "CSV needs a header row with person_id and any of salesforce_id, email, source, \
occurred_at. JSON lines hold one event per line, as `push` takes it. Imported unsubscribes are recorded, \
not written: the next nightly run writes them."
)]
pub struct ImportArgs {
    /// The file (`-` or nothing: read stdin).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The format [default: from the extension: .csv, else JSON lines].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The summary of a whole import (all batches).
#[derive(serde::Serialize, Default)]
struct Summary {
    added: u32,
    updated: u32,
    unchanged: u32,
    without_salesforce_id: u32,
    /// Lines that could not be read, by line number.
    unreadable: Vec<(usize, String)>,
    /// Events the component refused or flagged (index in the file's events).
    problems: Vec<api::ImportProblem>,
}

/// Runs `import`.
pub fn run(cli: &Cli, args: &ImportArgs) -> CmdResult {
    let (text, name) = match args.file.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?,
            p.display().to_string(),
        ),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::usage(format!("reading stdin: {e}")))?;
            (s, "stdin".to_string())
        }
    };
    let format =
        args.format
            .unwrap_or_else(|| match args.file.as_ref().and_then(|p| p.extension()) {
                Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
                _ => Format::Jsonl,
            });
    let app = App::load(cli)?;
    let now = app.caps.clock.now_ms();
    let lines = match format {
        Format::Csv => {
            input::parse_csv(&text, now).map_err(|e| Failure::usage(format!("{name}: {e}")))?
        }
        Format::Jsonl => input::parse_jsonl(&text, now),
    };
    let mut summary = Summary::default();
    let mut events = Vec::new();
    for l in lines {
        match l {
            Ok(e) => events.push(e),
            Err(bad) => summary.unreadable.push(bad),
        }
    }
    let bar = if !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        ProgressBar::new(events.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} importing [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    for (n, chunk) in events.chunks(BATCH).enumerate() {
        let s = answer(app.runtime.import(&app.caps, app.settings(), chunk))?;
        summary.added += s.added;
        summary.updated += s.updated;
        summary.unchanged += s.unchanged;
        summary.without_salesforce_id += s.without_salesforce_id;
        for mut p in s.problems {
            p.index += (n * BATCH) as u32;
            summary.problems.push(p);
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    if args.json {
        print_json(&summary)?;
    } else {
        println!(
            "imported {} events from {name}: {} added, {} updated, {} unchanged, {} without a Salesforce ID",
            events.len(),
            summary.added,
            summary.updated,
            summary.unchanged,
            summary.without_salesforce_id
        );
        for (line, why) in &summary.unreadable {
            println!("  line {line}: not read: {why}");
        }
        for p in &summary.problems {
            let recorded = if p.recorded {
                "recorded"
            } else {
                "not recorded"
            };
            println!(
                "  event {}: {recorded}: {}",
                p.index,
                describe_sync_error(&p.error)
            );
        }
        println!("the next nightly run writes them to Salesforce");
    }
    let refused = summary.problems.iter().any(|p| !p.recorded) || !summary.unreadable.is_empty();
    Ok(if refused { Exit::Usage } else { Exit::Ok })
}
