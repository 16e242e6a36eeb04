//! The file's shape as TOML: every key optional (a default stands in), no
//! unknown key accepted. The sections validate the values ([`super::sections`]).

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub org: RawOrg,
    #[serde(default)]
    pub settings: RawSettings,
    #[serde(default)]
    pub schedule: RawSchedule,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub runtime: RawRuntime,
    #[serde(default)]
    pub server: RawServer,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrg {
    pub login_url: Option<String>,
    pub instance_url: Option<String>,
    pub credentials_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    pub timeout_secs: Option<u64>,
    pub max_response_bytes: Option<u64>,
    // Named only to refuse them with a useful message.
    pub client_secret: Option<toml::Value>,
    pub refresh_token: Option<toml::Value>,
    pub access_token: Option<toml::Value>,
    pub client_id: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSettings {
    pub sync_enabled: Option<bool>,
    pub email_opt_out: Option<bool>,
    pub sales_opt_out_field: Option<String>,
    pub api_version: Option<String>,
    pub bulk_threshold: Option<u32>,
    #[serde(default)]
    pub budget: RawBudget,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    pub max_calls: Option<u32>,
    pub max_percent_of_remaining: Option<u8>,
    pub reserve: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub hour: Option<u8>,
    pub minute: Option<u8>,
    pub time_zone: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStorage {
    pub path: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub call_timeout_secs: Option<u64>,
    pub memory_mib: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRuntime {
    pub component: Option<PathBuf>,
    pub cache_dir: Option<PathBuf>,
    pub pooling: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<usize>,
    pub replay_window_secs: Option<u64>,
    pub retry_batch: Option<u32>,
    pub batch_max: Option<usize>,
    pub header_read_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
}
