//! Timestamps in Salesforce's wire format: `2025-07-08T10:00:00.000+0000`.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Formats epoch milliseconds as `2025-07-08T10:00:00.000+0000` (UTC, millisecond
/// precision, `+0000` offset without a colon, as Salesforce writes it).
pub fn format_sf(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string(),
        None => "1970-01-01T00:00:00.000+0000".to_owned(),
    }
}

/// Parses `2025-07-08T10:00:00.000+0000` (or RFC 3339 such as `...Z`) to epoch ms.
pub fn parse_sf(text: &str) -> Option<i64> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses an HTTP date (`Tue, 01 Jul 2025 00:00:00 GMT`) to epoch ms.
pub fn parse_http_date(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Formats epoch ms as an HTTP date (`Tue, 01 Jul 2025 00:00:00 GMT`).
pub fn format_http_date(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        None => "Thu, 01 Jan 1970 00:00:00 GMT".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ms = parse_sf("2025-07-08T10:00:00.000+0000").unwrap();
        assert_eq!(format_sf(ms), "2025-07-08T10:00:00.000+0000");
        assert_eq!(format_sf(ms + 41_000), "2025-07-08T10:00:41.000+0000");
        let http = parse_http_date("Tue, 01 Jul 2025 00:00:00 GMT").unwrap();
        assert_eq!(format_http_date(http), "Tue, 01 Jul 2025 00:00:00 GMT");
    }
}
