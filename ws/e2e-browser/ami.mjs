// A minimal AMI client for the simulator's control actions (SimRing,
// SimAnswer, SimHangup: see ami/sim/pbx_simcall.go).
import { connect } from 'node:net';

export async function amiControl(port, username = 'proxycti', secret = 'proxycti') {
  const sock = connect(port, '127.0.0.1');
  let buf = '';
  const waiting = new Map();
  sock.setEncoding('utf8');
  sock.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\r\n\r\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 4);
      const msg = {};
      for (const line of block.split('\r\n')) {
        const c = line.indexOf(':');
        if (c > 0) msg[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      }
      const w = msg.Response && waiting.get(msg.ActionID);
      if (w) { waiting.delete(msg.ActionID); w(msg); }
    }
  });
  await new Promise((ok, fail) => { sock.once('connect', ok); sock.once('error', fail); });
  let seq = 0;
  async function action(name, headers = {}) {
    const id = `t${++seq}`;
    const answer = new Promise((ok, fail) => {
      const t = setTimeout(() => { waiting.delete(id); fail(new Error(`AMI ${name}: no answer`)); }, 5000);
      waiting.set(id, (m) => { clearTimeout(t); ok(m); });
    });
    let raw = `Action: ${name}\r\nActionID: ${id}\r\n`;
    for (const [k, v] of Object.entries(headers)) raw += `${k}: ${v}\r\n`;
    sock.write(raw + '\r\n');
    const m = await answer;
    if (m.Response !== 'Success') throw new Error(`AMI ${name}: ${m.Message}`);
    return m;
  }
  await action('Login', { Username: username, Secret: secret, Events: 'off' });
  return { action, close: () => sock.destroy() };
}
