//! Push and nightly end to end through the binary, against the emulator over
//! loopback, with a real SQLite file; and `demo`.

use sf_emulator::{OrgSeed, SObject, SeedRecord};

use crate::cli::{with_creds, write_config};
use crate::support::cli::{run, text};
use crate::support::emulator;

const LEAD_A: &str = "00Q5e00000AbCdEEAV";
const LEAD_B: &str = "00Q5e00000AbCdFEAV";
const LEAD_CONVERTED: &str = "00Q5e00000KqLmNEAV";
const CONTACT_A: &str = "0035e00000XyZaBAAV";
const CONTACT_B: &str = "0035e00000XyZaCAAV";

fn seed() -> OrgSeed {
    OrgSeed {
        records: vec![
            SeedRecord::lead("a@example.com").with_id(LEAD_A),
            SeedRecord::lead("b@example.com").with_id(LEAD_B),
            SeedRecord::lead("c@example.com").with_id(LEAD_CONVERTED),
            SeedRecord::contact("d@example.com").with_id(CONTACT_A),
            SeedRecord::contact("e@example.com").with_id(CONTACT_B),
        ],
        ..OrgSeed::default()
    }
}

fn push(dir: &std::path::Path, json: &str) -> serde_json::Value {
    let out = with_creds(dir)
        .args(["push", "--json", json])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", text(&out)))
}

#[test]
fn push_and_nightly_end_to_end_against_the_emulator() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    emu.add_checkbox_field(SObject::Lead, "Sales_Opt_Out__c");
    emu.add_checkbox_field(SObject::Contact, "Sales_Opt_Out__c");
    emu.convert_lead(LEAD_CONVERTED, CONTACT_B);
    write_config(
        dir.path(),
        &emu,
        "\n[settings]\nsales_opt_out_field = \"Sales_Opt_Out__c\"\n",
    );

    // A push writes both selected fields at once.
    let v = push(
        dir.path(),
        &format!("{{\"person_id\":\"p-a\",\"salesforce_id\":\"{LEAD_A}\"}}"),
    );
    assert_eq!(v["outcome"], "written", "{v}");
    assert_eq!(v["target"]["id"], LEAD_A, "{v}");
    let a = emu.record(LEAD_A).unwrap();
    assert!(
        a.has_opted_out_of_email && a.checkbox("Sales_Opt_Out__c") == Some(true),
        "{a:?}"
    );

    // A converted Lead is followed to its Contact.
    let v = push(
        dir.path(),
        &format!("{{\"person_id\":\"p-c\",\"salesforce_id\":\"{LEAD_CONVERTED}\"}}"),
    );
    assert_eq!(v["outcome"], "written", "{v}");
    assert_eq!(v["target"]["id"], CONTACT_B, "{v}");
    assert!(emu.record(CONTACT_B).unwrap().has_opted_out_of_email);
    assert!(!emu.record(LEAD_CONVERTED).unwrap().has_opted_out_of_email);

    // Without a Salesforce ID: held, skipped.
    let v = push(dir.path(), "{\"person_id\":\"p-none\"}");
    assert_eq!(
        v,
        serde_json::json!({"outcome": "skipped-no-salesforce-id"})
    );

    // Imported (not pushed), and a field unchecked behind the sync's back.
    std::fs::write(dir.path().join("more.jsonl"), format!("{{\"person_id\":\"p-b\",\"salesforce_id\":\"{LEAD_B}\"}}\n{{\"person_id\":\"p-d\",\"salesforce_id\":\"{CONTACT_A}\"}}\n")).unwrap();
    let out = with_creds(dir.path())
        .args(["import", "more.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    emu.set_field(LEAD_A, "HasOptedOutOfEmail", false);

    // A dry run reads but writes nothing.
    let writes_before = emu.call_counts().records_written;
    let out = with_creds(dir.path())
        .args(["nightly", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let dry: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["dry-run"], true, "{dry:#}");
    assert_eq!(
        emu.call_counts().records_written,
        writes_before,
        "the dry run wrote"
    );
    assert!(!emu.record(LEAD_B).unwrap().has_opted_out_of_email);

    // The nightly writes the imported ones and re-asserts the unchecked field.
    let out = with_creds(dir.path())
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The report itself, its lines in `items`.
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["held"], 5, "{r:#}");
    assert!(r.get("report").is_none(), "{r:#}");
    assert_eq!(r["written"], 2, "{r:#}");
    assert_eq!(r["reasserted"], 1, "{r:#}");
    assert_eq!(r["skipped-no-salesforce-id"], 1, "{r:#}");
    assert_eq!(r["failed"], 0, "{r:#}");
    assert!(r["stopped"].is_null(), "{r:#}");
    for id in [LEAD_A, LEAD_B, CONTACT_A, CONTACT_B] {
        let rec = emu.record(id).unwrap();
        assert!(
            rec.has_opted_out_of_email && rec.checkbox("Sales_Opt_Out__c") == Some(true),
            "{id}: {rec:?}"
        );
    }

    // The human report and the status after the run.
    let out = with_creds(dir.path()).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("last nightly") && s.contains("2 written"), "{s}");

    // A second nightly finds everything in place and writes nothing.
    let writes = emu.call_counts().records_written;
    let out = with_creds(dir.path()).arg("nightly").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("already opted out"),
        "{}",
        text(&out)
    );
    assert_eq!(emu.call_counts().records_written, writes);
}

#[test]
fn the_demo_runs_end_to_end_with_no_org() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["demo"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "all requirements hold",
        "held without a Salesforce ID",
        "followed the converted lead",
        "reasserted",
        "record by record",
        "- -> checked",
    ] {
        assert!(s.contains(expected), "missing {expected:?}:\n{s}");
    }
    assert!(
        !s.contains("emulator-secret") && !s.contains("!AQ0AQ"),
        "{s}"
    );
}
