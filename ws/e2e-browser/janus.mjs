// A stand-in for the Janus WebRTC gateway that a deployment routes /janus
// to (it cannot run here: it needs a SIP server). It speaks just enough of
// Janus' HTTP long-poll API for phone-island to start: create a session,
// attach the SIP plugin, register (always "registered"), keepalive,
// detach and destroy. Calls are never offered over WebRTC in this suite:
// the user's phone is a physical one.
let nextID = 1000;

export function createJanus() {
  const sessions = new Map(); // id -> { queue: [], waiter: fn | null, timer }

  function push(s, ev) {
    s.queue.push(ev);
    if (s.waiter) s.waiter();
  }

  function json(res, status, body) {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  // handle answers a request under /janus; false if the path is not Janus'.
  return function handle(req, res, url, body) {
    const parts = url.pathname.split('/').filter(Boolean); // ["janus", session?, handle?]
    if (parts[0] !== 'janus') return false;
    const sid = parts[1] ? Number(parts[1]) : 0;
    const s = sid ? sessions.get(sid) : null;
    if (sid && !s) {
      json(res, 200, { janus: 'error', session_id: sid, error: { code: 458, reason: 'No such session' } });
      return true;
    }
    if (req.method === 'GET' && s) {
      // Long poll: queued events at once, otherwise a keepalive after 5 s.
      const flush = () => {
        clearTimeout(s.timer);
        s.waiter = null;
        const evs = s.queue.splice(0);
        const max = Number(url.searchParams.get('maxev') || 1);
        json(res, 200, evs.length === 0 ? { janus: 'keepalive' } : max > 1 ? evs : evs[0]);
      };
      if (s.queue.length) return flush(), true;
      s.waiter = flush;
      s.timer = setTimeout(flush, 5000);
      req.on('close', () => { if (s.waiter === flush) { clearTimeout(s.timer); s.waiter = null; } });
      return true;
    }
    let msg = {};
    try { msg = JSON.parse(body || '{}'); } catch { /* answered below */ }
    const tx = msg.transaction;
    switch (msg.janus) {
      case 'create': {
        const id = nextID++;
        sessions.set(id, { queue: [], waiter: null, timer: null });
        json(res, 200, { janus: 'success', transaction: tx, data: { id } });
        return true;
      }
      case 'attach':
        json(res, 200, { janus: 'success', session_id: sid, transaction: tx, data: { id: nextID++ } });
        return true;
      case 'keepalive':
      case 'trickle':
        json(res, 200, { janus: 'ack', session_id: sid, transaction: tx });
        return true;
      case 'message': {
        json(res, 200, { janus: 'ack', session_id: sid, transaction: tx });
        const hid = Number(parts[2]);
        if (msg.body?.request === 'register') {
          const username = String(msg.body.username || '').replace(/^sip:/, '').split('@')[0];
          push(s, { janus: 'event', session_id: sid, sender: hid, transaction: tx,
            plugindata: { plugin: 'janus.plugin.sip', data: { sip: 'event', result: { event: 'registering' } } } });
          push(s, { janus: 'event', session_id: sid, sender: hid,
            plugindata: { plugin: 'janus.plugin.sip', data: { sip: 'event', result: { event: 'registered', username, register_sent: true } } } });
        }
        return true;
      }
      case 'detach':
        json(res, 200, { janus: 'success', session_id: sid, transaction: tx });
        return true;
      case 'destroy':
        if (s) { clearTimeout(s.timer); if (s.waiter) s.waiter(); }
        sessions.delete(sid);
        json(res, 200, { janus: 'success', session_id: sid, transaction: tx });
        return true;
      default:
        json(res, 200, { janus: 'error', transaction: tx, error: { code: 453, reason: 'Unsupported request' } });
        return true;
    }
  };
}
