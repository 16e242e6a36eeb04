//! `init`: writes the commented example config.

use std::path::PathBuf;

use super::Cli;
use crate::app::config::{Config, EXAMPLE};
use crate::app::{CmdResult, Exit, Failure};

/// Arguments of `init`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The file lists every key with its default and says where credentials go \
(never in the config file). Relative paths in it are relative to its directory."
)]
pub struct InitArgs {
    /// Where to write it [default: --config, $UNSUBSCRIBE_SYNC_CONFIG or ./unsubscribe-sync.toml].
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Runs `init`.
pub fn run(cli: &Cli, args: &InitArgs) -> CmdResult {
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| Config::locate(cli.config.as_deref()));
    if path.exists() && !args.force {
        return Err(Failure::usage(format!(
            "{} exists; pass --force to replace it",
            path.display()
        )));
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::runtime(format!("creating {}: {e}", dir.display())))?;
    }
    std::fs::write(&path, EXAMPLE)
        .map_err(|e| Failure::runtime(format!("writing {}: {e}", path.display())))?;
    println!("wrote {}", path.display());
    println!(
        "next: set UNSUBSCRIBE_SYNC_CLIENT_ID, UNSUBSCRIBE_SYNC_CLIENT_SECRET and UNSUBSCRIBE_SYNC_REFRESH_TOKEN,"
    );
    println!("      then run `unsubscribe-sync check`");
    Ok(Exit::Ok)
}
