//! The on-disk cache of the precompiled component.
//!
//! Compiling the component with Cranelift takes far longer than running it,
//! so the compiled artifact is kept in `cache_dir` under a name made of the
//! engine's compatibility hash (`Engine::precompile_compatibility_hash`:
//! Wasmtime version, target and every setting that affects code) and the
//! SHA-256 of the `.wasm`. A different engine, a different component or a
//! changed setting simply misses the cache. Files are written atomically
//! (temporary file, then rename), so a crash leaves no half-written artifact.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::error::HostError;

/// What the cache did for this runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CacheUse {
    /// No cache directory: the component was compiled in memory.
    Disabled,
    /// A precompiled artifact was found and loaded.
    Hit,
    /// The component was compiled and the artifact stored for next time.
    Stored,
    /// The component was compiled; storing the artifact failed (see the log).
    StoreFailed,
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash gives
/// the same key in every process (std's `DefaultHasher` promises no such
/// stability across releases).
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        unreachable!("only the SHA-256 digest is used")
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

/// The cache file name for this engine and component.
pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut h = ShaHasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    let engine_hash = hex::encode(h.0.finalize());
    let wasm_hash = hex::encode(Sha256::digest(wasm));
    format!("{}-{}.cwasm", &engine_hash[..24], &wasm_hash[..32])
}

/// Loads the component: from the cache when its artifact is there, else by
/// compiling it (and storing the artifact when a cache directory is given).
pub fn load(
    engine: &Engine,
    wasm: &[u8],
    cache_dir: Option<&Path>,
) -> Result<(Component, CacheUse), HostError> {
    let Some(dir) = cache_dir else {
        return Ok((compile(engine, wasm)?, CacheUse::Disabled));
    };
    let path = dir.join(cache_key(engine, wasm));
    if path.exists() {
        match deserialize(engine, &path) {
            Ok(c) => return Ok((c, CacheUse::Hit)),
            Err(e) => {
                // A damaged or truncated artifact: compile again and replace it.
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unusable precompiled component");
            }
        }
    }
    let bytes = engine
        .precompile_component(wasm)
        .map_err(|e| HostError::Load(format!("compiling the component: {e}")))?;
    match store(dir, &path, &bytes) {
        Ok(()) => match deserialize(engine, &path) {
            Ok(c) => Ok((c, CacheUse::Stored)),
            Err(_) => Ok((compile(engine, wasm)?, CacheUse::StoreFailed)),
        },
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot store the precompiled component");
            Ok((compile(engine, wasm)?, CacheUse::StoreFailed))
        }
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, HostError> {
    Component::new(engine, wasm)
        .map_err(|e| HostError::Load(format!("compiling the component: {e}")))
}

fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    restrict_dir(dir);
    let tmp: PathBuf = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("component"),
        std::process::id()
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// The cache holds machine code this process will run: keep the directory
/// private to its owner.
#[cfg(unix)]
fn restrict_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}

#[cfg(not(unix))]
fn restrict_dir(_dir: &Path) {}

/// Loads a precompiled artifact.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be an artifact produced
    // by `Engine::precompile_component` for a compatible engine, because it
    // maps the machine code as executable. That holds here: the file lives in
    // our private (0700) cache directory, was written by this code (atomically,
    // via rename) from `precompile_component`, and its name carries the
    // engine's compatibility hash and the SHA-256 of the very `.wasm` being
    // loaded. Wasmtime additionally checks the artifact's header (version,
    // target, settings) and refuses a mismatch, which lands in the recompile
    // path above.
    unsafe { Component::deserialize_file(engine, path) }
}
