// The request and storage policy of the Rust host (host/src/policy.rs and
// host/src/limits.rs), for this kit: what a path may look like, which headers
// the host owns, and the size limits. Kept rule for rule with the Rust host so
// the component meets the same refusals whichever host runs it.

/** Limits, as in host/src/limits.rs. */
export const limits = Object.freeze({
  httpTimeoutMs: 30_000,
  maxResponseBytes: 32 << 20,
  maxRequestBodyBytes: 32 << 20,
  maxPathBytes: 16 << 10,
  maxRequestHeaders: 32,
  maxRequestHeaderBytes: 8 << 10,
  maxKeyBytes: 2 << 10,
  maxValueBytes: 16 << 20,
  maxWriteOps: 100_000,
  maxWriteBytes: 64 << 20,
  maxGetManyKeys: 10_000,
  maxPageEntries: 1_000,
});

const HOST_OWNED_HEADERS = new Set([
  'authorization', 'host', 'connection', 'keep-alive', 'proxy-authenticate',
  'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding',
  'upgrade', 'content-length', 'cookie', 'expect',
]);

const utf8 = new TextEncoder();
const byteLength = (s) => utf8.encode(s).length;

function shorten(s) {
  return s.length <= 120 ? s : `${s.slice(0, 120)}...`;
}

/**
 * Why a path is refused, or null when it may be sent: relative to the org,
 * under `/services/`, no other origin, no dot segments or encoded separators.
 * @param {string} path
 * @returns {string | null}
 */
export function checkPath(path) {
  const len = byteLength(path);
  if (len > limits.maxPathBytes) {
    return `the path is ${len} bytes long; the host accepts at most ${limits.maxPathBytes}`;
  }
  if (path.includes('://') || path.startsWith('//')) {
    return `\`${shorten(path)}\` names another origin; only paths relative to the org are allowed`;
  }
  if (!path.startsWith('/services/')) {
    return `\`${shorten(path)}\` is not a path under /services/ relative to the org`;
  }
  // Control characters, whitespace (Unicode's, as Rust's char::is_whitespace), `\` and `#`.
  const bad = [...path].find((c) => /[\p{Cc}\p{White_Space}\\#]/u.test(c));
  if (bad !== undefined) {
    return `\`${shorten(path)}\` contains the character ${JSON.stringify(bad)}, which a path may not hold`;
  }
  const q = path.indexOf('?');
  const pathPart = q < 0 ? path : path.slice(0, q);
  if (pathPart.includes('@')) return `\`${shorten(path)}\` contains \`@\` in its path`;
  for (const segment of pathPart.split('/')) {
    if (isDotSegment(segment)) return `\`${shorten(path)}\` contains a dot segment`;
    if (/%2f|%5c/i.test(segment)) return `\`${shorten(path)}\` contains an encoded path separator`;
  }
  return null;
}

function isDotSegment(segment) {
  return /^(?:\.|%2e){1,2}$/i.test(segment);
}

/**
 * Why a path's API version differs from the connection's, or null.
 * @param {string} path
 * @param {string} apiVersion
 */
export function checkApiVersion(path, apiVersion) {
  if (!path.startsWith('/services/data/v')) return null;
  const version = path.slice('/services/data/v'.length).split(/[/?]/)[0];
  if (version === '' || version === apiVersion) return null;
  return `\`${shorten(path)}\` uses API version v${version}; the connection is configured for v${apiVersion}`;
}

/**
 * The component's headers without the ones the host owns, or the reason
 * they are refused.
 * @param {Array<[string, string]>} headers
 * @returns {{ ok: Array<[string, string]> } | { denied: string }}
 */
export function filterHeaders(headers) {
  if (headers.length > limits.maxRequestHeaders) {
    return { denied: `${headers.length} headers; the host accepts at most ${limits.maxRequestHeaders}` };
  }
  const total = headers.reduce((n, [k, v]) => n + byteLength(k) + byteLength(v), 0);
  if (total > limits.maxRequestHeaderBytes) {
    return { denied: `headers of ${total} bytes; the host accepts at most ${limits.maxRequestHeaderBytes}` };
  }
  /** @type {Array<[string, string]>} */
  const kept = [];
  for (const [name, value] of headers) {
    if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(name)) {
      return { denied: `header name ${JSON.stringify(name)} is not a valid HTTP token` };
    }
    if (/[\r\n\0]/.test(value)) {
      return { denied: `the value of header \`${name}\` contains a line break` };
    }
    if (!HOST_OWNED_HEADERS.has(name.toLowerCase())) kept.push([name, value]);
  }
  return { ok: kept };
}

/** @param {number} len */
export function checkRequestBody(len) {
  if (len > limits.maxRequestBodyBytes) {
    return `a request body of ${len} bytes; the host accepts at most ${limits.maxRequestBodyBytes}`;
  }
  return null;
}

/** @param {string} key */
export function checkKey(key) {
  const len = byteLength(key);
  return len > limits.maxKeyBytes ? `a key of ${len} bytes; the host accepts at most ${limits.maxKeyBytes}` : null;
}

/** @param {string} key @param {number} len */
export function checkValue(key, len) {
  return len > limits.maxValueBytes
    ? `the value for key \`${shorten(key)}\` is ${len} bytes; the host accepts at most ${limits.maxValueBytes}`
    : null;
}

/** @param {number} limit */
export function clampPage(limit) {
  return Math.min(Math.max(limit, 1), limits.maxPageEntries);
}

/**
 * `scheme://host[:port]`, lower-cased, or throws: https only, plain http on
 * loopback only, no path, query or user.
 * @param {string} url
 */
export function normalizeOrigin(url) {
  const trimmed = url.trim().replace(/\/+$/, '');
  const at = trimmed.indexOf('://');
  if (at < 0) throw new Error(`\`${url}\` is not an absolute URL (expected https://host)`);
  const scheme = trimmed.slice(0, at).toLowerCase();
  const rest = trimmed.slice(at + 3);
  if (rest === '' || /[/?#@ ]/.test(rest)) {
    throw new Error(`\`${url}\` must be an origin only (scheme and host, no path, query or user)`);
  }
  const host = rest.startsWith('[') ? rest.slice(1).split(']')[0].toLowerCase()
    : (rest.lastIndexOf(':') >= 0 ? rest.slice(0, rest.lastIndexOf(':')) : rest).toLowerCase();
  if (scheme === 'http' && !isLoopbackHost(host)) {
    throw new Error(`\`${url}\` uses plain http; only https is allowed (http only on loopback)`);
  }
  if (scheme !== 'https' && scheme !== 'http') {
    throw new Error(`\`${url}\` has scheme \`${scheme}\`; expected https`);
  }
  return `${scheme}://${rest.toLowerCase()}`;
}

/** @param {string} host */
export function isLoopbackHost(host) {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
