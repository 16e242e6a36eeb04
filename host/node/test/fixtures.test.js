// The host-neutral fixture suite (tests/fixtures/*.json) through the Node kit.
// FIXTURE=name runs the fixtures whose name contains `name`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { exportShapes } from './wit-json.js';
import { runFixture } from './fixture-runner.js';

const dir = fileURLToPath(new URL('../../../tests/fixtures/', import.meta.url));
const shapes = exportShapes(fileURLToPath(new URL('../component/interfaces/unsubscribe-sync-salesforce-sync.d.ts', import.meta.url)));

test('every fixture passes through the Node kit', () => {
  const only = process.env.FIXTURE;
  const names = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
    .filter((f) => !only || f.includes(only));
  const failures = [];
  for (const name of names) {
    const problems = runFixture(JSON.parse(readFileSync(dir + name, 'utf8')), shapes);
    if (problems.length > 0) failures.push(`${name}:\n  ${problems.join('\n  ')}`);
  }
  // The conformance line `.ci/run` compares across hosts.
  console.log(`fixtures (node): ${names.length - failures.length} of ${names.length} passed`);
  assert.ok(names.length > 0, 'no fixture ran');
  assert.deepEqual(failures, [], `${failures.length} of ${names.length} fixtures failed:\n${failures.join('\n')}`);
});
