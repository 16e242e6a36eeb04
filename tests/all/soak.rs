//! The fault soak: unsubscribes and re-subscribes arrive through `serve`'s
//! signed webhook while the emulator injects 20 % 5xx, 5 % dropped
//! connections, 10 % per-record lock errors and a token expiry every 500
//! calls; then two nightly runs. It proves that no unsubscribe is lost or
//! written to the wrong record:
//!
//! - every event answered 202 is accounted for: held and opted out in
//!   Salesforce (a live record), held and reported (a permanent failure with
//!   Salesforce's error, a deleted record, no Salesforce ID), or released (a
//!   re-subscribe). The expected outcome of each event is computed by the
//!   test from what it did to the emulator ([`crate::support::scenario`]),
//!   then compared with the ledger (`status --json`, the component's `audit`
//!   of every person, both nightly `--json` reports with all their lines)
//!   and with every record of the emulator;
//! - no record outside the people's own (named or followed) records is
//!   ever written, and no record of a re-subscribed person is written after
//!   the re-subscribe (its `write_count` and `LastModifiedDate` frozen from
//!   the moment the re-subscribe was handled, through retries and both
//!   nightlies);
//! - zero events lost: events in = events accounted for.
//!
//! The nightly runs are `unsubscribe-sync nightly --json` run twice with
//! `serve` stopped (SIGTERM) in between: the CLI prints the report with all
//! its lines, which `serve` only logs, and the test decides when each run
//! starts (a daily schedule falls due once per day, so at most one run
//! could fall due during a test). `serve`'s own schedule is set twelve hours
//! away so it never runs one meanwhile. Due retries are drained by `serve`'s
//! retry loop with the component's backoff (30 s, 1 min, ...) before the
//! nightly runs, which cover whatever is still queued.
//!
//! Lock errors are per record and send it back to the retry queue, whose
//! backoff doubles with each failed attempt: with them still at 10 % in the
//! second nightly, a few records are always left queued behind a backoff of
//! minutes that doubles again with each further lock error (measured: 3 to
//! 14 minutes of waiting), so "after two nightly runs" would hold only after
//! a long and unpredictable wait. `soak_ci` (the
//! issue's numbers: 20,000 unsubscribes, 2,000 re-subscribes; under 2
//! minutes on 2 cores) therefore runs the second nightly after the lock
//! contention is over (5xx, drops and token expiries go on), and checks
//! everything right after it, with nothing left queued. `soak_long`
//! (ignored; `cargo test -p e2e --test all -- --ignored soak`) runs
//! `SOAK_SCALE` times as many events (default 5) with every fault on to the
//! end, then lets `serve` drain the retries the nightly runs queued, however
//! long their backoff, before the same checks (about 22 minutes at 5x).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use sf_emulator::{Emulator, EmulatorConfig, FaultConfig, SObject};
use unsubscribe_sync::api;

use crate::cli::write_config;
use crate::support::ledger::{Ledger, inbox_counts};
use crate::support::nightly::{self, Finished};
use crate::support::scenario::{Case, Fate, Mix, SALES_FIELD, Scenario, opt_out_state};
use crate::support::serve::{Server, get, metric};
use crate::support::webhooks::{Kind, Sender};

/// Fault rates of the issue.
fn faults(seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        rate_5xx: 0.20,
        rate_drop: 0.05,
        rate_lock: 0.10,
        expire_token_every: Some(500),
        latency_ms: 0,
    }
}

/// The retry loop gets one backoff round (30 s) after the intake, and at
/// most this long, before the nightly runs cover what is left. Longer would
/// not shorten the test: retries the nightly runs queue (lock errors) must
/// be drained anyway, with a backoff that grows with each failed attempt.
const RETRY_ROUNDS: Duration = Duration::from_secs(40);
/// The longest the final drain of the retries queued by the nightly runs
/// may take (their backoff grows with each failed attempt).
const FINAL_DRAIN: Duration = Duration::from_secs(45 * 60);

/// Which faults the second nightly run meets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LastNightly {
    /// 5xx, drops and token expiries, no more lock errors: it writes
    /// everything left and nothing stays queued.
    LocksOver,
    /// Every fault; `serve` then drains what it queued.
    AllFaults,
}

#[test]
fn soak_ci() {
    soak(0x50A4_2025, 20_000, 2_000, LastNightly::LocksOver);
}

#[test]
#[ignore = "long: run with `cargo test -p e2e --test all -- --ignored soak`"]
fn soak_long() {
    let scale: usize = std::env::var("SOAK_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    soak(
        0x50A4_1096 + scale as u64,
        20_000 * scale,
        2_000 * scale,
        LastNightly::AllFaults,
    );
}

/// The figures of a run, printed at the end.
#[derive(Debug, Default)]
struct Figures {
    events_in: usize,
    accepted: usize,
    persons: usize,
    opted_out: usize,
    records_written: u64,
    api_record_writes: u64,
    retried_persons: usize,
    queued_entries: usize,
    failed_permanently: BTreeMap<String, usize>,
    /// Per nightly: permanent failures whose line carries their Salesforce
    /// error (the others met a lock error first in that run), of all.
    reported_with_error: Vec<(usize, usize)>,
    skipped_no_id: usize,
    released: usize,
    /// Events by what became of them.
    outcomes: BTreeMap<&'static str, usize>,
    lost: usize,
    phases: Vec<(String, Duration)>,
}

fn soak(seed: u64, unsubscribes: usize, resubscribes: usize, last: LastNightly) {
    let started = Instant::now();
    let mut phase = Instant::now();
    let mut figures = Figures::default();
    let mut lap = |figures: &mut Figures, name: &str| {
        figures.phases.push((name.to_string(), phase.elapsed()));
        eprintln!("soak: {name} took {:?}", phase.elapsed());
        phase = Instant::now();
    };

    let mix = Mix::new(unsubscribes, resubscribes);
    let first_at = now_ms() - 2 * 3_600_000;
    let scenario = Scenario::build(seed, &mix, first_at);
    assert_eq!(
        scenario
            .events
            .iter()
            .filter(|e| e.event.kind == Kind::Unsubscribe)
            .count(),
        unsubscribes
    );
    let config = EmulatorConfig {
        // The daily limit is not what this test is about (the budget stop
        // has its own tests): room for every push, retry and nightly.
        daily_api_limit: 50_000_000,
        faults: faults(seed),
        ..crate::support::emulator_config()
    };
    let emu = Emulator::start(config, scenario.org()).expect("emulator");
    scenario.apply_before(&emu);

    let dir = tempfile::tempdir().unwrap();
    // Leads over the Bulk API, Contacts over sObject Collections (about 65 %
    // of the people are Leads); serve's nightly twelve hours away.
    let bulk_threshold = 8_000 * (unsubscribes / 20_000).max(1);
    let far_hour = (now_ms() / 3_600_000 + 12) % 24;
    write_config(
        dir.path(),
        &emu,
        &format!(
            "\n[settings]\nsales_opt_out_field = \"{SALES_FIELD}\"\nbulk_threshold = {bulk_threshold}\n\n\
             [schedule]\nhour = {far_hour}\nminute = 0\ntime_zone = \"UTC\"\n"
        ),
    );
    let db = dir.path().join("sync.db");
    lap(&mut figures, "setup");

    // 1. The intake: every event through the signed webhook, one at a time
    // (the app's order), while the worker pushes and retries.
    let server = Server::start(dir.path(), &[]);
    let sender = Sender::new();
    for (n, planned) in scenario.events.iter().enumerate() {
        if n == scenario.during_at {
            scenario.apply_during(&emu);
        }
        let answer = sender.send(&server.base, &planned.event);
        figures.events_in += 1;
        assert!(
            answer.accepted(),
            "event {n} ({:?}) was answered {answer:?}\n{}",
            planned.event,
            tail(&server.log())
        );
        figures.accepted += 1;
    }
    lap(&mut figures, "posting");
    let drained = wait_until(Duration::from_secs(30 * 60), || inbox_depth(&server) == 0);
    assert!(drained, "the inbox never drained\n{}", tail(&server.log()));
    lap(&mut figures, "inbox drained");

    // Every re-subscribe has been handled: freeze what their records look
    // like now.
    let frozen: HashMap<String, (u64, String)> = scenario
        .persons
        .iter()
        .filter(|p| p.case == Case::Resubscribed)
        .map(|p| {
            let id = p.named.clone().unwrap();
            let r = emu.record(&id).unwrap();
            (id, (r.write_count, r.last_modified_date))
        })
        .collect();

    // 2. The retry loop works through the queue with its backoff.
    // (The metric is refreshed by each drain; the first falls due at most
    // 30 s after the last push.)
    let rounds = Instant::now();
    while rounds.elapsed() < RETRY_ROUNDS
        && (rounds.elapsed() < Duration::from_secs(35) || retries_pending(&server) > 0.0)
    {
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "soak: {} retries pending when the nightly runs take over",
        retries_pending(&server)
    );
    let (_, page) = get(&format!("{}/metrics", server.base));
    assert_eq!(
        metric(&page, "unsubscribe_sync_dead_letters_total"),
        Some(0.0),
        "{page}"
    );
    let log = server.stderr.clone();
    assert_eq!(
        server.terminate(Duration::from_secs(60)),
        Some(0),
        "{}",
        tail(&log.lock().unwrap())
    );
    lap(&mut figures, "retry rounds");

    // 3. Two nightly runs.
    let mut runs = Vec::new();
    for n in 1..=2 {
        if n == 2 && last == LastNightly::LocksOver {
            emu.set_faults(FaultConfig {
                rate_lock: 0.0,
                ..faults(seed + 2)
            });
        }
        let run = nightly::run_json(dir.path());
        eprintln!(
            "soak: nightly {n}: {:?}, held {}, already {}, written {}, redirected {}, failed {}, skipped {}, strategy {:?}, calls {:?}",
            run.elapsed,
            run.report.held,
            run.report.already_opted_out,
            run.report.written,
            run.report.redirected,
            run.report.failed,
            run.report.skipped_no_salesforce_id,
            run.report.strategy,
            run.report.api_calls
        );
        assert_eq!(run.code, Some(0), "nightly {n} did not finish cleanly");
        assert!(run.report.stopped.is_none(), "{:?}", run.report.stopped);
        runs.push(run);
        lap(&mut figures, &format!("nightly {n}"));
    }

    // 4. Retries the nightly runs queued (lock errors) are drained by serve.
    let status = nightly::status_json(dir.path());
    let pending = status["ledger"]["pending-retries"].as_u64().unwrap();
    eprintln!("soak: {pending} retries pending after the nightly runs");
    if last == LastNightly::LocksOver {
        assert_eq!(pending, 0, "the last nightly left retries queued");
    }
    if pending > 0 {
        // Who waits, by case (their trail ends with a queued retry).
        let ledger = Ledger::open(&db);
        let mut waiting: BTreeMap<Case, usize> = BTreeMap::new();
        for p in &scenario.persons {
            let t = ledger.audit(&p.id).unwrap();
            let last = t
                .entries
                .iter()
                .rev()
                .find(|e| e.kind != api::AuditKind::Attempt);
            if last.map(|e| e.kind) == Some(api::AuditKind::Queued) {
                *waiting.entry(p.case).or_default() += 1;
            }
        }
        eprintln!("soak: waiting for a retry: {waiting:?}");
        drop(ledger);
        let server = Server::start(dir.path(), &[]);
        let ok = wait_until(FINAL_DRAIN, || {
            std::thread::sleep(Duration::from_millis(500));
            retries_pending(&server) == 0.0
        });
        assert!(ok, "retries never drained\n{}", tail(&server.log()));
        assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    }
    lap(&mut figures, "final retries");

    // 5. Accounting.
    check(
        last,
        &scenario,
        &emu,
        &runs,
        &frozen,
        dir.path(),
        &mut figures,
    );
    lap(&mut figures, "checks");

    let calls = emu.call_counts();
    figures.records_written =
        emu.count_written(SObject::Lead) + emu.count_written(SObject::Contact);
    figures.api_record_writes = calls.records_written;
    eprintln!(
        "soak figures (seed {seed:#x}): events in {}, answered 202 {}, accounted for {:?}; people {}, opted out {}, \
         records written {} ({} API record writes), people retried {} ({} queued retries), \
         failed permanently {:?} (reported with their error per nightly: {:?}), skipped without ID {}, released {}, lost {}; \
         faults injected: 5xx {}, dropped {}, lock errors {}, token expiries {}; API calls {}; phases {:?}; total {:?}",
        figures.events_in,
        figures.accepted,
        figures.outcomes,
        figures.persons,
        figures.opted_out,
        figures.records_written,
        figures.api_record_writes,
        figures.retried_persons,
        figures.queued_entries,
        figures.failed_permanently,
        figures.reported_with_error,
        figures.skipped_no_id,
        figures.released,
        figures.lost,
        calls.injected_5xx,
        calls.injected_drops,
        calls.injected_lock_errors,
        calls.injected_token_expiries,
        calls.total_api_calls,
        figures.phases,
        started.elapsed()
    );
    assert_eq!(figures.lost, 0);
}

/// Compares everything with what the scenario says must have happened.
fn check(
    last: LastNightly,
    scenario: &Scenario,
    emu: &Emulator,
    runs: &[Finished],
    frozen: &HashMap<String, (u64, String)>,
    dir: &Path,
    figures: &mut Figures,
) {
    let db = dir.join("sync.db");
    let (depth, dead) = inbox_counts(&db);
    assert_eq!((depth, dead), (0, 0), "inbox depth and dead letters");

    let held: Vec<_> = scenario
        .persons
        .iter()
        .filter(|p| p.fate() != Fate::Released)
        .collect();
    let no_id: BTreeSet<&str> = scenario
        .persons
        .iter()
        .filter(|p| matches!(p.fate(), Fate::NoId(_)))
        .map(|p| p.id.as_str())
        .collect();
    let permanent: BTreeSet<&str> = scenario
        .persons
        .iter()
        .filter(|p| matches!(p.fate(), Fate::Deleted | Fate::Refused(_)))
        .map(|p| p.id.as_str())
        .collect();
    let by_id: HashMap<&str, &crate::support::scenario::Person> = scenario
        .persons
        .iter()
        .map(|p| (p.id.as_str(), p))
        .collect();

    // The ledger's counts (`status --json` of the CLI).
    let status = nightly::status_json(dir);
    let ledger = &status["ledger"];
    assert_eq!(ledger["held"], held.len() as u64, "{ledger}");
    assert_eq!(
        ledger["held-without-salesforce-id"],
        no_id.len() as u64,
        "{ledger}"
    );
    assert_eq!(ledger["failed"], permanent.len() as u64, "{ledger}");
    assert_eq!(ledger["pending-retries"], 0, "{ledger}");
    assert!(ledger["nightly-in-progress"].is_null(), "{ledger}");
    assert_eq!(status["storage"]["serve-inbox"], 0);

    // Both nightly reports, line by line.
    for (n, run) in runs.iter().enumerate() {
        let r = &run.report;
        assert_eq!(r.held, held.len() as u64, "nightly {}", n + 1);
        assert_eq!(r.skipped_no_salesforce_id, no_id.len() as u64);
        // One outcome per held unsubscribe: the counts add up to the held.
        assert_eq!(
            r.already_opted_out
                + r.written
                + r.reasserted
                + r.redirected
                + r.failed
                + r.skipped_no_salesforce_id,
            r.held,
            "nightly {}: {r:?}",
            n + 1
        );
        assert_eq!(run.items.len() as u64, r.items_total);
        assert_eq!(
            r.reasserted, 0,
            "nothing was unchecked behind the sync's back"
        );
        // Every permanent failure has a line in every run: with its
        // Salesforce error, or with a lock error or outage that run met
        // before it (then it is queued, and the retry records the error).
        let mut failed_lines = BTreeSet::new();
        let mut failed_permanently = BTreeSet::new();
        let mut skipped = BTreeSet::new();
        for item in &run.items {
            let p = by_id
                .get(item.person_id.as_str())
                .unwrap_or_else(|| panic!("a report line for an unknown person: {item:?}"));
            let fate = p.fate();
            match item.kind {
                api::ItemKind::SkippedNoSalesforceId => {
                    match (&fate, &item.error) {
                        (Fate::NoId(None), None) => {}
                        (
                            Fate::NoId(Some(sent)),
                            Some(api::SyncError::InvalidSalesforceId(bad)),
                        ) if bad.value == *sent => {}
                        _ => panic!("{item:?} for {p:?}"),
                    }
                    skipped.insert(p.id.as_str());
                }
                api::ItemKind::Failed => {
                    let error = item.error.as_ref().expect("a failed line has its error");
                    failed_lines.insert(p.id.as_str());
                    if transient(error) {
                        // A lock error or an outage: queued, and written (or
                        // refused for good) by the retry.
                        assert!(
                            matches!(fate, Fate::OptedOut(_) | Fate::Refused(_)),
                            "{item:?} for {p:?}"
                        );
                        continue;
                    }
                    assert_eq!(
                        item.record.as_ref().map(|r| r.id.as_str()),
                        p.named.as_deref()
                    );
                    match (&fate, error) {
                        (Fate::Deleted, api::SyncError::RecordDeleted(r))
                            if Some(&r.id) == p.named.as_ref() => {}
                        (Fate::Refused(message), api::SyncError::SalesforceError(f))
                            if f.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
                                && f.message == *message => {}
                        _ => panic!("nightly {}: {item:?} for {p:?}", n + 1),
                    }
                    failed_permanently.insert(p.id.as_str());
                }
                api::ItemKind::Redirected | api::ItemKind::Written => {
                    let Fate::OptedOut(target) = &fate else {
                        panic!("{item:?} for {p:?}");
                    };
                    let written = item.target.as_ref().or(item.record.as_ref());
                    assert_eq!(written.map(|r| &r.id), Some(target), "{item:?} for {p:?}");
                }
                api::ItemKind::Reasserted
                | api::ItemKind::WouldWrite
                | api::ItemKind::FieldOwed => {
                    panic!("nightly {}: unexpected {item:?}", n + 1)
                }
            }
        }
        assert!(
            failed_lines.is_superset(&permanent),
            "nightly {}: permanent failures without a line: {:?}",
            n + 1,
            permanent.difference(&failed_lines).collect::<Vec<_>>()
        );
        if n == 1 && last == LastNightly::LocksOver {
            // Nothing could stand in the way of the errors this time.
            assert_eq!(failed_permanently, permanent, "nightly 2");
        }
        figures
            .reported_with_error
            .push((failed_permanently.len(), permanent.len()));
        assert_eq!(skipped, no_id, "nightly {}: skipped", n + 1);
    }

    // Every person's audit trail (the component's `audit`, in-process on the
    // stopped service's file), against every event sent for them.
    let ledger = Ledger::open(&db);
    let mut events_of: HashMap<usize, Vec<&crate::support::webhooks::Event>> = HashMap::new();
    for e in &scenario.events {
        events_of.entry(e.person).or_default().push(&e.event);
    }
    for (i, p) in scenario.persons.iter().enumerate() {
        let trail = ledger
            .audit(&p.id)
            .unwrap_or_else(|| panic!("nothing recorded for {p:?}"));
        for event in &events_of[&i] {
            let want = match event.kind {
                Kind::Unsubscribe => api::AuditKind::Received,
                Kind::Resubscribe => api::AuditKind::Resubscribed,
            };
            let prefix = event.audit_detail_prefix();
            if trail
                .entries
                .iter()
                .any(|e| e.kind == want && e.detail.starts_with(&prefix))
            {
                // What became of it (the person's fate, checked below).
                let outcome = match p.fate() {
                    Fate::OptedOut(_) => "held, opted out",
                    Fate::Deleted | Fate::Refused(_) => "held, reported with its error",
                    Fate::NoId(_) => "held, reported without a Salesforce ID",
                    Fate::Released => "released",
                };
                *figures.outcomes.entry(outcome).or_default() += 1;
            } else {
                figures.lost += 1;
                eprintln!("LOST: {event:?}\n{trail:?}");
            }
        }
        let queued = trail
            .entries
            .iter()
            .filter(|e| e.kind == api::AuditKind::Queued)
            .count();
        figures.queued_entries += queued;
        figures.retried_persons += usize::from(queued > 0);
        let confirmed: Vec<&str> = trail
            .entries
            .iter()
            .filter(|e| e.kind == api::AuditKind::Confirmed)
            .filter_map(|e| e.record.as_ref().map(|r| r.id.as_str()))
            .collect();
        // Only the person's own records are ever written.
        let own = p.writable();
        for id in &confirmed {
            assert!(own.iter().any(|o| o == id), "{p:?} confirmed on {id}");
        }
        match p.fate() {
            Fate::OptedOut(target) => {
                assert!(trail.held, "{p:?}");
                assert_eq!(confirmed.last(), Some(&target.as_str()), "{p:?}\n{trail:?}");
                figures.opted_out += 1;
            }
            Fate::Deleted | Fate::Refused(_) => {
                assert!(trail.held, "{p:?}");
                let code = if p.case == Case::Refused {
                    "FIELD_CUSTOM_VALIDATION_EXCEPTION"
                } else {
                    "ENTITY_IS_DELETED"
                };
                let last_failure = trail
                    .entries
                    .iter()
                    .rev()
                    .find(|e| e.kind == api::AuditKind::Failed)
                    .unwrap_or_else(|| panic!("{p:?}: no failure recorded\n{trail:?}"));
                assert_eq!(last_failure.error_code.as_deref(), Some(code), "{p:?}");
                if p.case == Case::Refused {
                    assert!(confirmed.is_empty(), "{p:?}");
                }
                *figures
                    .failed_permanently
                    .entry(code.to_string())
                    .or_default() += 1;
            }
            Fate::NoId(invalid) => {
                // The trail shows the malformed value as sent, if any.
                assert!(trail.held, "{p:?}");
                assert_eq!(trail.salesforce_id, invalid, "{p:?}");
                assert!(confirmed.is_empty(), "{p:?}");
                assert_eq!(
                    invalid.is_some(),
                    trail
                        .entries
                        .iter()
                        .any(|e| e.kind == api::AuditKind::InvalidId),
                    "{p:?}"
                );
                figures.skipped_no_id += 1;
            }
            Fate::Released => {
                assert!(!trail.held, "{p:?}");
                // Nothing attempted after the re-subscribe.
                let resub = trail
                    .entries
                    .iter()
                    .rposition(|e| e.kind == api::AuditKind::Resubscribed)
                    .unwrap();
                assert!(
                    trail.entries[resub..].iter().all(|e| !matches!(
                        e.kind,
                        api::AuditKind::Attempt
                            | api::AuditKind::Confirmed
                            | api::AuditKind::Queued
                    )),
                    "{p:?}\n{trail:?}"
                );
                // The record: not written since the re-subscribe was handled.
                let named = p.named.as_deref().unwrap();
                let r = emu.record(named).unwrap();
                let (count, modified) = &frozen[named];
                assert_eq!(
                    (&r.write_count, &r.last_modified_date),
                    (count, modified),
                    "{p:?} was written after the re-subscribe"
                );
                if r.write_count > 0 {
                    let at = trail.entries[resub].at;
                    assert!(
                        sf_time(&r.last_modified_date) <= at,
                        "{p:?}: written at {} after the re-subscribe was handled at {at}",
                        r.last_modified_date
                    );
                }
                figures.released += 1;
            }
        }
    }
    figures.persons = scenario.persons.len();
    assert_eq!(
        figures.outcomes.values().sum::<usize>() + figures.lost,
        scenario.events.len(),
        "events in = events accounted for"
    );

    // The sample the CLI shows agrees with the in-process trails: one person
    // of each case.
    for case in Case::ALL {
        if let Some(p) = scenario.persons.iter().find(|p| p.case == case) {
            let out = crate::cli::with_creds(dir)
                .args(["audit", &p.id, "--json"])
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0));
            let trail: api::AuditTrail = crate::support::shape::from_slice(&out.stdout).unwrap();
            assert_eq!(Some(trail), ledger.audit(&p.id));
        }
    }

    // Every record of the org.
    let state = opt_out_state(scenario, emu);
    let mut writable: BTreeSet<String> = BTreeSet::new();
    for p in &scenario.persons {
        writable.extend(p.writable());
    }
    for p in &scenario.persons {
        if let Fate::OptedOut(target) = p.fate() {
            assert_eq!(state[&target], (true, true, false), "{p:?}");
        }
        if p.case == Case::Refused {
            let r = emu.record(p.named.as_deref().unwrap()).unwrap();
            assert_eq!(
                (
                    r.write_count,
                    r.has_opted_out_of_email,
                    r.checkbox(SALES_FIELD)
                ),
                (0, false, Some(false)),
                "{p:?}"
            );
        }
    }
    for (object, index, id) in scenario.record_ids() {
        if writable.contains(&id) {
            continue;
        }
        let r = emu.record(&id).unwrap();
        assert_eq!(r.write_count, 0, "{id} belongs to no one but was written");
        let seeded = sf_emulator::synthetic_opted_out(
            object,
            index,
            crate::support::scenario::PRE_OPTED_OUT,
            scenario.org_seed,
        );
        assert_eq!(state[&id], (seeded, false, false), "{id}");
    }
}

/// A failure the sync retries by itself.
fn transient(error: &api::SyncError) -> bool {
    match error {
        api::SyncError::SalesforceError(f) => f.code == "UNABLE_TO_LOCK_ROW" || f.status >= 500,
        api::SyncError::Transport(_) | api::SyncError::AuthFailed(_) => true,
        _ => false,
    }
}

fn inbox_depth(server: &Server) -> u64 {
    let (status, body) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["inbox"].as_u64().unwrap()
}

fn retries_pending(server: &Server) -> f64 {
    let (_, page) = get(&format!("{}/metrics", server.base));
    metric(&page, "unsubscribe_sync_retries_pending").unwrap_or(f64::NAN)
}

fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

fn now_ms() -> i64 {
    crate::support::serve::now_secs() * 1000
}

/// `2025-07-08T10:00:00.000+0000` in ms.
fn sf_time(text: &str) -> i64 {
    chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.3f%z")
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_millis()
}

/// The end of a service log, for failure messages.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
