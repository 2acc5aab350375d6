/**
 * The operator's side of a running gateway: health endpoints, Prometheus metrics, structured
 * logs on stderr and graceful shutdown on SIGTERM (SPEC §4).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import { call, callSts, exchange, GET_CALLER_IDENTITY, parseResponse, signSts, sleep, tlsConnect, wrongSecret } from '../helpers/signedRequest.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const dirs: string[] = [];
const running = new Set<RunningGateway>();

after(async () => {
  for (const gw of running) await gw.kill9();
  for (const d of dirs) removeDir(d);
});

async function start(config: object): Promise<RunningGateway> {
  const dataDir = tempDir('portcullis-ops-');
  const confDir = tempDir('portcullis-ops-conf-');
  dirs.push(dataDir, confDir);
  const file = join(confDir, 'portcullis.json');
  writeFileSync(file, JSON.stringify(config));
  const gw = await startGateway({ dataDir, args: ['--config', file] });
  running.add(gw);
  return gw;
}

/** Prometheus text format: sample name + label set -> value. */
interface Sample {
  readonly name: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/gy;
      let lm: RegExpExecArray | null;
      let consumed = 0;
      while ((lm = re.exec(m[2])) !== null) {
        labels[lm[1]!] = lm[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        consumed = re.lastIndex;
      }
      assert.equal(consumed, m[2].length, `malformed label set in ${line}`);
    }
    const value = m[3] === '+Inf' ? Infinity : Number(m[3]);
    assert.ok(!Number.isNaN(value), `bad value in ${line}`);
    out.push({ name: m[1]!, labels, value });
  }
  return out;
}

function sum(samples: Sample[], name: string, match: Record<string, string>): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

async function scrape(gw: RunningGateway): Promise<{ text: string; samples: Sample[] }> {
  const r = await call(gw, { path: '/_portcullis/metrics' });
  assert.equal(r.status, 200);
  assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return { text: r.body, samples: parseMetrics(r.body) };
}

describe('health, metrics and logs', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await start({ log: { level: 'debug' } });
  });

  it('GET /_portcullis/health answers 200 {"live":true,"ready":true} without authentication', async () => {
    const r = await call(gw, { path: '/_portcullis/health' });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(r.body), { live: true, ready: true });
    assert.match(String(r.headers['x-amzn-requestid']), UUID);
    assert.equal(r.headers['cache-control'], 'no-store');
  });

  it('GET /_portcullis/health/live and /_portcullis/health/ready', async () => {
    const live = await call(gw, { path: '/_portcullis/health/live' });
    assert.equal(live.status, 200);
    assert.deepEqual(JSON.parse(live.body), { live: true });
    const ready = await call(gw, { path: '/_portcullis/health/ready' });
    assert.equal(ready.status, 200);
    assert.deepEqual(JSON.parse(ready.body), { live: true, ready: true });
    const withQuery = await call(gw, { path: '/_portcullis/health/ready?verbose=1' });
    assert.equal(withQuery.status, 200);
  });

  it('the health endpoints ignore credentials, even wrong ones', async () => {
    const s = signSts(gw, '', { credentials: wrongSecret(gw) });
    const r = await call(gw, { path: '/_portcullis/health', headers: s.headers });
    assert.equal(r.status, 200);
  });

  it('other methods on the operations endpoints get 405', async () => {
    for (const [method, path] of [
      ['POST', '/_portcullis/health'],
      ['PUT', '/_portcullis/health/ready'],
      ['DELETE', '/_portcullis/health/live'],
      ['POST', '/_portcullis/metrics'],
    ] as const) {
      const r = await call(gw, { method, path, body: 'x' });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.match(String(r.headers['x-amzn-requestid']), UUID);
    }
  });

  it('a 405 says which methods are allowed (RFC 9110 §15.5.6: the Allow header is required)', async () => {
    const r = await call(gw, { method: 'POST', path: '/_portcullis/health', body: 'x' });
    assert.equal(r.status, 405);
    assert.ok(r.headers['allow'], `no Allow header; headers: ${JSON.stringify(r.headers)}`);
    assert.match(String(r.headers['allow']), /\bGET\b/);
  });

  it('an unknown operations path is 404', async () => {
    const r = await call(gw, { path: '/_portcullis/nope' });
    assert.equal(r.status, 404);
  });

  it('metrics count requests by service, action and status, auth failures by code and TLS versions', async () => {
    const before = (await scrape(gw)).samples;
    const ok = await callSts(gw);
    assert.equal(ok.status, 200, ok.body);
    const bad = await callSts(gw, { credentials: wrongSecret(gw) });
    assert.equal(bad.status, 403, bad.body);
    const { text, samples } = await scrape(gw);

    assert.match(text, /^# TYPE portcullis_requests_total counter$/m);
    assert.match(text, /^# HELP portcullis_requests_total .+$/m);
    assert.match(text, /^# TYPE portcullis_auth_failures_total counter$/m);
    assert.match(text, /^# TYPE portcullis_tls_requests_total counter$/m);
    assert.match(text, /^# TYPE portcullis_request_duration_seconds histogram$/m);

    const delta = (name: string, labels: Record<string, string>) => sum(samples, name, labels) - sum(before, name, labels);
    assert.equal(delta('portcullis_requests_total', { service: 'sts', action: 'sts:GetCallerIdentity', status: '200' }), 1, text);
    assert.equal(delta('portcullis_requests_total', { service: 'sts', status: '403' }), 1, text);
    assert.ok(samples.some((s) => s.name === 'portcullis_requests_total' && s.labels['service'] === 'sts' && s.labels['status'] === '403' && s.labels['action'] !== undefined));
    assert.equal(delta('portcullis_auth_failures_total', { code: 'SignatureDoesNotMatch' }), 1, text);
    assert.ok(sum(samples, 'portcullis_auth_failures_total', { code: 'SignatureDoesNotMatch' }) >= 1);
    // the two API calls (and, if operations requests are counted too, the first scrape)
    assert.ok(delta('portcullis_tls_requests_total', { version: 'TLSv1.3' }) >= 2, text);
    assert.equal(delta('portcullis_tls_requests_total', {}), delta('portcullis_requests_total', {}), 'every counted request has its TLS version counted');
    assert.ok(sum(samples, 'portcullis_tls_requests_total', { version: 'TLSv1.3' }) >= 1);
    // a successful request is not an auth failure
    assert.equal(delta('portcullis_auth_failures_total', {}), 1, text);
  });

  it('the latency histogram has non-decreasing buckets ending in +Inf, equal to _count', async () => {
    await callSts(gw);
    const { samples } = await scrape(gw);
    const name = 'portcullis_request_duration_seconds';
    const buckets = samples.filter((s) => s.name === `${name}_bucket`);
    assert.ok(buckets.length >= 2, 'there are buckets');
    const les = buckets.map((b) => b.labels['le']!);
    assert.equal(les.at(-1), '+Inf', 'the last bucket is le="+Inf"');
    const bounds = les.map((l) => (l === '+Inf' ? Infinity : Number(l)));
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(bounds[i]! > bounds[i - 1]!, `bucket bounds rise: ${les[i - 1]} then ${les[i]}`);
      assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `bucket counts do not fall: le=${les[i - 1]} ${buckets[i - 1]!.value} then le=${les[i]} ${buckets[i]!.value}`);
    }
    const count = samples.find((s) => s.name === `${name}_count`);
    const total = samples.find((s) => s.name === `${name}_sum`);
    assert.ok(count && total, '_count and _sum are there');
    assert.equal(buckets.at(-1)!.value, count.value);
    assert.ok(count.value >= 3, `_count counts the API requests made so far: ${count.value}`);
    assert.ok(total.value > 0 && total.value < count.value * 5, `_sum is a plausible number of seconds: ${total.value}`);
    // every API request so far is counted once
    assert.equal(count.value, sum(samples, 'portcullis_requests_total', {}));
  });

  const series = async (gw: RunningGateway) => (await scrape(gw)).samples.filter((s) => s.name === 'portcullis_requests_total').length;

  it('unknown Action names do not each create their own metrics series (bounded label values)', async () => {
    await series(gw);
    const before = await series(gw);
    for (let i = 0; i < 5; i++) {
      const r = await callSts(gw, { body: `Action=Bogus${Date.now()}${i}&Version=2011-06-15` });
      assert.equal(r.status, 400, r.body);
    }
    const grown = (await series(gw)) - before;
    assert.ok(grown <= 1, `5 made-up Action names added ${grown} series to portcullis_requests_total`);
  });

  it('unauthenticated requests to made-up /_portcullis/ paths do not each create a metrics series', async () => {
    await call(gw, { path: '/_portcullis/warmup-404' });
    await series(gw);
    const before = await series(gw);
    for (let i = 0; i < 5; i++) {
      const r = await call(gw, { path: `/_portcullis/x${Date.now()}-${i}` });
      assert.equal(r.status, 404);
    }
    const grown = (await series(gw)) - before;
    assert.ok(grown <= 1, `5 unauthenticated requests to made-up paths added ${grown} series to portcullis_requests_total`);
  });

  it('every stderr line is a JSON object with time, level and msg', async () => {
    // provoke debug lines: a malformed request and a failed TLS handshake
    await exchange(await tlsConnect(gw), 'NOT HTTP\r\n\r\n', 3_000);
    await new Promise<void>((resolve) => {
      const s = netConnect(gw.port, '127.0.0.1', () => s.end('this is not a TLS client hello\r\n'));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
    await sleep(200);
    const lines = gw.stderr().split('\n').filter((l) => l !== '');
    assert.ok(lines.length >= 3, `the gateway logged something:\n${gw.stderr()}`);
    for (const line of lines) {
      let o: unknown;
      assert.doesNotThrow(() => (o = JSON.parse(line)), `not JSON: ${line}`);
      assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `not an object: ${line}`);
      const rec = o as Record<string, unknown>;
      assert.equal(typeof rec['time'], 'string', line);
      assert.equal(new Date(rec['time'] as string).toISOString(), rec['time'], `time is ISO 8601: ${line}`);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(rec['level'] as string), `level: ${line}`);
      assert.equal(typeof rec['msg'], 'string', line);
      assert.ok((rec['msg'] as string).length > 0);
    }
    assert.ok(lines.some((l) => JSON.parse(l).level === 'debug'), 'log.level debug from the config file is in effect');
    assert.ok(!gw.stderr().includes(gw.admin.secretAccessKey), 'no secret in the log');
  });
});

describe('graceful shutdown', () => {
  let gw: RunningGateway;
  let lastResponseAt = 0;
  let exitedAt = 0;

  before(async () => {
    gw = await start({});
  });

  it('SIGTERM: readiness turns 503, in-flight requests finish, no new connections, exit 0, port closed', async () => {
    const s = signSts(gw, GET_CALLER_IDENTITY);
    let head = 'POST / HTTP/1.1\r\n';
    for (const [k, v] of Object.entries(s.headers)) head += `${k}: ${String(v)}\r\n`;
    head += `content-length: ${GET_CALLER_IDENTITY.length}\r\n\r\n`;
    const sock = await tlsConnect(gw);
    const received: Buffer[] = [];
    sock.on('data', (d: Buffer) => {
      received.push(d);
      lastResponseAt = Date.now();
    });
    sock.on('error', () => {});
    // a request in flight: headers and part of the body
    sock.write(head + GET_CALLER_IDENTITY.slice(0, 10));
    await sleep(200);

    const exited = new Promise<number | null>((resolve) => gw.proc.once('exit', (code) => {
      exitedAt = Date.now();
      resolve(code);
    }));
    running.delete(gw);
    gw.proc.kill('SIGTERM');
    await sleep(300);
    assert.equal(gw.proc.exitCode, null, 'still running while a request is in flight');

    // no new connections
    await assert.rejects(call(gw, { path: '/_portcullis/health/ready', timeoutMs: 2_000 }), (e: NodeJS.ErrnoException) => {
      assert.ok(['ECONNREFUSED', 'ECONNRESET'].includes(e.code ?? ''), `new connection: ${e.code ?? e.message}`);
      return true;
    });

    // the rest of the body, and a readiness check pipelined on the same connection
    sock.write(GET_CALLER_IDENTITY.slice(10) + 'GET /_portcullis/health/ready HTTP/1.1\r\nhost: localhost\r\n\r\n');
    for (let i = 0; i < 50 && !/\r\n\r\n\{[^}]*\}\n?$/.test(Buffer.concat(received).toString()); i++) await sleep(50);
    const text = Buffer.concat(received).toString();
    const first = parseResponse(text);
    assert.equal(first.status, 200, `the in-flight request finished: ${text}`);
    assert.match(first.body, /<GetCallerIdentityResponse /);
    const rest = text.slice(text.indexOf(first.body) + first.body.length);
    const second = parseResponse(rest);
    assert.equal(second.status, 503, `readiness while draining: ${rest}`);
    assert.deepEqual(JSON.parse(second.body), { live: true, ready: false });

    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    assert.equal(code, 0, `exit code after SIGTERM; log:\n${gw.stderr()}`);
    sock.destroy();
    assert.match(gw.stderr(), /"msg":"shutting down","signal":"SIGTERM"/);

    // the port is closed afterwards
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        const c = netConnect(gw.port, '127.0.0.1', () => {
          c.destroy();
          resolve();
        });
        c.on('error', reject);
      }),
      /ECONNREFUSED/,
    );
  });

  it('once in-flight requests are done, shutdown does not wait for idle keep-alive connections', () => {
    assert.ok(lastResponseAt > 0 && exitedAt > 0, 'the shutdown test ran');
    const lag = exitedAt - lastResponseAt;
    assert.ok(lag < 2_000, `exited ${lag} ms after the last response (the drained connection was kept alive until its keep-alive timeout)`);
  });
});
