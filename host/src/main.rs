//! `unsubscribe-sync`: the bundled host of the unsubscribe-sync component.
//! Everything lives in the library (`unsubscribe_sync::cli`); see `--help`.

fn main() -> std::process::ExitCode {
    unsubscribe_sync::cli::main()
}
