//! The `unsubscribe-sync` binary as a process: help, exit codes, config and
//! credential errors, and secrets kept out of every output.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use sf_emulator::{Emulator, OrgSeed, SObject, SeedRecord};

use crate::support::cli::{command, run, text};
use crate::support::emulator;

pub const LEAD: &str = "00Q5e00000AbCdEEAV";
pub const CONTACT: &str = "0035e00000XyZaBAAV";
pub const CLIENT_SECRET: &str = "emulator-secret";
pub const REFRESH_TOKEN: &str = "emulator-refresh-token";
/// Every access token the emulator issues contains this.
pub const ACCESS_TOKEN_MARK: &str = "!AQ0AQ";

pub fn seed() -> OrgSeed {
    OrgSeed {
        records: vec![
            SeedRecord::lead("ada@example.com").with_id(LEAD),
            SeedRecord::contact("linus@example.com").with_id(CONTACT),
        ],
        ..OrgSeed::default()
    }
}

/// Writes a config for the emulator into `dir` and returns its path; over
/// HTTPS the emulator's CA goes beside it as `org.ca_file`.
pub fn write_config(dir: &Path, emu: &Emulator, extra: &str) -> std::path::PathBuf {
    let path = dir.join("unsubscribe-sync.toml");
    let ca_file = match emu.ca_pem() {
        Some(pem) => {
            std::fs::write(dir.join("emulator-ca.pem"), pem).unwrap();
            "ca_file = \"emulator-ca.pem\"\n"
        }
        None => "",
    };
    std::fs::write(
        &path,
        format!(
            "[org]\nlogin_url = \"{}\"\n{ca_file}\n[storage]\npath = \"sync.db\"\n\n[limits]\ncall_timeout_secs = 10\n{extra}",
            emu.base_url()
        ),
    )
    .unwrap();
    path
}

/// A command with the emulator's credentials in the environment.
pub fn with_creds(dir: &Path) -> std::process::Command {
    let mut c = command(dir);
    c.env("UNSUBSCRIBE_SYNC_CLIENT_ID", "emulator-client")
        .env("UNSUBSCRIBE_SYNC_CLIENT_SECRET", CLIENT_SECRET)
        .env("UNSUBSCRIBE_SYNC_REFRESH_TOKEN", REFRESH_TOKEN);
    c
}

fn assert_no_secret(out: &std::process::Output) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for secret in [CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN_MARK] {
        assert!(!all.contains(secret), "{secret:?} leaked:\n{all}");
    }
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["--help"],
        vec!["init", "--help"],
        vec!["push", "--help"],
        vec!["resubscribe", "--help"],
        vec!["import", "--help"],
        vec!["nightly", "--help"],
        vec!["check", "--help"],
        vec!["status", "--help"],
        vec!["audit", "--help"],
        vec!["serve", "--help"],
        vec!["demo", "--help"],
        vec!["bench", "--help"],
        vec!["bench", "push", "--help"],
    ] {
        let out = run(dir.path(), &cmd);
        assert_eq!(out.status.code(), Some(0), "{cmd:?}\n{}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "{cmd:?}\n{}",
            text(&out)
        );
    }
    let top = run(dir.path(), &["--help"]);
    let help = String::from_utf8_lossy(&top.stdout);
    assert!(
        help.contains("Exit codes:") && help.contains("3  a requirement failed"),
        "{help}"
    );
    let serve = run(dir.path(), &["serve", "--help"]);
    let help = String::from_utf8_lossy(&serve.stdout);
    assert!(
        help.contains("X-Signature: sha256=") && help.contains("X-Timestamp"),
        "{help}"
    );
}

#[test]
fn a_usage_error_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["push", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = run(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn init_writes_a_config_that_loads_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = std::fs::read_to_string(dir.path().join("unsubscribe-sync.toml")).unwrap();
    assert!(written.contains("# ") && written.contains("time_zone = \"America/Los_Angeles\""));
    let out = run(dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    // The written config is usable as is (status needs no org).
    let out = run(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn a_config_error_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("unsubscribe-sync.toml"),
        "[schedule]\nhour = 25\n",
    )
    .unwrap();
    let out = run(dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("schedule.hour") && err.contains("0 to 23"),
        "{err}"
    );

    let missing = run(dir.path(), &["--config", "nowhere.toml", "status"]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("unsubscribe-sync init"));

    // The config file path also comes from the environment.
    std::fs::write(
        dir.path().join("other.toml"),
        "[settings]\nbulk_threshold = -1\n",
    )
    .unwrap();
    let out = command(dir.path())
        .env("UNSUBSCRIBE_SYNC_CONFIG", "other.toml")
        .arg("status")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("settings.bulk_threshold"),
        "{}",
        text(&out)
    );
}

#[cfg(unix)]
#[test]
fn a_credentials_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    let creds = dir.path().join("credentials.toml");
    std::fs::write(
        &creds,
        format!("client_id = \"emulator-client\"\nclient_secret = \"{CLIENT_SECRET}\"\nrefresh_token = \"{REFRESH_TOKEN}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    write_config(dir.path(), &emu, "");
    let cfg = std::fs::read_to_string(dir.path().join("unsubscribe-sync.toml")).unwrap();
    std::fs::write(
        dir.path().join("unsubscribe-sync.toml"),
        cfg.replacen(
            "[org]\n",
            "[org]\ncredentials_file = \"credentials.toml\"\n",
            1,
        ),
    )
    .unwrap();
    let out = run(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        text(&out)
    );
    assert_no_secret(&out);

    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_secret(&out);
}

#[test]
fn check_reports_rejected_credentials_as_a_failed_requirement() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let out = with_creds(dir.path())
        .env("UNSUBSCRIBE_SYNC_CLIENT_SECRET", "a-wrong-secret-value")
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED") && stdout.contains("invalid_client"),
        "{stdout}"
    );
    assert!(stdout.contains("-> "), "a remedy is printed: {stdout}");
    assert!(!stdout.contains("a-wrong-secret-value"), "{stdout}");

    let out = command(dir.path()).arg("check").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("UNSUBSCRIBE_SYNC_CLIENT_SECRET"),
        "{}",
        text(&out)
    );
}

#[test]
fn check_names_a_missing_or_read_only_field_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    emu.add_checkbox_field(SObject::Lead, "Sales_Opt_Out__c");
    emu.add_checkbox_field(SObject::Contact, "Sales_Opt_Out__c");
    emu.set_field_access(
        SObject::Contact,
        "Sales_Opt_Out__c",
        sf_emulator::FieldAccess::ReadOnly,
    );
    write_config(
        dir.path(),
        &emu,
        "\n[settings]\nsales_opt_out_field = \"Sales_Opt_Out__c\"\n",
    );
    let out = with_creds(dir.path())
        .args(["check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["passed"], false);
    let failed = crate::support::shape::failed_checks(&v);
    assert_eq!(failed.len(), 1, "{v:#}");
    assert!(
        failed[0]["subject"]
            .as_str()
            .unwrap()
            .contains("Contact.Sales_Opt_Out__c"),
        "{v:#}"
    );
    assert!(
        failed[0]["remedy"].as_str().is_some_and(|r| !r.is_empty()),
        "{v:#}"
    );
}

#[test]
fn push_takes_the_event_from_an_argument_a_file_or_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let out = with_creds(dir.path())
        .args([
            "push",
            &format!("{{\"person_id\":\"p-arg\",\"salesforce_id\":\"{LEAD}\"}}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("written"),
        "{}",
        text(&out)
    );
    assert!(emu.record(LEAD).unwrap().has_opted_out_of_email);

    std::fs::write(
        dir.path().join("event.json"),
        format!("{{\"person_id\":\"p-file\",\"salesforce_id\":\"{CONTACT}\"}}"),
    )
    .unwrap();
    let out = with_creds(dir.path())
        .args(["push", "--json", "--file", "event.json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON outcome");
    assert_eq!(v["outcome"], "written", "{v}");
    assert!(emu.record(CONTACT).unwrap().has_opted_out_of_email);

    let mut child = with_creds(dir.path())
        .args(["push", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"person_id\":\"p-stdin\"}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("without a Salesforce ID"),
        "{}",
        text(&out)
    );

    let out = with_creds(dir.path())
        .args(["push", "{\"person\":\"x\"}"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed event is a usage error\n{}",
        text(&out)
    );
}

#[test]
fn the_org_rejecting_the_credentials_on_push_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    emu.revoke_refresh_token();
    write_config(dir.path(), &emu, "");
    let out = with_creds(dir.path())
        .args([
            "push",
            &format!("{{\"person_id\":\"p1\",\"salesforce_id\":\"{LEAD}\"}}"),
        ])
        .output()
        .unwrap();
    // The unsubscribe is recorded (held, queued or reported as auth-failed);
    // the exit status says the credentials were rejected.
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("invalid_grant"),
        "Salesforce's reason is shown\n{}",
        text(&out)
    );
    assert_no_secret(&out);
}

#[test]
fn secrets_never_reach_logs_or_status_output() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    // Make the client refresh on a 401 too, so every path that touches a
    // token runs with tracing at its most verbose.
    emu.set_faults(sf_emulator::FaultConfig {
        expire_token_every: Some(1),
        ..Default::default()
    });
    for args in [
        vec![
            "-vv",
            "push",
            &format!("{{\"person_id\":\"p1\",\"salesforce_id\":\"{LEAD}\"}}") as &str,
        ],
        vec!["-vv", "check"],
        vec!["-vv", "nightly"],
        vec!["-vv", "--log-format", "json", "nightly", "--dry-run"],
        vec!["-vv", "status"],
        vec!["-vv", "status", "--json"],
    ] {
        let out = with_creds(dir.path())
            .env("RUST_LOG", "trace")
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.code().is_some(), "{args:?}");
        assert_no_secret(&out);
    }
    assert!(emu.call_counts().token >= 2, "the refresh path ran");
    let status = with_creds(dir.path()).arg("status").output().unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    let s = String::from_utf8_lossy(&status.stdout);
    assert!(
        s.contains("client secret") && s.contains("set (environment)"),
        "{s}"
    );
    assert_no_secret(&status);
}

#[test]
fn import_audit_resubscribe_and_status_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    std::fs::write(
        dir.path().join("backfill.csv"),
        format!("person_id,salesforce_id,email,occurred_at\np-a,{LEAD},a@example.com,2025-07-01T10:00:00Z\np-b,,b@example.com,2025-07-01T11:00:00Z\n"),
    )
    .unwrap();
    let out = with_creds(dir.path())
        .args(["import", "backfill.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 added"),
        "{}",
        text(&out)
    );
    assert!(
        !emu.record(LEAD).unwrap().has_opted_out_of_email,
        "an import writes nothing"
    );

    let out = with_creds(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ledger"]["held"], 2, "{v:#}");
    assert_eq!(v["ledger"]["held-without-salesforce-id"], 1, "{v:#}");

    let out = with_creds(dir.path())
        .args(["audit", "p-a"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("received"),
        "{}",
        text(&out)
    );
    let out = with_creds(dir.path())
        .args(["audit", "nobody"])
        .output()
        .unwrap();
    // A person the ledger does not hold: not found.
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));

    let out = with_creds(dir.path())
        .args([
            "resubscribe",
            "{\"person_id\":\"p-b\",\"occurred_at\":\"2025-07-02T00:00:00Z\"}",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("released"),
        "{}",
        text(&out)
    );
    let out = with_creds(dir.path())
        .args(["status", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ledger"]["held"], 1, "{v:#}");
}

#[test]
fn nightly_with_the_sync_disabled_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "\n[settings]\nsync_enabled = false\n");
    let out = with_creds(dir.path()).arg("nightly").output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("disabled"),
        "{}",
        text(&out)
    );
}

#[test]
fn another_build_of_the_component_can_be_named() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let hostile = dir.path().join("hostile.wasm");
    std::fs::write(&hostile, crate::support::HOSTILE_WASM).unwrap();
    let out = with_creds(dir.path())
        .args([
            "--component",
            "hostile.wasm",
            "push",
            "{\"person_id\":\"panic\"}",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("panics on purpose"),
        "{}",
        text(&out)
    );
    let out = with_creds(dir.path())
        .args(["--component", "missing.wasm", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
