//! `bench push`: the per-push runtime overhead (instantiate, call, return;
//! HTTP answered in-process, in-memory storage), with the precompiled cache,
//! `InstancePre` and the pooling allocator, side by side with a naive
//! compile-and-instantiate-per-call baseline. A benchmark, not a test.

use std::sync::Arc;
use std::time::Instant;

use super::Cli;
use super::bench_stats::series;
use super::output::{Table, print_json};
use crate::app::{CmdResult, Exit, Failure};
use crate::{
    Capabilities, MemoryStorage, NullLog, Runtime, RuntimeOptions, StaticResponder, SystemClock,
    api, config,
};

/// Arguments of `bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The benchmark.
    #[command(subcommand)]
    pub which: Which,
}

impl BenchArgs {
    /// Whether the benchmark was asked for JSON output.
    pub fn json(&self) -> bool {
        match &self.which {
            Which::Push(a) => a.json,
            Which::Nightly(a) => a.json,
            Which::Burst(a) => a.json,
        }
    }
}

/// The benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum Which {
    /// Per-push runtime overhead: cached + InstancePre + pooling vs. naive.
    #[command(
        after_help = "Each push instantiates the component in a fresh store, calls `push` \
(which records the unsubscribe in an in-memory store and PATCHes the Lead through an in-process \
responder answering 204) and returns. The naive baseline compiles the component, builds an engine \
and instantiates it for every push: far slower, so it is sampled fewer times. Build with --release."
    )]
    Push(PushBench),
    /// The nightly at scale against the emulator in a separate process, side
    /// by side with one PATCH per unsubscribe.
    #[command(
        after_help = "Starts the bundled emulator as a separate process on loopback with N synthetic persons (a fraction F already opted out), loads N held unsubscribes into a fresh SQLite ledger, runs the nightly to the end, and reports wall time, Salesforce API calls by kind (as the emulator counted them), records written, this process's peak RSS and the component's peak memory; then times one PATCH per unsubscribe on a sample and extrapolates to N. Verifies in the emulator that every record is opted out and that exactly the records not yet opted out were written. Build with --release."
    )]
    Nightly(super::bench_nightly::NightlyBench),
    /// A burst of signed unsubscribes through `serve` against the emulator
    /// with real latency, batched side by side with one PATCH per event.
    #[command(
        after_help = "For each path (server.batch_max = 200, then 1): starts the bundled emulator as a separate process with --latency-ms added to every API call and N + 1 synthetic persons, and `serve` (this executable) as another with a fresh config, ledger and webhook secret; sends N signed unsubscribes from C keep-alive connections, timing each request; polls the emulator until every record is opted out; then times one lone event on the quiet system until its record is opted out. Reports the time from the first request until all are opted out, API calls by kind (as the emulator counted them), accepted events per second, p50 and p99 request latency and the lone event's latency, side by side with the ratios. The old path runs on --old-events and is extrapolated linearly to N. Verifies that every request was answered 202 and every record opted out. Build with --release."
    )]
    Burst(super::bench_burst::BurstBench),
}

/// Arguments of `bench push`.
#[derive(clap::Args, Debug)]
pub struct PushBench {
    /// Pushes measured on the fast path.
    #[arg(short = 'n', long, default_value_t = 20_000)]
    pub pushes: usize,
    /// Pushes measured on the naive path.
    #[arg(long, default_value_t = 10)]
    pub naive: usize,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

fn caps() -> Capabilities {
    Capabilities {
        http: Arc::new(StaticResponder::new(204, Vec::new())),
        storage: Arc::new(MemoryStorage::new()),
        clock: Arc::new(SystemClock),
        log: Arc::new(NullLog),
    }
}

fn event(i: usize) -> api::UnsubscribeEvent {
    api::UnsubscribeEvent {
        person_id: format!("bench-{i}"),
        salesforce_id: Some("00Q5e00000AbCdEEAV".into()),
        email: None,
        source: "bench".into(),
        occurred_at: Some(1_751_968_800_000 + i as i64),
        received_at: 1_751_968_800_000 + i as i64,
    }
}

fn outcome_kind(r: &Result<api::PushOutcome, api::SyncError>) -> String {
    match r {
        Ok(api::PushOutcome::Written(_)) => "written".into(),
        Ok(api::PushOutcome::SkippedNoSalesforceId) => "skipped".into(),
        Ok(api::PushOutcome::QueuedForRetry(_)) => "queued".into(),
        Ok(api::PushOutcome::Duplicate) => "duplicate".into(),
        Ok(api::PushOutcome::Stale(_)) => "stale".into(),
        Err(e) => format!("error: {}", crate::app::describe_sync_error(e)),
    }
}

/// Runs `bench`.
pub fn run(cli: &Cli, args: &BenchArgs) -> CmdResult {
    match &args.which {
        Which::Push(p) => push(cli, p),
        Which::Nightly(n) => super::bench_nightly::run(cli, n),
        Which::Burst(b) => super::bench_burst::run(cli, b),
    }
}

fn push(cli: &Cli, args: &PushBench) -> CmdResult {
    if args.pushes == 0 || args.naive == 0 {
        return Err(Failure::usage("--pushes and --naive must be at least 1"));
    }
    let wasm = match &cli.component {
        Some(p) => std::fs::read(p)
            .map_err(|e| Failure::usage(format!("--component {}: {e}", p.display())))?,
        None => crate::PLUGIN_WASM.to_vec(),
    };
    let settings = config::default_settings();
    let cache = std::env::temp_dir().join(format!("unsubscribe-sync-bench-{}", std::process::id()));
    let fast_options = RuntimeOptions {
        cache_dir: Some(cache.clone()),
        ..RuntimeOptions::default()
    };
    // First start: compile and store the artifact; second: load it.
    let t = Instant::now();
    drop(Runtime::new(&wasm, fast_options.clone())?);
    let compile_and_store = t.elapsed();
    let t = Instant::now();
    let rt = Runtime::new(&wasm, fast_options)?;
    let load_cached = t.elapsed();
    let _ = std::fs::remove_dir_all(&cache);

    let caps = caps();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    // Warm up (page in the artifact, fill the pool's slots).
    for i in 0..200.min(args.pushes) {
        let _ = rt.push(&caps, &settings, &event(1_000_000_000 + i))?;
    }
    let mut push_times = Vec::with_capacity(args.pushes);
    for i in 0..args.pushes {
        let e = event(i);
        let t = Instant::now();
        let r = rt.push(&caps, &settings, &e)?;
        push_times.push(t.elapsed());
        *outcomes.entry(outcome_kind(&r)).or_default() += 1;
    }
    // The floor: instantiate, call an export that touches no import, return.
    let mut floor = Vec::with_capacity(args.pushes);
    for _ in 0..args.pushes {
        let t = Instant::now();
        let _ = rt.validate_settings(&caps, &settings)?;
        floor.push(t.elapsed());
    }
    // Naive: a fresh engine, compile, link, instantiate, call, for every push.
    let naive_options = RuntimeOptions {
        cache_dir: None,
        pooling: false,
        ..RuntimeOptions::default()
    };
    let naive_caps = caps.clone();
    let mut naive = Vec::with_capacity(args.naive);
    for i in 0..args.naive {
        let e = event(2_000_000_000 + i);
        let t = Instant::now();
        let fresh = Runtime::new(&wasm, naive_options.clone())?;
        let _ = fresh.push(&naive_caps, &settings, &e)?;
        naive.push(t.elapsed());
    }

    let fast = series(
        "push: precompiled cache + InstancePre + pooling",
        push_times,
    );
    let floor = series(
        "validate-settings (no imports): the instantiate+call floor",
        floor,
    );
    let slow = series("push: naive compile + instantiate per call", naive);
    let ratio = slow.median_us / fast.median_us;
    let stats = rt.stats();
    let target_us = 20.0;
    if args.json {
        print_json(&serde_json::json!({
            "fast": fast, "floor": floor, "naive": slow, "ratio_naive_over_fast": ratio,
            "target_median_us": target_us, "meets_target": fast.median_us <= target_us,
            "outcomes": outcomes, "pooling": stats.pooling,
            "compile_and_store_ms": compile_and_store.as_secs_f64() * 1e3,
            "load_cached_ms": load_cached.as_secs_f64() * 1e3,
            "peak_guest_memory_bytes": stats.peak_guest_memory_bytes,
        }))?;
        return Ok(Exit::Ok);
    }
    let mut t = Table::new(&["series", "samples", "median", "p90", "p99", "mean"]);
    for s in [&fast, &floor, &slow] {
        let f = |x: f64| {
            if x >= 10_000.0 {
                format!("{:.1} ms", x / 1000.0)
            } else {
                format!("{x:.1} us")
            }
        };
        t.row(vec![
            s.name.clone(),
            s.samples.to_string(),
            f(s.median_us),
            f(s.p90_us),
            f(s.p99_us),
            f(s.mean_us),
        ]);
    }
    print!("{}", t.render());
    println!("ratio of medians (naive / fast): {ratio:.0}x");
    println!(
        "target: median at most {target_us} us per push: {}",
        if fast.median_us <= target_us {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "one-off: compile and store the artifact {:.0} ms; load it from the cache {:.1} ms; pooling allocator: {}",
        compile_and_store.as_secs_f64() * 1e3,
        load_cached.as_secs_f64() * 1e3,
        if stats.pooling {
            "on"
        } else {
            "off (not available here)"
        }
    );
    println!(
        "peak guest memory: {} KiB",
        stats.peak_guest_memory_bytes / 1024
    );
    let summary: Vec<String> = outcomes.iter().map(|(k, v)| format!("{v} {k}")).collect();
    println!("push outcomes: {}", summary.join(", "));
    if !outcomes.contains_key("written") {
        println!("note: no push was written: the timings do not cover a real push");
    }
    Ok(Exit::Ok)
}
