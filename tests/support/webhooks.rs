//! Webhook events as the sales app sends them to `serve`, and a sender that
//! signs them (with [`super::serve::signature`], computed independently of
//! the host) over one keep-alive connection and reports exactly what the
//! service answered, including no answer at all (a killed service).

use std::time::Duration;

use super::serve::{WEBHOOK_SECRET, now_secs, signature};

/// What an event asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `POST /v1/unsubscribes`.
    Unsubscribe,
    /// `POST /v1/resubscribes`.
    Resubscribe,
}

/// One event of the sales app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// Unsubscribe or re-subscribe.
    pub kind: Kind,
    /// The app's person ID.
    pub person_id: String,
    /// The Salesforce ID sent with an unsubscribe, if any.
    pub salesforce_id: Option<String>,
    /// When the app collected it (ms); also what identifies the event in the
    /// person's audit trail (`occurred-at=...`).
    pub occurred_at: i64,
}

impl Event {
    /// An unsubscribe.
    pub fn unsubscribe(person_id: &str, salesforce_id: Option<&str>, occurred_at: i64) -> Event {
        Event {
            kind: Kind::Unsubscribe,
            person_id: person_id.to_string(),
            salesforce_id: salesforce_id.map(str::to_string),
            occurred_at,
        }
    }

    /// A re-subscribe.
    pub fn resubscribe(person_id: &str, occurred_at: i64) -> Event {
        Event {
            kind: Kind::Resubscribe,
            person_id: person_id.to_string(),
            salesforce_id: None,
            occurred_at,
        }
    }

    /// The webhook's path.
    pub fn path(&self) -> &'static str {
        match self.kind {
            Kind::Unsubscribe => "/v1/unsubscribes",
            Kind::Resubscribe => "/v1/resubscribes",
        }
    }

    /// The JSON body, as the app sends it.
    pub fn body(&self) -> String {
        match self.kind {
            Kind::Unsubscribe => {
                let mut v = serde_json::json!({
                    "person_id": self.person_id,
                    "email": format!("{}@example.com", self.person_id),
                    "source": "link",
                    "occurred_at": self.occurred_at,
                });
                if let Some(id) = &self.salesforce_id {
                    v["salesforce_id"] = id.clone().into();
                }
                v.to_string()
            }
            Kind::Resubscribe => serde_json::json!({
                "person_id": self.person_id,
                "source": "preference-center",
                "occurred_at": self.occurred_at,
            })
            .to_string(),
        }
    }

    /// The `detail` the component's audit trail gives this event's entry
    /// starts with (`received` or `resubscribed`).
    pub fn audit_detail_prefix(&self) -> String {
        let source = match self.kind {
            Kind::Unsubscribe => "link",
            Kind::Resubscribe => "preference-center",
        };
        format!("source={source} occurred-at={}", self.occurred_at)
    }
}

/// What the service answered to one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP status and body.
    Status(u16, String),
    /// No answer: connection refused or reset (the service is down).
    NoAnswer(String),
}

impl Answer {
    /// The service acknowledged the event (202: recorded durably).
    pub fn accepted(&self) -> bool {
        matches!(self, Answer::Status(202, _))
    }
}

/// Signs and posts events over one keep-alive connection.
pub struct Sender {
    agent: ureq::Agent,
}

impl Default for Sender {
    fn default() -> Self {
        Sender::new()
    }
}

impl Sender {
    /// A sender with a 30 s timeout per request.
    pub fn new() -> Sender {
        Sender {
            agent: ureq::Agent::new_with_config(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(30)))
                    .build(),
            ),
        }
    }

    /// Posts `event` to the service at `base`, signed now.
    pub fn send(&self, base: &str, event: &Event) -> Answer {
        self.send_signed_at(base, event, now_secs())
    }

    /// Signs `event` with the timestamp `ts` (Unix seconds) and posts it.
    /// A resend of the same body must use another timestamp, so that it
    /// carries another signature and is not refused as a replay.
    pub fn send_signed_at(&self, base: &str, event: &Event, ts: i64) -> Answer {
        let body = event.body();
        let sig = signature(WEBHOOK_SECRET, ts, &body);
        let sent = self
            .agent
            .post(&format!("{base}{}", event.path()))
            .header("Content-Type", "application/json")
            .header("X-Timestamp", &ts.to_string())
            .header("X-Signature", &sig)
            .send(body.as_bytes());
        match sent {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                Answer::Status(status, text)
            }
            Err(e) => Answer::NoAnswer(e.to_string()),
        }
    }
}
