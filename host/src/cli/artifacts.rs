//! The artifacts a platform or a packager takes from the binary: the exact
//! component it runs with its WIT package (`component export`), shell
//! completions and a man page, all generated from what the binary holds, so
//! they cannot drift from it.

use std::path::{Path, PathBuf};

use clap::CommandFactory;
use sha2::{Digest, Sha256};

use super::Cli;
use crate::app::{CmdResult, Exit, Failure};

/// The WIT package the embedded component was built against, file by file
/// (the current version only; `wit/history/` keeps the earlier ones).
const WIT_FILES: [(&str, &str); 6] = [
    ("world.wit", include_str!("../../../wit/world.wit")),
    ("sync.wit", include_str!("../../../wit/sync.wit")),
    ("http.wit", include_str!("../../../wit/http.wit")),
    ("storage.wit", include_str!("../../../wit/storage.wit")),
    ("clock.wit", include_str!("../../../wit/clock.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
];

/// The file name the component is exported under.
pub const COMPONENT_FILE: &str = "unsubscribe-sync.wasm";

/// Arguments of `component`.
#[derive(clap::Args, Debug)]
pub struct ComponentArgs {
    /// What to do with the component.
    #[command(subcommand)]
    pub action: ComponentAction,
}

/// What `component` does.
#[derive(clap::Subcommand, Debug)]
pub enum ComponentAction {
    /// Write the embedded component (`unsubscribe-sync.wasm`) and its WIT
    /// package (`wit/`) into DIR, and print the component's SHA-256.
    Export {
        /// The directory (created if missing; existing files are replaced).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Arguments of `completions`.
#[derive(clap::Args, Debug)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Runs `component`.
pub fn component(args: &ComponentArgs) -> CmdResult {
    match &args.action {
        ComponentAction::Export { dir } => {
            let digest = export(dir).map_err(Failure::runtime)?;
            println!(
                "wrote {} ({} bytes, sha256 {digest}) and {} WIT files in {}",
                dir.join(COMPONENT_FILE).display(),
                crate::PLUGIN_WASM.len(),
                WIT_FILES.len(),
                dir.join("wit").display()
            );
            Ok(Exit::Ok)
        }
    }
}

/// Writes the component and its WIT package into `dir`; returns the
/// component's SHA-256 in hex.
pub fn export(dir: &Path) -> Result<String, String> {
    let wit = dir.join("wit");
    std::fs::create_dir_all(&wit).map_err(|e| format!("{}: {e}", wit.display()))?;
    let wasm = dir.join(COMPONENT_FILE);
    std::fs::write(&wasm, crate::PLUGIN_WASM).map_err(|e| format!("{}: {e}", wasm.display()))?;
    for (name, text) in WIT_FILES {
        let path = wit.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(hex::encode(Sha256::digest(crate::PLUGIN_WASM)))
}

/// Runs `completions`: the script for the shell on stdout.
pub fn completions(args: &CompletionsArgs) -> CmdResult {
    let mut cmd = Cli::command();
    clap_complete::generate(
        args.shell,
        &mut cmd,
        "unsubscribe-sync",
        &mut std::io::stdout(),
    );
    Ok(Exit::Ok)
}

/// Runs `man`: the man page (roff) on stdout.
pub fn man() -> CmdResult {
    let page = clap_mangen::Man::new(Cli::command());
    page.render(&mut std::io::stdout())
        .map_err(|e| Failure::runtime(format!("writing the man page: {e}")))?;
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_is_the_embedded_component_and_the_whole_current_wit() {
        let dir = tempfile::tempdir().unwrap();
        let digest = export(dir.path()).unwrap();
        let written = std::fs::read(dir.path().join(COMPONENT_FILE)).unwrap();
        assert_eq!(written, crate::PLUGIN_WASM);
        assert_eq!(digest, hex::encode(Sha256::digest(&written)));
        // Every file of the package directory is exported (a new .wit file
        // must be added to WIT_FILES).
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
        for entry in std::fs::read_dir(src).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "wit") {
                let name = path.file_name().unwrap();
                let exported = std::fs::read(dir.path().join("wit").join(name)).unwrap();
                assert_eq!(exported, std::fs::read(&path).unwrap(), "{name:?}");
            }
        }
    }

    #[test]
    fn completions_and_the_man_page_come_from_the_cli_definition() {
        let mut out = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut Cli::command(),
            "unsubscribe-sync",
            &mut out,
        );
        let bash = String::from_utf8(out).unwrap();
        assert!(
            bash.contains("nightly") && bash.contains("--json"),
            "{bash}"
        );
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut page)
            .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains(".TH") && page.contains("unsubscribe-sync"),
            "{page}"
        );
    }
}
