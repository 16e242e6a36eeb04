//! The real HTTP client ([`OrgClient`]) over loopback: the OAuth refresh on
//! 401, requests to other origins refused, the caps and timeouts, and the
//! limit header passed through. The component side is the hostile guest's
//! `http:METHOD:PATH` behaviour, so these tests need no policy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sf_emulator::{OrgSeed, SeedRecord};
use unsubscribe_sync::{HttpError, HttpRequest, HttpTransport, Method, OrgClient, api};

use crate::support::loopback::Loopback;
use crate::support::{
    caps_with, emulator, event, hostile_runtime, org_client, org_config, settings,
};

const LEAD: &str = "00Q5e00000AbCdEEAV";

fn seed() -> OrgSeed {
    OrgSeed {
        records: vec![SeedRecord::lead("ada@example.com").with_id(LEAD)],
        ..OrgSeed::default()
    }
}

/// Pushes as the hostile guest with a person ID naming a request.
fn guest_request(client: Arc<OrgClient>, what: &str) -> Result<api::PushOutcome, api::SyncError> {
    let caps = caps_with(client);
    hostile_runtime()
        .push(&caps.caps, &settings(), &event(what, None))
        .expect("no trap")
}

fn status_of(outcome: &Result<api::PushOutcome, api::SyncError>) -> String {
    match outcome {
        Ok(api::PushOutcome::Written(w)) => w.target.id.clone(),
        other => panic!("expected an answer from the org, got {other:?}"),
    }
}

fn request(path: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        path: path.to_string(),
        headers: vec![],
        body: vec![],
        timeout: Duration::from_secs(5),
    }
}

#[test]
fn an_expired_access_token_is_refreshed_once_and_the_request_retried() {
    let emu = emulator(seed());
    let client = org_client(&emu);
    let path = format!("http:GET:/services/data/v62.0/sobjects/Lead/{LEAD}");
    assert_eq!(status_of(&guest_request(client.clone(), &path)), "200");
    assert_eq!(client.stats().token_refreshes, 1);

    emu.expire_tokens();
    let outcome = guest_request(client.clone(), &path);
    assert_eq!(
        status_of(&outcome),
        "200",
        "the retry after the refresh succeeded"
    );
    let stats = client.stats();
    assert_eq!(stats.token_refreshes, 2, "{stats:?}");
    assert_eq!(stats.unauthorized, 1, "{stats:?}");
    assert_eq!(emu.call_counts().token, 2);
}

#[test]
fn a_revoked_refresh_token_is_auth_failed_with_salesforce_reason() {
    let emu = emulator(seed());
    emu.revoke_refresh_token();
    let client = org_client(&emu);
    match guest_request(client.clone(), "http:GET:/services/data/v62.0/limits") {
        Err(api::SyncError::AuthFailed(text)) => assert!(text.contains("invalid_grant"), "{text}"),
        other => panic!("expected auth-failed, got {other:?}"),
    }
    let err = client.verify_credentials().unwrap_err();
    assert!(
        matches!(&err, HttpError::AuthFailed(t) if t.contains("invalid_grant")),
        "{err:?}"
    );
}

#[test]
fn wrong_client_credentials_are_auth_failed() {
    let emu = emulator(seed());
    let mut config = org_config(&emu);
    config.client_secret = unsubscribe_sync::Secret::new("not-the-secret");
    let client = OrgClient::new(config).unwrap();
    match client.verify_credentials() {
        Err(HttpError::AuthFailed(text)) => {
            assert!(text.contains("invalid_client"), "{text}");
            assert!(!text.contains("not-the-secret"), "{text}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_second_401_after_the_refresh_goes_back_to_the_component() {
    // An instance that answers 401 to everything but whose token endpoint works.
    let instance = Loopback::start(
        401,
        r#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#,
    );
    let emu = emulator(seed());
    let mut config = org_config(&emu);
    config.instance_url = Some(instance.url());
    // The emulator names itself as the instance: a mismatch with the config
    // is refused, so point the token endpoint at a loopback that names ours.
    let token_server = Loopback::start(200, "{\"access_token\":\"tok-1\"}");
    config.login_url = token_server.url();
    let client = Arc::new(OrgClient::new(config).unwrap());
    let outcome = guest_request(client.clone(), "http:GET:/services/data/v62.0/limits");
    assert_eq!(status_of(&outcome), "401");
    assert_eq!(
        client.stats().token_refreshes,
        2,
        "one refresh, then no loop"
    );
    assert_eq!(instance.requests().len(), 2, "one request, one retry");
    drop(emu);
}

#[test]
fn the_host_sets_authorization_and_drops_the_guests_own() {
    let server = Loopback::start(200, "{\"access_token\":\"tok-abc\"}");
    let mut config = org_config_for(&server);
    config.instance_url = Some(server.url());
    let client = Arc::new(OrgClient::new(config).unwrap());
    assert_eq!(
        status_of(&guest_request(
            client,
            "http:PATCH:/services/data/v62.0/sobjects/Lead/x"
        )),
        "200"
    );
    let seen = server.requests();
    let data = seen
        .iter()
        .find(|r| r.request_line.starts_with("PATCH"))
        .expect("the PATCH arrived");
    let auth: Vec<_> = data
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .collect();
    assert_eq!(auth.len(), 1, "{:?}", data.headers);
    assert_eq!(auth[0].1, "Bearer tok-abc");
    assert_eq!(
        data.request_line,
        "PATCH /services/data/v62.0/sobjects/Lead/x HTTP/1.1"
    );
    let token_req = seen
        .iter()
        .find(|r| r.request_line.starts_with("POST /services/oauth2/token"))
        .unwrap();
    let form = String::from_utf8_lossy(&token_req.body);
    assert!(form.contains("grant_type=refresh_token"), "{form}");
}

fn org_config_for(server: &Loopback) -> unsubscribe_sync::OrgConfig {
    unsubscribe_sync::OrgConfig {
        login_url: server.url(),
        instance_url: None,
        api_version: "62.0".into(),
        client_id: "id".into(),
        client_secret: unsubscribe_sync::Secret::new("secret"),
        refresh_token: unsubscribe_sync::Secret::new("refresh"),
        timeout: Duration::from_secs(5),
        max_response_bytes: 1 << 20,
        trusted_ca_pem: None,
    }
}

#[test]
fn requests_to_another_origin_are_refused_and_never_sent() {
    let emu = emulator(seed());
    let elsewhere = Loopback::start(200, "{}");
    let client = org_client(&emu);
    for path in [
        format!("http:GET:{}/services/data/v62.0/limits", elsewhere.url()),
        format!(
            "http:GET://127.0.0.1:{}/services/data/v62.0/limits",
            elsewhere.port
        ),
        "evil-origin".to_string(),
        "evil-relative".to_string(),
    ] {
        match guest_request(client.clone(), &path) {
            Err(api::SyncError::RequestDenied(text)) => assert!(!text.is_empty()),
            other => panic!("{path}: expected request-denied, got {other:?}"),
        }
    }
    // The client refuses on its own too (an embedder may call it directly).
    let err = client.send(request("https://evil.example/x")).unwrap_err();
    assert!(matches!(err, HttpError::Denied(_)), "{err:?}");
    assert!(
        elsewhere.requests().is_empty(),
        "a request reached the other origin"
    );
    assert_eq!(
        emu.call_counts().token,
        0,
        "refused before even fetching a token"
    );
}

#[test]
fn a_token_endpoint_naming_another_instance_is_refused() {
    let emu = emulator(seed());
    let mut config = org_config(&emu);
    config.instance_url = Some("https://acme.my.salesforce.com".into());
    let client = OrgClient::new(config).unwrap();
    match client.send(request("/services/data/v62.0/limits")) {
        Err(HttpError::Denied(text)) => assert!(text.contains("acme.my.salesforce.com"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn another_api_version_is_refused() {
    let emu = emulator(seed());
    let client = org_client(&emu);
    match client.send(request("/services/data/v55.0/limits")) {
        Err(HttpError::Denied(text)) => assert!(text.contains("v62.0"), "{text}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_limit_header_reaches_the_component() {
    let emu = emulator(seed());
    let client = org_client(&emu);
    match guest_request(
        client.clone(),
        &format!("http:GET:/services/data/v62.0/sobjects/Lead/{LEAD}"),
    ) {
        Ok(api::PushOutcome::Written(w)) => {
            assert!(
                w.fields[1].contains("sforce-limit-info: api-usage="),
                "{:?}",
                w.fields[1]
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        client
            .stats()
            .last_limit_info
            .unwrap()
            .starts_with("api-usage=")
    );
}

#[test]
fn a_response_over_the_cap_is_response_too_large() {
    let emu = emulator(seed());
    let mut config = org_config(&emu);
    config.max_response_bytes = 64;
    let client = OrgClient::new(config).unwrap();
    match client.send(request("/services/data/v62.0/sobjects/Lead/describe")) {
        Err(HttpError::ResponseTooLarge(64)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_silent_org_is_a_timeout_within_the_limit() {
    // Accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(4) {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let mut config = unsubscribe_sync::OrgConfig {
        login_url: url.clone(),
        instance_url: Some(url),
        api_version: "62.0".into(),
        client_id: "id".into(),
        client_secret: unsubscribe_sync::Secret::new("s"),
        refresh_token: unsubscribe_sync::Secret::new("r"),
        timeout: Duration::from_millis(500),
        max_response_bytes: 1024,
        trusted_ca_pem: None,
    };
    config.timeout = Duration::from_millis(500);
    let client = OrgClient::new(config).unwrap();
    let started = Instant::now();
    assert_eq!(
        client
            .send(request("/services/data/v62.0/limits"))
            .unwrap_err(),
        HttpError::Timeout
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_closed_port_is_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let config = unsubscribe_sync::OrgConfig {
        login_url: url.clone(),
        instance_url: Some(url),
        api_version: "62.0".into(),
        client_id: "id".into(),
        client_secret: unsubscribe_sync::Secret::new("s"),
        refresh_token: unsubscribe_sync::Secret::new("r"),
        timeout: Duration::from_secs(2),
        max_response_bytes: 1024,
        trusted_ca_pem: None,
    };
    let client = OrgClient::new(config).unwrap();
    assert!(matches!(
        client.send(request("/services/data/v62.0/limits")),
        Err(HttpError::Transport(_))
    ));
}

#[test]
fn concurrent_401s_cost_one_refresh() {
    let emu = emulator(seed());
    let client = org_client(&emu);
    client.verify_credentials().unwrap();
    emu.expire_tokens();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || {
                c.send(request(&format!(
                    "/services/data/v62.0/sobjects/Lead/{LEAD}"
                )))
                .unwrap()
                .status
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(client.stats().token_refreshes, 2, "{:?}", client.stats());
}
