// unsubscribe-sync for Node: the component (transpiled with jco) with ready
// imports, behind one class with a method per export of the WIT `sync`
// interface. The WIT types are jco's, generated from the WIT with the
// component (../component/interfaces/*.d.ts), so a WIT change reaches the
// declarations without an edit here.

import { instantiateComponent } from './component.js';
import { httpImport } from './http-import.js';
import { SqliteStorage, storageImport } from './storage.js';
import { SyncOrgTransport } from './sync-http.js';

export { OrgClient } from './org-client.js';
export { SqliteStorage, storageImport } from './storage.js';
export { SyncOrgTransport } from './sync-http.js';
export { httpImport } from './http-import.js';
export * as policy from './policy.js';

/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').Settings} Settings */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').Schedule} Schedule */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').UnsubscribeEvent} UnsubscribeEvent */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').ResubscribeEvent} ResubscribeEvent */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').NightlyOptions} NightlyOptions */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').SyncError} SyncError */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').PushOutcome} PushOutcome */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').ResubscribeOutcome} ResubscribeOutcome */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').ImportSummary} ImportSummary */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').NightlyOutcome} NightlyOutcome */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').ReportPage} ReportPage */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').CheckReport} CheckReport */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').StatusReport} StatusReport */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').AuditTrail} AuditTrail */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').DrainSummary} DrainSummary */
/** @typedef {import('../component/interfaces/unsubscribe-sync-salesforce-sync.js').Timestamp} Timestamp */
/** @typedef {import('./org-client.js').OrgConfig} OrgConfig */

/**
 * The component's answer: the WIT `result<T, sync-error>`.
 * @template T
 * @typedef {{ tag: 'ok', val: T } | { tag: 'err', val: SyncError }} Result
 */

/**
 * A synchronous HTTP transport: sends a request to the org and returns the
 * response, or throws a WIT `http-error` value.
 * @typedef {{ send(request: { method: string, path: string, headers: Array<[string, string]>, body: Uint8Array }): { status: number, headers: Array<[string, string]>, body: Uint8Array } }} Transport
 */

/** @typedef {'trace' | 'debug' | 'info' | 'warn' | 'error'} LogLevel */

/**
 * @typedef {object} Options
 * @property {OrgConfig} [org]  The org to connect to (an OrgClient in a worker thread).
 * @property {Transport} [transport]  Instead of `org`: your own transport.
 * @property {string} [storagePath]  An SQLite file for the ledger.
 * @property {object} [storage]  Instead of `storagePath`: a backend with SqliteStorage's methods.
 * @property {() => number} [now]  The clock, Unix milliseconds; default Date.now.
 * @property {(level: LogLevel, message: string) => void} [log]  Default: warn and error to stderr.
 */

/** A call that ended without an answer: the component trapped. */
export class HostError extends Error {
  /** @param {string} message @param {unknown} [cause] */
  constructor(message, cause) {
    super(message, { cause });
    this.name = 'HostError';
  }
}

const defaultLog = (level, message) => {
  if (level === 'warn' || level === 'error') console.error(`unsubscribe-sync ${level}: ${message}`);
};

/**
 * The unsubscribe-sync component with its imports. One instance is reused
 * across calls (a reused instance costs well under a millisecond per push, a
 * fresh one tens); after a trap it is dropped and the next call gets a fresh
 * one. Calls are synchronous and must not overlap on one storage.
 */
export class UnsubscribeSync {
  /** @param {Options} options */
  constructor(options) {
    if (!options.transport && !options.org) throw new TypeError('give `org` or `transport`');
    if (!options.storage && !options.storagePath) throw new TypeError('give `storagePath` or `storage`');
    /** @type {SyncOrgTransport | undefined} */
    this.ownTransport = options.transport ? undefined : new SyncOrgTransport(/** @type {OrgConfig} */ (options.org));
    /** @type {SqliteStorage | undefined} */
    this.ownStorage = options.storage ? undefined : new SqliteStorage(/** @type {string} */ (options.storagePath));
    const now = options.now ?? Date.now;
    const log = options.log ?? defaultLog;
    this.imports = {
      http: httpImport(options.transport ?? /** @type {Transport} */ (this.ownTransport)),
      storage: storageImport(options.storage ?? this.ownStorage),
      clock: { now: () => BigInt(now()) },
      log: { write: (/** @type {LogLevel} */ level, /** @type {string} */ message) => log(level, message) },
    };
    /** @type {any} */
    this.instance = undefined;
  }

  /**
   * @param {string} name
   * @param {unknown[]} args
   * @returns {Result<any>}
   */
  #call(name, args) {
    this.instance ??= instantiateComponent(this.imports);
    try {
      return { tag: 'ok', val: this.instance[name](...args) };
    } catch (e) {
      // jco throws an export's `err` as a ComponentError carrying it.
      if (e && typeof e === 'object' && Object.prototype.hasOwnProperty.call(e, 'payload')) {
        return { tag: 'err', val: /** @type {any} */ (e).payload };
      }
      // Anything else is a trap: the instance's state is undefined now.
      this.instance = undefined;
      throw new HostError(`the component trapped in \`${name}\`: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  /** @param {Settings} settings @returns {Result<void>} */
  validateSettings(settings) { return this.#call('validateSettings', [settings]); }

  /** @param {Settings} settings @param {UnsubscribeEvent} event @returns {Result<PushOutcome>} */
  push(settings, event) { return this.#call('push', [settings, event]); }

  /**
   * One answer per event, in order: what `push` of it would have answered.
   * @param {Settings} settings @param {UnsubscribeEvent[]} events @returns {Result<Array<Result<PushOutcome>>>}
   */
  pushMany(settings, events) { return this.#call('pushMany', [settings, events]); }

  /** @param {Settings} settings @param {ResubscribeEvent} event @returns {Result<ResubscribeOutcome>} */
  resubscribe(settings, event) { return this.#call('resubscribe', [settings, event]); }

  /** @param {Settings} settings @param {UnsubscribeEvent[]} events @returns {Result<ImportSummary>} */
  import(settings, events) { return this.#call('import', [settings, events]); }

  /** @param {Settings} settings @param {NightlyOptions} options @returns {Result<NightlyOutcome>} */
  nightly(settings, options) { return this.#call('nightly', [settings, options]); }

  /** @param {string} runId @param {string | undefined} after @param {number} limit @returns {Result<ReportPage>} */
  reportItems(runId, after, limit) { return this.#call('reportItems', [runId, after, limit]); }

  /** @param {Schedule} schedule @param {Timestamp} after @returns {Result<Timestamp>} */
  nextNightly(schedule, after) { return this.#call('nextNightly', [schedule, after]); }

  /** @param {Settings} settings @returns {Result<CheckReport>} */
  check(settings) { return this.#call('check', [settings]); }

  /** @param {Settings} settings @returns {Result<StatusReport>} */
  status(settings) { return this.#call('status', [settings]); }

  /** @param {string} personId @returns {Result<AuditTrail | undefined>} */
  audit(personId) { return this.#call('audit', [personId]); }

  /** @param {Settings} settings @param {number} max @returns {Result<DrainSummary>} */
  drainRetries(settings, max) { return this.#call('drainRetries', [settings, max]); }

  /** Stops the HTTP worker and closes the storage this object opened. */
  async close() {
    this.instance = undefined;
    await this.ownTransport?.close();
    this.ownStorage?.close();
  }
}

/** The default settings (as the WIT documents them), to spread your choices over. @type {Settings} */
export const defaultSettings = Object.freeze({
  syncEnabled: true,
  emailOptOut: true,
  salesOptOutField: undefined,
  apiVersion: '62.0',
  schedule: { hour: 20, minute: 0, timeZone: 'America/Los_Angeles' },
  bulkThreshold: 10000,
  budget: { maxCalls: undefined, maxPercentOfRemaining: 10, reserve: 1000 },
});
