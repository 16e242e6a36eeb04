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

#[derive(Deserialize)]
#[serde(untagged)]
enum TimeInput {
    Millis(i64),
    Text(String),
}

fn parse_time(t: Option<TimeInput>, now_ms: i64, what: &str) -> Result<i64, String> {
    match t {
        None => Ok(now_ms),
        Some(TimeInput::Millis(ms)) => Ok(ms),
        Some(TimeInput::Text(s)) if s.trim().is_empty() => Ok(now_ms),
        Some(TimeInput::Text(s)) => {
            if let Ok(ms) = s.trim().parse::<i64>() {
                return Ok(ms);
            }
            chrono::DateTime::parse_from_rfc3339(s.trim())
                .map(|t| t.timestamp_millis())
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

/// Parses one unsubscribe from JSON.
pub fn unsubscribe_from_json(
    text: &str,
    now_ms: i64,
    default_source: &str,
) -> Result<api::UnsubscribeEvent, String> {
    let i: UnsubscribeInput =
        serde_json::from_str(text).map_err(|e| format!("not an unsubscribe event: {e}"))?;
    Ok(api::UnsubscribeEvent {
        person_id: i.person_id,
        salesforce_id: non_empty(i.salesforce_id),
        email: non_empty(i.email),
        source: non_empty(i.source).unwrap_or_else(|| default_source.to_string()),
        occurred_at: parse_time(i.occurred_at, now_ms, "occurred_at")?,
    })
}

/// Parses one re-subscribe from JSON.
pub fn resubscribe_from_json(
    text: &str,
    now_ms: i64,
    default_source: &str,
) -> Result<api::ResubscribeEvent, String> {
    let i: ResubscribeInput =
        serde_json::from_str(text).map_err(|e| format!("not a re-subscribe event: {e}"))?;
    Ok(api::ResubscribeEvent {
        person_id: i.person_id,
        source: non_empty(i.source).unwrap_or_else(|| default_source.to_string()),
        occurred_at: parse_time(i.occurred_at, now_ms, "occurred_at")?,
    })
}

/// The text of an event: the argument itself, a file, or stdin (`-` or no
/// argument).
pub fn read_event_text(arg: Option<&str>, file: Option<&Path>) -> Result<String, String> {
    match (arg, file) {
        (Some(_), Some(_)) => Err("give the event as an argument or with --file, not both".into()),
        (_, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| format!("--file {}: {e}", path.display()))
        }
        (Some(text), None) if text != "-" => Ok(text.to_string()),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .take(1 << 20)
                .read_to_string(&mut s)
                .map_err(|e| format!("reading the event from stdin: {e}"))?;
            if s.trim().is_empty() {
                return Err("no event given: pass it as JSON, with --file, or on stdin".into());
            }
            Ok(s)
        }
    }
}

/// One parsed line of an import; `Err` carries the line number and why.
pub type ImportLine = Result<api::UnsubscribeEvent, (usize, String)>;

/// Parses JSON lines (one unsubscribe per line; blank lines skipped).
pub fn parse_jsonl(text: &str, now_ms: i64) -> Vec<ImportLine> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| unsubscribe_from_json(l, now_ms, "import").map_err(|e| (i + 1, e)))
        .collect()
}

/// Parses CSV with a header row naming the columns `person_id` (required),
/// `salesforce_id`, `email`, `source`, `occurred_at`.
pub fn parse_csv(text: &str, now_ms: i64) -> Result<Vec<ImportLine>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("CSV header: {e}"))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let person = col("person_id").ok_or("the CSV header has no person_id column")?;
    let known = [
        "person_id",
        "salesforce_id",
        "email",
        "source",
        "occurred_at",
    ];
    if let Some(unknown) = headers
        .iter()
        .find(|h| !known.iter().any(|k| k.eq_ignore_ascii_case(h)))
    {
        return Err(format!(
            "the CSV header has an unknown column {unknown:?} (expected {})",
            known.join(", ")
        ));
    }
    let (sfid, email, source, at) = (
        col("salesforce_id"),
        col("email"),
        col("source"),
        col("occurred_at"),
    );
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.push(Err((line, format!("CSV: {e}"))));
                continue;
            }
        };
        let get = |c: Option<usize>| c.and_then(|c| record.get(c)).map(str::to_string);
        let event =
            parse_time(get(at).map(TimeInput::Text), now_ms, "occurred_at").map(|occurred_at| {
                api::UnsubscribeEvent {
                    person_id: get(Some(person)).unwrap_or_default(),
                    salesforce_id: non_empty(get(sfid)),
                    email: non_empty(get(email)),
                    source: non_empty(get(source)).unwrap_or_else(|| "import".into()),
                    occurred_at,
                }
            });
        out.push(event.map_err(|e| (line, e)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_take_defaults_and_both_time_forms() {
        let e = unsubscribe_from_json(r#"{"person_id":"p1"}"#, 5, "cli").unwrap();
        assert_eq!(
            (e.person_id.as_str(), e.source.as_str(), e.occurred_at),
            ("p1", "cli", 5)
        );
        assert_eq!(e.salesforce_id, None);
        let e = unsubscribe_from_json(
            r#"{"person_id":"p1","salesforce_id":"00Q5e00000AbCdEEAV","occurred_at":"2025-07-08T10:00:00Z"}"#,
            5,
            "cli",
        )
        .unwrap();
        assert_eq!(e.occurred_at, 1_751_968_800_000);
        assert!(unsubscribe_from_json(r#"{"person":"p1"}"#, 5, "cli").is_err());
        assert!(
            unsubscribe_from_json(r#"{"person_id":"p1","occurred_at":"yesterday"}"#, 5, "cli")
                .is_err()
        );
    }

    #[test]
    fn csv_and_jsonl_imports_report_bad_lines_by_number() {
        let csv =
            "person_id,salesforce_id,occurred_at\np1,00Q5e00000AbCdEEAV,1000\np2,,not-a-time\n";
        let lines = parse_csv(csv, 7).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].as_ref().unwrap().occurred_at, 1000);
        assert_eq!(lines[1].as_ref().unwrap_err().0, 3);
        assert!(
            parse_csv("email\nx@y\n", 0)
                .unwrap_err()
                .contains("person_id")
        );
        let jl = "{\"person_id\":\"a\"}\n\n{\"nope\":1}\n";
        let lines = parse_jsonl(jl, 0);
        assert!(lines[0].is_ok());
        assert_eq!(lines[1].as_ref().unwrap_err().0, 3);
    }
}
