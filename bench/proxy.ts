/**
 * The data plane: signed, authorized requests per second through Portcullis to a trivial
 * upstream, as a ratio to a bare Node HTTPS reverse proxy (no authentication, an undici pool)
 * in front of the same upstream, and to nginx as a TLS reverse proxy (one worker, keep-alive
 * upstream) when nginx is installed, measured in the same run with wrk. Beside them, a ceiling:
 * the bare proxy that also verifies the SigV4 signature and does nothing else.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Signer } from '../src/sigv4/sign.js';
import { startGateway, type RunningGateway } from '../test/helpers/gateway.js';
import { REPO_ROOT } from '../test/helpers/paths.js';
import { hasWrk, postScript, wrkRounds } from './wrk.js';

const UPSTREAM = `
import { createServer } from 'node:http';
const body = JSON.stringify({ pipelineIdList: [], hasMoreResults: false });
const s = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(body) }); res.end(body); }); });
s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
`;

/**
 * The bare proxy: each request and answer passed on with every end-to-end header field, as a
 * reverse proxy does (nginx and Portcullis alike). With `verify` it also checks the SigV4
 * signature (our verifier, the key from memory): the least any gateway that authenticates its
 * callers must do per request, so its ratio to the bare proxy is a ceiling for all of them.
 */
const BARE_PROXY = `
import { createServer } from 'node:https';
import { createHash } from 'node:crypto';
import { Pool } from ${JSON.stringify(join(REPO_ROOT, 'node_modules/undici/index.js'))};
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { secureContextOptions } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/tls/policy.js'))};
import { Verifier } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/sigv4/verify.js'))};
import { requestFromWire } from ${JSON.stringify(join(REPO_ROOT, 'dist/src/sigv4/request.js'))};
const [dir, upstreamPort, mode] = process.argv.slice(2);
const identities = ['ecdsa', 'rsa'].map((t) => ({ certPem: readFileSync(join(dir, 'tls', t + '.cert.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'tls', t + '.key.pem'), 'utf8') }));
const secretAccessKey = /aws_secret_access_key = (\\S+)/.exec(readFileSync(join(dir, 'credentials'), 'utf8'))[1];
const found = { status: 'found', secretAccessKey, principal: {} };
const verifier = new Verifier({ region: 'us-east-1', lookup: () => found });
const pool = new Pool('http://127.0.0.1:' + upstreamPort, { connections: 256 });
// What a reverse proxy must not pass on (RFC 9110 7.6.1); undici sets Host itself.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'host', 'expect']);
const endToEnd = (raw) => {
  const out = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
};
const s = createServer(secureContextOptions({ minTls: '1.2', identities }), (req, res) => {
  const headers = endToEnd(req.rawHeaders);
  const forward = (body) => pool.stream({ method: req.method, path: req.url, headers, body }, ({ statusCode, headers }) => {
    const back = {};
    for (const k in headers) if (!HOP.has(k)) back[k] = headers[k];
    res.writeHead(statusCode, back);
    return res;
  })
    .catch(() => { if (!res.headersSent) { res.writeHead(502); res.end(); } else res.destroy(); });
  if (mode === 'plain') return forward(req);
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    const wire = requestFromWire(req.method, req.url, req.rawHeaders);
    const auth = verifier.parse(wire);
    verifier.checkTimeAndScope(auth);
    verifier.checkSignature(wire, auth, found, { bodySha256: createHash('sha256').update(body).digest('hex') });
    forward(body);
  });
});
s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
`;

function child(file: string, args: string[]): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve) => proc.stdout!.on('data', (d: Buffer) => {
    const m = /listening (\d+)/.exec(d.toString());
    if (m) resolve({ proc, port: Number(m[1]) });
  }));
}

/** The same TLS policy as the gateway: TLS 1.2+, ECDHE with AEAD suites only. */
function nginxConfig(work: string, port: number, upstreamPort: number, tlsDir: string): string {
  return `worker_processes 1;
daemon off;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${work}/nginx-tmp/body;
  proxy_temp_path ${work}/nginx-tmp/proxy;
  fastcgi_temp_path ${work}/nginx-tmp/fastcgi;
  uwsgi_temp_path ${work}/nginx-tmp/uwsgi;
  scgi_temp_path ${work}/nginx-tmp/scgi;
  upstream up { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tlsDir}/ecdsa.cert.pem;
    ssl_certificate_key ${tlsDir}/ecdsa.key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
`;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function startNginx(work: string, upstreamPort: number, tlsDir: string): Promise<{ proc: ChildProcess; port: number } | undefined> {
  if (spawnSync('nginx', ['-v']).error) return undefined;
  const port = await freePort();
  mkdirSync(join(work, 'nginx-tmp'), { recursive: true });
  const conf = join(work, 'nginx.conf');
  writeFileSync(conf, nginxConfig(work, port, upstreamPort, tlsDir));
  const proc = spawn('nginx', ['-p', work, '-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const c = createConnection(port, '127.0.0.1', () => resolve(true)).on('error', () => resolve(false));
      c.unref();
      setTimeout(() => c.destroy(), 200).unref();
    });
    if (up) return { proc, port };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGTERM');
  return undefined;
}

export async function benchProxy(): Promise<number | undefined> {
  if (!hasWrk()) {
    console.log('proxy: skipped, wrk is not installed (apt-get install wrk)');
    return undefined;
  }
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-proxy-'));
  const procs: ChildProcess[] = [];
  let gw: RunningGateway | undefined;
  let gwAll: RunningGateway | undefined;
  try {
    writeFileSync(join(work, 'upstream.mjs'), UPSTREAM);
    writeFileSync(join(work, 'proxy.mjs'), BARE_PROXY);
    const upstream = await child(join(work, 'upstream.mjs'), []);
    procs.push(upstream.proc);
    writeFileSync(join(work, 'config.json'), JSON.stringify({ services: [{ name: 'datapipeline', upstream: `http://127.0.0.1:${upstream.port}` }] }));
    gw = await startGateway({ dataDir: join(work, 'data'), args: ['--config', join(work, 'config.json')] });
    // The product as `npm start` runs it: one worker per core, on the same data dir.
    const cores = availableParallelism();
    if (cores > 1) gwAll = await startGateway({ dataDir: gw.dataDir, args: ['--config', join(work, 'config.json')], env: { PORTCULLIS_WORKERS: '0' } });
    const bare = async (mode: string) => {
      const c = await child(join(work, 'proxy.mjs'), [gw!.dataDir, String(upstream.port), mode]);
      procs.push(c.proc);
      return `https://127.0.0.1:${c.port}`;
    };
    const nginx = await startNginx(work, upstream.port, join(gw.dataDir, 'tls'));
    if (nginx !== undefined) procs.push(nginx.proc);

    const admin = gw.admin;
    const scriptFor = (base: string, name: string): string => {
      const body = '{}';
      const headers = { host: new URL(base).host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'DataPipeline.ListPipelines' };
      const signed = new Signer().sign({ method: 'POST', path: '/', headers, body }, { credentials: admin, region: 'us-east-1', service: 'datapipeline' });
      const file = join(work, `${name}.lua`);
      writeFileSync(file, postScript(signed.headers as Record<string, string>, body));
      return file;
    };
    const targets = [
      { name: 'bare', url: await bare('plain') },
      { name: 'verify', url: await bare('verify') },
      ...(nginx === undefined ? [] : [{ name: 'nginx', url: `https://127.0.0.1:${nginx.port}` }]),
      { name: 'one', url: gw.url },
      ...(gwAll === undefined ? [] : [{ name: 'all', url: gwAll.url }]),
    ].map((t) => ({ name: t.name, url: `${t.url}/`, script: scriptFor(t.url, t.name) }));
    const m = wrkRounds(targets);
    const row = (name: string, target: string, note: string) => console.log(`  ${name.padEnd(36)} ${Math.round(m.get(target)!.opsPerSec).toLocaleString('en-US').padStart(8)} /s   ${note}`);
    const of = (name: string) => `${m.get(name)!.ratio.toFixed(2)} of bare`;
    console.log('proxy: signed, authorized requests/s to a trivial upstream (wrk, 32 keep-alive TLS connections; ratios: medians of paired rounds)');
    row('bare node https proxy', 'bare', '1.00 (baseline, no authentication)');
    row('bare proxy + SigV4 verification', 'verify', `${of('verify')} (the ceiling: nothing but the signature checked)`);
    if (nginx !== undefined) row('nginx (1 worker)', 'nginx', `${of('nginx')} (no authentication)`);
    else console.log('  nginx: skipped, not installed (apt-get install nginx-light)');
    const o = m.get('one')!;
    row('portcullis, one worker', 'one', `${of('one')} (target >= 0.9)${nginx !== undefined ? `; ${(o.ratio / m.get('nginx')!.ratio).toFixed(2)} of nginx` : ''}`);
    if (gwAll !== undefined) row(`portcullis, ${cores} workers (the default)`, 'all', of('all'));
    return o.ratio;
  } finally {
    await gw?.stop();
    await gwAll?.stop();
    for (const p of procs) p.kill('SIGTERM');
    rmSync(work, { recursive: true, force: true });
  }
}
