// The kit's example: a pre-flight check, one push and the status against an
// org. Run against the bundled emulator:
//   cargo run -p sf-emulator -- --seed tests/sf-emulator/examples/org.json --port 8080
//   node example.mjs http://127.0.0.1:8080
import { UnsubscribeSync, defaultSettings } from 'unsubscribe-sync';

const base = process.argv[2] ?? 'http://127.0.0.1:8080';
const sync = new UnsubscribeSync({
  org: {
    loginUrl: base,
    apiVersion: '62.0',
    clientId: 'emulator-client',
    clientSecret: 'emulator-secret',
    refreshToken: 'emulator-refresh-token',
  },
  storagePath: 'ledger.db',
});
const settings = defaultSettings;

const check = sync.check(settings);
console.log('check passed:', check.tag === 'ok' && check.val.passed);

const pushed = sync.push(settings, {
  personId: 'ada',
  salesforceId: '00Q5e00000AbCdEEAV',
  email: 'a@x.com',
  source: 'link',
  occurredAt: BigInt(Date.now()),
  receivedAt: BigInt(Date.now()),
});
console.log('push:', pushed.tag === 'ok' ? pushed.val.tag : pushed.val);

const status = sync.status(settings);
if (status.tag === 'ok') console.log('held:', status.val.held);
await sync.close();
