// UnsubscribeSync has one method per export of the component's `sync`
// interface (as jco's generated declarations list them), so an export added
// to the WIT without a method here fails this test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { UnsubscribeSync } from '../src/index.js';
import { exportShapes } from './wit-json.js';

test('one method per export', () => {
  const { params } = exportShapes(fileURLToPath(new URL('../component/interfaces/unsubscribe-sync-salesforce-sync.d.ts', import.meta.url)));
  const camel = (k) => k.replace(/-([a-z0-9])/g, (_, c) => c.toUpperCase());
  for (const [name, names] of params) {
    const method = UnsubscribeSync.prototype[camel(name)];
    assert.equal(typeof method, 'function', `no method for export ${name}`);
    assert.equal(method.length, names.length, `${name} takes ${names.join(', ')}`);
  }
});
