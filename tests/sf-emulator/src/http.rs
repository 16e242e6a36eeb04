//! Transport-neutral request and response values, and URL/form decoding.
//!
//! Handlers take a fully read [`Req`] and return a [`Resp`]; only `server.rs` touches hyper.

use bytes::Bytes;
use hyper::HeaderMap;

use crate::error::ApiError;

/// A request with its body already read.
#[derive(Debug, Clone)]
pub struct Req {
    /// Upper-case method (`GET`, `PATCH`, ...), after any `_HttpMethod` override.
    pub method: String,
    /// Path without query string (percent-encoded as received).
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

impl Req {
    /// A header value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first query parameter with this name, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .as_deref()
            .and_then(|q| {
                parse_form(q.as_bytes())
                    .into_iter()
                    .find(|(k, _)| k == name)
            })
            .map(|(_, v)| v)
    }

    /// Path plus query string, as logged.
    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{}", self.path, q),
            None => self.path.clone(),
        }
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Bytes,
}

/// Salesforce's JSON content type.
pub const JSON: &str = "application/json;charset=UTF-8";

impl Resp {
    /// A JSON response from bytes.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Resp {
        Resp {
            status,
            headers: vec![("content-type", JSON.to_owned())],
            body: Bytes::from(body),
        }
    }

    /// A JSON response from a serialisable value.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Resp {
        Resp::json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
    }

    /// A CSV response.
    pub fn csv(status: u16, body: Vec<u8>) -> Resp {
        Resp {
            status,
            headers: vec![("content-type", "text/csv".to_owned())],
            body: Bytes::from(body),
        }
    }

    /// An empty response (204, 201, 304).
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A Salesforce REST error.
    pub fn error(err: &ApiError) -> Resp {
        Resp::json_bytes(err.status, err.body())
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &'static str, value: String) -> Resp {
        self.headers.push((name, value));
        self
    }
}

impl From<ApiError> for Resp {
    fn from(err: ApiError) -> Resp {
        Resp::error(&err)
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes (`+` is a space when `plus_is_space`); invalid escapes are kept as is
/// and invalid UTF-8 is replaced, so decoding never fails.
pub fn percent_decode(input: &[u8], plus_is_space: bool) -> String {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' if plus_is_space => out.push(b' '),
            b'%' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses `application/x-www-form-urlencoded` data (also query strings).
pub fn parse_form(input: &[u8]) -> Vec<(String, String)> {
    input
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = match pair.iter().position(|&b| b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode(b"a%40x.com+b", true), "a@x.com b");
        assert_eq!(percent_decode(b"100%", true), "100%");
        assert_eq!(percent_decode(b"%zz%4", false), "%zz%4");
        assert_eq!(
            parse_form(b"grant_type=refresh_token&x&y=%27"),
            vec![
                ("grant_type".into(), "refresh_token".into()),
                ("x".into(), String::new()),
                ("y".into(), "'".into())
            ]
        );
    }
}
