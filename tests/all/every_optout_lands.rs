//! Every opt-out lands: through the binary against the emulator, a selected
//! custom field that the org lacks never stops Email Opt Out, and every
//! command names what is owed; through `serve` with a backlog, an event's
//! odd time or late arrival never loses an unsubscribe.

use std::time::Duration;

use sf_emulator::{FaultConfig, OrgSeed, SObject, SeedRecord};

use crate::cli::{with_creds, write_config};
use crate::support::cli::text;
use crate::support::emulator;
use crate::support::serve::{Server, eventually, post_signed};

const LEAD: &str = "00Q5e00000AbCdEEAV";
const LEAD_B: &str = "00Q5e00000AbCdFEAV";
const CONTACT: &str = "0035e00000XyZaBAAV";
/// A name the admin typed that the org does not have.
const TYPO: &str = "Sales_OptOut__c";

fn run(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = with_creds(dir).args(args).output().unwrap();
    (out.status.code(), text(&out))
}

#[test]
fn a_custom_field_the_org_lacks_never_blocks_email_opt_out() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(OrgSeed {
        records: vec![
            SeedRecord::lead("a@example.com").with_id(LEAD),
            SeedRecord::contact("c@example.com").with_id(CONTACT),
        ],
        ..OrgSeed::default()
    });
    write_config(
        dir.path(),
        &emu,
        &format!("\n[settings]\nsales_opt_out_field = \"{TYPO}\"\n"),
    );

    // The push writes Email Opt Out and says the custom field is owed.
    let (code, out) = run(
        dir.path(),
        &[
            "push",
            &format!("{{\"person_id\":\"p-a\",\"salesforce_id\":\"{LEAD}\"}}"),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("Lead.{TYPO} not written")), "{out}");
    assert!(emu.record(LEAD).unwrap().has_opted_out_of_email);
    // The second push learns from the field cache: one PATCH, no refusal.
    let patches = || emu.call_counts().sobject_patch;
    let calls = patches();
    let (code, out) = run(
        dir.path(),
        &[
            "push",
            &format!("{{\"person_id\":\"p-c\",\"salesforce_id\":\"{CONTACT}\"}}"),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(emu.record(CONTACT).unwrap().has_opted_out_of_email);
    // The Contact's field is learned on its own (its first PATCH is refused).
    assert_eq!(patches() - calls, 2, "a refused PATCH and its repeat");
    let calls = patches();
    let (code, out) = run(
        dir.path(),
        &[
            "push",
            &format!(
                "{{\"person_id\":\"p-a\",\"salesforce_id\":\"{LEAD}\",\"occurred_at\":1900000000000}}"
            ),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        patches() - calls,
        1,
        "a known-missing field costs no failed call"
    );

    // check, status and audit name the field and what to do.
    let (code, out) = run(dir.path(), &["check"]);
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("Lead.{TYPO}")) && out.contains("install the field"),
        "{out}"
    );
    let (code, out) = run(dir.path(), &["status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("field owed") && out.contains(TYPO), "{out}");
    let (code, out) = run(dir.path(), &["audit", "p-a"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("owed: Lead.{TYPO} not written")),
        "{out}"
    );

    // The nightly report names it too, and writes nothing it need not.
    let (code, out) = run(dir.path(), &["nightly"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("field owed") && out.contains(TYPO), "{out}");

    // Installed later: the next nightly writes it on both records.
    emu.add_checkbox_field(SObject::Lead, TYPO);
    emu.add_checkbox_field(SObject::Contact, TYPO);
    let out = with_creds(dir.path())
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["field-owed"], 0, "{report:#}");
    let out = text(&out);
    for id in [LEAD, CONTACT] {
        let rec = emu.record(id).unwrap();
        assert!(
            rec.has_opted_out_of_email && rec.checkbox(TYPO) == Some(true),
            "{id}: {rec:?}\n{out}"
        );
    }
    let (_, out) = run(dir.path(), &["status"]);
    assert!(!out.contains("field owed"), "{out}");
    let (_, out) = run(dir.path(), &["audit", "p-c"]);
    assert!(!out.contains("owed:"), "{out}");
}

/// Sends `body` to the webhook `path`, signed now, and expects 202.
fn send(server: &Server, path: &str, body: &str) {
    let (status, answer) = post_signed(&format!("{}{path}", server.base), body);
    assert_eq!(status, 202, "{answer}");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A service whose org answers slowly, so events wait in the inbox.
fn slow_service(records: Vec<SeedRecord>) -> (tempfile::TempDir, sf_emulator::Emulator, Server) {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(OrgSeed {
        records,
        ..OrgSeed::default()
    });
    write_config(dir.path(), &emu, "");
    let server = Server::start(dir.path(), &[]);
    emu.set_faults(FaultConfig {
        latency_ms: 400,
        ..FaultConfig::default()
    });
    (dir, emu, server)
}

/// Fills the inbox with unsubscribes of other people (each about a second
/// of Salesforce time), so the events after them are handled late.
fn backlog(server: &Server, emu: &sf_emulator::Emulator) {
    for i in 0..8 {
        let id = emu.insert(SeedRecord::lead(&format!("busy{i}@example.com")));
        send(
            server,
            "/v1/unsubscribes",
            &format!("{{\"person_id\":\"busy-{i}\",\"salesforce_id\":\"{id}\"}}"),
        );
    }
}

#[test]
fn a_resubscribe_without_a_time_handled_late_does_not_outrank_a_later_unsubscribe() {
    let (_dir, emu, server) = slow_service(vec![SeedRecord::lead("p@example.com").with_id(LEAD)]);
    backlog(&server, &emu);
    // The app sends a re-subscribe without a time (null), then, after it, an
    // unsubscribe with its real time. The worker gets to both seconds later.
    send(
        &server,
        "/v1/resubscribes",
        "{\"person_id\":\"p\",\"occurred_at\":null}",
    );
    std::thread::sleep(Duration::from_millis(50));
    let after_resubscribe = now_ms();
    std::thread::sleep(Duration::from_millis(50));
    send(
        &server,
        "/v1/unsubscribes",
        &format!(
            "{{\"person_id\":\"p\",\"salesforce_id\":\"{LEAD}\",\"occurred_at\":{after_resubscribe}}}"
        ),
    );
    assert!(
        eventually(Duration::from_secs(60), || emu
            .record(LEAD)
            .unwrap()
            .has_opted_out_of_email),
        "the unsubscribe was lost:\n{}",
        server.log()
    );
    assert_eq!(server.terminate(Duration::from_secs(30)), Some(0));
}

#[test]
fn an_older_event_naming_another_record_never_drops_the_queued_write() {
    let (dir, emu, server) = slow_service(vec![
        SeedRecord::contact("p@example.com").with_id(CONTACT),
        SeedRecord::lead("p-old@example.com").with_id(LEAD_B),
    ]);
    // The Contact is locked: the write is queued for retry.
    emu.set_faults(FaultConfig {
        rate_lock: 1.0,
        ..FaultConfig::default()
    });
    let t = now_ms();
    send(
        &server,
        "/v1/unsubscribes",
        &format!("{{\"person_id\":\"p\",\"salesforce_id\":\"{CONTACT}\",\"occurred_at\":{t}}}"),
    );
    // An older event (an hour earlier) names the Lead the person once was.
    send(
        &server,
        "/v1/unsubscribes",
        &format!(
            "{{\"person_id\":\"p\",\"salesforce_id\":\"{LEAD_B}\",\"occurred_at\":{}}}",
            t - 3_600_000
        ),
    );
    assert!(
        eventually(Duration::from_secs(20), || {
            // The trail's JSON (the text table wraps long details).
            let out = with_creds(dir.path())
                .args(["audit", "p", "--json"])
                .output()
                .unwrap();
            let trail: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            trail["entries"].as_array().is_some_and(|entries| {
                entries.iter().any(|e| {
                    e["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("older than the unsubscribe naming"))
                })
            })
        }),
        "{}",
        server.log()
    );
    emu.set_faults(FaultConfig::default());
    // The queued write to the Contact goes out on its retry (30 s backoff).
    assert!(
        eventually(Duration::from_secs(90), || emu
            .record(CONTACT)
            .unwrap()
            .has_opted_out_of_email),
        "the queued write was dropped:\n{}",
        server.log()
    );
    assert!(!emu.record(LEAD_B).unwrap().has_opted_out_of_email);
    assert_eq!(server.terminate(Duration::from_secs(30)), Some(0));
}
