// The end-to-end scenario every host runs (tests/scenario/emulator.json):
// the kit's real org client (OAuth, worker-thread HTTP) over loopback to the
// emulator, real SQLite, a fixed clock. The expected results are the Rust
// host's; the Node kit must get the same.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnsubscribeSync } from '../src/index.js';
import { exportShapes, same } from './wit-json.js';
import { callStep } from './fixture-runner.js';
import { repo, startEmulator } from './emulator.js';

const shapes = exportShapes(fileURLToPath(new URL('../component/interfaces/unsubscribe-sync-salesforce-sync.d.ts', import.meta.url)));

test('the emulator scenario gives the Rust host\'s results', async () => {
  const scenario = JSON.parse(readFileSync(join(repo, 'tests/scenario/emulator.json'), 'utf8'));
  const emu = await startEmulator(join(repo, scenario.seed));
  const dir = mkdtempSync(join(tmpdir(), 'usync-scenario-'));
  let clock = Date.parse(scenario.clock);
  const sync = new UnsubscribeSync({
    org: { loginUrl: emu.base, apiVersion: '62.0', clientId: 'emulator-client', clientSecret: 'emulator-secret', refreshToken: 'emulator-refresh-token', timeoutMs: 10_000 },
    storagePath: join(dir, 'ledger.db'),
    now: () => clock,
    log: () => {},
  });
  try {
    scenario.steps.forEach((step, i) => {
      clock += step['advance-clock-ms'] ?? 0;
      const got = callStep(sync, step, scenario.settings, shapes, (ms) => { clock += ms; });
      assert.ok(same(got, step.expect), `step ${i} (${step.call}): result differs\n  expected ${JSON.stringify(step.expect)}\n  got      ${JSON.stringify(got)}`);
    });
    for (const [id, fields] of Object.entries(scenario['records-after'])) {
      const record = await (await fetch(`${emu.base}/__admin/record/${id}`)).json();
      for (const [field, want] of Object.entries(fields)) {
        assert.ok(same(record[field], want), `${id}.${field}: expected ${JSON.stringify(want)}, is ${JSON.stringify(record[field])}`);
      }
    }
  } finally {
    await sync.close();
    emu.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
