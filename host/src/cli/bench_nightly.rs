//! `bench nightly`: the nightly at scale against the emulator running as a
//! separate process on loopback, side by side with the naive strategy a
//! hand-written script would use (one PATCH per unsubscribe). A benchmark,
//! not a test: figures are printed, never asserted, except that the result
//! in the emulator is verified (every record opted out, and exactly the
//! records that were not yet opted out written).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;
use sf_emulator::{SObject, synthetic_id, synthetic_lead_count};

use super::Cli;
use super::bench_emulator::{EmulatorProcess, calls_by_kind};
use super::output::{Table, print_json};
use crate::app::{CmdResult, Exit, Failure};
use crate::{
    Capabilities, HttpRequest, HttpTransport, Method, NullLog, OrgClient, OrgConfig, Runtime,
    RuntimeOptions, Secret, SqliteStorage, SystemClock, api, config,
};

/// Events per `import` call while loading the ledger.
const IMPORT_BATCH: usize = 2_000;
/// PATCHes the naive strategy is timed on when N is larger.
const NAIVE_SAMPLE: usize = 2_000;

/// Arguments of `bench nightly`.
#[derive(clap::Args, Debug)]
pub struct NightlyBench {
    /// Persons in the org and held unsubscribes in the ledger (half Leads,
    /// half Contacts).
    #[arg(long, default_value_t = 100_000)]
    pub records: usize,
    /// Share of them already opted out in Salesforce.
    #[arg(long, default_value_t = 0.1)]
    pub already_opted_out: f64,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One strategy's figures.
#[derive(Serialize, Debug, Clone, Default)]
pub struct StrategyFigures {
    /// Wall time of the run, in seconds.
    pub wall_s: f64,
    /// Salesforce API calls by kind, as the emulator counted them.
    pub api_calls: Value,
    /// API calls in all.
    pub api_calls_total: u64,
    /// Records written.
    pub records_written: u64,
    /// Peak resident memory of this process during the run, in MiB.
    pub host_peak_rss_mib: Option<f64>,
    /// Peak linear memory of the component, in MiB.
    pub guest_peak_mib: Option<f64>,
    /// How the figures were obtained.
    pub note: String,
}

/// The benchmark's output.
#[derive(Serialize, Debug)]
pub struct NightlyBenchReport {
    /// N.
    pub records: usize,
    /// F.
    pub already_opted_out_fraction: f64,
    /// Records already opted out in the org before the run.
    pub already_opted_out: u64,
    /// Loading the ledger (not part of the nightly), seconds.
    pub import_s: f64,
    /// Ours.
    pub ours: StrategyFigures,
    /// The naive script.
    pub naive: StrategyFigures,
    /// The component's report counts.
    pub report: Value,
    /// Verified in the emulator after our run.
    pub verified: Value,
}

/// Reads this process's peak resident set (VmHWM), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// Resets the peak resident set to the current one (Linux `clear_refs` 5).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn org_client(base_url: &str) -> Result<Arc<OrgClient>, Failure> {
    OrgClient::new(OrgConfig {
        login_url: base_url.to_string(),
        instance_url: Some(base_url.to_string()),
        api_version: config::default_settings().api_version,
        client_id: "emulator-client".into(),
        client_secret: Secret::new("emulator-secret"),
        refresh_token: Secret::new("emulator-refresh-token"),
        timeout: Duration::from_secs(60),
        max_response_bytes: crate::limits::DEFAULT_MAX_RESPONSE_BYTES,
        trusted_ca_pem: None,
    })
    .map(Arc::new)
    .map_err(Failure::runtime)
}

/// The held unsubscribes: one per synthetic record, Leads then Contacts.
fn events(records: usize) -> impl Iterator<Item = api::UnsubscribeEvent> {
    let leads = synthetic_lead_count(records);
    (0..records).map(move |i| {
        let (object, index, tag) = if i < leads {
            (SObject::Lead, i, "L")
        } else {
            (SObject::Contact, i - leads, "C")
        };
        api::UnsubscribeEvent {
            person_id: format!("bench-{tag}{index}"),
            salesforce_id: Some(synthetic_id(object, index as u64)),
            email: None,
            source: "bench".into(),
            occurred_at: Some(1_751_968_800_000),
            received_at: 1_751_968_800_000,
        }
    })
}

/// Runs `bench nightly`.
pub fn run(cli: &Cli, args: &NightlyBench) -> CmdResult {
    if args.records == 0 || !(0.0..=1.0).contains(&args.already_opted_out) {
        return Err(Failure::usage(
            "--records must be at least 1 and --already-opted-out within 0..1",
        ));
    }
    let wasm = match &cli.component {
        Some(p) => std::fs::read(p)
            .map_err(|e| Failure::usage(format!("--component {}: {e}", p.display())))?,
        None => crate::PLUGIN_WASM.to_vec(),
    };
    let dir = tempfile::tempdir().map_err(|e| Failure::runtime(format!("temp dir: {e}")))?;
    let say = |m: &str| {
        if !args.json {
            eprintln!("{m}");
        }
    };
    say(&format!(
        "starting the emulator process with {} records ({}% opted out)...",
        args.records,
        args.already_opted_out * 100.0
    ));
    let emulator = EmulatorProcess::start(args.records, args.already_opted_out, 0)?;
    let already = emulator.count("opted-out-count", "Lead")?
        + emulator.count("opted-out-count", "Contact")?;
    let storage = Arc::new(
        SqliteStorage::open(&dir.path().join("ledger.db"))
            .map_err(|e| Failure::runtime(format!("storage: {e}")))?,
    );
    let org = org_client(&emulator.base_url)?;
    let settings = config::default_settings();
    let options = RuntimeOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..RuntimeOptions::default()
    };
    let caps = Capabilities {
        http: org.clone(),
        storage: storage.clone(),
        clock: Arc::new(SystemClock),
        log: Arc::new(NullLog),
    };

    say("loading the ledger (import)...");
    let loader = Runtime::new(&wasm, options.clone())?;
    let t = Instant::now();
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    for event in events(args.records) {
        batch.push(event);
        if batch.len() == IMPORT_BATCH {
            import(&loader, &caps, &settings, &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        import(&loader, &caps, &settings, &batch)?;
    }
    let import_s = t.elapsed().as_secs_f64();
    drop(loader);

    say("running the nightly...");
    let runtime = Runtime::new(&wasm, options)?;
    emulator.admin("POST", "reset-counts")?;
    reset_peak_rss();
    let t = Instant::now();
    let mut steps = 0u32;
    let report = loop {
        steps += 1;
        match runtime.nightly(&caps, &settings, &api::NightlyOptions { dry_run: false })? {
            Ok(api::NightlyOutcome::Finished(r)) => break r,
            Ok(api::NightlyOutcome::InProgress(p)) => {
                if p.wait_ms > 0 {
                    std::thread::sleep(Duration::from_millis(u64::from(p.wait_ms)));
                }
            }
            Ok(api::NightlyOutcome::Disabled) => {
                return Err(Failure::runtime(
                    "the nightly is disabled in the default settings",
                ));
            }
            Err(e) => {
                return Err(Failure::runtime(format!(
                    "the nightly failed: {}",
                    crate::app::describe_sync_error(&e)
                )));
            }
        }
    };
    let wall_s = t.elapsed().as_secs_f64();
    let host_peak = peak_rss_mib();
    let calls = emulator.admin("GET", "calls")?;
    let stats = runtime.stats();
    let opted_out = emulator.count("opted-out-count", "Lead")?
        + emulator.count("opted-out-count", "Contact")?;
    let written =
        emulator.count("written-count", "Lead")? + emulator.count("written-count", "Contact")?;
    let (api_calls_total, api_calls) = calls_by_kind(&calls);
    let ours = StrategyFigures {
        wall_s,
        api_calls_total,
        api_calls,
        records_written: written,
        host_peak_rss_mib: host_peak,
        guest_peak_mib: Some(stats.peak_guest_memory_bytes as f64 / (1 << 20) as f64),
        note: format!("{steps} component calls; strategy {:?}", report.strategy),
    };
    let verified = serde_json::json!({
        "all_opted_out": opted_out == args.records as u64,
        "opted_out_after": opted_out,
        "written_exactly_the_unset": written == args.records as u64 - already,
        "records_written": written,
        "emulator_pid": emulator.pid(),
    });

    say("timing the naive strategy (one PATCH per unsubscribe)...");
    let naive = naive(org.as_ref(), args.records)?;

    let out = NightlyBenchReport {
        records: args.records,
        already_opted_out_fraction: args.already_opted_out,
        already_opted_out: already,
        import_s,
        ours,
        naive,
        report: serde_json::json!({
            "held": report.held, "already_opted_out": report.already_opted_out,
            "written": report.written, "reasserted": report.reasserted,
            "redirected": report.redirected, "failed": report.failed,
            "api_calls": report.api_calls, "strategy": report.strategy,
        }),
        verified,
    };
    if args.json {
        print_json(&out)?;
    } else {
        print_table(&out);
    }
    Ok(Exit::Ok)
}

fn import(
    rt: &Runtime,
    caps: &Capabilities,
    settings: &api::Settings,
    batch: &[api::UnsubscribeEvent],
) -> Result<(), Failure> {
    match rt.import(caps, settings, batch)? {
        Ok(summary) if summary.problems.is_empty() => Ok(()),
        Ok(summary) => Err(Failure::runtime(format!(
            "import problems: {:?}",
            summary.problems.first()
        ))),
        Err(e) => Err(Failure::runtime(format!(
            "import failed: {}",
            crate::app::describe_sync_error(&e)
        ))),
    }
}

/// One PATCH per unsubscribe, as a script would do it, timed on a sample and
/// extrapolated when N is larger.
fn naive(org: &OrgClient, records: usize) -> Result<StrategyFigures, Failure> {
    let sample = records.min(NAIVE_SAMPLE);
    let path_of = |e: &api::UnsubscribeEvent| {
        let id = e.salesforce_id.as_deref().unwrap_or_default();
        let object = if id.starts_with("00Q") {
            "Lead"
        } else {
            "Contact"
        };
        format!(
            "/services/data/v{}/sobjects/{object}/{id}",
            config::default_settings().api_version
        )
    };
    // Spread the sample over Leads and Contacts.
    let step = (records / sample).max(1);
    let t = Instant::now();
    let mut sent = 0usize;
    for e in events(records).step_by(step).take(sample) {
        let response = org
            .send(HttpRequest {
                method: Method::Patch,
                path: path_of(&e),
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: br#"{"HasOptedOutOfEmail":true}"#.to_vec(),
                timeout: Duration::from_secs(60),
            })
            .map_err(|e| Failure::runtime(format!("naive PATCH: {e}")))?;
        if response.status != 204 {
            return Err(Failure::runtime(format!(
                "naive PATCH answered {}",
                response.status
            )));
        }
        sent += 1;
    }
    let sample_s = t.elapsed().as_secs_f64();
    let per_call = sample_s / sent as f64;
    let extrapolated = sent < records;
    Ok(StrategyFigures {
        wall_s: per_call * records as f64,
        api_calls: serde_json::json!({ "sobject_patch": records }),
        api_calls_total: records as u64,
        records_written: records as u64,
        host_peak_rss_mib: None,
        guest_peak_mib: None,
        note: if extrapolated {
            format!(
                "extrapolated: {sent} PATCHes timed ({:.3} ms each, {sample_s:.2} s), times N; no read, so already opted-out records are written too",
                per_call * 1e3
            )
        } else {
            format!("all {sent} PATCHes run; no read, so already opted-out records are written too")
        },
    })
}

fn print_table(r: &NightlyBenchReport) {
    println!(
        "nightly at N = {} held unsubscribes, {} ({:.0}%) already opted out in Salesforce; ledger import took {:.1} s (not counted)",
        r.records,
        r.already_opted_out,
        r.already_opted_out_fraction * 100.0,
        r.import_s
    );
    let mut t = Table::new(&["", "ours", "naive (1 PATCH each)", "naive / ours"]);
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.1}x", a / b)
        } else {
            "-".into()
        }
    };
    let o = &r.ours;
    let n = &r.naive;
    t.row(vec![
        "wall time".into(),
        format!("{:.2} s", o.wall_s),
        format!("{:.2} s", n.wall_s),
        ratio(n.wall_s, o.wall_s),
    ]);
    t.row(vec![
        "API calls".into(),
        o.api_calls_total.to_string(),
        n.api_calls_total.to_string(),
        ratio(n.api_calls_total as f64, o.api_calls_total as f64),
    ]);
    t.row(vec![
        "records written".into(),
        o.records_written.to_string(),
        n.records_written.to_string(),
        ratio(n.records_written as f64, o.records_written as f64),
    ]);
    t.row(vec![
        "host peak RSS".into(),
        o.host_peak_rss_mib
            .map_or("-".into(), |m| format!("{m:.0} MiB")),
        "-".into(),
        "-".into(),
    ]);
    t.row(vec![
        "guest peak memory".into(),
        o.guest_peak_mib
            .map_or("-".into(), |m| format!("{m:.1} MiB")),
        "-".into(),
        "-".into(),
    ]);
    print!("{}", t.render());
    println!("our calls by kind: {}", r.ours.api_calls);
    println!("our run: {}", r.ours.note);
    println!("naive: {}", r.naive.note);
    println!("report: {}", r.report);
    println!("verified in the emulator: {}", r.verified);
}
