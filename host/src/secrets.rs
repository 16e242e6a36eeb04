//! Credentials and the redacting [`Secret`] newtype.
//!
//! The client secret, the refresh token, the access token and the webhook
//! secret are held in [`Secret`]s: their `Debug` and `Display` print
//! `[redacted]`, so a secret cannot reach a log line, an error message or
//! `status` output by accident. The only way to the value is
//! [`Secret::expose`], called where the value goes on the wire.
//!
//! Credentials come from environment variables or from a credentials file
//! that only its owner may read (mode `0600` or stricter); never from the
//! config file in clear.

use std::fmt;
use std::path::{Path, PathBuf};

/// A value that must never be printed. `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (a form field, a header).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Environment variable holding the connected app's consumer key.
pub const ENV_CLIENT_ID: &str = "UNSUBSCRIBE_SYNC_CLIENT_ID";
/// Environment variable holding the connected app's consumer secret.
pub const ENV_CLIENT_SECRET: &str = "UNSUBSCRIBE_SYNC_CLIENT_SECRET";
/// Environment variable holding the OAuth refresh token.
pub const ENV_REFRESH_TOKEN: &str = "UNSUBSCRIBE_SYNC_REFRESH_TOKEN";
/// Environment variable holding the webhook signing secret (`serve`).
pub const ENV_WEBHOOK_SECRET: &str = "UNSUBSCRIBE_SYNC_WEBHOOK_SECRET";
/// Environment variable naming a credentials file (instead of `org.credentials_file`).
pub const ENV_CREDENTIALS_FILE: &str = "UNSUBSCRIBE_SYNC_CREDENTIALS_FILE";

/// The connection's credentials. `Debug` never shows a secret.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// The connected app's consumer key (not a secret, but kept here with the rest).
    pub client_id: Option<String>,
    /// The connected app's consumer secret.
    pub client_secret: Option<Secret>,
    /// The refresh token.
    pub refresh_token: Option<Secret>,
    /// The webhook signing secret.
    pub webhook_secret: Option<Secret>,
}

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The credentials file is readable by its group or by others.
    #[error(
        "credentials file {path} is readable by others (mode {mode:o}); run `chmod 600 {path}` and try again"
    )]
    TooOpen {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The credentials file could not be read.
    #[error("cannot read credentials file {path}: {reason}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The credentials file is not valid TOML of the expected shape.
    #[error("credentials file {path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong (never a value).
        reason: String,
    },
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    client_id: Option<String>,
    client_secret: Option<String>,
    refresh_token: Option<String>,
    webhook_secret: Option<String>,
}

impl Credentials {
    /// Loads credentials: each value from its environment variable when set,
    /// else from the credentials file (when one is named), which must be
    /// readable by its owner only.
    pub fn load(file: Option<&Path>) -> Result<Credentials, CredentialsError> {
        let mut creds = match file {
            Some(path) => Self::from_file(path)?,
            None => Credentials::default(),
        };
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(v) = env(ENV_CLIENT_ID) {
            creds.client_id = Some(v);
        }
        if let Some(v) = env(ENV_CLIENT_SECRET) {
            creds.client_secret = Some(Secret::new(v));
        }
        if let Some(v) = env(ENV_REFRESH_TOKEN) {
            creds.refresh_token = Some(Secret::new(v));
        }
        if let Some(v) = env(ENV_WEBHOOK_SECRET) {
            creds.webhook_secret = Some(Secret::new(v));
        }
        Ok(creds)
    }

    /// Reads a credentials file (TOML with `client_id`, `client_secret`,
    /// `refresh_token`, `webhook_secret`), refusing one that its group or
    /// others can read or write.
    pub fn from_file(path: &Path) -> Result<Credentials, CredentialsError> {
        check_owner_only(path)?;
        let text = std::fs::read_to_string(path).map_err(|e| CredentialsError::Unreadable {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        // The TOML error message could quote a line of the file, which may
        // hold a secret: report only where the problem is.
        let parsed: CredentialsFile =
            toml::from_str(&text).map_err(|e| CredentialsError::Invalid {
                path: path.to_path_buf(),
                reason: describe_toml_error_without_values(&e, &text),
            })?;
        Ok(Credentials {
            client_id: parsed.client_id,
            client_secret: parsed.client_secret.map(Secret::new),
            refresh_token: parsed.refresh_token.map(Secret::new),
            webhook_secret: parsed.webhook_secret.map(Secret::new),
        })
    }
}

fn describe_toml_error_without_values(e: &toml::de::Error, text: &str) -> String {
    let line = e
        .span()
        .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
    let what = if e.message().contains("unknown field") {
        "an unknown key (expected client_id, client_secret, refresh_token, webhook_secret)"
    } else {
        "invalid TOML (values must be quoted strings)"
    };
    match line {
        Some(line) => format!("{what} at line {line}"),
        None => what.to_string(),
    }
}

/// Refuses a file whose group or others have any permission bit.
#[cfg(unix)]
pub fn check_owner_only(path: &Path) -> Result<(), CredentialsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| CredentialsError::Unreadable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(CredentialsError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Elsewhere there are no Unix permission bits to check.
#[cfg(not(unix))]
pub fn check_owner_only(_path: &Path) -> Result<(), CredentialsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints_its_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        let c = Credentials {
            client_secret: Some(s.clone()),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }

    #[cfg(unix)]
    #[test]
    fn refuses_a_credentials_file_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.toml");
        std::fs::write(&path, "client_secret = \"s3cr3t\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = Credentials::from_file(&path).unwrap();
        assert_eq!(c.client_secret.unwrap().expose(), "s3cr3t");
    }

    #[cfg(unix)]
    #[test]
    fn a_malformed_credentials_file_error_quotes_no_value() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds.toml");
        std::fs::write(&path, "client_secret = s3cr3t-unquoted\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Credentials::from_file(&path).unwrap_err().to_string();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }
}
