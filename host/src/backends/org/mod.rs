//! [`OrgClient`]: the production [`HttpTransport`], a real HTTP(S) client
//! (ureq + rustls) bound to one Salesforce org.
//!
//! The host owns the connection: the OAuth 2.0 refresh-token flow (client id,
//! client secret and refresh token never reach the component), the access
//! token cached in memory, one refresh and one retry when the org answers
//! 401, and the instance origin: every request goes to
//! `instance_url + path`, and a path that would leave it is refused before
//! anything is sent. Redirects are never followed (one could leave the org).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ureq::http;
use ureq::tls::{PemItem, RootCerts, TlsConfig, parse_pem};

use crate::policy;
use crate::ports::http::{HttpError, HttpRequest, HttpResponse, HttpTransport};
use crate::secrets::Secret;

/// How a token failure starts when the server answering is not a Salesforce
/// token endpoint at all (a web page, a 404), so advice can tell a wrong
/// `org.login_url` from a network failure or revoked credentials.
pub const NOT_A_TOKEN_ENDPOINT: &str = "this is not a Salesforce token endpoint";

/// How a transport error starts when the server's certificate did not
/// verify against the trusted roots (the public ones, or `org.ca_file`'s):
/// tells a TLS-inspecting proxy or a wrong CA file apart from the network.
pub const UNTRUSTED_CERTIFICATE: &str = "the server's TLS certificate is not trusted";

/// The connection's settings.
#[derive(Clone, Debug)]
pub struct OrgConfig {
    /// Origin of the token endpoint (`https://login.salesforce.com`,
    /// `https://test.salesforce.com` or the org's My Domain); the endpoint is
    /// `login_url + /services/oauth2/token`.
    pub login_url: String,
    /// The org's instance origin. When set, the token endpoint must name the
    /// same one; when not, the token endpoint's `instance_url` is used.
    pub instance_url: Option<String>,
    /// The REST API version requests must use, such as `62.0`.
    pub api_version: String,
    /// The connected app's consumer key.
    pub client_id: String,
    /// The connected app's consumer secret.
    pub client_secret: Secret,
    /// The refresh token.
    pub refresh_token: Secret,
    /// Timeout of one request (also capped by the call's deadline).
    pub timeout: Duration,
    /// Cap on a response body.
    pub max_response_bytes: u64,
    /// Certificate authorities (PEM) the org's certificates must chain to,
    /// instead of the public roots built in (Mozilla's): for an org reached
    /// through a TLS-inspecting proxy, or a test server with its own CA.
    /// Like curl's `--cacert`, it replaces the public roots for this org;
    /// there is no way to accept any certificate.
    pub trusted_ca_pem: Option<Vec<u8>>,
}

/// Counters of the connection, for `status` and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OrgStats {
    /// Requests sent to the instance (retries included).
    pub requests: u64,
    /// Token requests made.
    pub token_refreshes: u64,
    /// 401 answers seen (each led to one refresh and one retry).
    pub unauthorized: u64,
    /// The last `Sforce-Limit-Info` header seen, such as `api-usage=1201/100000`.
    pub last_limit_info: Option<String>,
}

#[derive(Clone)]
struct Token {
    access: Arc<Secret>,
    instance: String,
    generation: u64,
}

/// The real transport to one org. Cheap to share (`Arc`); thread-safe.
pub struct OrgClient {
    config: OrgConfig,
    login_origin: String,
    configured_instance: Option<String>,
    agent: ureq::Agent,
    token: RwLock<Option<Token>>,
    refresh_lock: Mutex<()>,
    generation: AtomicU64,
    requests: AtomicU64,
    token_refreshes: AtomicU64,
    unauthorized: AtomicU64,
    last_limit_info: Mutex<Option<String>>,
}

impl std::fmt::Debug for OrgClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrgClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    instance_url: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenError {
    error: Option<String>,
    error_description: Option<String>,
}

impl OrgClient {
    /// Builds the client; checks the origins (https, or http on loopback
    /// only). No request is made until the first `send`.
    pub fn new(config: OrgConfig) -> Result<OrgClient, String> {
        let login_origin = policy::normalize_origin(&config.login_url)
            .map_err(|e| format!("org.login_url: {e}"))?;
        let configured_instance = config
            .instance_url
            .as_deref()
            .map(policy::normalize_origin)
            .transpose()
            .map_err(|e| format!("org.instance_url: {e}"))?;
        let mut agent_config = ureq::Agent::config_builder();
        if let Some(pem) = &config.trusted_ca_pem {
            agent_config = agent_config.tls_config(trusted_roots(pem)?);
        }
        let agent_config = agent_config
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("unsubscribe-sync/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(OrgClient {
            login_origin,
            configured_instance,
            agent: ureq::Agent::new_with_config(agent_config),
            config,
            token: RwLock::new(None),
            refresh_lock: Mutex::new(()),
            generation: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            token_refreshes: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            last_limit_info: Mutex::new(None),
        })
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/services/oauth2/token", self.login_origin)
    }

    /// Counters of the connection.
    pub fn stats(&self) -> OrgStats {
        OrgStats {
            requests: self.requests.load(Ordering::Relaxed),
            token_refreshes: self.token_refreshes.load(Ordering::Relaxed),
            unauthorized: self.unauthorized.load(Ordering::Relaxed),
            last_limit_info: self.last_limit_info.lock().ok().and_then(|g| g.clone()),
        }
    }

    /// Obtains a fresh access token now: proves the credentials work.
    /// Returns the instance origin the org named.
    pub fn verify_credentials(&self) -> Result<String, HttpError> {
        let current = self.generation.load(Ordering::SeqCst);
        Ok(self.refresh(current, self.config.timeout)?.instance)
    }

    fn cached_token(&self) -> Option<Token> {
        self.token.read().ok().and_then(|t| t.clone())
    }

    /// Refreshes the token unless another thread already did since
    /// `seen_generation` (so a burst of 401s costs one refresh).
    fn refresh(&self, seen_generation: u64, timeout: Duration) -> Result<Token, HttpError> {
        let _guard = self
            .refresh_lock
            .lock()
            .map_err(|_| HttpError::Transport("token lock poisoned".into()))?;
        if let Some(t) = self
            .cached_token()
            .filter(|t| t.generation > seen_generation)
        {
            return Ok(t);
        }
        self.token_refreshes.fetch_add(1, Ordering::Relaxed);
        let form = form_encode(&[
            ("grant_type", "refresh_token"),
            ("client_id", &self.config.client_id),
            ("client_secret", self.config.client_secret.expose()),
            ("refresh_token", self.config.refresh_token.expose()),
        ]);
        let request = http::Request::builder()
            .method("POST")
            .uri(self.token_url())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(form.into_bytes())
            .map_err(|e| HttpError::Transport(format!("building the token request: {e}")))?;
        let request = self
            .agent
            .configure_request(request)
            .timeout_global(Some(timeout))
            .build();
        let mut response = self.agent.run(request).map_err(transport_error)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 << 10)
            .read_to_vec()
            .map_err(transport_error)?;
        if status != 200 {
            let reason = match serde_json::from_slice::<TokenError>(&body) {
                Ok(TokenError {
                    error: Some(e),
                    error_description: d,
                }) => {
                    let d = d.unwrap_or_default();
                    format!("{}: {}", clip(&e, 64), clip(&d, 256))
                }
                // Salesforce answers a failed refresh with an OAuth error
                // body; anything else (a web page, a 404) is another server.
                _ => format!(
                    "{NOT_A_TOKEN_ENDPOINT}: {} answered HTTP {status} without an OAuth error",
                    self.token_url()
                ),
            };
            return Err(if status == 400 || status == 401 || status == 403 {
                HttpError::AuthFailed(reason)
            } else {
                HttpError::Transport(reason)
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
            HttpError::Transport(format!(
                "{NOT_A_TOKEN_ENDPOINT}: {} answered 200 without an access_token",
                self.token_url()
            ))
        })?;
        let named = match parsed.instance_url.as_deref() {
            Some(u) => Some(policy::normalize_origin(u).map_err(|e| {
                HttpError::Denied(format!(
                    "the token endpoint named an unusable instance_url: {e}"
                ))
            })?),
            None => None,
        };
        let instance = match (&self.configured_instance, named) {
            (Some(conf), Some(named)) if *conf != named => {
                return Err(HttpError::Denied(format!(
                    "the token endpoint named instance {named}, but org.instance_url is {conf}; requests go to the configured org only"
                )));
            }
            (Some(conf), _) => conf.clone(),
            (None, Some(named)) => named,
            (None, None) => {
                return Err(HttpError::AuthFailed(
                    "the token endpoint named no instance_url; set org.instance_url".into(),
                ));
            }
        };
        let token = Token {
            access: Arc::new(Secret::new(parsed.access_token)),
            instance,
            generation: self.generation.fetch_add(1, Ordering::SeqCst) + 1,
        };
        if let Ok(mut slot) = self.token.write() {
            *slot = Some(token.clone());
        }
        tracing::info!(target: "unsubscribe_sync::org", instance = %token.instance, "obtained an access token");
        Ok(token)
    }

    fn send_once(
        &self,
        token: &Token,
        request: &HttpRequest,
        timeout: Duration,
    ) -> Result<HttpResponse, HttpError> {
        let url = format!("{}{}", token.instance, request.path);
        let mut builder = http::Request::builder()
            .method(request.method.as_str())
            .uri(&url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let built = builder
            .header("Authorization", format!("Bearer {}", token.access.expose()))
            .body(request.body.clone())
            .map_err(|e| HttpError::Denied(format!("the request cannot be built: {e}")))?;
        let built = self
            .agent
            .configure_request(built)
            .timeout_global(Some(timeout))
            .build();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut response = self.agent.run(built).map_err(transport_error)?;
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .filter_map(|(n, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (n.as_str().to_ascii_lowercase(), v.to_string()))
            })
            .collect();
        if let Some((_, v)) = headers.iter().find(|(n, _)| n == "sforce-limit-info")
            && let Ok(mut last) = self.last_limit_info.lock()
        {
            *last = Some(v.clone());
        }
        let cap = self.config.max_response_bytes;
        let body = response
            .body_mut()
            .with_config()
            .limit(cap)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => HttpError::ResponseTooLarge(cap),
                other => transport_error(other),
            })?;
        tracing::debug!(target: "unsubscribe_sync::org", method = request.method.as_str(), path = %request.path, status, "org request");
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }
}

impl HttpTransport for OrgClient {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        // Checked again here (the import checks first) so the client is safe
        // to use on its own, as an embedding platform might.
        policy::check_path(&request.path).map_err(HttpError::Denied)?;
        policy::check_api_version(&request.path, &self.config.api_version)
            .map_err(HttpError::Denied)?;
        let request = HttpRequest {
            headers: policy::filter_headers(request.headers).map_err(HttpError::Denied)?,
            ..request
        };
        let timeout = request.timeout.min(self.config.timeout);
        let token = match self.cached_token() {
            Some(t) => t,
            None => self.refresh(self.generation.load(Ordering::SeqCst), timeout)?,
        };
        let response = self.send_once(&token, &request, timeout)?;
        if response.status != 401 {
            return Ok(response);
        }
        // The access token expired or was revoked: refresh once, retry once.
        // A second 401 goes back to the component, which reports auth-failed.
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
        tracing::info!(target: "unsubscribe_sync::org", "the org answered 401; refreshing the access token once");
        let fresh = self.refresh(token.generation, timeout)?;
        self.send_once(&fresh, &request, timeout)
    }
}

/// The TLS settings trusting only the CAs in `pem`; refuses a file with no
/// certificate, or one it cannot read, by saying so.
fn trusted_roots(pem: &[u8]) -> Result<TlsConfig, String> {
    let mut roots = Vec::new();
    for item in parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => roots.push(cert),
            Ok(_) => {} // A key or other block beside the certificates is ignored.
            Err(e) => return Err(format!("org.ca_file: not a PEM certificate file ({e})")),
        }
    }
    if roots.is_empty() {
        return Err(
            "org.ca_file: no certificate in it (expected PEM \"BEGIN CERTIFICATE\" blocks)".into(),
        );
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(roots)))
        .build())
}

fn transport_error(e: ureq::Error) -> HttpError {
    match e {
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout,
        other => {
            let text = other.to_string();
            // rustls reports a certificate that does not verify as "invalid
            // peer certificate: <reason>", whether it reaches us as its own
            // error or inside an I/O error; the text is the one place both
            // paths agree.
            if text.contains("invalid peer certificate") {
                HttpError::Transport(format!("{UNTRUSTED_CERTIFICATE} ({text})"))
            } else {
                HttpError::Transport(text)
            }
        }
    }
}

fn clip(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// `application/x-www-form-urlencoded` encoding.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    fn enc(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        enc(k, &mut out);
        out.push('=');
        enc(v, &mut out);
    }
    out
}

#[cfg(test)]
mod tests;
