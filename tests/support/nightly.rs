//! Runs the `nightly` command as a process: to its end with `--json` (the
//! report with every line), or killed with SIGKILL after a delay, the way a
//! crashed host would stop it; and `status --json`.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use unsubscribe_sync::api;

use super::cli::text;

/// A run that ended.
pub struct Finished {
    /// The exit code (0: finished, not stopped).
    pub code: Option<i32>,
    /// The report.
    pub report: api::NightlyReport,
    /// Every line of the report.
    pub items: Vec<api::ReportItem>,
    /// How long the process ran.
    pub elapsed: Duration,
}

/// Runs `nightly --json` in `dir` to its end.
pub fn run_json(dir: &Path) -> Finished {
    let started = Instant::now();
    let out = crate::cli::with_creds(dir)
        .args(["nightly", "--json"])
        .output()
        .expect("nightly runs");
    let elapsed = started.elapsed();
    // The report once, with every line of the run in `items`.
    let mut report: api::NightlyReport = super::shape::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nightly --json: {e}\n{}", text(&out)));
    let items = std::mem::take(&mut report.items);
    Finished {
        code: out.status.code(),
        report,
        items,
        elapsed,
    }
}

/// Where a SIGKILL found a `nightly` process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kill {
    /// It was still running: killed. `progress` is the interrupted run's
    /// checkpoint as `status` saw it afterwards: none when no run had
    /// checkpointed yet, or when the run had just finished (its report is
    /// then the last one) and only the process's exit was cut short.
    Interrupted {
        /// The checkpoint after the kill.
        progress: Option<Progress>,
        /// The run ID of the last finished run's report, if any.
        last_report: Option<String>,
    },
    /// It had already exited with this code.
    Exited(Option<i32>),
}

/// A run's checkpoint as `status --json` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The run.
    pub run_id: String,
    /// Held unsubscribes dealt with.
    pub done: u64,
    /// What it was doing.
    pub stage: String,
}

/// Starts `nightly` in `dir`, and kills it with SIGKILL after `delay` if
/// it is still running.
pub fn run_killed_after(dir: &Path, delay: Duration) -> Kill {
    let started = Instant::now();
    run_killed_when(dir, delay, || started.elapsed() >= delay)
}

/// Starts `nightly` in `dir`, and kills it with SIGKILL as soon as `due`
/// says so (polled every millisecond), or after `limit` at the latest, if
/// it is still running. Killing on an observed event (say, a number of
/// requests served) rather than on elapsed time lands the kill at the same
/// point of the run however fast or loaded the machine is.
pub fn run_killed_when(dir: &Path, limit: Duration, mut due: impl FnMut() -> bool) -> Kill {
    let mut child = crate::cli::with_creds(dir)
        .args(["nightly"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nightly starts");
    let started = Instant::now();
    while !due() && started.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("waiting for nightly") {
            return Kill::Exited(status.code());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(status) = child.try_wait().expect("waiting for nightly") {
        return Kill::Exited(status.code());
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaping nightly");
    let status = status_json(dir);
    let p = &status["ledger"]["nightly-in-progress"];
    Kill::Interrupted {
        progress: p["done"].as_u64().map(|done| Progress {
            run_id: p["run-id"].as_str().unwrap_or("").to_string(),
            done,
            stage: p["stage"].as_str().unwrap_or("").to_string(),
        }),
        last_report: status["ledger"]["last-report"]["run-id"]
            .as_str()
            .map(str::to_string),
    }
}

/// `status --json` in `dir`.
pub fn status_json(dir: &Path) -> serde_json::Value {
    let out = crate::cli::with_creds(dir)
        .args(["status", "--json"])
        .output()
        .expect("status runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status --json: {e}"))
}
