//! The `unsubscribe-sync` command line (clap), one module per command.
//!
//! Exit codes: 0 ok; 1 runtime failure; 2 usage or config error; 3 a
//! requirement failed (a `check` item, the org rejected the credentials, a
//! selected field missing or read-only, the sync disabled for `nightly`).

mod app;
mod audit;
mod bench;
mod bench_nightly;
mod check;
mod demo;
mod emulator;
mod import;
pub(crate) mod import_lines;
mod init;
pub(crate) mod input;
mod nightly;
mod output;
mod push;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use app::App;
pub use output::{describe_push, describe_resubscribe, describe_sync_error, ts};

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
     credentials, a selected field is missing or read-only, sync disabled)";

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
    Demo(demo::DemoArgs),
    /// Benchmarks (not tests).
    Bench(bench::BenchArgs),
    /// Run the bundled Salesforce emulator as a process (used by `bench
    /// nightly`; the same as the `sf-emulator` binary's main options).
    #[command(hide = true)]
    Emulator(emulator::EmulatorArgs),
}

/// Exit status of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Ok,
    /// 1: runtime failure.
    Runtime,
    /// 2: usage or config error.
    Usage,
    /// 3: a requirement failed.
    Requirement,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Runtime => 1,
            Exit::Usage => 2,
            Exit::Requirement => 3,
        }
    }
}

/// A command's failure: what to print and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// The exit status.
    pub exit: Exit,
    /// The message (one or a few lines, never a secret).
    pub message: String,
}

impl Failure {
    /// A usage or config error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
        }
    }
    /// A runtime failure.
    pub fn runtime(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Runtime,
            message: message.into(),
        }
    }
    /// A failed requirement.
    pub fn requirement(message: impl Into<String>) -> Self {
        Failure {
            exit: Exit::Requirement,
            message: message.into(),
        }
    }
}

impl From<crate::config::ConfigError> for Failure {
    fn from(e: crate::config::ConfigError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<crate::HostError> for Failure {
    fn from(e: crate::HostError) -> Self {
        Failure::runtime(e.to_string())
    }
}

impl From<crate::StorageError> for Failure {
    fn from(e: crate::StorageError) -> Self {
        Failure::runtime(e.to_string())
    }
}

/// What a command returns.
pub type CmdResult = Result<Exit, Failure>;

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to
            // stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(&cli);
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.exit
        }
    };
    ExitCode::from(exit.code())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> CmdResult {
    match &cli.command {
        Command::Init(a) => init::run(&cli, a),
        Command::Push(a) => push::run_push(&cli, a),
        Command::Resubscribe(a) => push::run_resubscribe(&cli, a),
        Command::Import(a) => import::run(&cli, a),
        Command::Nightly(a) => nightly::run(&cli, a),
        Command::Check(a) => check::run(&cli, a),
        Command::Status(a) => status::run(&cli, a),
        Command::Audit(a) => audit::run(&cli, a),
        Command::Serve(a) => crate::serve::run(&cli, a),
        Command::Demo(a) => demo::run(&cli, a),
        Command::Bench(a) => bench::run(&cli, a),
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
