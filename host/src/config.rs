//! The configuration file: one TOML file for the org, the settings, the
//! storage path, the schedule, the limits and the server.
//!
//! Its path comes from `--config` or `UNSUBSCRIBE_SYNC_CONFIG` (default
//! `unsubscribe-sync.toml`); relative paths inside it are relative to the
//! file's directory. Credentials are never read from it: they come from
//! environment variables or a credentials file readable only by its owner
//! (see [`crate::secrets`]). Every error names the key and what is wrong.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::{api, limits, policy};

/// Environment variable naming the config file.
pub const ENV_CONFIG: &str = "UNSUBSCRIBE_SYNC_CONFIG";
/// Default config file name.
pub const DEFAULT_CONFIG_FILE: &str = "unsubscribe-sync.toml";

/// The settings the WIT contract documents as defaults: sync enabled, Email
/// Opt Out on, no sales opt-out field, API 62.0, nightly at 20:00
/// America/Los_Angeles, bulk threshold 10 000, no call cap, 10% of the
/// remaining requests, reserve 1 000.
pub fn default_settings() -> api::Settings {
    api::Settings {
        sync_enabled: true,
        email_opt_out: true,
        sales_opt_out_field: None,
        api_version: "62.0".into(),
        schedule: api::Schedule {
            hour: 20,
            minute: 0,
            time_zone: "America/Los_Angeles".into(),
        },
        bulk_threshold: 10_000,
        budget: api::ApiBudget {
            max_calls: None,
            max_percent_of_remaining: Some(10),
            reserve: 1000,
        },
    }
}

/// A config problem: the key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config {file}: {key}: {problem}")]
pub struct ConfigError {
    /// The config file.
    pub file: String,
    /// The key (`schedule.hour`), or `(file)` for the file as a whole.
    pub key: String,
    /// What is wrong and, where it helps, what to write instead.
    pub problem: String,
}

/// The org connection section (`[org]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgSection {
    /// `org.login_url`: origin of the OAuth token endpoint.
    pub login_url: String,
    /// `org.instance_url`: the org's instance origin, when pinned.
    pub instance_url: Option<String>,
    /// `org.credentials_file`: where the credentials are (mode 0600).
    pub credentials_file: Option<PathBuf>,
    /// `org.timeout_secs`: one request's timeout.
    pub timeout: Duration,
    /// `org.max_response_bytes`: cap on a response body.
    pub max_response_bytes: u64,
}

/// The runtime section (`[limits]`, `[runtime]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSection {
    /// `limits.call_timeout_secs`.
    pub call_timeout: Duration,
    /// `limits.memory_mib`, in bytes.
    pub memory_limit_bytes: usize,
    /// `runtime.component`: another build of the component to run.
    pub component: Option<PathBuf>,
    /// `runtime.cache_dir`: where the precompiled component is kept.
    pub cache_dir: Option<PathBuf>,
    /// `runtime.pooling`.
    pub pooling: bool,
}

/// The `serve` section (`[server]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSection {
    /// `server.listen`.
    pub listen: SocketAddr,
    /// `server.max_body_bytes`: webhook body cap.
    pub max_body_bytes: usize,
    /// `server.replay_window_secs`: how old a signed timestamp may be.
    pub replay_window: Duration,
    /// `server.retry_batch`: retries attempted per drain.
    pub retry_batch: u32,
}

/// The TOML key of each setting the component names (by its WIT name) in
/// an `invalid-settings` error.
const SETTING_KEYS: [(&str, &str); 11] = [
    ("sync-enabled", "settings.sync_enabled"),
    ("email-opt-out", "settings.email_opt_out"),
    ("sales-opt-out-field", "settings.sales_opt_out_field"),
    ("api-version", "settings.api_version"),
    ("bulk-threshold", "settings.bulk_threshold"),
    ("budget.max-calls", "settings.budget.max_calls"),
    (
        "budget.max-percent-of-remaining",
        "settings.budget.max_percent_of_remaining",
    ),
    ("budget.reserve", "settings.budget.reserve"),
    ("schedule.hour", "schedule.hour"),
    ("schedule.minute", "schedule.minute"),
    ("schedule.time-zone", "schedule.time_zone"),
];

/// The TOML key for a setting named by its WIT name.
pub fn toml_key(setting: &str) -> String {
    SETTING_KEYS
        .iter()
        .find(|(wit, _)| *wit == setting)
        .map_or_else(
            || format!("settings ({setting})"),
            |(_, key)| key.to_string(),
        )
}

/// The 1-based line of `key` (`settings.budget.reserve`) in TOML `text`: the
/// line that sets its last part inside its table, if the file sets it.
pub fn key_line(text: &str, key: &str) -> Option<usize> {
    let (table, leaf) = key.rsplit_once('.')?;
    let mut in_table = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            in_table = header.trim_end_matches(']').trim() == table;
        } else if in_table && line.split_once('=').is_some_and(|(k, _)| k.trim() == leaf) {
            return Some(i + 1);
        }
    }
    None
}

/// The whole configuration, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// `[org]`.
    pub org: OrgSection,
    /// `[settings]` and `[schedule]`, as the component takes them.
    pub settings: api::Settings,
    /// `storage.path`: the SQLite file.
    pub storage_path: PathBuf,
    /// `[limits]` and `[runtime]`.
    pub runtime: RuntimeSection,
    /// `[server]`.
    pub server: ServerSection,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    org: RawOrg,
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    schedule: RawSchedule,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    runtime: RawRuntime,
    #[serde(default)]
    server: RawServer,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    login_url: Option<String>,
    instance_url: Option<String>,
    credentials_file: Option<PathBuf>,
    timeout_secs: Option<u64>,
    max_response_bytes: Option<u64>,
    // Named only to refuse them with a useful message.
    client_secret: Option<toml::Value>,
    refresh_token: Option<toml::Value>,
    access_token: Option<toml::Value>,
    client_id: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    sync_enabled: Option<bool>,
    email_opt_out: Option<bool>,
    sales_opt_out_field: Option<String>,
    api_version: Option<String>,
    bulk_threshold: Option<u32>,
    #[serde(default)]
    budget: RawBudget,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawBudget {
    max_calls: Option<u32>,
    max_percent_of_remaining: Option<u8>,
    reserve: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    hour: Option<u8>,
    minute: Option<u8>,
    time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    path: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    call_timeout_secs: Option<u64>,
    memory_mib: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRuntime {
    component: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    pooling: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    max_body_bytes: Option<usize>,
    replay_window_secs: Option<u64>,
    retry_batch: Option<u32>,
}

impl Config {
    /// Where the config file is: the flag, else `UNSUBSCRIBE_SYNC_CONFIG`,
    /// else `unsubscribe-sync.toml` in the current directory.
    pub fn locate(flag: Option<&Path>) -> PathBuf {
        flag.map(Path::to_path_buf)
            .or_else(|| std::env::var_os(ENV_CONFIG).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE))
    }

    /// Checks the settings with the component's `validate-settings` (the one
    /// authority on them) and names the TOML key, and its line when the file
    /// sets it, of a setting it refuses. The value is never echoed.
    pub fn check_settings(&self, runtime: &crate::Runtime) -> Result<(), ConfigError> {
        // `validate-settings` touches neither storage nor the org.
        let nothing = crate::Capabilities::new(
            std::sync::Arc::new(crate::StaticResponder::new(503, Vec::new())),
            std::sync::Arc::new(crate::MemoryStorage::new()),
        );
        let problem = match runtime.validate_settings(&nothing, &self.settings) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(api::SyncError::InvalidSettings(p))) => p,
            Ok(Err(other)) => api::SettingsProblem {
                setting: "settings".into(),
                reason: format!("{other:?}"),
            },
            Err(e) => api::SettingsProblem {
                setting: "settings".into(),
                reason: format!("the component could not check them: {e}"),
            },
        };
        let key = toml_key(&problem.setting);
        let line = std::fs::read_to_string(&self.file)
            .ok()
            .and_then(|text| key_line(&text, &key));
        Err(ConfigError {
            file: self.file.display().to_string(),
            problem: match line {
                Some(n) => format!("{} (line {n})", problem.reason),
                None => problem.reason,
            },
            key,
        })
    }

    /// Reads and validates the file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.display().to_string(),
            key: "(file)".into(),
            problem: if e.kind() == std::io::ErrorKind::NotFound {
                "not found; create one with `unsubscribe-sync init`, or name it with --config or UNSUBSCRIBE_SYNC_CONFIG".into()
            } else {
                format!("cannot be read: {e}")
            },
        })?;
        Self::parse(&text, file)
    }

    /// Parses and validates config text; `file` names it in errors and
    /// anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let err = |key: &str, problem: String| ConfigError {
            file: file.display().to_string(),
            key: key.to_string(),
            problem,
        };
        let de =
            toml::Deserializer::parse(text).map_err(|e| err("(file)", toml_problem(&e, text)))?;
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            err(
                if key == "." { "(file)" } else { &key },
                toml_problem(&inner, text),
            )
        })?;
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };

        for (key, present) in [
            ("org.client_secret", raw.org.client_secret.is_some()),
            ("org.refresh_token", raw.org.refresh_token.is_some()),
            ("org.access_token", raw.org.access_token.is_some()),
            ("org.client_id", raw.org.client_id.is_some()),
        ] {
            if present {
                return Err(err(
                    key,
                    "credentials are never read from the config file; set the UNSUBSCRIBE_SYNC_* environment \
                     variables or put them in org.credentials_file (chmod 600)"
                        .into(),
                ));
            }
        }
        let login_url = raw
            .org
            .login_url
            .unwrap_or_else(|| "https://login.salesforce.com".into());
        let login_url =
            policy::normalize_origin(&login_url).map_err(|e| err("org.login_url", e))?;
        let instance_url = raw
            .org
            .instance_url
            .map(|u| policy::normalize_origin(&u))
            .transpose()
            .map_err(|e| err("org.instance_url", e))?;
        let timeout_secs = raw
            .org
            .timeout_secs
            .unwrap_or(limits::DEFAULT_HTTP_TIMEOUT.as_secs());
        if !(1..=600).contains(&timeout_secs) {
            return Err(err(
                "org.timeout_secs",
                format!("must be 1 to 600 seconds, got {timeout_secs}"),
            ));
        }
        let max_response_bytes = raw
            .org
            .max_response_bytes
            .unwrap_or(limits::DEFAULT_MAX_RESPONSE_BYTES);
        if !(1024..=(1 << 30)).contains(&max_response_bytes) {
            return Err(err(
                "org.max_response_bytes",
                format!("must be 1024 to 1073741824, got {max_response_bytes}"),
            ));
        }

        let defaults = default_settings();
        // The settings' rules are the component's (`validate-settings`, the
        // one authority): they are checked when the runtime is built, by
        // [`Config::check_settings`]. Only their TOML types are read here.
        let api_version = raw.settings.api_version.unwrap_or(defaults.api_version);
        let sales_opt_out_field = raw
            .settings
            .sales_opt_out_field
            .filter(|f| !f.trim().is_empty());
        let email_opt_out = raw.settings.email_opt_out.unwrap_or(defaults.email_opt_out);
        let pct = raw
            .settings
            .budget
            .max_percent_of_remaining
            .or(defaults.budget.max_percent_of_remaining);
        let hour = raw.schedule.hour.unwrap_or(defaults.schedule.hour);
        let minute = raw.schedule.minute.unwrap_or(defaults.schedule.minute);
        let time_zone = raw
            .schedule
            .time_zone
            .unwrap_or(defaults.schedule.time_zone);
        let settings = api::Settings {
            sync_enabled: raw.settings.sync_enabled.unwrap_or(defaults.sync_enabled),
            email_opt_out,
            sales_opt_out_field,
            api_version,
            schedule: api::Schedule {
                hour,
                minute,
                time_zone,
            },
            bulk_threshold: raw
                .settings
                .bulk_threshold
                .unwrap_or(defaults.bulk_threshold),
            budget: api::ApiBudget {
                max_calls: raw.settings.budget.max_calls,
                max_percent_of_remaining: pct,
                reserve: raw
                    .settings
                    .budget
                    .reserve
                    .unwrap_or(defaults.budget.reserve),
            },
        };

        let storage_path = resolve(
            raw.storage
                .path
                .unwrap_or_else(|| PathBuf::from("unsubscribe-sync.db")),
        );

        let call_timeout_secs = raw
            .limits
            .call_timeout_secs
            .unwrap_or(limits::DEFAULT_CALL_TIMEOUT.as_secs());
        if !(1..=600).contains(&call_timeout_secs) {
            return Err(err(
                "limits.call_timeout_secs",
                format!("must be 1 to 600 seconds, got {call_timeout_secs}"),
            ));
        }
        let memory_mib = raw
            .limits
            .memory_mib
            .unwrap_or((limits::DEFAULT_MEMORY_BYTES >> 20) as u64);
        if !(16..=4096).contains(&memory_mib) {
            return Err(err(
                "limits.memory_mib",
                format!("must be 16 to 4096, got {memory_mib}"),
            ));
        }
        let runtime = RuntimeSection {
            call_timeout: Duration::from_secs(call_timeout_secs),
            memory_limit_bytes: (memory_mib as usize) << 20,
            component: raw.runtime.component.map(resolve),
            cache_dir: raw.runtime.cache_dir.map(resolve),
            pooling: raw.runtime.pooling.unwrap_or(true),
        };

        let listen = raw.server.listen.unwrap_or_else(|| "127.0.0.1:8787".into());
        let listen: SocketAddr = listen.parse().map_err(|_| {
            err(
                "server.listen",
                format!("must be an address and port such as 127.0.0.1:8787, got {listen:?}"),
            )
        })?;
        let max_body_bytes = raw.server.max_body_bytes.unwrap_or(64 << 10);
        if !(256..=(16 << 20)).contains(&max_body_bytes) {
            return Err(err(
                "server.max_body_bytes",
                format!("must be 256 to 16777216, got {max_body_bytes}"),
            ));
        }
        let replay = raw.server.replay_window_secs.unwrap_or(300);
        if !(10..=3600).contains(&replay) {
            return Err(err(
                "server.replay_window_secs",
                format!("must be 10 to 3600, got {replay}"),
            ));
        }
        let retry_batch = raw.server.retry_batch.unwrap_or(50);
        if !(1..=10_000).contains(&retry_batch) {
            return Err(err(
                "server.retry_batch",
                format!("must be 1 to 10000, got {retry_batch}"),
            ));
        }

        Ok(Config {
            file: file.to_path_buf(),
            org: OrgSection {
                login_url,
                instance_url,
                credentials_file: raw.org.credentials_file.map(resolve),
                timeout: Duration::from_secs(timeout_secs),
                max_response_bytes,
            },
            settings,
            storage_path,
            runtime,
            server: ServerSection {
                listen,
                max_body_bytes,
                replay_window: Duration::from_secs(replay),
                retry_batch,
            },
        })
    }
}

/// A TOML error as one line: the message and the line it points at (never
/// the offending text itself, which could be a pasted secret).
fn toml_problem(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = e.message().trim().replace('\n', " ");
    match line {
        Some(l) => format!("{message} (line {l})"),
        None => message,
    }
}

/// The commented example written by `unsubscribe-sync init`. Every key is
/// shown with its default.
pub const EXAMPLE: &str = r#"# unsubscribe-sync configuration.
#
# Credentials never go in this file. Provide them as environment variables
#   UNSUBSCRIBE_SYNC_CLIENT_ID, UNSUBSCRIBE_SYNC_CLIENT_SECRET,
#   UNSUBSCRIBE_SYNC_REFRESH_TOKEN (and UNSUBSCRIBE_SYNC_WEBHOOK_SECRET for `serve`)
# or in a TOML file readable only by you (chmod 600) named by org.credentials_file:
#   client_id = "..."  client_secret = "..."  refresh_token = "..."  webhook_secret = "..."
# Relative paths below are relative to this file's directory.

[org]
# The OAuth token endpoint's origin: https://login.salesforce.com (production),
# https://test.salesforce.com (sandbox) or your My Domain.
login_url = "https://login.salesforce.com"
# Pin the org's instance (optional). Requests only ever go to the instance; when
# pinned, the token endpoint must name this same one.
# instance_url = "https://acme.my.salesforce.com"
# credentials_file = "credentials.toml"
# One request's timeout (also capped by the call deadline, limits.call_timeout_secs).
timeout_secs = 30
# Cap on a response body from the org.
max_response_bytes = 33554432

[settings]
# The Salesforce unsubscribe sync. When false, a push still writes, to
# HasOptedOutOfEmail only, and the nightly does not run.
sync_enabled = true
# Write the standard "Email Opt Out" checkbox (HasOptedOutOfEmail).
email_opt_out = true
# The custom "sales opt-out" checkbox to write too (its API name), if any.
# sales_opt_out_field = "Sales_Opt_Out__c"
# The REST API version (42.0 or later).
api_version = "62.0"
# The nightly uses Bulk API 2.0 for an object from this many unsubscribes (0: never).
bulk_threshold = 10000

[settings.budget]
# What one nightly run may spend of the org's daily API requests.
# max_calls = 5000
max_percent_of_remaining = 10
# Requests kept free for real-time pushes.
reserve = 1000

[schedule]
# When the nightly runs (`serve`), in local time of the zone.
hour = 20
minute = 0
time_zone = "America/Los_Angeles"

[storage]
# The SQLite file holding the ledger, retries, audit trail and the serve inbox.
path = "unsubscribe-sync.db"

[limits]
# Deadline of one call into the component, in seconds.
call_timeout_secs = 10
# Memory cap of the component, in MiB.
memory_mib = 64

[runtime]
# Run another build of the component (the same WIT world) instead of the embedded one.
# component = "unsubscribe_sync_plugin.wasm"
# Where the precompiled component is cached (default: ~/.cache/unsubscribe-sync).
# cache_dir = ".cache"
pooling = true

[server]
# `serve`: the address to listen on.
listen = "127.0.0.1:8787"
# Webhook body cap, in bytes.
max_body_bytes = 65536
# A signed request older (or newer) than this is refused as a replay.
replay_window_secs = 300
# Retries attempted per drain.
retry_batch = 50
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/us/unsubscribe-sync.toml"))
    }

    #[test]
    fn the_example_parses_to_the_defaults() {
        let c = parse(EXAMPLE).unwrap();
        assert_eq!(c.settings, default_settings());
        assert_eq!(c.storage_path, PathBuf::from("/etc/us/unsubscribe-sync.db"));
        assert_eq!(c.runtime.call_timeout, limits::DEFAULT_CALL_TIMEOUT);
        assert_eq!(c.runtime.memory_limit_bytes, limits::DEFAULT_MEMORY_BYTES);
        assert_eq!(c.server.listen, "127.0.0.1:8787".parse().unwrap());
        assert_eq!(c, parse("").unwrap(), "an empty file means the defaults");
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[schedule]\nhour = \"eight\"\n", "schedule.hour", "line 2"),
            (
                "[settings]\nsync_enabld = true\n",
                "settings.sync_enabld",
                "unknown field",
            ),
            (
                "[org]\nlogin_url = \"http://login.salesforce.com\"\n",
                "org.login_url",
                "https",
            ),
            (
                "[org]\nclient_secret = \"abc\"\n",
                "org.client_secret",
                "never read from the config",
            ),
            (
                "[limits]\nmemory_mib = 1\n",
                "limits.memory_mib",
                "16 to 4096",
            ),
            (
                "[server]\nlisten = \"everywhere\"\n",
                "server.listen",
                "127.0.0.1:8787",
            ),
            ("[schedule\n", "(file)", "line 1"),
        ];
        for (text, key, problem) in cases {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key, key, "{text:?}: {e}");
            assert!(e.problem.contains(problem), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with("config /etc/us/unsubscribe-sync.toml: "),
                "{e}"
            );
        }
    }

    #[test]
    fn every_setting_the_component_names_has_its_key_and_line() {
        let text = "[settings]\nemail_opt_out = false\n\n[settings.budget]\nreserve = 5\n[schedule]\ntime_zone = \"x\"\n";
        assert_eq!(key_line(text, &toml_key("email-opt-out")), Some(2));
        assert_eq!(key_line(text, &toml_key("budget.reserve")), Some(5));
        assert_eq!(key_line(text, &toml_key("schedule.time-zone")), Some(7));
        assert_eq!(key_line(text, &toml_key("api-version")), None);
        for (wit, key) in SETTING_KEYS {
            assert_eq!(toml_key(wit), key);
        }
    }

    #[test]
    fn a_secret_pasted_in_the_config_is_not_echoed() {
        let e = parse("[org]\nclient_secret = hunter2\n").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
