// Issue 4 end to end: the real socket.io-client receives the PBX events of
// simulated calls (AMI → model → bus → routing), with each user's privacy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, restLogin, login, waitFor } from './harness.mjs';

let srv;
const socks = {};
before(async () => {
  srv = await startServer({ callsPerSecond: 8 });
  for (const u of ['alice', 'bob', 'carol', 'dave']) {
    const token = await restLogin(srv.url, u, `${u}-demo`);
    socks[u] = await login(srv.url, u, token);
    socks[u].token = token;
  }
});
after(async () => {
  for (const s of Object.values(socks)) s.disconnect();
  await srv?.stop();
});

const names = (s) => new Set(s.events.map((e) => e.name));
const any = (name) => Object.values(socks).some((s) => names(s).has(name));

test('simulated calls reach the clients', async () => {
  await waitFor(() => ['alice', 'bob', 'carol', 'dave'].every((u) => names(socks[u]).has('extenUpdate')), 15000, 'extenUpdate for everybody');
  await waitFor(() => names(socks.alice).has('userMainPresenceUpdate'), 15000, 'userMainPresenceUpdate');
  await waitFor(() => any('extenRinging'), 30000, 'extenRinging');
  await waitFor(() => any('extenHangup'), 30000, 'extenHangup');
  await waitFor(() => names(socks.bob).has('queueUpdate'), 30000, 'queueUpdate to a queue agent');
});

test('routing: trunks only to users with the trunks permission', async () => {
  await waitFor(() => names(socks.alice).has('trunkUpdate'), 30000, 'trunkUpdate to alice');
  assert.ok(!names(socks.bob).has('trunkUpdate'), 'bob has no trunks permission');
  assert.ok(!names(socks.dave).has('trunkUpdate'), 'dave has no trunks permission');
  assert.ok(!names(socks.dave).has('queueUpdate'), 'dave is no queue agent');
});

test('routing: extenRinging only to the owner of the ringing extension', async () => {
  const own = { alice: ['201', '91201'], bob: ['202'], carol: ['203'], dave: ['204'] };
  for (const [u, exts] of Object.entries(own)) {
    for (const e of socks[u].events.filter((x) => x.name === 'extenRinging')) {
      assert.ok(exts.includes(e.args[0].numCalled), `${u} got extenRinging for ${e.args[0].numCalled}`);
    }
  }
});

test('privacy: dave sees other extensions masked, alice in clear', async () => {
  const withNum = (u) => socks[u].events.filter((e) => e.name === 'extenUpdate' && e.args[0].exten !== '204')
    // Numbers only: placeholders such as <unknown> carry none and are not masked.
    .flatMap((e) => Object.values(e.args[0].conversations)).filter((c) => /[0-9]/.test(c.counterpartNum ?? '') && c.counterpartNum.length > 3);
  await waitFor(() => withNum('dave').length > 0 && withNum('alice').length > 0, 30000, 'conversations with numbers');
  for (const c of withNum('dave')) assert.match(c.counterpartNum, /xxx$/, `dave sees ${c.counterpartNum}`);
  assert.ok(withNum('alice').some((c) => !c.counterpartNum.endsWith('xxx')), 'alice sees clear numbers');
});

test('REST snapshot is filtered like the events', async () => {
  const get = async (u, path) => {
    const r = await fetch(`${srv.url}/webrest/${path}`, { headers: { Authorization: `${u}:${socks[u].token}` } });
    return { status: r.status, body: await r.json() };
  };
  const ext = await get('alice', 'astproxy/extensions');
  assert.equal(ext.status, 200);
  assert.ok(ext.body['201'] && ext.body['201'].username === 'alice');
  const trunks = await get('dave', 'astproxy/trunks');
  assert.equal(trunks.status, 403);
  assert.equal(trunks.body.code, 403);
  const queues = await get('bob', 'astproxy/queues');
  assert.equal(queues.status, 200);
  assert.ok(queues.body['401'], 'queue 401 listed');
  const bad = await fetch(`${srv.url}/webrest/user/presence`, { method: 'POST', headers: { Authorization: `bob:${socks.bob.token}` }, body: '{"status":"sleeping"}' });
  assert.equal(bad.status, 400);
});

test('presence set through REST comes back as events from the PBX', async () => {
  const r = await fetch(`${srv.url}/webrest/user/presence`, {
    method: 'POST', headers: { Authorization: `carol:${socks.carol.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ status: 'dnd' }),
  });
  assert.equal(r.status, 200);
  await waitFor(() => socks.alice.events.some((e) => e.name === 'userPresenceUpdate' && e.args[0].presence.username === 'carol' && e.args[0].presence.status === 'dnd'), 10000, 'carol dnd presence');
  await waitFor(() => socks.dave.events.some((e) => e.name === 'extenUpdate' && e.args[0].exten === '203' && e.args[0].dnd === true), 10000, 'extension 203 dnd');
});
