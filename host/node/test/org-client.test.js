// The org client against the emulator over loopback: the token flow, one
// refresh and retry on a 401, and the policy refusals before anything is sent.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { OrgClient, SyncOrgTransport, httpImport } from '../src/index.js';
import { repo, startEmulator } from './emulator.js';

const config = (base) => ({ loginUrl: base, apiVersion: '62.0', clientId: 'emulator-client', clientSecret: 'emulator-secret', refreshToken: 'emulator-refresh-token', timeoutMs: 5000 });
const get = (path) => ({ method: 'get', path, headers: [], body: new Uint8Array() });

test('a 401 refreshes the token once and repeats the request', async () => {
  const emu = await startEmulator(join(repo, 'tests/sf-emulator/examples/org.json'));
  try {
    const client = new OrgClient(config(emu.base));
    assert.equal((await client.send(get('/services/data/v62.0/limits'))).status, 200);
    await fetch(`${emu.base}/__admin/expire-tokens`, { method: 'POST' });
    const again = await client.send(get('/services/data/v62.0/limits'));
    assert.equal(again.status, 200);
    assert.deepEqual(client.stats, { requests: 3, tokenRefreshes: 2, unauthorized: 1 });
    assert.ok(again.headers.some(([name]) => name === 'sforce-limit-info'));
  } finally {
    emu.stop();
  }
});

test('the synchronous bridge answers from the worker, errors included', async () => {
  const emu = await startEmulator(join(repo, 'tests/sf-emulator/examples/org.json'));
  const transport = new SyncOrgTransport(config(emu.base));
  try {
    const http = httpImport(transport);
    assert.equal(http.send(get('/services/data/v62.0/sobjects/Lead/00Q5e00000AbCdEEAV')).status, 200);
    assert.deepEqual(Object.keys(http.send(get('/services/data/v62.0/limits'))).sort(), ['body', 'headers', 'status']);
    assert.throws(() => http.send(get('/services/data/v61.0/limits')), (e) => e.tag === 'denied' && /v61.0/.test(e.val));
  } finally {
    await transport.close();
    emu.stop();
  }
});

test('paths that would leave the org are refused before anything is sent', () => {
  const sent = [];
  const http = httpImport({ send: (r) => { sent.push(r); return { status: 200, headers: [], body: new Uint8Array() }; } });
  for (const path of ['https://evil.example/services/data', '//evil.example/services/', '/services/../oauth2', '/services/data/%2e%2e/x',
    '/services/data/v62.0/sobjects/Lead%2F..', '/services/data/v62.0 /x', '/other/path', '/services/a@b']) {
    assert.throws(() => http.send(get(path)), (e) => e.tag === 'denied', path);
  }
  const kept = http.send({ ...get('/services/data/v62.0/limits'), headers: [['Authorization', 'x'], ['Content-Type', 'application/json'], ['Host', 'evil']] });
  assert.equal(kept.status, 200);
  assert.deepEqual(sent.map((r) => r.headers), [[['Content-Type', 'application/json']]]);
});
