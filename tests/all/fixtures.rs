//! The WIT-defined fixture suite: every `tests/fixtures/*.json` runs the
//! compiled component in wasmtime with fixture-backed imports.
//!
//! The format is host-neutral and specified in `tests/fixtures/README.md`
//! (the Node and Python kits run the same files): values in the WIT's own
//! shapes, converted to and from `Val`s by [`crate::wit_json`] from each
//! export's type and passed through `Runtime::call_dynamic`, so no Rust name
//! appears in a fixture. Storage is a real SQLite file.
//!
//! The harness fails on any unexpected, missing or out-of-order request, any
//! request whose method, path or body differs, any difference in a result,
//! and any difference in the storage after. `BLESS=storage` rewrites the
//! expected storage after from a run (and fills in results left null),
//! `BLESS=all` the results too; review the diff before committing.
//! `FIXTURE=name` runs the fixtures whose name contains `name`.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unsubscribe_sync::{
    Capabilities, FixedClock, HttpError, HttpRequest, HttpResponse, HttpTransport, MemoryLog,
    Runtime, RuntimeOptions, SqliteStorage, Storage, WriteOp,
};

use crate::wit_json::{from_val, same, to_val};

/// The suite must keep at least this many fixtures.
const MIN_FIXTURES: usize = 40;

/// One fixture file (see `tests/fixtures/README.md`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Fixture {
    description: String,
    rules: Vec<String>,
    /// The WIT `settings` passed to every parameter named `settings`.
    settings: Value,
    /// The host clock, RFC 3339.
    clock: String,
    /// Storage before the first step: key → stored value (README: "Storage").
    #[serde(default)]
    storage_before: BTreeMap<String, Value>,
    steps: Vec<Step>,
    /// The whole storage after the last step.
    storage_after: BTreeMap<String, Value>,
}

/// One call (the emulator scenario's steps are the same, without `http`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct Step {
    /// The WIT name of a `sync` export.
    pub call: String,
    /// Its arguments by WIT parameter name (`settings` may be left out).
    #[serde(default)]
    args: Map<String, Value>,
    /// Move the clock forward before the call.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub advance_clock_ms: i64,
    /// Call again while the answer is `ok` with the case `while`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat: Option<Repeat>,
    /// The exchanges the call must make, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    http: Vec<Exchange>,
    /// The result, a WIT `result` value.
    pub expect: Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Repeat {
    /// The variant case of the `ok` value that means "call again".
    #[serde(rename = "while")]
    while_case: String,
    /// The payload field holding the milliseconds to move the clock by first.
    advance_clock_by: String,
    /// At most this many calls in all.
    max_calls: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Exchange {
    request: ExpectedRequest,
    /// The answer; exactly one of `response` and `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<CannedResponse>,
    /// Instead of a response: the WIT `http-error` the host returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct ExpectedRequest {
    /// A WIT `method` case (`get`, `patch`, ...).
    method: String,
    /// Compared after percent-decoding both sides (`+` as a space).
    path: String,
    /// A JSON body, compared as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_json: Option<Value>,
    /// A text body (CSV), compared exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_text: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct CannedResponse {
    status: u16,
    /// Every header the host answers with, in order.
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_json: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_text: Option<String>,
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

    /// A deviation fails the fixture, and the component is told
    /// `transport("fixture: ...")` (README: "HTTP exchanges").
    fn problem(&self, text: String) -> HttpError {
        self.problems.lock().unwrap().push(text.clone());
        HttpError::Transport(format!("fixture: {text}"))
    }
}

impl HttpTransport for ScriptedOrg {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let method = request.method.as_str().to_ascii_lowercase();
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
        if let Some(body) = &want.body_json {
            let got: Value = serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&request.body).into_owned())
            });
            if !same(&got, body) {
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
        if want.body_json.is_none() && want.body_text.is_none() && !request.body.is_empty() {
            return Err(self.problem(format!("{method} {path}: unexpected body")));
        }
        match (next.response, next.error) {
            (Some(canned), None) => Ok(HttpResponse {
                status: canned.status,
                headers: canned.headers,
                body: match (canned.body_json, canned.body_text) {
                    (Some(v), _) => serde_json::to_vec(&v).unwrap(),
                    (None, Some(t)) => t.into_bytes(),
                    (None, None) => Vec::new(),
                },
            }),
            (None, Some(error)) => Err(http_error(&error)),
            _ => Err(self.problem(format!(
                "{method} {path}: the exchange needs exactly one of response and error"
            ))),
        }
    }
}

/// A WIT `http-error` value as the host's error.
fn http_error(v: &Value) -> HttpError {
    let text = || v["val"].as_str().unwrap_or_default().to_string();
    match v["tag"].as_str() {
        Some("denied") => HttpError::Denied(text()),
        Some("auth-failed") => HttpError::AuthFailed(text()),
        Some("timeout") => HttpError::Timeout,
        Some("transport") => HttpError::Transport(text()),
        Some("response-too-large") => HttpError::ResponseTooLarge(v["val"].as_u64().unwrap_or(0)),
        _ => panic!("not a WIT http-error: {v}"),
    }
}

/// Percent-decodes a path for comparison; `+` is a space.
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

pub(crate) fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(unsubscribe_sync::PLUGIN_WASM, RuntimeOptions::default())
            .expect("the component compiles")
    })
}

/// A stored value as a fixture writes it: a JSON string is the raw bytes,
/// anything else its JSON text.
fn to_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) => s.clone().into_bytes(),
        v => serde_json::to_vec(v).unwrap(),
    }
}

/// The other way: bytes that parse as JSON other than a string are that
/// JSON; anything else is the bytes as text.
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

/// The step's arguments in the export's parameter order; `settings` is the
/// file's unless the step gives one.
fn arguments(
    rt: &Runtime,
    settings: &Value,
    step: &Step,
) -> Result<Vec<wasmtime::component::Val>, String> {
    let func = rt
        .export_type(&step.call)
        .ok_or_else(|| format!("no export {:?}", step.call))?;
    if let Some(extra) = step
        .args
        .keys()
        .find(|k| !func.params().any(|(name, _)| name == k.as_str()))
    {
        return Err(format!("{}: no parameter {extra:?}", step.call));
    }
    func.params()
        .map(|(name, ty)| {
            let value = match step.args.get(name) {
                Some(v) => v,
                None if name == "settings" => settings,
                None => return Err(format!("{}: argument {name:?} missing", step.call)),
            };
            to_val(&ty, value).map_err(|e| format!("{}: argument {name}: {e}", step.call))
        })
        .collect()
}

/// Makes one step's call (repeated as its `repeat` says, moving the clock on
/// by each wait the component asks for, as a host sleeps); the last answer.
pub(crate) fn call(
    rt: &Runtime,
    caps: &Capabilities,
    clock: &FixedClock,
    settings: &Value,
    step: &Step,
) -> Result<Value, String> {
    let args = arguments(rt, settings, step)?;
    let mut calls = 0;
    loop {
        calls += 1;
        let results = rt
            .call_dynamic(caps, &step.call, &args)
            .map_err(|e| format!("host error: {e}"))?;
        let [result] = results.as_slice() else {
            return Err(format!(
                "{}: {} results, expected one",
                step.call,
                results.len()
            ));
        };
        let answer = from_val(result);
        match &step.repeat {
            Some(r)
                if calls < r.max_calls
                    && answer["tag"] == "ok"
                    && answer["val"]["tag"] == r.while_case.as_str() =>
            {
                let wait = answer["val"]["val"][r.advance_clock_by.as_str()]
                    .as_i64()
                    .ok_or_else(|| {
                        format!(
                            "{}: no integer {:?} in {answer}",
                            step.call, r.advance_clock_by
                        )
                    })?;
                clock.advance(wait);
            }
            _ => return Ok(answer),
        }
    }
}

pub(crate) fn parse_clock(text: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("clock {text:?}: {e}"))
        .timestamp_millis()
}

/// What a run may rewrite in the fixture files.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bless {
    Nothing,
    Storage,
    All,
}

fn read_fixture(path: &Path) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not a fixture: {e}", path.display()))
}

/// Runs one fixture; returns its problems (empty when it passes).
fn run_fixture(path: &Path, bless: Bless) -> Vec<String> {
    let mut fixture = read_fixture(path);
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(SqliteStorage::open(&dir.path().join("ledger.db")).unwrap());
    let seed: Vec<WriteOp> = fixture
        .storage_before
        .iter()
        .map(|(k, v)| WriteOp::Set(k.clone(), to_bytes(v)))
        .collect();
    storage.write(seed).unwrap();
    let clock = Arc::new(FixedClock::new(parse_clock(&fixture.clock)));
    let mut problems = Vec::new();
    let mut results = Vec::new();
    for (i, step) in fixture.steps.iter().enumerate() {
        clock.advance(step.advance_clock_ms);
        let org = Arc::new(ScriptedOrg::new(step.http.clone()));
        let caps = Capabilities {
            http: org.clone(),
            storage: storage.clone(),
            clock: clock.clone(),
            log: Arc::new(MemoryLog::default()),
        };
        let got = match call(runtime(), &caps, &clock, &fixture.settings, step) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("step {i}: {e}"));
                results.push(None);
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
        if !same(&got, &step.expect) {
            // `BLESS=storage` also fills in results a fixture leaves null.
            if bless == Bless::All || (bless == Bless::Storage && step.expect.is_null()) {
                results.push(Some(got));
                continue;
            }
            problems.push(format!(
                "step {i}: result differs\n      expected {}\n      got      {}",
                step.expect, got
            ));
        }
        results.push(None);
    }
    for (step, blessed) in fixture.steps.iter_mut().zip(results) {
        if let Some(got) = blessed {
            step.expect = got;
        }
    }
    let after = dump(storage.as_ref());
    let storage_same = after.len() == fixture.storage_after.len()
        && after
            .iter()
            .all(|(k, v)| fixture.storage_after.get(k).is_some_and(|w| same(v, w)));
    if !storage_same {
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
            Some(g) if !same(g, v) => lines.push(format!(
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
    // The conformance line `.ci/run` compares across hosts.
    println!("fixtures (rust): {} of {ran} passed", ran - failures.len());
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
        for rule in read_fixture(path).rules {
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
    let sync_error = runtime()
        .export_type("push")
        .and_then(|f| f.results().next())
        .map(|ty| match ty {
            wasmtime::component::Type::Result(r) => r.err().expect("push has an error type"),
            other => panic!("push answers {other:?}, not a result"),
        })
        .expect("the component exports push");
    let wasmtime::component::Type::Variant(sync_error) = sync_error else {
        panic!("sync-error is not a variant");
    };
    let mut tags = Vec::new();
    for path in &paths {
        for step in read_fixture(path).steps {
            collect_tags(&step.expect, &mut tags);
        }
    }
    for case in sync_error.cases() {
        assert!(
            tags.iter().any(|t| t == case.name),
            "no fixture produces sync-error {}",
            case.name
        );
    }
}

/// Every `"tag"` in a JSON tree (an expected result).
fn collect_tags(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(t)) = o.get("tag") {
                out.push(t.clone());
            }
            o.values().for_each(|x| collect_tags(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| collect_tags(x, out)),
        _ => {}
    }
}
