// WIT values between the fixtures' JSON shape (tests/fixtures/README.md) and
// jco's: record keys kebab-case there, camelCase here; `none` null there,
// undefined here; 64-bit integers numbers there, BigInt here (jco accepts
// numbers going in). Objects with only `tag` (and `val`) are variants or
// results in both shapes, so no type is needed except for one question jco's
// values cannot answer: whether an `ok` carries a value, which the
// generated declarations say (`void` results).

import { readFileSync } from 'node:fs';

const camel = (k) => k.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
const kebab = (k) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const isTagged = (o) => typeof o.tag === 'string' && Object.keys(o).every((k) => k === 'tag' || k === 'val');

/** A fixture's WIT JSON as jco's value. */
export function toJco(v) {
  if (v === null) return undefined;
  if (Array.isArray(v)) return v.map(toJco);
  if (typeof v === 'object') {
    if (isTagged(v)) return 'val' in v ? { tag: v.tag, val: toJco(v.val) } : { tag: v.tag };
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [camel(k), toJco(x)]));
  }
  return v;
}

/** A jco value as the fixtures' WIT JSON. */
export function fromJco(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new Error(`${v} does not fit a JSON number exactly`);
    }
    return Number(v);
  }
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) return v.map(fromJco);
  if (typeof v === 'object') {
    if (isTagged(v)) return v.val === undefined ? { tag: v.tag } : { tag: v.tag, val: fromJco(v.val) };
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [kebab(k), fromJco(x)]));
  }
  return v;
}

/**
 * From jco's generated declarations of the `sync` interface: each export's
 * parameter names (WIT kebab-case, in order), keyed by its WIT name, and
 * the (camelCase) exports whose `ok` is `void`.
 */
export function exportShapes(declarations) {
  const text = readFileSync(declarations, 'utf8');
  const params = new Map();
  const voidOk = new Set();
  for (const m of text.matchAll(/^(?:export )?function (\w+)\((.*)\): (.+);$/gm)) {
    const name = m[1].replace(/^_/, '');
    const names = m[2].trim() === '' ? [] : m[2].split(/,\s*(?=\w+\??:)/).map((p) => kebab(p.split(':')[0].replace('?', '').trim()));
    params.set(kebab(name), names);
    if (m[3].trim() === 'void') voidOk.add(name);
  }
  return { params, voidOk };
}

/** JSON equality with numbers by value and objects' keys in any order. */
export function same(a, b) {
  if (typeof a !== typeof b) return false;
  if (a === null || b === null || typeof a !== 'object') return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => same(x, b[i]));
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && same(a[k], b[k]));
}
