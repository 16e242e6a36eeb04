//! `PgStorage` on a real server: the conformance suite every backend passes,
//! org isolation, atomicity, byte order, and the schema check.

use std::sync::Arc;

use unsubscribe_sync::backends::postgres::{PgDatabase, PgStorage};
use unsubscribe_sync::ports::storage::conformance;
use unsubscribe_sync::{MemoryStorage, Storage, StorageError, WriteOp};

use crate::support::postgres::TestDb;

#[test]
fn storage_conforms_and_two_orgs_in_one_database_never_see_each_other() {
    let t = TestDb::new();
    let db = t.open(2);
    let a = PgStorage::new(db.clone(), "00D000000000001");
    conformance::run(&a);
    // The suite needs an empty store: org B is one, beside A's keys.
    let b = PgStorage::new(db.clone(), "00D000000000002");
    conformance::run(&b);
    // The same key in both orgs, set and removed independently.
    a.set("shared", b"from a").unwrap();
    b.set("shared", b"from b").unwrap();
    assert_eq!(a.get("shared").unwrap(), Some(b"from a".to_vec()));
    b.delete("shared").unwrap();
    assert_eq!(a.get("shared").unwrap(), Some(b"from a".to_vec()));
    assert_eq!(b.get("shared").unwrap(), None);
    assert_eq!(a.count("").unwrap(), b.count("").unwrap() + 1);
    let c = PgStorage::new(db, "00D000000000003");
    assert_eq!(c.count("").unwrap(), 0);
    assert!(c.list("", None, 10).unwrap().entries.is_empty());
    assert_eq!(c.get_many(&["shared".into()]).unwrap(), vec![None]);
}

#[test]
fn a_write_that_fails_part_way_changes_nothing() {
    let t = TestDb::new();
    let s = PgStorage::new(t.open(1), "org");
    s.write(vec![
        WriteOp::Set("keep".into(), b"1".to_vec()),
        WriteOp::Set("also".into(), b"2".to_vec()),
    ])
    .unwrap();
    // A key past the primary key index's row limit (~2.7 KB), incompressible
    // so TOAST cannot shrink it: the statement fails after the deletion ran.
    let mut x = 0x9E37_79B9_u32;
    let huge: String = (0..12_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            char::from(b'!' + (x % 90) as u8)
        })
        .collect();
    let err = s
        .write(vec![
            WriteOp::Delete("keep".into()),
            WriteOp::Set("new".into(), b"3".to_vec()),
            WriteOp::Set(huge, b"4".to_vec()),
        ])
        .unwrap_err();
    assert!(matches!(err, StorageError::TooLarge(_)), "{err:?}");
    assert_eq!(
        s.get("keep").unwrap(),
        Some(b"1".to_vec()),
        "the delete was rolled back"
    );
    assert_eq!(s.get("new").unwrap(), None, "the set was rolled back");
    assert_eq!(s.count("").unwrap(), 2);
    // The last operation on a key decides it, as in order.
    s.write(vec![
        WriteOp::Set("k".into(), b"first".to_vec()),
        WriteOp::Delete("k".into()),
        WriteOp::Set("k".into(), b"last".to_vec()),
        WriteOp::Delete("also".into()),
        WriteOp::Set("also".into(), b"again".to_vec()),
        WriteOp::Delete("also".into()),
    ])
    .unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"last".to_vec()));
    assert_eq!(s.get("also").unwrap(), None);
}

/// Every page of a prefix listing, as keys.
fn all_keys(s: &dyn Storage, prefix: &str, page: usize) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let p = s.list(prefix, after.as_deref(), page).unwrap();
        assert!(p.entries.len() <= page);
        keys.extend(p.entries.into_iter().map(|(k, _)| k));
        match p.next {
            Some(n) => after = Some(n),
            None => return keys,
        }
    }
}

#[test]
fn listings_page_in_byte_order_with_non_ascii_keys_as_the_model_does() {
    let t = TestDb::new();
    let pg = PgStorage::new(t.open(1), "org");
    let model = MemoryStorage::new();
    let keys = [
        "p/a",
        "p/z",
        "p/\u{7F}",
        "p/é",
        "p/e\u{301}",
        "p/\u{FFFF}",
        "p/😀",
        "p/\u{10FFFF}",
        "p/\u{10FFFF}x",
        "p/\u{10FFFF}\u{10FFFF}",
        "p/\0nul",
        "p/",
        "p",
        "q/a",
        "o/z",
        "p/日本",
        "p/Z",
        "p/a/b",
        "p/ÿ",
        "p/\u{80}",
    ];
    let ops: Vec<WriteOp> = keys
        .iter()
        .map(|k| WriteOp::Set(k.to_string(), k.as_bytes().to_vec()))
        .collect();
    pg.write(ops.clone()).unwrap();
    model.write(ops).unwrap();
    for prefix in [
        "",
        "p",
        "p/",
        "p/\u{10FFFF}",
        "p/é",
        "p/a",
        "p/\u{FFFF}",
        "q/",
        "none",
    ] {
        for page in [1, 2, 3, 50] {
            let got = all_keys(&pg, prefix, page);
            assert_eq!(
                got,
                all_keys(&model, prefix, page),
                "prefix {prefix:?}, page {page}"
            );
            let mut sorted = got.clone();
            sorted.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            assert_eq!(got, sorted, "byte order");
        }
        assert_eq!(
            pg.count(prefix).unwrap(),
            model.count(prefix).unwrap(),
            "{prefix:?}"
        );
    }
    assert_eq!(pg.get("p/\0nul").unwrap(), Some(b"p/\0nul".to_vec()));
    // `after` inside, before and past the prefix's range.
    for after in ["p/b", "a", "p/\u{10FFFF}", "zz"] {
        assert_eq!(
            pg.list("p/", Some(after), 100).unwrap(),
            model.list("p/", Some(after), 100).unwrap(),
            "after {after:?}"
        );
    }
}

fn open_err(t: &TestDb) -> StorageError {
    PgDatabase::open(&t.url, 1).expect_err("the database is refused")
}

/// The tables of the `unsubscribe_sync` schema and its marker rows.
fn snapshot(t: &TestDb) -> Vec<String> {
    let mut c = t.client();
    let mut out: Vec<String> = c
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'unsubscribe_sync' ORDER BY 1",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    if out.iter().any(|t| t == "meta") {
        for r in c
            .query(
                "SELECT key || '=' || value FROM unsubscribe_sync.meta ORDER BY 1",
                &[],
            )
            .unwrap()
        {
            out.push(r.get(0));
        }
    }
    out
}

#[test]
fn a_foreign_or_newer_schema_is_refused_untouched_and_ours_opens_from_many_replicas() {
    let t = TestDb::new();
    // Replicas opening a new database at once: one creates, all open.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = t.url.clone();
            std::thread::spawn(move || PgDatabase::open(&url, 1).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().expect("every replica opens");
    }
    let ours = snapshot(&t);
    assert!(ours.contains(&"schema_version=1".to_string()), "{ours:?}");
    drop(PgDatabase::open(&t.url, 1).unwrap());
    assert_eq!(snapshot(&t), ours, "opening again writes nothing");

    t.client()
        .batch_execute("UPDATE unsubscribe_sync.meta SET value = '7' WHERE key = 'schema_version'")
        .unwrap();
    let before = snapshot(&t);
    let err = open_err(&t);
    assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("newer unsubscribe-sync (schema version 7"),
        "{err}"
    );
    assert_eq!(snapshot(&t), before);

    let other = TestDb::new();
    other
        .client()
        .batch_execute(
            "CREATE SCHEMA unsubscribe_sync;
             CREATE TABLE unsubscribe_sync.customers (id INT PRIMARY KEY, name TEXT);",
        )
        .unwrap();
    let before = snapshot(&other);
    let err = open_err(&other);
    assert!(matches!(err, StorageError::Corrupt(_)), "{err:?}");
    assert!(err.to_string().contains("another application"), "{err}");
    assert!(err.to_string().contains("customers"), "{err}");
    assert_eq!(
        snapshot(&other),
        before,
        "nothing was added to the foreign schema"
    );

    // Another application's tables elsewhere in the database are no obstacle.
    let shared = TestDb::new();
    shared
        .client()
        .batch_execute("CREATE TABLE public.orders (id INT PRIMARY KEY)")
        .unwrap();
    let s = PgStorage::new(shared.open(1), "org");
    s.set("k", b"v").unwrap();
    assert_eq!(s.get("k").unwrap(), Some(b"v".to_vec()));
    let _: Arc<PgDatabase> = shared.open(1);
}
