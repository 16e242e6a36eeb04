//! Capability policy: pure checks on what the guest asks for, made before any
//! side effect and unit-tested here.
//!
//! Every value from the guest is treated as hostile: paths are checked to stay
//! relative to the org, headers the host owns are dropped, and sizes and
//! cursors are clamped to the limits in [`crate::limits`].

use crate::limits;

/// Why a request path was refused (the text of `http-error.denied`).
pub type Denial = String;

/// Checks a request path from the guest: it must be a path (and query)
/// relative to the org's instance, under `/services/`, with no way to name
/// another origin or climb out of it.
pub fn check_path(path: &str) -> Result<(), Denial> {
    if path.len() > limits::MAX_PATH_BYTES {
        return Err(format!(
            "the path is {} bytes long; the host accepts at most {}",
            path.len(),
            limits::MAX_PATH_BYTES
        ));
    }
    if path.contains("://") || path.starts_with("//") {
        return Err(format!(
            "`{}` names another origin; only paths relative to the org are allowed",
            shorten(path)
        ));
    }
    if !path.starts_with("/services/") {
        return Err(format!(
            "`{}` is not a path under /services/ relative to the org",
            shorten(path)
        ));
    }
    if let Some(c) = path
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '\\' | '#'))
    {
        return Err(format!(
            "`{}` contains the character {c:?}, which a path may not hold",
            shorten(path)
        ));
    }
    let (path_part, _query) = path.split_once('?').unwrap_or((path, ""));
    if path_part.contains('@') {
        return Err(format!("`{}` contains `@` in its path", shorten(path)));
    }
    // Every request of every call passes here, so the checks below scan the
    // bytes in place rather than building lower-cased copies.
    for segment in path_part.split('/') {
        if is_dot_segment(segment) {
            return Err(format!("`{}` contains a dot segment", shorten(path)));
        }
        if has_encoded_separator(segment.as_bytes()) {
            return Err(format!(
                "`{}` contains an encoded path separator",
                shorten(path)
            ));
        }
    }
    Ok(())
}

/// Whether a segment means `.` or `..` once `%2e` (any case) is decoded.
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        rest = match rest {
            [b'.', tail @ ..] => tail,
            [b'%', b'2', e, tail @ ..] if e.eq_ignore_ascii_case(&b'e') => tail,
            _ => return false,
        };
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

/// Whether the bytes hold `%2f` or `%5c` (any case): an encoded `/` or `\`.
fn has_encoded_separator(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| match w {
        [b'%', b'2', f] => f.eq_ignore_ascii_case(&b'f'),
        [b'%', b'5', c] => c.eq_ignore_ascii_case(&b'c'),
        _ => false,
    })
}

/// Checks that a `/services/data/vNN.N/...` path uses the API version the
/// host is configured for. Other paths pass.
pub fn check_api_version(path: &str, api_version: &str) -> Result<(), Denial> {
    let Some(rest) = path.strip_prefix("/services/data/v") else {
        return Ok(());
    };
    let version = rest.split(['/', '?']).next().unwrap_or("");
    if version.is_empty() || version == api_version {
        Ok(())
    } else {
        Err(format!(
            "`{}` uses API version v{version}; the connection is configured for v{api_version}",
            shorten(path)
        ))
    }
}

/// Headers the host sets itself (or that would change how the connection
/// behaves); the guest's values for them are dropped, as the WIT says.
const HOST_OWNED_HEADERS: &[&str] = &[
    "authorization",
    "host",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "cookie",
    "expect",
];

/// Filters the guest's headers: drops the ones the host owns, refuses names
/// that are not HTTP tokens and values with line breaks, and caps their
/// number and size.
pub fn filter_headers(headers: Vec<(String, String)>) -> Result<Vec<(String, String)>, Denial> {
    if headers.len() > limits::MAX_REQUEST_HEADERS {
        return Err(format!(
            "{} headers; the host accepts at most {}",
            headers.len(),
            limits::MAX_REQUEST_HEADERS
        ));
    }
    let total: usize = headers.iter().map(|(n, v)| n.len() + v.len()).sum();
    if total > limits::MAX_REQUEST_HEADER_BYTES {
        return Err(format!(
            "headers of {total} bytes; the host accepts at most {}",
            limits::MAX_REQUEST_HEADER_BYTES
        ));
    }
    let mut kept = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!("header name {name:?} is not a valid HTTP token"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!(
                "the value of header `{name}` contains a line break"
            ));
        }
        if HOST_OWNED_HEADERS
            .iter()
            .any(|owned| owned.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        kept.push((name, value));
    }
    Ok(kept)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks the size of a request body from the guest.
pub fn check_request_body(len: usize) -> Result<(), Denial> {
    if len > limits::MAX_REQUEST_BODY_BYTES {
        return Err(format!(
            "a request body of {len} bytes; the host accepts at most {}",
            limits::MAX_REQUEST_BODY_BYTES
        ));
    }
    Ok(())
}

/// Checks a storage key: non-empty (except as a prefix) and within the size cap.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.len() > limits::MAX_KEY_BYTES {
        return Err(format!(
            "a key of {} bytes; the host accepts at most {}",
            key.len(),
            limits::MAX_KEY_BYTES
        ));
    }
    Ok(())
}

/// Checks a storage value's size.
pub fn check_value(key: &str, len: usize) -> Result<(), String> {
    if len > limits::MAX_VALUE_BYTES {
        return Err(format!(
            "the value for key `{}` is {len} bytes; the host accepts at most {}",
            shorten(key),
            limits::MAX_VALUE_BYTES
        ));
    }
    Ok(())
}

/// Clamps a page size asked for by the guest to `1..=MAX_PAGE_ENTRIES`.
/// A limit of 0 is served as 1 so that a paging loop always advances.
pub fn clamp_page(limit: u32) -> usize {
    (limit as usize).clamp(1, limits::MAX_PAGE_ENTRIES)
}

/// Checks an origin string from the configuration: `https://host[:port]`,
/// or `http://` only for a loopback host (the bundled emulator, tests).
/// Returns the normalized origin (no trailing slash, lower-case scheme/host).
/// A refusal names what is wrong, never the value.
pub fn normalize_origin(url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    let (scheme, rest) = trimmed
        .split_once("://")
        .ok_or_else(|| "is not an absolute URL (expected https://host)".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err("must be an origin only (scheme and host, no path, query or user)".to_string());
    }
    let host = host_of(rest);
    match scheme.as_str() {
        "https" => {}
        "http" if is_loopback_host(&host) => {}
        "http" => {
            return Err(
                "uses plain http; only https is allowed (http only on loopback)".to_string(),
            );
        }
        // The value is never echoed: a config error may be shown anywhere.
        _ => return Err("has a scheme other than https".to_string()),
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

fn host_of(authority: &str) -> String {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_ascii_lowercase();
    }
    authority
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(authority)
        .to_ascii_lowercase()
}

/// True for `localhost`, `127.x.y.z` and `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

fn shorten(s: &str) -> String {
    const MAX: usize = 120;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// Cuts a message from the component to the cap (on a character boundary) and escapes control
/// characters, so a message is always one line of bounded size.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(limits::MAX_LOG_MESSAGE_BYTES));
    for c in message.chars() {
        if out.len() >= limits::MAX_LOG_MESSAGE_BYTES {
            out.push_str("...(cut)");
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The segment checks as first written (lower-cased copies, `replace`):
    /// the reference the in-place scans must agree with.
    fn segment_checks_reference(path_part: &str) -> Option<&'static str> {
        for segment in path_part.split('/') {
            let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
            if decoded == "." || decoded == ".." {
                return Some("dot");
            }
            if segment.to_ascii_lowercase().contains("%2f")
                || segment.to_ascii_lowercase().contains("%5c")
            {
                return Some("separator");
            }
        }
        None
    }

    #[test]
    fn in_place_segment_checks_agree_with_the_reference_on_every_short_path() {
        // Every string of up to 5 characters over the bytes that matter, as
        // the last segments of a path.
        let alphabet = [".", "%", "2", "e", "E", "f", "F", "5", "c", "C", "/", "a"];
        let mut tails = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            frontier = frontier
                .iter()
                .flat_map(|t| alphabet.iter().map(move |a| format!("{t}{a}")))
                .collect();
            tails.extend(frontier.iter().cloned());
        }
        for tail in tails {
            let path = format!("/services/data/{tail}");
            let fast = check_path(&path).err().map(|e| {
                if e.contains("dot segment") {
                    "dot"
                } else if e.contains("encoded path separator") {
                    "separator"
                } else {
                    panic!("{path}: unexpected denial {e}")
                }
            });
            assert_eq!(fast, segment_checks_reference(&path), "{path}");
        }
    }

    #[test]
    fn accepts_org_relative_paths() {
        for p in [
            "/services/data/v62.0/sobjects/Lead/00Q5e00000AbCdEEAV",
            "/services/data/v62.0/query?q=SELECT+Id+FROM+Lead+WHERE+Id+IN+('a')",
            "/services/data/v62.0/jobs/ingest/7505e00000AaBbCAAV/batches",
            "/services/data/",
        ] {
            assert_eq!(check_path(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn refuses_other_origins_and_escapes() {
        for p in [
            "https://evil.example/x",
            "//evil.example/services/data",
            "http://localhost/services/",
            "/services/../etc/passwd",
            "/services/data/%2e%2e/x",
            "/services/data/%2E%2e/x",
            "/services/data/a%2fb",
            "/services/data/v62.0/x y",
            "/services/data\\x",
            "/services/data/v62.0/x#frag",
            "/services/@evil.example/x",
            "services/data",
            "/other/path",
            "",
            "/services/data/v62.0/sobjects\r\nHost: evil",
        ] {
            assert!(check_path(p).is_err(), "{p:?} should be refused");
        }
        let long = format!("/services/{}", "a".repeat(limits::MAX_PATH_BYTES));
        assert!(check_path(&long).unwrap_err().contains("at most"));
    }

    #[test]
    fn api_version_must_match_the_connection() {
        assert!(check_api_version("/services/data/v62.0/sobjects/Lead/x", "62.0").is_ok());
        assert!(check_api_version("/services/data/", "62.0").is_ok());
        assert!(check_api_version("/services/async/x", "62.0").is_ok());
        let e = check_api_version("/services/data/v55.0/query?q=x", "62.0").unwrap_err();
        assert!(e.contains("v55.0") && e.contains("v62.0"), "{e}");
    }

    #[test]
    fn host_owned_headers_are_dropped_and_bad_ones_refused() {
        let kept = filter_headers(vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), "Bearer stolen".into()),
            ("host".into(), "evil.example".into()),
            ("Transfer-Encoding".into(), "chunked".into()),
            ("Sforce-Query-Options".into(), "batchSize=200".into()),
        ])
        .unwrap();
        assert_eq!(
            kept,
            vec![
                ("Content-Type".to_string(), "application/json".to_string()),
                (
                    "Sforce-Query-Options".to_string(),
                    "batchSize=200".to_string()
                ),
            ]
        );
        assert!(filter_headers(vec![("X-A".into(), "a\r\nInjected: 1".into())]).is_err());
        assert!(filter_headers(vec![("Bad Name".into(), "x".into())]).is_err());
        let many = (0..=limits::MAX_REQUEST_HEADERS)
            .map(|i| (format!("X-{i}"), "v".to_string()))
            .collect();
        assert!(filter_headers(many).is_err());
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(clamp_page(0), 1);
        assert_eq!(clamp_page(10), 10);
        assert_eq!(clamp_page(u32::MAX), limits::MAX_PAGE_ENTRIES);
    }

    #[test]
    fn storage_sizes_are_capped() {
        assert!(check_key(&"k".repeat(limits::MAX_KEY_BYTES)).is_ok());
        assert!(check_key(&"k".repeat(limits::MAX_KEY_BYTES + 1)).is_err());
        assert!(check_value("k", limits::MAX_VALUE_BYTES).is_ok());
        assert!(check_value("k", limits::MAX_VALUE_BYTES + 1).is_err());
    }

    #[test]
    fn origins_must_be_https_or_loopback_http() {
        assert_eq!(
            normalize_origin("https://Acme.my.salesforce.com/").unwrap(),
            "https://acme.my.salesforce.com"
        );
        assert_eq!(
            normalize_origin("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_origin("http://localhost:1").is_ok());
        assert!(normalize_origin("http://[::1]:1").is_ok());
        assert!(normalize_origin("http://acme.my.salesforce.com").is_err());
        assert!(normalize_origin("https://acme.my.salesforce.com/services").is_err());
        assert!(normalize_origin("https://user@acme.example").is_err());
        assert!(normalize_origin("ftp://x").is_err());
        assert!(normalize_origin("acme.example").is_err());
    }
}
