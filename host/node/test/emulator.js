// Starts the bundled Salesforce emulator (the `sf-emulator` binary cargo
// builds: SF_EMULATOR, or target/debug/sf-emulator) as a child process on a
// free loopback port. It exits when our end of its stdin closes.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../../', import.meta.url));

/** @returns {Promise<{ base: string, stop(): void }>} */
export function startEmulator(seed) {
  const bin = process.env.SF_EMULATOR ?? `${repo}target/debug/sf-emulator`;
  if (!existsSync(bin)) throw new Error(`no emulator at ${bin}: run \`cargo build -p sf-emulator\` (or set SF_EMULATOR)`);
  const child = spawn(bin, ['--seed', seed, '--port', '0', '--exit-on-stdin-close'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the emulator exited (${code}) before listening`)));
    lines.once('line', (line) => {
      const m = /^listening on (http:\/\/\S+)$/.exec(line);
      if (!m) return reject(new Error(`unexpected emulator output: ${line}`));
      child.removeAllListeners('exit');
      resolve({ base: m[1], stop: () => { child.stdin.end(); child.kill(); } });
    });
  });
}
