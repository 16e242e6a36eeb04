//! Reading events: one JSON object (an argument, a file or stdin) for `push`
//! and `resubscribe` and the webhook bodies, CSV or JSON lines for `import`.
//!
//! An unsubscribe is `{"person_id": "...", "salesforce_id": "00Q...",
//! "email": "...", "source": "link", "occurred_at": ...}`; only `person_id`
//! is required. `occurred_at` is milliseconds since the epoch or an RFC 3339
//! time and defaults to now; `source` defaults to the command's name.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::api;

/// The largest event accepted: a `push`/`resubscribe` argument, file or
/// stdin, and one line (or CSV record) of an import. A real event is a few
/// hundred bytes; this bound keeps a hostile one from costing memory.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// Longest person ID accepted, in characters (the WIT contract's bound; the
/// component checks it again).
const MAX_PERSON_ID_CHARS: usize = 255;

/// `occurred_at` as sent: milliseconds since the epoch or text (RFC 3339,
/// or milliseconds as a string). Anything else (a fraction, a number out of
/// range, a boolean, an object) is refused with a message naming the field.
enum TimeInput {
    Millis(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for TimeInput {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = TimeInput;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("milliseconds since 1970 (an integer) or an RFC 3339 time")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<TimeInput, E> {
                Ok(TimeInput::Millis(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<TimeInput, E> {
                i64::try_from(v).map(TimeInput::Millis).map_err(|_| {
                    E::custom(format!(
                        "{v} is out of range: milliseconds since 1970 must fit in 64 signed bits"
                    ))
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<TimeInput, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number of milliseconds since 1970 (nor an RFC 3339 time)"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<TimeInput, E> {
                Ok(TimeInput::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// An event time as sent: none when missing, `null` or empty (the component
/// then takes the time the host received the event: it owns that rule, and
/// the one for implausible times).
fn parse_time(t: Option<TimeInput>, what: &str) -> Result<Option<i64>, String> {
    match t {
        None => Ok(None),
        Some(TimeInput::Millis(ms)) => Ok(Some(ms)),
        Some(TimeInput::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(TimeInput::Text(s)) => {
            if let Ok(ms) = s.trim().parse::<i64>() {
                return Ok(Some(ms));
            }
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map(|t| Some(t.timestamp_millis()))
                .map_err(|_| {
                    format!("{what}: {s:?} is neither milliseconds since 1970 nor an RFC 3339 time")
                })
        }
    }
}

/// An unsubscribe as the CLI and the webhook accept it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsubscribeInput {
    person_id: String,
    #[serde(default)]
    salesforce_id: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    occurred_at: Option<TimeInput>,
}

/// A re-subscribe as the CLI and the webhook accept it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResubscribeInput {
    person_id: String,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    occurred_at: Option<TimeInput>,
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Parses one JSON object into `T`. Refuses, with a message that names the
/// problem (and the field, when one is at fault): an empty text, anything
/// but an object (serde would otherwise take an array for a struct), a
/// duplicated or unknown field, a wrong type, trailing data. Nesting is
/// bounded by serde_json's recursion limit, so a deeply nested body is an
/// error, never a stack overflow.
fn parse_object<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, String> {
    let trimmed = text.trim_start();
    if trimmed.trim_end().is_empty() {
        return Err(format!(
            "not {what}: the event is empty; expected a JSON object such as {{\"person_id\": \"p-42\"}}"
        ));
    }
    if !trimmed.starts_with('{') {
        let got = match trimmed.as_bytes()[0] {
            b'[' => "an array",
            b'"' => "a string",
            b'n' if trimmed.starts_with("null") => "null",
            b't' | b'f' if trimmed.starts_with("true") || trimmed.starts_with("false") => {
                "a boolean"
            }
            b'-' | b'0'..=b'9' => "a number",
            _ => "something that is not JSON",
        };
        return Err(format!("not {what}: expected a JSON object, got {got}"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            format!("not {what}: {inner}")
        } else {
            format!("not {what}: {path}: {inner}")
        }
    })?;
    de.end().map_err(|e| format!("not {what}: {e}"))?;
    Ok(value)
}

/// The WIT contract's person ID: 1 to 255 characters, no control
/// characters. Checked at the door so the webhook answers 400 instead of
/// accepting an event the component would refuse.
fn check_person_id(person_id: &str) -> Result<(), String> {
    if person_id.is_empty() {
        return Err("person_id is empty".into());
    }
    let chars = person_id.chars().count();
    if chars > MAX_PERSON_ID_CHARS {
        return Err(format!(
            "person_id is longer than {MAX_PERSON_ID_CHARS} characters ({chars})"
        ));
    }
    if let Some(c) = person_id.chars().find(|c| c.is_control()) {
        return Err(format!(
            "person_id contains control characters ({})",
            c.escape_unicode()
        ));
    }
    Ok(())
}

/// A person ID as sent, without surrounding ASCII whitespace (what CSV
/// import does with every value, so a person is the same person whichever
/// way their events arrive), checked against the contract.
pub(crate) fn person_id_from(raw: String) -> Result<String, String> {
    let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
    let person_id = if trimmed.len() == raw.len() {
        raw
    } else {
        trimmed.to_string()
    };
    check_person_id(&person_id)?;
    Ok(person_id)
}

/// Parses one unsubscribe from JSON, received at `received_ms`.
pub fn unsubscribe_from_json(
    text: &str,
    received_ms: i64,
    default_source: &str,
) -> Result<api::UnsubscribeEvent, String> {
    let i: UnsubscribeInput = parse_object(text, "an unsubscribe event")?;
    Ok(api::UnsubscribeEvent {
        person_id: person_id_from(i.person_id)?,
        salesforce_id: non_empty(i.salesforce_id),
        email: non_empty(i.email),
        source: non_empty(i.source).unwrap_or_else(|| default_source.to_string()),
        occurred_at: parse_time(i.occurred_at, "occurred_at")?,
        received_at: received_ms,
    })
}

/// Parses one re-subscribe from JSON, received at `received_ms`.
pub fn resubscribe_from_json(
    text: &str,
    received_ms: i64,
    default_source: &str,
) -> Result<api::ResubscribeEvent, String> {
    let i: ResubscribeInput = parse_object(text, "a re-subscribe event")?;
    Ok(api::ResubscribeEvent {
        person_id: person_id_from(i.person_id)?,
        source: non_empty(i.source).unwrap_or_else(|| default_source.to_string()),
        occurred_at: parse_time(i.occurred_at, "occurred_at")?,
        received_at: received_ms,
    })
}

/// Checks an event's raw bytes: at most [`MAX_EVENT_BYTES`], UTF-8.
fn event_text(bytes: Vec<u8>, from: &str) -> Result<String, String> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(format!(
            "the event {from} is larger than {} MiB; an event is one small JSON object",
            MAX_EVENT_BYTES >> 20
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "the event {from} is not UTF-8 (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// What `push` and `resubscribe` say when run on a terminal with no event.
pub const NO_EVENT_ON_TERMINAL: &str = "no event given: pass it as JSON, for example \
'{\"person_id\": \"p-1\", \"salesforce_id\": \"00Q5e00000AbCdEEAV\"}', or name a file with --file, \
or pipe it on stdin (use `-` to type it on the terminal, ending with Ctrl-D)";

/// The text of an event: the argument itself, a file, or stdin (`-` or no
/// argument; with no argument, not a terminal). Each is refused when larger
/// than [`MAX_EVENT_BYTES`] or not UTF-8.
pub fn read_event_text(arg: Option<&str>, file: Option<&Path>) -> Result<String, String> {
    match (arg, file) {
        (Some(_), Some(_)) => Err("give the event as an argument or with --file, not both".into()),
        (_, Some(path)) => {
            let from = format!("in --file {}", path.display());
            let f =
                std::fs::File::open(path).map_err(|e| format!("--file {}: {e}", path.display()))?;
            let mut bytes = Vec::new();
            f.take(MAX_EVENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("--file {}: {e}", path.display()))?;
            event_text(bytes, &from)
        }
        (Some(text), None) if text != "-" => event_text(text.as_bytes().to_vec(), "argument"),
        (arg, None) => {
            // Waiting on a terminal for input nobody knows is expected looks
            // like a hang; `-` asks for stdin explicitly and still waits.
            if arg.is_none() && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(NO_EVENT_ON_TERMINAL.into());
            }
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_EVENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("reading the event from stdin: {e}"))?;
            let s = event_text(bytes, "on stdin")?;
            if s.trim().is_empty() {
                return Err(
                    "no event given: stdin is empty; pass the event as JSON, with --file, or on stdin"
                        .into(),
                );
            }
            Ok(s)
        }
    }
}

/// An unsubscribe from the text fields of an import record (a CSV row):
/// the person ID checked, `occurred_at` parsed (empty: none, so the time
/// received stands in), blank values
/// dropped, the source defaulting to `import`.
pub(crate) fn unsubscribe_from_fields(
    person_id: String,
    salesforce_id: Option<String>,
    email: Option<String>,
    source: Option<String>,
    occurred_at: Option<String>,
    received_ms: i64,
) -> Result<api::UnsubscribeEvent, String> {
    let person_id = person_id_from(person_id)?;
    let occurred_at = parse_time(occurred_at.map(TimeInput::Text), "occurred_at")?;
    Ok(api::UnsubscribeEvent {
        person_id,
        salesforce_id: non_empty(salesforce_id),
        email: non_empty(email),
        source: non_empty(source).unwrap_or_else(|| "import".into()),
        occurred_at,
        received_at: received_ms,
    })
}

#[cfg(test)]
mod tests;
