//! Measures the emulator's own cost at one million records: start-up and memory, a
//! 200-record sObject Collections update, an email query, a 500,000-row Bulk ingest and a
//! Bulk query over every Lead. Run with `cargo bench -p sf-emulator`.
//!
//! "Emulator time" is the server-side time recorded in the call log (request received to
//! response ready), which excludes the HTTP client and the loopback round trip.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sf_emulator::{
    CallKind, Emulator, EmulatorConfig, SObject, synthetic_email, synthetic_id, synthetic_org,
};
use ureq::http;

const V: &str = "/services/data/v62.0";

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Client {
    agent: ureq::Agent,
    base: String,
    auth: String,
}

impl Client {
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> (u16, String, http::HeaderMap) {
        let mut b = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", &self.auth);
        if let Some(ct) = content_type {
            b = b.header("content-type", ct);
        }
        let mut resp = match body {
            Some(body) => self.agent.run(b.body(body).unwrap()).unwrap(),
            None => self.agent.run(b.body(()).unwrap()).unwrap(),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .unwrap();
        (status, text, headers)
    }

    fn json(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let (s, text, _) = self.call(
            method,
            path,
            Some("application/json"),
            Some(body.to_string().into_bytes()),
        );
        (s, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let base_rss = rss_mb();
    let t = Instant::now();
    let seed = synthetic_org(1_000_000, 0.1, 1);
    let generated = t.elapsed();
    let t = Instant::now();
    let emu = Emulator::start(
        EmulatorConfig {
            daily_api_limit: 10_000_000,
            ..EmulatorConfig::default()
        },
        seed,
    )
    .unwrap();
    let started = t.elapsed();
    let rss = rss_mb();
    println!(
        "seed generation (1M SeedRecords): {generated:.2?}; Emulator::start with 1M records: {started:.2?}"
    );
    println!(
        "resident memory: {rss:.0} MB with the emulator holding 1M records (process baseline {base_rss:.0} MB)"
    );

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let client = Client {
        agent,
        base: emu.base_url(),
        auth: format!("Bearer {}", emu.issue_access_token()),
    };

    // 200-record Collections updates, 300 times, Leads and Contacts alternating.
    let mut round_trips = Vec::new();
    for round in 0..300u64 {
        let object = if round % 2 == 0 {
            SObject::Lead
        } else {
            SObject::Contact
        };
        let records: Vec<Value> = (0..200u64)
            .map(|i| json!({ "attributes": { "type": object.name() }, "id": synthetic_id(object, (round * 200 + i) % 500_000), "HasOptedOutOfEmail": true }))
            .collect();
        let body = json!({ "allOrNone": false, "records": records });
        let t = Instant::now();
        let (status, _) = client.json("PATCH", &format!("{V}/composite/sobjects"), &body);
        round_trips.push(t.elapsed().as_micros() as u64);
        assert_eq!(status, 200);
    }
    let mut server: Vec<u64> = emu
        .call_log()
        .iter()
        .filter(|e| e.kind == CallKind::Collections)
        .map(|e| e.micros)
        .collect();
    server.sort_unstable();
    round_trips.sort_unstable();
    println!(
        "collections update, 200 records at 1M: emulator time median {} µs, p99 {} µs; client round trip median {} µs",
        percentile(&server, 0.5),
        percentile(&server, 0.99),
        percentile(&round_trips, 0.5)
    );

    // Query by 100 emails (index-driven).
    emu.reset_counts();
    for round in 0..50u64 {
        let emails: Vec<String> = (0..100u64)
            .map(|i| format!("'{}'", synthetic_email(SObject::Contact, round * 100 + i)))
            .collect();
        let q = format!(
            "SELECT Id, HasOptedOutOfEmail FROM Contact WHERE Email IN ({})",
            emails.join(",")
        );
        let path = format!(
            "{V}/query?q={}",
            q.replace(' ', "+")
                .replace('\'', "%27")
                .replace(',', "%2C")
                .replace('@', "%40")
        );
        let (status, _, _) = client.call("GET", &path, None, None);
        assert_eq!(status, 200);
    }
    let mut q: Vec<u64> = emu
        .call_log()
        .iter()
        .filter(|e| e.kind == CallKind::Query)
        .map(|e| e.micros)
        .collect();
    q.sort_unstable();
    println!(
        "query, Email IN (100 values) at 1M: emulator time median {} µs",
        percentile(&q, 0.5)
    );

    // Bulk ingest: 500,000 Lead rows.
    let mut csv = String::with_capacity(500_000 * 30);
    csv.push_str("Id,HasOptedOutOfEmail\n");
    for i in 0..500_000u64 {
        csv.push_str(&synthetic_id(SObject::Lead, i));
        csv.push_str(",true\n");
    }
    let (_, job) = client.json(
        "POST",
        &format!("{V}/jobs/ingest"),
        &json!({ "object": "Lead", "operation": "update" }),
    );
    let id = job["id"].as_str().unwrap().to_owned();
    let t = Instant::now();
    let (status, _, _) = client.call(
        "PUT",
        &format!("{V}/jobs/ingest/{id}/batches"),
        Some("text/csv"),
        Some(csv.into_bytes()),
    );
    assert_eq!(status, 201);
    let upload = t.elapsed();
    let t = Instant::now();
    client.json(
        "PATCH",
        &format!("{V}/jobs/ingest/{id}"),
        &json!({ "state": "UploadComplete" }),
    );
    let close = t.elapsed();
    let (_, info) = client.json("GET", &format!("{V}/jobs/ingest/{id}"), &Value::Null);
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["numberRecordsProcessed"], 500_000);
    let t = Instant::now();
    let (_, ok, _) = client.call(
        "GET",
        &format!("{V}/jobs/ingest/{id}/successfulResults/"),
        None,
        None,
    );
    let results = t.elapsed();
    println!(
        "bulk ingest, 500,000 rows: upload {upload:.2?}, processing {} ms (close call {close:.2?}), successfulResults ({} MB) {results:.2?}",
        info["totalProcessingTime"],
        ok.len() / 1_000_000
    );
    println!("resident memory after the ingest job: {:.0} MB", rss_mb());

    // Bulk query over every Lead, read in pages of 100,000.
    let t = Instant::now();
    let (_, job) = client.json(
        "POST",
        &format!("{V}/jobs/query"),
        &json!({ "operation": "query", "query": "SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead" }),
    );
    let created = t.elapsed();
    let id = job["id"].as_str().unwrap().to_owned();
    let t = Instant::now();
    let (mut locator, mut rows) = (String::new(), 0usize);
    loop {
        let path = if locator.is_empty() {
            format!("{V}/jobs/query/{id}/results?maxRecords=100000")
        } else {
            format!("{V}/jobs/query/{id}/results?maxRecords=100000&locator={locator}")
        };
        let (_, _, headers) = client.call("GET", &path, None, None);
        rows += headers["sforce-numberofrecords"]
            .to_str()
            .unwrap()
            .parse::<usize>()
            .unwrap();
        locator = headers["sforce-locator"].to_str().unwrap().to_owned();
        if locator == "null" {
            break;
        }
    }
    println!(
        "bulk query, {rows} Lead rows: job (query + CSV rendering) {created:.2?}, reading all pages {:.2?}",
        t.elapsed()
    );
    println!("resident memory at the end: {:.0} MB", rss_mb());
}
