//! `bench burst`: a burst of signed unsubscribes through `serve` running as
//! its own process, against the emulator in another process with real
//! latency on every API call, with batching (`server.batch_max = 200`) side
//! by side with the old path (`server.batch_max = 1`, one PATCH per event).
//! A benchmark, not a test: figures are printed, never asserted, except that
//! nothing was lost (every request answered 202, every record opted out in
//! the emulator).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sf_emulator::{SObject, synthetic_id, synthetic_lead_count};
use sha2::Sha256;

use super::Cli;
use super::bench_emulator::{EmulatorProcess, calls_by_kind};
use super::bench_stats::{Series, series};
use super::output::{Table, print_json};
use crate::app::{CmdResult, Exit, Failure};

/// The webhook secret `serve` is started with.
const WEBHOOK_SECRET: &str = "bench-burst-webhook-secret-0123456789";
/// How often the drain is polled in the emulator.
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// How often the lone event's record is polled in the emulator.
const LONE_POLL: Duration = Duration::from_millis(5);
/// Quiet time after the burst drained, before the lone event.
const QUIET: Duration = Duration::from_millis(500);

/// Arguments of `bench burst`.
#[derive(clap::Args, Debug)]
pub struct BurstBench {
    /// Unsubscribes in the burst (half Leads, half Contacts).
    #[arg(long, default_value_t = 5_000)]
    pub events: usize,
    /// Concurrent keep-alive connections sending them.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Latency the emulator adds to every API call, in ms.
    #[arg(long, default_value_t = 100)]
    pub latency_ms: u64,
    /// Unsubscribes sent on the old path (`server.batch_max = 1`); its time
    /// and calls are extrapolated linearly to --events when fewer.
    #[arg(long, default_value_t = 500)]
    pub old_events: usize,
    /// Run only the batched path.
    #[arg(long)]
    pub skip_old: bool,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One path's figures.
#[derive(Serialize, Debug, Clone)]
pub struct PathFigures {
    /// `server.batch_max`.
    pub batch_max: usize,
    /// Unsubscribes sent.
    pub events: usize,
    /// Time from the first request until every record was opted out in the
    /// emulator, in seconds (measured on `events`).
    pub drain_s: f64,
    /// The same at the burst's N: `drain_s` scaled linearly when fewer
    /// events were sent.
    pub drain_s_at_n: f64,
    /// Salesforce API calls by kind during the burst, as the emulator
    /// counted them.
    pub api_calls: Value,
    /// API calls in all during the burst.
    pub api_calls_total: u64,
    /// The same at the burst's N (scaled linearly when fewer were sent).
    pub api_calls_total_at_n: f64,
    /// Requests answered 202 per second of intake (first request to last
    /// answer).
    pub accepted_per_s: f64,
    /// Request latency (send to answer), in microseconds.
    pub request_latency: Series,
    /// Answers by status (0: no answer).
    pub statuses: BTreeMap<u16, usize>,
    /// One lone event on the quiet system: sent until its record is opted
    /// out in the emulator, in ms.
    pub lone_event_ms: f64,
    /// Records opted out in the emulator after the burst.
    pub opted_out: u64,
    /// Nothing lost: every request 202, every record opted out.
    pub nothing_lost: bool,
    /// Whether `drain_s_at_n` and `api_calls_total_at_n` are extrapolated.
    pub extrapolated: bool,
}

/// The benchmark's output.
#[derive(Serialize, Debug)]
pub struct BurstReport {
    /// N.
    pub events: usize,
    /// C.
    pub connections: usize,
    /// L.
    pub latency_ms: u64,
    /// `server.batch_max = 200`.
    pub batched: PathFigures,
    /// `server.batch_max = 1`, when run.
    pub old: Option<PathFigures>,
}

/// `serve` (this executable) as a child process with a fresh config and
/// ledger in a temp dir; killed when dropped.
struct ServeProcess {
    child: Child,
    base_url: String,
    _dir: tempfile::TempDir,
}

impl ServeProcess {
    /// Writes a config pointing at `emulator_url` with `batch_max`, starts
    /// `serve` on a free loopback port and waits until it listens.
    fn start(emulator_url: &str, batch_max: usize) -> Result<Self, Failure> {
        let dir = tempfile::tempdir().map_err(|e| Failure::runtime(format!("temp dir: {e}")))?;
        let config = write_config(dir.path(), emulator_url, batch_max)?;
        let log = std::fs::File::create(dir.path().join("serve.log"))
            .map_err(|e| Failure::runtime(format!("serve log: {e}")))?;
        let exe = std::env::current_exe()
            .map_err(|e| Failure::runtime(format!("cannot find this executable: {e}")))?;
        let mut child = Command::new(exe)
            .current_dir(dir.path())
            .env_remove("UNSUBSCRIBE_SYNC_CREDENTIALS_FILE")
            .env("UNSUBSCRIBE_SYNC_CLIENT_ID", "emulator-client")
            .env("UNSUBSCRIBE_SYNC_CLIENT_SECRET", "emulator-secret")
            .env("UNSUBSCRIBE_SYNC_REFRESH_TOKEN", "emulator-refresh-token")
            .env("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET", WEBHOOK_SECRET)
            .env("RUST_LOG", "warn")
            .arg("--config")
            .arg(&config)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(|e| Failure::runtime(format!("cannot start serve: {e}")))?;
        let stdout = child.stdout.take().expect("piped");
        let base_url = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("listening on ")
                    .map(|u| u.trim().to_string())
            });
        match base_url {
            Some(base_url) => Ok(ServeProcess {
                child,
                base_url,
                _dir: dir,
            }),
            None => {
                let _ = child.kill();
                let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
                Err(Failure::runtime(format!("serve did not start:\n{log}")))
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh config: the emulator's org, a ledger and a component cache in
/// `dir`, `server.batch_max`.
fn write_config(dir: &Path, emulator_url: &str, batch_max: usize) -> Result<String, Failure> {
    let path = dir.join("unsubscribe-sync.toml");
    let text = format!(
        "[org]\nlogin_url = \"{emulator_url}\"\n\n[storage]\npath = \"{}\"\n\n[runtime]\ncache_dir = \"{}\"\n\n[server]\nbatch_max = {batch_max}\n",
        dir.join("ledger.db").display(),
        dir.join("cache").display(),
    );
    std::fs::write(&path, text).map_err(|e| Failure::runtime(format!("config: {e}")))?;
    Ok(path.display().to_string())
}

/// Person `i` of an org of `total` synthetic records (Leads first): its
/// webhook body and its Salesforce ID.
fn person(total: usize, i: usize) -> (String, String) {
    let leads = synthetic_lead_count(total);
    let (object, index, tag) = if i < leads {
        (SObject::Lead, i, "L")
    } else {
        (SObject::Contact, i - leads, "C")
    };
    let id = synthetic_id(object, index as u64);
    let body =
        format!(r#"{{"person_id":"burst-{tag}{index}","salesforce_id":"{id}","source":"bench"}}"#);
    (body, id)
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
fn signature(timestamp: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A keep-alive agent that returns every status as an answer.
fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

/// Sends one signed unsubscribe; its status (0: no answer).
fn send(agent: &ureq::Agent, url: &str, body: &str) -> u16 {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    agent
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Timestamp", &ts.to_string())
        .header("X-Signature", &signature(ts, body))
        .send(body.as_bytes())
        .map(|mut r| {
            let _ = r.body_mut().read_to_string();
            r.status().as_u16()
        })
        .unwrap_or(0)
}

/// What the senders saw.
struct Intake {
    latencies: Vec<Duration>,
    statuses: BTreeMap<u16, usize>,
    /// First request to last answer.
    elapsed: Duration,
}

/// Sends `bodies` from `connections` threads, one agent (one keep-alive
/// connection) each, taking the next body as each answer comes.
fn send_burst(url: &str, bodies: &[String], connections: usize) -> Intake {
    let next = AtomicUsize::new(0);
    let seen = Mutex::new((Vec::with_capacity(bodies.len()), BTreeMap::new()));
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..connections {
            scope.spawn(|| {
                let agent = agent();
                let mut mine = Vec::new();
                while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let t = Instant::now();
                    let status = send(&agent, url, body);
                    mine.push((t.elapsed(), status));
                }
                let mut seen = seen.lock().expect("no sender panics");
                for (latency, status) in mine {
                    seen.0.push(latency);
                    *seen.1.entry(status).or_insert(0) += 1;
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let (latencies, statuses) = seen.into_inner().expect("no sender panics");
    Intake {
        latencies,
        statuses,
        elapsed,
    }
}

/// Records opted out in the emulator.
fn opted_out(emulator: &EmulatorProcess) -> Result<u64, Failure> {
    Ok(
        emulator.count("opted-out-count", "Lead")?
            + emulator.count("opted-out-count", "Contact")?,
    )
}

/// Polls the emulator until `expected` records are opted out or `within`
/// passed; the count seen last.
fn wait_opted_out(
    emulator: &EmulatorProcess,
    expected: u64,
    within: Duration,
) -> Result<u64, Failure> {
    let started = Instant::now();
    loop {
        let n = opted_out(emulator)?;
        if n >= expected || started.elapsed() > within {
            return Ok(n);
        }
        std::thread::sleep(DRAIN_POLL);
    }
}

/// Whether record `id` is opted out in the emulator.
fn is_opted_out(emulator: &EmulatorProcess, id: &str) -> Result<bool, Failure> {
    Ok(
        emulator.admin("GET", &format!("record/{id}"))?["HasOptedOutOfEmail"]
            .as_bool()
            .unwrap_or(false),
    )
}

/// Sends one event and times it until its record is opted out (polled every
/// 5 ms); `None` if it was refused or not written within `within`.
fn lone_event(
    emulator: &EmulatorProcess,
    url: &str,
    body: &str,
    id: &str,
    within: Duration,
) -> Result<Option<Duration>, Failure> {
    let agent = agent();
    let t = Instant::now();
    if send(&agent, url, body) != 202 {
        return Ok(None);
    }
    while t.elapsed() < within {
        if is_opted_out(emulator, id)? {
            return Ok(Some(t.elapsed()));
        }
        std::thread::sleep(LONE_POLL);
    }
    Ok(None)
}

/// Runs one path: a fresh emulator (`events` + 1 records, the last for the
/// lone event) and `serve` with `batch_max`; the burst, the drain, the lone
/// event. `n` is the burst's full size, for extrapolation.
fn run_path(
    args: &BurstBench,
    batch_max: usize,
    events: usize,
    say: &dyn Fn(&str),
) -> Result<PathFigures, Failure> {
    let total = events + 1;
    say(&format!(
        "batch_max = {batch_max}: starting the emulator ({total} records, {} ms latency) and serve...",
        args.latency_ms
    ));
    let emulator = EmulatorProcess::start(total, 0.0, args.latency_ms)?;
    let serve = ServeProcess::start(&emulator.base_url, batch_max)?;
    let url = format!("{}/v1/unsubscribes", serve.base_url);
    let people: Vec<(String, String)> = (0..total).map(|i| person(total, i)).collect();
    let bodies: Vec<String> = people[..events].iter().map(|p| p.0.clone()).collect();
    emulator.admin("POST", "reset-counts")?;

    say(&format!(
        "batch_max = {batch_max}: sending {events} unsubscribes from {} connections...",
        args.connections
    ));
    let started = Instant::now();
    let intake = send_burst(&url, &bodies, args.connections);
    // Generous: the old path needs about one latency per event.
    let within = Duration::from_secs(60)
        + Duration::from_millis(args.latency_ms + 50)
            * u32::try_from(events).unwrap_or(u32::MAX)
            * 2;
    let opted = wait_opted_out(&emulator, events as u64, within)?;
    let drain = started.elapsed();
    let calls = emulator.admin("GET", "calls")?;

    say(&format!("batch_max = {batch_max}: the lone event..."));
    std::thread::sleep(QUIET);
    let (lone_body, lone_id) = &people[events];
    let lone = lone_event(
        &emulator,
        &url,
        lone_body,
        lone_id,
        Duration::from_secs(30) + Duration::from_millis(args.latency_ms * 10),
    )?;
    drop(serve);

    let accepted = intake.statuses.get(&202).copied().unwrap_or(0);
    let (api_calls_total, api_calls) = calls_by_kind(&calls);
    let scale = args.events as f64 / events as f64;
    Ok(PathFigures {
        batch_max,
        events,
        drain_s: drain.as_secs_f64(),
        drain_s_at_n: drain.as_secs_f64() * scale,
        api_calls,
        api_calls_total,
        api_calls_total_at_n: api_calls_total as f64 * scale,
        accepted_per_s: accepted as f64 / intake.elapsed.as_secs_f64(),
        request_latency: series("request latency", intake.latencies),
        statuses: intake.statuses,
        lone_event_ms: lone.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3),
        opted_out: opted,
        nothing_lost: accepted == events && opted == events as u64 && lone.is_some(),
        extrapolated: events < args.events,
    })
}

/// Runs `bench burst`.
pub fn run(_cli: &Cli, args: &BurstBench) -> CmdResult {
    if args.events == 0 || args.connections == 0 || args.old_events == 0 {
        return Err(Failure::usage(
            "--events, --connections and --old-events must be at least 1",
        ));
    }
    let say = |m: &str| {
        if !args.json {
            eprintln!("{m}");
        }
    };
    let batched = run_path(args, 200, args.events, &say)?;
    let old = if args.skip_old {
        None
    } else {
        Some(run_path(args, 1, args.old_events.min(args.events), &say)?)
    };
    let lost = !batched.nothing_lost || old.as_ref().is_some_and(|o| !o.nothing_lost);
    let report = BurstReport {
        events: args.events,
        connections: args.connections,
        latency_ms: args.latency_ms,
        batched,
        old,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_table(&report);
    }
    if lost {
        return Err(Failure::runtime(
            "something was lost: a request not answered 202 or a record not opted out",
        ));
    }
    Ok(Exit::Ok)
}

/// `a / b`, or `-`.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.1}x", a / b)
    } else {
        "-".into()
    }
}

/// The table's rows: label, value on one path, the number compared.
fn rows(p: &PathFigures) -> Vec<(&'static str, String, f64)> {
    let ms = |us: f64| us / 1e3;
    let mark = if p.extrapolated { " (extrap.)" } else { "" };
    vec![
        ("events sent", p.events.to_string(), f64::NAN),
        (
            "first request -> all opted out, at N",
            format!("{:.2} s{mark}", p.drain_s_at_n),
            p.drain_s_at_n,
        ),
        (
            "API calls, at N",
            format!("{:.0}{mark}", p.api_calls_total_at_n),
            p.api_calls_total_at_n,
        ),
        (
            "accepted / s",
            format!("{:.0}", p.accepted_per_s),
            p.accepted_per_s,
        ),
        (
            "request p50",
            format!("{:.1} ms", ms(p.request_latency.median_us)),
            p.request_latency.median_us,
        ),
        (
            "request p99",
            format!("{:.1} ms", ms(p.request_latency.p99_us)),
            p.request_latency.p99_us,
        ),
        (
            "lone event -> opted out",
            format!("{:.0} ms", p.lone_event_ms),
            p.lone_event_ms,
        ),
    ]
}

/// The side-by-side table and the notes under it.
fn print_table(r: &BurstReport) {
    println!(
        "burst of N = {} signed unsubscribes from {} keep-alive connections; emulator latency {} ms per API call",
        r.events, r.connections, r.latency_ms
    );
    let mut t = Table::new(&[
        "",
        "batched (batch_max 200)",
        "old (batch_max 1)",
        "old / new",
    ]);
    let new = rows(&r.batched);
    let old = r.old.as_ref().map(rows);
    for (i, (label, value, x)) in new.into_iter().enumerate() {
        let (o, ratio) = match &old {
            Some(o) => (o[i].1.clone(), ratio(o[i].2, x)),
            None => ("-".into(), "-".into()),
        };
        t.row(vec![label.into(), value, o, ratio]);
    }
    print!("{}", t.render());
    describe_path("batched", &r.batched);
    if let Some(o) = &r.old {
        describe_path("old", o);
        if o.extrapolated {
            println!(
                "old path: run on {} events; its time and API calls are extrapolated linearly to N = {}; intake and latency as measured on {} events",
                o.events, r.events, o.events
            );
        }
    }
    let b = &r.batched;
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    println!(
        "targets (batched): all opted out within 10 s: {}; at most 60 API calls: {}; >= 2000 accepted/s with p99 <= 50 ms: {}; lone event <= {} ms: {}",
        verdict(b.drain_s_at_n <= 10.0),
        verdict(b.api_calls_total_at_n <= 60.0),
        verdict(b.accepted_per_s >= 2000.0 && b.request_latency.p99_us <= 50_000.0),
        r.latency_ms + 50,
        verdict(b.lone_event_ms <= (r.latency_ms + 50) as f64),
    );
}

/// One path's calls by kind, statuses and verification.
fn describe_path(name: &str, p: &PathFigures) {
    let statuses: Vec<String> = p
        .statuses
        .iter()
        .map(|(s, n)| format!("{n} x {s}"))
        .collect();
    println!(
        "{name}: calls by kind {}; answers {}; {} of {} records opted out in the emulator; nothing lost: {}",
        p.api_calls,
        statuses.join(", "),
        p.opted_out,
        p.events,
        if p.nothing_lost { "yes" } else { "NO" }
    );
}
