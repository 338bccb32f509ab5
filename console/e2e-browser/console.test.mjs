// The operator console in headless Chromium: three ctiws nodes on a
// three-master Redis Cluster serve two tenants on simulated PBXs; the
// browser logs in on one node's internal listener and goes through the
// console as an operator would. Screenshots of every step go to output/
// (gitignored); docs/img/ keeps copies for docs/operations.md.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const binary = process.env.CTIWS_BIN || join(root, 'bin', 'ctiws');
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const out = join(here, 'output');
const ADMIN = { user: 'admin', password: 'admin-demo' };
const TRACED = 'bob'; // the demo's Operator profile: privacy on

let tmp;
const procs = [];
let browser;
const nodes = []; // {id, port, mport, proc}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function listenable(port) {
  return new Promise((ok) => {
    const s = createServer();
    s.on('error', () => ok(false));
    s.listen(port, '127.0.0.1', () => s.close(() => ok(true)));
  });
}

// freePort is a free loopback port below 55536 whose +10000 (a Redis
// Cluster bus port) is free too, outside the kernel's ephemeral range.
async function freePort() {
  for (let i = 0; i < 500; i++) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if ((await listenable(p)) && (await listenable(p + 10000))) return p;
  }
  throw new Error('no free port');
}

function spawnLogged(cmd, args, name) {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
  p.logs = [];
  const keep = (d) => p.logs.push(...d.toString().split('\n').filter(Boolean));
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  p.exited = new Promise((ok) => p.on('exit', ok));
  p.name = name;
  procs.push(p);
  return p;
}

async function startRedisCluster() {
  const ports = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    ports.push(port);
    const dir = join(tmp, `redis-${port}`);
    mkdirSync(dir);
    spawnLogged('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--cluster-enabled', 'yes',
      '--cluster-config-file', 'nodes.conf', '--save', '', '--appendonly', 'no'], `redis-${port}`);
  }
  for (const p of ports) {
    await waitFor(() => { try { return execFileSync('redis-cli', ['-p', String(p), 'ping']).toString().includes('PONG'); } catch { return false; } }, 10000, `redis ${p}`);
  }
  execFileSync('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  for (const p of ports) {
    await waitFor(() => execFileSync('redis-cli', ['-p', String(p), 'cluster', 'info']).toString().includes('cluster_state:ok'), 15000, `cluster state of ${p}`);
  }
  return ports;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ctiws-console-'));
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const redisPorts = await startRedisCluster();
  const demo = join(root, 'cmd', 'ctiws', 'demo');
  for (const f of ['users.json', 'profiles.json', 'users.htpasswd', 'objects.json', 'console.htpasswd']) copyFileSync(join(demo, f), join(tmp, f));
  writeFileSync(join(tmp, 'session.secret'), 'console-e2e-session-secret-0123456789\n');
  const tenant = (id, rate) => `  - id: ${id}
    hosts: [${id}.test]
    ami: {address: sim, sim_calls_per_second: ${rate}, sim_seed: ${id.length}}
    privacy_numbers: "xxx"
    auth: {enabled: true, htpasswd_file: users.htpasswd, jwt_secret: "console-e2e-${id}"}
    users_file: users.json
    profiles_file: profiles.json
    objects_file: objects.json
`;
  for (const id of ['n1', 'n2', 'n3']) {
    const port = await freePort();
    const mport = await freePort();
    const cfg = join(tmp, `${id}.yaml`);
    writeFileSync(cfg, `node_id: ${id}
listen: "127.0.0.1:${port}"
metrics_listen: "127.0.0.1:${mport}"
redis_url: "redis+cluster://${redisPorts.map((p) => `127.0.0.1:${p}`).join(',')}"
drain_timeout: 2s
lease_ttl: 3s
console:
  htpasswd_file: console.htpasswd
  unmasked_users: [admin]
  session_secret_file: session.secret
tenants:
${tenant('alpha', 3)}${tenant('beta', 1)}`);
    nodes.push({ id, port, mport, proc: spawnLogged(binary, ['serve', '-config', cfg], id) });
  }
  for (const n of nodes) {
    await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${n.mport}/readyz`).catch(() => null);
      return r?.status === 200;
    }, 20000, `${n.id} ready:\n${n.proc.logs.join('\n')}`);
  }
  // Chromium keeps runtime files in XDG_RUNTIME_DIR, else in TMPDIR: give
  // it one of ours (the suite must leave TMPDIR as it found it).
  const runtimeDir = join(tmp, 'xdg-runtime');
  mkdirSync(runtimeDir, { mode: 0o700 });
  browser = await chromium.launch({ executablePath: chromiumPath, env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir }, args: ['--no-sandbox'] });
});

process.on('exit', () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

after(async () => {
  await browser?.close().catch(() => {});
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => Promise.race([p.exited, sleep(5000).then(() => p.kill('SIGKILL'))])));
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function shot(page, step) {
  await page.screenshot({ path: join(out, `${step}.png`), fullPage: true });
}

// reloadUntil reloads the page until fn (run in the page) holds.
async function reloadUntil(page, fn, arg, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await page.evaluate(fn, arg)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
    await page.reload();
  }
}

test('the operator console on a 3-node cluster', async () => {
  const base = `http://127.0.0.1:${nodes[0].mport}/console/`;
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  try {
    // 1. Not logged in: the login page; a wrong password is refused.
    await page.goto(base);
    assert.match(page.url(), /\/console\/login$/);
    await page.fill('input[name=user]', ADMIN.user);
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    assert.match(await page.textContent('.error'), /Wrong user or password/);
    await shot(page, '1-login-refused');
    await page.fill('input[name=user]', ADMIN.user);
    await page.fill('input[name=password]', ADMIN.password);
    await page.click('button[type=submit]');
    const cookie = (await ctx.cookies()).find((c) => c.name === 'ctiws_console');
    assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', 'session cookie HttpOnly, SameSite=Strict');

    // 2. The cluster: three nodes reporting, the Redis Cluster reachable.
    assert.match(page.url(), /\/console\/cluster$/);
    await reloadUntil(page, () => document.querySelectorAll('#nodes tr[data-node] td.state').length === 3, null, 15000, 'three nodes with a status');
    assert.match(await page.textContent('#store'), /redis cluster/);
    assert.match(await page.textContent('#store'), /reachable/);
    await shot(page, '2-cluster');

    // 3. The tenants: two, each owned by a node with its AMI link up.
    await page.click('nav a[href="/console/tenants"]');
    await reloadUntil(page, () => [...document.querySelectorAll('#tenants tr[data-tenant]')]
      .filter((r) => /n[123]/.test(r.children[1].textContent) && r.textContent.includes('up since')).length === 2, null, 15000, 'two owned tenants');
    await shot(page, '3-tenants');

    // 4. A tenant: users, objects, and a live event arriving.
    await page.click('#tenants a[href="/console/tenant/alpha"]');
    await page.waitForSelector('#users tr[data-user="alice"]');
    await page.waitForSelector('#tail li.event', { timeout: 15000 });
    assert.ok((await page.$$('details.objects tr[data-key^="exten/"]')).length > 0, 'extensions listed');
    await shot(page, '4-tenant');

    // 5. Trace a privacy user: the frames bob's clients get, numbers masked.
    await page.click(`#users tr[data-user="${TRACED}"] a[href$="/trace/alpha/${TRACED}"]`);
    await page.waitForFunction(() => [...document.querySelectorAll('#trace li.frame')]
      .some((li) => /"counterpartNum":"[0-9*#+]*xxx"/.test(li.querySelector('.data').textContent)), null, { timeout: 20000 });
    const lines = await page.$$eval('#trace li.frame', (ls) => ls.map((l) => ({ cause: l.querySelector('.cause').textContent, data: l.querySelector('.data').textContent })));
    assert.ok(lines.some((l) => /← extenChanged exten\/\d+ #\d+/.test(l.cause)), 'frames show the bus event that caused them');
    assert.ok(lines.every((l) => l.data.startsWith('42["')), 'frames as the client gets them');
    // (bob's own extension, 202, is clear to him, as to his clients.)
    assert.ok(!lines.some((l) => !l.data.includes('"exten":"202"') && /"counterpartNum":"[0-9]{6,}"/.test(l.data)),
      'no unmasked counterpart number in bob\'s frames');
    await shot(page, '5-trace');

    // 6. An action without the CSRF token is refused (same origin, with
    // the session cookie).
    const status = await page.evaluate(async () => (await fetch('/console/action/drain', {
      method: 'POST', body: new URLSearchParams({ node: 'n2', confirm: 'yes' }) })).status);
    assert.equal(status, 403, 'a POST without the CSRF token');

    // 7. Drain n3: confirm, see it in the audit log and the node go.
    await page.goto(base + 'cluster');
    await page.click('#nodes tr[data-node="n3"] button');
    assert.match(await page.textContent('form.confirm'), /Drain node n3/);
    await shot(page, '6-confirm-drain');
    await page.click('form.confirm button[type=submit]');
    assert.match(page.url(), /\/console\/audit$/);
    await page.waitForSelector('#audit tr[data-action="drain"][data-target="n3"]');
    await page.goto(base + 'cluster');
    await reloadUntil(page, () => {
      const r = document.querySelector('#nodes tr[data-node="n3"]');
      return r && r.querySelector('td.state').textContent.includes('draining') && r.children[5].textContent.trim() === '';
    }, null, 20000, 'n3 draining, owning nothing');
    await shot(page, '7-drained');
    await page.goto(base + 'audit');
    await reloadUntil(page, () => document.querySelectorAll('#audit tr[data-action="drain"]').length === 2, null, 10000, 'the drain carried out, in the audit log');
    assert.equal(await page.$$eval('#audit tr[data-target="n2"]', (r) => r.length), 0, 'the refused action did nothing');
    await shot(page, '8-audit');
    assert.deepEqual(errors, [], 'no page errors');
  } finally {
    await ctx.close();
  }
});
