//! Builds the unsubscribe-sync component (`plugin/`) for `wasm32-wasip2` and
//! hands its path to the crate, which embeds it with `include_bytes!`.
//!
//! The nested `cargo build` uses its own target directory
//! (`<workspace>/target/guest`): sharing the outer build's directory would
//! deadlock on Cargo's build lock. Variables the outer Cargo sets for this
//! build script (`CARGO_*`, `RUSTFLAGS`, ...) are removed from the child's
//! environment, or they would leak host-target settings into the wasm build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    for watched in ["plugin/src", "plugin/Cargo.toml", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=guest_build.rs");

    let wasm = build_guest(&root, "unsubscribe-sync-plugin", "unsubscribe_sync_plugin");
    println!(
        "cargo:rustc-env=UNSUBSCRIBE_SYNC_PLUGIN_WASM={}",
        wasm.display()
    );
}

include!("guest_build.rs");
