//! OAuth 2.0 token endpoint and bearer-token checks (plugin/SALESFORCE.md §1).
//!
//! Grants: `refresh_token` (the main one) and the JWT bearer grant. For JWT the assertion's
//! claims are checked (`iss` = client id, `sub` present, `exp` in the future) but its RSA
//! signature is not verified: the emulator holds no certificate.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use rustc_hash::FxHashSet;
use serde::Serialize;
use sha2::Sha256;

use crate::config::EmulatorConfig;
use crate::http::{Req, Resp, parse_form};

const JWT_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// §1.3 success body; field order as in the spec's example.
#[derive(Debug, Serialize)]
struct TokenResponse {
    access_token: String,
    signature: String,
    scope: &'static str,
    instance_url: String,
    id: String,
    token_type: &'static str,
    issued_at: String,
}

/// §1.4 error body.
#[derive(Debug, Serialize)]
struct OAuthError {
    error: &'static str,
    error_description: &'static str,
}

fn oauth_error(error: &'static str, error_description: &'static str) -> Resp {
    Resp::json(
        400,
        &OAuthError {
            error,
            error_description,
        },
    )
}

/// Credentials, issued access tokens and the refresh token's state.
#[derive(Debug)]
pub struct Auth {
    client_id: String,
    client_secret: String,
    refresh_token: String,
    org_id: String,
    user_id: String,
    tokens: FxHashSet<String>,
    issued: u64,
    salt: u64,
    refresh_revoked: bool,
}

impl Auth {
    /// Auth state for a configuration; `salt` makes tokens differ between emulators.
    pub fn new(config: &EmulatorConfig, salt: u64) -> Auth {
        Auth {
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
            refresh_token: config.refresh_token.clone(),
            org_id: config.org_id.clone(),
            user_id: config.user_id.clone(),
            tokens: FxHashSet::default(),
            issued: 0,
            salt,
            refresh_revoked: false,
        }
    }

    /// Issues a new valid access token, shaped like Salesforce's (`<org15>!<opaque>`).
    pub fn issue(&mut self) -> String {
        self.issued += 1;
        let org15 = self.org_id.get(..15).unwrap_or(&self.org_id);
        let token = format!("{org15}!AQ0AQ{:016x}.{:08x}", self.salt, self.issued);
        self.tokens.insert(token.clone());
        token
    }

    /// True when the request carries a live token (`Bearer` or the older `OAuth` scheme).
    pub fn is_valid(&self, req: &Req) -> bool {
        let Some(value) = req.header("authorization") else {
            return false;
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("OAuth "))
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim);
        token.is_some_and(|t| self.tokens.contains(t))
    }

    /// Invalidates every issued access token.
    pub fn expire_all(&mut self) {
        self.tokens.clear();
    }

    /// The refresh token stops working (`invalid_grant`).
    pub fn revoke_refresh_token(&mut self) {
        self.refresh_revoked = true;
    }

    /// The refresh token works again.
    pub fn restore_refresh_token(&mut self) {
        self.refresh_revoked = false;
    }

    /// Handles `POST /services/oauth2/token`. Parameters come from the form body (and,
    /// as Salesforce also allows, the query string); client credentials may instead be
    /// HTTP Basic.
    pub fn token_endpoint(&mut self, req: &Req, base_url: &str, now_ms: i64) -> Resp {
        if req.method != "POST" {
            return oauth_error("invalid_request", "must use HTTP POST");
        }
        let mut params = req
            .query
            .as_deref()
            .map(|q| parse_form(q.as_bytes()))
            .unwrap_or_default();
        let form_body = req
            .header("content-type")
            .is_none_or(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form_body {
            params.extend(parse_form(&req.body));
        }
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let (mut client_id, mut client_secret) = (
            param("client_id").map(str::to_owned),
            param("client_secret").map(str::to_owned),
        );
        if let Some((id, secret)) = basic_credentials(req) {
            client_id = client_id.or(Some(id));
            client_secret = client_secret.or(Some(secret));
        }
        match param("grant_type") {
            Some("refresh_token") => {
                if client_id.as_deref() != Some(self.client_id.as_str())
                    || client_secret.as_deref() != Some(self.client_secret.as_str())
                {
                    return oauth_error("invalid_client", "invalid client credentials");
                }
                if self.refresh_revoked
                    || param("refresh_token") != Some(self.refresh_token.as_str())
                {
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
            }
            Some(JWT_GRANT) => {
                if let Err(resp) = self.check_jwt(param("assertion").unwrap_or(""), now_ms) {
                    return resp;
                }
            }
            _ => return oauth_error("unsupported_grant_type", "grant type not supported"),
        }
        Resp::json(200, &self.grant(base_url, now_ms))
    }

    fn check_jwt(&self, assertion: &str, now_ms: i64) -> Result<(), Resp> {
        let claims = assertion
            .split('.')
            .nth(1)
            .and_then(|part| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok())
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .ok_or_else(|| oauth_error("invalid_grant", "invalid assertion"))?;
        if claims.get("iss").and_then(|v| v.as_str()) != Some(self.client_id.as_str()) {
            return Err(oauth_error(
                "invalid_client_id",
                "client identifier invalid",
            ));
        }
        let sub = claims
            .get("prn")
            .or_else(|| claims.get("sub"))
            .and_then(|v| v.as_str());
        if sub.is_none_or(str::is_empty) {
            return Err(oauth_error("invalid_grant", "invalid assertion"));
        }
        if self.refresh_revoked {
            return Err(oauth_error(
                "invalid_grant",
                "user hasn't approved this consumer",
            ));
        }
        let exp = claims
            .get("exp")
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0);
        if exp.saturating_mul(1000) <= now_ms {
            return Err(oauth_error("invalid_grant", "expired authorization code"));
        }
        Ok(())
    }

    fn grant(&mut self, base_url: &str, now_ms: i64) -> TokenResponse {
        let id = format!("{base_url}/id/{}/{}", self.org_id, self.user_id);
        let issued_at = now_ms.to_string();
        TokenResponse {
            access_token: self.issue(),
            signature: sign(&self.client_secret, &id, &issued_at),
            scope: "refresh_token api",
            instance_url: base_url.to_owned(),
            id,
            token_type: "Bearer",
            issued_at,
        }
    }
}

/// `base64(HMAC-SHA256(key = client secret, id + issued_at))` (§1.3).
pub fn sign(client_secret: &str, id: &str, issued_at: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(client_secret.as_bytes()) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(issued_at.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

fn basic_credentials(req: &Req) -> Option<(String, String)> {
    let encoded = req.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}
