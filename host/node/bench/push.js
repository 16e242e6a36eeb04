// Cost per push through the Node kit, with the instance reused (the kit's
// default) and with a fresh instance per push: the real component and the
// kit's imports, HTTP answered in-process (204), SQLite storage in memory.
// The counterpart of `unsubscribe-sync bench push` (which uses in-memory
// storage). `--json` prints the figures as JSON. A benchmark, not a test.

import { performance } from 'node:perf_hooks';
import { UnsubscribeSync, defaultSettings } from '../src/index.js';

const args = process.argv.slice(2);
const n = Number(args[args.indexOf('-n') + 1]) || 5000;
const fresh = 20;

const answer = { status: 204, headers: [['sforce-limit-info', 'api-usage=1/100000']], body: new Uint8Array() };
const sync = new UnsubscribeSync({ transport: { send: () => answer }, storagePath: ':memory:', log: () => {} });
const event = (i) => ({ personId: `bench-${i}`, salesforceId: '00Q5e00000AbCdEEAV', email: undefined, source: 'bench', occurredAt: BigInt(1_751_968_800_000 + i), receivedAt: BigInt(1_751_968_800_000 + i) });

function series(name, samples) {
  const s = [...samples].sort((a, b) => a - b);
  const pick = (q) => s[Math.round((s.length - 1) * q)];
  return { name, samples: s.length, median_us: pick(0.5), p90_us: pick(0.9), p99_us: pick(0.99), mean_us: s.reduce((a, b) => a + b, 0) / s.length };
}

function push(i) {
  const t = performance.now();
  const r = sync.push(defaultSettings, event(i));
  const us = (performance.now() - t) * 1000;
  if (r.tag !== 'ok' || r.val.tag !== 'written') throw new Error(`push ${i}: ${JSON.stringify(r)}`);
  return us;
}

for (let i = 0; i < 200; i++) push(1_000_000_000 + i);
const reused = Array.from({ length: n }, (_, i) => push(i));
const freshTimes = Array.from({ length: fresh }, (_, i) => {
  sync.instance = undefined; // as after a trap: the next call instantiates
  return push(2_000_000_000 + i);
});
const result = {
  host: 'node',
  runtime: `Node ${process.version}, jco`,
  reused: series('push: one instance reused', reused),
  fresh: series('push: a fresh instance per push', freshTimes),
};
if (args.includes('--json')) {
  console.log(JSON.stringify(result));
} else {
  for (const s of [result.reused, result.fresh]) {
    console.log(`${s.name}: median ${s.median_us.toFixed(1)} us, p90 ${s.p90_us.toFixed(1)} us, mean ${s.mean_us.toFixed(1)} us (${s.samples} pushes)`);
  }
}
await sync.close();
