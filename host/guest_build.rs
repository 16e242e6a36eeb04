// Shared by `host/build.rs` and `tests/build.rs` (both `include!` it): builds a
// guest crate of the workspace for wasm32-wasip2 into `<workspace>/target/guest`.
//
// The nested `cargo build` uses its own target directory: sharing the outer
// build's directory would deadlock on Cargo's build lock. Variables the outer
// Cargo sets for build scripts (`CARGO_*`, `RUSTFLAGS`, ...) are removed from
// the child's environment, or they would leak host-target settings into the
// wasm build.

/// The guests' target triple.
const TARGET: &str = "wasm32-wasip2";

/// Builds one guest crate of the workspace for wasm32-wasip2 with the `guest`
/// profile and returns the path of the `.wasm` it produced.
pub fn build_guest(root: &Path, package: &str, artifact: &str) -> PathBuf {
    ensure_wasm_target();
    let target_dir = root.join("target").join("guest");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut cmd = Command::new(cargo);
    // Stripped first: a `CARGO_TARGET_DIR` of the outer build must not undo
    // the guest's own target directory set next.
    strip_inherited_env(&mut cmd);
    cmd.current_dir(root)
        .args(["build", "--quiet", "-p", package, "--target", TARGET, "--profile", "guest"])
        .env("CARGO_TARGET_DIR", &target_dir);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {package} for {TARGET}: {e}"));
    if !status.success() {
        panic!(
            "building {package} for {TARGET} failed ({status}); run \
             `cargo build -p {package} --target {TARGET} --profile guest` to see why"
        );
    }
    let wasm = target_dir
        .join(TARGET)
        .join("guest")
        .join(format!("{artifact}.wasm"));
    if !wasm.exists() {
        panic!("{} was not produced by the guest build", wasm.display());
    }
    wasm
}

/// Removes the variables Cargo sets for build scripts (they describe the host
/// build) while keeping `CARGO_HOME` (where the registry cache lives).
fn strip_inherited_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        let inherited = (key.starts_with("CARGO_") && key != "CARGO_HOME")
            || matches!(
                key,
                "RUSTFLAGS" | "RUSTC_WORKSPACE_WRAPPER" | "RUSTC_WRAPPER" | "RUSTDOCFLAGS"
            )
            || key.starts_with("DEP_")
            || matches!(key, "TARGET" | "HOST" | "OPT_LEVEL" | "PROFILE" | "DEBUG" | "NUM_JOBS" | "OUT_DIR");
        if inherited {
            cmd.env_remove(key);
        }
    }
}

/// Makes sure the wasm32-wasip2 standard library is installed; installs it
/// with rustup once if it is not, and fails naming the command otherwise.
fn ensure_wasm_target() {
    if target_installed() {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing; running `rustup target add {TARGET}`");
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !added || !target_installed() {
        panic!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; \
             run `rustup target add {TARGET}` and build again"
        );
    }
}

fn target_installed() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Path::new(&sysroot)
        .join("lib")
        .join("rustlib")
        .join(TARGET)
        .exists()
}
