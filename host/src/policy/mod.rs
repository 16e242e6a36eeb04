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
mod tests;
