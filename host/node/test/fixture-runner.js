// Runs one fixture of tests/fixtures/ (format: tests/fixtures/README.md)
// through the kit: the UnsubscribeSync class with the kit's http import
// (policy included) over a scripted transport, the kit's SQLite storage, a
// fixed clock. Returns the problems found (none when it passes).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStorage, UnsubscribeSync } from '../src/index.js';
import { fromJco, same, toJco } from './wit-json.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const camel = (k) => k.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());

/** `%XX` is a byte, `+` a space, the bytes read as UTF-8. */
export function decodePath(path) {
  const bytes = enc.encode(path);
  const hex = (b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
  const out = [];
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x25 && i + 2 < bytes.length && hex(bytes[i + 1]) && hex(bytes[i + 2])) {
      out.push(parseInt(String.fromCharCode(bytes[i + 1], bytes[i + 2]), 16));
      i += 2;
    } else {
      out.push(bytes[i] === 0x2b ? 0x20 : bytes[i]);
    }
  }
  return dec.decode(new Uint8Array(out));
}

function parseBody(body) {
  const text = dec.decode(body);
  try { return JSON.parse(text); } catch { return text; }
}

/** Answers from a step's script and notes every deviation. */
class ScriptedOrg {
  constructor(script) {
    this.script = [...script];
    this.problems = [];
  }

  problem(text) {
    this.problems.push(text);
    return { tag: 'transport', val: `fixture: ${text}` };
  }

  send(request) {
    const method = request.method;
    const path = decodePath(request.path);
    const next = this.script.shift();
    if (!next) throw this.problem(`unexpected request ${method} ${path}`);
    const want = next.request;
    if (want.method !== method || decodePath(want.path) !== path) {
      throw this.problem(`expected ${want.method} ${decodePath(want.path)}\n      but got ${method} ${path}`);
    }
    if ('body-json' in want && !same(parseBody(request.body), want['body-json'])) {
      throw this.problem(`${method} ${path}: body differs\n      expected ${JSON.stringify(want['body-json'])}\n      got      ${dec.decode(request.body)}`);
    }
    if ('body-text' in want && dec.decode(request.body) !== want['body-text']) {
      throw this.problem(`${method} ${path}: body differs\n      expected ${JSON.stringify(want['body-text'])}\n      got      ${JSON.stringify(dec.decode(request.body))}`);
    }
    if (!('body-json' in want) && !('body-text' in want) && request.body.length > 0) {
      throw this.problem(`${method} ${path}: unexpected body`);
    }
    if (next.error) throw toJco(next.error);
    const r = next.response;
    const body = 'body-json' in r ? enc.encode(JSON.stringify(r['body-json']))
      : 'body-text' in r ? enc.encode(r['body-text']) : new Uint8Array();
    return { status: r.status, headers: r.headers.map(([k, v]) => [k, v]), body };
  }
}

/** A stored value as the fixture writes it: a string is the bytes, else JSON text. */
const toBytes = (v) => enc.encode(typeof v === 'string' ? v : JSON.stringify(v));

function fromBytes(bytes) {
  const text = dec.decode(bytes);
  try {
    const v = JSON.parse(text);
    if (typeof v !== 'string') return v;
  } catch { /* not JSON: the text */ }
  return text;
}

function dump(storage) {
  const all = {};
  let after;
  for (;;) {
    const page = storage.list('', after, 1000);
    for (const [k, v] of page.entries) all[k] = fromBytes(v);
    if (page.next === undefined) return all;
    after = page.next;
  }
}

/**
 * Makes one step's call through `sync` (repeated as its `repeat` says, the
 * clock moved by `advance` as a host sleeps) and returns the last answer as
 * WIT JSON; throws on a trap.
 */
export function callStep(sync, step, settings, shapes, advance) {
  const method = camel(step.call);
  const params = shapes.params.get(step.call);
  if (!params) throw new Error(`no export ${step.call}`);
  const args = params.map((name) => toJco(step.args?.[name] ?? (name === 'settings' ? settings : null)));
  for (let calls = 1; ; calls++) {
    let answer;
    try {
      answer = sync[method](...args);
    } catch (e) {
      throw new Error(`host error: ${e.message}`);
    }
    const got = answer.tag === 'ok' && shapes.voidOk.has(method) ? { tag: 'ok' } : { tag: answer.tag, val: fromJco(answer.val) };
    const r = step.repeat;
    if (!(r && calls < r['max-calls'] && got.tag === 'ok' && got.val?.tag === r.while)) return got;
    advance(got.val.val[r['advance-clock-by']]);
  }
}

/**
 * @param {object} fixture  the parsed file
 * @param {{ params: Map<string, string[]>, voidOk: Set<string> }} shapes
 *   each export's parameter names (WIT order) and which answer `void` on ok
 */
export function runFixture(fixture, shapes) {
  const dir = mkdtempSync(join(tmpdir(), 'usync-fixture-'));
  const storage = new SqliteStorage(join(dir, 'ledger.db'));
  let clock = Date.parse(fixture.clock);
  let org = new ScriptedOrg([]);
  const sync = new UnsubscribeSync({ transport: { send: (r) => org.send(r) }, storage, now: () => clock, log: () => {} });
  const problems = [];
  try {
    storage.write(Object.entries(fixture['storage-before'] ?? {}).map(([k, v]) => ({ tag: 'set', val: [k, toBytes(v)] })));
    fixture.steps.forEach((step, i) => {
      clock += step['advance-clock-ms'] ?? 0;
      org = new ScriptedOrg(step.http ?? []);
      let got;
      try {
        got = callStep(sync, step, fixture.settings, shapes, (ms) => { clock += ms; });
      } catch (e) {
        problems.push(`step ${i}: ${e.message}`);
        return;
      }
      for (const p of org.problems) problems.push(`step ${i}: ${p}`);
      if (org.script.length > 0) {
        problems.push(`step ${i}: ${org.script.length} expected request(s) never sent, first ${org.script[0].request.method} ${org.script[0].request.path}`);
      }
      if (!same(got, step.expect)) {
        problems.push(`step ${i}: result differs\n      expected ${JSON.stringify(step.expect)}\n      got      ${JSON.stringify(got)}`);
      }
    });
    const after = dump(storage);
    const want = fixture['storage-after'];
    const lines = [];
    for (const [k, v] of Object.entries(want)) {
      if (!(k in after)) lines.push(`      missing ${k} = ${JSON.stringify(v)}`);
      else if (!same(after[k], v)) lines.push(`      ${k}\n        expected ${JSON.stringify(v)}\n        got      ${JSON.stringify(after[k])}`);
    }
    for (const [k, v] of Object.entries(after)) if (!(k in want)) lines.push(`      unexpected ${k} = ${JSON.stringify(v)}`);
    if (lines.length > 0) problems.push(`storage after differs:\n${lines.join('\n')}`);
  } finally {
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return problems;
}
