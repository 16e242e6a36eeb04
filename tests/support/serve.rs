//! Runs `unsubscribe-sync serve` as a process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789";

pub struct Server {
    pub child: Child,
    pub base: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Starts `serve` in `dir` (which holds the config) with `args` before
    /// the command and the emulator's credentials.
    pub fn start(dir: &Path, global_args: &[&str]) -> Server {
        Server::start_with_secret(dir, global_args, WEBHOOK_SECRET)
    }

    /// As [`Server::start`], with this webhook secret.
    pub fn start_with_secret(dir: &Path, global_args: &[&str], secret: &str) -> Server {
        let mut cmd = crate::cli::with_creds(dir);
        cmd.env("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET", secret)
            .args(global_args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("serve starts");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log2.lock().unwrap().push_str(&line);
                log2.lock().unwrap().push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start:\n{}", log.lock().unwrap());
            }
        };
        Server {
            child,
            base,
            stderr: log,
        }
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the exit (at most `within`).
    pub fn terminate(mut self, within: Duration) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if started.elapsed() > within {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`, computed here
/// independently of the host's code.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build(),
    )
}

/// POSTs `body` with the given headers; returns the status and body.
pub fn post(url: &str, body: &str, timestamp: Option<i64>, sig: Option<&str>) -> (u16, String) {
    let mut req = agent().post(url).header("Content-Type", "application/json");
    if let Some(ts) = timestamp {
        req = req.header("X-Timestamp", &ts.to_string());
    }
    if let Some(s) = sig {
        req = req.header("X-Signature", s);
    }
    let mut resp = req.send(body.as_bytes()).expect("the server answers");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, text)
}

/// POSTs a correctly signed body.
pub fn post_signed(url: &str, body: &str) -> (u16, String) {
    let ts = now_secs();
    post(
        url,
        body,
        Some(ts),
        Some(&signature(WEBHOOK_SECRET, ts, body)),
    )
}

pub fn get(url: &str) -> (u16, String) {
    let mut resp = agent().get(url).call().expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

/// Waits until `f` holds (at most `within`).
pub fn eventually(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// The value of one metric line (`name{labels}`) in a Prometheus text page.
pub fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l[name.len()..].trim().parse().ok())
}
