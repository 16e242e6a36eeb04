//! The `unsubscribe-sync` command line (clap), one module per command.
//!
//! Exit codes: 0 ok; 1 runtime failure; 2 usage or config error; 3 a
//! requirement failed (a `check` item, the org rejected the credentials, a
//! selected field missing or read-only, the sync disabled for `nightly`); 4
//! not found (`audit` of a person the ledger does not hold).

mod artifacts;
mod audit;
#[cfg(feature = "emulator")]
mod bench;
#[cfg(feature = "emulator")]
mod bench_burst;
#[cfg(feature = "emulator")]
mod bench_emulator;
#[cfg(feature = "emulator")]
mod bench_nightly;
#[cfg(feature = "emulator")]
mod bench_stats;
mod check;
#[cfg(feature = "emulator")]
mod demo;
#[cfg(feature = "emulator")]
mod emulator;
mod import;
mod import_lines;
mod init;
mod nightly;
mod output;
mod push;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::{App, CmdResult, Failure};

const AFTER_HELP: &str = "\
Configuration: one TOML file, from --config, else $UNSUBSCRIBE_SYNC_CONFIG, else
./unsubscribe-sync.toml (`unsubscribe-sync init` writes a commented example).
Credentials: UNSUBSCRIBE_SYNC_CLIENT_ID, UNSUBSCRIBE_SYNC_CLIENT_SECRET,
UNSUBSCRIBE_SYNC_REFRESH_TOKEN (and UNSUBSCRIBE_SYNC_WEBHOOK_SECRET for serve), or
a file named by org.credentials_file that only its owner can read (chmod 600).

Exit codes:
  0  ok
  1  runtime failure (the org or the network failed, a component trap, storage)
  2  usage or config error
  3  a requirement failed (check found a problem, the org rejected the
     credentials, a selected field is missing or read-only, sync disabled,
     an unsubscribe recorded with a malformed Salesforce ID)
  4  not found (audit of a person the ledger does not hold)
With --json, an error is printed on stdout as
  {\"error\": {\"kind\": ..., \"message\": ..., \"what-to-do\": ...}}";

/// The bundled host of the unsubscribe-sync WebAssembly component: keeps
/// Salesforce's opt-out fields on Leads and Contacts in step with a sales
/// app's unsubscribes.
#[derive(Parser, Debug)]
#[command(name = "unsubscribe-sync", version, after_help = AFTER_HELP, propagate_version = true)]
pub struct Cli {
    /// The config file [default: $UNSUBSCRIBE_SYNC_CONFIG or ./unsubscribe-sync.toml].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Run another build of the component (a .wasm of the same WIT world)
    /// instead of the embedded one; overrides runtime.component.
    #[arg(long, global = true, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a commented example config file.
    Init(init::InitArgs),
    /// The embedded component: `component export DIR` writes it with its WIT package.
    Component(artifacts::ComponentArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(artifacts::CompletionsArgs),
    /// Print the man page (roff), generated from this command line.
    Man,
    /// Record one unsubscribe and write it to Salesforce at once.
    Push(push::PushArgs),
    /// Release a person's unsubscribe (writes nothing to Salesforce).
    Resubscribe(push::ResubscribeArgs),
    /// Record many unsubscribes (CSV or JSON lines) for the next nightly run.
    Import(import::ImportArgs),
    /// Run (or resume) the nightly reconciliation now.
    Nightly(nightly::NightlyArgs),
    /// The requirements pre-flight: credentials, fields, sync enabled, budget.
    Check(check::CheckArgs),
    /// Ledger size, pending retries and the last nightly report.
    Status(status::StatusArgs),
    /// The audit trail of one person's unsubscribe.
    Audit(audit::AuditArgs),
    /// Run the webhook service, the nightly scheduler and the retry loop.
    Serve(crate::serve::ServeArgs),
    /// Start the bundled Salesforce emulator and show the sync end to end.
    #[cfg(feature = "emulator")]
    Demo(demo::DemoArgs),
    /// Benchmarks (not tests).
    #[cfg(feature = "emulator")]
    Bench(bench::BenchArgs),
    /// Run the bundled Salesforce emulator as a process (used by `bench
    /// nightly` and `bench burst`; the same as the `sf-emulator` binary's main options).
    #[command(hide = true)]
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
}

/// Tells the user what failed: with `--json`, the documented error object on
/// stdout (where the output would have been); otherwise text on stderr.
fn report(f: &Failure, json: bool) {
    if json {
        println!("{}", f.to_json());
    } else {
        eprintln!("error: {}", f.message);
        if let Some(advice) = &f.what_to_do {
            eprintln!("what to do: {advice}");
        }
    }
}

impl Command {
    /// Whether the command was asked for JSON output (`--json`).
    pub fn wants_json(&self) -> bool {
        match self {
            Command::Push(a) => a.json,
            Command::Resubscribe(a) => a.json,
            Command::Import(a) => a.json,
            Command::Nightly(a) => a.json,
            Command::Check(a) => a.json,
            Command::Status(a) => a.json,
            Command::Audit(a) => a.json,
            #[cfg(feature = "emulator")]
            Command::Bench(a) => a.json(),
            _ => false,
        }
    }
}

/// Loads the context of a command from the global options (`--config`,
/// `--component`).
pub(crate) fn load_app(cli: &Cli) -> Result<App, Failure> {
    App::load(cli.config.as_deref(), cli.component.as_deref())
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // A command line clap refuses (an argument not UTF-8, say) with
            // `--json` among the arguments: the documented error object on
            // stdout, as for every other error.
            if e.use_stderr() && json_in_raw_args() {
                let text = e.render().to_string();
                let message = text
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                let failure = Failure::usage(message).with_advice(
                    "correct the command line; `unsubscribe-sync help <command>` shows its options",
                );
                println!("{}", failure.to_json());
                return ExitCode::from(failure.exit.code());
            }
            // clap prints help/version to stdout (exit 0) and usage errors to
            // stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli);
    let json = cli.command.wants_json();
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(f) => {
            report(&f, json);
            f.exit
        }
    };
    ExitCode::from(exit.code())
}

/// Whether `--json` is among the raw arguments (before any `--`), for the
/// command lines clap could not parse.
fn json_in_raw_args() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    match &cli.command {
        Command::Init(a) => init::run(&cli, a),
        Command::Component(a) => artifacts::component(a),
        Command::Completions(a) => artifacts::completions(a),
        Command::Man => artifacts::man(),
        Command::Push(a) => push::run_push(&cli, a),
        Command::Resubscribe(a) => push::run_resubscribe(&cli, a),
        Command::Import(a) => import::run(&cli, a),
        Command::Nightly(a) => nightly::run(&cli, a),
        Command::Check(a) => check::run(&cli, a),
        Command::Status(a) => status::run(&cli, a),
        Command::Audit(a) => audit::run(&cli, a),
        Command::Serve(a) => crate::serve::run(load_app(&cli)?, a),
        #[cfg(feature = "emulator")]
        Command::Demo(a) => demo::run(&cli, a),
        #[cfg(feature = "emulator")]
        Command::Bench(a) => bench::run(&cli, a),
        #[cfg(feature = "emulator")]
        Command::Emulator(a) => emulator::run(a),
    }
}

fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match (cli.verbose, &cli.command) {
        (0, Command::Serve(_)) => "info",
        (0, _) => "warn",
        (1, _) => "info",
        _ => "debug",
    };
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // The HTTP and TLS libraries may print request headers at debug level:
    // they are held at warn whatever RUST_LOG says, so an access token can
    // never reach the log.
    for quiet in [
        "ureq=warn",
        "ureq_proto=warn",
        "rustls=warn",
        "hyper=warn",
        "hyper_util=warn",
    ] {
        if let Ok(d) = quiet.parse() {
            filter = filter.add_directive(d);
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::env::var_os("NO_COLOR").is_none()
                && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        );
    let _ = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
