//! `serve` as a process: signed webhooks recorded and pushed, forged,
//! unsigned, stale, replayed and oversized ones rejected, health and
//! metrics, a hostile component that cannot take the service down, the
//! inbox drained on restart, and SIGTERM.

use std::time::Duration;

use crate::cli::{CONTACT, LEAD, seed, write_config};
use crate::support::emulator;
use crate::support::serve::{
    Server, WEBHOOK_SECRET, eventually, get, metric, now_secs, post, post_signed, signature,
};

#[test]
fn a_signed_webhook_is_recorded_then_pushed_and_bad_ones_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "\n[server]\nmax_body_bytes = 1024\n");
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/unsubscribes", server.base);

    let body =
        format!("{{\"person_id\":\"p-1\",\"salesforce_id\":\"{LEAD}\",\"source\":\"link\"}}");
    let (status, answer) = post_signed(&url, &body);
    assert_eq!(status, 202, "{answer}\n{}", server.log());
    assert!(
        eventually(Duration::from_secs(15), || emu
            .record(LEAD)
            .unwrap()
            .has_opted_out_of_email),
        "the accepted event was not pushed\n{}",
        server.log()
    );

    // Forged: signed with another secret.
    let other = format!("{{\"person_id\":\"p-2\",\"salesforce_id\":\"{CONTACT}\"}}");
    let ts = now_secs();
    let (status, answer) = post(
        &url,
        &other,
        Some(ts),
        Some(&signature("not-the-secret-at-all", ts, &other)),
    );
    assert_eq!(status, 401, "{answer}");
    // Unsigned.
    let (status, answer) = post(&url, &other, None, None);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("X-Signature"), "{answer}");
    // Tampered: a valid signature of another body.
    let (status, _) = post(
        &url,
        &other,
        Some(ts),
        Some(&signature(WEBHOOK_SECRET, ts, &body)),
    );
    assert_eq!(status, 401);
    // Stale: outside the 5-minute window, correctly signed.
    let old = ts - 301;
    let (status, answer) = post(
        &url,
        &other,
        Some(old),
        Some(&signature(WEBHOOK_SECRET, old, &other)),
    );
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("replay window"), "{answer}");
    // Replayed: the very request that was accepted, sent again.
    let ts = now_secs();
    let sig = signature(WEBHOOK_SECRET, ts, &other);
    let (status, _) = post(&url, &other, Some(ts), Some(&sig));
    assert_eq!(status, 202);
    let (status, answer) = post(&url, &other, Some(ts), Some(&sig));
    assert_eq!(status, 409, "{answer}");
    // Over the body cap.
    let big = format!("{{\"person_id\":\"{}\"}}", "x".repeat(2000));
    let (status, answer) = post_signed(&url, &big);
    assert_eq!(status, 413);
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|e| e.contains("server.max_body_bytes (1024 bytes)")),
        "{answer}"
    );
    // Malformed but signed: refused to the sender.
    let (status, answer) = post_signed(&url, "{\"nope\":1}");
    assert_eq!(status, 400, "{answer}");

    assert!(eventually(Duration::from_secs(15), || emu
        .record(CONTACT)
        .unwrap()
        .has_opted_out_of_email));
    // Only the two accepted events reached Salesforce: one PATCH each.
    assert_eq!(emu.call_counts().sobject_patch, 2, "{}", server.log());

    // A re-subscribe is accepted and writes nothing.
    let patches = emu.call_counts().sobject_patch;
    let (status, _) = post_signed(
        &format!("{}/v1/resubscribes", server.base),
        "{\"person_id\":\"p-1\"}",
    );
    assert_eq!(status, 202);

    let (status, health) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200, "{health}");
    let ok = eventually(Duration::from_secs(10), || {
        let (_, page) = get(&format!("{}/metrics", server.base));
        metric(&page, "unsubscribe_sync_resubscribes_total") == Some(1.0)
    });
    let (_, page) = get(&format!("{}/metrics", server.base));
    assert!(ok, "{page}");
    assert_eq!(emu.call_counts().sobject_patch, patches);
    assert_eq!(
        metric(&page, "unsubscribe_sync_pushes_total{outcome=\"written\"}"),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"accepted\"}"
        ),
        Some(3.0),
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"bad_signature\"}"
        ),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"unsigned\"}"
        ),
        Some(1.0),
        "{page}"
    );
    // Refused by the accept loop on its declared Content-Length, still counted.
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"too_large\"}"
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        metric(&page, "unsubscribe_sync_webhooks_total{result=\"stale\"}"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"replayed\"}"
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        metric(&page, "unsubscribe_sync_inbox_depth"),
        Some(0.0),
        "{page}"
    );
    assert!(
        metric(&page, "unsubscribe_sync_api_calls_total").unwrap() >= 2.0,
        "{page}"
    );
    for name in [
        "unsubscribe_sync_retries_pending",
        "unsubscribe_sync_nightly_duration_seconds",
        "unsubscribe_sync_push_failures_total",
    ] {
        assert!(metric(&page, name).is_some(), "{name} missing:\n{page}");
    }
    let log = server.log();
    assert!(
        !log.contains(WEBHOOK_SECRET)
            && !log.contains("emulator-secret")
            && !log.contains("!AQ0AQ"),
        "{log}"
    );
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
}

/// `serve` running the hostile test component with a deadline of
/// `timeout_secs` per call, against an emulator.
fn hostile_service(timeout_secs: u32) -> (tempfile::TempDir, sf_emulator::Emulator, Server) {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let cfg = dir.path().join("unsubscribe-sync.toml");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "call_timeout_secs = 10",
        &format!("call_timeout_secs = {timeout_secs}"),
    );
    std::fs::write(&cfg, text).unwrap();
    std::fs::write(
        dir.path().join("hostile.wasm"),
        crate::support::HOSTILE_WASM,
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--component", "hostile.wasm"]);
    (dir, emu, server)
}

#[test]
fn a_looping_or_memory_hungry_component_cannot_take_the_service_down() {
    let (_dir, _emu, server) = hostile_service(1);
    let url = format!("{}/v1/unsubscribes", server.base);
    for person in ["loop", "alloc", "panic"] {
        let (status, answer) = post_signed(&url, &format!("{{\"person_id\":\"{person}\"}}"));
        assert_eq!(status, 202, "{person}: {answer}");
    }
    let (status, _) = post_signed(&url, "{\"person_id\":\"after\"}");
    assert_eq!(status, 202);
    let (status, health) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200, "{health}");
    let done = eventually(Duration::from_secs(30), || {
        let (_, page) = get(&format!("{}/metrics", server.base));
        metric(
            &page,
            "unsubscribe_sync_pushes_total{outcome=\"duplicate\"}",
        ) == Some(1.0)
    });
    let (_, page) = get(&format!("{}/metrics", server.base));
    assert!(
        done,
        "the event after the hostile ones was not handled:\n{page}\n{}",
        server.log()
    );
    assert_eq!(
        metric(&page, "unsubscribe_sync_dead_letters_total"),
        Some(3.0),
        "{page}"
    );
    assert!(
        metric(&page, "unsubscribe_sync_component_traps_total").unwrap() >= 3.0,
        "{page}"
    );
    let log = server.log();
    assert!(log.contains("exceeded its 1 s deadline in `push`"), "{log}");
    assert!(log.contains("memory cap of 64 MiB in `push`"), "{log}");
    assert!(log.contains("panics on purpose"), "{log}");
    let (status, _) = get(&format!("{}/healthz", server.base));
    assert_eq!(status, 200);
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
}

#[test]
fn sigterm_lets_the_running_call_finish_then_exits() {
    let (_dir, _emu, server) = hostile_service(2);
    let (status, _) = post_signed(
        &format!("{}/v1/unsubscribes", server.base),
        "{\"person_id\":\"loop\"}",
    );
    assert_eq!(status, 202);
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let log = server.stderr.clone();
    let code = server.terminate(Duration::from_secs(20));
    let log = log.lock().unwrap().clone();
    assert_eq!(code, Some(0), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The call in progress ran to its end (its deadline) before the exit.
    assert!(log.contains("deadline in `push`"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn events_left_in_the_inbox_are_pushed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    // An event recorded by a previous run that stopped before pushing it.
    {
        use unsubscribe_sync::backends::inbox::InboxStore;
        let inbox =
            unsubscribe_sync::backends::inbox::Inbox::open(&dir.path().join("sync.db")).unwrap();
        inbox
            .accept(
                unsubscribe_sync::backends::inbox::Kind::Unsubscribe,
                &format!("{{\"person_id\":\"p-left\",\"salesforce_id\":\"{LEAD}\",\"occurred_at\":1751968800000}}"),
                "sha256-of-an-earlier-request",
                now_secs() * 1000,
                300_000,
            )
            .unwrap();
    }
    let server = Server::start(dir.path(), &[]);
    assert!(
        eventually(Duration::from_secs(15), || emu
            .record(LEAD)
            .unwrap()
            .has_opted_out_of_email),
        "{}",
        server.log()
    );
    let (_, page) = get(&format!("{}/metrics", server.base));
    assert_eq!(
        metric(&page, "unsubscribe_sync_inbox_depth"),
        Some(0.0),
        "{page}"
    );
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
}

#[test]
fn an_event_that_keeps_failing_does_not_hold_back_the_events_behind_it() {
    use unsubscribe_sync::{Storage, WriteOp};
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    // One person's stored record is damaged: every push for them fails to
    // record (a storage failure), and their event is kept for later.
    {
        let store = unsubscribe_sync::SqliteStorage::open(&dir.path().join("sync.db")).unwrap();
        store
            .write(vec![WriteOp::Set(
                "p/p-damaged".into(),
                b"{not json".to_vec(),
            )])
            .unwrap();
    }
    let server = Server::start(dir.path(), &[]);
    let url = format!("{}/v1/unsubscribes", server.base);
    let damaged = format!("{{\"person_id\":\"p-damaged\",\"salesforce_id\":\"{LEAD}\"}}");
    let (status, answer) = post_signed(&url, &damaged);
    assert_eq!(status, 202, "{answer}");
    let fine = format!("{{\"person_id\":\"p-fine\",\"salesforce_id\":\"{CONTACT}\"}}");
    let (status, answer) = post_signed(&url, &fine);
    assert_eq!(status, 202, "{answer}");
    // The event behind the failing one is pushed at once, not after it.
    assert!(
        eventually(Duration::from_secs(15), || emu
            .record(CONTACT)
            .unwrap()
            .has_opted_out_of_email),
        "the second event waited behind the failing one\n{}",
        server.log()
    );
    // The failing one is kept (not lost, not dead-lettered) and was never
    // written to Salesforce.
    let (_, page) = get(&format!("{}/metrics", server.base));
    assert_eq!(
        metric(&page, "unsubscribe_sync_inbox_depth"),
        Some(1.0),
        "{page}"
    );
    assert_eq!(
        metric(&page, "unsubscribe_sync_dead_letters_total"),
        Some(0.0),
        "{page}"
    );
    assert!(!emu.record(LEAD).unwrap().has_opted_out_of_email);
    assert!(
        server.log().contains("p/p-damaged holds unreadable data"),
        "{}",
        server.log()
    );
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));
}

#[test]
fn serve_refuses_to_start_without_a_webhook_secret() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let out = crate::cli::with_creds(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        crate::support::cli::text(&out)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET"));
}
