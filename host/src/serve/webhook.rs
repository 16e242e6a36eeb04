//! Webhook signatures: `X-Timestamp: <unix seconds>` and
//! `X-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>`.
//!
//! A request is accepted only when both headers are present, the timestamp
//! is within the replay window of the server's clock (either way), the
//! signature matches (compared in constant time) and the same signature was
//! not accepted before (the inbox remembers them for the window).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Secret;

/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-signature";

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
}

impl Rejection {
    /// The answer's text.
    pub fn message(&self, window_secs: u64) -> String {
        match self {
            Rejection::Unsigned => {
                "unsigned: the X-Timestamp and X-Signature headers are required".into()
            }
            Rejection::BadTimestamp => "X-Timestamp must be the Unix time in seconds".into(),
            Rejection::Stale { skew_secs } => format!(
                "X-Timestamp is {skew_secs} s away from the server's clock; the replay window is {window_secs} s"
            ),
            Rejection::BadSignature => {
                "bad signature: X-Signature must be sha256=<hex HMAC-SHA256(secret, timestamp + \".\" + body)>".into()
            }
        }
    }

    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::BadTimestamp | Rejection::Stale { .. } => "stale",
            Rejection::BadSignature => "bad_signature",
        }
    }
}

/// The signature header's value for a body sent at `timestamp`.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a request's headers and body. Returns the normalized signature
/// (to remember against replays).
pub fn verify(
    secret: &Secret,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    window_secs: u64,
) -> Result<String, Rejection> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(Rejection::Unsigned);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| Rejection::BadTimestamp)?;
    // Saturating: a hostile timestamp such as i64::MIN must not overflow.
    let skew = now_secs.saturating_sub(ts);
    if skew.unsigned_abs() > window_secs {
        return Err(Rejection::Stale { skew_secs: skew });
    }
    let hex_sig = signature
        .trim()
        .strip_prefix("sha256=")
        .ok_or(Rejection::BadSignature)?;
    let given = hex::decode(hex_sig).map_err(|_| Rejection::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
        .expect("HMAC takes any key length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| Rejection::BadSignature)?;
    Ok(hex::encode(given))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_751_968_800;

    fn secret() -> Secret {
        Secret::new("a-webhook-secret-of-some-length")
    }

    #[test]
    fn a_correctly_signed_fresh_request_passes() {
        let body = br#"{"person_id":"p1"}"#;
        let sig = sign(&secret(), NOW - 10, body);
        let ts = (NOW - 10).to_string();
        assert!(verify(&secret(), Some(&ts), Some(&sig), body, NOW, 300).is_ok());
    }

    #[test]
    fn forged_unsigned_stale_and_tampered_requests_fail() {
        let body = br#"{"person_id":"p1"}"#;
        let ts = NOW.to_string();
        let good = sign(&secret(), NOW, body);
        assert_eq!(
            verify(&secret(), None, Some(&good), body, NOW, 300),
            Err(Rejection::Unsigned)
        );
        assert_eq!(
            verify(&secret(), Some(&ts), None, body, NOW, 300),
            Err(Rejection::Unsigned)
        );
        let forged = sign(&Secret::new("another-secret"), NOW, body);
        assert_eq!(
            verify(&secret(), Some(&ts), Some(&forged), body, NOW, 300),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(
                &secret(),
                Some(&ts),
                Some(&good),
                br#"{"person_id":"p2"}"#,
                NOW,
                300
            ),
            Err(Rejection::BadSignature)
        );
        let old = sign(&secret(), NOW - 301, body);
        assert_eq!(
            verify(
                &secret(),
                Some(&(NOW - 301).to_string()),
                Some(&old),
                body,
                NOW,
                300
            ),
            Err(Rejection::Stale { skew_secs: 301 })
        );
        // The signature covers the timestamp: moving it forward breaks it.
        assert_eq!(
            verify(
                &secret(),
                Some(&(NOW + 1).to_string()),
                Some(&good),
                body,
                NOW,
                300
            ),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            verify(&secret(), Some("soon"), Some(&good), body, NOW, 300),
            Err(Rejection::BadTimestamp)
        );
        assert_eq!(
            verify(&secret(), Some(&ts), Some("md5=abc"), body, NOW, 300),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn extreme_timestamps_are_stale_not_an_overflow() {
        let body = br#"{"person_id":"p1"}"#;
        for ts in [i64::MIN, i64::MIN + 1, i64::MAX, -1, 0] {
            let sig = sign(&secret(), ts, body);
            let r = verify(&secret(), Some(&ts.to_string()), Some(&sig), body, NOW, 300);
            assert!(matches!(r, Err(Rejection::Stale { .. })), "{ts}: {r:?}");
        }
        for bad in ["99999999999999999999", "1e9", "", "0x10", "١٢٣"] {
            let r = verify(&secret(), Some(bad), Some("sha256=00"), body, NOW, 300);
            assert_eq!(r, Err(Rejection::BadTimestamp), "{bad:?}");
        }
        let ts = NOW.to_string();
        for bad in [
            "sha256=",
            "sha256=zz",
            "sha256=00",
            &"sha256=ab".repeat(5000),
        ] {
            let r = verify(&secret(), Some(&ts), Some(bad), body, NOW, 300);
            assert_eq!(r, Err(Rejection::BadSignature), "{bad:?}");
        }
        // The same signature in upper case is the same signature (one replay key).
        let good = sign(&secret(), NOW, body);
        let upper = format!("sha256={}", good["sha256=".len()..].to_uppercase());
        assert_eq!(
            verify(&secret(), Some(&ts), Some(&upper), body, NOW, 300),
            verify(&secret(), Some(&ts), Some(&good), body, NOW, 300)
        );
    }
}
