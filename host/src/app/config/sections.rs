//! The sections of the file, each read and checked on its own from its raw
//! TOML form ([`super::raw`]); a problem names its key, never its value.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::default_settings;
use super::raw::{RawLimits, RawOrg, RawRuntime, RawSchedule, RawServer, RawSettings};
use crate::{api, limits, policy};

/// The org connection section (`[org]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgSection {
    /// `org.login_url`: origin of the OAuth token endpoint.
    pub login_url: String,
    /// `org.instance_url`: the org's instance origin, when pinned.
    pub instance_url: Option<String>,
    /// `org.credentials_file`: where the credentials are (mode 0600).
    pub credentials_file: Option<PathBuf>,
    /// `org.ca_file`: the CAs (PEM) the org's certificates must chain to,
    /// instead of the public roots.
    pub ca_file: Option<PathBuf>,
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
    /// `server.batch_max`: waiting unsubscribes handed to the component in
    /// one call (default 200, one sObject Collections call; 1 pushes every
    /// event on its own, one PATCH each).
    pub batch_max: usize,
    /// `server.header_read_timeout_secs`: how long a client may take to
    /// send a request's head (default 10 s).
    pub header_read_timeout: Duration,
    /// `server.idle_timeout_secs`: how long a connection may move no byte
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// `server.max_connections`: open connections at most; the next is
    /// answered 503 at once (default 512).
    pub max_connections: usize,
}

/// A problem with one key of a section: the key and what is wrong, never the
/// value (it could be a pasted secret).
pub(super) struct KeyProblem {
    pub key: &'static str,
    pub problem: String,
}

fn problem(key: &'static str, problem: impl Into<String>) -> KeyProblem {
    KeyProblem {
        key,
        problem: problem.into(),
    }
}

/// Checks that `value` lies in `range`; the message names the range only.
fn in_range<T: PartialOrd + std::fmt::Display>(
    key: &'static str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<T, KeyProblem> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(problem(
            key,
            format!(
                "must be {} to {}{unit}; the value given is outside that range",
                range.start(),
                range.end()
            ),
        ))
    }
}

/// `[org]`: refuses credentials (they are never read from this file),
/// normalizes the origins and bounds the request limits.
pub(super) fn org(
    raw: RawOrg,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<OrgSection, KeyProblem> {
    for (key, present) in [
        ("org.client_secret", raw.client_secret.is_some()),
        ("org.refresh_token", raw.refresh_token.is_some()),
        ("org.access_token", raw.access_token.is_some()),
        ("org.client_id", raw.client_id.is_some()),
    ] {
        if present {
            return Err(problem(
                key,
                "credentials are never read from the config file; set the UNSUBSCRIBE_SYNC_* environment \
                 variables or put them in org.credentials_file (chmod 600)",
            ));
        }
    }
    let login_url = raw
        .login_url
        .unwrap_or_else(|| "https://login.salesforce.com".into());
    let login_url =
        policy::normalize_origin(&login_url).map_err(|e| problem("org.login_url", e))?;
    let instance_url = raw
        .instance_url
        .map(|u| policy::normalize_origin(&u))
        .transpose()
        .map_err(|e| problem("org.instance_url", e))?;
    let timeout_secs = in_range(
        "org.timeout_secs",
        raw.timeout_secs
            .unwrap_or(limits::DEFAULT_HTTP_TIMEOUT.as_secs()),
        1..=600,
        " seconds",
    )?;
    let max_response_bytes = in_range(
        "org.max_response_bytes",
        raw.max_response_bytes
            .unwrap_or(limits::DEFAULT_MAX_RESPONSE_BYTES),
        1024..=(1 << 30),
        " bytes",
    )?;
    Ok(OrgSection {
        login_url,
        instance_url,
        credentials_file: raw.credentials_file.map(resolve),
        ca_file: raw.ca_file.map(resolve),
        timeout: Duration::from_secs(timeout_secs),
        max_response_bytes,
    })
}

/// `[settings]` and `[schedule]`, as the component takes them. Only their
/// TOML types are read here: their rules are the component's
/// (`validate-settings`, the one authority), checked when the runtime is
/// built ([`super::Config::check_settings`]).
pub(super) fn settings(raw: RawSettings, schedule: RawSchedule) -> api::Settings {
    let defaults = default_settings();
    api::Settings {
        sync_enabled: raw.sync_enabled.unwrap_or(defaults.sync_enabled),
        email_opt_out: raw.email_opt_out.unwrap_or(defaults.email_opt_out),
        sales_opt_out_field: raw.sales_opt_out_field.filter(|f| !f.trim().is_empty()),
        api_version: raw.api_version.unwrap_or(defaults.api_version),
        schedule: api::Schedule {
            hour: schedule.hour.unwrap_or(defaults.schedule.hour),
            minute: schedule.minute.unwrap_or(defaults.schedule.minute),
            time_zone: schedule.time_zone.unwrap_or(defaults.schedule.time_zone),
        },
        bulk_threshold: raw.bulk_threshold.unwrap_or(defaults.bulk_threshold),
        budget: api::ApiBudget {
            max_calls: raw.budget.max_calls,
            max_percent_of_remaining: raw
                .budget
                .max_percent_of_remaining
                .or(defaults.budget.max_percent_of_remaining),
            reserve: raw.budget.reserve.unwrap_or(defaults.budget.reserve),
        },
    }
}

/// `[limits]` and `[runtime]`: the per-call bounds and the component to run.
pub(super) fn runtime(
    raw_limits: RawLimits,
    raw: RawRuntime,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<RuntimeSection, KeyProblem> {
    let call_timeout_secs = in_range(
        "limits.call_timeout_secs",
        raw_limits
            .call_timeout_secs
            .unwrap_or(limits::DEFAULT_CALL_TIMEOUT.as_secs()),
        1..=600,
        " seconds",
    )?;
    let memory_mib = in_range(
        "limits.memory_mib",
        raw_limits
            .memory_mib
            .unwrap_or((limits::DEFAULT_MEMORY_BYTES >> 20) as u64),
        16..=4096,
        " MiB",
    )?;
    Ok(RuntimeSection {
        call_timeout: Duration::from_secs(call_timeout_secs),
        memory_limit_bytes: (memory_mib as usize) << 20,
        component: raw.component.map(resolve),
        cache_dir: raw.cache_dir.map(resolve),
        pooling: raw.pooling.unwrap_or(true),
    })
}

/// `[server]`: where `serve` listens and how it bounds webhook requests.
pub(super) fn server(raw: RawServer) -> Result<ServerSection, KeyProblem> {
    let listen = match raw.listen {
        None => SocketAddr::from(([127, 0, 0, 1], 8787)),
        Some(text) => text.parse().map_err(|_| {
            problem(
                "server.listen",
                "must be an address and port such as 127.0.0.1:8787",
            )
        })?,
    };
    let max_body_bytes = in_range(
        "server.max_body_bytes",
        raw.max_body_bytes.unwrap_or(64 << 10),
        256..=(16 << 20),
        " bytes",
    )?;
    let replay = in_range(
        "server.replay_window_secs",
        raw.replay_window_secs.unwrap_or(300),
        10..=3600,
        " seconds",
    )?;
    let retry_batch = in_range(
        "server.retry_batch",
        raw.retry_batch.unwrap_or(50),
        1..=10_000,
        "",
    )?;
    let header_read = in_range(
        "server.header_read_timeout_secs",
        raw.header_read_timeout_secs
            .unwrap_or(limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs()),
        1..=300,
        " seconds",
    )?;
    let idle = in_range(
        "server.idle_timeout_secs",
        raw.idle_timeout_secs
            .unwrap_or(limits::DEFAULT_IDLE_TIMEOUT.as_secs()),
        1..=3600,
        " seconds",
    )?;
    let max_connections = in_range(
        "server.max_connections",
        raw.max_connections
            .unwrap_or(limits::DEFAULT_MAX_CONNECTIONS),
        1..=65_536,
        "",
    )?;
    let batch_max = in_range(
        "server.batch_max",
        raw.batch_max.unwrap_or(limits::DEFAULT_BATCH_MAX),
        1..=1000,
        "",
    )?;
    Ok(ServerSection {
        batch_max,
        listen,
        max_body_bytes,
        replay_window: Duration::from_secs(replay),
        retry_batch,
        header_read_timeout: Duration::from_secs(header_read),
        idle_timeout: Duration::from_secs(idle),
        max_connections,
    })
}
