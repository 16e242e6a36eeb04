//! End-to-end checks of the emulator over real HTTP on loopback, against the shapes,
//! status codes, headers and error codes of `plugin/SALESFORCE.md`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sf_emulator::{
    CallKind, Emulator, EmulatorConfig, FaultConfig, FieldAccess, OrgSeed, SObject, SeedRecord,
    ValidationRule, sfid, synthetic_email, synthetic_id, synthetic_org,
};
use sha2::Sha256;
use ureq::http;

// Fixture values of plugin/SALESFORCE.md.
const LEAD_A: &str = "00Q5e00000AbCdEEAV";
const LEAD_B: &str = "00Q5e00000AbCdFEAV";
const CONVERTED_LEAD: &str = "00Q5e00000KqLmNEAV";
const CONTACT_A: &str = "0035e00000XyZaBAAV";
const CONTACT_B: &str = "0035e00000XyZaCAAV";
const V: &str = "/services/data/v62.0";

const EXAMPLE_ORG: &str = include_str!("../examples/org.json");

fn fixture_seed() -> OrgSeed {
    serde_json::from_str(EXAMPLE_ORG).expect("examples/org.json parses as an OrgSeed")
}

fn start() -> Emulator {
    start_with(EmulatorConfig::default())
}

fn start_with(config: EmulatorConfig) -> Emulator {
    Emulator::start(config, fixture_seed()).expect("emulator starts")
}

/// A response read to the end.
struct R {
    status: u16,
    headers: http::HeaderMap,
    body: String,
}

impl R {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A small client: an OAuth token plus helpers for each verb.
struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn send(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<R, ureq::Error> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut resp = match body {
        Some(b) => agent.run(builder.body(b).expect("request builds"))?,
        None => agent.run(builder.body(()).expect("request builds"))?,
    };
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .body_mut()
        .with_config()
        .limit(512 * 1024 * 1024)
        .read_to_string()?;
    Ok(R {
        status,
        headers,
        body,
    })
}

fn token_form(emu: &Emulator, form: &str) -> R {
    send(
        &agent(),
        "POST",
        &emu.token_url(),
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(form.as_bytes().to_vec()),
    )
    .expect("token call")
}

const REFRESH_FORM: &str = "grant_type=refresh_token&client_id=emulator-client&client_secret=emulator-secret&refresh_token=emulator-refresh-token";

impl Api {
    fn new(emu: &Emulator) -> Api {
        let resp = token_form(emu, REFRESH_FORM);
        assert_eq!(resp.status, 200, "{}", resp.body);
        let token = resp.json()["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned();
        Api {
            agent: agent(),
            base: emu.base_url(),
            token,
        }
    }

    fn call(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> R {
        self.try_call(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    fn try_call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<R, ureq::Error> {
        let auth = format!("Bearer {}", self.token);
        let mut all = vec![("authorization", auth.as_str())];
        all.extend_from_slice(headers);
        send(
            &self.agent,
            method,
            &format!("{}{}", self.base, path),
            &all,
            body,
        )
    }

    fn get(&self, path: &str) -> R {
        self.call("GET", path, &[], None)
    }

    fn json(&self, method: &str, path: &str, body: &Value) -> R {
        self.call(
            method,
            path,
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
    }

    fn patch(&self, path: &str, body: &Value) -> R {
        self.json("PATCH", path, body)
    }

    fn raw_patch(&self, path: &str, body: &str) -> R {
        self.call(
            "PATCH",
            path,
            &[("content-type", "application/json")],
            Some(body.as_bytes().to_vec()),
        )
    }

    fn query(&self, q: &str) -> R {
        self.get(&format!("{V}/query?q={}", encode(q)))
    }
}

fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn rest_error(code: &str, message: &str) -> Value {
    json!([{ "message": message, "errorCode": code }])
}

fn rest_error_fields(code: &str, message: &str, fields: &[&str]) -> Value {
    json!([{ "message": message, "errorCode": code, "fields": fields }])
}

#[test]
fn emulator_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Emulator>();
    let emu = std::sync::Arc::new(start());
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let emu = std::sync::Arc::clone(&emu);
            std::thread::spawn(move || {
                let api = Api::new(&emu);
                let id = if i % 2 == 0 { LEAD_A } else { CONTACT_A };
                let object = if i % 2 == 0 { "Lead" } else { "Contact" };
                api.patch(
                    &format!("{V}/sobjects/{object}/{id}"),
                    &json!({ "HasOptedOutOfEmail": true }),
                )
                .status
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 204);
    }
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 2);
    assert_eq!(emu.record(CONTACT_A).unwrap().write_count, 2);
}

// ---------------------------------------------------------------------------------------
// Record Ids (§8)
// ---------------------------------------------------------------------------------------

#[test]
fn id_checksum_matches_the_published_pairs() {
    let pairs = [
        ("0036000000QKv5T", "0036000000QKv5TAAT"),
        ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
        ("70130000001tcyI", "70130000001tcyIAAQ"),
        ("001550V000WOQZi", "001550V000WOQZiACP"),
        ("00558000001N0Ke", "00558000001N0KeAAK"),
        ("0019000000B98de", "0019000000B98deAAB"),
    ];
    for (short, long) in pairs {
        assert_eq!(sfid::to18(short).unwrap(), long, "{short}");
        assert!(sfid::has_valid_checksum(long));
        // 18-character Ids resolve case-insensitively, 15-character ones case-sensitively.
        assert_eq!(
            &sfid::normalize(&long.to_uppercase()).unwrap(),
            short.as_bytes()
        );
        assert_eq!(
            &sfid::normalize(&long.to_lowercase()).unwrap(),
            short.as_bytes()
        );
        assert_eq!(&sfid::normalize(short).unwrap(), short.as_bytes());
    }
    assert_eq!(
        &sfid::normalize("80120000000TESTAAE").unwrap(),
        b"80120000000tEst"
    );
    for fixture in [
        LEAD_A,
        LEAD_B,
        CONVERTED_LEAD,
        CONTACT_A,
        CONTACT_B,
        "00D5e000000AbCdEAK",
        "0055e000001QwErAAK",
        "7505e00000AaBbCAAV",
    ] {
        assert!(sfid::has_valid_checksum(fixture), "{fixture}");
    }
    // The intentionally invalid Id from the docs' error examples does not satisfy the checksum.
    assert!(!sfid::has_valid_checksum("001900K0001pPuOAAU"));
    assert_eq!(sfid::sobject_of(LEAD_A), Some(SObject::Lead));
    assert_eq!(sfid::sobject_of("0035e00000XyZaB"), Some(SObject::Contact));
    assert_eq!(sfid::sobject_of("001000000000001"), None);
    assert!(sfid::to18("too-short").is_err());
}

// ---------------------------------------------------------------------------------------
// OAuth (§1)
// ---------------------------------------------------------------------------------------

#[test]
fn token_endpoint_follows_the_refresh_token_flow() {
    let emu = start();
    let resp = token_form(&emu, REFRESH_FORM);
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let body = resp.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        [
            "access_token",
            "id",
            "instance_url",
            "issued_at",
            "scope",
            "signature",
            "token_type"
        ]
    );
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "refresh_token api");
    assert_eq!(body["instance_url"], emu.base_url());
    assert_eq!(
        body["id"],
        format!(
            "{}/id/00D5e000000AbCdEAK/0055e000001QwErAAK",
            emu.base_url()
        )
    );
    let issued_at = body["issued_at"].as_str().expect("issued_at is a string");
    assert_eq!(issued_at.len(), 13);
    assert!(issued_at.bytes().all(|b| b.is_ascii_digit()));
    // signature = base64(HMAC-SHA256(client secret, id + issued_at))
    let mut mac = Hmac::<Sha256>::new_from_slice(b"emulator-secret").unwrap();
    mac.update(body["id"].as_str().unwrap().as_bytes());
    mac.update(issued_at.as_bytes());
    assert_eq!(
        body["signature"],
        STANDARD.encode(mac.finalize().into_bytes())
    );
    assert!(
        body["access_token"]
            .as_str()
            .unwrap()
            .starts_with("00D5e000000AbCd!")
    );

    // Client credentials as HTTP Basic.
    let basic = format!(
        "Basic {}",
        STANDARD.encode("emulator-client:emulator-secret")
    );
    let resp = send(
        &agent(),
        "POST",
        &emu.token_url(),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", &basic),
        ],
        Some(b"grant_type=refresh_token&refresh_token=emulator-refresh-token".to_vec()),
    )
    .unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);

    let oauth_error = |form: &str, error: &str, description: &str| {
        let resp = token_form(&emu, form);
        assert_eq!(resp.status, 400, "{form}");
        assert_eq!(
            resp.json(),
            json!({ "error": error, "error_description": description }),
            "{form}"
        );
    };
    oauth_error(
        "grant_type=refresh_token&client_id=emulator-client&client_secret=wrong&refresh_token=emulator-refresh-token",
        "invalid_client",
        "invalid client credentials",
    );
    oauth_error(
        "grant_type=refresh_token&client_id=emulator-client&client_secret=emulator-secret&refresh_token=nope",
        "invalid_grant",
        "expired access/refresh token",
    );
    oauth_error(
        "grant_type=refresh_tokn&client_id=emulator-client",
        "unsupported_grant_type",
        "grant type not supported",
    );
    emu.revoke_refresh_token();
    oauth_error(
        REFRESH_FORM,
        "invalid_grant",
        "expired access/refresh token",
    );
    emu.restore_refresh_token();
    assert_eq!(token_form(&emu, REFRESH_FORM).status, 200);

    let counts = emu.call_counts();
    assert_eq!(counts.token, 7);
    assert_eq!(
        counts.total_api_calls, 0,
        "token requests do not count against the daily limit"
    );
}

#[test]
fn jwt_bearer_grant_checks_the_claims() {
    let emu = start();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 120) as i64;
    let assertion =
        |claims: Value| format!("{}.{}.c2ln", b64(&json!({"alg": "RS256"})), b64(&claims));
    let form = |a: String| {
        format!("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={a}")
    };
    let ok = token_form(
        &emu,
        &form(assertion(
            json!({"iss": "emulator-client", "sub": "integration@acme.com", "aud": "https://login.salesforce.com", "exp": exp}),
        )),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(ok.json().get("refresh_token").is_none());
    let expired = token_form(
        &emu,
        &form(assertion(
            json!({"iss": "emulator-client", "sub": "u", "exp": 1}),
        )),
    );
    assert_eq!(expired.status, 400);
    assert_eq!(expired.json()["error"], "invalid_grant");
}

// ---------------------------------------------------------------------------------------
// Versions (§10) and authentication of data calls (§1.6)
// ---------------------------------------------------------------------------------------

#[test]
fn versions_list_needs_no_auth_and_costs_nothing() {
    let emu = start();
    let resp = send(
        &agent(),
        "GET",
        &format!("{}/services/data/", emu.base_url()),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(resp.status, 200);
    assert!(resp.header("sforce-limit-info").is_none());
    let list = resp.json();
    let list = list.as_array().unwrap();
    assert!(list.contains(
        &json!({ "label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0" })
    ));
    assert!(list.contains(
        &json!({ "label": "Spring '25", "url": "/services/data/v63.0", "version": "63.0" })
    ));
    assert!(list.contains(
        &json!({ "label": "Summer '25", "url": "/services/data/v64.0", "version": "64.0" })
    ));
    let versions: Vec<f64> = list
        .iter()
        .map(|v| v["version"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "oldest first");
    assert!(versions.contains(&42.0) && versions.contains(&66.0));
    assert_eq!(emu.call_counts().versions, 1);
    assert_eq!(emu.call_counts().total_api_calls, 0);

    let api = Api::new(&emu);
    assert_eq!(
        api.get("/services/data/v29.0/limits").status,
        410,
        "retired version"
    );
    assert_eq!(api.get("/services/data/v99.0/limits").status, 404);
    let root = api.get(V);
    assert_eq!(root.status, 200);
    assert_eq!(root.json()["query"], "/services/data/v62.0/query");
}

#[test]
fn data_calls_need_a_live_token() {
    let emu = start();
    let invalid = rest_error("INVALID_SESSION_ID", "Session expired or invalid");
    let url = format!("{}{V}/sobjects/Lead/{LEAD_A}", emu.base_url());
    let none = send(&agent(), "GET", &url, &[], None).unwrap();
    assert_eq!(none.status, 401);
    assert_eq!(none.json(), invalid);
    assert!(
        none.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    let bogus = send(
        &agent(),
        "GET",
        &url,
        &[("authorization", "Bearer nope")],
        None,
    )
    .unwrap();
    assert_eq!((bogus.status, bogus.json()), (401, invalid.clone()));

    let api = Api::new(&emu);
    assert_eq!(api.get(&format!("{V}/sobjects/Lead/{LEAD_A}")).status, 200);
    // The older `OAuth` scheme is accepted too.
    let oauth = send(
        &agent(),
        "GET",
        &url,
        &[("authorization", &format!("OAuth {}", api.token))],
        None,
    )
    .unwrap();
    assert_eq!(oauth.status, 200);

    emu.expire_tokens();
    let expired = api.get(&format!("{V}/sobjects/Lead/{LEAD_A}"));
    assert_eq!((expired.status, expired.json()), (401, invalid));
    let fresh = Api::new(&emu);
    assert_eq!(
        fresh.get(&format!("{V}/sobjects/Lead/{LEAD_A}")).status,
        200
    );
    assert_eq!(emu.call_counts().total_api_calls, 3, "401s are not counted");
}

// ---------------------------------------------------------------------------------------
// Single-record PATCH and GET (§2)
// ---------------------------------------------------------------------------------------

#[test]
fn patch_updates_a_record_and_answers_204() {
    let emu = start();
    let api = Api::new(&emu);
    let before = emu.record(LEAD_A).unwrap();
    assert!(!before.has_opted_out_of_email);
    assert_eq!(before.write_count, 0);

    let resp = api.patch(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "HasOptedOutOfEmail": true }),
    );
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    assert_eq!(resp.header("sforce-limit-info"), Some("api-usage=1/100000"));
    let after = emu.record(LEAD_A).unwrap();
    assert!(after.has_opted_out_of_email);
    assert_eq!(after.write_count, 1);
    assert_ne!(after.last_modified_date, before.last_modified_date);
    assert!(after.last_modified_date > before.last_modified_date);
    assert_eq!(
        after.last_modified_date.len(),
        "2025-07-08T10:00:00.000+0000".len()
    );
    assert!(after.last_modified_date.ends_with("+0000"));
    assert_eq!(
        after.email, before.email,
        "only the fields in the body change"
    );

    // Custom checkbox, 15-character Id, and a case-mangled 18-character Id.
    let resp = api.patch(
        &format!("{V}/sobjects/Contact/0035e00000XyZaB"),
        &json!({ "Sales_Opt_Out__c": true }),
    );
    assert_eq!(resp.status, 204, "{}", resp.body);
    assert!(emu.record(CONTACT_A).unwrap().custom["Sales_Opt_Out__c"]);
    let resp = api.patch(
        &format!("{V}/sobjects/contact/{}", CONTACT_A.to_uppercase()),
        &json!({ "hasoptedoutofemail": true }),
    );
    assert_eq!(resp.status, 204, "{}", resp.body);
    assert!(emu.record(CONTACT_A).unwrap().has_opted_out_of_email);
    // Writing the same value again is still a write (LastModifiedDate moves).
    let lmd = emu.record(CONTACT_A).unwrap().last_modified_date;
    assert_eq!(
        api.patch(
            &format!("{V}/sobjects/Contact/{CONTACT_A}"),
            &json!({ "HasOptedOutOfEmail": true })
        )
        .status,
        204
    );
    let again = emu.record(CONTACT_A).unwrap();
    assert_eq!(again.write_count, 3);
    assert!(again.last_modified_date > lmd);

    // POST with _HttpMethod=PATCH.
    let resp = api.json(
        "POST",
        &format!("{V}/sobjects/Lead/{LEAD_B}?_HttpMethod=PATCH"),
        &json!({ "HasOptedOutOfEmail": true }),
    );
    assert_eq!(resp.status, 204);
    assert!(emu.record(LEAD_B).unwrap().has_opted_out_of_email);

    let counts = emu.call_counts();
    assert_eq!(counts.sobject_patch, 5);
    assert_eq!(counts.records_written, 5);
    assert_eq!(counts.total_api_calls, 5);
    let log = emu.call_log();
    assert_eq!(log.len(), 6, "token + 5 patches");
    assert_eq!(log[1].method, "PATCH");
    assert_eq!(log[1].path, format!("{V}/sobjects/Lead/{LEAD_A}"));
    assert_eq!(log[1].status, 204);
    assert_eq!(log[1].kind, CallKind::SobjectPatch);
}

#[test]
fn patch_errors_are_salesforce_shaped_and_write_nothing() {
    let emu = start();
    emu.set_field_access(SObject::Lead, "Sales_Opt_Out__c", FieldAccess::Hidden);
    emu.set_field_access(
        SObject::Contact,
        "HasOptedOutOfEmail",
        FieldAccess::ReadOnly,
    );
    let api = Api::new(&emu);
    let opt_out = json!({ "HasOptedOutOfEmail": true });
    let check = |path: &str, body: &Value, status: u16, expected: Value| {
        let resp = api.patch(path, body);
        assert_eq!(resp.status, status, "{path}: {}", resp.body);
        assert_eq!(resp.json(), expected, "{path}");
        assert!(resp.header("sforce-limit-info").is_some());
    };

    check(
        &format!("{V}/sobjects/Lead/{CONTACT_A}"),
        &opt_out,
        400,
        rest_error_fields(
            "MALFORMED_ID",
            "Lead ID: id value of incorrect type: 0035e00000XyZaBAAV",
            &["Id"],
        ),
    );
    check(
        &format!("{V}/sobjects/Contact/{LEAD_A}"),
        &opt_out,
        400,
        rest_error_fields(
            "MALFORMED_ID",
            "Contact ID: id value of incorrect type: 00Q5e00000AbCdEEAV",
            &["Id"],
        ),
    );
    check(
        &format!("{V}/sobjects/Lead/not-an-id"),
        &opt_out,
        404,
        rest_error(
            "NOT_FOUND",
            "Provided external ID field does not exist or is not accessible: not-an-id",
        ),
    );
    check(
        &format!("{V}/sobjects/Lead/00Q5e00000ZzZzZEAV"),
        &opt_out,
        404,
        rest_error("NOT_FOUND", "The requested resource does not exist"),
    );
    emu.delete(LEAD_B);
    check(
        &format!("{V}/sobjects/Lead/{LEAD_B}"),
        &opt_out,
        404,
        json!([{ "message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": [] }]),
    );
    check(
        &format!("{V}/sobjects/Lead/{CONVERTED_LEAD}"),
        &opt_out,
        400,
        json!([{ "message": "cannot reference converted lead", "errorCode": "CANNOT_UPDATE_CONVERTED_LEAD", "fields": [] }]),
    );
    check(
        &format!("{V}/sobjects/Contact/{CONTACT_A}"),
        &json!({ "Mkto_Opt_Out__c": true }),
        400,
        rest_error(
            "INVALID_FIELD",
            "No such column 'Mkto_Opt_Out__c' on sobject of type Contact",
        ),
    );
    check(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "Sales_Opt_Out__c": true }),
        400,
        rest_error(
            "INVALID_FIELD",
            "No such column 'Sales_Opt_Out__c' on sobject of type Lead",
        ),
    );
    check(
        &format!("{V}/sobjects/Contact/{CONTACT_A}"),
        &opt_out,
        400,
        rest_error_fields(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: HasOptedOutOfEmail. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
            &["HasOptedOutOfEmail"],
        ),
    );
    check(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "IsConverted": true }),
        400,
        rest_error_fields(
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            "Unable to create/update fields: IsConverted. Please check the security settings of this field and verify that it is read/write for your profile or permission set.",
            &["IsConverted"],
        ),
    );
    let resp = api.patch(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "Id": LEAD_A }),
    );
    assert_eq!(
        resp.json()[0]["errorCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );

    // Malformed bodies.
    let resp = api.raw_patch(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        "{\"HasOptedOutOfEmail\": tru",
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()[0]["errorCode"], "JSON_PARSER_ERROR");
    let resp = api.raw_patch(&format!("{V}/sobjects/Lead/{LEAD_A}"), "");
    assert_eq!(
        (resp.status, resp.json()[0]["errorCode"].clone()),
        (400, json!("JSON_PARSER_ERROR"))
    );
    let resp = api.raw_patch(&format!("{V}/sobjects/Lead/{LEAD_A}"), "[1,2]");
    assert_eq!(
        (resp.status, resp.json()[0]["errorCode"].clone()),
        (400, json!("JSON_PARSER_ERROR"))
    );
    let resp = api.patch(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "HasOptedOutOfEmail": "yes" }),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()[0]["errorCode"], "JSON_PARSER_ERROR");
    assert!(
        resp.json()[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Cannot deserialize instance of boolean from VALUE_STRING value yes"),
        "{}",
        resp.body
    );

    // A validation rule fires with the admin's message.
    emu.add_validation_rule(ValidationRule {
        object: Some(SObject::Lead),
        record_id: Some(LEAD_A[..15].to_owned()),
        email_suffix: None,
        error_field: Some("HasOptedOutOfEmail".to_owned()),
        message: "Opt-out changes need a reason code".to_owned(),
    });
    check(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &opt_out,
        400,
        rest_error_fields(
            "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "Opt-out changes need a reason code",
            &["HasOptedOutOfEmail"],
        ),
    );
    // Email-suffix rule from examples/org.json (contacts at blocked.example).
    let blocked = emu.insert(SeedRecord::contact("someone@blocked.example"));
    let resp = api.patch(
        &format!("{V}/sobjects/Contact/{blocked}"),
        &json!({ "Sales_Opt_Out__c": true }),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json()[0]["errorCode"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );

    // Wrong URL shapes.
    let resp = api.patch(&format!("{V}/sobjects/Lead"), &opt_out);
    assert_eq!(resp.status, 405);
    assert_eq!(
        resp.json(),
        json!([{ "errorCode": "METHOD_NOT_ALLOWED", "message": "HTTP Method 'PATCH' not allowed. Allowed are HEAD,GET,POST" }])
    );
    let resp = api.patch(
        &format!("{V}/sobjects/Account/001000000000001AAA"),
        &opt_out,
    );
    assert_eq!(
        (resp.status, resp.json()),
        (
            404,
            rest_error("NOT_FOUND", "The requested resource does not exist")
        )
    );

    for id in [LEAD_A, LEAD_B, CONVERTED_LEAD, CONTACT_A, &blocked] {
        assert_eq!(
            emu.record(id).unwrap().write_count,
            0,
            "{id} must not be written"
        );
    }
    assert!(!emu.record(LEAD_A).unwrap().has_opted_out_of_email);
    assert_eq!(emu.call_counts().records_written, 0);
}

#[test]
fn lock_errors_on_single_patch_are_400_unable_to_lock_row() {
    let emu = start_with(EmulatorConfig {
        faults: FaultConfig {
            seed: 1,
            rate_lock: 1.0,
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    });
    let api = Api::new(&emu);
    let resp = api.patch(
        &format!("{V}/sobjects/Lead/{LEAD_A}"),
        &json!({ "HasOptedOutOfEmail": true }),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json(),
        rest_error_fields(
            "UNABLE_TO_LOCK_ROW",
            "unable to obtain exclusive access to this record or 1 records: 00Q5e00000AbCdEEAV",
            &[]
        )
    );
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 0);
    assert_eq!(emu.call_counts().injected_lock_errors, 1);
}

#[test]
fn get_record_returns_attributes_and_fields() {
    let emu = start();
    emu.set_field_access(SObject::Lead, "Sales_Opt_Out__c", FieldAccess::Hidden);
    let api = Api::new(&emu);
    let resp = api.get(&format!("{V}/sobjects/Lead/{CONVERTED_LEAD}"));
    assert_eq!(resp.status, 200);
    assert!(resp.header("sforce-limit-info").is_some());
    let rec = resp.json();
    assert_eq!(
        rec["attributes"],
        json!({ "type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q5e00000KqLmNEAV" })
    );
    assert_eq!(rec["Id"], CONVERTED_LEAD);
    assert_eq!(rec["Email"], "b@y.com");
    assert_eq!(rec["IsConverted"], true);
    assert_eq!(rec["ConvertedContactId"], CONTACT_B);
    assert_eq!(rec["HasOptedOutOfEmail"], false);
    assert_eq!(rec["IsDeleted"], false);
    assert_eq!(rec["MasterRecordId"], Value::Null);
    assert!(rec["LastModifiedDate"].as_str().unwrap().ends_with("+0000"));
    assert!(
        rec.get("Sales_Opt_Out__c").is_none(),
        "hidden fields are not returned"
    );

    let some = api
        .get(&format!(
            "{V}/sobjects/Contact/{CONTACT_A}?fields=Id,HasOptedOutOfEmail,Sales_Opt_Out__c"
        ))
        .json();
    let keys: Vec<&str> = some
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{some}");
    assert_eq!(some["Sales_Opt_Out__c"], false);
    let bad = api.get(&format!(
        "{V}/sobjects/Lead/{LEAD_A}?fields=Sales_Opt_Out__c"
    ));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()[0]["errorCode"], "INVALID_FIELD");

    emu.merge(LEAD_B, LEAD_A);
    let gone = api.get(&format!("{V}/sobjects/Lead/{LEAD_B}"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()[0]["errorCode"], "ENTITY_IS_DELETED");
    assert_eq!(emu.call_counts().sobject_get, 4);
}

// ---------------------------------------------------------------------------------------
// sObject Collections (§3)
// ---------------------------------------------------------------------------------------

#[test]
fn collections_update_matches_the_documented_exchange() {
    let emu = start();
    let api = Api::new(&emu);
    // §3.2 request, §3.3 response.
    let resp = api.patch(
        &format!("{V}/composite/sobjects"),
        &json!({
            "allOrNone": false,
            "records": [
                { "attributes": { "type": "Lead" },    "id": LEAD_A, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Lead" },    "id": CONVERTED_LEAD, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Contact" }, "id": CONTACT_A, "HasOptedOutOfEmail": true }
            ]
        }),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.json(),
        json!([
            { "id": LEAD_A, "success": true, "errors": [] },
            {
                "success": false,
                "errors": [
                    { "statusCode": "CANNOT_UPDATE_CONVERTED_LEAD", "message": "cannot reference converted lead", "fields": [] }
                ]
            },
            { "id": CONTACT_A, "success": true, "errors": [] }
        ])
    );
    assert!(emu.record(LEAD_A).unwrap().has_opted_out_of_email);
    assert!(emu.record(CONTACT_A).unwrap().has_opted_out_of_email);
    assert_eq!(emu.record(CONVERTED_LEAD).unwrap().write_count, 0);
    assert_eq!(
        resp.header("sforce-limit-info"),
        Some("api-usage=1/100000"),
        "one call for the whole request"
    );
    assert_eq!(emu.call_counts().collections, 1);
}

#[test]
fn collections_all_or_none_rolls_back() {
    let emu = start();
    let api = Api::new(&emu);
    emu.delete(CONTACT_B);
    let before: Vec<_> = [LEAD_A, CONTACT_A, CONTACT_B]
        .iter()
        .map(|id| emu.record(id).unwrap())
        .collect();
    let resp = api.patch(
        &format!("{V}/composite/sobjects"),
        &json!({
            "allOrNone": true,
            "records": [
                { "attributes": { "type": "Lead" }, "id": LEAD_A, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Contact" }, "id": CONTACT_B, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Contact" }, "id": CONTACT_A, "HasOptedOutOfEmail": true }
            ]
        }),
    );
    assert_eq!(resp.status, 200);
    let rolled_back = json!({
        "success": false,
        "errors": [{
            "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
            "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
            "fields": []
        }]
    });
    assert_eq!(
        resp.json(),
        json!([
            rolled_back,
            { "success": false, "errors": [{ "statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted", "fields": [] }] },
            rolled_back
        ])
    );
    for rec in before {
        assert_eq!(emu.record(&rec.id).unwrap(), rec, "{} rolled back", rec.id);
    }
    assert!(!emu.record(LEAD_A).unwrap().has_opted_out_of_email);
}

#[test]
fn collections_request_level_errors() {
    let emu = start();
    let api = Api::new(&emu);
    let path = format!("{V}/composite/sobjects");
    let record = |t: &str, id: &str| json!({ "attributes": { "type": t }, "id": id, "HasOptedOutOfEmail": true });

    let too_many: Vec<Value> = (0..201).map(|_| record("Lead", LEAD_A)).collect();
    let resp = api.patch(&path, &json!({ "records": too_many }));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json(),
        rest_error(
            "EXCEEDED_ID_LIMIT",
            "EXCEEDED_ID_LIMIT: record limit reached. cannot submit more than 200 records into this call"
        )
    );
    // 11 alternating chunks.
    let chunky: Vec<Value> = (0..11)
        .map(|i| {
            if i % 2 == 0 {
                record("Lead", LEAD_A)
            } else {
                record("Contact", CONTACT_A)
            }
        })
        .collect();
    let resp = api.patch(&path, &json!({ "records": chunky }));
    assert_eq!(resp.status, 400);
    assert!(
        resp.json()[0]["message"]
            .as_str()
            .unwrap()
            .contains("more than 10 chunks")
    );
    // Ten chunks are fine.
    let ten: Vec<Value> = (0..10)
        .map(|i| {
            if i % 2 == 0 {
                record("Lead", LEAD_A)
            } else {
                record("Contact", CONTACT_A)
            }
        })
        .collect();
    assert_eq!(api.patch(&path, &json!({ "records": ten })).status, 200);

    let resp = api.patch(
        &path,
        &json!({ "records": [{ "id": LEAD_A, "HasOptedOutOfEmail": true }] }),
    );
    assert_eq!(
        (resp.status, resp.json()),
        (
            400,
            rest_error("INVALID_TYPE", "Must send a concrete entity type.")
        )
    );
    let resp = api.patch(&path, &json!({ "records": [{ "attributes": { "type": "Lead" }, "id": LEAD_A, "Nope__c": true }] }));
    assert_eq!(
        (resp.status, resp.json()),
        (
            400,
            rest_error(
                "INVALID_FIELD",
                "No such column 'Nope__c' on sobject of type Lead"
            )
        )
    );
    let resp = api.raw_patch(&path, "{\"records\": [");
    assert_eq!(
        (resp.status, resp.json()[0]["errorCode"].clone()),
        (400, json!("JSON_PARSER_ERROR"))
    );
    let resp = api.json("POST", &path, &json!({ "records": [] }));
    assert_eq!(resp.status, 405);
}

#[test]
fn collections_record_level_errors() {
    let emu = start();
    let api = Api::new(&emu);
    let resp = api.patch(
        &format!("{V}/composite/sobjects"),
        &json!({
            "records": [
                { "attributes": { "type": "Lead" }, "id": CONTACT_A, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Lead" }, "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Lead" }, "id": "00Q5e00000AbCdE", "HasOptedOutOfEmail": true },
                { "attributes": { "type": "Lead" }, "id": LEAD_A, "HasOptedOutOfEmail": true }
            ]
        }),
    );
    assert_eq!(resp.status, 200);
    let body = resp.json();
    assert_eq!(
        body[0],
        json!({ "success": false, "errors": [{ "statusCode": "MALFORMED_ID", "message": "Lead ID: id value of incorrect type: 0035e00000XyZaBAAV", "fields": ["Id"] }] })
    );
    assert_eq!(body[1]["errors"][0]["statusCode"], "MISSING_ARGUMENT");
    assert_eq!(
        body[2],
        json!({ "id": LEAD_A, "success": true, "errors": [] }),
        "15-character Ids are accepted"
    );
    // Duplicate Ids (UNCONFIRMED behaviour): the later occurrence fails.
    assert_eq!(body[3]["success"], false);
    assert_eq!(body[3]["errors"][0]["statusCode"], "DUPLICATE_VALUE");
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 1);
}

// ---------------------------------------------------------------------------------------
// SOQL query (§4)
// ---------------------------------------------------------------------------------------

#[test]
fn query_matches_the_documented_response() {
    let emu = start();
    let api = Api::new(&emu);
    let resp = api.get(&format!(
        "{V}/query?q=SELECT+Id,Email,HasOptedOutOfEmail,IsConverted,ConvertedContactId+FROM+Lead+WHERE+Email+IN+('a%40x.com','b%40y.com')"
    ));
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert!(resp.header("sforce-limit-info").is_some());
    assert_eq!(
        resp.json(),
        json!({
            "totalSize": 2,
            "done": true,
            "records": [
                {
                    "attributes": { "type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q5e00000AbCdEEAV" },
                    "Id": "00Q5e00000AbCdEEAV",
                    "Email": "a@x.com",
                    "HasOptedOutOfEmail": false,
                    "IsConverted": false,
                    "ConvertedContactId": null
                },
                {
                    "attributes": { "type": "Lead", "url": "/services/data/v62.0/sobjects/Lead/00Q5e00000KqLmNEAV" },
                    "Id": "00Q5e00000KqLmNEAV",
                    "Email": "b@y.com",
                    "HasOptedOutOfEmail": false,
                    "IsConverted": true,
                    "ConvertedContactId": "0035e00000XyZaCAAV"
                }
            ]
        })
    );
    // Fields come back in SELECT order.
    assert!(
        resp.body.find("\"Email\"").unwrap() < resp.body.find("\"HasOptedOutOfEmail\"").unwrap()
    );
}

#[test]
fn query_filters_ids_emails_checkboxes_and_limits() {
    let emu = start();
    let api = Api::new(&emu);
    let ids = |q: &str| -> Vec<String> {
        let resp = api.query(q);
        assert_eq!(resp.status, 200, "{q}: {}", resp.body);
        let body = resp.json();
        assert_eq!(
            body["totalSize"].as_u64().unwrap() as usize,
            body["records"].as_array().unwrap().len()
        );
        body["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    // 15- and 18-character (case-insensitive) Id literals.
    assert_eq!(
        ids(&format!(
            "SELECT Id FROM Lead WHERE Id IN ('{}', '{}')",
            &LEAD_A[..15],
            LEAD_B.to_lowercase()
        )),
        [LEAD_A, LEAD_B]
    );
    assert_eq!(
        ids(&format!("select id from lead where id = '{CONTACT_A}'")),
        Vec::<String>::new()
    );
    // Email comparison is case-insensitive.
    assert_eq!(
        ids("SELECT Id FROM Contact WHERE Email = 'A.CONTACT@example.com'"),
        [CONTACT_A]
    );
    assert_eq!(
        ids("SELECT Id FROM Lead WHERE HasOptedOutOfEmail = true"),
        Vec::<String>::new()
    );
    assert_eq!(
        ids("SELECT Id FROM Lead WHERE IsConverted = false"),
        [LEAD_A, LEAD_B]
    );
    assert_eq!(
        ids(
            "SELECT Id FROM Lead WHERE IsConverted = false AND (Email = 'a@x.com' OR Email = 'lead.b@example.com')"
        ),
        [LEAD_A, LEAD_B]
    );
    assert_eq!(
        ids("SELECT Id FROM Lead WHERE Email = 'a@x.com' OR IsConverted = true"),
        [LEAD_A, CONVERTED_LEAD]
    );
    assert_eq!(
        ids("SELECT Id FROM Lead WHERE Email != 'a@x.com' AND IsConverted = false"),
        [LEAD_B]
    );
    assert_eq!(ids("SELECT Id FROM Lead LIMIT 2").len(), 2);
    assert_eq!(
        ids("SELECT Id FROM Lead ORDER BY Email DESC LIMIT 1"),
        [LEAD_B]
    );
    assert_eq!(
        ids(r"SELECT Id FROM Contact WHERE LastName = 'O\'Brien'"),
        [CONTACT_B]
    );
    assert_eq!(
        ids("SELECT Id FROM Contact WHERE Sales_Opt_Out__c = true"),
        [CONTACT_B]
    );

    let count = api.query("SELECT COUNT() FROM Lead").json();
    assert_eq!(
        count,
        json!({ "totalSize": 3, "done": true, "records": [] })
    );

    // Deleted rows: excluded by query, included by queryAll with IsDeleted / MasterRecordId.
    emu.merge(LEAD_B, LEAD_A);
    assert_eq!(
        ids("SELECT Id FROM Lead WHERE IsConverted = false"),
        [LEAD_A]
    );
    let all = api
        .get(&format!(
            "{V}/queryAll?q={}",
            encode(&format!(
                "SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE Id IN ('{LEAD_B}')"
            ))
        ))
        .json();
    assert_eq!(all["totalSize"], 1);
    assert_eq!(all["records"][0]["IsDeleted"], true);
    assert_eq!(all["records"][0]["MasterRecordId"], LEAD_A);
    assert_eq!(emu.call_counts().query, 15);
}

#[test]
fn query_pages_with_next_records_url() {
    let emu = start();
    let mut seed = OrgSeed::default();
    for i in 0..5120 {
        seed.records
            .push(SeedRecord::contact(&format!("page{i}@example.com")));
    }
    emu.seed(seed).unwrap();
    let api = Api::new(&emu);
    let q = format!(
        "{V}/query?q={}",
        encode("SELECT Id, Email FROM Contact WHERE HasOptedOutOfEmail = false")
    );
    let first = api.get(&q).json();
    let total = 5120 + 1; // Contact A; Contact B is opted out
    assert_eq!(first["totalSize"], total);
    assert_eq!(first["done"], false);
    assert_eq!(first["records"].as_array().unwrap().len(), 2000);
    let next = first["nextRecordsUrl"].as_str().unwrap().to_owned();
    assert!(next.starts_with("/services/data/v62.0/query/01g"), "{next}");
    assert!(next.ends_with("-2000"), "{next}");
    let (cursor, _) = next.rsplit_once('-').unwrap();
    assert!(sfid::has_valid_checksum(cursor.rsplit('/').next().unwrap()));

    let mut seen: Vec<String> = first["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Id"].as_str().unwrap().to_owned())
        .collect();
    let mut url = Some(next);
    let mut pages = 1;
    while let Some(u) = url {
        let page = api.get(&u);
        assert_eq!(page.status, 200);
        let page = page.json();
        assert_eq!(page["totalSize"], total);
        pages += 1;
        seen.extend(
            page["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["Id"].as_str().unwrap().to_owned()),
        );
        url = page["nextRecordsUrl"].as_str().map(str::to_owned);
        assert_eq!(page["done"], url.is_none());
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), total);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), total, "no row twice");
    assert_eq!(emu.call_counts().query_more, 2);

    // batchSize from Sforce-Query-Options (bounded to 200..=2000).
    let small = api
        .call(
            "GET",
            &q,
            &[("sforce-query-options", "batchSize=200")],
            None,
        )
        .json();
    assert_eq!(small["records"].as_array().unwrap().len(), 200);
    assert!(small["nextRecordsUrl"].as_str().unwrap().ends_with("-200"));
    let tiny = api
        .call("GET", &q, &[("sforce-query-options", "batchSize=5")], None)
        .json();
    assert_eq!(tiny["records"].as_array().unwrap().len(), 200);

    let bad = api.get(&format!("{V}/query/01g5e00000EXAMPLE-2000"));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()[0]["errorCode"], "INVALID_QUERY_LOCATOR");
}

#[test]
fn query_errors_are_salesforce_shaped() {
    let emu = start();
    emu.set_field_access(SObject::Contact, "Sales_Opt_Out__c", FieldAccess::Hidden);
    let api = Api::new(&emu);
    let resp = api.query("SELECT Id, Foo__c FROM Lead");
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.json(),
        rest_error(
            "INVALID_FIELD",
            "\nSELECT Id, Foo__c FROM Lead\n           ^\nERROR at Row:1:Column:12\nNo such column 'Foo__c' on entity 'Lead'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        )
    );
    let hidden = api.query("SELECT Id FROM Contact WHERE Sales_Opt_Out__c = true");
    assert_eq!(
        (hidden.status, hidden.json()[0]["errorCode"].clone()),
        (400, json!("INVALID_FIELD"))
    );
    let resp = api.query("SELECT Id FROM Foo");
    assert_eq!(resp.status, 400);
    assert_eq!(resp.json()[0]["errorCode"], "INVALID_TYPE");
    assert!(
        resp.json()[0]["message"]
            .as_str()
            .unwrap()
            .contains("sObject type 'Foo' is not supported.")
    );
    for bad in [
        "SELECT FROM Lead",
        "SELECT Id Lead",
        "SELECT Id FROM Lead WHERE",
        "SELECT Id FROM Lead WHERE Email = 'a' AND Email = 'b' OR Email = 'c'",
        "DROP TABLE Lead",
    ] {
        let resp = api.query(bad);
        assert_eq!(resp.status, 400, "{bad}");
        assert_eq!(resp.json()[0]["errorCode"], "MALFORMED_QUERY", "{bad}");
        assert!(
            resp.json()[0]["message"]
                .as_str()
                .unwrap()
                .contains("ERROR at Row:1:Column:"),
            "{bad}"
        );
    }
    let resp = api.query("SELECT Id FROM Lead WHERE Id = 'garbage'");
    assert_eq!(resp.json()[0]["errorCode"], "INVALID_QUERY_FILTER_OPERATOR");
    let resp = api.get(&format!("{V}/query"));
    assert_eq!(
        (resp.status, resp.json()),
        (
            400,
            rest_error("MALFORMED_QUERY", "A query string has to be specified")
        )
    );

    // URI over 16,384 bytes → 414; URI + headers over 16,384 → 431.
    let ids: Vec<String> = (0..700)
        .map(|i| format!("'{}'", synthetic_id(SObject::Lead, i)))
        .collect();
    let long = api.query(&format!(
        "SELECT Id FROM Lead WHERE Id IN ({})",
        ids.join(",")
    ));
    assert_eq!(long.status, 414);
    let padding = "x".repeat(13_000);
    let resp = api.call(
        "GET",
        &format!(
            "{V}/query?q={}",
            encode(&format!(
                "SELECT Id FROM Lead WHERE Id IN ({})",
                ids[..150].join(",")
            ))
        ),
        &[("x-padding", &padding)],
        None,
    );
    assert_eq!(resp.status, 431);
}

// ---------------------------------------------------------------------------------------
// Describe (§5)
// ---------------------------------------------------------------------------------------

#[test]
fn describe_applies_field_level_security() {
    let emu = start();
    emu.add_checkbox_field(SObject::Lead, "ns__Opt_Out__c");
    emu.set_field_access(SObject::Contact, "Sales_Opt_Out__c", FieldAccess::Hidden);
    emu.set_field_access(
        SObject::Contact,
        "HasOptedOutOfEmail",
        FieldAccess::ReadOnly,
    );
    let api = Api::new(&emu);
    let field = |d: &Value, name: &str| {
        d["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .cloned()
    };

    let lead = api.get(&format!("{V}/sobjects/Lead/describe"));
    assert_eq!(lead.status, 200);
    let lead = lead.json();
    assert_eq!(lead["name"], "Lead");
    assert_eq!(lead["keyPrefix"], "00Q");
    assert_eq!(
        lead["urls"]["rowTemplate"],
        "/services/data/v62.0/sobjects/Lead/{ID}"
    );
    let opt_out = field(&lead, "HasOptedOutOfEmail").unwrap();
    for (k, v) in [
        ("type", json!("boolean")),
        ("soapType", json!("xsd:boolean")),
        ("label", json!("Email Opt Out")),
        ("updateable", json!(true)),
        ("createable", json!(true)),
        ("custom", json!(false)),
        ("nillable", json!(false)),
        ("calculated", json!(false)),
        ("defaultValue", json!(false)),
    ] {
        assert_eq!(opt_out[k], v, "HasOptedOutOfEmail.{k}");
    }
    // The full property list of §5.2 is present.
    for key in [
        "aggregatable",
        "autoNumber",
        "byteLength",
        "calculatedFormula",
        "dependentPicklist",
        "picklistValues",
        "referenceTo",
        "writeRequiresMasterRead",
    ] {
        assert!(opt_out.get(key).is_some(), "{key}");
    }
    assert_eq!(opt_out.as_object().unwrap().len(), 53);
    let custom = field(&lead, "ns__Opt_Out__c").unwrap();
    assert_eq!(
        (
            custom["custom"].clone(),
            custom["type"].clone(),
            custom["updateable"].clone()
        ),
        (json!(true), json!("boolean"), json!(true))
    );
    for name in [
        "Email",
        "FirstName",
        "LastName",
        "IsConverted",
        "ConvertedContactId",
        "IsDeleted",
        "MasterRecordId",
        "Sales_Opt_Out__c",
    ] {
        assert!(field(&lead, name).is_some(), "Lead.{name}");
    }
    assert_eq!(field(&lead, "IsConverted").unwrap()["updateable"], false);

    let contact = api.get(&format!("{V}/sobjects/Contact/describe")).json();
    assert!(
        field(&contact, "Sales_Opt_Out__c").is_none(),
        "hidden fields are absent"
    );
    assert!(field(&contact, "IsConverted").is_none(), "Lead-only field");
    assert_eq!(
        field(&contact, "HasOptedOutOfEmail").unwrap()["updateable"],
        false
    );

    // If-Modified-Since → 304 while unchanged.
    let later = "Fri, 01 Jan 2100 00:00:00 GMT";
    let resp = api.call(
        "GET",
        &format!("{V}/sobjects/Lead/describe"),
        &[("if-modified-since", later)],
        None,
    );
    assert_eq!(resp.status, 304);
    assert!(resp.body.is_empty());
    let resp = api.call(
        "GET",
        &format!("{V}/sobjects/Lead/describe"),
        &[("if-modified-since", "Tue, 01 Jul 2025 00:00:00 GMT")],
        None,
    );
    assert_eq!(resp.status, 200);
    assert_eq!(
        api.get(&format!("{V}/sobjects/Opportunity/describe"))
            .status,
        404
    );
    assert_eq!(emu.call_counts().describe, 5);
}

// ---------------------------------------------------------------------------------------
// Limits (§7)
// ---------------------------------------------------------------------------------------

#[test]
fn limits_resource_header_and_exhaustion() {
    let emu = start_with(EmulatorConfig {
        daily_api_limit: 1000,
        ..EmulatorConfig::default()
    });
    let api = Api::new(&emu);
    let resp = api.get(&format!("{V}/limits"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("sforce-limit-info"), Some("api-usage=1/1000"));
    let body = resp.json();
    assert_eq!(
        body["DailyApiRequests"],
        json!({ "Max": 1000, "Remaining": 999 })
    );
    for key in [
        "DailyBulkApiBatches",
        "DailyBulkV2QueryJobs",
        "DailyBulkV2QueryFileStorageMB",
        "DataStorageMB",
    ] {
        assert!(
            body[key]["Max"].is_u64() && body[key]["Remaining"].is_u64(),
            "{key}"
        );
    }
    let resp = api.get(&format!("{V}/sobjects/Lead/{LEAD_A}"));
    assert_eq!(resp.header("sforce-limit-info"), Some("api-usage=2/1000"));

    emu.set_api_remaining(1);
    assert_eq!(api.get(&format!("{V}/limits")).status, 200);
    for _ in 0..2 {
        let refused = api.patch(
            &format!("{V}/sobjects/Lead/{LEAD_A}"),
            &json!({ "HasOptedOutOfEmail": true }),
        );
        assert_eq!(refused.status, 403);
        assert_eq!(
            refused.json(),
            rest_error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        );
        assert_eq!(
            refused.header("sforce-limit-info"),
            Some("api-usage=1000/1000")
        );
    }
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 0);
    // Bulk requests count too (UNCONFIRMED for Bulk 2.0; see limits.rs).
    let bulk = api.json(
        "POST",
        &format!("{V}/jobs/ingest"),
        &json!({ "object": "Lead", "operation": "update" }),
    );
    assert_eq!(bulk.status, 403);
    // Versions and the token endpoint still work.
    assert_eq!(
        send(
            &agent(),
            "GET",
            &format!("{}/services/data/", emu.base_url()),
            &[],
            None
        )
        .unwrap()
        .status,
        200
    );
    assert_eq!(token_form(&emu, REFRESH_FORM).status, 200);
    assert_eq!(emu.api_remaining(), 0);
    let counts = emu.call_counts();
    assert_eq!(counts.limit_exceeded, 3);
    assert_eq!(counts.total_api_calls, 3);
}

// ---------------------------------------------------------------------------------------
// Bulk API 2.0 ingest (§6.1–§6.5)
// ---------------------------------------------------------------------------------------

fn create_ingest(api: &Api, object: &str) -> Value {
    let resp = api.json(
        "POST",
        &format!("{V}/jobs/ingest"),
        &json!({ "object": object, "operation": "update", "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA" }),
    );
    assert_eq!(resp.status, 200, "{}", resp.body);
    resp.json()
}

fn upload(api: &Api, job: &str, csv: &str) -> R {
    api.call(
        "PUT",
        &format!("{V}/jobs/ingest/{job}/batches"),
        &[("content-type", "text/csv")],
        Some(csv.as_bytes().to_vec()),
    )
}

fn close(api: &Api, job: &str, state: &str) -> R {
    api.json(
        "PATCH",
        &format!("{V}/jobs/ingest/{job}"),
        &json!({ "state": state }),
    )
}

#[test]
fn bulk_ingest_job_lifecycle() {
    let emu = start_with(EmulatorConfig {
        faults: FaultConfig {
            seed: 3,
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    });
    let api = Api::new(&emu);
    emu.delete(LEAD_B);
    let job = create_ingest(&api, "Lead");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(
        sfid::has_valid_checksum(&id) && id.starts_with("750"),
        "{id}"
    );
    let mut keys: Vec<&str> = job
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "apiVersion",
            "columnDelimiter",
            "concurrencyMode",
            "contentType",
            "contentUrl",
            "createdById",
            "createdDate",
            "id",
            "lineEnding",
            "object",
            "operation",
            "state",
            "systemModstamp"
        ]
    );
    assert_eq!(job["state"], "Open");
    assert_eq!(job["operation"], "update");
    assert_eq!(job["object"], "Lead");
    assert_eq!(job["createdById"], "0055e000001QwErAAK");
    assert_eq!(job["concurrencyMode"], "Parallel");
    assert!(job["apiVersion"].is_f64() && job["apiVersion"].as_f64() == Some(62.0));
    assert_eq!(
        job["contentUrl"],
        format!("services/data/v62.0/jobs/ingest/{id}/batches")
    );
    assert!(
        job["createdDate"].as_str().unwrap().ends_with(".000+0000")
            || job["createdDate"].as_str().unwrap().ends_with("+0000")
    );

    let csv =
        format!("Id,HasOptedOutOfEmail\n{LEAD_A},true\n{LEAD_B},true\n{CONVERTED_LEAD},true\n");
    let resp = upload(&api, &id, &csv);
    assert_eq!(resp.status, 201);
    assert!(resp.body.is_empty());
    let again = upload(&api, &id, &csv);
    assert_eq!(again.status, 400, "one upload per job (UNCONFIRMED)");
    assert!(
        again.json()[0]["message"]
            .as_str()
            .unwrap()
            .contains("Found multiple contents for job")
    );

    let closed = close(&api, &id, "UploadComplete");
    assert_eq!(closed.status, 200);
    assert_eq!(closed.json()["state"], "UploadComplete");

    let poll = api.get(&format!("{V}/jobs/ingest/{id}"));
    assert_eq!(poll.status, 200);
    let info = poll.json();
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["jobType"], "V2Ingest");
    assert_eq!(info["numberRecordsProcessed"], 3);
    assert_eq!(info["numberRecordsFailed"], 2);
    for key in [
        "retries",
        "totalProcessingTime",
        "apiActiveProcessingTime",
        "apexProcessingTime",
    ] {
        assert!(info[key].is_u64(), "{key}");
    }
    assert!(info.get("contentUrl").is_none());

    let ok = api.get(&format!("{V}/jobs/ingest/{id}/successfulResults/"));
    assert_eq!(ok.status, 200);
    assert!(ok.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(
        ok.body,
        format!(
            "\"sf__Id\",\"sf__Created\",Id,HasOptedOutOfEmail\n\"{LEAD_A}\",\"false\",{LEAD_A},true\n"
        )
    );
    let failed = api.get(&format!("{V}/jobs/ingest/{id}/failedResults/"));
    assert_eq!(
        failed.body,
        format!(
            "\"sf__Id\",\"sf__Error\",Id,HasOptedOutOfEmail\n\"\",\"ENTITY_IS_DELETED:entity is deleted:--\",{LEAD_B},true\n\"\",\"CANNOT_UPDATE_CONVERTED_LEAD:cannot reference converted lead:--\",{CONVERTED_LEAD},true\n"
        )
    );
    let unprocessed = api.get(&format!("{V}/jobs/ingest/{id}/unprocessedrecords/"));
    assert_eq!(unprocessed.body, "Id,HasOptedOutOfEmail\n");

    assert!(emu.record(LEAD_A).unwrap().has_opted_out_of_email);
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 1);
    assert_eq!(emu.record(CONVERTED_LEAD).unwrap().write_count, 0);
    let counts = emu.call_counts();
    assert_eq!(
        (
            counts.bulk_ingest_create,
            counts.bulk_ingest_upload,
            counts.bulk_ingest_close,
            counts.bulk_ingest_poll,
            counts.bulk_ingest_results
        ),
        (1, 2, 1, 1, 3)
    );
    assert_eq!(
        api.call("DELETE", &format!("{V}/jobs/ingest/{id}"), &[], None)
            .status,
        204
    );
    assert_eq!(api.get(&format!("{V}/jobs/ingest/{id}")).status, 404);
}

#[test]
fn bulk_ingest_row_errors_match_single_record_errors() {
    let emu = start_with(EmulatorConfig {
        faults: FaultConfig {
            seed: 11,
            rate_lock: 1.0,
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    });
    emu.set_field_access(
        SObject::Contact,
        "HasOptedOutOfEmail",
        FieldAccess::ReadOnly,
    );
    let api = Api::new(&emu);
    let job = create_ingest(&api, "Contact")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let csv =
        format!("Id,Sales_Opt_Out__c\n{CONTACT_A},true\n{LEAD_A},true\n,true\n{CONTACT_B},maybe\n");
    assert_eq!(upload(&api, &job, &csv).status, 201);
    assert_eq!(close(&api, &job, "UploadComplete").status, 200);
    let failed = api
        .get(&format!("{V}/jobs/ingest/{job}/failedResults/"))
        .body;
    let lines: Vec<&str> = failed.lines().collect();
    assert_eq!(lines[0], "\"sf__Id\",\"sf__Error\",Id,Sales_Opt_Out__c");
    assert_eq!(
        lines[1],
        format!(
            "\"\",\"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: {CONTACT_A}:--\",{CONTACT_A},true"
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "\"\",\"MALFORMED_ID:Contact ID: id value of incorrect type: {LEAD_A}:Id--\",{LEAD_A},true"
        )
    );
    assert_eq!(
        lines[3],
        "\"\",\"MISSING_ARGUMENT:Id not specified in an update call:--\",,true"
    );
    assert!(
        lines[4].starts_with("\"\",\"INVALID_TYPE_ON_FIELD_IN_RECORD:"),
        "{}",
        lines[4]
    );

    // Read-only (FLS) column: per-row INVALID_FIELD_FOR_INSERT_UPDATE.
    emu.set_faults(FaultConfig::default());
    let job = create_ingest(&api, "Contact")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(
        &api,
        &job,
        &format!("Id,HasOptedOutOfEmail\n{CONTACT_A},true\n"),
    );
    close(&api, &job, "UploadComplete");
    let failed = api
        .get(&format!("{V}/jobs/ingest/{job}/failedResults/"))
        .body;
    assert!(
        failed.contains(
            "\"INVALID_FIELD_FOR_INSERT_UPDATE:Unable to create/update fields: HasOptedOutOfEmail."
        ),
        "{failed}"
    );
    assert_eq!(emu.record(CONTACT_A).unwrap().write_count, 0);

    // Validation rules apply to Bulk rows too.
    let blocked = emu.insert(SeedRecord::contact("x@blocked.example"));
    let job = create_ingest(&api, "Contact")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(
        &api,
        &job,
        &format!("Id,Sales_Opt_Out__c\n{blocked},true\n"),
    );
    close(&api, &job, "UploadComplete");
    let failed = api
        .get(&format!("{V}/jobs/ingest/{job}/failedResults/"))
        .body;
    assert!(failed.contains("FIELD_CUSTOM_VALIDATION_EXCEPTION:Contacts at blocked.example are managed by their own team:--"), "{failed}");
}

#[test]
fn bulk_ingest_job_failures_and_abort() {
    let emu = start();
    let api = Api::new(&emu);
    // Unknown column: the whole job fails and every row is unprocessed.
    let job = create_ingest(&api, "Lead")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(&api, &job, &format!("Id,Nope__c\n{LEAD_A},true\n"));
    close(&api, &job, "UploadComplete");
    let info = api.get(&format!("{V}/jobs/ingest/{job}")).json();
    assert_eq!(info["state"], "Failed");
    assert_eq!(
        info["errorMessage"],
        "InvalidBatch : Field name not found : Nope__c"
    );
    assert_eq!(info["numberRecordsProcessed"], 0);
    let unprocessed = api
        .get(&format!("{V}/jobs/ingest/{job}/unprocessedrecords/"))
        .body;
    assert_eq!(unprocessed, format!("Id,Nope__c\n{LEAD_A},true\n"));

    // CRLF data in an LF job.
    let job = create_ingest(&api, "Lead")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(
        &api,
        &job,
        &format!("Id,HasOptedOutOfEmail\r\n{LEAD_A},true\r\n"),
    );
    close(&api, &job, "UploadComplete");
    let info = api.get(&format!("{V}/jobs/ingest/{job}")).json();
    assert_eq!(info["state"], "Failed");
    assert!(
        info["errorMessage"]
            .as_str()
            .unwrap()
            .contains("LineEnding is invalid on user data")
    );

    // Abort before close: nothing is written, rows are unprocessed.
    let job = create_ingest(&api, "Lead")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(
        &api,
        &job,
        &format!("Id,HasOptedOutOfEmail\n{LEAD_A},true\n"),
    );
    let aborted = close(&api, &job, "Aborted");
    assert_eq!(
        (aborted.status, aborted.json()["state"].clone()),
        (200, json!("Aborted"))
    );
    assert_eq!(
        api.get(&format!("{V}/jobs/ingest/{job}/unprocessedrecords/"))
            .body,
        format!("Id,HasOptedOutOfEmail\n{LEAD_A},true\n")
    );
    assert_eq!(emu.record(LEAD_A).unwrap().write_count, 0);
    assert_eq!(
        upload(&api, &job, "Id\n").status,
        400,
        "no upload after abort"
    );

    // Requests the emulator refuses.
    let insert = api.json(
        "POST",
        &format!("{V}/jobs/ingest"),
        &json!({ "object": "Lead", "operation": "insert" }),
    );
    assert_eq!(
        (insert.status, insert.json()[0]["errorCode"].clone()),
        (400, json!("FEATURENOTENABLED"))
    );
    let entity = api.json(
        "POST",
        &format!("{V}/jobs/ingest"),
        &json!({ "object": "Account", "operation": "update" }),
    );
    assert_eq!(entity.status, 400);
    assert_eq!(
        api.get(&format!("{V}/jobs/ingest/7505e00000AaBbCAAV"))
            .status,
        404
    );
    let listed = api.get(&format!("{V}/jobs/ingest")).json();
    assert_eq!(listed["records"].as_array().unwrap().len(), 3);
}

#[test]
fn bulk_ingest_with_processing_delay_goes_through_the_states() {
    let emu = start_with(EmulatorConfig {
        bulk_processing_delay_ms: 400,
        ..EmulatorConfig::default()
    });
    let api = Api::new(&emu);
    let job = create_ingest(&api, "Lead")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    upload(
        &api,
        &job,
        &format!("Id,HasOptedOutOfEmail\n{LEAD_A},true\n"),
    );
    assert_eq!(
        close(&api, &job, "UploadComplete").json()["state"],
        "UploadComplete"
    );
    let mut states = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = api.get(&format!("{V}/jobs/ingest/{job}")).json()["state"]
            .as_str()
            .unwrap()
            .to_owned();
        if states.last() != Some(&state) {
            states.push(state.clone());
        }
        if state == "JobComplete" || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    assert_eq!(states, ["UploadComplete", "InProgress", "JobComplete"]);
    assert!(emu.record(LEAD_A).unwrap().has_opted_out_of_email);
}

// ---------------------------------------------------------------------------------------
// Bulk API 2.0 query (§6.7)
// ---------------------------------------------------------------------------------------

#[test]
fn bulk_query_job_lifecycle_and_paging() {
    let emu = start();
    let mut seed = OrgSeed::default();
    for i in 0..25 {
        seed.records
            .push(SeedRecord::lead(&format!("bulk{i}@example.com")).opted_out(i % 5 == 0));
    }
    emu.seed(seed).unwrap();
    let api = Api::new(&emu);
    let created = api.json(
        "POST",
        &format!("{V}/jobs/query"),
        &json!({ "operation": "query", "query": "SELECT Id, HasOptedOutOfEmail, IsConverted, ConvertedContactId FROM Lead WHERE HasOptedOutOfEmail = true OR IsConverted = true" }),
    );
    assert_eq!(created.status, 200, "{}", created.body);
    let created = created.json();
    assert_eq!(created["state"], "UploadComplete");
    assert_eq!(created["operation"], "query");
    assert_eq!(created["object"], "Lead");
    let id = created["id"].as_str().unwrap().to_owned();
    let info = api.get(&format!("{V}/jobs/query/{id}")).json();
    assert_eq!(info["state"], "JobComplete");
    assert_eq!(info["jobType"], "V2Query");
    assert_eq!(info["numberRecordsProcessed"], 6);

    let page = api.get(&format!("{V}/jobs/query/{id}/results?maxRecords=4"));
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(page.header("sforce-numberofrecords"), Some("4"));
    let locator = page.header("sforce-locator").unwrap().to_owned();
    assert_ne!(locator, "null");
    let lines: Vec<&str> = page.body.lines().collect();
    assert_eq!(
        lines[0],
        "\"Id\",\"HasOptedOutOfEmail\",\"IsConverted\",\"ConvertedContactId\""
    );
    assert_eq!(
        lines[1],
        format!("\"{CONVERTED_LEAD}\",\"false\",\"true\",\"{CONTACT_B}\"")
    );
    assert!(
        lines[2].ends_with(",\"true\",\"false\",\"\""),
        "{}",
        lines[2]
    );
    assert_eq!(lines.len(), 5);
    let rest = api.get(&format!(
        "{V}/jobs/query/{id}/results?locator={locator}&maxRecords=4"
    ));
    assert_eq!(rest.header("sforce-numberofrecords"), Some("2"));
    assert_eq!(rest.header("sforce-locator"), Some("null"));
    assert_eq!(rest.body.lines().count(), 3);

    let other_version = api.get(&format!("/services/data/v63.0/jobs/query/{id}/results"));
    assert_eq!(other_version.status, 409);
    let bad = api.json(
        "POST",
        &format!("{V}/jobs/query"),
        &json!({ "operation": "query", "query": "SELECT Id, Nope__c FROM Contact" }),
    );
    assert_eq!(
        (bad.status, bad.json()[0]["errorCode"].clone()),
        (400, json!("INVALID_FIELD"))
    );

    // queryAll sees merged-away rows.
    emu.merge(LEAD_B, LEAD_A);
    let all = api.json("POST", &format!("{V}/jobs/query"), &json!({ "operation": "queryAll", "query": "SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE IsDeleted = true" })).json();
    let rows = api
        .get(&format!(
            "{V}/jobs/query/{}/results",
            all["id"].as_str().unwrap()
        ))
        .body;
    assert_eq!(
        rows,
        format!("\"Id\",\"IsDeleted\",\"MasterRecordId\"\n\"{LEAD_B}\",\"true\",\"{LEAD_A}\"\n")
    );
    let counts = emu.call_counts();
    assert_eq!(
        (
            counts.bulk_query_create,
            counts.bulk_query_poll,
            counts.bulk_query_results
        ),
        (3, 1, 4)
    );
}

// ---------------------------------------------------------------------------------------
// Fault injection
// ---------------------------------------------------------------------------------------

/// Sends a fixed sequence of requests and returns the statuses (0 = dropped).
fn fault_run(faults: FaultConfig) -> (Vec<u16>, Vec<u16>) {
    let emu = start();
    let api = Api::new(&emu);
    emu.set_faults(faults);
    let mut client_view = Vec::new();
    for i in 0..60 {
        let path = if i % 2 == 0 {
            format!("{V}/limits")
        } else {
            format!("{V}/sobjects/Lead/{LEAD_A}")
        };
        match api.try_call("GET", &path, &[], None) {
            Ok(r) => client_view.push(r.status),
            Err(_) => client_view.push(0),
        }
    }
    let server_view = emu.call_log().iter().skip(1).map(|e| e.status).collect();
    (client_view, server_view)
}

#[test]
fn server_errors_and_drops_are_seeded_and_reproducible() {
    let faults = FaultConfig {
        seed: 42,
        rate_5xx: 0.2,
        rate_drop: 0.15,
        ..FaultConfig::default()
    };
    let (client_a, server_a) = fault_run(faults.clone());
    let (client_b, server_b) = fault_run(faults.clone());
    assert_eq!(server_a, server_b, "same seed, same faults");
    assert_eq!(client_a, client_b);
    assert!(server_a.contains(&503), "{server_a:?}");
    assert!(server_a.contains(&0), "{server_a:?}");
    assert!(server_a.contains(&200));
    let (_, server_c) = fault_run(FaultConfig { seed: 43, ..faults });
    assert_ne!(server_a, server_c, "another seed, other faults");

    // The 503 body, and a dropped connection seen from a raw socket.
    let emu = start_with(EmulatorConfig {
        faults: FaultConfig {
            rate_5xx: 1.0,
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    });
    let api = Api::new_without_faults(&emu);
    let resp = api.get(&format!("{V}/limits"));
    assert_eq!(resp.status, 503);
    assert_eq!(resp.json()[0]["errorCode"], "SERVER_UNAVAILABLE");
    emu.set_faults(FaultConfig {
        rate_drop: 1.0,
        ..FaultConfig::default()
    });
    let mut stream = TcpStream::connect(emu.base_url().trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET /services/data/ HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let n = stream.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "closed without a response: {:?}",
        String::from_utf8_lossy(&buf)
    );
    let counts = emu.call_counts();
    assert_eq!((counts.injected_5xx, counts.injected_drops), (1, 1));
    assert_eq!(
        counts.total_api_calls, 0,
        "faulted requests are not processed or counted"
    );
}

impl Api {
    /// A token fetched while faults are off (the token endpoint is subject to faults too).
    fn new_without_faults(emu: &Emulator) -> Api {
        let faults = FaultConfig {
            seed: 0,
            ..FaultConfig::default()
        };
        let saved = emu.config().faults.clone();
        emu.set_faults(faults);
        let api = Api::new(emu);
        emu.set_faults(saved);
        api
    }
}

#[test]
fn lock_errors_are_per_record_and_reproducible() {
    let run = || {
        let emu = start();
        let api = Api::new(&emu);
        emu.set_faults(FaultConfig {
            seed: 5,
            rate_lock: 0.5,
            ..FaultConfig::default()
        });
        let records: Vec<Value> = [LEAD_A, LEAD_B]
            .iter()
            .map(|id| json!({ "attributes": { "type": "Lead" }, "id": id, "HasOptedOutOfEmail": true }))
            .chain([CONTACT_A, CONTACT_B].iter().map(|id| json!({ "attributes": { "type": "Contact" }, "id": id, "HasOptedOutOfEmail": true })))
            .collect();
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let body = api
                .patch(
                    &format!("{V}/composite/sobjects"),
                    &json!({ "records": records }),
                )
                .json();
            for (item, id) in body
                .as_array()
                .unwrap()
                .iter()
                .zip([LEAD_A, LEAD_B, CONTACT_A, CONTACT_B])
            {
                if item["success"] == false {
                    assert_eq!(
                        item["errors"][0],
                        json!({ "statusCode": "UNABLE_TO_LOCK_ROW", "message": format!("unable to obtain exclusive access to this record or 1 records: {id}"), "fields": [] })
                    );
                }
                outcomes.push(item["success"].as_bool().unwrap());
            }
        }
        (outcomes, emu.call_counts().injected_lock_errors)
    };
    let (a, locks_a) = run();
    let (b, locks_b) = run();
    assert_eq!(a, b);
    assert_eq!(locks_a, locks_b);
    assert_eq!(locks_a as usize, a.iter().filter(|ok| !**ok).count());
    assert!(a.contains(&true) && a.contains(&false), "{a:?}");
}

#[test]
fn tokens_expire_every_n_calls_and_latency_is_added() {
    let emu = start_with(EmulatorConfig {
        faults: FaultConfig {
            expire_token_every: Some(3),
            ..FaultConfig::default()
        },
        ..EmulatorConfig::default()
    });
    let api = Api::new(&emu);
    let statuses: Vec<u16> = (0..4)
        .map(|_| api.get(&format!("{V}/limits")).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 401]);
    assert_eq!(
        api.get(&format!("{V}/limits")).status,
        401,
        "stays expired until refreshed"
    );
    let api = Api::new(&emu);
    let statuses: Vec<u16> = (0..4)
        .map(|_| api.get(&format!("{V}/limits")).status)
        .collect();
    assert_eq!(statuses, [200, 200, 200, 401]);
    assert_eq!(emu.call_counts().injected_token_expiries, 2);

    emu.set_faults(FaultConfig {
        latency_ms: 150,
        ..FaultConfig::default()
    });
    let api = Api::new(&emu);
    let t = Instant::now();
    assert_eq!(api.get(&format!("{V}/limits")).status, 200);
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------------------

#[test]
fn malformed_requests_never_break_the_server() {
    let emu = start();
    let api = Api::new(&emu);
    let paths = [
        format!("{V}/sobjects/Lead/%ZZ"),
        format!("{V}/sobjects/Lead/{}", "%C3%A9".repeat(9)),
        format!("{V}/sobjects//"),
        format!("{V}/query?q=%27%27%27"),
        format!("{V}/query?q=SELECT+Id+FROM+Lead+WHERE+Id+IN+(%27"),
        format!("{V}/query/-"),
        format!("{V}/query/abc-99999999999999999999999"),
        format!("{V}/jobs/ingest/%00/batches"),
        format!(
            "{V}/jobs/query/{}/results?locator=!!!",
            "7505e00000AaBbCAAV"
        ),
        "/services/data/vABC.0/limits".to_owned(),
        "/nothing/here".to_owned(),
    ];
    for path in &paths {
        for method in ["GET", "PATCH", "PUT", "POST", "DELETE"] {
            let resp = api.call(
                method,
                path,
                &[("content-type", "application/json")],
                Some(b"{\"x\":".to_vec()),
            );
            assert!(
                (200..500).contains(&resp.status),
                "{method} {path}: {}",
                resp.status
            );
        }
    }
    let bodies: [&[u8]; 6] = [
        b"",
        b"null",
        b"[]",
        b"{\"records\":{}}",
        b"\xff\xfe",
        b"{\"records\":[null,1,\"x\"]}",
    ];
    for body in bodies {
        for path in [
            format!("{V}/composite/sobjects"),
            format!("{V}/sobjects/Lead/{LEAD_A}"),
            format!("{V}/jobs/ingest"),
            format!("{V}/jobs/query"),
        ] {
            let method = if path.ends_with("jobs/ingest") || path.ends_with("jobs/query") {
                "POST"
            } else {
                "PATCH"
            };
            let resp = api.call(
                method,
                &path,
                &[("content-type", "application/json")],
                Some(body.to_vec()),
            );
            assert_eq!(
                resp.status, 400,
                "{method} {path} {:?}: {}",
                body, resp.body
            );
            assert!(resp.json()[0]["errorCode"].is_string(), "{}", resp.body);
        }
    }
    // A deeply nested WHERE clause is refused, not a stack overflow.
    let deep = api.query(&format!(
        "SELECT Id FROM Lead WHERE {}Email = 'a'{}",
        "(".repeat(2_000),
        ")".repeat(2_000)
    ));
    assert_eq!(deep.status, 400);
    assert_eq!(deep.json()[0]["errorCode"], "MALFORMED_QUERY");
    let resp = token_form(&emu, "%%%&&&==");
    assert_eq!(resp.status, 400);
    // Still alive and correct.
    assert_eq!(api.get(&format!("{V}/sobjects/Lead/{LEAD_A}")).status, 200);
}

// ---------------------------------------------------------------------------------------
// Admin HTTP endpoints and the stand-alone binary
// ---------------------------------------------------------------------------------------

#[test]
fn admin_endpoints_mirror_the_library() {
    let emu = Emulator::start(EmulatorConfig::default(), OrgSeed::default()).unwrap();
    let a = agent();
    let admin = |method: &str, path: &str, body: Option<Value>| {
        send(
            &a,
            method,
            &format!("{}/__admin/{path}", emu.base_url()),
            &[("content-type", "application/json")],
            body.map(|b| b.to_string().into_bytes()),
        )
        .unwrap()
    };
    let seeded = admin(
        "POST",
        "seed",
        Some(serde_json::from_str(EXAMPLE_ORG).unwrap()),
    );
    assert_eq!(
        (seeded.status, seeded.json()),
        (200, json!({ "loaded": 5 }))
    );
    let rec = admin("GET", &format!("record/{}", &LEAD_A[..15]), None).json();
    assert_eq!(rec["Id"], LEAD_A);
    assert_eq!(rec["type"], "Lead");
    assert_eq!(rec["write_count"], 0);
    assert_eq!(rec["Sales_Opt_Out__c"], false);
    assert_eq!(admin("GET", "record/00Q5e00000ZzZzZEAV", None).status, 404);

    let api = Api::new(&emu);
    assert_eq!(
        api.patch(
            &format!("{V}/sobjects/Lead/{LEAD_A}"),
            &json!({ "HasOptedOutOfEmail": true })
        )
        .status,
        204
    );
    let calls = admin("GET", "calls", None).json();
    assert_eq!(
        (
            calls["token"].clone(),
            calls["sobject_patch"].clone(),
            calls["total_api_calls"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    let log = admin("GET", "call-log", None).json();
    assert_eq!(log[1]["kind"], "sobject_patch");
    assert_eq!(log[1]["status"], 204);
    assert_eq!(
        admin(
            "GET",
            "opted-out-count?object=Lead&field=HasOptedOutOfEmail",
            None
        )
        .json(),
        json!({ "count": 1 })
    );
    assert_eq!(
        admin(
            "GET",
            "opted-out-count?object=Contact&field=Sales_Opt_Out__c",
            None
        )
        .json(),
        json!({ "count": 1 })
    );
    assert_eq!(
        admin("GET", "opted-out-count?object=Lead&field=Nope", None).status,
        400
    );
    assert_eq!(admin("POST", "reset-counts", None).status, 200);
    assert_eq!(emu.call_counts().total_api_calls, 0);

    assert_eq!(
        admin(
            "POST",
            "set-field",
            Some(json!({ "id": LEAD_A, "field": "HasOptedOutOfEmail", "value": false }))
        )
        .status,
        200
    );
    assert!(!emu.record(LEAD_A).unwrap().has_opted_out_of_email);
    assert_eq!(
        emu.record(LEAD_A).unwrap().write_count,
        1,
        "admin edits are not API writes"
    );
    assert_eq!(
        admin(
            "POST",
            "convert",
            Some(json!({ "lead_id": LEAD_B, "contact_id": CONTACT_A }))
        )
        .status,
        200
    );
    assert_eq!(
        emu.record(LEAD_B).unwrap().converted_contact_id.as_deref(),
        Some(CONTACT_A)
    );
    assert_eq!(
        admin(
            "POST",
            "merge",
            Some(json!({ "loser_id": CONTACT_B, "master_id": CONTACT_A }))
        )
        .status,
        200
    );
    let loser = emu.record(CONTACT_B).unwrap();
    assert!(loser.is_deleted);
    assert_eq!(loser.master_record_id.as_deref(), Some(CONTACT_A));
    assert_eq!(
        admin("POST", "delete", Some(json!({ "id": LEAD_A }))).status,
        200
    );
    assert!(emu.record(LEAD_A).unwrap().is_deleted);
    assert_eq!(
        admin(
            "POST",
            "delete",
            Some(json!({ "id": "00Q5e00000ZzZzZEAV" }))
        )
        .status,
        404
    );
    assert_eq!(
        admin(
            "POST",
            "field-access",
            Some(
                json!({ "object": "Contact", "field": "HasOptedOutOfEmail", "access": "ReadOnly" })
            )
        )
        .status,
        200
    );
    assert_eq!(
        api.patch(
            &format!("{V}/sobjects/Contact/{CONTACT_A}"),
            &json!({ "HasOptedOutOfEmail": true })
        )
        .json()[0]["errorCode"],
        "INVALID_FIELD_FOR_INSERT_UPDATE"
    );
    assert_eq!(
        admin(
            "POST",
            "checkbox-field",
            Some(json!({ "object": "Lead", "name": "ns__Opt_Out__c" }))
        )
        .status,
        200
    );
    let inserted = admin("POST", "insert", Some(json!({ "type": "Lead", "Email": "new@example.com", "LastName": "New", "ns__Opt_Out__c": true }))).json();
    let new_id = inserted["id"].as_str().unwrap();
    assert!(sfid::has_valid_checksum(new_id));
    assert!(emu.record(new_id).unwrap().custom["ns__Opt_Out__c"]);
    assert_eq!(
        admin(
            "POST",
            "validation-rule",
            Some(json!({ "email_suffix": "@example.com", "message": "No" }))
        )
        .status,
        200
    );
    assert_eq!(
        api.patch(
            &format!("{V}/sobjects/Lead/{new_id}"),
            &json!({ "HasOptedOutOfEmail": true })
        )
        .json()[0]["errorCode"],
        "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    );
    assert_eq!(
        admin("POST", "api-remaining", Some(json!({ "remaining": 0 }))).status,
        200
    );
    assert_eq!(api.get(&format!("{V}/limits")).status, 403);
    assert_eq!(
        admin("POST", "api-remaining", Some(json!({ "remaining": 10 }))).status,
        200
    );
    assert_eq!(admin("POST", "expire-tokens", None).status, 200);
    assert_eq!(api.get(&format!("{V}/limits")).status, 401);
    assert_eq!(admin("POST", "revoke-refresh-token", None).status, 200);
    assert_eq!(
        token_form(&emu, REFRESH_FORM).json()["error"],
        "invalid_grant"
    );
    assert_eq!(admin("POST", "restore-refresh-token", None).status, 200);
    assert_eq!(
        admin(
            "POST",
            "faults",
            Some(json!({ "seed": 1, "rate_5xx": 1.0 }))
        )
        .status,
        200
    );
    assert_eq!(token_form(&emu, REFRESH_FORM).status, 503);
    assert_eq!(admin("GET", "faults", None).json()["rate_5xx"], 1.0);
    assert_eq!(admin("POST", "faults", Some(json!({}))).status, 200);
    assert_eq!(admin("GET", "status", None).json()["records"], 6);
    assert_eq!(
        admin(
            "POST",
            "seed",
            Some(json!({ "records": [{ "type": "Lead", "Id": CONTACT_A }] }))
        )
        .status,
        400
    );
    assert_eq!(admin("GET", "nope", None).status, 404);
    assert_eq!(
        emu.call_counts().total_api_calls,
        2,
        "admin calls are not API calls"
    );
}

#[test]
fn binary_runs_alone_and_exits_when_stdin_closes() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/org.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sf-emulator"))
        .args([
            "--seed",
            example,
            "--port",
            "0",
            "--synthetic",
            "10",
            "--opted-out-fraction",
            "0.5",
            "--exit-on-stdin-close",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"));
    let versions = send(
        &agent(),
        "GET",
        &format!("{base}/services/data/"),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(versions.status, 200);
    let status = send(
        &agent(),
        "GET",
        &format!("{base}/__admin/status"),
        &[],
        None,
    )
    .unwrap()
    .json();
    assert_eq!(status["records"], 15);
    let lead = send(
        &agent(),
        "GET",
        &format!("{base}/__admin/record/{}", synthetic_id(SObject::Lead, 4)),
        &[],
        None,
    )
    .unwrap()
    .json();
    assert_eq!(lead["Email"], synthetic_email(SObject::Lead, 4));
    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the binary did not exit when stdin closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------
// Scale
// ---------------------------------------------------------------------------------------

#[test]
fn a_million_records_and_a_200_record_update() {
    let emu = Emulator::start(EmulatorConfig::default(), synthetic_org(1_000_000, 0.1, 7)).unwrap();
    assert_eq!(emu.record_count(), 1_000_000);
    let leads_before = emu.count_opted_out(SObject::Lead, "HasOptedOutOfEmail");
    let contacts_before = emu.count_opted_out(SObject::Contact, "HasOptedOutOfEmail");
    assert!((45_000..55_000).contains(&leads_before), "{leads_before}");
    let expected_before = (0..500_000)
        .filter(|&i| sf_emulator::synthetic_opted_out(SObject::Lead, i, 0.1, 7))
        .count() as u64;
    assert_eq!(
        leads_before, expected_before,
        "synthetic flags are computable without the emulator"
    );

    let api = Api::new(&emu);
    // 200 Leads spread over the table, 100 of them already opted out or not.
    let indexes: Vec<u64> = (0..200).map(|i| i * 2_499).collect();
    let newly = indexes
        .iter()
        .filter(|&&i| !sf_emulator::synthetic_opted_out(SObject::Lead, i, 0.1, 7))
        .count() as u64;
    let records: Vec<Value> = indexes
        .iter()
        .map(|&i| json!({ "attributes": { "type": "Lead" }, "id": synthetic_id(SObject::Lead, i), "HasOptedOutOfEmail": true }))
        .collect();
    let resp = api.patch(
        &format!("{V}/composite/sobjects"),
        &json!({ "allOrNone": false, "records": records }),
    );
    assert_eq!(resp.status, 200);
    let results = resp.json();
    let results = results.as_array().unwrap();
    assert_eq!(results.len(), 200);
    for (r, &i) in results.iter().zip(&indexes) {
        assert_eq!(r["success"], true);
        assert_eq!(r["id"], synthetic_id(SObject::Lead, i));
    }
    assert_eq!(
        emu.count_opted_out(SObject::Lead, "HasOptedOutOfEmail"),
        leads_before + newly
    );
    assert_eq!(
        emu.count_opted_out(SObject::Contact, "HasOptedOutOfEmail"),
        contacts_before
    );
    assert_eq!(
        emu.record(&synthetic_id(SObject::Lead, 2_499 * 199))
            .unwrap()
            .write_count,
        1
    );
    assert_eq!(
        emu.record(&synthetic_id(SObject::Lead, 1))
            .unwrap()
            .write_count,
        0
    );

    // Lookups by Id and email stay index-driven at this size.
    let q = format!(
        "SELECT Id, HasOptedOutOfEmail FROM Contact WHERE Email IN ('{}', '{}')",
        synthetic_email(SObject::Contact, 499_999),
        synthetic_email(SObject::Contact, 3)
    );
    let found = api.query(&q).json();
    assert_eq!(found["totalSize"], 2);
    let server_micros = emu
        .call_log()
        .iter()
        .find(|e| e.kind == CallKind::Collections)
        .unwrap()
        .micros;
    eprintln!(
        "200-record collections update at 1M records: {server_micros} µs of emulator time (debug build)"
    );
}
