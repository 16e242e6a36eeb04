// Durable storage on SQLite (better-sqlite3), the same schema as the Rust
// host's (host/src/imports/sqlite.rs), so either host can open a ledger the
// other wrote: keys and values are BLOBs, keys compared byte by byte (SQLite
// compares BLOBs with memcmp, which is the WIT's byte order); WAL with
// synchronous=FULL, so a write that returned survives a crash; a `write` is
// one transaction.
//
// `storageImport` adds the host's limits and turns failures into WIT
// `storage-error` values, whatever the backend.

import Database from 'better-sqlite3';
import { checkKey, checkValue, clampPage, limits } from './policy.js';

const APPLICATION_ID = 0x55535943; // "USYC", as the Rust host
const SCHEMA_VERSION = '1';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });
const keyBytes = (k) => Buffer.from(enc.encode(k));

/** The smallest byte string above every key starting with `prefix`, or null. */
function prefixEnd(prefix) {
  const end = [...enc.encode(prefix)];
  while (end.length > 0) {
    const last = end.pop();
    if (last < 0xff) {
      end.push(last + 1);
      return Buffer.from(end);
    }
  }
  return null;
}

/** A WIT `storage-error` for an SQLite failure. */
function sqlError(path, e) {
  const text = `${path}: ${e.message}`;
  switch (e.code) {
    case 'SQLITE_NOTADB': return { tag: 'corrupt', val: `${path} is not an SQLite database; refusing to touch it` };
    case 'SQLITE_CORRUPT': return { tag: 'corrupt', val: `${path} is damaged or truncated (${e.message})` };
    case 'SQLITE_TOOBIG': return { tag: 'too-large', val: text };
    default: return { tag: 'unavailable', val: text };
  }
}

export class SqliteStorage {
  /** @param {string} path  A file, created when missing. */
  constructor(path) {
    this.path = path;
    try {
      /** @private */
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = FULL');
      const id = this.db.pragma('application_id', { simple: true });
      const tables = this.db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table'").pluck().get();
      if (id !== APPLICATION_ID && (id !== 0 || Number(tables) > 0)) {
        throw Object.assign(new Error('not an unsubscribe-sync ledger'), { code: 'SQLITE_NOTADB' });
      }
      this.db.exec(`BEGIN;
        PRAGMA application_id = ${APPLICATION_ID};
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '${SCHEMA_VERSION}');
        CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        COMMIT;`);
    } catch (e) {
      throw sqlError(path, e);
    }
    /** @private */
    this.sql = {
      get: this.db.prepare('SELECT value FROM kv WHERE key = ?').pluck(),
      set: this.db.prepare('INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
      delete: this.db.prepare('DELETE FROM kv WHERE key = ?'),
      listFrom: this.db.prepare('SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      listAfter: this.db.prepare('SELECT key, value FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?'),
      listFromAll: this.db.prepare('SELECT key, value FROM kv WHERE key >= ? ORDER BY key LIMIT ?'),
      listAfterAll: this.db.prepare('SELECT key, value FROM kv WHERE key > ? ORDER BY key LIMIT ?'),
      count: this.db.prepare('SELECT count(*) FROM kv WHERE key >= ? AND key < ?').pluck(),
      countAll: this.db.prepare('SELECT count(*) FROM kv WHERE key >= ?').pluck(),
    };
    /** @private */
    this.writeTx = this.db.transaction((ops) => {
      for (const op of ops) {
        if (op.tag === 'set') this.sql.set.run(keyBytes(op.val[0]), Buffer.from(op.val[1]));
        else this.sql.delete.run(keyBytes(op.val));
      }
    });
  }

  #run(f) {
    try {
      return f();
    } catch (e) {
      if (e && typeof e.tag === 'string') throw e;
      throw sqlError(this.path, e);
    }
  }

  /** @param {string} key @returns {Uint8Array | undefined} */
  get(key) {
    return this.#run(() => {
      const v = this.sql.get.get(keyBytes(key));
      return v === undefined ? undefined : new Uint8Array(/** @type {Buffer} */ (v));
    });
  }

  /** @param {string[]} keys */
  getMany(keys) {
    return keys.map((k) => this.get(k));
  }

  /** Applies set/delete ops (WIT `write-op` values) in one transaction. */
  write(ops) {
    this.#run(() => this.writeTx(ops));
  }

  /** Keys starting with `prefix`, after `after`, at most `limit`: a WIT `page`. */
  list(prefix, after, limit) {
    return this.#run(() => {
      const [lower, inclusive] = after !== undefined && after !== null && after >= prefix
        ? [keyBytes(after), false] : [keyBytes(prefix), true];
      const upper = prefixEnd(prefix);
      const rows = upper
        ? (inclusive ? this.sql.listFrom : this.sql.listAfter).all(lower, upper, limit + 1)
        : (inclusive ? this.sql.listFromAll : this.sql.listAfterAll).all(lower, limit + 1);
      const entries = rows.slice(0, limit).map((/** @type {any} */ r) => {
        let key;
        try { key = dec.decode(r.key); } catch { throw { tag: 'corrupt', val: `${this.path}: a key is not UTF-8` }; }
        return [key, new Uint8Array(r.value)];
      });
      const next = rows.length > limit ? entries[entries.length - 1][0] : undefined;
      return { entries, next };
    });
  }

  /** @param {string} prefix */
  count(prefix) {
    return this.#run(() => {
      const upper = prefixEnd(prefix);
      const n = upper ? this.sql.count.get(keyBytes(prefix), upper) : this.sql.countAll.get(keyBytes(prefix));
      return BigInt(/** @type {number} */ (n));
    });
  }

  close() {
    this.db.close();
  }
}

const tooLarge = (val) => ({ tag: 'too-large', val });

function check(denial) {
  if (denial) throw tooLarge(denial);
}

/**
 * The component's `storage` import over a backend (SqliteStorage or any
 * object with the same methods), with the host's limits (as
 * host/src/imports/storage.rs). Errors are thrown as WIT `storage-error`
 * values; anything else thrown becomes `unavailable`.
 */
export function storageImport(backend) {
  const guard = (f) => (...args) => {
    try {
      return f(...args);
    } catch (e) {
      if (e && typeof e.tag === 'string') throw e;
      throw { tag: 'unavailable', val: String(e?.message ?? e) };
    }
  };
  return {
    getMany: guard((keys) => {
      if (keys.length > limits.maxGetManyKeys) {
        throw tooLarge(`get-many of ${keys.length} keys; the host accepts at most ${limits.maxGetManyKeys}`);
      }
      keys.forEach((k) => check(checkKey(k)));
      return backend.getMany(keys);
    }),
    set: guard((key, value) => {
      check(checkKey(key));
      check(checkValue(key, value.length));
      backend.write([{ tag: 'set', val: [key, value] }]);
    }),
    delete: guard((key) => {
      check(checkKey(key));
      backend.write([{ tag: 'delete', val: key }]);
    }),
    write: guard((ops) => {
      if (ops.length > limits.maxWriteOps) {
        throw tooLarge(`a write of ${ops.length} operations; the host accepts at most ${limits.maxWriteOps}`);
      }
      let bytes = 0;
      for (const op of ops) {
        const key = op.tag === 'set' ? op.val[0] : op.val;
        check(checkKey(key));
        bytes += enc.encode(key).length;
        if (op.tag === 'set') {
          check(checkValue(key, op.val[1].length));
          bytes += op.val[1].length;
        }
      }
      if (bytes > limits.maxWriteBytes) {
        throw tooLarge(`a write of ${bytes} bytes; the host accepts at most ${limits.maxWriteBytes}`);
      }
      if (ops.length > 0) backend.write(ops);
    }),
    list: guard((prefix, after, limit) => {
      check(checkKey(prefix));
      if (after !== undefined && after !== null) check(checkKey(after));
      return backend.list(prefix, after ?? undefined, clampPage(limit));
    }),
    count: guard((prefix) => {
      check(checkKey(prefix));
      return backend.count(prefix);
    }),
  };
}
