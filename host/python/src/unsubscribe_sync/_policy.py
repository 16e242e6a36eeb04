"""The request and storage policy of the Rust host (host/src/policy.rs and
host/src/limits.rs), for this kit: what a path may look like, which headers
the host owns, and the size limits. Kept rule for rule with the Rust host so
the component meets the same refusals whichever host runs it."""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from typing import List, Optional, Tuple

HTTP_TIMEOUT_S = 30.0
MAX_RESPONSE_BYTES = 32 << 20
MAX_REQUEST_BODY_BYTES = 32 << 20
MAX_PATH_BYTES = 16 << 10
MAX_REQUEST_HEADERS = 32
MAX_REQUEST_HEADER_BYTES = 8 << 10
MAX_KEY_BYTES = 2 << 10
MAX_VALUE_BYTES = 16 << 20
MAX_WRITE_OPS = 100_000
MAX_WRITE_BYTES = 64 << 20
MAX_GET_MANY_KEYS = 10_000
MAX_PAGE_ENTRIES = 1_000

HOST_OWNED_HEADERS = frozenset({
    "authorization", "host", "connection", "keep-alive", "proxy-authenticate",
    "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding",
    "upgrade", "content-length", "cookie", "expect",
})

_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
_DOT_SEGMENT = re.compile(r"^(?:\.|%2e){1,2}$", re.I)
_ENCODED_SEPARATOR = re.compile(r"%2f|%5c", re.I)


def _shorten(s: str) -> str:
    return s if len(s) <= 120 else s[:120] + "..."


def _is_whitespace(c: str) -> bool:
    # Rust's char::is_whitespace: the Unicode White_Space property.
    return c.isspace() or c in "\u0085\u200e\u200f\u2028\u2029" or unicodedata.category(c) == "Zs"


def check_path(path: str) -> Optional[str]:
    """Why a path is refused, or None when it may be sent."""
    n = len(path.encode())
    if n > MAX_PATH_BYTES:
        return f"the path is {n} bytes long; the host accepts at most {MAX_PATH_BYTES}"
    if "://" in path or path.startswith("//"):
        return f"`{_shorten(path)}` names another origin; only paths relative to the org are allowed"
    if not path.startswith("/services/"):
        return f"`{_shorten(path)}` is not a path under /services/ relative to the org"
    for c in path:
        if unicodedata.category(c) == "Cc" or _is_whitespace(c) or c in "\\#":
            return f"`{_shorten(path)}` contains the character {c!r}, which a path may not hold"
    path_part = path.split("?", 1)[0]
    if "@" in path_part:
        return f"`{_shorten(path)}` contains `@` in its path"
    for segment in path_part.split("/"):
        if _DOT_SEGMENT.match(segment):
            return f"`{_shorten(path)}` contains a dot segment"
        if _ENCODED_SEPARATOR.search(segment):
            return f"`{_shorten(path)}` contains an encoded path separator"
    return None


def check_api_version(path: str, api_version: str) -> Optional[str]:
    prefix = "/services/data/v"
    if not path.startswith(prefix):
        return None
    version = re.split(r"[/?]", path[len(prefix):], maxsplit=1)[0]
    if version in ("", api_version):
        return None
    return f"`{_shorten(path)}` uses API version v{version}; the connection is configured for v{api_version}"


def filter_headers(headers: List[Tuple[str, str]]) -> Tuple[Optional[List[Tuple[str, str]]], Optional[str]]:
    """(the headers without the host-owned ones, None), or (None, why refused)."""
    if len(headers) > MAX_REQUEST_HEADERS:
        return None, f"{len(headers)} headers; the host accepts at most {MAX_REQUEST_HEADERS}"
    total = sum(len(k.encode()) + len(v.encode()) for k, v in headers)
    if total > MAX_REQUEST_HEADER_BYTES:
        return None, f"headers of {total} bytes; the host accepts at most {MAX_REQUEST_HEADER_BYTES}"
    kept = []
    for name, value in headers:
        if not _TOKEN.match(name):
            return None, f"header name {name!r} is not a valid HTTP token"
        if any(ch in value for ch in "\r\n\0"):
            return None, f"the value of header `{name}` contains a line break"
        if name.lower() not in HOST_OWNED_HEADERS:
            kept.append((name, value))
    return kept, None


def check_request_body(n: int) -> Optional[str]:
    if n > MAX_REQUEST_BODY_BYTES:
        return f"a request body of {n} bytes; the host accepts at most {MAX_REQUEST_BODY_BYTES}"
    return None


def check_key(key: str) -> Optional[str]:
    n = len(key.encode())
    return f"a key of {n} bytes; the host accepts at most {MAX_KEY_BYTES}" if n > MAX_KEY_BYTES else None


def check_value(key: str, n: int) -> Optional[str]:
    if n > MAX_VALUE_BYTES:
        return f"the value for key `{_shorten(key)}` is {n} bytes; the host accepts at most {MAX_VALUE_BYTES}"
    return None


def clamp_page(limit: int) -> int:
    return min(max(limit, 1), MAX_PAGE_ENTRIES)


def normalize_origin(url: str) -> str:
    """`scheme://host[:port]` lower-cased, or ValueError: https only, plain
    http on loopback only, no path, query or user."""
    trimmed = url.strip().rstrip("/")
    if "://" not in trimmed:
        raise ValueError(f"`{url}` is not an absolute URL (expected https://host)")
    scheme, rest = trimmed.split("://", 1)
    scheme = scheme.lower()
    if not rest or any(c in rest for c in "/?#@ "):
        raise ValueError(f"`{url}` must be an origin only (scheme and host, no path, query or user)")
    if rest.startswith("["):
        host = rest[1:].split("]", 1)[0].lower()
    else:
        host = rest.rsplit(":", 1)[0].lower() if ":" in rest else rest.lower()
    if scheme == "http" and not is_loopback_host(host):
        raise ValueError(f"`{url}` uses plain http; only https is allowed (http only on loopback)")
    if scheme not in ("https", "http"):
        raise ValueError(f"`{url}` has scheme `{scheme}`; expected https")
    return f"{scheme}://{rest.lower()}"


def is_loopback_host(host: str) -> bool:
    if host in ("localhost", "::1"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.version == 4 and ip.is_loopback
