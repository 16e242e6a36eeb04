//! `serve`'s accept loop over real sockets, run in-process with short
//! bounds (the `Limits` struct) so nothing here sleeps long: a client that
//! never finishes its headers is cut off while /healthz still answers, one
//! that stalls mid-body is dropped, the connection cap refuses the excess at
//! once and frees up when the others leave, a huge declared Content-Length
//! is answered 413 without the body, and a half-closed client gets its 202.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use unsubscribe_sync::serve::listener::{self, Limits};

/// How long any step may take before the test fails (never waited out when
/// the server behaves).
const DEADLINE: Duration = Duration::from_secs(5);

struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(limits: Limits) -> Running {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(socket.local_addr().unwrap()).unwrap();
            let router = Router::new()
                .route("/healthz", get(|| async { "ok" }))
                .route(
                    "/v1/unsubscribes",
                    post(|body: axum::body::Bytes| async move {
                        (StatusCode::ACCEPTED, format!("{} bytes", body.len()))
                    }),
                )
                // An answer that is not ready at once, like serve's (it waits
                // for a SQLite write): the server reads the client's EOF meanwhile.
                .route(
                    "/v1/deferred",
                    post(|body: axum::body::Bytes| async move {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        (StatusCode::ACCEPTED, format!("{} bytes", body.len()))
                    }),
                );
            listener::serve(socket, router, limits, |_| {}, async {
                let _ = stopped.await;
            })
            .await;
        });
    });
    Running {
        addr: addr_rx.recv_timeout(DEADLINE).expect("the listener starts"),
        stop: Some(stop),
        thread: Some(thread),
    }
}

fn limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_secs(30),
        idle_timeout: Duration::from_secs(30),
        max_connections: 64,
        max_body_bytes: 1024,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connects");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s
}

/// Reads until the response head is complete, the server closes, or the
/// deadline (then the error is `WouldBlock`/`TimedOut`).
fn read_head(s: &mut TcpStream) -> std::io::Result<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The connection was closed by the server (EOF or reset), not left open.
fn assert_closed(s: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if timed_out(&e) => panic!("{what}: still open after {DEADLINE:?}"),
            Err(_) => return,
        }
    }
}

fn healthz(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = connect(addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")?;
    read_head(&mut s)
}

#[test]
fn a_client_that_never_finishes_its_headers_is_cut_off_while_others_are_served() {
    let server = start(Limits {
        header_read_timeout: Duration::from_millis(300),
        ..limits()
    });
    let mut slow = connect(server.addr);
    slow.write_all(b"POST /v1/unsubscribes HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let head = healthz(server.addr).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let started = Instant::now();
    assert_closed(&mut slow, "a connection with unfinished headers");
    assert!(started.elapsed() < DEADLINE);
}

#[test]
fn a_connection_that_stalls_mid_body_is_dropped_after_the_idle_timeout() {
    let server = start(Limits {
        idle_timeout: Duration::from_millis(300),
        ..limits()
    });
    let mut stalled = connect(server.addr);
    stalled
        .write_all(b"POST /v1/unsubscribes HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{\"")
        .unwrap();
    assert_closed(&mut stalled, "a stalled connection");
    let head = healthz(server.addr).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[test]
fn over_the_connection_cap_the_next_is_refused_at_once_and_served_after() {
    let server = start(Limits {
        max_connections: 2,
        ..limits()
    });
    // Two connections hold both slots (each proven accepted by an answer on it).
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = connect(server.addr);
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let head = read_head(&mut s).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        held.push(s);
    }
    let started = Instant::now();
    match healthz(server.addr) {
        Ok(head) => assert!(
            head.is_empty() || head.starts_with("HTTP/1.1 503"),
            "{head}"
        ),
        Err(e) => assert!(
            !timed_out(&e),
            "the excess connection was left waiting: {e}"
        ),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    let deadline = Instant::now() + DEADLINE;
    loop {
        if healthz(server.addr).is_ok_and(|h| h.starts_with("HTTP/1.1 200")) {
            break;
        }
        assert!(Instant::now() < deadline, "the slots were not freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_huge_declared_body_is_refused_413_before_it_is_sent() {
    let server = start(limits());
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /v1/unsubscribes HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
Content-Length: 100000000000\r\n\r\n",
    )
    .unwrap();
    let head = read_head(&mut s).expect("an answer without the body");
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

#[test]
fn a_client_that_half_closes_after_its_request_gets_the_answer() {
    let server = start(limits());
    let mut s = connect(server.addr);
    let body = br#"{"person_id":"p-1"}"#;
    s.write_all(
        format!(
            "POST /v1/deferred HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .unwrap();
    s.write_all(body).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let head = read_head(&mut s).unwrap();
    assert!(head.starts_with("HTTP/1.1 202"), "{head}");
}
