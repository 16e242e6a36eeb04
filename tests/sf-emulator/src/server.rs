//! HTTP/1.1 on loopback (hyper), and the request pipeline every API call goes through:
//! latency → dropped-connection / 503 faults → URI limits → auth → token-expiry fault →
//! daily limit → resource → `Sforce-Limit-Info` → call log.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::bulk;
use crate::calls::{CallKind, CallLogEntry};
use crate::collections;
use crate::describe;
use crate::error::ApiError;
use crate::faults::RequestFault;
use crate::http::{Req, Resp};
use crate::query;
use crate::rest;
use crate::router::{self, ApiVersion, DataRoute, Route};
use crate::state::State;
use crate::time;

/// Largest request body read (a Bulk upload of 150 MB plus slack).
const MAX_BODY: usize = bulk::ingest::MAX_UPLOAD + 1024 * 1024;
/// URI and URI+headers limits (§4.6).
const MAX_URI: usize = 16_384;

/// Returned by the service to make hyper close the connection without a response: the
/// "dropped connection" fault.
#[derive(Debug)]
pub struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Accepts connections until `shutdown` fires; over TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    tls: Option<TlsAcceptor>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = Arc::clone(&state);
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        // A failed handshake (a client that does not trust the
                        // CA) just ends the connection, as a real server does.
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve_connection(stream, state).await;
                            }
                        }
                        None => serve_connection(stream, state).await,
                    }
                });
            }
        }
    }
}

/// Serves HTTP/1.1 with keep-alive on one accepted connection.
async fn serve_connection<S>(stream: S, state: Arc<State>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| handle(Arc::clone(&state), req));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn to_hyper(resp: Resp) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(resp.body));
    *out.status_mut() =
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in resp.headers {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&value) {
            out.headers_mut().insert(name, v);
        }
    }
    out
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                let err = ApiError::new(413, "REQUEST_ENTITY_TOO_LARGE", "Request body too large");
                return Ok(to_hyper(Resp::error(&err)));
            }
            // The client went away mid-body: nothing to answer.
            return Err(Dropped);
        }
    };
    let uri_len = parts.uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    let header_len: usize = parts
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    let mut req = Req {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    if req.method == "HEAD" {
        req.method = "GET".to_owned();
    }
    // Clients that cannot send PATCH use `POST ...?_HttpMethod=PATCH` (§2.1).
    if req.method == "POST"
        && let Some(m) = req.query_param("_HttpMethod")
    {
        req.method = m.to_ascii_uppercase();
    }
    if req.path.starts_with("/__admin/") {
        return Ok(to_hyper(crate::admin::handle(&state, &req)));
    }
    let route = router::route(&req.path);
    let kind = router::kind(&route, &req.method);
    let latency = state.faults().config().latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let started = Instant::now();
    let fault = state.faults().roll_request();
    let resp = match fault {
        RequestFault::Drop => {
            let mut calls = state.calls();
            calls.counts_mut().injected_drops += 1;
            calls.record(CallLogEntry {
                method: req.method.clone(),
                path: req.path_and_query(),
                status: 0,
                kind,
                micros: started.elapsed().as_micros() as u64,
            });
            return Err(Dropped);
        }
        RequestFault::ServerUnavailable => {
            state.calls().counts_mut().injected_5xx += 1;
            // Salesforce's 503 body is UNCONFIRMED; the REST error shape is used.
            Resp::error(&ApiError::new(
                503,
                "SERVER_UNAVAILABLE",
                "Service Unavailable",
            ))
        }
        RequestFault::None if uri_len > MAX_URI => {
            Resp::error(&ApiError::new(414, "URI_TOO_LONG", "URI Too Long"))
        }
        RequestFault::None if uri_len + header_len > MAX_URI => Resp::error(&ApiError::new(
            431,
            "REQUEST_HEADER_FIELDS_TOO_LARGE",
            "Request Header Fields Too Large",
        )),
        RequestFault::None => dispatch(&state, &req, &route, kind),
    };
    state.calls().record(CallLogEntry {
        method: req.method.clone(),
        path: req.path_and_query(),
        status: resp.status,
        kind,
        micros: started.elapsed().as_micros() as u64,
    });
    Ok(to_hyper(resp))
}

fn dispatch(state: &Arc<State>, req: &Req, route: &Route, kind: CallKind) -> Resp {
    match route {
        Route::Token => state
            .auth()
            .token_endpoint(req, &state.base_url, time::now_ms()),
        Route::Versions if req.method == "GET" => rest::versions(),
        Route::Versions => ApiError::method_not_allowed(&req.method, "GET,HEAD").into(),
        // The body for retired versions is UNCONFIRMED (REST answers 410 GONE, §10.3).
        Route::Retired => ApiError::new(
            410,
            "UNSUPPORTED_API_VERSION",
            "This API version has been retired",
        )
        .into(),
        Route::Unknown => ApiError::not_found().into(),
        Route::Data(version, data_route) => {
            if !state.auth().is_valid(req) {
                return ApiError::invalid_session().into();
            }
            if state.faults().token_expiry_due() {
                state.auth().expire_all();
                state.calls().counts_mut().injected_token_expiries += 1;
                return ApiError::invalid_session().into();
            }
            let (allowed, header) = {
                let mut limits = state.limits();
                (limits.consume().is_ok(), limits.header())
            };
            let resp = if allowed {
                state.calls().counts_mut().total_api_calls += 1;
                data(state, req, *version, data_route, kind)
            } else {
                state.calls().counts_mut().limit_exceeded += 1;
                ApiError::request_limit_exceeded().into()
            };
            resp.with_header("sforce-limit-info", header)
        }
    }
}

fn data(
    state: &Arc<State>,
    req: &Req,
    version: ApiVersion,
    route: &DataRoute,
    kind: CallKind,
) -> Resp {
    let m = req.method.as_str();
    // Work that can take a while at a million records runs without stalling the
    // runtime's other connections.
    let heavy = matches!(kind, CallKind::BulkIngestClose | CallKind::BulkQueryCreate);
    let run = || match (route, m) {
        (DataRoute::Root, "GET") => rest::version_root(version),
        (DataRoute::Limits, _) => rest::limits(state, req),
        (DataRoute::Describe(object), _) => describe::describe(state, req, version, object.clone()),
        (DataRoute::SObjectBase(object), _) => rest::sobject_base(req, version, object.clone()),
        (DataRoute::Row(Err(_), _), _) => ApiError::not_found().into(),
        (DataRoute::Row(Ok(object), id), "GET") => {
            rest::get_record(state, req, version, *object, id)
        }
        (DataRoute::Row(Ok(object), id), "PATCH") => rest::patch_record(state, req, *object, id),
        (DataRoute::Row(..), _) => ApiError::method_not_allowed(m, "HEAD,GET,PATCH").into(),
        (DataRoute::Collections, _) => collections::update(state, req),
        (DataRoute::Query(all), _) => query::query(state, req, version, *all),
        (DataRoute::QueryMore(locator), _) => query::query_more(state, req, version, locator),
        (DataRoute::IngestJobs, "POST") => bulk::ingest::create(state, req, version),
        (DataRoute::IngestJobs, "GET") => bulk::ingest::list(state),
        (DataRoute::IngestJob(id), "GET") => bulk::ingest::poll(state, id),
        (DataRoute::IngestJob(id), "PATCH") => bulk::ingest::close(state, req, id),
        (DataRoute::IngestJob(id), "DELETE") => bulk::ingest::delete(state, id),
        (DataRoute::IngestBatches(id), "PUT") => bulk::ingest::upload(state, req, id),
        (DataRoute::IngestResults(id, set), "GET") => bulk::ingest::results(state, id, *set),
        (DataRoute::QueryJobs, "POST") => bulk::query::create(state, req, version),
        (DataRoute::QueryJobs, "GET") => bulk::query::list(state),
        (DataRoute::QueryJob(id), "GET") => bulk::query::poll(state, id),
        (DataRoute::QueryJob(id), "PATCH") => bulk::query::abort(state, req, id),
        (DataRoute::QueryJob(id), "DELETE") => bulk::query::delete(state, id),
        (DataRoute::QueryResults(id), "GET") => bulk::query::results(state, req, version, id),
        (DataRoute::NotFound, _) => ApiError::not_found().into(),
        (DataRoute::Root | DataRoute::QueryResults(_) | DataRoute::IngestResults(..), _) => {
            ApiError::method_not_allowed(m, "GET,HEAD").into()
        }
        (DataRoute::IngestJobs | DataRoute::QueryJobs, _) => {
            ApiError::method_not_allowed(m, "GET,POST").into()
        }
        (DataRoute::IngestJob(_) | DataRoute::QueryJob(_), _) => {
            ApiError::method_not_allowed(m, "GET,PATCH,DELETE").into()
        }
        (DataRoute::IngestBatches(_), _) => ApiError::method_not_allowed(m, "PUT").into(),
    };
    if heavy {
        tokio::task::block_in_place(run)
    } else {
        run()
    }
}
