//! `import`: many unsubscribes (CSV or JSON lines) recorded for the next
//! nightly run, read and recorded a batch at a time (so a file of millions
//! of rows never sits in memory whole), with a progress bar.

use std::io::{BufReader, Read};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

use super::Cli;
use super::import_lines::{self, ImportLine};
use super::output::print_json;
use crate::api;
use crate::app::describe::{answer, describe_sync_error};
use crate::app::{CmdResult, Exit, Failure};

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
    unreadable: Vec<Unreadable>,
    /// Events the component refused or flagged, by the line they were read from.
    problems: Vec<LineProblem>,
}

/// A line that could not be read as an event; nothing of it was recorded.
#[derive(serde::Serialize)]
struct Unreadable {
    /// The 1-based line of the file.
    line: usize,
    /// Why.
    problem: String,
}

/// An event the component refused or flagged, named by its line in the file.
#[derive(serde::Serialize)]
struct LineProblem {
    /// The 1-based line of the file.
    line: usize,
    /// Whether the unsubscribe was recorded all the same.
    recorded: bool,
    /// What the component said.
    error: api::SyncError,
}

/// Runs `import`.
pub fn run(cli: &Cli, args: &ImportArgs) -> CmdResult {
    let format =
        args.format
            .unwrap_or_else(|| match args.file.as_ref().and_then(|p| p.extension()) {
                Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
                _ => Format::Jsonl,
            });
    let mut app = super::load_app(cli)?;
    app.lock_for_writing("import")?;
    let now = app.caps.clock.now_ms();
    // The bar follows the bytes read (the file's size is known; the number
    // of events is not until the end); on stdin it counts events.
    let show = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (source, name, bar): (Box<dyn Read>, String, ProgressBar) =
        match args.file.as_deref().filter(|p| p.as_os_str() != "-") {
            Some(p) => {
                let file = std::fs::File::open(p)
                    .map_err(|e| Failure::usage(format!("{}: {e}", p.display())))?;
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                let bar = if show {
                    ProgressBar::new(size).with_style(style(
                        "{spinner} importing [{bar:40}] {bytes}/{total_bytes} {msg} ({eta})",
                    ))
                } else {
                    ProgressBar::hidden()
                };
                (Box::new(bar.wrap_read(file)), p.display().to_string(), bar)
            }
            None => {
                let bar = if show {
                    ProgressBar::new_spinner().with_style(style("{spinner} importing {msg}"))
                } else {
                    ProgressBar::hidden()
                };
                (Box::new(std::io::stdin()), "stdin".to_string(), bar)
            }
        };
    let reader = BufReader::with_capacity(256 << 10, source);
    let lines: Box<dyn Iterator<Item = ImportLine>> = match format {
        Format::Csv => Box::new(
            import_lines::read_csv(reader, now)
                .map_err(|e| Failure::usage(format!("{name}: {e}")))?,
        ),
        Format::Jsonl => Box::new(import_lines::read_jsonl(reader, now)),
    };
    let mut summary = Summary::default();
    let mut events = 0usize;
    let mut batch = Vec::with_capacity(BATCH);
    let mut batch_lines: Vec<usize> = Vec::with_capacity(BATCH);
    let send = |batch: &mut Vec<api::UnsubscribeEvent>,
                lines: &mut Vec<usize>,
                summary: &mut Summary|
     -> Result<(), Failure> {
        let s = answer(app.runtime.import(&app.caps, app.settings(), batch))?;
        summary.added += s.added;
        summary.updated += s.updated;
        summary.unchanged += s.unchanged;
        summary.without_salesforce_id += s.without_salesforce_id;
        for p in s.problems {
            summary.problems.push(LineProblem {
                line: lines.get(p.index as usize).copied().unwrap_or(0),
                recorded: p.recorded,
                error: p.error,
            });
        }
        batch.clear();
        lines.clear();
        Ok(())
    };
    for line in lines {
        match line {
            Ok(numbered) => {
                batch_lines.push(numbered.line);
                batch.push(numbered.event);
                events += 1;
                if batch.len() == BATCH {
                    send(&mut batch, &mut batch_lines, &mut summary)?;
                    bar.set_message(format!("{events} events"));
                }
            }
            Err((line, problem)) => summary.unreadable.push(Unreadable { line, problem }),
        }
    }
    if !batch.is_empty() {
        send(&mut batch, &mut batch_lines, &mut summary)?;
    }
    bar.finish_and_clear();
    if args.json {
        print_json(&summary)?;
    } else {
        println!(
            "imported {} events from {name}: {} added, {} updated, {} unchanged, {} without a Salesforce ID",
            events,
            summary.added,
            summary.updated,
            summary.unchanged,
            summary.without_salesforce_id
        );
        for u in &summary.unreadable {
            println!("  line {}: not read: {}", u.line, u.problem);
        }
        for p in &summary.problems {
            let recorded = if p.recorded {
                "recorded"
            } else {
                "not recorded"
            };
            println!(
                "  line {}: {recorded}: {}",
                p.line,
                describe_sync_error(&p.error)
            );
        }
        println!("the next nightly run writes them to Salesforce");
    }
    let refused = summary.problems.iter().any(|p| !p.recorded) || !summary.unreadable.is_empty();
    Ok(if refused { Exit::Usage } else { Exit::Ok })
}

/// A progress style from a template (the templates here are fixed, so a
/// failure falls back to the default rather than failing the import).
fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}
