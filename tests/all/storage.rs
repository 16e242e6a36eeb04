//! Storage safety of the SQLite file, through the binary.
//!
//! - A large `import` and a `nightly`, each killed with SIGKILL again and
//!   again while they write: after every kill `PRAGMA integrity_check` is
//!   `ok`, `status` answers, and every import batch (1000 events, one
//!   atomic write of the component) is wholly present or wholly absent:
//!   its records, its indexes and its audit entries, never a part. Then a
//!   final run completes and nothing is missing.
//! - `check` and every other command against a file that is not ours (random
//!   bytes, a truncated database, another application's SQLite database, a
//!   database written by a newer schema version, and for `check` a database
//!   with a damaged page): a clear error that names the file and what is
//!   wrong, exit 3 for `check` (a failed requirement, with what to do) and 2
//!   for the other commands (`storage.path` names an unusable file), and the
//!   file byte-for-byte unchanged with no file added beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use sf_emulator::{Emulator, EmulatorConfig, FaultConfig, synthetic_org};
use sha2::{Digest, Sha256};

use crate::cli::{with_creds, write_config};
use crate::hostile::integrity;
use crate::support::cli::text;
use crate::support::serve::WEBHOOK_SECRET;

/// A small deterministic generator (SplitMix64) for kill delays and bytes.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

fn db_conn(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap()
}

fn status(dir: &Path) -> serde_json::Value {
    let out = with_creds(dir).args(["status", "--json"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "status after a kill\n{}",
        text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn status_held(dir: &Path) -> u64 {
    status(dir)["ledger"]["held"].as_u64().unwrap()
}

/// Spawns a command, kills it with SIGKILL after `delay` unless it ended.
/// Returns whether it was still running (so the kill interrupted it).
fn kill_after(mut child: Child, delay: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    running
}

/// Batches of one import file (one atomic write of the component each).
const BATCHES: usize = 20;
const BATCH: usize = 1000;

/// Per batch: how many persons have a record, a held index entry and a
/// target index entry, and the distinct per-person counts of audit entries.
#[derive(Debug, Default, PartialEq)]
struct BatchState {
    records: usize,
    held: usize,
    targets: usize,
    audit_counts: std::collections::BTreeSet<usize>,
    audited_persons: usize,
}

/// The person IDs of file `round`, batch `b`: `k{round:02}{b:02}-{i:04}`.
fn person(round: usize, b: usize, i: usize) -> String {
    format!("k{round:02}{b:02}-{i:04}")
}

/// Batch states by (round, batch), from the keys of the import's persons.
fn batches(db: &Path) -> BTreeMap<(usize, usize), BatchState> {
    let c = db_conn(db);
    let mut stmt = c
        // Keys are BLOBs: compared with BLOB bounds ("a/k" to "t/M").
        .prepare("SELECT key FROM kv WHERE key >= x'612f6b' AND key < x'742f4d'")
        .unwrap();
    let keys: Vec<String> = stmt
        .query_map([], |r| r.get::<_, Vec<u8>>(0))
        .unwrap()
        .map(|k| String::from_utf8(k.unwrap()).unwrap())
        .collect();
    let batch_of = |p: &str| -> Option<(usize, usize)> {
        let digits = p.strip_prefix('k')?.get(..4)?;
        Some((digits[..2].parse().ok()?, digits[2..].parse().ok()?))
    };
    let mut out: BTreeMap<(usize, usize), BatchState> = BTreeMap::new();
    let mut per_person: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        let person = match key.split('/').collect::<Vec<_>>()[..] {
            ["p", p] | ["h", p] | ["a", p, _] | ["t", "L", _, p] => p.to_string(),
            _ => continue,
        };
        let Some(batch) = batch_of(&person) else {
            continue;
        };
        let s = out.entry(batch).or_default();
        match key.as_bytes()[0] {
            b'p' => s.records += 1,
            b'h' => s.held += 1,
            b't' => s.targets += 1,
            _ => *per_person.entry(person).or_default() += 1,
        }
    }
    for (person, n) in per_person {
        let s = out.entry(batch_of(&person).unwrap()).or_default();
        s.audit_counts.insert(n);
        s.audited_persons += 1;
    }
    out
}

/// Asserts every batch is wholly present or absent (its records, indexes
/// and audit entries), and that each file's present batches are its first
/// ones (the import writes them in order). Returns how many batches of each
/// round are present.
fn assert_batches_whole(db: &Path, context: &str) -> BTreeMap<usize, usize> {
    let state = batches(db);
    let mut per_round: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for ((round, b), s) in &state {
        assert!(
            s.records == BATCH
                && s.held == BATCH
                && s.targets == BATCH
                && s.audited_persons == BATCH
                && s.audit_counts.len() == 1,
            "{context}: batch {b} of file {round} is partly written: {s:?}"
        );
        per_round.entry(*round).or_default().push(*b);
    }
    per_round
        .into_iter()
        .map(|(round, present)| {
            assert_eq!(
                present,
                (0..present.len()).collect::<Vec<_>>(),
                "{context}: file {round}'s batches present out of order"
            );
            (round, present.len())
        })
        .collect()
}

fn write_import_file(dir: &Path, round: usize) -> String {
    let mut lines = String::new();
    for b in 0..BATCHES {
        for i in 0..BATCH {
            lines.push_str(&format!(
                "{{\"person_id\":\"{}\",\"salesforce_id\":\"{}\",\"email\":\"k{round}.{b}.{i}@example.com\",\"source\":\"backfill, \\\"quoted\\\"\",\"occurred_at\":1751968800000}}\n",
                person(round, b, i),
                crate::cli::LEAD
            ));
        }
    }
    let name = format!("import-{round:02}.jsonl");
    std::fs::write(dir.join(&name), lines).unwrap();
    name
}

#[test]
fn a_large_import_killed_again_and_again_leaves_whole_batches_and_an_intact_file() {
    let dir = tempfile::tempdir().unwrap();
    let emu = crate::support::emulator(crate::cli::seed());
    write_config(dir.path(), &emu, "");
    let db = dir.path().join("sync.db");
    let mut rng = Mix(0x5EED);
    let (mut kills, mut mid_import) = (0, 0);
    let mut seen = Vec::new();
    let mut files = Vec::new();
    // Each round imports a file of new persons (20 batches of 1000) and
    // kills it; until ten kills landed with some batches written and some
    // not.
    for round in 0..40 {
        if mid_import >= 10 {
            break;
        }
        let name = write_import_file(dir.path(), round);
        files.push(name.clone());
        let child = with_creds(dir.path())
            .args(["import", &name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.between(20, 500));
        let was_running = kill_after(child, delay);
        kills += 1;
        let context = format!("kill {round} after {delay:?}");
        if !db.exists() {
            continue;
        }
        integrity(&db).unwrap_or_else(|e| panic!("{context}: {e}"));
        let present = assert_batches_whole(&db, &context);
        let total: usize = present.values().sum();
        assert_eq!(status_held(dir.path()), (total * BATCH) as u64, "{context}");
        let this = present.get(&round).copied().unwrap_or(0);
        seen.push(this);
        if was_running && this > 0 && this < BATCHES {
            mid_import += 1;
        }
    }
    // A final import of every file completes: everything is there, each
    // batch whole.
    let all: String = files
        .iter()
        .map(|f| std::fs::read_to_string(dir.path().join(f)).unwrap())
        .collect();
    std::fs::write(dir.path().join("all.jsonl"), all).unwrap();
    let out = with_creds(dir.path())
        .args(["import", "all.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    integrity(&db).unwrap();
    let present = assert_batches_whole(&db, "the final import");
    assert_eq!(present.len(), files.len());
    assert!(present.values().all(|n| *n == BATCHES), "{present:?}");
    assert_eq!(
        status_held(dir.path()),
        (files.len() * BATCHES * BATCH) as u64
    );
    println!(
        "import: {kills} SIGKILLs, {mid_import} with some of the file's batches written and some not; \
         every batch whole after each (batches of 20 present after each kill: {seen:?})"
    );
    assert!(
        mid_import >= 10,
        "too few kills landed mid-import ({mid_import} of {kills}): the test proves little"
    );
}

#[test]
fn a_nightly_killed_again_and_again_leaves_an_intact_file_and_then_completes() {
    const RECORDS: usize = 3000;
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(
        EmulatorConfig {
            faults: FaultConfig {
                latency_ms: 10,
                ..FaultConfig::default()
            },
            ..crate::support::emulator_config()
        },
        synthetic_org(RECORDS, 0.0, 11),
    )
    .unwrap();
    write_config(dir.path(), &emu, "");
    let db = dir.path().join("sync.db");
    crate::scale::import_all(dir.path(), RECORDS);
    let mut rng = Mix(0xC0FFEE);
    let (mut kills, mut interrupted) = (0, 0);
    let mut progress = Vec::new();
    for round in 0..40 {
        if interrupted >= 10 {
            break;
        }
        let child = with_creds(dir.path())
            .args(["nightly"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = Duration::from_millis(rng.between(30, 500));
        let was_running = kill_after(child, delay);
        kills += 1;
        if was_running {
            interrupted += 1;
        }
        let context = format!("nightly kill {round} after {delay:?}");
        integrity(&db).unwrap_or_else(|e| panic!("{context}: {e}"));
        let st = status(dir.path());
        assert_eq!(st["ledger"]["held"], RECORDS, "{context}");
        let run = &st["ledger"]["nightly-in-progress"];
        progress.push(if run.is_null() {
            "-".to_string()
        } else {
            format!("{}/{}", run["done"], run["total"])
        });
        if !was_running {
            // It finished before the kill: start a new run next round.
            let opted = crate::scale::opted_out(&emu);
            assert_eq!(
                opted, RECORDS as u64,
                "{context}: a finished run wrote everything"
            );
        }
    }
    let out = with_creds(dir.path())
        .args(["nightly", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // The report itself (no wrapper), with its counts.
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["held"], RECORDS, "{v:#}");
    assert_eq!(v["failed"], 0, "{v:#}");
    assert!(v["stopped"].is_null(), "{v:#}");
    integrity(&db).unwrap();
    let opted = crate::scale::opted_out(&emu);
    assert_eq!(opted, RECORDS as u64);
    println!(
        "nightly: {kills} SIGKILLs, {interrupted} interrupted a running nightly; the file intact after each \
         (checkpointed progress after each kill: {progress:?})"
    );
    assert!(
        interrupted >= 10,
        "too few kills landed mid-run ({interrupted} of {kills})"
    );
}

// ---------------------------------------------------------------------------
// Files that are not ours.

fn sha256(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

/// A database of ours holding a few thousand unsubscribes, as the CLI
/// leaves it (WAL checkpointed on close).
fn our_database(dir: &Path) -> Vec<u8> {
    let mut lines = String::new();
    for i in 0..3000 {
        lines.push_str(&format!(
            "{{\"person_id\":\"q{i}\",\"email\":\"q{i}@example.com\"}}\n"
        ));
    }
    std::fs::write(dir.join("seed.jsonl"), lines).unwrap();
    let out = with_creds(dir)
        .args(["import", "seed.jsonl"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    std::fs::remove_file(dir.join("seed.jsonl")).unwrap();
    let bytes = std::fs::read(dir.join("sync.db")).unwrap();
    std::fs::remove_file(dir.join("sync.db")).unwrap();
    assert!(!dir.join("sync.db-wal").exists());
    bytes
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// Words of the error every command must print.
    says: &'static str,
    /// Only `check` is required to detect it (the others notice damage
    /// only when they read the damaged page).
    check_only: bool,
}

fn cases(dir: &Path) -> Vec<Case> {
    let ours = our_database(dir);
    let page = 4096;
    let mut rng = Mix(42);
    let random: Vec<u8> = (0..64 * 1024).map(|_| rng.next() as u8).collect();

    let mut truncated = ours.clone();
    truncated.truncate((ours.len() / 2) / page * page);

    let foreign = {
        let path = dir.join("foreign.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA application_id = 0x46414B45;
             CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, email TEXT);
             CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, total REAL);
             INSERT INTO customers VALUES (1, 'Ada', 'ada@example.com'), (2, 'Linus', 'linus@example.com');
             INSERT INTO orders VALUES (1, 1, 9.5);",
        )
        .unwrap();
        drop(c);
        let b = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        b
    };
    // Another application's database with our table names but no marker.
    let lookalike = {
        let path = dir.join("lookalike.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB); INSERT INTO kv VALUES (x'00', x'00');")
            .unwrap();
        drop(c);
        let b = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        b
    };
    let newer = {
        let path = dir.join("newer.db");
        std::fs::write(&path, &ours).unwrap();
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("UPDATE meta SET value = '99' WHERE key = 'schema_version';")
            .unwrap();
        drop(c);
        let b = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        b
    };
    let mut damaged = ours.clone();
    let middle = (ours.len() / page / 2) * page;
    damaged[middle..middle + 64].fill(0xFF);

    vec![
        Case {
            name: "random bytes",
            bytes: random,
            says: "is not an SQLite database",
            check_only: false,
        },
        Case {
            name: "a truncated database",
            bytes: truncated,
            says: "damaged or truncated",
            check_only: false,
        },
        Case {
            name: "another application's SQLite database",
            bytes: foreign,
            says: "another application (application id 0x46414b45, tables: customers, orders)",
            check_only: false,
        },
        Case {
            name: "an unmarked database with a kv table",
            bytes: lookalike,
            says: "another application",
            check_only: false,
        },
        Case {
            name: "a database of a newer schema version",
            bytes: newer,
            says: "written by a newer unsubscribe-sync (schema version 99",
            check_only: false,
        },
        Case {
            name: "a database with a damaged page",
            bytes: damaged,
            says: "is damaged",
            check_only: true,
        },
    ]
}

fn run_with_timeout(mut cmd: std::process::Command, within: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > within {
            child.kill().unwrap();
            panic!("{cmd:?} did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn check_and_every_command_refuse_a_file_that_is_not_ours_and_leave_it_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let emu = crate::support::emulator(crate::cli::seed());
    write_config(dir.path(), &emu, "");
    std::fs::write(dir.path().join("one.jsonl"), "{\"person_id\":\"p1\"}\n").unwrap();
    let db: PathBuf = dir.path().join("sync.db");
    let commands: Vec<Vec<&str>> = vec![
        vec!["check"],
        vec!["check", "--json"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["push", "{\"person_id\":\"p1\"}"],
        vec!["resubscribe", "{\"person_id\":\"p1\"}"],
        vec!["import", "one.jsonl"],
        vec!["nightly"],
        vec!["nightly", "--dry-run"],
        vec!["audit", "p1"],
        vec!["serve", "--listen", "127.0.0.1:0"],
    ];
    let mut checked = 0;
    for case in cases(dir.path()) {
        std::fs::write(&db, &case.bytes).unwrap();
        let hash = sha256(&db);
        let files = listing(dir.path());
        for args in &commands {
            let is_check = args[0] == "check";
            if case.check_only && !is_check {
                continue;
            }
            let mut cmd = with_creds(dir.path());
            cmd.env("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET", WEBHOOK_SECRET)
                .args(args);
            let out = run_with_timeout(cmd, Duration::from_secs(60));
            let context = format!("{} / {}\n{}", case.name, args.join(" "), text(&out));
            let all = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let all = all.replace("\\\"", "\"");
            assert!(all.contains("sync.db"), "the file is not named: {context}");
            assert!(
                all.contains(case.says),
                "the problem is not said ({:?}): {context}",
                case.says
            );
            if is_check {
                assert_eq!(out.status.code(), Some(3), "{context}");
                if args.contains(&"--json") {
                    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                    let storage = v["items"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|i| i["requirement"] == "storage")
                        .cloned()
                        .unwrap_or_default();
                    assert_eq!(storage["passed"], false, "{context}");
                    assert!(
                        storage["remedy"]
                            .as_str()
                            .is_some_and(|r| r.contains("untouched")),
                        "{context}"
                    );
                } else {
                    assert!(all.contains("FAILED  storage"), "{context}");
                }
            } else {
                assert_eq!(out.status.code(), Some(2), "{context}");
                assert!(all.contains("storage.path"), "{context}");
            }
            assert_eq!(sha256(&db), hash, "the file was modified: {context}");
            assert_eq!(
                listing(dir.path()),
                files,
                "files appeared beside it: {context}"
            );
            checked += 1;
        }
    }
    // With the bad file gone, the same check passes and creates the file.
    std::fs::remove_file(&db).unwrap();
    let out = with_creds(dir.path()).args(["check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok      storage"),
        "{}",
        text(&out)
    );
    println!("{checked} (file, command) pairs refused with the file unchanged");
}
