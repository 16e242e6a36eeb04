//! The `http` import: requests from the component to the configured org.
//!
//! The component names a path; [`crate::policy`] checks it (and drops the
//! headers the host owns) before anything leaves the host, then the request
//! goes to the injected [`HttpTransport`]: [`crate::OrgClient`] in production,
//! an in-process responder in tests and benchmarks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::bindings::wit_http;
use crate::policy;

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

/// Per-call state of the `http` import.
pub(crate) struct HttpCtx {
    pub transport: Arc<dyn HttpTransport>,
    /// When the call's deadline passes; requests get at most what is left.
    pub deadline: Instant,
    /// Cap on a response body, checked again here whatever the transport does.
    pub max_response_bytes: u64,
    /// Requests sent during this call.
    pub requests: u32,
}

/// The borrowed view that implements the generated `Host` trait.
pub(crate) struct HttpView<'a>(pub &'a mut HttpCtx);

/// `HasData` marker for [`HttpView`].
pub(crate) struct HttpData;
impl wasmtime::component::HasData for HttpData {
    type Data<'a> = HttpView<'a>;
}

impl From<wit_http::Method> for Method {
    fn from(m: wit_http::Method) -> Self {
        match m {
            wit_http::Method::Get => Method::Get,
            wit_http::Method::Post => Method::Post,
            wit_http::Method::Put => Method::Put,
            wit_http::Method::Patch => Method::Patch,
            wit_http::Method::Delete => Method::Delete,
        }
    }
}

impl wit_http::Host for HttpView<'_> {
    fn send(&mut self, request: wit_http::Request) -> Result<wit_http::Response, HttpError> {
        policy::check_path(&request.path).map_err(HttpError::Denied)?;
        policy::check_request_body(request.body.len()).map_err(HttpError::Denied)?;
        let headers = policy::filter_headers(request.headers).map_err(HttpError::Denied)?;
        let timeout = self.0.deadline.saturating_duration_since(Instant::now());
        if timeout.is_zero() {
            return Err(HttpError::Timeout);
        }
        self.0.requests += 1;
        let response = self.0.transport.send(HttpRequest {
            method: request.method.into(),
            path: request.path,
            headers,
            body: request.body,
            timeout,
        })?;
        if response.body.len() as u64 > self.0.max_response_bytes {
            return Err(HttpError::ResponseTooLarge(self.0.max_response_bytes));
        }
        Ok(wit_http::Response {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|(mut n, v)| {
                    n.make_ascii_lowercase();
                    (n, v)
                })
                .collect(),
            body: response.body,
        })
    }

    fn convert_http_error(&mut self, err: HttpError) -> wasmtime::Result<wit_http::HttpError> {
        crate::error::http_error_for_guest(err)
    }
}

/// Adds the `http` import to the linker.
pub(crate) fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::state::HostState>,
) -> wasmtime::Result<()> {
    wit_http::add_to_linker::<_, HttpData>(linker, |s| HttpView(&mut s.http))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wit_http::Host as _;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<HttpRequest>>);
    impl HttpTransport for Recorder {
        fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
            self.0.lock().unwrap().push(request);
            Ok(HttpResponse {
                status: 200,
                headers: vec![("Sforce-Limit-Info".into(), "api-usage=5/15000".into())],
                body: b"{}".to_vec(),
            })
        }
    }

    fn ctx(transport: Arc<dyn HttpTransport>) -> HttpCtx {
        HttpCtx {
            transport,
            deadline: Instant::now() + Duration::from_secs(5),
            max_response_bytes: 1024,
            requests: 0,
        }
    }

    fn req(path: &str) -> wit_http::Request {
        wit_http::Request {
            method: wit_http::Method::Get,
            path: path.into(),
            headers: vec![("Authorization".into(), "Bearer guest".into())],
            body: vec![],
        }
    }

    #[test]
    fn denied_paths_never_reach_the_transport() {
        let rec = Arc::new(Recorder::default());
        let mut c = ctx(rec.clone());
        let err = HttpView(&mut c)
            .send(req("https://evil.example/x"))
            .unwrap_err();
        assert!(matches!(err, HttpError::Denied(_)), "{err:?}");
        assert!(rec.0.lock().unwrap().is_empty());
    }

    #[test]
    fn host_owned_headers_are_dropped_and_response_headers_lowercased() {
        let rec = Arc::new(Recorder::default());
        let mut c = ctx(rec.clone());
        let resp = HttpView(&mut c)
            .send(req("/services/data/v62.0/limits"))
            .unwrap();
        assert_eq!(resp.headers[0].0, "sforce-limit-info");
        let sent = rec.0.lock().unwrap();
        assert!(sent[0].headers.is_empty(), "{:?}", sent[0].headers);
        assert!(sent[0].timeout <= Duration::from_secs(5));
    }

    #[test]
    fn a_passed_deadline_is_a_timeout_without_sending() {
        let rec = Arc::new(Recorder::default());
        let mut c = ctx(rec.clone());
        c.deadline = Instant::now() - Duration::from_millis(1);
        let err = HttpView(&mut c)
            .send(req("/services/data/v62.0/limits"))
            .unwrap_err();
        assert_eq!(err, HttpError::Timeout);
        assert!(rec.0.lock().unwrap().is_empty());
    }

    #[test]
    fn oversized_responses_are_refused_even_from_a_lax_transport() {
        let mut c = ctx(Arc::new(StaticResponder::new(200, vec![b'x'; 2048])));
        let err = HttpView(&mut c)
            .send(req("/services/data/v62.0/limits"))
            .unwrap_err();
        assert_eq!(err, HttpError::ResponseTooLarge(1024));
    }
}
