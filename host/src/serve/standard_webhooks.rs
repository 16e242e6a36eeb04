//! [Standard Webhooks](https://www.standardwebhooks.com/) signatures, accepted
//! beside the service's own `X-Timestamp`/`X-Signature` scheme:
//!
//! ```text
//! webhook-id: <the message ID, the same on every redelivery>
//! webhook-timestamp: <Unix time in seconds>
//! webhook-signature: v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)> [v1,<...> ...]
//! ```
//!
//! The key is the base64 after `whsec_` when the configured secret has that
//! prefix (as Standard Webhooks senders hand it out), else the secret's bytes.
//! Any `v1` entry may match (senders list several while rotating keys); each
//! is compared in constant time. The timestamp is checked against the same
//! replay window as the service's own scheme ([`super::refusal::fresh`]).
//!
//! Verified here with our own `hmac` + `sha2` and `base64` 0.22 rather than
//! the `standardwebhooks` crate: that crate fixes its tolerance at 5 minutes
//! and reads the system clock itself (we have one configured window), and it
//! would link a second HMAC-SHA256 (`hmac-sha256`), a third `base64` (0.21) and
//! `time`. The tests use it as the sender.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::refusal::{Rejection, fresh};
use crate::Secret;

/// The message ID header.
pub const ID_HEADER: &str = "webhook-id";
/// The timestamp header.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of a base64 Standard Webhooks secret.
const SECRET_PREFIX: &str = "whsec_";
/// The longest message ID taken: IDs are remembered (against redeliveries),
/// so their size is bounded. Standard Webhooks IDs are short (`msg_<ksuid>`).
const MAX_ID_LEN: usize = 256;

/// The HMAC key of a configured secret.
fn key(secret: &Secret) -> Result<Vec<u8>, Rejection> {
    let text = secret.expose();
    match text.strip_prefix(SECRET_PREFIX) {
        // A secret we cannot decode is the operator's mistake, but every
        // request is then refused: say so in the answer and the log.
        Some(b64) => STANDARD
            .decode(b64.trim())
            .map_err(|_| Rejection::BadSecret),
        None => Ok(text.as_bytes().to_vec()),
    }
}

fn mac(key: &[u8], id: &str, ts: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a message (one `v1` entry).
pub fn sign(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> Result<String, Rejection> {
    let tag = mac(&key(secret)?, id, timestamp, body)
        .finalize()
        .into_bytes();
    Ok(format!("v1,{}", STANDARD.encode(tag)))
}

/// Checks a Standard Webhooks request. Returns the message ID (to answer a
/// redelivery once).
pub fn verify(
    secret: &Secret,
    id: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
    window_secs: u64,
) -> Result<String, Rejection> {
    let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
        return Err(Rejection::Unsigned);
    };
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(Rejection::BadId);
    }
    let ts = fresh(timestamp, now_secs, window_secs)?;
    let expected = mac(&key(secret)?, id, ts, body);
    let matched = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .filter_map(|(_, b64)| STANDARD.decode(b64).ok())
        // `verify_slice` compares in constant time.
        .any(|given| expected.clone().verify_slice(&given).is_ok());
    if matched {
        Ok(id.to_string())
    } else {
        Err(Rejection::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_751_968_800;
    // The example secret of the Standard Webhooks specification.
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn the_specification_example_verifies() {
        // From the Standard Webhooks specification's test vectors.
        let secret = Secret::new(WHSEC);
        let body = br#"{"test": 2432232314}"#;
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert_eq!(sign(&secret, id, 1614265330, body).unwrap(), sig);
        let ts = "1614265330";
        assert_eq!(
            verify(
                &secret,
                Some(id),
                Some(ts),
                Some(sig),
                body,
                1614265330,
                300
            ),
            Ok(id.to_string())
        );
    }

    #[test]
    fn any_entry_may_match_and_forgeries_fail() {
        let secret = Secret::new(WHSEC);
        let body = br#"{"person_id":"p1"}"#;
        let ts = NOW.to_string();
        let good = sign(&secret, "msg_1", NOW, body).unwrap();
        let other = sign(&Secret::new("whsec_b3RoZXI="), "msg_1", NOW, body).unwrap();
        let both = format!("{other} v2,abc {good}");
        let check = |id, sig: &str, body: &[u8]| {
            verify(&secret, Some(id), Some(&ts), Some(sig), body, NOW, 300)
        };
        assert_eq!(check("msg_1", &both, body), Ok("msg_1".into()));
        assert_eq!(check("msg_1", &other, body), Err(Rejection::BadSignature));
        assert_eq!(check("msg_2", &good, body), Err(Rejection::BadSignature));
        assert_eq!(check("msg_1", &good, b"{}"), Err(Rejection::BadSignature));
        assert_eq!(check("msg_1", "v1,!!", body), Err(Rejection::BadSignature));
        assert_eq!(check("", &good, body), Err(Rejection::BadId));
        assert_eq!(
            verify(&secret, Some("msg_1"), None, Some(&good), body, NOW, 300),
            Err(Rejection::Unsigned)
        );
        let stale = verify(
            &secret,
            Some("msg_1"),
            Some(&ts),
            Some(&good),
            body,
            NOW + 301,
            300,
        );
        assert_eq!(stale, Err(Rejection::Stale { skew_secs: 301 }));
        assert_eq!(
            sign(&Secret::new("whsec_not base64!"), "m", NOW, body),
            Err(Rejection::BadSecret)
        );
    }
}
