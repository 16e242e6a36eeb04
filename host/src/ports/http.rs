//! Requests to the org: the values the host's `http` import hands to a
//! transport, and the [`HttpTransport`] trait itself. The org client
//! ([`crate::backends::org::OrgClient`]) implements it in production; an
//! in-process responder does in tests and benchmarks.

use std::time::Duration;

/// An HTTP method the Salesforce REST and Bulk APIs need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// A request that passed the host's policy checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Path and query relative to the org's instance URL (starts with `/services/`).
    pub path: String,
    /// The component's headers, minus the ones the host owns.
    pub headers: Vec<(String, String)>,
    /// The body; empty for none.
    pub body: Vec<u8>,
    /// The most this request may take: what is left of the call's deadline.
    /// A transport applies the smaller of this and its own timeout.
    pub timeout: Duration,
}

/// The org's answer: any status code is a response.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status code.
    pub status: u16,
    /// Headers as received; the host lower-cases their names before the
    /// component sees them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// Why a request got no response; mirrors the WIT `http-error` (and its
/// serde form: `{"Denied": "..."}`, `"Timeout"`, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum HttpError {
    /// Refused before it left the host.
    #[error("request refused: {0}")]
    Denied(String),
    /// No access token could be obtained.
    #[error("the org rejected the credentials: {0}")]
    AuthFailed(String),
    /// No response within the timeout.
    #[error("no response within the timeout")]
    Timeout,
    /// The connection failed.
    #[error("connection failed: {0}")]
    Transport(String),
    /// The response body exceeded the cap (in bytes).
    #[error("the response exceeded the {0}-byte cap")]
    ResponseTooLarge(u64),
}

/// Sends requests to the org. Implementations must be safe to share between
/// threads; the host calls `send` from the thread running the component.
pub trait HttpTransport: Send + Sync {
    /// Sends one request and waits for the answer.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError>;
}

/// A transport answering every request in-process with a fixed response:
/// for benchmarks (the HTTP side costs nothing) and tests.
pub struct StaticResponder {
    status: u16,
    body: Vec<u8>,
}

impl StaticResponder {
    /// Answers every request with `status` and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        StaticResponder {
            status,
            body: body.into(),
        }
    }
}

impl HttpTransport for StaticResponder {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, HttpError> {
        Ok(HttpResponse {
            status: self.status,
            headers: vec![(
                "sforce-limit-info".to_string(),
                "api-usage=1/100000".to_string(),
            )],
            body: self.body.clone(),
        })
    }
}
