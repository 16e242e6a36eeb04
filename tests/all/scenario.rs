//! The end-to-end scenario every host runs (`tests/scenario/emulator.json`;
//! the Node and Python kits run the same file): the real component, the real
//! org client over loopback to the emulator, real SQLite, a fixed clock. The
//! expected results are the Rust host's (`BLESS=all` rewrites them from a
//! run); the kits must get the same.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use unsubscribe_sync::{Capabilities, FixedClock, MemoryLog, SqliteStorage};

use crate::fixtures::{Step, call, parse_clock, runtime};
use crate::support;
use crate::wit_json::same;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Scenario {
    description: String,
    /// The emulator's seed, relative to the repository.
    seed: String,
    settings: Value,
    clock: String,
    steps: Vec<Step>,
    /// Record ID → fields of the emulator's admin view that must hold after.
    records_after: BTreeMap<String, Map<String, Value>>,
}

#[test]
fn the_emulator_scenario_gives_the_expected_results() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = repo.join("tests/scenario/emulator.json");
    let mut scenario: Scenario =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let seed = serde_json::from_str(&std::fs::read_to_string(repo.join(&scenario.seed)).unwrap())
        .expect("the scenario's seed");
    let emu = support::emulator(seed);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FixedClock::new(parse_clock(&scenario.clock)));
    let caps = Capabilities {
        http: support::org_client(&emu),
        storage: Arc::new(SqliteStorage::open(&dir.path().join("ledger.db")).unwrap()),
        clock: clock.clone(),
        log: Arc::new(MemoryLog::default()),
    };
    let bless = std::env::var("BLESS").is_ok_and(|b| b == "all");
    let mut problems = Vec::new();
    for (i, step) in scenario.steps.iter_mut().enumerate() {
        clock.advance(step.advance_clock_ms);
        let got = call(runtime(), &caps, &clock, &scenario.settings, step)
            .unwrap_or_else(|e| panic!("step {i} ({}): {e}", step.call));
        if bless {
            step.expect = got;
        } else if !same(&got, &step.expect) {
            problems.push(format!(
                "step {i} ({}): result differs\n  expected {}\n  got      {got}",
                step.call, step.expect
            ));
        }
    }
    for (id, fields) in &scenario.records_after {
        let record = serde_json::to_value(emu.record(id).expect("a seeded record")).unwrap();
        for (field, want) in fields {
            if !same(&record[field], want) {
                problems.push(format!(
                    "{id}.{field}: expected {want}, is {}",
                    record[field]
                ));
            }
        }
    }
    if bless {
        let text = serde_json::to_string_pretty(&scenario).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
