//! Runs the `unsubscribe-sync` CLI as a process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The CLI binary built in this package (same `main` as the host's).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_unsubscribe-sync-e2e"))
}

/// A command with a clean environment: no inherited credentials, logs at info.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .env_remove("UNSUBSCRIBE_SYNC_CONFIG")
        .env_remove("UNSUBSCRIBE_SYNC_CLIENT_ID")
        .env_remove("UNSUBSCRIBE_SYNC_CLIENT_SECRET")
        .env_remove("UNSUBSCRIBE_SYNC_REFRESH_TOKEN")
        .env_remove("UNSUBSCRIBE_SYNC_WEBHOOK_SECRET")
        .env_remove("UNSUBSCRIBE_SYNC_CREDENTIALS_FILE")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("UNSUBSCRIBE_SYNC_CACHE_DIR", super::cache_dir())
        .stdin(Stdio::null());
    cmd
}

/// Runs the CLI with `args` in `dir` and returns its output.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("the CLI runs")
}

/// stdout and stderr as text, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
