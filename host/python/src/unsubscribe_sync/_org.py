"""The org client: HTTP to one Salesforce org with the OAuth 2.0
refresh-token flow, as the Rust host's OrgClient (host/src/imports/oauth.rs).

The credentials never reach the component; the access token is cached; a
401 refreshes it once and repeats the request once; every request goes to
the instance origin, redirects are never followed (one could leave the org),
each request has a timeout and a response body cap. urllib3 does the HTTP."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from urllib.parse import urlencode
from typing import List, Optional, Tuple

import urllib3

from . import _policy as policy


class HttpError(Exception):
    """A WIT `http-error`: `tag` is the case, `val` its payload."""

    def __init__(self, tag: str, val=None):
        super().__init__(f"{tag}: {val}" if val is not None else tag)
        self.tag = tag
        self.val = val


@dataclass
class OrgConfig:
    login_url: str
    api_version: str
    client_id: str
    client_secret: str
    refresh_token: str
    #: The org's origin; when set, a token naming another is refused.
    instance_url: Optional[str] = None
    timeout_s: float = policy.HTTP_TIMEOUT_S
    max_response_bytes: int = policy.MAX_RESPONSE_BYTES
    #: A PEM file of the CAs the org's certificates must chain to, instead of
    #: the default roots (the Rust host's `org.ca_file`): for a TLS-inspecting
    #: proxy or a test server. Certificates are always verified.
    ca_file: Optional[str] = None


@dataclass
class Response:
    status: int
    headers: List[Tuple[str, str]]
    body: bytes


@dataclass
class _Token:
    access: str
    instance: str
    generation: int


def _clip(s, n: int) -> str:
    return "".join(c for c in str(s or "") if c.isprintable())[:n]


@dataclass
class OrgStats:
    requests: int = 0
    token_refreshes: int = 0
    unauthorized: int = 0


class OrgClient:
    """`send(method, path, headers, body) -> Response`, raising HttpError."""

    def __init__(self, config: OrgConfig):
        self.config = config
        self.login_origin = policy.normalize_origin(config.login_url)
        self.configured_instance = policy.normalize_origin(config.instance_url) if config.instance_url else None
        tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": config.ca_file} if config.ca_file else {}
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(total=config.timeout_s), **tls)
        self.token: Optional[_Token] = None
        self.generation = 0
        self.lock = threading.Lock()
        self.stats = OrgStats()

    def send(self, method: str, path: str, headers: List[Tuple[str, str]], body: bytes) -> Response:
        for denial in (policy.check_path(path), policy.check_api_version(path, self.config.api_version),
                       policy.check_request_body(len(body))):
            if denial:
                raise HttpError("denied", denial)
        kept, denial = policy.filter_headers(headers)
        if denial:
            raise HttpError("denied", denial)
        token = self.token or self._refresh(self.generation)
        response = self._send_once(token, method, path, kept, body)
        if response.status != 401:
            return response
        # The access token expired or was revoked: refresh once, retry once. A
        # second 401 goes back to the component, which reports auth-failed.
        self.stats.unauthorized += 1
        return self._send_once(self._refresh(token.generation), method, path, kept, body)

    def _refresh(self, seen_generation: int) -> _Token:
        with self.lock:
            if self.token and self.token.generation > seen_generation:
                return self.token
            self.stats.token_refreshes += 1
            response = self._request("POST", f"{self.login_origin}/services/oauth2/token", {
                "content-type": "application/x-www-form-urlencoded", "accept": "application/json",
            }, urlencode({
                "grant_type": "refresh_token",
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "refresh_token": self.config.refresh_token,
            }).encode(), 64 << 10)
            try:
                parsed = json.loads(response.body)
            except ValueError:
                parsed = None
            if response.status != 200:
                if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
                    reason = f"{_clip(parsed['error'], 64)}: {_clip(parsed.get('error_description'), 256)}"
                else:
                    reason = f"the token endpoint answered HTTP {response.status}"
                raise HttpError("auth-failed" if response.status in (400, 401, 403) else "transport", reason)
            if not isinstance(parsed, dict) or not isinstance(parsed.get("access_token"), str):
                raise HttpError("auth-failed", "the token endpoint's answer has no access_token")
            named = None
            if isinstance(parsed.get("instance_url"), str):
                try:
                    named = policy.normalize_origin(parsed["instance_url"])
                except ValueError as e:
                    raise HttpError("denied", f"the token endpoint named an unusable instance_url: {e}") from None
            if self.configured_instance and named and named != self.configured_instance:
                raise HttpError("denied", f"the token endpoint named instance {named}, but instance_url is "
                                          f"{self.configured_instance}; requests go to the configured org only")
            instance = self.configured_instance or named
            if not instance:
                raise HttpError("auth-failed", "the token endpoint named no instance_url; set instance_url")
            self.generation += 1
            self.token = _Token(parsed["access_token"], instance, self.generation)
            return self.token

    def _send_once(self, token: _Token, method, path, headers, body) -> Response:
        self.stats.requests += 1
        h = dict(headers)
        h["Authorization"] = f"Bearer {token.access}"
        return self._request(method.upper(), token.instance + path, h, body or None, self.config.max_response_bytes)

    def _request(self, method, url, headers, body, cap) -> Response:
        try:
            r = self.pool.request(method, url, headers=headers, body=body, redirect=False,
                                  preload_content=False)
        except urllib3.exceptions.TimeoutError:
            raise HttpError("timeout") from None
        except urllib3.exceptions.HTTPError as e:
            raise HttpError("transport", str(e)) from None
        try:
            chunks, total = [], 0
            for chunk in r.stream(64 << 10):
                total += len(chunk)
                if total > cap:
                    raise HttpError("response-too-large", cap)
                chunks.append(chunk)
        except urllib3.exceptions.TimeoutError:
            raise HttpError("timeout") from None
        except urllib3.exceptions.HTTPError as e:
            raise HttpError("transport", str(e)) from None
        finally:
            r.release_conn()
        return Response(r.status, [(k.lower(), v) for k, v in r.headers.items()], b"".join(chunks))
