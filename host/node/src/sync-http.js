// A synchronous face for the asynchronous OrgClient. The component's
// `http.send` import must return synchronously (jco on Node 20 has no JSPI),
// so the client runs in a worker thread and the calling thread blocks on
// `Atomics.wait` until the worker has posted the answer, which it then takes
// off the port with `receiveMessageOnPort`.

import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';

export class SyncOrgTransport {
  /** @param {import('./org-client.js').OrgConfig} config */
  constructor(config) {
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    this.flag = new Int32Array(new SharedArrayBuffer(4));
    this.worker = new Worker(new URL('./http-worker.js', import.meta.url), {
      workerData: { config, port: port2, flag: this.flag.buffer },
      transferList: [port2],
    });
    // An idle bridge does not keep the process alive.
    this.worker.unref();
    this.port.unref();
    this.nextId = 0;
    this.waitMs = (config.timeoutMs ?? 30_000) * 3 + 5_000;
    this.stats = { requests: 0, tokenRefreshes: 0, unauthorized: 0 };
  }

  /**
   * Sends one request and blocks until the answer: `{status, headers, body}`,
   * or throws a WIT `http-error` value.
   */
  send(request) {
    const id = ++this.nextId;
    Atomics.store(this.flag, 0, 0);
    this.port.postMessage({ id, request });
    // The worker bounds each request by its timeout (a refresh and a retry
    // at most); this bound only catches a worker that died.
    if (Atomics.wait(this.flag, 0, 0, this.waitMs) === 'timed-out') {
      throw { tag: 'timeout' };
    }
    const received = receiveMessageOnPort(this.port);
    if (!received || received.message.id !== id) {
      throw { tag: 'transport', val: 'the HTTP worker answered out of turn' };
    }
    const { ok, err, stats } = received.message;
    this.stats = stats;
    if (err) throw err;
    return ok;
  }

  /** Stops the worker. */
  close() {
    this.port.close();
    return this.worker.terminate();
  }
}
