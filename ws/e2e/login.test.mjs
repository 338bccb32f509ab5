// Foundation: login, ping ack, 401 + 41, take-over, message relay, oversize
// frame, SIGTERM without 41 — with the real socket.io-client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, restLogin, connect, once, login, sleep, waitFor } from './harness.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.stop(); });

test('REST login, socket login, ping with ack', async () => {
  const token = await restLogin(srv.url, 'alice', 'alice-demo');
  assert.match(token, /^[0-9a-f]{40}$/);
  const s = await login(srv.url, 'alice', token);
  const acked = await new Promise((ok) => s.emit('ping', () => ok(true)));
  assert.equal(acked, true);
  s.disconnect();
});

test('ping is acked before login too', async () => {
  const s = connect(srv.url);
  await once(s, 'connect');
  const acked = await new Promise((ok) => s.emit('ping', () => ok(true)));
  assert.equal(acked, true);
  s.disconnect();
});

test('wrong password gets 401 without a nonce', async () => {
  const r = await fetch(`${srv.url}/webrest/authentication/login`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'alice', password: 'nope' }),
  });
  assert.equal(r.status, 401);
  assert.equal(r.headers.get('www-authenticate'), null);
  const bad = await fetch(`${srv.url}/webrest/authentication/login`, { method: 'POST', body: '{not json' });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).code, 400);
});

test('bad token: 401 then io server disconnect', async () => {
  const s = connect(srv.url);
  await once(s, 'connect');
  const refused = once(s, '401');
  const gone = once(s, 'disconnect');
  s.emit('login', { accessKeyId: 'alice', token: 'f2bc9e0336736016193ec6ef017cc0d3e3f08beb', uaType: 'desktop' });
  const [payload] = await refused;
  assert.deepEqual(payload, { message: 'unauthorized access' });
  const [reason] = await gone;
  assert.equal(reason, 'io server disconnect');
});

test('malformed login payloads are refused', async () => {
  const token = await restLogin(srv.url, 'bob', 'bob-demo');
  for (const payload of [null, 'alice', { accessKeyId: 'bob' }, { accessKeyId: 'bob', token, uaType: 'tablet' }, { accessKeyId: 1, token }]) {
    const s = connect(srv.url);
    await once(s, 'connect');
    const refused = once(s, '401');
    s.emit('login', payload);
    await refused;
    s.disconnect();
  }
});

test('login by main extension and in other case routes as the user', async () => {
  const token = await restLogin(srv.url, 'Carol', 'carol-demo');
  const s = await login(srv.url, 'Carol', token, 'mobile');
  s.disconnect();
  const t2 = await restLogin(srv.url, '203', 'carol-demo');
  const s2 = await login(srv.url, '203', t2, 'mobile');
  s2.disconnect();
});

test('take-over: same user and uaType get takeOver, the new socket logs in at once', async () => {
  const token = await restLogin(srv.url, 'dave', 'dave-demo');
  const old = await login(srv.url, 'dave', token, 'desktop');
  const mobile = await login(srv.url, 'dave', token, 'mobile');
  const tookOver = once(old, 'takeOver');
  const start = Date.now();
  const fresh = await login(srv.url, 'dave', token, 'desktop');
  assert.ok(Date.now() - start < 2000, 'no 8 s wait');
  await tookOver;
  await sleep(200);
  assert.equal(mobile.events.filter((e) => e.name === 'takeOver').length, 0, 'mobile is not taken over');
  assert.equal(fresh.events.filter((e) => e.name === 'takeOver').length, 0);
  for (const s of [old, mobile, fresh]) s.disconnect();
});

test('message relay: delivered to the destination user, callUser stamped', async () => {
  const ta = await restLogin(srv.url, 'alice', 'alice-demo');
  const tb = await restLogin(srv.url, 'bob', 'bob-demo');
  const a = await login(srv.url, 'alice', ta, 'mobile');
  const b = await login(srv.url, 'bob', tb, 'mobile');
  const got = once(b, 'message');
  a.emit('message', { message: 'videoCallStart', destUser: 'bob', callUser: 'mallory' });
  const [m] = await got;
  assert.deepEqual(m, { message: 'videoCallStart', destUser: 'bob', callUser: 'alice' });
  // bob has no screen-sharing permission: his screenSharingStart is dropped.
  b.emit('message', { message: 'screenSharingStart', destUser: 'alice', roomId: 'r1' });
  await sleep(300);
  assert.equal(a.events.filter((e) => e.name === 'message').length, 0);
  // unauthenticated sockets cannot relay.
  const anon = connect(srv.url);
  await once(anon, 'connect');
  anon.emit('message', { message: 'videoCallStart', destUser: 'bob' });
  await sleep(300);
  assert.equal(b.events.filter((e) => e.name === 'message').length, 1);
  for (const s of [a, b, anon]) s.disconnect();
});

test('a message flood disconnects the sender with 41, never the receiver', async () => {
  const ta = await restLogin(srv.url, 'alice', 'alice-demo');
  const tb = await restLogin(srv.url, 'bob', 'bob-demo');
  const a = await login(srv.url, 'alice', ta, 'desktop');
  const b = await login(srv.url, 'bob', tb, 'desktop');
  const gone = once(a, 'disconnect');
  for (let i = 0; i < 300; i++) a.emit('message', { message: 'videoCallStart', destUser: 'bob', n: i });
  const [reason] = await gone;
  assert.equal(reason, 'io server disconnect'); // 41: the client does not reconnect
  const acked = await new Promise((ok) => b.emit('ping', () => ok(true)));
  assert.equal(acked, true);
  assert.equal(b.connected, true);
  const got = b.events.filter((e) => e.name === 'message').length;
  assert.ok(got >= 1 && got < 100, `bob got ${got} of 300 relays`);
  b.disconnect();
});

test('an oversize frame closes only that socket', async () => {
  const t = await restLogin(srv.url, 'erin', 'erin-demo');
  const victim = await login(srv.url, 'erin', t, 'mobile');
  const bystander = await login(srv.url, 'erin', t, 'desktop');
  const gone = once(victim, 'disconnect');
  victim.emit('message', { message: 'x'.repeat(10000), destUser: 'erin' });
  const [reason] = await gone;
  assert.equal(reason, 'transport close');
  const acked = await new Promise((ok) => bystander.emit('ping', () => ok(true)));
  assert.equal(acked, true);
  bystander.disconnect();
});

test('a socket that never logs in is closed after login_timeout', async () => {
  const s = connect(srv.url);
  await once(s, 'connect');
  const [reason] = await once(s, 'disconnect', 6000);
  assert.equal(reason, 'transport close');
});

test('logout invalidates the token', async () => {
  const token = await restLogin(srv.url, 'frank', 'frank-demo');
  const me = await fetch(`${srv.url}/webrest/user/me`, { headers: { Authorization: `frank:${token}` } });
  assert.equal(me.status, 200);
  assert.equal((await me.json()).username, 'frank');
  const out = await fetch(`${srv.url}/webrest/authentication/logout`, { method: 'POST', headers: { Authorization: `frank:${token}` } });
  assert.equal(out.status, 200);
  const again = await fetch(`${srv.url}/webrest/user/me`, { headers: { Authorization: `frank:${token}` } });
  assert.equal(again.status, 401);
});

test('polling and EIO=3 are refused before any upgrade', async () => {
  const poll = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(poll.status, 400);
  assert.deepEqual(await poll.json(), { code: 0, message: 'Transport unknown' });
  const v3 = await fetch(`${srv.url}/socket.io/?EIO=3&transport=websocket`);
  assert.equal(v3.status, 400);
  assert.deepEqual(await v3.json(), { code: 5, message: 'Unsupported protocol version' });
});

test('SIGTERM closes transports without 41 and exits 0', async () => {
  const token = await restLogin(srv.url, 'gina', 'gina-demo');
  const s = await login(srv.url, 'gina', token);
  const gone = once(s, 'disconnect', 8000);
  srv.proc.kill('SIGTERM');
  const [reason] = await gone;
  assert.equal(reason, 'transport close');
  const { code } = await srv.exited;
  assert.equal(code, 0);
  assert.ok(srv.logs.some((l) => l.includes('"msg":"stopped"')), 'clean stop logged');
  assert.ok(!srv.logs.some((l) => l.includes(token)), 'token never logged');
});
