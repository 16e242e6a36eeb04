//! The accept loop of `serve`: HTTP/1.1 connections served by hyper with
//! bounds a slow or hostile client cannot get around (`axum::serve` exposes
//! none of them):
//!
//! - a header-read timeout ([`Limits::header_read_timeout`]): hyper starts it
//!   whenever it waits for a request's head, so it also bounds the gap
//!   between requests on a kept-alive connection;
//! - an idle timeout ([`Limits::idle_timeout`]): a connection that moves no
//!   byte either way for that long is dropped, even mid-body;
//! - a cap on open connections ([`Limits::max_connections`]): the excess is
//!   answered 503 and closed at once, without the accept loop ever waiting;
//! - a declared `Content-Length` over the body cap is answered 413 before
//!   the body is read;
//! - half-closed clients (write side shut after a complete request) still
//!   get their answer.
//!
//! On shutdown the loop stops accepting, idle connections are closed, and
//! requests in flight finish (bounded by the idle timeout).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

// The defaults (`server.header_read_timeout_secs`, `server.idle_timeout_secs`,
// `server.max_connections`), and why, are in `crate::limits`.
use crate::limits::{
    DEFAULT_HEADER_READ_TIMEOUT as HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT as IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS as MAX_CONNECTIONS,
};

/// The answer to a connection over the cap, written in one call.
const OVER_CAPACITY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\nretry-after: 1\r\ncontent-length: 110\r\n\r\n\
{\"error\":{\"kind\":\"over-capacity\",\"message\":\"too many connections are open\",\"what-to-do\":\"retry in a second\"}}\n";

/// The bounds of the accept loop (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a client may take to send a request's head.
    pub header_read_timeout: Duration,
    /// How long a connection may move no byte before it is dropped.
    pub idle_timeout: Duration,
    /// Open connections at most; the next is answered 503 and closed.
    pub max_connections: usize,
    /// The body cap (`server.max_body_bytes`): a larger declared
    /// `Content-Length` is answered 413 before the body is read.
    pub max_body_bytes: usize,
}

impl Limits {
    /// The production bounds with this body cap.
    pub fn new(max_body_bytes: usize) -> Limits {
        Limits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
            max_body_bytes,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then lets the requests in flight finish. `refused` is told of each
/// request or connection the loop itself turns away (`too_large`,
/// `over_capacity`), for the metrics.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    refused: impl Fn(&'static str) + Send + Sync + 'static,
    shutdown: impl Future<Output = ()>,
) {
    let cap = limits.max_body_bytes;
    let refused = Arc::new(refused);
    let told = refused.clone();
    let router = router.layer(axum::middleware::from_fn(move |req, next| {
        let told = told.clone();
        async move { refuse_declared_oversize(cap, req, next, &*told).await }
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .half_close(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: the loop must
                    // survive it; pausing lets connections close meanwhile.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Never waits: a full send buffer just loses the courtesy answer.
            let _ = stream.try_write(OVER_CAPACITY);
            refused("over_capacity");
            tracing::warn!(
                limit = limits.max_connections,
                "connection refused: at the cap"
            );
            continue;
        };
        let last_io = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let io = Tracked {
            inner: stream,
            started,
            last_io: last_io.clone(),
        };
        let service = TowerToHyperService::new(router.clone());
        let conn = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        let idle = limits.idle_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            tokio::pin!(conn);
            loop {
                let since = Duration::from_millis(last_io.load(Ordering::Relaxed));
                let deadline = started + since + idle;
                tokio::select! {
                    _ = &mut conn => break,
                    _ = tokio::time::sleep_until(deadline.into()) => {
                        let since = Duration::from_millis(last_io.load(Ordering::Relaxed));
                        if started + since + idle <= Instant::now() {
                            tracing::debug!("connection idle; dropped");
                            break;
                        }
                    }
                }
            }
        });
    }
    drop(listener);
    // Requests in flight finish; each is bounded by the idle timeout.
    if tokio::time::timeout(limits.idle_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open at shutdown; closing them");
    }
}

/// Answers 413 to a declared `Content-Length` over the cap, before the body
/// is read (a sender waiting for `100 Continue`, or slow, need not send it).
async fn refuse_declared_oversize(
    cap: usize,
    req: Request,
    next: Next,
    refused: &(dyn Fn(&'static str) + Send + Sync),
) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > cap as u64) {
        refused("too_large");
        tracing::warn!(reason = "too_large", "webhook refused");
        let message = format!(
            "the body is larger than server.max_body_bytes ({cap} bytes); send one event per request or raise the limit"
        );
        let body = crate::app::json::error_json(
            "too-large",
            &message,
            "send one event per request, or raise server.max_body_bytes",
        );
        return (StatusCode::PAYLOAD_TOO_LARGE, axum::Json(body)).into_response();
    }
    next.run(req).await
}

/// A TCP stream that notes when it last moved a byte (for the idle timeout).
struct Tracked {
    inner: TcpStream,
    started: Instant,
    /// Milliseconds after `started` of the last read or write.
    last_io: Arc<AtomicU64>,
}

impl Tracked {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_io.store(ms, Ordering::Relaxed);
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.touch();
        }
        r
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::OVER_CAPACITY;

    #[test]
    fn the_over_capacity_answer_declares_its_own_length_and_the_error_shape() {
        let text = std::str::from_utf8(OVER_CAPACITY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let declared: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(declared, body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["kind"], "over-capacity");
        assert!(v["error"]["what-to-do"].is_string());
    }
}
