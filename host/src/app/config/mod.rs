//! The configuration file: one TOML file for the org, the settings, the
//! storage path, the schedule, the limits and the server.
//!
//! Its path comes from `--config` or `UNSUBSCRIBE_SYNC_CONFIG` (default
//! `unsubscribe-sync.toml`); relative paths inside it are relative to the
//! file's directory. Credentials are never read from it: they come from
//! environment variables or a credentials file readable only by its owner
//! (see [`crate::secrets`]). Every error names the key and what is wrong.

mod example;
mod keys;
mod raw;
mod sections;

use std::path::{Path, PathBuf};

pub use example::EXAMPLE;
pub use keys::{key_line, toml_key};
use raw::RawConfig;
pub use sections::{OrgSection, RuntimeSection, ServerSection};

use crate::api;

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

/// A TOML error as one line: the message and the line it points at (never
/// the offending text itself, which could be a pasted secret).
fn toml_problem(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let message = without_value(e.message().trim()).replace('\n', " ");
    match line {
        Some(l) => format!("{message} (line {l})"),
        None => message,
    }
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
    pub fn check_settings(&self, runtime: &crate::runtime::Runtime) -> Result<(), ConfigError> {
        // `validate-settings` touches neither storage nor the org.
        let nothing = crate::runtime::Capabilities::new(
            std::sync::Arc::new(crate::ports::http::StaticResponder::new(503, Vec::new())),
            std::sync::Arc::new(crate::ports::storage::MemoryStorage::new()),
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
        let at = |p: sections::KeyProblem| err(p.key, p.problem);
        let org = sections::org(raw.org, &resolve).map_err(at)?;
        let settings = sections::settings(raw.settings, raw.schedule);
        let storage_path = resolve(
            raw.storage
                .path
                .unwrap_or_else(|| PathBuf::from("unsubscribe-sync.db")),
        );
        let runtime = sections::runtime(raw.limits, raw.runtime, &resolve).map_err(at)?;
        let server = sections::server(raw.server).map_err(at)?;
        Ok(Config {
            file: file.to_path_buf(),
            org,
            settings,
            storage_path,
            runtime,
            server,
        })
    }
}

/// serde names the value it refused (`invalid type: string "…", expected
/// u8`); the value could be a pasted secret, so only the expectation stays.
fn without_value(message: &str) -> String {
    for (prefix, what) in [
        ("invalid type:", "has the wrong type"),
        ("invalid value:", "has a value out of range"),
        ("invalid length", "has the wrong length"),
    ] {
        if message.starts_with(prefix) {
            return match message.rsplit_once(", expected ") {
                Some((_, expected)) => format!("{what} (expected {expected})"),
                None => what.to_string(),
            };
        }
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::keys::SETTING_KEYS;
    use super::*;
    use crate::limits;

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
    fn no_error_echoes_the_value_it_refuses() {
        let cases = [
            "[server]\nlisten = \"s3cr3t-value-1\"\n",
            "[limits]\nmemory_mib = 987654\n",
            "[org]\ntimeout_secs = 987654\n",
            "[org]\nlogin_url = \"http://s3cr3t-value-1.example\"\n",
            "[org]\ninstance_url = \"s3cr3t-value-1\"\n",
            "[server]\nmax_body_bytes = 987654321\n",
            "[schedule]\nhour = \"s3cr3t-value-1\"\n",
        ];
        for text in cases {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                !e.contains("s3cr3t-value-1") && !e.contains("987654"),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn a_secret_pasted_in_the_config_is_not_echoed() {
        let e = parse("[org]\nclient_secret = hunter2\n").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
