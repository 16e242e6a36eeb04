// The transpiled component (jco, `--instantiation sync`, in ../component/)
// and the imports every instance gets. The core modules are compiled once
// per process; an instance costs only their instantiation.

import { readFileSync } from 'node:fs';
import { cli, io } from '@bytecodealliance/preview2-shim';
import { instantiate } from '../component/unsubscribe_sync_plugin.js';

const compiled = new Map();

function getCoreModule(path) {
  let module = compiled.get(path);
  if (!module) {
    module = new WebAssembly.Module(readFileSync(new URL(`../component/${path}`, import.meta.url)));
    compiled.set(path, module);
  }
  return module;
}

// The WASI the component links (Rust's standard library runtime), granted
// empty: preview2-shim would hand the guest the whole process.env and argv,
// and its `exit` would end the host process.
const wasi = {
  'wasi:cli/environment': {
    getEnvironment: () => [],
    getArguments: () => [],
    initialCwd: () => undefined,
  },
  'wasi:cli/exit': {
    exit() {
      throw new Error('the component called wasi:cli/exit');
    },
  },
  'wasi:cli/stderr': cli.stderr,
  'wasi:cli/stdin': cli.stdin,
  'wasi:cli/stdout': cli.stdout,
  'wasi:cli/terminal-input': cli.terminalInput,
  'wasi:cli/terminal-output': cli.terminalOutput,
  'wasi:cli/terminal-stderr': cli.terminalStderr,
  'wasi:cli/terminal-stdin': cli.terminalStdin,
  'wasi:cli/terminal-stdout': cli.terminalStdout,
  'wasi:io/error': io.error,
  'wasi:io/poll': io.poll,
  'wasi:io/streams': io.streams,
};

/**
 * A fresh instance of the component; returns its `sync` export.
 * Import keys carry no version: jco's generated code looks them up so,
 * although its generated ImportObject type names them with versions
 * (following the type fails at instantiation); hence the cast.
 * @param {{ http: object, storage: object, clock: object, log: object }} imports
 *   the four `unsubscribe-sync:salesforce` interfaces, as jco names them
 */
export function instantiateComponent(imports) {
  const root = instantiate(getCoreModule, /** @type {any} */ ({
    ...wasi,
    'unsubscribe-sync:salesforce/http': imports.http,
    'unsubscribe-sync:salesforce/storage': imports.storage,
    'unsubscribe-sync:salesforce/clock': imports.clock,
    'unsubscribe-sync:salesforce/log': imports.log,
  }));
  return root.sync;
}
