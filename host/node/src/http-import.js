// The component's `http` import over a synchronous transport (the org
// client's bridge, or a test's script): the host-side checks of the Rust
// host's import (host/src/imports/http.rs) come first, whatever the
// transport, and the answer is capped and its header names lower-cased.

import { checkPath, checkRequestBody, filterHeaders, limits } from './policy.js';

/**
 * @param {{ send(request: object): { status: number, headers: Array<[string, string]>, body: Uint8Array } }} transport
 *   throws a WIT `http-error` value when there is no response
 * @param {{ maxResponseBytes?: number }} [options]
 */
export function httpImport(transport, { maxResponseBytes = limits.maxResponseBytes } = {}) {
  return {
    send(request) {
      const denial = checkPath(request.path) ?? checkRequestBody(request.body.length);
      if (denial) throw { tag: 'denied', val: denial };
      const headers = filterHeaders(request.headers);
      if ('denied' in headers) throw { tag: 'denied', val: headers.denied };
      const response = transport.send({ ...request, headers: headers.ok });
      if (response.body.length > maxResponseBytes) {
        throw { tag: 'response-too-large', val: BigInt(maxResponseBytes) };
      }
      return {
        status: response.status,
        headers: response.headers.map(([name, value]) => [name.toLowerCase(), value]),
        body: response.body,
      };
    },
  };
}
