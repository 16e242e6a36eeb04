//! One writer per ledger, and a ledger that vanishes is noticed (issue 14):
//! a second `serve` on the same ledger refuses to start and names the first;
//! a `push` while `serve` runs says why it cannot; a ledger deleted under a
//! running `serve` turns intake and `/healthz` to 503; and the restart does
//! not silently create an empty ledger in its place.

use std::time::Duration;

use crate::cli::{LEAD, seed, with_creds, write_config};
use crate::support::serve::{Server, eventually, get, post_signed};

fn event(person: &str) -> String {
    format!(r#"{{"person_id":"{person}","salesforce_id":"{LEAD}"}}"#)
}

/// Runs `serve` in `dir` to its end (here it is expected to refuse to start).
fn serve_once(dir: &std::path::Path) -> std::process::Output {
    with_creds(dir)
        .env(
            "UNSUBSCRIBE_SYNC_WEBHOOK_SECRET",
            crate::support::serve::WEBHOOK_SECRET,
        )
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap()
}

#[test]
fn a_second_writer_is_refused_and_told_who_holds_the_ledger() {
    let emu = crate::support::emulator(seed());
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &emu, "");
    let first = Server::start(dir.path(), &[]);
    let pid = first.child.id();

    // A second `serve` on the same config exits at once, naming the first.
    let second = serve_once(dir.path());
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("serve, pid {pid}")), "{err}");

    // A CLI writer is told why it cannot write, and that nothing was done.
    let push = with_creds(dir.path())
        .args(["push", &event("p-cli")])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&push.stderr);
    assert_eq!(push.status.code(), Some(1), "{err}");
    assert!(err.contains("in use by serve"), "{err}");
    assert!(
        err.contains("webhook"),
        "the advice names the way that works: {err}"
    );

    // The first service is unaffected and still takes events.
    let (status, body) = post_signed(&format!("{}/v1/unsubscribes", first.base), &event("p-1"));
    assert_eq!(status, 202, "{body}");
    first.terminate(Duration::from_secs(20));

    // Once it is gone, the CLI may write.
    let push = with_creds(dir.path())
        .args(["push", &event("p-cli")])
        .output()
        .unwrap();
    assert_eq!(
        push.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
}

#[test]
fn a_ledger_deleted_under_serve_stops_intake_and_is_not_recreated() {
    let emu = crate::support::emulator(seed());
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &emu, "");
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/unsubscribes", server.base);
    let (status, body) = post_signed(&url, &event("p-1"));
    assert_eq!(status, 202, "{body}");

    let ledger = dir.path().join("sync.db");
    std::fs::remove_file(&ledger).unwrap();

    // Intake refuses rather than acknowledge into a deleted file.
    let (status, body) = post_signed(&url, &event("p-2"));
    assert_eq!(status, 503, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["error"]["kind"], "ledger-missing", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("deleted"),
        "{answer}"
    );
    assert!(
        eventually(Duration::from_secs(10), || get(&format!(
            "{}/healthz",
            server.base
        ))
        .0 == 503),
        "healthz turns unhealthy"
    );
    let (_, health) = get(&format!("{}/healthz", server.base));
    assert!(health.contains("ledger missing"), "{health}");
    server.terminate(Duration::from_secs(20));

    // The restart refuses to start over with an empty ledger, and says what
    // to restore; no new file appears.
    let restart = serve_once(dir.path());
    let err = String::from_utf8_lossy(&restart.stderr);
    assert_ne!(restart.status.code(), Some(0), "{err}");
    assert!(err.contains("restore it from a backup"), "{err}");
    assert!(!ledger.exists(), "no empty ledger was created in its place");
}

#[test]
fn a_ledger_replaced_under_serve_is_noticed() {
    let emu = crate::support::emulator(seed());
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &emu, "");
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/unsubscribes", server.base);
    assert_eq!(post_signed(&url, &event("p-1")).0, 202);

    // Another file moved over the path (a restore done without stopping).
    let ledger = dir.path().join("sync.db");
    let copy = dir.path().join("copy.db");
    std::fs::copy(&ledger, &copy).unwrap();
    std::fs::rename(&copy, &ledger).unwrap();

    let (status, body) = post_signed(&url, &event("p-2"));
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("replaced"), "{body}");
    server.terminate(Duration::from_secs(20));
}
