//! The `http` import: requests from the component to the configured org.
//!
//! The component names a path; [`crate::policy`] checks it (and drops the
//! headers the host owns) before anything leaves the host, then the request
//! goes to the injected [`HttpTransport`].

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::Linker;

use super::guest_errors;
use crate::policy;
use crate::ports::http::{HttpError, HttpRequest, HttpTransport, Method};
use crate::runtime::bindings::wit_http;

/// A store's data that can lend the `http` import its per-call context.
pub trait HttpState {
    /// The `http` context of this call.
    fn http(&mut self) -> &mut HttpCtx;
}

/// Per-call state of the `http` import.
pub struct HttpCtx {
    /// Where requests go (the org client in production).
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
        guest_errors::http_error_for_guest(err)
    }
}

/// Adds the `http` import to a linker whose store data lends an [`HttpCtx`].
pub fn add_to_linker<T: HttpState + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wit_http::add_to_linker::<T, HttpData>(linker, |s| HttpView(s.http()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::http::{HttpResponse, StaticResponder};
    use std::sync::Mutex;
    use std::time::Duration;
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
