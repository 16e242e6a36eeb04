//! Standard Webhooks through `serve` as a process, signed by the
//! `standardwebhooks` crate (the reference Rust sender): accepted, a
//! redelivery answered 2xx and recorded once, tampering, a wrong secret and a
//! stale timestamp refused; the service's own scheme still works beside it,
//! and its signature header given twice is refused.

use std::time::Duration;

use standardwebhooks::Webhook;
use unsubscribe_sync::api;

use crate::cli::{CONTACT, LEAD, seed, write_config};
use crate::support::emulator;
use crate::support::ledger::Ledger;
use crate::support::serve::{Server, agent, eventually, get, metric, now_secs, post, signature};

/// The example secret of the Standard Webhooks specification.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn send(url: &str, id: &str, ts: i64, sig: &str, body: &str) -> (u16, String) {
    let mut resp = agent()
        .post(url)
        .header("Content-Type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", &ts.to_string())
        .header("webhook-signature", sig)
        .send(body.as_bytes())
        .expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

#[test]
fn standard_webhooks_are_accepted_once_and_forgeries_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(seed());
    write_config(dir.path(), &emu, "");
    let server = Server::start_with_secret(dir.path(), &[], WHSEC);
    let url = format!("{}/v1/unsubscribes", server.base);
    let sender = Webhook::new(WHSEC).unwrap();

    let body =
        format!("{{\"person_id\":\"p-1\",\"salesforce_id\":\"{LEAD}\",\"source\":\"link\"}}");
    let ts = now_secs();
    let sig = sender.sign("msg_1", ts, body.as_bytes()).unwrap();
    let (status, answer) = send(&url, "msg_1", ts, &sig, &body);
    assert_eq!(status, 202, "{answer}\n{}", server.log());
    assert!(
        eventually(Duration::from_secs(15), || emu
            .record(LEAD)
            .unwrap()
            .has_opted_out_of_email),
        "the accepted event was not pushed\n{}",
        server.log()
    );

    // A redelivery: same ID, a new timestamp, signed again.
    let sig = sender.sign("msg_1", ts + 7, body.as_bytes()).unwrap();
    let (status, answer) = send(&url, "msg_1", ts + 7, &sig, &body);
    assert!((200..300).contains(&status), "{status} {answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert_eq!(answer["duplicate"], "msg_1", "{answer}");

    let other = format!("{{\"person_id\":\"p-2\",\"salesforce_id\":\"{CONTACT}\"}}");
    // Tampered: the signature of another body.
    let sig = sender.sign("msg_2", ts, body.as_bytes()).unwrap();
    let (status, answer) = send(&url, "msg_2", ts, &sig, &other);
    assert_eq!(status, 401, "{answer}");
    // Signed with another key.
    let stranger = Webhook::new("whsec_c29tZW9uZSBlbHNlJ3Mga2V5").unwrap();
    let sig = stranger.sign("msg_2", ts, other.as_bytes()).unwrap();
    let (status, answer) = send(&url, "msg_2", ts, &sig, &other);
    assert_eq!(status, 401, "{answer}");
    // Stale: correctly signed, outside the 5-minute window.
    let sig = sender.sign("msg_2", ts - 301, other.as_bytes()).unwrap();
    let (status, answer) = send(&url, "msg_2", ts - 301, &sig, &other);
    assert_eq!(status, 401, "{answer}");
    assert!(answer.contains("replay window"), "{answer}");

    // The service's own scheme keeps working with the same secret string,
    // and its signature header given twice is refused.
    let sig = signature(WHSEC, ts, &other);
    let mut resp = agent()
        .post(&url)
        .header("X-Timestamp", &ts.to_string())
        .header("X-Signature", &sig)
        .header("X-Signature", "sha256=00")
        .send(other.as_bytes())
        .expect("the server answers");
    assert_eq!(resp.status().as_u16(), 401);
    let answer = resp.body_mut().read_to_string().unwrap_or_default();
    assert!(answer.contains("more than once"), "{answer}");
    let (status, answer) = post(&url, &other, Some(ts), Some(&sig));
    assert_eq!(status, 202, "{answer}");
    assert!(eventually(Duration::from_secs(15), || emu
        .record(CONTACT)
        .unwrap()
        .has_opted_out_of_email));

    let (_, page) = get(&format!("{}/metrics", server.base));
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"accepted\"}"
        ),
        Some(2.0),
        "{page}"
    );
    assert_eq!(
        metric(
            &page,
            "unsubscribe_sync_webhooks_total{result=\"redelivered\"}"
        ),
        Some(1.0),
        "{page}"
    );
    assert_eq!(emu.call_counts().sobject_patch, 2, "{}", server.log());
    assert_eq!(server.terminate(Duration::from_secs(20)), Some(0));

    // The redelivered event was recorded once.
    let trail = Ledger::open(&dir.path().join("sync.db"))
        .audit("p-1")
        .expect("p-1 is recorded");
    let received = trail
        .entries
        .iter()
        .filter(|e| e.kind == api::AuditKind::Received)
        .count();
    assert_eq!(received, 1, "{trail:?}");
}
