//! HTTPS to the org: the emulator serves TLS with a certificate of a CA
//! made for the run; the host trusts that CA through `org.ca_file`
//! (`OrgConfig::trusted_ca_pem`) and nothing else, refuses a certificate it
//! cannot verify before sending anything, and says what to do about it.

use std::sync::Arc;

use serde_json::Value;
use sf_emulator::{OrgSeed, SeedRecord};
use unsubscribe_sync::backends::org::UNTRUSTED_CERTIFICATE;
use unsubscribe_sync::{HttpError, OrgClient, api};

use crate::cli::{seed as cli_seed, with_creds, write_config};
use crate::support::cli::text;
use crate::support::{caps_with, emulator, event, hostile_runtime, org_config, settings};

const LEAD: &str = "00Q5e00000AbCdEEAV";

fn seed() -> OrgSeed {
    OrgSeed {
        records: vec![SeedRecord::lead("ada@example.com").with_id(LEAD)],
        ..OrgSeed::default()
    }
}

/// The emulator over HTTPS, and a client trusting `trusted` (PEM) or, with
/// `None`, the public roots only.
fn tls_client(emu: &sf_emulator::Emulator, trusted: Option<&str>) -> Result<OrgClient, String> {
    let mut config = org_config(emu);
    config.trusted_ca_pem = trusted.map(|pem| pem.as_bytes().to_vec());
    OrgClient::new(config)
}

#[test]
fn https_with_the_orgs_ca_trusted_reaches_the_org() {
    let emu = emulator(seed());
    assert!(emu.base_url().starts_with("https://"), "{}", emu.base_url());
    let client = tls_client(&emu, emu.ca_pem()).unwrap();
    let caps = caps_with(Arc::new(client));
    let what = format!("http:GET:/services/data/v62.0/sobjects/Lead/{LEAD}");
    match hostile_runtime().push(&caps.caps, &settings(), &event(&what, None)) {
        Ok(Ok(api::PushOutcome::Written(w))) => assert_eq!(w.target.id, "200"),
        other => panic!("expected the org's answer, got {other:?}"),
    }
}

#[test]
fn a_certificate_from_an_untrusted_ca_is_refused_before_anything_is_sent() {
    let emu = emulator(seed());
    let other = emulator(OrgSeed::default());
    // The public roots, and another run's CA: neither signed this server's
    // certificate.
    for trusted in [None, other.ca_pem()] {
        let client = tls_client(&emu, trusted).unwrap();
        match client.verify_credentials() {
            Err(HttpError::Transport(m)) => assert!(m.starts_with(UNTRUSTED_CERTIFICATE), "{m}"),
            other => panic!("expected an untrusted certificate, got {other:?}"),
        }
    }
    assert!(
        emu.call_log().is_empty(),
        "no request may reach a server whose certificate did not verify: {:?}",
        emu.call_log()
    );
}

#[test]
fn a_ca_file_without_a_certificate_is_refused_when_the_client_is_built() {
    let emu = emulator(seed());
    let key_only = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIB4d0JtZ6bX0c0ZbYt1o3V9x1+2pF0l0bX9m4K5q8c3A\n-----END PRIVATE KEY-----\n";
    for pem in ["", "not a certificate\n", key_only] {
        let err = tls_client(&emu, Some(pem)).unwrap_err();
        assert!(err.contains("org.ca_file"), "{err}");
    }
}

/// A service directory for the emulator whose CA file was replaced by
/// another run's CA.
fn configured_with_the_wrong_ca() -> (tempfile::TempDir, sf_emulator::Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(cli_seed());
    write_config(dir.path(), &emu, "");
    let other = emulator(OrgSeed::default());
    std::fs::write(dir.path().join("emulator-ca.pem"), other.ca_pem().unwrap()).unwrap();
    (dir, emu)
}

#[test]
fn check_tells_an_untrusted_certificate_apart_from_the_network() {
    let (dir, emu) = configured_with_the_wrong_ca();
    let out = with_creds(dir.path())
        .args(["check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = crate::support::shape::failed_checks(&v);
    assert_eq!(failed.len(), 1, "{v:#}");
    let detail = failed[0]["detail"].as_str().unwrap_or("");
    let remedy = failed[0]["remedy"].as_str().unwrap_or("");
    assert!(detail.contains(UNTRUSTED_CERTIFICATE), "{v:#}");
    assert!(remedy.contains("org.ca_file"), "{v:#}");
    assert!(emu.call_log().is_empty(), "{:?}", emu.call_log());
}

#[test]
fn a_push_to_an_untrusted_server_is_held_and_says_why() {
    let (dir, emu) = configured_with_the_wrong_ca();
    let body = format!(
        "{{\"person_id\":\"p-tls\",\"salesforce_id\":\"{}\"}}",
        crate::cli::LEAD
    );
    let out = with_creds(dir.path())
        .args(["push", &body])
        .output()
        .unwrap();
    let all = text(&out);
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(all.contains(UNTRUSTED_CERTIFICATE), "{all}");
    assert!(emu.call_log().is_empty(), "{:?}", emu.call_log());
    // Held, not lost: the person's record is in the ledger.
    let out = with_creds(dir.path())
        .args(["audit", "p-tls"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_missing_ca_file_is_a_configuration_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(cli_seed());
    write_config(dir.path(), &emu, "");
    std::fs::remove_file(dir.path().join("emulator-ca.pem")).unwrap();
    let out = with_creds(dir.path()).args(["check"]).output().unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(all.contains("org.ca_file"), "{all}");
}
