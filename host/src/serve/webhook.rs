//! Webhook signatures: `X-Timestamp: <unix seconds>` and
//! `X-Signature: sha256=<hex of HMAC-SHA256(secret, timestamp + "." + body)>`.
//!
//! A request is accepted only when both headers are present, the timestamp
//! is within the replay window of the server's clock (either way), the
//! signature matches (compared in constant time) and the same signature was
//! not accepted before (the inbox remembers them for the window).
//!
//! [Standard Webhooks](super::standard_webhooks) are accepted beside it;
//! [`authenticate`] picks the scheme by the headers present. A header given
//! twice is refused in either scheme: "first one wins" would let a proxy and
//! the service disagree about what was signed.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use super::refusal::Rejection;
use super::refusal::fresh;
use super::standard_webhooks as sw;
use crate::Secret;

/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "x-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-signature";

/// Which scheme a verified request was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `X-Timestamp` / `X-Signature`: a replay is refused (409).
    Own,
    /// Standard Webhooks: a redelivery of this `webhook-id` is answered 2xx
    /// once it was accepted, since senders retry until they get one.
    Standard {
        /// The `webhook-id`.
        id: String,
    },
}

/// A request whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// What the inbox remembers to refuse it a second time: the signature
    /// (own scheme) or `whid:` and the message ID (Standard Webhooks; the
    /// prefix keeps the two apart in one table).
    pub replay_key: String,
    /// The scheme it was signed with.
    pub scheme: Scheme,
}

/// Checks a request in whichever scheme its headers name: Standard Webhooks
/// when `webhook-id` or `webhook-signature` is present, else the service's own.
pub fn authenticate(
    secret: &Secret,
    headers: &HeaderMap,
    body: &[u8],
    now_secs: i64,
    window_secs: u64,
) -> Result<Verified, Rejection> {
    let one = |name: &'static str| -> Result<Option<&str>, Rejection> {
        let mut values = headers.get_all(name).iter();
        let first = values.next();
        if values.next().is_some() {
            return Err(Rejection::DuplicateHeader(name));
        }
        // A value that is not visible ASCII cannot be a valid one.
        Ok(first.and_then(|v| v.to_str().ok()))
    };
    if headers.contains_key(sw::ID_HEADER) || headers.contains_key(sw::SIGNATURE_HEADER) {
        let id = sw::verify(
            secret,
            one(sw::ID_HEADER)?,
            one(sw::TIMESTAMP_HEADER)?,
            one(sw::SIGNATURE_HEADER)?,
            body,
            now_secs,
            window_secs,
        )?;
        return Ok(Verified {
            replay_key: format!("whid:{id}"),
            scheme: Scheme::Standard { id },
        });
    }
    let signature = verify(
        secret,
        one(TIMESTAMP_HEADER)?,
        one(SIGNATURE_HEADER)?,
        body,
        now_secs,
        window_secs,
    )?;
    Ok(Verified {
        replay_key: signature,
        scheme: Scheme::Own,
    })
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
    let ts = fresh(timestamp, now_secs, window_secs)?;
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

    #[test]
    fn a_header_given_twice_is_refused_and_the_scheme_follows_the_headers() {
        let body = br#"{"person_id":"p1"}"#;
        let mut headers = HeaderMap::new();
        headers.insert(TIMESTAMP_HEADER, NOW.to_string().parse().unwrap());
        headers.append(
            SIGNATURE_HEADER,
            sign(&secret(), NOW, body).parse().unwrap(),
        );
        let own = authenticate(&secret(), &headers, body, NOW, 300).unwrap();
        assert_eq!(own.scheme, Scheme::Own);
        headers.append(SIGNATURE_HEADER, "sha256=00".parse().unwrap());
        assert_eq!(
            authenticate(&secret(), &headers, body, NOW, 300),
            Err(Rejection::DuplicateHeader(SIGNATURE_HEADER))
        );
        let mut headers = HeaderMap::new();
        let sig = sw::sign(&secret(), "msg_1", NOW, body).unwrap();
        headers.insert(sw::ID_HEADER, "msg_1".parse().unwrap());
        headers.insert(sw::TIMESTAMP_HEADER, NOW.to_string().parse().unwrap());
        headers.insert(sw::SIGNATURE_HEADER, sig.parse().unwrap());
        let standard = authenticate(&secret(), &headers, body, NOW, 300).unwrap();
        assert_eq!(standard.replay_key, "whid:msg_1");
        headers.append(sw::ID_HEADER, "msg_2".parse().unwrap());
        assert_eq!(
            authenticate(&secret(), &headers, body, NOW, 300),
            Err(Rejection::DuplicateHeader(sw::ID_HEADER))
        );
    }
}
