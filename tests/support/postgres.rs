//! A PostgreSQL server for the shared-store tests, and a fresh database per
//! test.
//!
//! With `UNSUBSCRIBE_SYNC_TEST_DATABASE_URL` set, that server is used (its
//! user must be allowed to create databases). Otherwise a throwaway cluster
//! is started once per test process: `initdb` into a new temporary
//! directory, `pg_ctl start` on a free loopback port, fsync off. The server
//! runs as the `postgres` user when we are root (PostgreSQL refuses to run
//! as root), as ourselves otherwise. A watcher process stops the cluster
//! (`pg_ctl stop -m immediate`) and removes its directory once this process
//! has exited, however it exits (a panic, SIGKILL included).
//!
//! When no server can be had the tests fail, saying what is missing: a test
//! that skips itself silently could never fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use unsubscribe_sync::backends::postgres::PgDatabase;

/// The variable naming an existing server to test against.
pub const URL_VAR: &str = "UNSUBSCRIBE_SYNC_TEST_DATABASE_URL";

/// The server every test of this process uses.
struct Server {
    /// A URL of the server; its database part is replaced per test.
    url: String,
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDb {
    /// The database's URL.
    pub url: String,
    name: String,
}

impl TestDb {
    /// A new, empty database on the test server.
    pub fn new() -> TestDb {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let server = server();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        admin(&server.url)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database on the test server: {e}"));
        TestDb {
            url: with_database(&server.url, &name),
            name,
        }
    }

    /// The database opened as the host opens it (schema created), with a
    /// pool of `max` connections.
    pub fn open(&self, max: usize) -> Arc<PgDatabase> {
        Arc::new(PgDatabase::open(&self.url, max).expect("the test database opens"))
    }

    /// A plain connection, for looking at or tampering with tables.
    pub fn client(&self) -> ::postgres::Client {
        ::postgres::Client::connect(&self.url, ::postgres::NoTls)
            .expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Best effort: a throwaway cluster is removed whole anyway.
        let _ = admin(&server().url).batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

fn admin(url: &str) -> ::postgres::Client {
    ::postgres::Client::connect(url, ::postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL server: {e}"))
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let scheme_end = url.find("://").map_or(0, |i| i + 3);
    let (head, rest) = url.split_at(scheme_end);
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    format!("{head}{authority}/{name}{query}")
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Server { url },
        _ => start_cluster(),
    })
}

/// The directory of PostgreSQL's server programs (`initdb`, `pg_ctl`).
fn bindir() -> PathBuf {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut candidates: Vec<PathBuf> = from_pg_config.into_iter().collect();
    // Debian keeps the server programs out of PATH, one directory a version.
    if let Ok(dirs) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = dirs.flatten().map(|d| d.path().join("bin")).collect();
        found.sort();
        candidates.extend(found.into_iter().rev());
    }
    candidates
        .into_iter()
        .find(|d| d.join("initdb").exists() && d.join("pg_ctl").exists())
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests need a server: PostgreSQL's initdb and pg_ctl were not \
                 found (not in `pg_config --bindir`, nor /usr/lib/postgresql/*/bin). Install \
                 PostgreSQL (Debian: apt-get install postgresql), or set {URL_VAR} to a server \
                 whose user may create databases"
            )
        })
}

/// Runs a server program as the user the cluster belongs to.
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str, log: Option<&Path>) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("the PostgreSQL tests cannot run {what}: {e}"));
    if !out.status.success() {
        let server_log = log
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default();
        panic!(
            "the PostgreSQL tests could not start a server: {what} failed ({})\n{}{}\n{server_log}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The numeric id of a user, by `id`.
fn user_id(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().ok();
    out.filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "the PostgreSQL tests run as root, so the server must run as the `postgres` user, \
                 and there is none: install PostgreSQL (it creates that user), or set {URL_VAR}"
            )
        })
}

fn start_cluster() -> Server {
    let started = Instant::now();
    let bin = bindir();
    // PostgreSQL refuses to run as root.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    // Under /tmp when root: a TMPDIR below /root is closed to `postgres`.
    let parent = if root {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("unsubscribe-sync-pg-")
        .tempdir_in(parent)
        .expect("a temporary directory for the test cluster")
        .keep();
    if root {
        std::os::unix::fs::chown(
            &dir,
            Some(user_id("-u", "postgres")),
            Some(user_id("-g", "postgres")),
        )
        .expect("give the cluster's directory to the postgres user");
    }
    let data = dir.join("data");
    let log = dir.join("server.log");
    let mut initdb = as_owner(root, &bin.join("initdb"));
    initdb.arg("-D").arg(&data).args([
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
    ]);
    run(initdb, "initdb", None);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port();
    let mut start = as_owner(root, &bin.join("pg_ctl"));
    start
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .arg("-o")
        .arg(format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            dir.display()
        ));
    start.args(["-w", "-t", "60", "start"]);
    run(start, "pg_ctl start", Some(&log));
    spawn_reaper(root, &bin, &dir, &data);
    eprintln!(
        "postgres: a test cluster on 127.0.0.1:{port} started in {} ms ({})",
        started.elapsed().as_millis(),
        dir.display()
    );
    Server {
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    }
}

/// A shell that waits for this process to end, then stops the cluster and
/// removes its directory: cleanup that no way of exiting skips.
fn spawn_reaper(root: bool, bin: &Path, dir: &Path, data: &Path) {
    let pg_ctl = bin.join("pg_ctl");
    let stop = if root {
        format!("runuser -u postgres -- '{}'", pg_ctl.display())
    } else {
        format!("'{}'", pg_ctl.display())
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.2; done; \
         {stop} -D '{data}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        data = data.display(),
        dir = dir.display(),
    );
    // Never waited for: it must outlive this process to clean up after it
    // (then init reaps it).
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the test cluster's cleanup watcher");
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_gets_another_database() {
        assert_eq!(
            super::with_database("postgres://u:p@h:1/db?sslmode=disable", "t_1"),
            "postgres://u:p@h:1/t_1?sslmode=disable"
        );
        assert_eq!(
            super::with_database("postgres://h", "t_1"),
            "postgres://h/t_1"
        );
    }
}
