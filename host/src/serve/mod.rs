//! `serve`: the long-running service.
//!
//! - `POST /v1/unsubscribes` and `POST /v1/resubscribes` take one event as
//!   JSON (as `push`/`resubscribe` do), signed (see [`webhook`]). A valid
//!   event is recorded in the [inbox](crate::backends::inbox) before the answer (202); the worker
//!   then hands it to the component at once.
//! - `GET /healthz`, `GET /metrics` (Prometheus text).
//! - The worker thread is the only caller of the component, so calls that
//!   share the storage never run concurrently: inbox events in arrival order
//!   first, then the nightly (daily at the configured local time; its steps
//!   continue between events), then due retries.
//! - SIGTERM or Ctrl-C: the HTTP server stops taking requests, the worker
//!   finishes the call it is in (every call is bounded by the deadline; a
//!   nightly run has checkpointed after each step) and the process exits.

mod batch;
mod events;
mod group_commit;
mod http;
pub mod listener;
pub mod metrics;
pub mod refusal;
pub mod scheduler;
pub mod standard_webhooks;
pub mod webhook;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::Secret;
use crate::app::{App, CmdResult, Exit, Failure};
use crate::backends::inbox::Inbox;
use crate::backends::ledger_guard::LedgerIdentity;
use group_commit::GroupCommit;
use metrics::Metrics;

/// How long a deferred inbox event waits (storage trouble, bad settings).
pub(crate) const DEFER_MS: i64 = 30_000;
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
Standard Webhooks senders are accepted too: webhook-id, webhook-timestamp and webhook-signature (v1,<base64 of HMAC-SHA256 over id.timestamp.body>) with a whsec_ secret; a redelivery of the same webhook-id is answered 200 and recorded once.
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
    inbox: Arc<Inbox>,
    /// Records webhook events, committing concurrent ones together.
    intake: GroupCommit,
    metrics: Metrics,
    secret: Secret,
    wake: (Mutex<bool>, Condvar),
    shutdown: AtomicBool,
    worker_alive: AtomicBool,
    /// The ledger file opened at start, to notice it deleted or replaced.
    ledger: LedgerIdentity,
}

impl Service {
    /// Why the service must not take events now: its ledger file was
    /// deleted or replaced under it (checked with one `stat`).
    fn ledger_problem(&self) -> Option<String> {
        self.ledger.check(&self.app.config.storage_path).err()
    }

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
pub fn run(mut app: App, args: &ServeArgs) -> CmdResult {
    // The only writer of the ledger while it runs: a second `serve` on the
    // same file refuses to start, naming this one.
    app.lock_for_writing("serve")?;
    let ledger = LedgerIdentity::of(&app.config.storage_path).map_err(|e| {
        Failure::runtime(format!(
            "the ledger {}: {e}",
            app.config.storage_path.display()
        ))
    })?;
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
    let inbox = Arc::new(Inbox::open(&app.config.storage_path)?);
    // The intake commits through a connection of its own, so a request
    // never waits behind the worker's reads of the inbox for a Rust lock
    // (SQLite's own write lock is still shared, and brief).
    let intake = GroupCommit::start(Arc::new(Inbox::open(&app.config.storage_path)?))
        .map_err(|e| Failure::runtime(format!("starting the intake: {e}")))?;
    // Bound before anything else starts (the worker would plan and log the
    // nightly): an address in use fails here, naming what set it.
    let (listen, set_by) = match args.listen {
        Some(addr) => (addr, "--listen"),
        None => (app.config.server.listen, "server.listen"),
    };
    let listener = std::net::TcpListener::bind(listen)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| {
            Failure::runtime(format!("cannot listen on {listen} (set by {set_by}): {e}"))
                .with_advice(format!(
                    "stop what holds the address, or choose another with {set_by} (port 0 picks a free one)"
                ))
        })?;
    let service = Arc::new(Service {
        app,
        inbox,
        intake,
        metrics: Metrics::default(),
        secret,
        wake: (Mutex::new(false), Condvar::new()),
        shutdown: AtomicBool::new(false),
        worker_alive: AtomicBool::new(true),
        ledger,
    });
    let worker = {
        let s = service.clone();
        std::thread::Builder::new()
            .name("unsubscribe-sync-worker".into())
            .spawn(move || {
                worker::worker_loop(&s);
                s.worker_alive.store(false, Ordering::SeqCst);
            })
            .map_err(|e| Failure::runtime(format!("starting the worker: {e}")))?
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::runtime(format!("starting the async runtime: {e}")))?;
    let served = rt.block_on(http::serve_http(service.clone(), listener));
    service.shutdown.store(true, Ordering::SeqCst);
    service.notify();
    let _ = worker.join();
    tracing::info!("stopped");
    served.map(|_| Exit::Ok)
}
