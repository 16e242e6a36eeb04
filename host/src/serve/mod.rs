//! `serve`: the long-running service.
//!
//! - `POST /v1/unsubscribes` and `POST /v1/resubscribes` take one event as
//!   JSON (as `push`/`resubscribe` do), signed (see [`webhook`]). A valid
//!   event is recorded in the [`inbox`] before the answer (202); the worker
//!   then hands it to the component at once.
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//! - The worker thread is the only caller of the component, so calls that
//!   share the storage never run concurrently: inbox events in arrival order
//!   first, then the nightly (daily at the configured local time; its steps
//!   continue between events), then due retries.
//! - SIGTERM or Ctrl-C: the HTTP server stops taking requests, the worker
//!   finishes the call it is in (every call is bounded by the deadline; a
//!   nightly run has checkpointed after each step) and the process exits.

pub mod inbox;
pub mod listener;
pub mod metrics;
pub mod scheduler;
pub mod standard_webhooks;
pub mod webhook;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::cli::input as cli_input;
use crate::cli::{App, Cli, CmdResult, Exit, Failure, describe_push, describe_sync_error};
use crate::{Secret, api};
use inbox::{Inbox, Kind, Refused};
use metrics::Metrics;
use scheduler::{Plan, Work};

/// How long a deferred inbox event waits (storage trouble, bad settings).
const DEFER_MS: i64 = 30_000;
/// When planning the nightly failed, try again after this long.
const REPLAN_MS: i64 = 60_000;
/// The least time between the due instants of two nightly runs.
const MIN_NIGHTLY_GAP_MS: i64 = 3_600_000;
/// The worker wakes at least this often, to notice the clock moving.
const MAX_IDLE: Duration = Duration::from_secs(30);

/// Arguments of `serve`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Webhooks: POST /v1/unsubscribes and POST /v1/resubscribes with a JSON event \
(as `push` / `resubscribe` take it) and two headers:
  X-Timestamp: <Unix time in seconds>
  X-Signature: sha256=<hex of HMAC-SHA256(secret, X-Timestamp + \".\" + body)>
The secret comes from UNSUBSCRIBE_SYNC_WEBHOOK_SECRET (or webhook_secret in the credentials file; at \
least 16 characters). Requests outside the replay window (server.replay_window_secs, 5 minutes), replayed, \
unsigned or wrongly signed are refused (401, 409 for a replay); bodies over server.max_body_bytes get 413. \
An accepted event is recorded durably before the 202 answer, then pushed at once.
Also: GET /healthz, GET /metrics (Prometheus). The nightly runs daily at schedule.hour:minute in \
schedule.time_zone (20:00 America/Los_Angeles by default); due retries are drained as they fall due. \
SIGTERM finishes the running call, then exits."
)]
pub struct ServeArgs {
    /// Listen here instead of server.listen (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// The service's shared state.
pub struct Service {
    app: App,
    inbox: Inbox,
    metrics: Metrics,
    secret: Secret,
    wake: (Mutex<bool>, Condvar),
    shutdown: AtomicBool,
    worker_alive: AtomicBool,
}

impl Service {
    fn notify(&self) {
        let (lock, cv) = &self.wake;
        if let Ok(mut w) = lock.lock() {
            *w = true;
            cv.notify_all();
        }
    }

    fn sleep_until(&self, deadline: Option<i64>) {
        let now = self.app.caps.clock.now_ms();
        let wait = deadline
            .map(|t| Duration::from_millis((t - now).max(0) as u64))
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE);
        let (lock, cv) = &self.wake;
        if let Ok(mut woken) = lock.lock() {
            if !*woken && !self.shutdown.load(Ordering::SeqCst) {
                woken = cv
                    .wait_timeout(woken, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            *woken = false;
        }
    }
}

/// Runs `serve` until SIGTERM or Ctrl-C.
pub fn run(cli: &Cli, args: &ServeArgs) -> CmdResult {
    let app = App::load(cli)?;
    let secret = app
        .credentials
        .webhook_secret
        .clone()
        .filter(|s| s.expose().len() >= 16)
        .ok_or_else(|| {
            Failure::usage(
                "serve needs a webhook secret of at least 16 characters: set UNSUBSCRIBE_SYNC_WEBHOOK_SECRET \
                 (or webhook_secret in the credentials file)",
            )
        })?;
    if let Some(why) = &app.org_missing {
        tracing::warn!("{why}; events are recorded and queued until credentials are set");
    }
    let inbox = Inbox::open(&app.config.storage_path)?;
    let listen = args.listen.unwrap_or(app.config.server.listen);
    let service = Arc::new(Service {
        app,
        inbox,
        metrics: Metrics::default(),
        secret,
        wake: (Mutex::new(false), Condvar::new()),
        shutdown: AtomicBool::new(false),
        worker_alive: AtomicBool::new(true),
    });
    let worker = {
        let s = service.clone();
        std::thread::Builder::new()
            .name("unsubscribe-sync-worker".into())
            .spawn(move || {
                worker_loop(&s);
                s.worker_alive.store(false, Ordering::SeqCst);
            })
            .map_err(|e| Failure::runtime(format!("starting the worker: {e}")))?
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("starting the async runtime: {e}")))?;
    let served = rt.block_on(serve_http(service.clone(), listen));
    service.shutdown.store(true, Ordering::SeqCst);
    service.notify();
    let _ = worker.join();
    tracing::info!("stopped");
    served.map(|_| Exit::Ok)
}

async fn serve_http(service: Arc<Service>, listen: SocketAddr) -> Result<(), Failure> {
    let max_body = service.app.config.server.max_body_bytes;
    let router = Router::new()
        .route("/v1/unsubscribes", post(unsubscribe))
        .route("/v1/resubscribes", post(resubscribe))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(service.clone());
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Failure::usage(format!("server.listen {listen}: {e}")))?;
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
        listener::Limits::new(max_body),
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
    reply(status, serde_json::json!({ "error": message }))
}

async fn intake(
    s: Arc<Service>,
    kind: Kind,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
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
                serde_json::json!({ "error": r.message(window.as_secs()) }),
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        s.metrics.rejected("invalid");
        return reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({ "error": "the body is not UTF-8" }),
        );
    };
    // Checked now so a malformed event is refused to its sender rather than
    // dead-lettered later; the component checks it again.
    let parsed = match kind {
        Kind::Unsubscribe => cli_input::unsubscribe_from_json(text, now_ms, "webhook").map(|_| ()),
        Kind::Resubscribe => cli_input::resubscribe_from_json(text, now_ms, "webhook").map(|_| ()),
    };
    if let Err(e) = parsed {
        s.metrics.rejected("invalid");
        return reply(StatusCode::BAD_REQUEST, serde_json::json!({ "error": e }));
    }
    // The arrival time is stored with the event and handed to the component
    // as its `received-at`, which stands in for a missing or implausible
    // `occurred_at` however late the worker gets to the event.
    let stored = text.to_string();
    let s2 = s.clone();
    let key = signature.replay_key.clone();
    let accepted = tokio::task::spawn_blocking(move || {
        s2.inbox
            .accept(kind, &stored, &key, now_ms, window.as_millis() as i64)
    })
    .await;
    match accepted {
        Ok(Ok(id)) => {
            s.metrics.webhooks_accepted.fetch_add(1, Ordering::Relaxed);
            s.notify();
            reply(StatusCode::ACCEPTED, serde_json::json!({ "accepted": id }))
        }
        // A sender retries a Standard Webhook until it gets a 2xx.
        Ok(Err(Refused::Replay)) if let webhook::Scheme::Standard { id } = &signature.scheme => {
            s.metrics.rejected("redelivered");
            reply(StatusCode::OK, serde_json::json!({ "duplicate": id }))
        }
        Ok(Err(Refused::Replay)) => {
            s.metrics.rejected("replayed");
            tracing::warn!("webhook refused: replayed");
            reply(
                StatusCode::CONFLICT,
                serde_json::json!({ "error": "replayed: this signed request was already accepted" }),
            )
        }
        Ok(Err(Refused::Storage(e))) => {
            tracing::error!(error = %e, "cannot record a webhook event");
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": "cannot record the event now; retry" }),
            )
        }
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            serde_json::json!({ "error": e.to_string() }),
        ),
    }
}

async fn healthz(State(s): State<Arc<Service>>) -> Response {
    let depth = s.inbox.depth().unwrap_or(0);
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

/// The worker: the only caller of the component.
fn worker_loop(s: &Service) {
    let clock = s.app.caps.clock.clone();
    let mut plan = Plan::default();
    refresh_from_status(s, &mut plan);
    plan_nightly(s, &mut plan, clock.now_ms());
    catch_up_missed_nightly(s, &mut plan, clock.now_ms());
    let mut nightly_started: Option<Instant> = None;
    // The due instant of the run under way (or of the last one).
    let mut run_due = clock.now_ms();
    while !s.shutdown.load(Ordering::SeqCst) {
        let now = clock.now_ms();
        // Inbox events first, in arrival order; a deferred event steps
        // aside until its time, so it never holds back the ones behind it.
        let inbox_wake = match s.inbox.next(now) {
            Ok(inbox::Next::Due(ev)) => {
                handle_event(s, &mut plan, ev, now);
                continue;
            }
            Ok(inbox::Next::WaitUntil(at)) => Some(at),
            Ok(inbox::Next::Empty) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the inbox");
                Some(now + DEFER_MS)
            }
        };
        match plan.next_work(now) {
            Work::NightlyStep => {
                let started = *nightly_started.get_or_insert_with(Instant::now);
                if !plan.nightly_active {
                    run_due = plan.next_nightly.unwrap_or(now);
                }
                plan.nightly_active = true;
                plan.nightly_resume_at = None;
                match s.app.runtime.nightly(
                    &s.app.caps,
                    s.app.settings(),
                    &api::NightlyOptions { dry_run: false },
                ) {
                    Ok(Ok(api::NightlyOutcome::InProgress(p))) => {
                        tracing::debug!(run = %p.run_id, stage = %p.stage, done = p.done, total = p.total, "nightly step");
                        if p.wait_ms > 0 {
                            plan.nightly_resume_at = Some(clock.now_ms() + i64::from(p.wait_ms));
                        }
                    }
                    Ok(Ok(api::NightlyOutcome::Finished(r))) => {
                        let ms = started.elapsed().as_millis() as u64;
                        s.metrics.nightly_runs.fetch_add(1, Ordering::Relaxed);
                        s.metrics
                            .nightly_last_duration_ms
                            .store(ms, Ordering::Relaxed);
                        tracing::info!(
                            run = %r.run_id, held = r.held, written = r.written, reasserted = r.reasserted,
                            redirected = r.redirected, failed = r.failed, skipped = r.skipped_no_salesforce_id,
                            stopped = r.stopped.is_some(), "nightly finished"
                        );
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Ok(Ok(api::NightlyOutcome::Disabled)) => {
                        tracing::info!("the sync is disabled: no nightly run");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %describe_sync_error(&e), "nightly failed");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                    Err(h) => {
                        tracing::error!(error = %h, "nightly stopped");
                        end_nightly(s, &mut plan, &mut nightly_started, run_due);
                    }
                }
            }
            Work::PlanNightly => plan_nightly(s, &mut plan, now),
            Work::DrainRetries => {
                s.metrics.retry_drains.fetch_add(1, Ordering::Relaxed);
                match s.app.runtime.drain_retries(
                    &s.app.caps,
                    s.app.settings(),
                    s.app.config.server.retry_batch,
                ) {
                    Ok(Ok(d)) => {
                        tracing::info!(
                            attempted = d.attempted,
                            written = d.written,
                            requeued = d.requeued,
                            failed = d.failed,
                            "retries drained"
                        );
                        plan.next_retry = d.next_due;
                        // Never busy-loop on a retry the component keeps due.
                        if d.attempted == 0 && plan.next_retry.is_some_and(|t| t <= now) {
                            plan.next_retry = Some(now + DEFER_MS);
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %describe_sync_error(&e), "draining retries failed");
                        plan.next_retry = Some(now + DEFER_MS);
                    }
                    Err(h) => {
                        tracing::error!(error = %h, "draining retries stopped");
                        plan.next_retry = Some(now + DEFER_MS);
                    }
                }
                refresh_pending(s);
            }
            Work::Idle(until) => {
                let wake = [until, inbox_wake].into_iter().flatten().min();
                s.sleep_until(wake);
            }
        }
    }
}

/// A run ended: plan the next one. It is asked for strictly after both now
/// and an hour past the run's due instant, so a component answering "in a
/// moment" again and again cannot make the host run nightlies back to back.
fn end_nightly(s: &Service, plan: &mut Plan, started: &mut Option<Instant>, run_due: i64) {
    plan.nightly_active = false;
    plan.nightly_resume_at = None;
    *started = None;
    refresh_from_status(s, plan);
    let after = s.app.caps.clock.now_ms().max(run_due + MIN_NIGHTLY_GAP_MS);
    plan_nightly(s, plan, after);
}

fn plan_nightly(s: &Service, plan: &mut Plan, now: i64) {
    plan.replan_at = None;
    if !s.app.settings().sync_enabled {
        plan.next_nightly = None;
        return;
    }
    match scheduler::next_nightly(&s.app.runtime, &s.app.caps, &s.app.settings().schedule, now) {
        Ok(due) => {
            tracing::info!(due = %crate::cli::ts(due), "next nightly planned");
            plan.next_nightly = Some(due);
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot plan the nightly; trying again in a minute");
            plan.next_nightly = None;
            plan.replan_at = Some(now + REPLAN_MS);
        }
    }
}

/// A nightly that fell due while the service was down runs at once: the
/// last run started before the most recent due instant.
fn catch_up_missed_nightly(s: &Service, plan: &mut Plan, now: i64) {
    if plan.nightly_active || !s.app.settings().sync_enabled {
        return;
    }
    let Ok(Ok(st)) = s.app.runtime.status(&s.app.caps, s.app.settings()) else {
        return;
    };
    // Before the first run there is nothing to catch up: the first one
    // comes at its due time.
    let Some(last) = st.last_report else { return };
    let schedule = &s.app.settings().schedule;
    let Ok(due) = scheduler::last_due_at_or_before(&s.app.runtime, &s.app.caps, schedule, now)
    else {
        return;
    };
    if last.started_at < due {
        tracing::warn!(
            missed = %crate::cli::ts(due),
            last_run = %crate::cli::ts(last.started_at),
            "a nightly fell due while the service was down; running it now"
        );
        plan.next_nightly = Some(now);
    }
}

fn refresh_from_status(s: &Service, plan: &mut Plan) {
    match s.app.runtime.status(&s.app.caps, s.app.settings()) {
        Ok(Ok(st)) => {
            s.metrics
                .retries_pending
                .store(st.pending_retries, Ordering::Relaxed);
            plan.next_retry = st.next_retry_at;
            if st.nightly_in_progress.is_some() && s.app.settings().sync_enabled {
                // A run was interrupted (a restart): resume it.
                plan.nightly_active = true;
            }
        }
        Ok(Err(e)) => tracing::warn!(error = %describe_sync_error(&e), "status failed"),
        Err(h) => tracing::warn!(error = %h, "status stopped"),
    }
}

fn refresh_pending(s: &Service) {
    if let Ok(Ok(st)) = s.app.runtime.status(&s.app.caps, s.app.settings()) {
        s.metrics
            .retries_pending
            .store(st.pending_retries, Ordering::Relaxed);
    }
}

fn handle_event(s: &Service, plan: &mut Plan, ev: inbox::Event, now: i64) {
    let caps = &s.app.caps;
    let settings = s.app.settings();
    // Whether the retry queue may have changed (the pending-retries gauge).
    let mut queue_changed = false;
    // The body was checked on arrival; a failure here means it was edited
    // in the database: dead-letter it.
    let outcome: Result<Result<String, api::SyncError>, crate::HostError> = match ev.kind {
        Kind::Unsubscribe => {
            match cli_input::unsubscribe_from_json(&ev.body, ev.received_at, "webhook") {
                Ok(e) => s.app.runtime.push(caps, settings, &e).map(|r| {
                    r.map(|o| {
                        s.metrics.push_outcome(&o);
                        if let api::PushOutcome::QueuedForRetry(q) = &o {
                            plan.retry_at(q.next_attempt_at);
                            queue_changed = true;
                        }
                        format!("{}: {}", e.person_id, describe_push(&o))
                    })
                }),
                Err(e) => Ok(Err(api::SyncError::InvalidEvent(e))),
            }
        }
        Kind::Resubscribe => {
            match cli_input::resubscribe_from_json(&ev.body, ev.received_at, "webhook") {
                Ok(e) => s.app.runtime.resubscribe(caps, settings, &e).map(|r| {
                    r.map(|o| {
                        s.metrics.resubscribes.fetch_add(1, Ordering::Relaxed);
                        // A release drops any queued retry of the person.
                        queue_changed |= matches!(o, api::ResubscribeOutcome::Released);
                        format!("{}: {}", e.person_id, crate::cli::describe_resubscribe(&o))
                    })
                }),
                Err(e) => Ok(Err(api::SyncError::InvalidEvent(e))),
            }
        }
    };
    let result = match outcome {
        Ok(Ok(text)) => {
            tracing::info!(event = ev.id, "{text}");
            if queue_changed {
                refresh_pending(s);
            }
            s.inbox.done(ev.id)
        }
        // Nothing was recorded and retrying may help: keep it, in order.
        Ok(Err(e @ (api::SyncError::StorageFailure(_) | api::SyncError::InvalidSettings(_)))) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            let text = describe_sync_error(&e);
            tracing::error!(event = ev.id, attempts = ev.attempts + 1, error = %text, "event kept for a later attempt");
            s.inbox.defer(ev.id, &text, now + DEFER_MS)
        }
        // The sender must fix it: keep it aside for an operator.
        Ok(Err(e @ api::SyncError::InvalidEvent(_))) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            s.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            let text = describe_sync_error(&e);
            tracing::error!(event = ev.id, error = %text, "event refused by the component; moved to the dead letters");
            s.inbox.dead(ev.id, &text, now)
        }
        // Recorded by the component (which holds it and retries or reports
        // it); the error is Salesforce's side.
        Ok(Err(e)) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(event = ev.id, error = %describe_sync_error(&e), "event recorded; not written");
            refresh_from_status(s, plan);
            s.inbox.done(ev.id)
        }
        // A trap, the deadline or the memory cap: the host keeps serving;
        // the event is kept aside with the reason.
        Err(h) => {
            s.metrics.push_failures.fetch_add(1, Ordering::Relaxed);
            s.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
            tracing::error!(event = ev.id, error = %h, "the component failed on an event; moved to the dead letters");
            s.inbox.dead(ev.id, &h.to_string(), now)
        }
    };
    if let Err(e) = result {
        tracing::error!(event = ev.id, error = %e, "cannot update the inbox");
        s.sleep_until(Some(now + 1_000));
    }
}
