// Test harness: starts the built ctiws binary with a throwaway config on
// free ports and gives the tests a REST login and a socket.io-client helper.
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, copyFileSync, rmSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io } from 'socket.io-client';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '..', '..');
const demo = join(root, 'cmd', 'ctiws', 'demo');
const binary = process.env.CTIWS_BIN || join(root, 'bin', 'ctiws');

// Every server this process started and its temporary folder (config,
// demo htpasswd, JWT secret): removed on stop(), and at the latest when
// the process exits, also after a failure, an uncaught error or a signal.
const started = new Set();

function cleanup(entry) {
  const { proc } = entry;
  if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  rmSync(entry.dir, { recursive: true, force: true });
  started.delete(entry);
}

process.on('exit', () => { for (const e of [...started]) cleanup(e); });
for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]]) {
  process.once(sig, () => process.exit(128 + n));
}

// tryListen resolves with the port once a listener got it (0: the
// kernel's choice), or with null when it is taken.
function tryListen(port) {
  return new Promise((ok) => {
    const s = createServer();
    s.on('error', () => ok(null));
    s.listen(port, '127.0.0.1', () => {
      const got = s.address().port;
      s.close(() => ok(got));
    });
  });
}

// freePort returns a free loopback port for a server started a moment
// later. Like internal/freeport in Go: below the kernel's ephemeral range
// (outgoing connections, the browser's included, never get such a port),
// falling back to the kernel's choice.
export async function freePort() {
  let top = 0;
  try {
    top = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 0;
  } catch { /* not Linux: fall back */ }
  if (top > 11000) {
    for (let i = 0; i < 200; i++) {
      const port = await tryListen(10000 + Math.floor(Math.random() * (top - 10000)));
      if (port !== null) return port;
    }
  }
  const port = await tryListen(0);
  if (port === null) throw new Error('no free port');
  return port;
}

export function sleep(ms) {
  return new Promise((ok) => setTimeout(ok, ms));
}

// startServer runs `ctiws serve` and resolves once it accepts HTTP.
export async function startServer({ callsPerSecond = 0, extra = '' } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ctiws-e2e-'));
  const entry = { proc: null, dir };
  started.add(entry);
  for (const f of ['users.json', 'profiles.json', 'users.htpasswd', 'objects.json']) {
    copyFileSync(join(demo, f), join(dir, f));
  }
  const port = await freePort();
  const mport = await freePort();
  const cfg = `listen: "127.0.0.1:${port}"
metrics_listen: "127.0.0.1:${mport}"
drain_timeout: 3s
login_timeout: 2s
max_message_bytes: 4096
${extra}
tenants:
  - id: demo
    ami: {address: "sim", sim_calls_per_second: ${callsPerSecond}, sim_seed: 7}
    privacy_numbers: "xxx"
    auth: {enabled: true, htpasswd_file: users.htpasswd, jwt_secret: "e2e-test-jwt-secret"}
    users_file: users.json
    profiles_file: profiles.json
    objects_file: objects.json
`;
  writeFileSync(join(dir, 'config.yaml'), cfg);
  const proc = spawn(binary, ['serve', '-config', join(dir, 'config.yaml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  entry.proc = proc;
  const logs = [];
  proc.stderr.on('data', (d) => logs.push(...d.toString().split('\n').filter(Boolean)));
  const exited = new Promise((ok) => proc.on('exit', (code, signal) => ok({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${mport}/readyz`);
      if (r.status === 200) break;
    } catch { /* not up yet */ }
    if (Date.now() > deadline) {
      cleanup(entry);
      throw new Error('ctiws did not start:\n' + logs.join('\n'));
    }
    await sleep(50);
  }
  return {
    url, metricsURL: `http://127.0.0.1:${mport}`, proc, logs, exited,
    dir,
    // stop ends the server with SIGTERM (a clean drain) and removes its
    // temporary folder.
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const result = await exited;
      cleanup(entry);
      return result;
    },
  };
}

// restLogin does the NethCTI REST login and computes the token (docs/protocol.md, section 2.2).
export async function restLogin(url, username, password) {
  const r = await fetch(`${url}/webrest/authentication/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  const www = r.headers.get('www-authenticate') || '';
  if (r.status !== 401 || !www.startsWith('Digest ')) throw new Error(`login failed: HTTP ${r.status}`);
  const nonce = www.slice('Digest '.length);
  return createHmac('sha1', password).update(`${username}:${password}:${nonce}`).digest('hex');
}

// connect opens a socket like phone-island and records every event.
export function connect(url, opts = {}) {
  const socket = io(url, { transports: ['websocket'], upgrade: false, reconnection: false, timeout: 5000, ...opts });
  socket.events = [];
  socket.onAny((name, ...args) => socket.events.push({ name, args }));
  return socket;
}

// once resolves with the arguments of the next `event` (or rejects).
export function once(socket, event, ms = 5000) {
  return new Promise((ok, fail) => {
    const t = setTimeout(() => fail(new Error(`timeout waiting for ${event}`)), ms);
    socket.once(event, (...args) => { clearTimeout(t); ok(args); });
  });
}

// login connects, sends `login` and waits for authe_ok.
export async function login(url, user, token, uaType = 'desktop') {
  const s = connect(url);
  await once(s, 'connect');
  const ok = once(s, 'authe_ok');
  s.emit('login', { accessKeyId: user, token, uaType });
  await ok;
  return s;
}

// waitFor polls fn until it returns a truthy value.
export async function waitFor(fn, ms = 10000, what = 'condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${what}`);
    await sleep(25);
  }
}
