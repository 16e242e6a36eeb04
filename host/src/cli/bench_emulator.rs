//! The bundled emulator as a process of its own, shared by the benchmarks
//! that run against it (`bench nightly`, `bench burst`): start it, ask its
//! admin endpoints, read the API calls it counted by kind.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde_json::Value;

use crate::app::Failure;

/// The emulator as a child process; killed when dropped.
pub(super) struct EmulatorProcess {
    child: Child,
    _stdin: ChildStdin,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub(super) base_url: String,
}

impl EmulatorProcess {
    /// Starts this executable's hidden `emulator` command with `records`
    /// synthetic persons (a `fraction` of them opted out) and `latency_ms`
    /// added to every API request, and waits until it listens.
    pub(super) fn start(records: usize, fraction: f64, latency_ms: u64) -> Result<Self, Failure> {
        let exe = std::env::current_exe()
            .map_err(|e| Failure::runtime(format!("cannot find this executable: {e}")))?;
        let mut child = Command::new(exe)
            .args([
                "emulator",
                "--synthetic",
                &records.to_string(),
                "--opted-out-fraction",
                &fraction.to_string(),
                "--daily-api-limit",
                "1000000",
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Failure::runtime(format!("cannot start the emulator process: {e}")))?;
        let stdin = child.stdin.take().expect("piped");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .map_err(|e| Failure::runtime(format!("the emulator process did not start: {e}")))?;
        let base_url = line
            .trim()
            .strip_prefix("listening on ")
            .ok_or_else(|| Failure::runtime(format!("the emulator process said {line:?}")))?
            .to_string();
        Ok(EmulatorProcess {
            child,
            _stdin: stdin,
            base_url,
        })
    }

    /// Calls `/__admin/{path}` (no latency there) and parses the JSON answer.
    pub(super) fn admin(&self, method: &str, path: &str) -> Result<Value, Failure> {
        let url = format!("{}/__admin/{path}", self.base_url);
        let agent = ureq::Agent::new_with_defaults();
        let response = match method {
            "POST" => agent.post(&url).send_empty(),
            _ => agent.get(&url).call(),
        };
        let text = response
            .map_err(|e| Failure::runtime(format!("emulator admin {path}: {e}")))?
            .body_mut()
            .read_to_string()
            .map_err(|e| Failure::runtime(format!("emulator admin {path}: {e}")))?;
        serde_json::from_str(&text)
            .map_err(|e| Failure::runtime(format!("emulator admin {path}: {e}")))
    }

    /// The `count` of an admin counter (`opted-out-count`, `written-count`)
    /// for one object.
    pub(super) fn count(&self, what: &str, object: &str) -> Result<u64, Failure> {
        let v = self.admin("GET", &format!("{what}?object={object}"))?;
        v["count"]
            .as_u64()
            .ok_or_else(|| Failure::runtime(format!("emulator {what}: {v}")))
    }

    /// The process id.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The calls that count against the org's daily limit, and the non-zero
/// counts by kind (the emulator's `/__admin/calls`).
pub(super) fn calls_by_kind(calls: &Value) -> (u64, Value) {
    let total = calls["total_api_calls"].as_u64().unwrap_or(0);
    let kinds: serde_json::Map<String, Value> = calls
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, v)| {
                    !matches!(k.as_str(), "total_api_calls" | "records_written")
                        && v.as_u64().is_some_and(|n| n > 0)
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    (total, Value::Object(kinds))
}
