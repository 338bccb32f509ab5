// The suite leaves no temporary folder behind (they hold the demo
// htpasswd and JWT secret): not after stop(), and not when a test process
// dies without stopping its server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const harness = join(dirname(fileURLToPath(import.meta.url)), 'harness.mjs');

// runScript runs body in a fresh node process whose temporary folder is a
// new empty one, and returns that process's exit status and what is left
// in its temporary folder.
function runScript(body) {
  const tmp = mkdtempSync(join(tmpdir(), 'ctiws-cleanup-check-'));
  try {
    const script = `import { startServer } from ${JSON.stringify(harness)};\n${body}`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: tmp }, encoding: 'utf8', timeout: 30000,
    });
    return { status: r.status, stderr: r.stderr, left: readdirSync(tmp).filter((f) => f.startsWith('ctiws-e2e-')) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const cases = [
  ['stop() removes the folder', `const s = await startServer(); await s.stop();`, 0],
  ['an uncaught error with the server running', `await startServer(); throw new Error('boom');`, 1],
  ['process.exit with the server running', `await startServer(); process.exit(3);`, 3],
  ['two servers, one stopped', `const a = await startServer(); await startServer(); await a.stop(); process.exit(4);`, 4],
];

for (const [name, body, status] of cases) {
  test(`no ctiws-e2e-* folder left: ${name}`, () => {
    const r = runScript(body);
    assert.equal(r.status, status, r.stderr);
    assert.deepEqual(r.left, [], `left behind: ${r.left}`);
  });
}
