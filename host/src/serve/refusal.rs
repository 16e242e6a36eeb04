//! Why a signed webhook is refused, and the one replay-window check: shared
//! by both signature schemes ([`super::webhook`] and
//! [`super::standard_webhooks`]), so neither depends on the other for them.

/// Why a webhook was refused (each answered 401 but `Replay`, 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A header is missing.
    Unsigned,
    /// The timestamp is not a number of seconds.
    BadTimestamp,
    /// The timestamp is outside the replay window.
    Stale {
        /// Seconds between the timestamp and now.
        skew_secs: i64,
    },
    /// The signature does not match (or is not `sha256=<hex>`).
    BadSignature,
    /// A signature, timestamp or ID header was given more than once.
    DuplicateHeader(&'static str),
    /// The Standard Webhooks `webhook-id` is empty, too long or has control characters.
    BadId,
    /// The configured `whsec_` secret is not base64: every Standard Webhooks request fails.
    BadSecret,
}

/// The timestamp as seconds if it is within the replay window of `now_secs`
/// (either way): the one window check of both schemes.
pub fn fresh(timestamp: &str, now_secs: i64, window_secs: u64) -> Result<i64, Rejection> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    // Saturating: a hostile timestamp such as i64::MIN must not overflow.
    let skew = now_secs.saturating_sub(ts);
    if skew.unsigned_abs() > window_secs {
        return Err(Rejection::Stale { skew_secs: skew });
    }
    Ok(ts)
}

impl Rejection {
    /// The answer's text.
    pub fn message(&self, window_secs: u64) -> String {
        match self {
            Rejection::Unsigned => "unsigned: the X-Timestamp and X-Signature headers \
                 (or webhook-id, webhook-timestamp and webhook-signature) are required"
                .into(),
            Rejection::BadTimestamp => {
                "X-Timestamp (webhook-timestamp) must be the Unix time in seconds".into()
            }
            Rejection::Stale { skew_secs } => format!(
                "the timestamp is {skew_secs} s away from the server's clock; the replay window is {window_secs} s"
            ),
            Rejection::BadSignature => {
                "bad signature: X-Signature must be sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>, \
                 webhook-signature v1,<base64 HMAC-SHA256(key, id + \".\" + timestamp + \".\" + body)>".into()
            }
            Rejection::DuplicateHeader(name) => {
                format!("the {name} header was given more than once; send it once")
            }
            Rejection::BadId => "webhook-id must be 1 to 256 characters, no control characters".into(),
            Rejection::BadSecret => {
                "the service's whsec_ webhook secret is not base64; the operator must fix it".into()
            }
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::BadTimestamp | Rejection::Stale { .. } => "stale",
            Rejection::BadSignature | Rejection::BadId => "bad_signature",
            Rejection::DuplicateHeader(_) => "duplicate_header",
            Rejection::BadSecret => "bad_secret",
        }
    }
}
