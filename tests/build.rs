//! Builds the hostile test guest (`tests/hostile-guest`) for wasm32-wasip2
//! into `<workspace>/target/guest` and tells the tests where it is
//! (`HOSTILE_GUEST_WASM`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the workspace root")
        .to_path_buf();
    for watched in [
        "tests/hostile-guest/src",
        "tests/hostile-guest/Cargo.toml",
        "wit",
        "host/guest_build.rs",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    let wasm = build_guest(&root, "hostile-guest", "hostile_guest");
    println!("cargo:rustc-env=HOSTILE_GUEST_WASM={}", wasm.display());
}

include!("../host/guest_build.rs");
