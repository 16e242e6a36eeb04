//! The one JSON interface (host/README.md, "JSON interface"), through the
//! real binary against the emulator: every command with `--json`, and an
//! error of each, checked against the documented shape; a `serve` refusal;
//! and the rough edges of issue 11 (check writes nothing, CSV by line, push
//! on a terminal, a port in use, config errors without values, a login URL
//! that is not Salesforce, tables that fit 100 columns).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Output;

use serde_json::Value;

use crate::cli::{CONTACT, LEAD, seed, with_creds, write_config};
use crate::support::cli::{command, text};
use crate::support::emulator;
use crate::support::serve::{Server, WEBHOOK_SECRET, now_secs, post, signature};

/// A key is kebab-case: lowercase ASCII words joined by single dashes.
fn is_kebab(key: &str) -> bool {
    !key.is_empty()
        && !key.starts_with('-')
        && !key.ends_with('-')
        && !key.contains("--")
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A name of a time field: `at`, `*-at`, `next-due`, `due`.
fn is_time(key: &str) -> bool {
    key == "at" || key.ends_with("-at") || key == "next-due" || key == "due"
}

/// Checks `v` against the documented shape, recursively: kebab-case keys;
/// every time in ms with its RFC 3339 twin naming the same instant (and no
/// twin without its time); tags (`kind`, `outcome`) and enum-like values
/// as kebab-case strings. `data` lists the keys whose objects are data (a
/// map keyed by names), not records.
fn check_shape(v: &Value, path: &str, data: &[&str]) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_shape(item, &format!("{path}[{i}]"), data);
            }
        }
        Value::Object(map) => {
            for (k, child) in map {
                let at = format!("{path}.{k}");
                assert!(is_kebab(k), "{at}: key {k:?} is not kebab-case");
                if let Some(base) = k.strip_suffix("-rfc3339") {
                    let ms = map
                        .get(base)
                        .and_then(Value::as_i64)
                        .unwrap_or_else(|| panic!("{at}: a twin without its time {base:?}"));
                    let text = child
                        .as_str()
                        .unwrap_or_else(|| panic!("{at}: not a string: {child}"));
                    let parsed = chrono::DateTime::parse_from_rfc3339(text)
                        .unwrap_or_else(|e| panic!("{at}: {text:?} is not RFC 3339: {e}"));
                    assert_eq!(parsed.timestamp_millis(), ms, "{at}: {text} != {ms} ms");
                    continue;
                }
                let twin_due = is_time(k) || (k == "value" && map.contains_key("value-rfc3339"));
                if is_time(k) && !child.is_null() {
                    assert!(child.is_i64(), "{at}: a time not in ms: {child}");
                }
                if twin_due && child.is_i64() {
                    assert!(
                        map.contains_key(&format!("{k}-rfc3339")),
                        "{at}: a time without its {k}-rfc3339 twin"
                    );
                }
                if k == "kind" || k == "outcome" || k == "object" {
                    let tag = child
                        .as_str()
                        .unwrap_or_else(|| panic!("{at}: a tag that is not a string: {child}"));
                    assert!(is_kebab(tag), "{at}: tag {tag:?} is not kebab-case");
                }
                if data.contains(&k.as_str()) {
                    continue;
                }
                check_shape(child, &at, data);
            }
        }
        _ => {}
    }
}

/// The output as JSON in the documented shape.
fn shaped(out: &Output, what: &str) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON: {e}\n{}", text(out)));
    check_shape(&v, what, &[]);
    v
}

/// A `--json` error: exit `code`, and on stdout exactly
/// `{"error": {"kind", "message", "what-to-do"}}`, all non-empty strings,
/// `kind` the exit code's.
fn assert_error(out: &Output, code: i32, kind: &str) -> Value {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the error is not JSON: {e}\n{}", text(out)));
    assert_error_object(&v, kind);
    v
}

fn assert_error_object(v: &Value, kind: &str) {
    let top = v.as_object().expect("an object");
    assert_eq!(top.keys().collect::<Vec<_>>(), ["error"], "{v}");
    let e = v["error"].as_object().expect("error is an object");
    let mut keys: Vec<&str> = e.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["kind", "message", "what-to-do"], "{v}");
    for k in keys {
        assert!(
            e[k].as_str().is_some_and(|s| !s.is_empty()),
            "{k} is not a non-empty string: {v}"
        );
    }
    assert_eq!(e["kind"], kind, "{v}");
}

/// A directory with a config for a fresh emulator (the seed of `cli`).
fn configured() -> (tempfile::TempDir, sf_emulator::Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    (dir, emu)
}

fn run(dir: &Path, args: &[&str]) -> Output {
    with_creds(dir).args(args).output().unwrap()
}

#[test]
fn every_json_output_follows_the_documented_shape() {
    let (dir, _emu) = configured();
    let d = dir.path();

    // check: nothing written, items with kebab requirements.
    let out = run(d, &["check", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "check");
    assert_eq!(v["passed"], true, "{v:#}");
    assert_eq!(v["wrote-nothing"], true, "{v:#}");
    for item in v["items"].as_array().unwrap() {
        let r = item["requirement"].as_str().unwrap();
        assert!(is_kebab(r), "requirement {r:?} is not kebab-case");
    }

    // push: written, tagged by `outcome`, the record's fields beside it.
    let out = run(
        d,
        &[
            "push",
            "--json",
            &format!(
                "{{\"person_id\":\"p-a\",\"salesforce_id\":\"{LEAD}\",\"occurred_at\":\"2025-07-08T10:00:00Z\"}}"
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "push");
    assert_eq!(v["outcome"], "written", "{v:#}");
    assert_eq!(v["target"]["id"], LEAD, "{v:#}");
    assert_eq!(v["target"]["object"], "lead", "{v:#}");
    // Without an ID: a case without payload is the tag alone.
    let out = run(d, &["push", "--json", "{\"person_id\":\"p-b\"}"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        shaped(&out, "push"),
        serde_json::json!({"outcome": "skipped-no-salesforce-id"})
    );
    // The same event again: a duplicate.
    let out = run(
        d,
        &[
            "push",
            "--json",
            &format!(
                "{{\"person_id\":\"p-a\",\"salesforce_id\":\"{LEAD}\",\"occurred_at\":\"2025-07-08T10:00:00Z\"}}"
            ),
        ],
    );
    assert_eq!(
        shaped(&out, "push")["outcome"],
        "duplicate",
        "{}",
        text(&out)
    );

    // resubscribe.
    let out = run(d, &["resubscribe", "--json", "{\"person_id\":\"p-b\"}"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "resubscribe");
    assert_eq!(v["outcome"], "released", "{v:#}");

    // import: host-written, kebab-case too.
    std::fs::write(
        d.join("more.csv"),
        format!("person_id,salesforce_id\np-c,{CONTACT}\np-d,\n"),
    )
    .unwrap();
    let out = run(d, &["import", "--json", "more.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "import");
    assert_eq!(v["added"], 2, "{v:#}");
    assert_eq!(v["without-salesforce-id"], 1, "{v:#}");

    // nightly --dry-run and nightly: the report once, its lines in `items`.
    let out = run(d, &["nightly", "--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "nightly --dry-run");
    assert_eq!(v["dry-run"], true, "{v:#}");
    assert!(v.get("report").is_none(), "{v:#}");
    assert!(v["started-at-rfc3339"].is_string(), "{v:#}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len() as u64, v["items-total"].as_u64().unwrap());
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "would-write" && i["person-id"] == "p-c"),
        "{v:#}"
    );
    assert!(
        items
            .iter()
            .any(|i| i["kind"] == "skipped-no-salesforce-id" && i["person-id"] == "p-d"),
        "{v:#}"
    );
    let out = run(d, &["nightly", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "nightly");
    assert_eq!(v["dry-run"], false, "{v:#}");
    assert_eq!(v["written"], 1, "{v:#}");
    assert!(v["stopped"].is_null(), "{v:#}");
    let strategy = v["strategy"].as_array().unwrap();
    assert!(
        strategy.iter().all(|s| s.as_str().is_some_and(is_kebab)),
        "{v:#}"
    );

    // status: the ledger (WIT) and the host's objects, kebab-case both.
    let out = run(d, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "status");
    assert_eq!(v["ledger"]["held"], 3, "{v:#}");
    assert_eq!(
        v["credentials"]["client-secret"], "set (environment)",
        "{v:#}"
    );
    assert_eq!(v["storage"]["serve-inbox"], 0, "{v:#}");
    assert!(v["ledger"]["last-report"]["finished-at-rfc3339"].is_string());

    // audit: every entry's `at` has its twin.
    let out = run(d, &["audit", "p-a", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = shaped(&out, "audit");
    assert_eq!(v["person-id"], "p-a", "{v:#}");
    let entries = v["entries"].as_array().unwrap();
    assert!(entries.iter().all(|e| e["at-rfc3339"].is_string()), "{v:#}");
    assert!(entries.iter().any(|e| e["kind"] == "received"), "{v:#}");
    assert!(entries.iter().any(|e| e["kind"] == "confirmed"), "{v:#}");

    // Errors, each the documented object with its exit code.
    assert_error(
        &run(d, &["push", "--json", "{\"person\":\"x\"}"]),
        2,
        "usage",
    );
    assert_error(&run(d, &["resubscribe", "--json", "not json"]), 2, "usage");
    assert_error(&run(d, &["import", "--json", "no-such.csv"]), 2, "usage");
    assert_error(&run(d, &["audit", "nobody", "--json"]), 4, "not-found");
    // A command line clap refuses, with --json: the same object.
    assert_error(&run(d, &["status", "--json", "--no-such-flag"]), 2, "usage");
    let missing = tempfile::tempdir().unwrap();
    for args in [
        &["push", "--json", "{\"person_id\":\"p\"}"][..],
        &["resubscribe", "--json", "{\"person_id\":\"p\"}"],
        &["import", "--json", "x.csv"],
        &["nightly", "--json"],
        &["nightly", "--dry-run", "--json"],
        &["check", "--json"],
        &["status", "--json"],
        &["audit", "p", "--json"],
    ] {
        let v = assert_error(&run(missing.path(), args), 2, "usage");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unsubscribe-sync.toml"),
            "{args:?}: {v}"
        );
    }
    // The org rejects the credentials: a requirement, as an error object.
    let out = command(d)
        .env("UNSUBSCRIBE_SYNC_CLIENT_ID", "emulator-client")
        .env("UNSUBSCRIBE_SYNC_CLIENT_SECRET", "wrong")
        .env("UNSUBSCRIBE_SYNC_REFRESH_TOKEN", "wrong")
        .args([
            "push",
            "--json",
            &format!("{{\"person_id\":\"p-e\",\"salesforce_id\":\"{CONTACT}\"}}"),
        ])
        .output()
        .unwrap();
    if out.status.code() != Some(0) {
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", text(&out)));
        if v.get("error").is_some() {
            let kind = match out.status.code() {
                Some(1) => "runtime",
                Some(3) => "requirement",
                other => panic!("exit {other:?}\n{}", text(&out)),
            };
            assert_error_object(&v, kind);
        } else {
            check_shape(&v, "push (rejected credentials)", &[]);
        }
    }
}

#[test]
fn bench_push_json_follows_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path())
        .args(["bench", "push", "-n", "3", "--naive", "1", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // `outcomes` is a count per outcome: keyed by data (the outcome's tag).
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_shape(&v, "bench push", &["outcomes"]);
    assert!(v["fast"]["median-us"].is_number(), "{v:#}");
    assert!(v["meets-target"].is_boolean(), "{v:#}");
    for key in v["outcomes"].as_object().unwrap().keys() {
        assert!(is_kebab(key), "outcome {key:?}");
    }
    let out = command(dir.path())
        .args(["bench", "push", "-n", "0", "--json"])
        .output()
        .unwrap();
    assert_error(&out, 2, "usage");
}

#[test]
fn a_serve_refusal_is_the_documented_error_object() {
    let (dir, _emu) = configured();
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/unsubscribes", server.base);
    let body = "{\"person_id\":\"p-1\"}";
    let ts = now_secs();
    let (status, answer) = post(
        &url,
        body,
        Some(ts),
        Some(&signature("not-the-secret-at-all", ts, body)),
    );
    assert_eq!(status, 401, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_error_object(&v, v["error"]["kind"].as_str().unwrap_or("?"));
    assert!(is_kebab(v["error"]["kind"].as_str().unwrap()), "{v}");
    // A malformed but signed event: 400, the same object.
    let bad = "{\"person\":\"x\"}";
    let (status, answer) = post(
        &url,
        bad,
        Some(ts),
        Some(&signature(WEBHOOK_SECRET, ts, bad)),
    );
    assert_eq!(status, 400, "{answer}");
    let v: Value = serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{e}: {answer}"));
    assert_error_object(&v, v["error"]["kind"].as_str().unwrap_or("?"));
    assert_eq!(
        server.terminate(std::time::Duration::from_secs(30)),
        Some(0)
    );
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn check_creates_no_file_and_says_so() {
    let emu = emulator(seed());
    // A directory with only the config: no ledger is created.
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &emu, "");
    let before = listing(dir.path());
    let out = run(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("check wrote nothing"),
        "{}",
        text(&out)
    );
    assert_eq!(listing(dir.path()), before);
    let out = run(dir.path(), &["check", "--json"]);
    assert_eq!(shaped(&out, "check")["wrote-nothing"], true);
    assert_eq!(listing(dir.path()), before);
    // An empty directory: a config error, and still nothing created.
    let empty = tempfile::tempdir().unwrap();
    let out = run(empty.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        listing(empty.path()).is_empty(),
        "{:?}",
        listing(empty.path())
    );
}

#[test]
fn a_csv_line_with_an_open_quote_is_refused_by_its_line_and_the_rest_recorded() {
    let (dir, _emu) = configured();
    // Line 1 the header, line 3 (row 2) an unterminated quote.
    std::fs::write(
        dir.path().join("rows.csv"),
        format!("person_id,salesforce_id\np-1,{LEAD}\np-2,\"{CONTACT}\np-3,{CONTACT}\np-4,\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["import", "--json", "rows.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let v = shaped(&out, "import");
    let unreadable = v["unreadable"].as_array().unwrap();
    assert_eq!(unreadable.len(), 1, "{v:#}");
    assert_eq!(unreadable[0]["line"], 3, "{v:#}");
    assert!(
        unreadable[0]["problem"]
            .as_str()
            .is_some_and(|p| p.contains("quote")),
        "{v:#}"
    );
    // The rows after it are recorded.
    assert_eq!(v["added"], 3, "{v:#}");
    for p in ["p-1", "p-3", "p-4"] {
        let out = run(dir.path(), &["audit", p, "--json"]);
        assert_eq!(out.status.code(), Some(0), "{p}: {}", text(&out));
    }
    assert_error(
        &run(dir.path(), &["audit", "p-2", "--json"]),
        4,
        "not-found",
    );
    // In text: the line number, on stderr or stdout.
    let out = run(dir.path(), &["import", "rows.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("line 3"), "{}", text(&out));
}

#[test]
fn push_without_an_event_on_a_terminal_says_what_it_expects() {
    // A terminal as stdin, by `script` (util-linux) when it is installed.
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to give push a terminal");
        return;
    }
    let (dir, emu) = configured();
    let bin = crate::support::cli::bin();
    // `script -qec CMD /dev/null` runs CMD with a pseudo-terminal as stdin.
    let out = {
        let mut c = std::process::Command::new("script");
        c.current_dir(dir.path())
            .env("UNSUBSCRIBE_SYNC_CLIENT_ID", "emulator-client")
            .env("UNSUBSCRIBE_SYNC_CLIENT_SECRET", crate::cli::CLIENT_SECRET)
            .env("UNSUBSCRIBE_SYNC_REFRESH_TOKEN", crate::cli::REFRESH_TOKEN)
            .env("UNSUBSCRIBE_SYNC_CACHE_DIR", crate::support::cache_dir())
            .env("NO_COLOR", "1")
            .args(["-qec", &format!("{} push", bin.display()), "/dev/null"])
            .stdin(std::process::Stdio::null());
        c.output().unwrap()
    };
    let all = text(&out);
    assert!(
        all.contains("no event given") && all.contains("--file") && all.contains("stdin"),
        "{all}"
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert_eq!(emu.call_counts().records_written, 0);
}

#[test]
fn a_port_in_use_exits_1_naming_listen() {
    let (dir, emu) = configured();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = with_creds(dir.path())
        .env("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&addr) && stderr.contains("--listen") && !stderr.contains("server.listen"),
        "{stderr}"
    );
    // Set by the config: the message names the key.
    write_config(
        dir.path(),
        &emu,
        &format!("\n[server]\nlisten = \"{addr}\"\n"),
    );
    let out = with_creds(dir.path())
        .env("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .args(["serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("server.listen"), "{stderr}");
    drop(taken);
}

#[test]
fn a_config_error_never_echoes_the_value() {
    const SECRET: &str = "s3cr3t-VALUE-0123456789abcdef";
    let dir = tempfile::tempdir().unwrap();
    for config in [
        format!("[org]\nlogin_url = \"{SECRET}\"\n"),
        format!("[org]\nclient_secret = \"{SECRET}\"\nlogin_url = 42\n"),
        format!("[storage]\npath = [\"{SECRET}\"]\n"),
        format!("[org]\nno_such_key = \"{SECRET}\"\n"),
    ] {
        std::fs::write(dir.path().join("unsubscribe-sync.toml"), &config).unwrap();
        for args in [&["status"][..], &["status", "--json"], &["check"]] {
            let out = command(dir.path()).args(args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{config}\n{}", text(&out));
            assert!(
                !text(&out).contains(SECRET) && !text(&out).contains("s3cr3t"),
                "{config}\n{}",
                text(&out)
            );
            assert!(
                text(&out).contains("unsubscribe-sync.toml"),
                "{}",
                text(&out)
            );
        }
    }
}

/// A plain HTTP server that is not Salesforce: 404 with an HTML page to
/// every request.
fn not_salesforce() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let mut buf = [0u8; 8192];
            let _ = s.read(&mut buf);
            let page = "<html><body><h1>Not Found</h1></body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    (url, handle)
}

#[test]
fn a_login_url_that_is_not_salesforce_is_told_apart_from_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _server) = not_salesforce();
    std::fs::write(
        dir.path().join("unsubscribe-sync.toml"),
        format!("[org]\nlogin_url = \"{url}\"\n\n[storage]\npath = \"sync.db\"\n"),
    )
    .unwrap();
    let out = run(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("org.login_url"), "{all}");
    assert!(!all.contains("check the network path"), "{all}");
    let out = run(dir.path(), &["check", "--json"]);
    let v = shaped(&out, "check");
    let failed = crate::support::shape::failed_checks(&v);
    assert_eq!(failed.len(), 1, "{v:#}");
    let remedy = failed[0]["remedy"].as_str().unwrap_or("");
    assert!(
        remedy.contains("org.login_url") && !remedy.contains("network path"),
        "{v:#}"
    );
}

#[test]
fn audit_and_nightly_tables_fit_100_columns() {
    let (dir, _emu) = configured();
    let long = "a-source-with-a-rather-long-name ".repeat(4);
    let out = run(
        dir.path(),
        &[
            "push",
            &format!(
                "{{\"person_id\":\"p-wide\",\"salesforce_id\":\"{LEAD}\",\"source\":\"{}\"}}",
                long.trim().replace(' ', "_")
            ),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // A malformed ID: its invalid-ID entry says why, at length.
    let out = run(
        dir.path(),
        &[
            "push",
            "{\"person_id\":\"p-wide\",\"salesforce_id\":\"00Q5e00000AbCdEXXX\",\"occurred_at\":\"2099-01-01T00:00:00Z\"}",
        ],
    );
    assert!(out.status.code().is_some(), "{}", text(&out));
    std::fs::write(
        dir.path().join("many.csv"),
        format!("person_id,salesforce_id\np-c,{CONTACT}\np-none,\np-bad,00Q5e00000AbCdEXXX\n"),
    )
    .unwrap();
    let _ = run(dir.path(), &["import", "many.csv"]);
    for args in [
        &["audit", "p-wide"][..],
        &["nightly", "--dry-run"],
        &["nightly"],
        &["status"],
        &["audit", "p-c"],
    ] {
        let out = run(dir.path(), args);
        assert!(
            matches!(out.status.code(), Some(0 | 1 | 3)),
            "{args:?}\n{}",
            text(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(!stdout.is_empty(), "{args:?}");
        for line in stdout.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: a line of {} columns:\n{line}\n{stdout}",
                line.chars().count()
            );
        }
    }
    // Times in the tables are RFC 3339 (seconds, UTC).
    let stdout =
        String::from_utf8_lossy(&run(dir.path(), &["audit", "p-wide"]).stdout).into_owned();
    let first = stdout
        .lines()
        .find(|l| l.starts_with("20"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let when = first.split_whitespace().next().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(when).is_ok() && when.ends_with('Z'),
        "{when}\n{stdout}"
    );
}
