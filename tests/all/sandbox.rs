//! The hostile guest against the runtime's bounds: each misbehaviour ends
//! with a clear error and the next call works.

use std::sync::Arc;
use std::time::{Duration, Instant};

use unsubscribe_sync::{CacheUse, HostError, HttpTransport, Runtime, StaticResponder, api};

use crate::support::{self, caps_with, event, hostile_runtime, settings};

fn quiet_caps() -> support::TestCaps {
    caps_with(Arc::new(StaticResponder::new(200, b"{}".to_vec())))
}

fn push(
    rt: &Runtime,
    caps: &support::TestCaps,
    person: &str,
) -> Result<Result<api::PushOutcome, api::SyncError>, HostError> {
    rt.push(&caps.caps, &settings(), &event(person, None))
}

fn assert_next_call_works(rt: &Runtime, caps: &support::TestCaps) {
    let again = push(rt, caps, "ok").expect("the next call runs");
    assert_eq!(again, Ok(api::PushOutcome::Duplicate));
}

#[test]
fn a_looping_guest_is_stopped_at_its_deadline_and_the_next_call_works() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    let started = Instant::now();
    let err = push(rt, &caps, "loop").unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        HostError::Deadline {
            export: "push",
            timeout: Duration::from_secs(1)
        }
    );
    assert_eq!(
        err.to_string(),
        "the component exceeded its 1 s deadline in `push`"
    );
    assert!(
        took >= Duration::from_millis(990),
        "stopped too early: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "stopped too late: {took:?}");
    assert!(rt.stats().deadline_hits >= 1, "{:?}", rt.stats());
    assert_next_call_works(rt, &caps);
}

#[test]
fn a_memory_hungry_guest_is_stopped_at_the_cap_and_the_next_call_works() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    let err = push(rt, &caps, "alloc").unwrap_err();
    assert_eq!(
        err,
        HostError::MemoryCap {
            export: "push",
            limit_bytes: 64 << 20
        }
    );
    assert_eq!(
        err.to_string(),
        "the component exceeded its memory cap of 64 MiB in `push`"
    );
    let stats = rt.stats();
    assert!(stats.memory_cap_hits >= 1, "{stats:?}");
    assert!(stats.peak_guest_memory_bytes <= 64 << 20, "{stats:?}");
    assert!(stats.peak_guest_memory_bytes > 32 << 20, "{stats:?}");
    assert_next_call_works(rt, &caps);
}

#[test]
fn a_smaller_memory_cap_is_enforced_too() {
    let rt = Runtime::new(
        support::HOSTILE_WASM,
        unsubscribe_sync::RuntimeOptions {
            memory_limit_bytes: 8 << 20,
            ..support::options(Duration::from_secs(2))
        },
    )
    .unwrap();
    let caps = quiet_caps();
    let err = push(&rt, &caps, "alloc").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the component exceeded its memory cap of 8 MiB in `push`"
    );
    assert_next_call_works(&rt, &caps);
}

#[test]
fn a_panicking_guest_is_a_trap_that_carries_its_message() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    let err = push(rt, &caps, "panic").unwrap_err();
    match &err {
        HostError::Trap { export, message } => {
            assert_eq!(*export, "push");
            assert!(
                message.contains("the hostile guest panics on purpose"),
                "{message}"
            );
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_next_call_works(rt, &caps);
}

/// A transport that must never be reached.
struct MustNotSend;
impl HttpTransport for MustNotSend {
    fn send(
        &self,
        r: unsubscribe_sync::HttpRequest,
    ) -> Result<unsubscribe_sync::HttpResponse, unsubscribe_sync::HttpError> {
        panic!(
            "a refused request reached the transport: {} {}",
            r.method.as_str(),
            r.path
        )
    }
}

#[test]
fn requests_naming_another_origin_are_refused_before_leaving_the_host() {
    let rt = hostile_runtime();
    let caps = caps_with(Arc::new(MustNotSend));
    for person in [
        "evil-origin",
        "evil-relative",
        "http:GET:/etc/passwd",
        "http:GET:/services/../x",
    ] {
        match push(rt, &caps, person).expect("no trap") {
            Err(api::SyncError::RequestDenied(text)) => assert!(!text.is_empty()),
            other => panic!("{person}: expected request-denied, got {other:?}"),
        }
    }
    // A refused request ends nothing: the next call runs as usual.
    assert_next_call_works(rt, &caps);
}

#[test]
fn a_looping_guest_does_not_stop_other_calls() {
    let rt = hostile_runtime();
    let looping = std::thread::spawn(move || {
        let caps = quiet_caps();
        push(rt, &caps, "loop")
    });
    std::thread::sleep(Duration::from_millis(100));
    let caps = quiet_caps();
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(
            push(rt, &caps, "ok").unwrap(),
            Ok(api::PushOutcome::Duplicate)
        );
    }
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "calls waited for the looping one: {:?}",
        started.elapsed()
    );
    assert!(matches!(
        looping.join().unwrap(),
        Err(HostError::Deadline { .. })
    ));
}

#[test]
fn the_guest_wall_clock_is_the_host_clock() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    caps.clock.set(1_234_567_890_123);
    match push(rt, &caps, "clock").unwrap().unwrap() {
        api::PushOutcome::Written(w) => assert_eq!(w.fields, ["1234567890123", "1234567890123"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_guest_sees_no_environment_and_no_file_system() {
    // Something to leak, were the environment passed through.
    let rt = hostile_runtime();
    let caps = quiet_caps();
    match push(rt, &caps, "sandbox").unwrap().unwrap() {
        api::PushOutcome::Written(w) => {
            assert_eq!(
                w.fields[0], "0",
                "environment variables visible: {:?}",
                w.fields
            );
            assert!(
                w.fields[1].starts_with("error"),
                "file system visible: {:?}",
                w.fields
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_storage_import_round_trips_through_sqlite() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    match push(rt, &caps, "storage").unwrap().unwrap() {
        api::PushOutcome::Written(w) => {
            assert_eq!(
                w.fields,
                ["t/b", "Some(\"t/b\")", "2", "[None, Some([51])]"]
            );
        }
        other => panic!("{other:?}"),
    }
    use unsubscribe_sync::Storage;
    assert_eq!(caps.store.storage.get("t/c").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn a_log_flood_is_capped_and_the_call_completes() {
    let rt = hostile_runtime();
    let caps = quiet_caps();
    let out = push(rt, &caps, "log-flood").unwrap();
    assert!(matches!(out, Ok(api::PushOutcome::Written(_))), "{out:?}");
    assert_eq!(caps.log.messages().len(), 10_000);
}

#[test]
fn the_precompiled_component_is_cached_on_disk_and_a_damaged_artifact_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let opts = unsubscribe_sync::RuntimeOptions {
        cache_dir: Some(dir.path().to_path_buf()),
        ..unsubscribe_sync::RuntimeOptions::default()
    };
    let first = Runtime::new(support::HOSTILE_WASM, opts.clone()).unwrap();
    assert_eq!(first.stats().cache, Some(CacheUse::Stored));
    let key = unsubscribe_sync::cache::cache_key(first.engine(), support::HOSTILE_WASM);
    drop(first);
    let second = Runtime::new(support::HOSTILE_WASM, opts.clone()).unwrap();
    assert_eq!(second.stats().cache, Some(CacheUse::Hit));
    drop(second);
    std::fs::write(dir.path().join(&key), b"garbage").unwrap();
    let third = Runtime::new(support::HOSTILE_WASM, opts).unwrap();
    assert_eq!(third.stats().cache, Some(CacheUse::Stored));
    let caps = quiet_caps();
    assert_next_call_works(&third, &caps);
}

#[test]
fn a_component_of_another_world_is_refused_with_a_clear_error() {
    // A valid component that exports nothing: it does not fit the world.
    let empty_component = b"\0asm\x0d\0\x01\0";
    let err = Runtime::new(empty_component, support::options(Duration::from_secs(1))).unwrap_err();
    assert!(matches!(err, HostError::Incompatible(_)), "{err:?}");
    let err =
        Runtime::new(b"not wasm at all", support::options(Duration::from_secs(1))).unwrap_err();
    assert!(matches!(err, HostError::Load(_)), "{err:?}");
}
