// Compiled (not run) by `npm run build`: the published declarations type a
// consumer's code, results narrow on `tag`, and a wrong field is an error.
import { UnsubscribeSync, defaultSettings, type Result, type PushOutcome } from 'unsubscribe-sync';

const sync = new UnsubscribeSync({ transport: { send: () => ({ status: 204, headers: [], body: new Uint8Array() }) }, storagePath: ':memory:' });
const r: Result<PushOutcome> = sync.push(defaultSettings, {
  personId: 'p1', salesforceId: '00Q5e00000AbCdEEAV', email: undefined, source: 'link',
  occurredAt: undefined, receivedAt: 1n,
});
if (r.tag === 'ok') {
  const tag: 'written' | 'skipped-no-salesforce-id' | 'queued-for-retry' | 'duplicate' | 'stale' = r.val.tag;
  void tag;
} else {
  const kind: string = r.val.tag;
  void kind;
}
// @ts-expect-error: `personID` is not a field of the WIT unsubscribe-event
sync.push(defaultSettings, { personID: 'p1', source: 'link', receivedAt: 1n });
