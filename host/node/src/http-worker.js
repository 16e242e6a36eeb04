// The worker side of the synchronous HTTP bridge (sync-http.js): hosts one
// OrgClient and answers each request on the port, then wakes the waiting
// component thread through the shared flag.

import { parentPort, workerData } from 'node:worker_threads';
import { OrgClient } from './org-client.js';

const { config, port, flag } = workerData;
const client = new OrgClient(config);
const signal = new Int32Array(flag);

port.on('message', async ({ id, request }) => {
  /** @type {{ id: number, ok?: object, err?: object, stats?: object }} */
  let answer;
  try {
    answer = { id, ok: await client.send(request) };
  } catch (error) {
    answer = error && typeof error.tag === 'string'
      ? { id, err: error }
      : { id, err: { tag: 'transport', val: `the org client failed: ${error?.message ?? error}` } };
  }
  answer.stats = client.stats;
  port.postMessage(answer);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
});

parentPort?.postMessage('ready');
