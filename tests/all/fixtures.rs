//! The WIT-defined fixture suite: every `tests/fixtures/*.json` runs the
//! compiled component in wasmtime with fixture-backed imports.
//!
//! A fixture mirrors the WIT types (their serde form): the settings (a patch
//! over the production defaults), the clock, the storage before, then steps
//! (a call of the `sync` interface with its arguments, the exact HTTP
//! exchanges it must make in order with the canned answers, and the expected
//! result), and the exact storage after. Storage is a real SQLite file.
//!
//! The harness fails on any unexpected, missing or out-of-order request, any
//! request whose method, path or body differs, any difference in a result,
//! and any difference in the storage after. `BLESS=storage` rewrites the
//! expected storage after from a run, `BLESS=all` the results too; review the
//! diff before committing. `FIXTURE=name` runs the fixtures whose name
//! contains `name`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use unsubscribe_sync::{
    Capabilities, FixedClock, HttpError, HttpRequest, HttpResponse, HttpTransport, MemoryLog,
    Runtime, RuntimeOptions, SqliteStorage, Storage, WriteOp, api,
};

/// The suite must keep at least this many fixtures.
const MIN_FIXTURES: usize = 40;

/// One fixture file.
#[derive(Debug, Serialize, Deserialize)]
struct Fixture {
    /// What it shows.
    description: String,
    /// The rule or behaviour it covers (R1…R7, or a named behaviour).
    rules: Vec<String>,
    /// A JSON merge patch over the production default settings.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    settings: Value,
    /// The host clock, RFC 3339.
    clock: String,
    /// Storage before the first step: key → JSON value (or a raw string).
    #[serde(default)]
    storage_before: BTreeMap<String, Value>,
    /// The calls, in order.
    steps: Vec<Step>,
    /// The whole storage after the last step.
    storage_after: BTreeMap<String, Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Step {
    /// `{ "<export>": <arguments> }`.
    call: Value,
    /// Move the clock forward before the call.
    #[serde(default, skip_serializing_if = "is_zero")]
    advance_clock_ms: i64,
    /// The exchanges the call must make, in order.
    #[serde(default)]
    http: Vec<Exchange>,
    /// The result: `{"Ok": …}` or `{"Err": …}` in the WIT types' serde form.
    expect: Value,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Exchange {
    request: ExpectedRequest,
    response: CannedResponse,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExpectedRequest {
    method: String,
    /// Compared after percent-decoding both sides.
    path: String,
    /// A JSON body, compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    /// A text body (CSV), compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CannedResponse {
    #[serde(default)]
    status: u16,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_text: Option<String>,
    /// Instead of a response: the `http-error` the host returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// Answers the component from a script and notes every deviation.
struct ScriptedOrg {
    script: Mutex<VecDeque<Exchange>>,
    problems: Mutex<Vec<String>>,
}

impl ScriptedOrg {
    fn new(script: Vec<Exchange>) -> Self {
        ScriptedOrg {
            script: Mutex::new(script.into()),
            problems: Mutex::new(Vec::new()),
        }
    }

    fn problem(&self, text: String) -> HttpError {
        self.problems.lock().unwrap().push(text.clone());
        HttpError::Transport(format!("fixture: {text}"))
    }
}

impl HttpTransport for ScriptedOrg {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = request.method.as_str();
        let path = decode(&request.path);
        let Some(next) = self.script.lock().unwrap().pop_front() else {
            return Err(self.problem(format!("unexpected request {method} {path}")));
        };
        let want = &next.request;
        if want.method != method || decode(&want.path) != path {
            return Err(self.problem(format!(
                "expected {} {}\n      but got {method} {path}",
                want.method,
                decode(&want.path)
            )));
        }
        if let Some(body) = &want.body {
            let got: Value = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&request.body).into_owned())
            });
            if &got != body {
                return Err(self.problem(format!(
                    "{method} {path}: body differs\n      expected {body}\n      got      {got}"
                )));
            }
        }
        if let Some(text) = &want.body_text {
            let got = String::from_utf8_lossy(&request.body);
            if got != *text {
                return Err(self.problem(format!(
                    "{method} {path}: body differs\n      expected {text:?}\n      got      {got:?}"
                )));
            }
        }
        if want.body.is_none() && want.body_text.is_none() && !request.body.is_empty() {
            return Err(self.problem(format!("{method} {path}: unexpected body")));
        }
        let canned = next.response;
        if let Some(error) = canned.error {
            return Err(serde_json::from_value(error).expect("a valid http-error in the fixture"));
        }
        let body = match (canned.body, canned.body_text) {
            (Some(v), _) => serde_json::to_vec(&v).unwrap(),
            (None, Some(t)) => t.into_bytes(),
            (None, None) => Vec::new(),
        };
        let mut headers: Vec<(String, String)> = canned.headers.into_iter().collect();
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("sforce-limit-info"))
        {
            headers.push(("sforce-limit-info".into(), "api-usage=100/100000".into()));
        }
        Ok(HttpResponse {
            status: canned.status,
            headers,
            body,
        })
    }
}

/// Percent-decodes a path for comparison.
fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(unsubscribe_sync::PLUGIN_WASM, RuntimeOptions::default())
            .expect("the component compiles")
    })
}

/// RFC 7386 merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.insert(k.clone(), Value::Null);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn settings_of(fixture: &Fixture) -> api::Settings {
    let mut s = serde_json::to_value(unsubscribe_sync::config::default_settings()).unwrap();
    if !fixture.settings.is_null() {
        merge(&mut s, &fixture.settings);
    }
    serde_json::from_value(s).expect("settings in the fixture match the WIT settings record")
}

fn to_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.clone().into_bytes(),
        v => serde_json::to_vec(v).unwrap(),
    }
}

fn from_bytes(bytes: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) if !v.is_string() => v,
        _ => Value::String(String::from_utf8_lossy(bytes).into_owned()),
    }
}

fn dump(storage: &dyn Storage) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = storage.list("", after.as_deref(), 1000).unwrap();
        for (k, v) in &page.entries {
            all.insert(k.clone(), from_bytes(v));
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return all,
        }
    }
}

fn arg<T: for<'de> Deserialize<'de>>(v: &Value, what: &str) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("fixture argument {what}: {e}"))
}

/// An event as the fixture gives it, with `received_at` set to the step's
/// clock when the fixture leaves it out: the host received the event at the
/// moment it calls the component.
fn received_now(event: &Value, now: i64) -> Value {
    match event {
        Value::Object(o) if !o.contains_key("received_at") => {
            let mut o = o.clone();
            o.insert("received_at".into(), now.into());
            Value::Object(o)
        }
        Value::Array(events) => Value::Array(events.iter().map(|e| received_now(e, now)).collect()),
        other => other.clone(),
    }
}

fn result<T: Serialize, E: Serialize>(r: Result<T, E>) -> Value {
    serde_json::to_value(r).unwrap()
}

/// Calls one export; `nightly` runs until the run is no longer in progress,
/// moving the clock on by each wait the component asks for (as a host sleeps).
fn call(
    rt: &Runtime,
    caps: &Capabilities,
    clock: &FixedClock,
    settings: &api::Settings,
    call: &Value,
) -> Result<Value, String> {
    let (name, args) = call
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or("a step's call must be {\"export\": arguments}")?;
    let host = |e: unsubscribe_sync::HostError| format!("host error: {e}");
    let args = &match name.as_str() {
        "push" | "resubscribe" | "import" | "push_many" => {
            received_now(args, unsubscribe_sync::Clock::now_ms(clock))
        }
        _ => args.clone(),
    };
    Ok(match name.as_str() {
        "validate_settings" => result(rt.validate_settings(caps, settings).map_err(host)?),
        "push" => result(rt.push(caps, settings, &arg(args, "push")).map_err(host)?),
        "resubscribe" => result(
            rt.resubscribe(caps, settings, &arg(args, "resubscribe"))
                .map_err(host)?,
        ),
        "push_many" => {
            let events: Vec<api::UnsubscribeEvent> = arg(args, "push_many");
            result(rt.push_many(caps, settings, &events).map_err(host)?)
        }
        "import" => {
            let events: Vec<api::UnsubscribeEvent> = arg(args, "import");
            result(rt.import(caps, settings, &events).map_err(host)?)
        }
        "nightly" => {
            let options: api::NightlyOptions = arg(args, "nightly");
            let mut calls = 0;
            loop {
                calls += 1;
                let r = rt.nightly(caps, settings, &options).map_err(host)?;
                match r {
                    Ok(api::NightlyOutcome::InProgress(p)) if calls < 500 => {
                        clock.advance(i64::from(p.wait_ms))
                    }
                    other => break result(other),
                }
            }
        }
        "nightly_step" => result(
            rt.nightly(caps, settings, &arg(args, "nightly_step"))
                .map_err(host)?,
        ),
        "report_items" => {
            let run_id: String = arg(&args["run_id"], "run_id");
            let after: Option<String> = arg(&args["after"], "after");
            let limit: u32 = arg(&args["limit"], "limit");
            result(
                rt.report_items(caps, &run_id, after.as_deref(), limit)
                    .map_err(host)?,
            )
        }
        "next_nightly" => {
            let schedule: api::Schedule = arg(&args["schedule"], "schedule");
            let after: i64 = arg(&args["after"], "after");
            result(rt.next_nightly(caps, &schedule, after).map_err(host)?)
        }
        "check" => result(rt.check(caps, settings).map_err(host)?),
        "status" => result(rt.status(caps, settings).map_err(host)?),
        "audit" => {
            let person: String = arg(args, "audit");
            result(rt.audit(caps, &person).map_err(host)?)
        }
        "drain_retries" => result(
            rt.drain_retries(caps, settings, arg(args, "drain_retries"))
                .map_err(host)?,
        ),
        other => return Err(format!("unknown export {other:?}")),
    })
}

fn parse_clock(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("clock {text:?}: {e}"))
        .timestamp_millis()
}

/// Runs one fixture; returns its problems (empty when it passes).
/// What a run may rewrite in the fixture files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bless {
    Nothing,
    Storage,
    All,
}

fn run_fixture(path: &Path, bless: Bless) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fixture: Fixture = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not a fixture: {e}", path.display()));
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("ledger.db")).unwrap());
    let seed: Vec<WriteOp> = fixture
        .storage_before
        .iter()
        .map(|(k, v)| WriteOp::Set(k.clone(), to_bytes(v)))
        .collect();
    storage.write(seed).unwrap();
    let clock = Arc::new(FixedClock::new(parse_clock(&fixture.clock)));
    let settings = settings_of(&fixture);
    let mut problems = Vec::new();
    for (i, step) in fixture.steps.iter_mut().enumerate() {
        clock.advance(step.advance_clock_ms);
        let org = Arc::new(ScriptedOrg::new(step.http.clone()));
        let caps = Capabilities {
            http: org.clone(),
            storage: storage.clone(),
            clock: clock.clone(),
            log: Arc::new(MemoryLog::default()),
        };
        let got = match call(runtime(), &caps, &clock, &settings, &step.call) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("step {i}: {e}"));
                continue;
            }
        };
        for p in org.problems.lock().unwrap().iter() {
            problems.push(format!("step {i}: {p}"));
        }
        let left = org.script.lock().unwrap().len();
        if left > 0 {
            let next = &org.script.lock().unwrap()[0].request;
            problems.push(format!(
                "step {i}: {left} expected request(s) never sent, first {} {}",
                next.method, next.path
            ));
        }
        if got != step.expect {
            // `BLESS=storage` also fills in results a fixture leaves null.
            if bless == Bless::All || (bless == Bless::Storage && step.expect.is_null()) {
                step.expect = got;
            } else {
                problems.push(format!(
                    "step {i}: result differs\n      expected {}\n      got      {}",
                    step.expect, got
                ));
            }
        }
    }
    let after = dump(storage.as_ref());
    if after != fixture.storage_after {
        if bless != Bless::Nothing {
            fixture.storage_after = after;
        } else {
            problems.push(storage_diff(&fixture.storage_after, &after));
        }
    }
    if bless != Bless::Nothing {
        let mut text = serde_json::to_string_pretty(&fixture).unwrap();
        text.push('\n');
        std::fs::write(path, text).unwrap();
    }
    problems
}

fn storage_diff(want: &BTreeMap<String, Value>, got: &BTreeMap<String, Value>) -> String {
    let mut lines = vec!["storage after differs:".to_string()];
    for (k, v) in want {
        match got.get(k) {
            None => lines.push(format!("      missing {k} = {v}")),
            Some(g) if g != v => lines.push(format!(
                "      {k}\n        expected {v}\n        got      {g}"
            )),
            _ => {}
        }
    }
    for (k, v) in got {
        if !want.contains_key(k) {
            lines.push(format!("      unexpected {k} = {v}"));
        }
    }
    lines.join("\n")
}

fn fixture_paths() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    paths
}

#[test]
fn every_fixture_passes_against_the_compiled_component() {
    let bless = std::env::var("BLESS").ok();
    let bless = match bless.as_deref() {
        None => Bless::Nothing,
        Some("storage") => Bless::Storage,
        Some("all") => Bless::All,
        Some(other) => panic!("BLESS={other}: use BLESS=storage or BLESS=all"),
    };
    let only = std::env::var("FIXTURE").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for path in fixture_paths() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        ran += 1;
        let problems = run_fixture(&path, bless);
        if !problems.is_empty() {
            failures.push(format!("{name}:\n  {}", problems.join("\n  ")));
        }
    }
    assert!(ran > 0, "no fixture ran");
    assert!(
        failures.is_empty(),
        "{} of {ran} fixtures failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_suite_covers_every_rule_with_at_least_forty_fixtures() {
    let paths = fixture_paths();
    assert!(
        paths.len() >= MIN_FIXTURES,
        "{} fixtures; at least {MIN_FIXTURES} are required",
        paths.len()
    );
    let mut covered = BTreeMap::<String, usize>::new();
    for path in &paths {
        let fixture: Fixture =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        for rule in fixture.rules {
            *covered.entry(rule).or_default() += 1;
        }
    }
    for rule in ["R1", "R2", "R3", "R4", "R5", "R6", "R7"] {
        assert!(
            covered.contains_key(rule),
            "no fixture covers {rule}: {covered:?}"
        );
    }
    // Every typed error of the WIT sync-error is produced by some fixture.
    let all: String = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    for variant in [
        "InvalidSettings",
        "InvalidEvent",
        "InvalidSalesforceId",
        "FieldNotInstalled",
        "FieldNotWritable",
        "RecordDeleted",
        "AuthFailed",
        "ApiLimitExhausted",
        "SalesforceError",
        "Transport",
        "RequestDenied",
        "StorageFailure",
    ] {
        assert!(
            all.contains(&format!("\"{variant}\"")),
            "no fixture produces sync-error {variant}"
        );
    }
}
