//! The hidden `emulator` command: the bundled Salesforce emulator as a
//! process of its own, so a benchmark can measure the host without the
//! emulator's memory and threads in the same process.

use std::io::Read;

use sf_emulator::{Emulator, EmulatorConfig, FaultConfig, OrgSeed, synthetic_org};

use crate::app::{CmdResult, Exit, Failure};

/// Arguments of `emulator`.
#[derive(clap::Args, Debug)]
pub struct EmulatorArgs {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// A synthetic org of N records (half Leads, half Contacts).
    #[arg(long, default_value_t = 0)]
    pub synthetic: usize,
    /// Share of the synthetic records already opted out.
    #[arg(long, default_value_t = 0.0)]
    pub opted_out_fraction: f64,
    /// DailyApiRequests Max.
    #[arg(long, default_value_t = 100_000)]
    pub daily_api_limit: u64,
    /// Time a closed Bulk job takes to complete, in ms.
    #[arg(long, default_value_t = 0)]
    pub bulk_delay_ms: u64,
    /// Latency added to every API request, in ms.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Serve HTTPS with a certificate signed by a CA made for this run.
    #[arg(long)]
    pub tls: bool,
    /// With --tls: write the CA certificate (PEM) here, for `org.ca_file`.
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub ca_out: Option<std::path::PathBuf>,
}

/// Runs the emulator until stdin closes (the parent holds the pipe), after
/// printing `listening on <base url>` on stdout.
pub fn run(args: &EmulatorArgs) -> CmdResult {
    let seed = if args.synthetic > 0 {
        synthetic_org(args.synthetic, args.opted_out_fraction, 0)
    } else {
        OrgSeed::default()
    };
    let config = EmulatorConfig {
        port: args.port,
        daily_api_limit: args.daily_api_limit,
        bulk_processing_delay_ms: args.bulk_delay_ms,
        faults: FaultConfig {
            latency_ms: args.latency_ms,
            ..FaultConfig::default()
        },
        tls: args.tls,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config, seed)
        .map_err(|e| Failure::runtime(format!("the emulator did not start: {e}")))?;
    if let (Some(path), Some(pem)) = (&args.ca_out, emulator.ca_pem()) {
        // Before "listening on": the parent reads the file once it sees that.
        std::fs::write(path, pem)
            .map_err(|e| Failure::runtime(format!("writing the CA to {}: {e}", path.display())))?;
    }
    println!("listening on {}", emulator.base_url());
    // Serve until the parent closes our stdin (or dies).
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    emulator.shutdown();
    Ok(Exit::Ok)
}
