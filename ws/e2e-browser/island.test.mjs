// The unchanged @nethesis/phone-island widget in headless Chromium against
// ctiws, in both API modes: legacy (/webrest + /socket.io) and the
// nethcti-middleware's (/api + /api/ws). ctiws runs behind an HTTPS front
// with the simulated PBX (`ctiws amisim`), whose control actions make the
// user's extension ring from a known caller. Screenshots of every step go
// to output/ (gitignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { freePort, sleep, waitFor, root } from '../e2e/harness.mjs';
import { selfSigned, startFront } from './front.mjs';
import { amiControl } from './ami.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const binary = process.env.CTIWS_BIN || join(root, 'bin', 'ctiws');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const HOST = 'cti.test'; // the widget calls https://<host> without a port
const USER = 'alice';
const PASSWORD = 'alice-demo';
const EXTEN = '201'; // alice's main extension, a physical phone
const CALLER = { num: '0612345678', name: 'Mario Rossi' };
const out = join(here, 'output');

let tmp;
const procs = [];
let front;
let browser;
let ctiwsURL;
let ami;

function spawnLogged(args, name) {
  const p = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  p.logs = [];
  p.stderr.on('data', (d) => p.logs.push(...d.toString().split('\n').filter(Boolean)));
  p.exited = new Promise((ok) => p.on('exit', ok));
  p.name = name;
  procs.push(p);
  return p;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ctiws-island-'));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  // The widget, bundled like an application bundles it.
  const pageDir = join(tmp, 'page');
  await build({
    entryPoints: [join(here, 'page', 'entry.jsx')], bundle: true, outdir: pageDir, format: 'iife', platform: 'browser',
    define: { 'process.env.NODE_ENV': '"production"', global: 'globalThis' }, jsx: 'automatic',
    loader: { '.mp3': 'dataurl', '.wav': 'dataurl', '.woff': 'dataurl', '.woff2': 'dataurl', '.ttf': 'dataurl', '.svg': 'dataurl', '.png': 'dataurl' },
    logLevel: 'error',
  });
  copyFileSync(join(here, 'page', 'index.html'), join(pageDir, 'index.html'));

  // The simulated PBX, quiet: calls happen only when the test asks.
  const amiPort = await freePort();
  const sim = spawnLogged(['amisim', '-listen', `127.0.0.1:${amiPort}`, '-calls-per-second', '0'], 'amisim');
  await waitFor(() => sim.logs.some((l) => l.includes('simulated Asterisk listening')), 10000, 'amisim');

  const demo = join(root, 'cmd', 'ctiws', 'demo');
  for (const f of ['users.json', 'profiles.json', 'users.htpasswd', 'objects.json']) copyFileSync(join(demo, f), join(tmp, f));
  const port = await freePort();
  const mport = await freePort();
  writeFileSync(join(tmp, 'config.yaml'), `listen: "127.0.0.1:${port}"
metrics_listen: "127.0.0.1:${mport}"
drain_timeout: 2s
tenants:
  - id: demo
    ami: {address: "127.0.0.1:${amiPort}", username: proxycti, secret: proxycti}
    privacy_numbers: "xxx"
    auth: {enabled: true, htpasswd_file: users.htpasswd, jwt_secret: "island-e2e-jwt-secret"}
    users_file: users.json
    profiles_file: profiles.json
    objects_file: objects.json
`);
  const srv = spawnLogged(['serve', '-config', join(tmp, 'config.yaml')], 'ctiws');
  ctiwsURL = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15000;
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${mport}/readyz`).catch(() => null);
    if (r && r.status === 200) break;
    if (Date.now() > deadline) throw new Error('ctiws not ready:\n' + srv.logs.join('\n'));
    await sleep(50);
  }
  ami = await amiControl(amiPort);

  const frontPort = await freePort();
  front = await startFront({ port: frontPort, tls: selfSigned(tmp, HOST), pageDir, backend: `127.0.0.1:${port}` });
  // Chromium's audio (PulseAudio client) keeps its runtime files in
  // XDG_RUNTIME_DIR; where that is unset (a fresh machine, CI) it makes a
  // pulse-* folder in TMPDIR and leaves it there. Give it one of ours.
  const runtimeDir = join(tmp, 'xdg-runtime');
  mkdirSync(runtimeDir, { mode: 0o700 });
  browser = await chromium.launch({
    executablePath: chromiumPath,
    env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
    args: [`--host-resolver-rules=MAP ${HOST} 127.0.0.1:${frontPort}`, '--ignore-certificate-errors', '--no-sandbox',
      '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
});

// Whatever happens (a failure, an uncaught error, a signal), nothing this
// suite started outlives it.
process.on('exit', () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

after(async () => {
  await browser?.close().catch(() => {});
  ami?.close();
  await front?.close();
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  }
  await Promise.all(procs.map((p) => Promise.race([p.exited, sleep(5000).then(() => p.kill('SIGKILL'))])));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// token logs in the way the CTI does before it mounts the widget.
async function token(mode) {
  if (mode === 'new') {
    const r = await fetch(`${ctiwsURL}/api/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: USER, password: PASSWORD }) });
    assert.equal(r.status, 200, 'POST /api/login');
    const body = await r.json();
    assert.equal(body.code, 200);
    assert.ok(Date.parse(body.expire) > Date.now(), 'expire is a future date');
    return body.token;
  }
  const r = await fetch(`${ctiwsURL}/webrest/authentication/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: USER, password: PASSWORD }) });
  const www = r.headers.get('www-authenticate') || '';
  assert.equal(r.status, 401);
  assert.ok(www.startsWith('Digest '), 'nonce');
  return createHmac('sha1', PASSWORD).update(`${USER}:${PASSWORD}:${www.slice(7)}`).digest('hex');
}

// openIsland opens the test page in a fresh browser context (its own
// localStorage, so the widget probes the API mode) and records the
// Socket.IO frames.
async function openIsland(tok, ua = 'desktop') {
  const ctx = await browser.newContext({ viewport: { width: 900, height: 640 }, ignoreHTTPSErrors: true });
  const page = await ctx.newPage();
  page.frames = [];
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => page.frames.push({ dir: 'out', data: String(f.payload), at: Date.now() }));
    ws.on('framereceived', (f) => page.frames.push({ dir: 'in', data: String(f.payload), at: Date.now() }));
  });
  page.consoleErrors = [];
  page.on('pageerror', (e) => page.consoleErrors.push(String(e)));
  const config = Buffer.from(`${HOST}:${USER}:${tok}:${EXTEN}:unused:127.0.0.1:1`).toString('base64');
  await page.goto(`https://${HOST}/island/?ua=${ua}&config=${encodeURIComponent(config)}`);
  return { ctx, page };
}

async function islandEvents(page) {
  return page.evaluate(() => window.__islandEvents.map((e) => e.type));
}

async function waitIslandEvent(page, type, ms) {
  await page.waitForFunction((t) => window.__islandEvents.some((e) => e.type === t), type, { timeout: ms });
}

async function shot(page, mode, step) {
  await page.screenshot({ path: join(out, `${mode}-${step}.png`) });
}

for (const mode of ['legacy', 'new']) {
  test(`phone-island in ${mode} API mode`, async () => {
    const started = front.log.length;
    const tok = await token(mode);
    const { ctx, page } = await openIsland(tok);
    try {
      // 1. Log in: the socket gets authe_ok on the mode's path.
      await waitIslandEvent(page, 'phone-island-socket-authorized', 15000);
      const mine = () => front.log.slice(started);
      const upgrade = mine().find((e) => e.method === 'UPGRADE');
      assert.equal(upgrade?.path, mode === 'new' ? '/api/ws/' : '/socket.io/', 'socket path of the mode');
      await shot(page, mode, '1-logged-in');

      // 2. Pings acked for 15 s.
      const from = Date.now();
      await sleep(15000);
      const frames = page.frames.filter((f) => f.at >= from);
      const pings = frames.filter((f) => f.dir === 'out').map((f) => /^42(\d+)\["ping"/.exec(f.data)?.[1]).filter(Boolean);
      const acks = new Set(frames.filter((f) => f.dir === 'in').map((f) => /^43(\d+)/.exec(f.data)?.[1]).filter(Boolean));
      assert.ok(pings.length >= 2, `pings sent in 15 s: ${pings.length}`);
      const last = pings.at(-1);
      await waitFor(() => page.frames.some((f) => f.dir === 'in' && f.data.startsWith(`43${last}`)), 5000, 'last ping ack');
      for (const f of page.frames) if (f.dir === 'in') acks.add(/^43(\d+)/.exec(f.data)?.[1]);
      for (const id of pings) assert.ok(acks.has(id), `ping ${id} acked`);
      assert.ok(!(await islandEvents(page)).includes('phone-island-socket-disconnected'), 'socket stayed up');

      // 3. The PBX rings the user's phone from a known caller.
      const rang = Date.now();
      const call = await ami.action('SimRing', { Exten: EXTEN, CallerNum: CALLER.num, CallerName: CALLER.name });
      await page.getByText(CALLER.name).first().waitFor({ state: 'visible', timeout: 2000 }).catch(async (e) => {
        await shot(page, mode, 'debug');
        console.log(page.frames.filter((f) => f.at >= rang).map((f) => `${f.dir} ${f.data.slice(0, 200)}`).join('\n'));
        console.log((await islandEvents(page)).join(' '));
        throw e;
      });
      const shown = Date.now() - rang;
      await shot(page, mode, '2-ringing');
      console.log(`# ${mode}: caller shown ${shown} ms after SimRing`);

      // 4. Answered elsewhere (a ring-group peer), then the call ends.
      await ami.action('SimAnswer', { Linkedid: call.Linkedid, Exten: '202' });
      await page.getByText(CALLER.name).first().waitFor({ state: 'hidden', timeout: 5000 });
      await shot(page, mode, '3-answered-elsewhere');
      await ami.action('SimHangup', { Linkedid: call.Linkedid });
      await sleep(500);
      assert.equal(await page.getByText(CALLER.name).count(), 0, 'island gone after the hangup');
      await shot(page, mode, '4-hung-up');

      // 5. A call answered on the user's own phone: after the hangup the
      // widget asks for the call's summary (HEAD …/summary/<linkedid>),
      // which ctiws answers with a quiet 404.
      const own = await ami.action('SimRing', { Exten: EXTEN, CallerNum: CALLER.num, CallerName: CALLER.name });
      await page.getByText(CALLER.name).first().waitFor({ state: 'visible', timeout: 2000 });
      await ami.action('SimAnswer', { Linkedid: own.Linkedid });
      await waitFor(() => page.frames.some((f) => f.dir === 'in' && f.data.startsWith('42["extenConnected"')), 5000, 'extenConnected');
      await shot(page, mode, '5-answered-here');
      await ami.action('SimHangup', { Linkedid: own.Linkedid });
      await page.getByText(CALLER.name).first().waitFor({ state: 'hidden', timeout: 5000 });
      const summary = `${mode === 'new' ? '/api' : '/webrest'}/summary/${own.Linkedid}`;
      const check = await waitFor(() => front.log.find((e) => e.method === 'HEAD' && e.path === summary && e.status !== 0), 5000, `HEAD ${summary} answered`);
      assert.equal(check.status, 404);

      // 6. NethLink (uaType mobile) logs in as the same user: no take-over.
      const mobile = await openIsland(tok, 'mobile');
      await waitIslandEvent(mobile.page, 'phone-island-socket-authorized', 15000);
      await sleep(1000);
      assert.ok(!(await islandEvents(page)).includes('phone-island-user-already-login'), 'mobile did not take over desktop');
      await shot(mobile.page, mode, '6-nethlink-mobile');

      // 7. A second desktop login: the first window sees takeOver.
      const second = await openIsland(tok, 'desktop');
      await waitIslandEvent(second.page, 'phone-island-socket-authorized', 15000);
      await waitIslandEvent(page, 'phone-island-user-already-login', 5000);
      assert.ok(!(await islandEvents(mobile.page)).includes('phone-island-user-already-login'), 'desktop did not take over mobile');
      await shot(page, mode, '7-taken-over');
      await Promise.all([mobile.ctx.close(), second.ctx.close()]);

      // 8. Every REST call the widgets made was answered 2xx by ctiws; the
      // only exceptions are the legacy-mode probe (401 is what selects
      // legacy mode) and the summary check (no summary service: 404).
      const prefix = mode === 'new' ? '/api' : '/webrest';
      await waitFor(() => mine().every((e) => e.status !== 0), 5000, 'answers to every proxied request');
      const rest = mine().filter((e) => e.method !== 'UPGRADE');
      const bad = rest.filter((e) => !(e.status >= 200 && e.status < 300)
        && !(mode === 'legacy' && e.method === 'GET' && e.path === '/api/user/me' && e.status === 401)
        && !(e.method === 'HEAD' && e.path.startsWith(`${prefix}/summary/`) && e.status === 404));
      assert.deepEqual(bad, [], 'non-2xx answers');
      const called = new Set(rest.map((e) => `${e.method} ${e.path}`));
      for (const route of ['/user/me', '/user/endpoints/all', '/user/all_avatars', '/streaming/sources', '/astproxy/feature_codes', '/user/paramurl', '/astproxy/extensions']) {
        assert.ok(called.has(`GET ${prefix}${route}`), `GET ${prefix}${route} called; saw ${[...called].join(', ')}`);
      }
      assert.deepEqual(page.consoleErrors, [], 'uncaught errors in the page');
    } finally {
      await ctx.close();
    }
  });
}
