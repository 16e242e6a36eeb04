//! The `unsubscribe-sync` CLI, built inside the test package so the tests
//! can run it as a process (identical to `host/src/main.rs`).

fn main() -> std::process::ExitCode {
    unsubscribe_sync::cli::main()
}
