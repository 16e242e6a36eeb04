//! `push` and `resubscribe`: one event from an argument, a file or stdin.

use std::path::PathBuf;

use super::Cli;
use super::output::print_json;
use crate::app::describe::{answer, describe_push, describe_resubscribe, sync_error_exit};
use crate::app::input;
use crate::app::{CmdResult, Exit, Failure};

const EVENT_HELP: &str = "The event is JSON: {\"person_id\": \"p-42\", \"salesforce_id\": \"00Q5e00000AbCdEEAV\", \
\"email\": \"ada@example.com\", \"source\": \"link\", \"occurred_at\": \"2025-07-08T10:00:00Z\"}. Only person_id \
is required; occurred_at (milliseconds or RFC 3339) defaults to the time the event is received. Give it as the argument, with --file, or on \
stdin (argument `-` or none).

Exit status: 0 when the unsubscribe was written, held without an ID, already written or stale; when it was recorded but queued for retry, 3 if the org rejected the credentials or a field is missing or read-only, else 1; 2 for a malformed event.";

/// Arguments of `push`.
#[derive(clap::Args, Debug)]
#[command(after_help = EVENT_HELP)]
pub struct PushArgs {
    /// The unsubscribe as JSON (`-` or nothing: read stdin).
    #[arg(value_name = "JSON")]
    pub event: Option<String>,
    /// Read the event from a file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `resubscribe`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The event is JSON: {\"person_id\": \"p-42\", \"source\": \"preferences\", \
\"occurred_at\": \"2025-07-09T08:00:00Z\"}; only person_id is required. A re-subscribe is never written to \
Salesforce: it stops the nightly re-asserting the person's unsubscribe."
)]
pub struct ResubscribeArgs {
    /// The re-subscribe as JSON (`-` or nothing: read stdin).
    #[arg(value_name = "JSON")]
    pub event: Option<String>,
    /// Read the event from a file.
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `push`.
pub fn run_push(cli: &Cli, args: &PushArgs) -> CmdResult {
    let text = input::read_event_text(args.event.as_deref(), args.file.as_deref())
        .map_err(Failure::usage)?;
    let mut app = super::load_app(cli)?;
    app.lock_for_writing("push")?;
    let event = input::unsubscribe_from_json(&text, app.caps.clock.now_ms(), "cli")
        .map_err(Failure::usage)?;
    let outcome = answer(app.runtime.push(&app.caps, app.settings(), &event))?;
    if args.json {
        print_json(&outcome)?;
    } else {
        println!("{}: {}", event.person_id, describe_push(&outcome));
    }
    // Recorded but not written: say why in the status, so a script notices
    // rejected credentials (3) or a failing org (1).
    Ok(match &outcome {
        crate::api::PushOutcome::QueuedForRetry(q) => sync_error_exit(&q.reason),
        _ => Exit::Ok,
    })
}

/// Runs `resubscribe`.
pub fn run_resubscribe(cli: &Cli, args: &ResubscribeArgs) -> CmdResult {
    let text = input::read_event_text(args.event.as_deref(), args.file.as_deref())
        .map_err(Failure::usage)?;
    let mut app = super::load_app(cli)?;
    app.lock_for_writing("resubscribe")?;
    let event = input::resubscribe_from_json(&text, app.caps.clock.now_ms(), "cli")
        .map_err(Failure::usage)?;
    let outcome = answer(app.runtime.resubscribe(&app.caps, app.settings(), &event))?;
    if args.json {
        print_json(&outcome)?;
    } else {
        println!("{}: {}", event.person_id, describe_resubscribe(&outcome));
    }
    Ok(Exit::Ok)
}
