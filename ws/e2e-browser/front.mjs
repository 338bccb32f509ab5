// The HTTPS front a deployment puts before ctiws: TLS with a self-signed
// certificate made at test time, the test page under /island/, /janus to a
// stand-in WebRTC gateway (janus.mjs), and everything else (REST and the
// websocket upgrade) proxied to ctiws. It records every proxied request
// with the status ctiws answered.
import { execFileSync } from 'node:child_process';
import { readFileSync, createReadStream, existsSync } from 'node:fs';
import { createServer } from 'node:https';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join, extname } from 'node:path';
import { createJanus } from './janus.mjs';

// selfSigned writes key.pem and cert.pem for host into dir (openssl is part
// of Debian's ca-certificates dependencies).
export function selfSigned(dir, host) {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`],
  { stdio: 'ignore' });
  return { key: readFileSync(key), cert: readFileSync(cert) };
}

const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };

// startFront listens on 127.0.0.1:port; pageDir is served under /island/,
// the rest goes to the ctiws at backend ("127.0.0.1:port").
export function startFront({ port, tls, pageDir, backend }) {
  const [bhost, bport] = backend.split(':');
  const log = [];
  const sockets = new Set();
  const janus = createJanus();
  const server = createServer(tls, (req, res) => {
    const url = new URL(req.url, 'https://front');
    if (url.pathname === '/janus' || url.pathname.startsWith('/janus/')) {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d) => { body += d; });
      req.on('end', () => janus(req, res, url, body));
      return;
    }
    if (url.pathname.startsWith('/island/')) {
      const file = join(pageDir, url.pathname.slice('/island/'.length) || 'index.html');
      if (!file.startsWith(pageDir) || !existsSync(file)) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Type': types[extname(file)] || 'application/octet-stream' });
      createReadStream(file).pipe(res);
      return;
    }
    const entry = { method: req.method, path: url.pathname, status: 0 };
    log.push(entry);
    const up = request({ host: bhost, port: Number(bport), method: req.method, path: req.url, headers: req.headers }, (ures) => {
      entry.status = ures.statusCode;
      res.writeHead(ures.statusCode, ures.headers);
      ures.pipe(res);
    });
    up.on('error', () => { entry.status = 502; res.writeHead(502).end(); });
    req.pipe(up);
  });
  // Websocket upgrades: replay the request head to ctiws and pipe bytes.
  server.on('upgrade', (req, socket, head) => {
    const entry = { method: 'UPGRADE', path: new URL(req.url, 'https://front').pathname, status: 101 };
    log.push(entry);
    const up = connect(Number(bport), bhost, () => {
      let raw = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) raw += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(raw + '\r\n');
      if (head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    for (const s of [up, socket]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => { up.destroy(); socket.destroy(); });
    }
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  return new Promise((ok, fail) => {
    server.on('error', fail);
    server.listen(port, '127.0.0.1', () => ok({
      log,
      close() {
        for (const s of sockets) s.destroy();
        return new Promise((done) => server.close(() => done()));
      },
    }));
  });
}
