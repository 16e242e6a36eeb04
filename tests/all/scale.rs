//! The nightly at (small) scale through the binary: a run killed with SIGKILL
//! at many points resumes from its checkpoint and loses nothing, on both the
//! Bulk API and the collections paths; a budget stop keeps its place.

use std::path::Path;
use std::time::{Duration, Instant};

use sf_emulator::{
    Emulator, EmulatorConfig, FaultConfig, SObject, synthetic_id, synthetic_lead_count,
    synthetic_org,
};

use crate::cli::{with_creds, write_config};
use crate::support::cli::text;
use crate::support::nightly::{self, Kill};

/// Writes N held unsubscribes (one per synthetic record) as JSON lines and
/// imports them through the binary.
pub(crate) fn import_all(dir: &Path, records: usize) {
    let leads = synthetic_lead_count(records);
    let mut lines = String::new();
    for i in 0..records {
        let (object, index) = if i < leads {
            (SObject::Lead, i)
        } else {
            (SObject::Contact, i - leads)
        };
        lines.push_str(&format!(
            "{{\"person_id\":\"p{i}\",\"salesforce_id\":\"{}\",\"source\":\"import\"}}\n",
            synthetic_id(object, index as u64)
        ));
    }
    std::fs::write(dir.join("held.jsonl"), lines).unwrap();
    let out = with_creds(dir)
        .args(["import", "held.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

fn emulator(records: usize, bulk_delay_ms: u64, latency_ms: u64) -> Emulator {
    let config = EmulatorConfig {
        bulk_processing_delay_ms: bulk_delay_ms,
        faults: FaultConfig {
            latency_ms,
            ..FaultConfig::default()
        },
        ..crate::support::emulator_config()
    };
    Emulator::start(config, synthetic_org(records, 0.2, 7)).unwrap()
}

/// Persons opted out in the org (Leads and Contacts, standard field).
pub(crate) fn opted_out(emu: &Emulator) -> u64 {
    emu.count_opted_out(SObject::Lead, "HasOptedOutOfEmail")
        + emu.count_opted_out(SObject::Contact, "HasOptedOutOfEmail")
}

fn written(emu: &Emulator) -> u64 {
    emu.count_written(SObject::Lead) + emu.count_written(SObject::Contact)
}

/// When each short-lived `nightly` run is killed.
#[derive(Clone, Copy)]
enum KillAt {
    /// After this long.
    Elapsed(Duration),
    /// Once it has made this many API calls (Salesforce requests counted
    /// against the daily limit): the same point of the run on a fast or a
    /// loaded machine.
    Calls(u64),
}

/// Runs `nightly`, killing it with SIGKILL at each point in turn, until a
/// run is left to finish. Returns the run's progress (records done, stage)
/// seen after each kill that interrupted it mid-way.
fn nightly_with_kills(dir: &Path, emu: &Emulator, kills: &[KillAt]) -> Vec<String> {
    let mut interrupted = Vec::new();
    for kill in kills {
        let outcome = match *kill {
            KillAt::Elapsed(delay) => nightly::run_killed_after(dir, delay),
            KillAt::Calls(calls) => {
                let before = emu.call_counts().total_api_calls;
                nightly::run_killed_when(dir, Duration::from_secs(60), || {
                    emu.call_counts().total_api_calls - before >= calls
                })
            }
        };
        match outcome {
            // It finished before the kill: nothing left to resume.
            Kill::Exited(code) => {
                assert_eq!(code, Some(0), "the nightly failed before its kill");
                return interrupted;
            }
            Kill::Interrupted { progress, .. } => {
                if let Some(p) = progress {
                    interrupted.push(format!("{} {}", p.done, p.stage));
                }
            }
        }
    }
    let out = with_creds(dir)
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    interrupted
}

fn resume_after_kills(bulk_threshold: u32, bulk_delay_ms: u64, latency_ms: u64, kills: &[KillAt]) {
    const N: usize = 3_000;
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(N, bulk_delay_ms, latency_ms);
    let already = opted_out(&emu);
    assert!(
        already > 400 && already < 800,
        "{already} of {N} opted out to begin with"
    );
    write_config(
        dir.path(),
        &emu,
        &format!("\n[settings]\nbulk_threshold = {bulk_threshold}\n"),
    );
    import_all(dir.path(), N);

    let progress = nightly_with_kills(dir.path(), &emu, kills);

    // Kills landed inside the run, at several different points of it.
    let mut points = progress.clone();
    points.dedup();
    assert!(
        points.len() >= 3,
        "kills interrupted the run only at {progress:?}"
    );

    // Nothing lost: every held unsubscribe is opted out in Salesforce, and
    // the records written are exactly the ones that were not (none of the
    // already opted-out ones, whatever the kills interrupted).
    assert_eq!(opted_out(&emu), N as u64);
    assert_eq!(written(&emu), N as u64 - already);
    let out = with_creds(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["ledger"]["held"], N as u64, "{status}");
    assert!(
        status["ledger"]["nightly-in-progress"].is_null(),
        "{status}"
    );
    // A second run finds nothing to write.
    let out = with_creds(dir.path())
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(report["already-opted-out"], N as u64, "{report}");
    assert_eq!(report["written"], 0, "{report}");
}

#[test]
fn a_bulk_nightly_killed_at_many_points_resumes_and_loses_nothing() {
    // Bulk jobs take 400 ms to process, so kills land while jobs are open,
    // processing and being confirmed.
    let kills = [150, 350, 600, 900, 1_300, 1_800, 2_500]
        .map(|ms| KillAt::Elapsed(Duration::from_millis(ms)));
    resume_after_kills(1_000, 400, 0, &kills);
}

#[test]
fn a_collections_nightly_killed_at_many_points_resumes_and_loses_nothing() {
    // The REST walk of 3,000 records takes one limits call, then a query
    // and (mostly) one collections update per chunk of 200. Each run is
    // killed a few calls in, so it gets only part way, and a 10 ms latency
    // lets kills land both mid-request and between requests.
    let kills = [3, 4, 5, 3, 4, 5, 3, 4, 5, 3, 4, 5].map(KillAt::Calls);
    resume_after_kills(0, 0, 10, &kills);
}

#[test]
fn a_budget_stop_keeps_its_place_and_later_calls_finish_the_run() {
    const N: usize = 1_000;
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(N, 0, 0);
    let already = opted_out(&emu);
    write_config(
        dir.path(),
        &emu,
        "\n[settings]\nbulk_threshold = 0\n\n[settings.budget]\nmax_calls = 3\n",
    );
    import_all(dir.path(), N);
    emu.reset_counts();

    let mut stops = 0;
    let started = Instant::now();
    let report = loop {
        let out = with_creds(dir.path())
            .args(["nightly", "--json"])
            .output()
            .unwrap();
        let report: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        if report["stopped"].is_null() {
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            break report;
        }
        assert_eq!(report["stopped"]["kind"], "budget", "{report}");
        assert!(report["stopped"]["value"].is_string(), "{report}");
        // Stopped runs say so with a distinct exit code, and keep their place.
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let st = with_creds(dir.path())
            .args(["status", "--json"])
            .output()
            .unwrap();
        let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        assert_eq!(
            st["ledger"]["nightly-in-progress"]["run-id"], report["run-id"],
            "{st}"
        );
        stops += 1;
        assert!(
            started.elapsed() < Duration::from_secs(120) && stops < 50,
            "the run never finished"
        );
    };
    // One /limits call when the run started, 3 reads of up to 200 IDs per
    // object (500 each), and one collections write per 200 records to write:
    // the stops cost no extra call.
    assert!(stops >= 3, "{stops} stops");
    assert_eq!(opted_out(&emu), N as u64);
    assert_eq!(written(&emu), N as u64 - already);
    assert_eq!(
        report["written"].as_u64().unwrap() + report["already-opted-out"].as_u64().unwrap(),
        N as u64,
        "{report}"
    );
    let calls = emu.call_counts();
    let writes = (N as u64 - already).div_ceil(200);
    assert_eq!(calls.total_api_calls, 1 + 6 + writes, "{calls:?}");
}
