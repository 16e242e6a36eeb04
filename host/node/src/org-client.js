// The org client: HTTP to one Salesforce org with the OAuth 2.0 refresh-token
// flow, as the Rust host's OrgClient (host/src/imports/oauth.rs). The
// credentials never reach the component; the access token is cached; a 401
// refreshes it once and repeats the request once; every request goes to the
// instance origin, redirects are never followed (one could leave the org),
// each request has a timeout and a response body cap.
//
// It is asynchronous (fetch). The component's import is synchronous, so the
// kit runs this client in a worker thread (http-worker.js) and waits for it.

import { checkApiVersion, checkPath, checkRequestBody, filterHeaders, limits, normalizeOrigin } from './policy.js';

/**
 * @typedef {object} OrgConfig
 * @property {string} loginUrl  The OAuth origin, such as `https://login.salesforce.com`.
 * @property {string} [instanceUrl]  The org's origin; when set, a token naming another is refused.
 * @property {string} apiVersion  Such as `62.0`: requests for another version are refused.
 * @property {string} clientId
 * @property {string} clientSecret
 * @property {string} refreshToken
 * @property {number} [timeoutMs]  Per request; default 30 s.
 * @property {number} [maxResponseBytes]  Default 32 MiB.
 */

/** A WIT `http-error` value, thrown. */
export const httpError = {
  denied: (val) => ({ tag: 'denied', val }),
  authFailed: (val) => ({ tag: 'auth-failed', val }),
  timeout: () => ({ tag: 'timeout' }),
  transport: (val) => ({ tag: 'transport', val }),
  responseTooLarge: (val) => ({ tag: 'response-too-large', val: BigInt(val) }),
};

const clip = (s, max) => [...String(s ?? '')].filter((c) => !/\p{Cc}/u.test(c)).slice(0, max).join('');

export class OrgClient {
  /** @param {OrgConfig} config */
  constructor(config) {
    this.config = {
      timeoutMs: limits.httpTimeoutMs,
      maxResponseBytes: limits.maxResponseBytes,
      ...config,
    };
    this.loginOrigin = normalizeOrigin(config.loginUrl);
    this.configuredInstance = config.instanceUrl ? normalizeOrigin(config.instanceUrl) : undefined;
    /** @type {{ access: string, instance: string, generation: number } | undefined} */
    this.token = undefined;
    this.generation = 0;
    /** @type {Promise<any> | undefined} one refresh at a time */
    this.refreshing = undefined;
    this.stats = { requests: 0, tokenRefreshes: 0, unauthorized: 0 };
  }

  /**
   * Sends one component request: `{method, path, headers, body}` with method
   * a WIT `method` case. Resolves to `{status, headers, body}`; rejects with
   * a WIT `http-error` value.
   */
  async send(request) {
    for (const denial of [checkPath(request.path), checkApiVersion(request.path, this.config.apiVersion),
      checkRequestBody(request.body.length)]) {
      if (denial) throw httpError.denied(denial);
    }
    const filtered = filterHeaders(request.headers);
    if ('denied' in filtered) throw httpError.denied(filtered.denied);
    const req = { ...request, headers: filtered.ok };
    const token = this.token ?? await this.refresh(this.generation);
    const response = await this.sendOnce(token, req);
    if (response.status !== 401) return response;
    // The access token expired or was revoked: refresh once, retry once. A
    // second 401 goes back to the component, which reports auth-failed.
    this.stats.unauthorized += 1;
    return this.sendOnce(await this.refresh(token.generation), req);
  }

  async refresh(seenGeneration) {
    while (this.refreshing) await this.refreshing.catch(() => {});
    if (this.token && this.token.generation > seenGeneration) return this.token;
    this.refreshing = this.fetchToken();
    try {
      return await this.refreshing;
    } finally {
      this.refreshing = undefined;
    }
  }

  async fetchToken() {
    this.stats.tokenRefreshes += 1;
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: this.config.clientId,
      client_secret: this.config.clientSecret,
      refresh_token: this.config.refreshToken,
    });
    const response = await this.fetch(`${this.loginOrigin}/services/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    });
    const body = await readCapped(response, 64 << 10);
    let parsed;
    try { parsed = JSON.parse(new TextDecoder().decode(body)); } catch { parsed = undefined; }
    if (response.status !== 200) {
      const reason = parsed && typeof parsed.error === 'string'
        ? `${clip(parsed.error, 64)}: ${clip(parsed.error_description, 256)}`
        : `the token endpoint answered HTTP ${response.status}`;
      throw [400, 401, 403].includes(response.status) ? httpError.authFailed(reason) : httpError.transport(reason);
    }
    if (!parsed || typeof parsed.access_token !== 'string') {
      throw httpError.authFailed("the token endpoint's answer has no access_token");
    }
    let named;
    if (typeof parsed.instance_url === 'string') {
      try { named = normalizeOrigin(parsed.instance_url); } catch (e) {
        throw httpError.denied(`the token endpoint named an unusable instance_url: ${e.message}`);
      }
    }
    if (this.configuredInstance && named && named !== this.configuredInstance) {
      throw httpError.denied(`the token endpoint named instance ${named}, but instanceUrl is ${this.configuredInstance}; requests go to the configured org only`);
    }
    const instance = this.configuredInstance ?? named;
    if (!instance) throw httpError.authFailed('the token endpoint named no instance_url; set instanceUrl');
    this.generation += 1;
    this.token = { access: parsed.access_token, instance, generation: this.generation };
    return this.token;
  }

  async sendOnce(token, request) {
    this.stats.requests += 1;
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${token.access}`);
    const response = await this.fetch(token.instance + request.path, {
      method: request.method.toUpperCase(),
      headers,
      body: request.body.length > 0 ? request.body : undefined,
    });
    const body = await readCapped(response, this.config.maxResponseBytes);
    return {
      status: response.status,
      // fetch gives the names lower-cased, as the WIT promises the component.
      headers: [...response.headers.entries()],
      body,
    };
  }

  async fetch(url, init) {
    try {
      return await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(this.config.timeoutMs) });
    } catch (e) {
      throw fetchError(e);
    }
  }
}

function fetchError(e) {
  if (e && (e.name === 'TimeoutError' || e.name === 'AbortError')) return httpError.timeout();
  const cause = e && e.cause ? `: ${e.cause.code ?? e.cause.message ?? e.cause}` : '';
  return httpError.transport(`${e && e.message ? e.message : String(e)}${cause}`);
}

/** The body, or `response-too-large` as soon as it passes `cap` bytes. */
async function readCapped(response, cap) {
  if (!response.body) return new Uint8Array();
  const chunks = [];
  let total = 0;
  try {
    for await (const chunk of response.body) {
      total += chunk.length;
      if (total > cap) {
        await response.body.cancel().catch(() => {});
        throw httpError.responseTooLarge(cap);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e && e.tag) throw e;
    throw fetchError(e);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}
