//! Crash recovery: `serve` killed with SIGKILL at seeded random moments of
//! its intake (while webhooks are being recorded and the worker is pushing),
//! and the `nightly` command killed likewise mid-run, 30 times with
//! different seeds, restarting each time. It proves that
//!
//! - no event acknowledged with 202 is ever lost: each is in its person's
//!   audit trail afterwards (the sender, like any webhook client, sends an
//!   event again when a crash left it without an answer, so every event is
//!   acknowledged in the end);
//! - the nightly always completes: every interrupted run resumes from its
//!   checkpoint (the same run ID) and finishes, none is left in progress;
//! - the final state in the emulator (every record's opt-out fields and
//!   deletion) equals that of a fault-free run of the same events on a fresh
//!   emulator, and both equal what the test computes from the scenario.
//!
//! Each iteration builds its own scenario ([`crate::support::scenario`]:
//! Leads and Contacts, late IDs, no IDs, conversions, merges, deletions,
//! refusals, re-subscribes); its record changes are all made before the
//! intake, so the final state does not depend on timing. Between intake and
//! nightly an admin unchecks some held people's fields (the nightly must
//! check them again) and some re-subscribed people's (it must not). The
//! emulator injects no faults here other than latency (2 ms a call during
//! the intake, 20 ms during the nightly, so kills land inside calls): the
//! crash is the fault under test; `soak` covers the org's faults.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sf_emulator::{Emulator, EmulatorConfig, FaultConfig, synthetic_opted_out};
use unsubscribe_sync::api;

use crate::cli::write_config;
use crate::support::ledger::{Ledger, inbox_counts};
use crate::support::nightly::{self, Kill};
use crate::support::rng::Rng;
use crate::support::scenario::{
    Case, Fate, Mix, OptOut, PRE_OPTED_OUT, SALES_FIELD, Scenario, opt_out_state,
};
use crate::support::serve::Server;
use crate::support::webhooks::{Answer, Kind, Sender};

const ITERATIONS: u64 = 30;
const BASE_SEED: u64 = 0xC2A5_4000;
const UNSUBSCRIBES: usize = 400;
const RESUBSCRIBES: usize = 40;
const INTAKE_LATENCY_MS: u64 = 2;
const NIGHTLY_LATENCY_MS: u64 = 20;

/// What the crash runs went through, summed over the iterations.
#[derive(Debug, Default)]
struct Figures {
    events: usize,
    acknowledged: usize,
    serve_kills: usize,
    unanswered_then_resent: usize,
    recorded_twice: usize,
    nightly_kills_mid_run: usize,
    nightly_kills_before_run: usize,
    nightly_finished_before_kill: usize,
    interrupted_at: BTreeSet<(u64, String)>,
    lost: usize,
}

#[test]
fn sigkill_during_intake_and_nightly_loses_nothing() {
    let started = Instant::now();
    let mut figures = Figures::default();
    // More iterations for a longer local run: CRASH_ITERATIONS=N.
    let iterations: u64 = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ITERATIONS);
    for i in 0..iterations {
        let t = Instant::now();
        iteration(BASE_SEED + i, &mut figures);
        eprintln!("crash: iteration {i} took {:?}", t.elapsed());
    }
    eprintln!(
        "crash figures: {iterations} iterations, events {} (acknowledged {}), serve killed {} times \
         ({} events unanswered then sent again, {} recorded twice), nightly killed {} times mid-run \
         at {} different checkpoints, {} times before its run's first checkpoint, {} found it finished; \
         crashes survived {}, lost {}; {:?}",
        figures.events,
        figures.acknowledged,
        figures.serve_kills,
        figures.unanswered_then_resent,
        figures.recorded_twice,
        figures.nightly_kills_mid_run,
        figures.interrupted_at.len(),
        figures.nightly_kills_before_run,
        figures.nightly_finished_before_kill,
        figures.serve_kills + figures.nightly_kills_mid_run + figures.nightly_kills_before_run,
        figures.lost,
        started.elapsed()
    );
    assert_eq!(figures.lost, 0);
    let iterations = iterations as usize;
    assert!(figures.serve_kills >= iterations, "{figures:?}");
    assert!(
        figures.unanswered_then_resent >= iterations / 4,
        "too few kills landed while webhooks were being posted: {figures:?}"
    );
    assert!(
        figures.nightly_kills_mid_run >= iterations / 2 && figures.interrupted_at.len() >= 5,
        "too few kills landed inside a nightly run: {figures:?}"
    );
}

/// One run of the scenario: the emulator, the service's directory and what
/// the run measured.
struct Run {
    emu: Emulator,
    dir: tempfile::TempDir,
    intake: Duration,
    nightly: Duration,
}

fn iteration(seed: u64, figures: &mut Figures) {
    let scenario = Scenario::build(
        seed,
        &Mix::new(UNSUBSCRIBES, RESUBSCRIBES),
        now_ms() - 3_600_000,
    );
    let mut rng = Rng::new(seed ^ 0xDEAD);
    // What the admin unchecks between intake and nightly.
    let unchecked: Vec<String> = scenario
        .persons
        .iter()
        .filter_map(|p| match p.fate() {
            Fate::OptedOut(target) if rng.chance(0.25) => Some(target),
            Fate::Released if rng.chance(0.5) => p.named.clone(),
            _ => None,
        })
        .collect();

    // The fault-free run.
    let reference = start(&scenario);
    let intake_started = Instant::now();
    let mut server = Server::start(reference.dir.path(), &[]);
    let sender = Sender::new();
    for planned in &scenario.events {
        let answer = sender.send(&server.base, &planned.event);
        assert!(answer.accepted(), "{answer:?}");
    }
    let posting = intake_started.elapsed();
    wait_drained(&mut server, &|| true);
    let intake = intake_started.elapsed();
    assert_eq!(server.terminate(Duration::from_secs(30)), Some(0));
    uncheck(&reference.emu, &unchecked);
    let run = nightly::run_json(reference.dir.path());
    assert_eq!(run.code, Some(0));
    assert!(run.report.stopped.is_none());
    let reference = Run {
        intake,
        nightly: run.elapsed,
        ..reference
    };
    let expected = opt_out_state(&scenario, &reference.emu);
    assert_eq!(
        expected,
        model(&scenario, &unchecked),
        "seed {seed:#x}: the fault-free run differs from the scenario's outcome"
    );

    // The same events, crashing.
    let crashed = start(&scenario);
    let serve_kills = rng.range(1, 3) as usize;
    // Half while the webhooks are being posted (and the worker pushes
    // behind them), half while the worker drains the rest of the inbox.
    let (posting, intake) = (
        posting.as_micros() as u64,
        reference.intake.as_micros() as u64,
    );
    let mut kill_at: Vec<Duration> = (0..serve_kills)
        .map(|_| {
            Duration::from_micros(if rng.chance(0.5) {
                rng.below(posting.max(1))
            } else {
                rng.range(posting, intake.max(posting))
            })
        })
        .collect();
    kill_at.sort();
    intake_with_kills(&scenario, crashed.dir.path(), &kill_at, figures);
    figures.serve_kills += serve_kills;
    uncheck(&crashed.emu, &unchecked);

    let nightly_kills = rng.range(1, 3);
    let mut interrupted_run: Option<String> = None;
    let mut last_finished: Option<String> = None;
    for _ in 0..nightly_kills {
        let span = reference.nightly.as_micros() as u64;
        let delay = Duration::from_micros(span / 3 + rng.below(span - span / 3 + 1));
        match nightly::run_killed_after(crashed.dir.path(), delay) {
            Kill::Interrupted {
                progress: Some(p),
                last_report,
            } => {
                if let Some(id) = &interrupted_run {
                    assert_eq!(
                        *id, p.run_id,
                        "seed {seed:#x}: a killed run was not resumed"
                    );
                }
                interrupted_run = Some(p.run_id.clone());
                last_finished = last_report;
                figures.nightly_kills_mid_run += 1;
                figures.interrupted_at.insert((p.done, p.stage));
            }
            Kill::Interrupted {
                progress: None,
                last_report,
            } => {
                if last_report != last_finished {
                    // A run finished; only the process's exit was cut
                    // short. It was the interrupted one, if any.
                    if let Some(id) = &interrupted_run {
                        assert_eq!(Some(id), last_report.as_ref(), "seed {seed:#x}");
                    }
                    figures.nightly_finished_before_kill += 1;
                    interrupted_run = None;
                    last_finished = last_report;
                } else {
                    // Before the run's first checkpoint: no run was left
                    // to resume.
                    assert!(
                        interrupted_run.is_none(),
                        "seed {seed:#x}: a killed run vanished"
                    );
                    figures.nightly_kills_before_run += 1;
                }
            }
            Kill::Exited(code) => {
                assert_eq!(code, Some(0), "seed {seed:#x}: the nightly failed");
                figures.nightly_finished_before_kill += 1;
                // A later run starts afresh.
                interrupted_run = None;
                let status = nightly::status_json(crashed.dir.path());
                last_finished = status["ledger"]["last-report"]["run-id"]
                    .as_str()
                    .map(str::to_string);
            }
        }
    }
    let run = nightly::run_json(crashed.dir.path());
    assert_eq!(run.code, Some(0), "seed {seed:#x}");
    assert!(run.report.stopped.is_none());
    if let Some(id) = interrupted_run {
        assert_eq!(
            run.report.run_id, id,
            "seed {seed:#x}: the killed run was not the one finished"
        );
    }
    let status = nightly::status_json(crashed.dir.path());
    assert!(
        status["ledger"]["nightly-in-progress"].is_null(),
        "seed {seed:#x}: {status}"
    );

    // Nothing acknowledged is lost, and the org ends where the fault-free
    // run ended.
    account(&scenario, crashed.dir.path(), seed, figures);
    let state = opt_out_state(&scenario, &crashed.emu);
    let differ: Vec<_> = state
        .iter()
        .filter(|(id, s)| expected.get(*id) != Some(s))
        .map(|(id, s)| (id.clone(), *s, expected[id]))
        .collect();
    assert!(
        differ.is_empty(),
        "seed {seed:#x}: records (crashed, fault-free) differ: {differ:?}"
    );
    let reference_status = Ledger::open(&reference.dir.path().join("sync.db")).status();
    let crashed_status = Ledger::open(&crashed.dir.path().join("sync.db")).status();
    assert_eq!(
        (
            crashed_status.held,
            crashed_status.held_without_salesforce_id,
            crashed_status.failed,
            crashed_status.pending_retries
        ),
        (
            reference_status.held,
            reference_status.held_without_salesforce_id,
            reference_status.failed,
            reference_status.pending_retries
        ),
        "seed {seed:#x}"
    );
}

/// A fresh emulator for the scenario (every record change already made)
/// and a service directory configured for it.
fn start(scenario: &Scenario) -> Run {
    let config = EmulatorConfig {
        daily_api_limit: 10_000_000,
        faults: FaultConfig {
            latency_ms: INTAKE_LATENCY_MS,
            ..FaultConfig::default()
        },
        ..crate::support::emulator_config()
    };
    let emu = Emulator::start(config, scenario.org()).expect("emulator");
    scenario.apply_before(&emu);
    scenario.apply_during(&emu);
    let dir = tempfile::tempdir().unwrap();
    let far_hour = (now_ms() / 3_600_000 + 12) % 24;
    write_config(
        dir.path(),
        &emu,
        &format!(
            "\n[settings]\nsales_opt_out_field = \"{SALES_FIELD}\"\n\n\
             [schedule]\nhour = {far_hour}\nminute = 0\ntime_zone = \"UTC\"\n"
        ),
    );
    Run {
        emu,
        dir,
        intake: Duration::ZERO,
        nightly: Duration::ZERO,
    }
}

/// The admin unchecks both fields of these records in Salesforce, and the
/// nightly gets slower calls.
fn uncheck(emu: &Emulator, records: &[String]) {
    for id in records {
        emu.set_field(id, "HasOptedOutOfEmail", false);
        emu.set_field(id, SALES_FIELD, false);
    }
    emu.set_faults(FaultConfig {
        latency_ms: NIGHTLY_LATENCY_MS,
        ..FaultConfig::default()
    });
}

/// Sends every event until it is acknowledged, while a killer thread sends
/// SIGKILL to the service at each of `kill_at` (from the start); every
/// kill is followed by a restart.
fn intake_with_kills(scenario: &Scenario, dir: &Path, kill_at: &[Duration], figures: &mut Figures) {
    let started = Instant::now();
    let mut server = Server::start(dir, &[]);
    let pid: Arc<Mutex<Option<u32>>> = Arc::new(Mutex::new(Some(server.child.id())));
    let kills_done = Arc::new(AtomicBool::new(false));
    let killer = {
        let (pid, done, kill_at) = (pid.clone(), kills_done.clone(), kill_at.to_vec());
        std::thread::spawn(move || {
            for at in kill_at {
                if let Some(left) = at.checked_sub(started.elapsed()) {
                    std::thread::sleep(left);
                }
                // A service being restarted is killed as soon as it is up.
                loop {
                    if let Some(p) = pid.lock().unwrap().take() {
                        sigkill(p);
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let restart = |server: &mut Server| {
        // The old one is dead (or dies now); a new one starts on the file.
        let _ = server.child.kill();
        let _ = server.child.wait();
        *server = Server::start(dir, &[]);
        *pid.lock().unwrap() = Some(server.child.id());
    };
    let sender = Sender::new();
    for planned in &scenario.events {
        figures.events += 1;
        let mut attempt = 0;
        // Each resend is a new signed request: its timestamp differs from
        // every earlier attempt's (a resend signed with the same second
        // would be the same request, refused as a replay).
        let first_ts = crate::support::serve::now_secs();
        loop {
            match sender.send_signed_at(&server.base, &planned.event, first_ts - attempt) {
                a if a.accepted() => break,
                Answer::NoAnswer(_) => {
                    wait_dead(&mut server);
                    restart(&mut server);
                    attempt += 1;
                }
                other => panic!("{:?} answered {other:?}\n{}", planned.event, server.log()),
            }
        }
        figures.acknowledged += 1;
        figures.unanswered_then_resent += usize::from(attempt > 0);
    }
    // The worker drains the inbox, crashing as planned, until every kill
    // has happened.
    let done = kills_done.clone();
    wait_drained_restarting(&mut server, &restart, &move || done.load(Ordering::SeqCst));
    killer.join().unwrap();
    assert_eq!(server.terminate(Duration::from_secs(30)), Some(0));
}

/// Waits until the inbox is empty (and `also` holds).
fn wait_drained(server: &mut Server, also: &dyn Fn() -> bool) {
    let started = Instant::now();
    while inbox_depth(server) != Some(0) || !also() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the inbox never drained\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_drained`], restarting a service that died meanwhile.
fn wait_drained_restarting(
    server: &mut Server,
    restart: &dyn Fn(&mut Server),
    also: &dyn Fn() -> bool,
) {
    let started = Instant::now();
    loop {
        match inbox_depth(server) {
            Some(0) if also() => return,
            Some(_) => {}
            None => {
                wait_dead(server);
                restart(server);
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the inbox never drained\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The inbox depth from `/healthz`; none when the service does not answer.
fn inbox_depth(server: &Server) -> Option<u64> {
    let agent = crate::support::serve::agent();
    let mut resp = agent.get(&format!("{}/healthz", server.base)).call().ok()?;
    let body = resp.body_mut().read_to_string().ok()?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["inbox"].as_u64()
}

/// Waits for a service that stopped answering to be dead (it was killed).
fn wait_dead(server: &mut Server) {
    let started = Instant::now();
    while server.child.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the service stopped answering but is alive\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn sigkill(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -KILL {pid}");
}

/// Every event is in its person's audit trail; events sent twice after a
/// crash are counted.
fn account(scenario: &Scenario, dir: &Path, seed: u64, figures: &mut Figures) {
    let db = dir.join("sync.db");
    assert_eq!(
        inbox_counts(&db),
        (0, 0),
        "seed {seed:#x}: inbox, dead letters"
    );
    let ledger = Ledger::open(&db);
    let mut trails = BTreeMap::new();
    for (n, planned) in scenario.events.iter().enumerate() {
        let person = &scenario.persons[planned.person];
        let trail = trails.entry(person.id.clone()).or_insert_with(|| {
            ledger
                .audit(&person.id)
                .unwrap_or_else(|| panic!("nothing recorded for {person:?}"))
        });
        let want = match planned.event.kind {
            Kind::Unsubscribe => api::AuditKind::Received,
            Kind::Resubscribe => api::AuditKind::Resubscribed,
        };
        let prefix = planned.event.audit_detail_prefix();
        let copies = trail
            .entries
            .iter()
            .filter(|e| e.kind == want && e.detail.starts_with(&prefix))
            .count();
        if copies == 0 {
            // A confirmed unsubscribe sent again is a duplicate and leaves
            // no entry of its own, but its first copy always does.
            figures.lost += 1;
            eprintln!("seed {seed:#x}: LOST event {n} {:?}", planned.event);
        }
        // Sent again after a crash, or handled again because the crash
        // came between the component's call and the inbox's bookkeeping.
        figures.recorded_twice += usize::from(copies > 1);
        // The person's fate holds in the ledger too.
        match person.fate() {
            Fate::Released => assert!(!trail.held, "{person:?}"),
            _ => assert!(trail.held, "{person:?}"),
        }
    }
}

/// The opt-out state the scenario implies after intake, the admin's
/// unchecking and a nightly run.
fn model(scenario: &Scenario, unchecked: &[String]) -> BTreeMap<String, OptOut> {
    let mut state: BTreeMap<String, OptOut> = scenario
        .record_ids()
        .into_iter()
        .map(|(object, index, id)| {
            let pre = synthetic_opted_out(object, index, PRE_OPTED_OUT, scenario.org_seed);
            (id, (pre, false, false))
        })
        .collect();
    let unchecked: BTreeSet<&String> = unchecked.iter().collect();
    for p in &scenario.persons {
        let named = p.named.clone().unwrap_or_default();
        match (p.case, p.fate()) {
            (_, Fate::OptedOut(target)) => {
                state.insert(target, (true, true, false));
            }
            (_, Fate::Released) => {
                let s = if unchecked.contains(&named) {
                    (false, false, false)
                } else {
                    (true, true, false)
                };
                state.insert(named.clone(), s);
            }
            (Case::DeletedBefore | Case::DeletedDuring, _) => {
                state.get_mut(&named).unwrap().2 = true;
            }
            _ => {}
        }
        if p.case == Case::Merged {
            state.get_mut(&named).unwrap().2 = true;
        }
    }
    state
}

fn now_ms() -> i64 {
    crate::support::serve::now_secs() * 1000
}
