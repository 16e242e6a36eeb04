// Builds what the package ships besides src/: the component transpiled by jco
// (component/) and the TypeScript declarations (types/, emitted by tsc from
// src/'s JSDoc and jco's generated types, so they match the code).
//
// The component is the cargo-built `.wasm`: UNSUBSCRIBE_SYNC_WASM, or the
// path `.ci/run` builds it at.

import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const kit = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(kit, '../..');
const candidates = [
  process.env.UNSUBSCRIBE_SYNC_WASM,
  join(repo, 'target/guest/wasm32-wasip2/guest/unsubscribe_sync_plugin.wasm'),
].filter(Boolean);
const wasm = candidates.find((p) => existsSync(p));
if (!wasm) {
  console.error(`no component found (tried ${candidates.join(', ')}); build it first:
  CARGO_TARGET_DIR=target/guest cargo build -p unsubscribe-sync-plugin --target wasm32-wasip2 --profile guest`);
  process.exit(1);
}

const bin = (name) => join(kit, 'node_modules/.bin', name);
rmSync(join(kit, 'component'), { recursive: true, force: true });
rmSync(join(kit, 'types'), { recursive: true, force: true });
// Sync instantiation: Node 20 has no JSPI, so imports are synchronous, and
// the kit instantiates (and re-instantiates after a trap) itself.
execFileSync(bin('jco'), ['transpile', wasm, '-o', join(kit, 'component'), '--name', 'unsubscribe_sync_plugin',
  '--instantiation', 'sync', '--no-nodejs-compat', '--quiet'], { stdio: 'inherit' });
execFileSync(bin('tsc'), ['-p', join(kit, 'tsconfig.json')], { stdio: 'inherit' });
// The declarations as a consumer meets them: a typed usage that must compile.
execFileSync(bin('tsc'), ['-p', join(kit, 'test/types/tsconfig.json')], { stdio: 'inherit' });
console.log(`built component/ and types/ from ${wasm}`);
