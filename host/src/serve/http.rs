//! The HTTP side of `serve`: the webhook routes, `/healthz` and `/metrics`.
//! An accepted event is recorded in the inbox before the 202 answer; the
//! worker is then woken.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::{Service, listener, webhook};
use crate::app::Failure;
use crate::app::input;
use crate::backends::inbox::{Arrival, Kind, Refused};

pub(super) async fn serve_http(
    service: Arc<Service>,
    listen: std::net::TcpListener,
) -> Result<(), Failure> {
    let server = &service.app.config.server;
    let max_body = server.max_body_bytes;
    let router = Router::new()
        .route("/v1/unsubscribes", post(unsubscribe))
        .route("/v1/resubscribes", post(resubscribe))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::from_std(listen)
        .map_err(|e| Failure::runtime(format!("listening: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::runtime(e.to_string()))?;
    tracing::info!(address = %bound, "listening");
    // The bound address on stdout, for whoever started us (a port of 0).
    println!("listening on http://{bound}");
    let stopping = service.clone();
    let counting = service.clone();
    listener::serve(
        listener,
        router,
        listener::Limits {
            header_read_timeout: server.header_read_timeout,
            idle_timeout: server.idle_timeout,
            max_connections: server.max_connections,
            max_body_bytes: max_body,
        },
        move |label| counting.metrics.rejected(label),
        async move {
            shutdown_signal().await;
            tracing::info!("stopping: finishing the running call");
            stopping.shutdown.store(true, Ordering::SeqCst);
            stopping.notify();
        },
    )
    .await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The documented error shape (`{"error": {"kind", "message", "what-to-do"}}`),
/// the same as the CLI's with `--json`.
fn error_body(kind: &str, message: &str, what_to_do: &str) -> serde_json::Value {
    // The metrics' labels are snake_case; the JSON's names are kebab-case.
    crate::app::json::error_json(&crate::app::json::kebab(kind), message, what_to_do)
}

/// A refusal in the documented error shape.
fn refuse(status: StatusCode, kind: &str, message: &str, what_to_do: &str) -> Response {
    reply(status, error_body(kind, message, what_to_do))
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn unsubscribe(
    State(s): State<Arc<Service>>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => intake(s, Kind::Unsubscribe, headers, body).await,
        Err(rejection) => unreadable_body(&s, rejection),
    }
}

async fn resubscribe(
    State(s): State<Arc<Service>>,
    headers: HeaderMap,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Response {
    match body {
        Ok(body) => intake(s, Kind::Resubscribe, headers, body).await,
        Err(rejection) => unreadable_body(&s, rejection),
    }
}

/// A body that could not be read (over `server.max_body_bytes`, or cut off),
/// answered in JSON like every other refusal, so a sender's error handling
/// sees one shape.
fn unreadable_body(s: &Service, rejection: BytesRejection) -> Response {
    let status = rejection.status();
    let (label, message) = if status == StatusCode::PAYLOAD_TOO_LARGE {
        (
            "too_large",
            format!(
                "the body is larger than server.max_body_bytes ({} bytes); send one event per request or raise the limit",
                s.app.config.server.max_body_bytes
            ),
        )
    } else {
        (
            "unreadable_body",
            format!("the body could not be read: {}", rejection.body_text()),
        )
    };
    s.metrics.rejected(label);
    tracing::warn!(reason = label, "webhook refused");
    let what_to_do = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "send one event per request, or raise server.max_body_bytes"
    } else {
        "send the whole body, with a correct Content-Length"
    };
    refuse(status, label, &message, what_to_do)
}

async fn intake(
    s: Arc<Service>,
    kind: Kind,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Some(why) = s.ledger_problem() {
        s.metrics.rejected("ledger_missing");
        tracing::error!(reason = %why, "webhook refused: the ledger is gone");
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger_missing",
            &why,
            "the sender should retry later; the operator restores the ledger and restarts the service",
        );
    }
    let now_ms = crate::Clock::now_ms(&crate::SystemClock);
    let window = s.app.config.server.replay_window;
    let signature = match webhook::authenticate(
        &s.secret,
        &headers,
        &body,
        now_ms.div_euclid(1000),
        window.as_secs(),
    ) {
        Ok(sig) => sig,
        Err(r) => {
            s.metrics.rejected(r.label());
            tracing::warn!(reason = r.label(), "webhook refused");
            return reply(
                StatusCode::UNAUTHORIZED,
                error_body(
                    r.label(),
                    &r.message(window.as_secs()),
                    "sign the request with the shared webhook secret, with a current timestamp",
                ),
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        s.metrics.rejected("invalid");
        return reply(
            StatusCode::BAD_REQUEST,
            error_body(
                "invalid",
                "the body is not UTF-8",
                "send the event as UTF-8 JSON",
            ),
        );
    };
    // Checked now so a malformed event is refused to its sender rather than
    // dead-lettered later; the component checks it again.
    let parsed = match kind {
        Kind::Unsubscribe => input::unsubscribe_from_json(text, now_ms, "webhook").map(|_| ()),
        Kind::Resubscribe => input::resubscribe_from_json(text, now_ms, "webhook").map(|_| ()),
    };
    if let Err(e) = parsed {
        s.metrics.rejected("invalid");
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid",
            &e,
            "correct the event; this one was not recorded",
        );
    }
    // The arrival time is stored with the event and handed to the component
    // as its `received-at`, which stands in for a missing or implausible
    // `occurred_at` however late the worker gets to the event.
    // Committed with whatever else arrives meanwhile (group commit): the
    // answer still waits for the event to be on disk.
    let arrival = Arrival {
        kind,
        body: text.to_string(),
        key: signature.replay_key.clone(),
        now_ms,
        window_ms: window.as_millis() as i64,
    };
    match s.intake.accept(arrival).await {
        Ok(id) => {
            s.metrics.webhooks_accepted.fetch_add(1, Ordering::Relaxed);
            s.notify();
            reply(StatusCode::ACCEPTED, serde_json::json!({ "accepted": id }))
        }
        // A sender retries a Standard Webhook until it gets a 2xx.
        Err(Refused::Replay) if let webhook::Scheme::Standard { id } = &signature.scheme => {
            s.metrics.rejected("redelivered");
            reply(StatusCode::OK, serde_json::json!({ "duplicate": id }))
        }
        Err(Refused::Replay) => {
            s.metrics.rejected("replayed");
            tracing::warn!("webhook refused: replayed");
            reply(
                StatusCode::CONFLICT,
                error_body(
                    "replayed",
                    "replayed: this signed request was already accepted",
                    "nothing: the event is recorded once; sign a new request for a new event",
                ),
            )
        }
        Err(Refused::Storage(e)) => {
            tracing::error!(error = %e, "cannot record a webhook event");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                error_body(
                    "storage",
                    "cannot record the event now",
                    "retry later; the service's log says what storage failed",
                ),
            )
        }
    }
}

async fn healthz(State(s): State<Arc<Service>>) -> Response {
    let depth = s.inbox.depth().unwrap_or(0);
    if let Some(why) = s.ledger_problem() {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "ledger missing", "reason": why, "inbox": depth }),
        );
    }
    if s.worker_alive.load(Ordering::SeqCst) {
        reply(
            StatusCode::OK,
            serde_json::json!({ "status": "ok", "inbox": depth }),
        )
    } else {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({ "status": "worker stopped", "inbox": depth }),
        )
    }
}

async fn metrics_text(State(s): State<Arc<Service>>) -> Response {
    let org = s.app.org.as_ref().map(|o| o.stats());
    let text = s.metrics.render(
        &s.app.runtime.stats(),
        org.as_ref(),
        s.inbox.depth().unwrap_or(0),
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
        .into_response()
}
