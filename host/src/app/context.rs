//! The context every command runs in: the config, the runtime, the
//! capabilities (the org connection, the SQLite store) and the credentials.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::Config;
use super::failure::Failure;
use crate::api;
use crate::backends::ledger_guard::WriterLock;
use crate::backends::org::{OrgClient, OrgConfig};
use crate::backends::sqlite::SqliteStorage;
use crate::ports::http::{HttpError, HttpRequest, HttpResponse, HttpTransport};
use crate::runtime::{Capabilities, Runtime, RuntimeOptions};
use crate::secrets::{self, Credentials, Secret};

/// How long a command waits for another short-lived writer of the ledger.
const WRITER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Environment variable overriding the precompile cache directory.
pub const ENV_CACHE_DIR: &str = "UNSUBSCRIBE_SYNC_CACHE_DIR";

/// Stands in for the org when credentials are missing: every request fails
/// with `auth-failed` naming what to set. Commands that need no org (status,
/// audit, import, resubscribe) work without credentials.
struct NoCredentials(String);

impl HttpTransport for NoCredentials {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, HttpError> {
        Err(HttpError::AuthFailed(self.0.clone()))
    }
}

/// A command's context.
pub struct App {
    /// The configuration.
    pub config: Config,
    /// The component, compiled once.
    pub runtime: Arc<Runtime>,
    /// The capabilities every call gets.
    pub caps: Capabilities,
    /// The org connection, when credentials are present.
    pub org: Option<Arc<OrgClient>>,
    /// Why there is no org connection, when there is none.
    pub org_missing: Option<String>,
    /// The credentials (secrets redacted in any output).
    pub credentials: Credentials,
    /// The SQLite store.
    pub storage: Arc<SqliteStorage>,
    /// The exclusive right to write the ledger, for commands that write.
    pub writer: Option<WriterLock>,
}

impl App {
    /// Loads the config file (`config`, else the default places), the
    /// credentials, the storage and the component (`component`, else the
    /// configured or embedded one).
    pub fn load(config: Option<&Path>, component: Option<&Path>) -> Result<App, Failure> {
        let file = Config::locate(config);
        let config = Config::load(&file)?;
        let credentials = load_credentials(&config)?;
        App::build(config, credentials, component)
    }

    /// Builds the context from a config and credentials (used by `demo`).
    pub fn build(
        config: Config,
        credentials: Credentials,
        component: Option<&Path>,
    ) -> Result<App, Failure> {
        App::build_with(config, credentials, component, SqliteStorage::open)
    }

    /// Builds a context that creates and writes nothing on disk (`check`):
    /// an existing ledger is opened read-only; a missing or empty one is
    /// stood in for by an empty ledger in memory.
    pub fn build_read_only(
        config: Config,
        credentials: Credentials,
        component: Option<&Path>,
    ) -> Result<App, Failure> {
        App::build_with(config, credentials, component, |path| {
            if std::fs::metadata(path).is_ok_and(|m| m.len() > 0) {
                SqliteStorage::open_read_only(path)
            } else {
                SqliteStorage::open_in_memory()
            }
        })
    }

    /// The context, with the ledger opened by `open_storage`. The settings
    /// are checked by the component before anything is opened: a refused
    /// setting leaves no trace.
    fn build_with(
        config: Config,
        credentials: Credentials,
        component: Option<&Path>,
        open_storage: impl FnOnce(&Path) -> Result<SqliteStorage, crate::ports::storage::StorageError>,
    ) -> Result<App, Failure> {
        let runtime = Arc::new(load_runtime(&config, component)?);
        config.check_settings(&runtime)?;
        let path = &config.storage_path;
        let storage = open_storage(path)
            .map_err(|e| Failure::usage(format!("storage.path {}: {e}", path.display())))?;
        App::assemble(config, credentials, runtime, Arc::new(storage))
    }

    /// The context from its loaded parts: the org connection (or the reason
    /// there is none) and the capabilities every call gets.
    fn assemble(
        config: Config,
        credentials: Credentials,
        runtime: Arc<Runtime>,
        storage: Arc<SqliteStorage>,
    ) -> Result<App, Failure> {
        let trusted_ca_pem = trusted_ca_pem(&config)?;
        let (org, org_missing) = match org_config(&config, &credentials, trusted_ca_pem) {
            Ok(c) => (
                Some(Arc::new(OrgClient::new(c).map_err(Failure::usage)?)),
                None,
            ),
            Err(missing) => (None, Some(missing)),
        };
        let http: Arc<dyn HttpTransport> = match (&org, &org_missing) {
            (Some(o), _) => o.clone(),
            (None, Some(m)) => Arc::new(NoCredentials(m.clone())),
            (None, None) => unreachable!("either a client or the reason there is none"),
        };
        let caps = Capabilities::new(http, storage.clone());
        Ok(App {
            config,
            runtime,
            caps,
            org,
            org_missing,
            credentials,
            storage,
            writer: None,
        })
    }

    /// Takes the ledger's writer lock for `holder` (`push`, `serve`...):
    /// a command that writes never interleaves with another writer. A
    /// short-lived writer is waited for a few seconds; `serve` is not (it
    /// holds the lock while it runs), and the failure names it.
    pub fn lock_for_writing(&mut self, holder: &str) -> Result<(), Failure> {
        let lock = WriterLock::acquire(&self.config.storage_path, holder, WRITER_WAIT)
            .map_err(|e| Failure::runtime(e.to_string()))?;
        self.writer = Some(lock);
        Ok(())
    }

    /// The settings the component gets.
    pub fn settings(&self) -> &api::Settings {
        &self.config.settings
    }
}

/// Loads credentials from the environment and `org.credentials_file` (or
/// `UNSUBSCRIBE_SYNC_CREDENTIALS_FILE`).
pub fn load_credentials(config: &Config) -> Result<Credentials, Failure> {
    let file = std::env::var_os(secrets::ENV_CREDENTIALS_FILE)
        .map(PathBuf::from)
        .or_else(|| config.org.credentials_file.clone());
    Credentials::load(file.as_deref())
        .map_err(|e| Failure::usage(format!("org.credentials_file: {e}")))
}

/// Reads `org.ca_file`, when set. Unreadable is a configuration error, not
/// a missing connection: the org must not be reached with other roots.
pub fn trusted_ca_pem(config: &Config) -> Result<Option<Vec<u8>>, Failure> {
    let Some(path) = &config.org.ca_file else {
        return Ok(None);
    };
    std::fs::read(path)
        .map(Some)
        .map_err(|e| Failure::usage(format!("org.ca_file {}: {e}", path.display())))
}

/// The connection settings, or what is missing (never a value).
pub fn org_config(
    config: &Config,
    c: &Credentials,
    trusted_ca_pem: Option<Vec<u8>>,
) -> Result<OrgConfig, String> {
    let mut missing = Vec::new();
    if c.client_id.as_deref().is_none_or(str::is_empty) {
        missing.push(secrets::ENV_CLIENT_ID);
    }
    if c.client_secret.as_ref().is_none_or(|s| s.is_empty()) {
        missing.push(secrets::ENV_CLIENT_SECRET);
    }
    if c.refresh_token.as_ref().is_none_or(|s| s.is_empty()) {
        missing.push(secrets::ENV_REFRESH_TOKEN);
    }
    if !missing.is_empty() {
        return Err(format!(
            "no credentials for the org: set {} (or put them in org.credentials_file, chmod 600)",
            missing.join(", ")
        ));
    }
    Ok(OrgConfig {
        trusted_ca_pem,
        login_url: config.org.login_url.clone(),
        instance_url: config.org.instance_url.clone(),
        api_version: config.settings.api_version.clone(),
        client_id: c.client_id.clone().unwrap_or_default(),
        client_secret: c.client_secret.clone().unwrap_or_else(|| Secret::new("")),
        refresh_token: c.refresh_token.clone().unwrap_or_else(|| Secret::new("")),
        timeout: config.org.timeout,
        max_response_bytes: config.org.max_response_bytes,
    })
}

/// Where the precompiled component is cached: `UNSUBSCRIBE_SYNC_CACHE_DIR`,
/// else `runtime.cache_dir`, else `$XDG_CACHE_HOME/unsubscribe-sync`, else
/// `~/.cache/unsubscribe-sync`; none if none of those exists.
pub fn cache_dir(config_dir: Option<&Path>) -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(ENV_CACHE_DIR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    if let Some(d) = config_dir {
        return Some(d.to_path_buf());
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("unsubscribe-sync"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("unsubscribe-sync"))
}

/// Compiles (or loads from the cache) the component the config names.
pub fn load_runtime(config: &Config, component: Option<&Path>) -> Result<Runtime, Failure> {
    let options = RuntimeOptions {
        call_timeout: config.runtime.call_timeout,
        memory_limit_bytes: config.runtime.memory_limit_bytes,
        cache_dir: cache_dir(config.runtime.cache_dir.as_deref()),
        pooling: config.runtime.pooling,
    };
    let path = component
        .map(Path::to_path_buf)
        .or_else(|| config.runtime.component.clone());
    let runtime = match &path {
        Some(p) => {
            let key = if component.is_some() {
                "--component"
            } else {
                "runtime.component"
            };
            let wasm = std::fs::read(p)
                .map_err(|e| Failure::usage(format!("{key} {}: {e}", p.display())))?;
            Runtime::new(&wasm, options)
                .map_err(|e| Failure::usage(format!("{key} {}: {e}", p.display())))?
        }
        None => Runtime::new(crate::PLUGIN_WASM, options)?,
    };
    Ok(runtime)
}
