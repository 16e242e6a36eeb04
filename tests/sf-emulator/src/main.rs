//! `sf-emulator`: run the Salesforce emulator as its own process.
//!
//! Prints `listening on http://127.0.0.1:PORT` (`https://` with `--tls`) on stdout once ready, then serves until
//! SIGTERM/SIGINT (or stdin closes, with `--exit-on-stdin-close`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use sf_emulator::{Emulator, EmulatorConfig, FaultConfig, OrgSeed, synthetic_org};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "sf-emulator",
    version,
    about = "A local Salesforce REST/Bulk API emulator on 127.0.0.1"
)]
struct Args {
    /// Seed the org from this JSON file (the org.json format).
    #[arg(long, value_name = "FILE")]
    seed: Option<PathBuf>,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Generate a synthetic org of N records (half Leads, half Contacts), added after --seed.
    #[arg(long, value_name = "N")]
    synthetic: Option<usize>,
    /// Share of synthetic records with HasOptedOutOfEmail checked.
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    opted_out_fraction: f64,
    /// Seed of the synthetic org's opt-out flags.
    #[arg(long, default_value_t = 0, value_name = "S")]
    seed_rng: u64,
    /// DailyApiRequests Max.
    #[arg(long, default_value_t = 100_000)]
    daily_api_limit: u64,
    /// Connected-app client id.
    #[arg(long, default_value = "emulator-client")]
    client_id: String,
    /// Connected-app client secret.
    #[arg(long, default_value = "emulator-secret")]
    client_secret: String,
    /// Refresh token accepted by the token endpoint.
    #[arg(long, default_value = "emulator-refresh-token")]
    refresh_token: String,
    /// Fault RNG seed.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Share of API requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    rate_5xx: f64,
    /// Share of API requests whose connection is dropped without an answer.
    #[arg(long, default_value_t = 0.0)]
    rate_drop: f64,
    /// Share of record writes failing with UNABLE_TO_LOCK_ROW.
    #[arg(long, default_value_t = 0.0)]
    rate_lock: f64,
    /// Expire every access token after N authenticated API calls.
    #[arg(long, value_name = "N")]
    expire_token_every: Option<u64>,
    /// Latency added to every API request, in ms.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Time a closed Bulk job takes to complete, in ms (0 = complete at the first poll).
    #[arg(long, default_value_t = 0)]
    bulk_delay_ms: u64,
    /// Serve HTTPS with a certificate signed by a CA made for this run.
    #[arg(long)]
    tls: bool,
    /// With --tls: write the CA certificate (PEM) here, for the client to trust.
    #[arg(long, value_name = "FILE", requires = "tls")]
    ca_out: Option<PathBuf>,
    /// Exit when stdin reaches end of file (for a parent process that holds the pipe).
    #[arg(long)]
    exit_on_stdin_close: bool,
}

fn load_seed(args: &Args) -> Result<OrgSeed> {
    let mut seed = match &args.seed {
        Some(path) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_slice::<OrgSeed>(&text)
                .with_context(|| format!("parsing {}", path.display()))?
        }
        None => OrgSeed::default(),
    };
    if let Some(n) = args.synthetic {
        seed.records
            .extend(synthetic_org(n, args.opted_out_fraction, args.seed_rng).records);
    }
    Ok(seed)
}

async fn wait_for_exit(exit_on_stdin_close: bool) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
    if exit_on_stdin_close {
        std::thread::spawn(move || {
            let mut sink = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            let _ = tx.blocking_send(());
        });
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).ok();
        let term_fut = async {
            match term.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term_fut => {}
            _ = rx.recv(), if exit_on_stdin_close => {}
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = rx.recv(), if exit_on_stdin_close => {}
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sf-emulator: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let seed = load_seed(args)?;
    let config = EmulatorConfig {
        port: args.port,
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
        refresh_token: args.refresh_token.clone(),
        daily_api_limit: args.daily_api_limit,
        faults: FaultConfig {
            seed: args.fault_seed,
            rate_5xx: args.rate_5xx,
            rate_drop: args.rate_drop,
            rate_lock: args.rate_lock,
            expire_token_every: args.expire_token_every,
            latency_ms: args.latency_ms,
        },
        bulk_processing_delay_ms: args.bulk_delay_ms,
        tls: args.tls,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, seed).context("starting the emulator")?;
    if let (Some(path), Some(pem)) = (&args.ca_out, emulator.ca_pem()) {
        // Written before "listening on" is printed, so a parent that waits
        // for that line finds the file complete.
        std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))?;
    }
    eprintln!(
        "sf-emulator: {} records loaded in {:.2?}",
        emulator.record_count(),
        started.elapsed()
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", emulator.base_url())?;
        out.flush()?;
    }
    let waiter = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building the signal runtime")?;
    waiter.block_on(wait_for_exit(args.exit_on_stdin_close));
    emulator.shutdown();
    Ok(())
}
