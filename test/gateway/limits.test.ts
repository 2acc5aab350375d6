/**
 * Request limits and bad input on a real gateway process (SPEC §6): oversized header sections and
 * bodies, too many header fields, slow clients, too many connections and garbage all get AWS's
 * query-protocol error (or a closed connection) and nothing else, and the gateway keeps serving.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { Signer } from '../../src/sigv4/sign.js';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import {
  call, callSts, exchange, FORM, GET_CALLER_IDENTITY, parseResponse, queryError, signSts, sleep, tlsConnect, wrongSecret,
} from '../helpers/signedRequest.js';

const LIMITS = { maxBodyBytes: 4096, maxHeaderCount: 20, headersTimeoutMs: 1000, requestTimeoutMs: 2000, maxConnections: 5 };
const MAX_HEADER_BYTES = 16 * 1024; // the default, left as it is

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let gw: RunningGateway;
const dirs: string[] = [];
/** Every error body the gateway sent in this file, checked at the end for leaks. */
const errorBodies: { what: string; body: string }[] = [];

before(async () => {
  const dataDir = tempDir('portcullis-limits-');
  const confDir = tempDir('portcullis-limits-conf-');
  dirs.push(dataDir, confDir);
  const config = join(confDir, 'portcullis.json');
  writeFileSync(config, JSON.stringify({ limits: LIMITS }));
  gw = await startGateway({ dataDir, args: ['--config', config] });
});

after(async () => {
  if (gw) {
    const code = await gw.stop();
    assert.equal(code, 0, `the gateway exits 0 on SIGTERM\n${gw.stderr()}`);
  }
  for (const d of dirs) removeDir(d);
});

/** A request as raw text, headers in the order given. */
function rawRequest(method: string, path: string, headers: Record<string, string | number | string[] | undefined>, body = ''): string {
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) head += `${k}: ${one}\r\n`;
  }
  return `${head}\r\n${body}`;
}

/** A signed GetCallerIdentity as raw text with `extra` more (signed) header fields; returns its field count too. */
function signedRaw(extra: number): { text: string; fields: number } {
  const host = new URL(gw.url).host;
  const headers: Record<string, string> = { host, 'content-type': FORM, 'content-length': String(Buffer.byteLength(GET_CALLER_IDENTITY)) };
  for (let i = 0; i < extra; i++) headers[`x-pad-${String(i).padStart(2, '0')}`] = `v${i}`;
  const s = new Signer().sign({ method: 'POST', path: '/', headers, body: GET_CALLER_IDENTITY }, { credentials: gw.admin, region: 'us-east-1', service: 'sts' });
  const all = { ...(s.headers as Record<string, string>), connection: 'close' };
  return { text: rawRequest('POST', '/', all, GET_CALLER_IDENTITY), fields: Object.keys(all).length };
}

/** Asserts a query-protocol error with `code`, its RequestId equal to the x-amzn-requestid header. */
function assertQueryError(r: { status: number; headers: Record<string, string | string[] | undefined>; body: string }, status: number, code: string, what: string): void {
  errorBodies.push({ what, body: r.body });
  assert.equal(r.status, status, `${what}: status; body: ${r.body}`);
  assert.match(String(r.headers['content-type']), /^text\/xml/, `${what}: content type`);
  const e = queryError(r.body);
  assert.ok(e, `${what}: a query-protocol <ErrorResponse>, got ${JSON.stringify(r.body)}`);
  assert.equal(e.code, code, `${what}: error code`);
  assert.equal(e.type, 'Sender');
  assert.match(e.requestId, UUID, `${what}: RequestId`);
  assert.equal(r.headers['x-amzn-requestid'], e.requestId, `${what}: x-amzn-requestid header equals the body's RequestId`);
}

async function stillServes(): Promise<void> {
  const r = await callSts(gw);
  assert.equal(r.status, 200, `the gateway still answers: ${r.body}`);
  assert.match(r.body, /<GetCallerIdentityResponse /);
  assert.equal(gw.proc.exitCode, null, 'the gateway process is still running');
}

async function openSocket(): Promise<TLSSocket> {
  return tlsConnect(gw);
}

describe('header section limits', () => {
  it(`a header section over maxHeaderBytes (${MAX_HEADER_BYTES}) gets 400 RequestHeaderSectionTooLarge and the connection is closed`, async () => {
    const req = rawRequest('POST', '/', { host: 'localhost', 'content-type': FORM, 'x-pad': 'a'.repeat(MAX_HEADER_BYTES + 1024), 'content-length': 0 });
    const out = await exchange(await openSocket(), req, 5_000);
    assert.ok(out.text.length > 0, `a response was sent (error: ${out.error})`);
    const r = parseResponse(out.text);
    assertQueryError(r, 400, 'RequestHeaderSectionTooLarge', 'oversized header section');
    assert.equal(r.headers['connection'], 'close');
    assert.ok(out.closed, 'the gateway closed the connection');
    await stillServes();
  });

  it('a header section just under maxHeaderBytes is served', async () => {
    const host = new URL(gw.url).host;
    const s = signSts(gw, GET_CALLER_IDENTITY, { extraHeaders: { 'x-pad': 'b'.repeat(MAX_HEADER_BYTES - 2048) } });
    assert.ok(s.headers['host'] === host);
    const r = await call(gw, { method: 'POST', headers: s.headers, body: GET_CALLER_IDENTITY });
    assert.equal(r.status, 200, r.body);
  });

  it(`more header fields than maxHeaderCount (${LIMITS.maxHeaderCount}) get RequestHeaderSectionTooLarge`, async () => {
    const { text, fields } = signedRaw(LIMITS.maxHeaderCount);
    assert.ok(fields > LIMITS.maxHeaderCount);
    const out = await exchange(await openSocket(), text, 5_000);
    const r = parseResponse(out.text);
    assertQueryError(r, 400, 'RequestHeaderSectionTooLarge', 'too many header fields');
    assert.ok(out.closed, 'the connection is closed');
  });

  it('too many header fields with Host sent last (as node:http sends it) still get RequestHeaderSectionTooLarge with a request id', async () => {
    const headers: Record<string, string> = { 'content-type': FORM };
    for (let i = 0; i < LIMITS.maxHeaderCount + 5; i++) headers[`x-many-${i}`] = 'x';
    const r = await call(gw, { method: 'POST', headers, body: GET_CALLER_IDENTITY });
    assertQueryError(r, 400, 'RequestHeaderSectionTooLarge', 'too many header fields, Host last');
  });

  it('an HTTP/1.1 request without Host gets a query-protocol 400 with a request id', async () => {
    const out = await exchange(await openSocket(), `POST / HTTP/1.1\r\ncontent-type: ${FORM}\r\ncontent-length: 0\r\n\r\n`, 5_000);
    const r = parseResponse(out.text);
    assertQueryError(r, 400, queryError(r.body)?.code ?? '(none)', 'no Host header');
  });

  it('a correctly signed request with fewer header fields works', async () => {
    const { text, fields } = signedRaw(5);
    assert.ok(fields < LIMITS.maxHeaderCount);
    const out = await exchange(await openSocket(), text, 5_000);
    const r = parseResponse(out.text);
    assert.equal(r.status, 200, r.body);
    assert.match(r.body, /<Arn>arn:aws:iam::\d{12}:user\/admin<\/Arn>/);
  });

  it('exactly maxHeaderCount header fields are allowed (docs/errors.md: refused when it has *more than* limits.maxHeaderCount)', async () => {
    const base = signedRaw(0).fields;
    const { text, fields } = signedRaw(LIMITS.maxHeaderCount - base);
    assert.equal(fields, LIMITS.maxHeaderCount);
    const r = parseResponse((await exchange(await openSocket(), text, 5_000)).text);
    assert.equal(r.status, 200, `a request with exactly ${LIMITS.maxHeaderCount} fields: ${r.body}`);
    // and one more is refused
    const over = signedRaw(LIMITS.maxHeaderCount - base + 1);
    assert.equal(over.fields, LIMITS.maxHeaderCount + 1);
    const r2 = parseResponse((await exchange(await openSocket(), over.text, 5_000)).text);
    assertQueryError(r2, 400, 'RequestHeaderSectionTooLarge', 'maxHeaderCount + 1 fields');
  });
});

describe('body limits', () => {
  const bigBody = `${GET_CALLER_IDENTITY}&Pad=${'x'.repeat(2 * LIMITS.maxBodyBytes)}`;

  it('a body of exactly maxBodyBytes is served', async () => {
    const body = `${GET_CALLER_IDENTITY}&Pad=`;
    const exact = body + 'y'.repeat(LIMITS.maxBodyBytes - body.length);
    assert.equal(Buffer.byteLength(exact), LIMITS.maxBodyBytes);
    const r = await callSts(gw, { body: exact });
    assert.equal(r.status, 200, r.body);
  });

  it('a correctly signed body over maxBodyBytes (content-length) gets 413 RequestEntityTooLarge', async () => {
    const s = signSts(gw, bigBody);
    const r = await call(gw, { method: 'POST', headers: s.headers, body: bigBody });
    assertQueryError(r, 413, 'RequestEntityTooLarge', 'content-length body too large');
    assert.equal(r.headers['connection'], 'close');
    await stillServes();
  });

  it('a correctly signed chunked body that grows past maxBodyBytes gets 413 RequestEntityTooLarge', async () => {
    const s = signSts(gw, bigBody);
    const all = Buffer.from(bigBody);
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += 512) chunks.push(all.subarray(i, i + 512));
    const headers = { ...s.headers, 'transfer-encoding': 'chunked' };
    const r = await call(gw, { method: 'POST', headers, chunks });
    assertQueryError(r, 413, 'RequestEntityTooLarge', 'chunked body too large');
    await stillServes();
  });

  it('a chunked body within the limit is served', async () => {
    const s = signSts(gw, GET_CALLER_IDENTITY);
    const all = Buffer.from(GET_CALLER_IDENTITY);
    const r = await call(gw, { method: 'POST', headers: { ...s.headers, 'transfer-encoding': 'chunked' }, chunks: [all.subarray(0, 10), all.subarray(10)] });
    assert.equal(r.status, 200, r.body);
  });

  it('an unknown access key with a large declared body is refused without the body being sent', async () => {
    const creds = { accessKeyId: 'AKIA' + randomBytes(10).toString('hex').toUpperCase().slice(0, 16), secretAccessKey: randomBytes(30).toString('base64') };
    const s = signSts(gw, bigBody, { credentials: creds });
    const started = Date.now();
    const r = await call(gw, { method: 'POST', headers: { ...s.headers, 'content-length': String(10 * 1024 * 1024) }, withholdBody: true, timeoutMs: 5_000 });
    assertQueryError(r, 403, 'InvalidClientTokenId', 'unknown key, withheld body');
    assert.ok(Date.now() - started < 3_000, 'answered at once, not after a timeout');
    await stillServes();
  });
});

describe('slow and abusive clients', () => {
  /** What the gateway sent to the client whose request line never ended. */
  let slow: { text: string; closed: boolean } | undefined;

  it('a client that sends half a request line is disconnected after about headersTimeoutMs', async () => {
    const s = await openSocket();
    const out = await exchange(s, 'POST / HT', 4_500);
    slow = out;
    assert.ok(out.closed, `the connection is still open after ${out.elapsedMs} ms (headersTimeoutMs is ${LIMITS.headersTimeoutMs})`);
    assert.ok(out.elapsedMs >= LIMITS.headersTimeoutMs * 0.8, `closed after ${out.elapsedMs} ms: too early, not by the timeout`);
    assert.ok(out.elapsedMs <= 3_000, `closed after ${out.elapsedMs} ms, more than ~headersTimeoutMs + margin`);
    await stillServes();
  });

  it('the client that timed out was told so: 408 RequestTimeout in the query shape, with a request id', () => {
    assert.ok(slow, 'the slow-headers test ran');
    assert.ok(slow.text !== '', `no response was sent to the timed-out client (connection ${slow.closed ? 'closed' : 'still open'})`);
    assertQueryError(parseResponse(slow.text), 408, 'RequestTimeout', 'request timeout');
  });

  it('a client that sends headers but withholds the body is disconnected after about requestTimeoutMs', async () => {
    const s = signSts(gw, GET_CALLER_IDENTITY);
    const text = rawRequest('POST', '/', s.headers as Record<string, string>).replace('\r\n\r\n', `\r\ncontent-length: ${GET_CALLER_IDENTITY.length}\r\n\r\n`);
    const out = await exchange(await openSocket(), text + GET_CALLER_IDENTITY.slice(0, 10), 5_500);
    assert.ok(out.closed, `the connection is still open after ${out.elapsedMs} ms (requestTimeoutMs is ${LIMITS.requestTimeoutMs})`);
    assert.ok(out.elapsedMs >= LIMITS.requestTimeoutMs * 0.8, `closed after ${out.elapsedMs} ms: too early`);
    assert.ok(out.elapsedMs <= LIMITS.requestTimeoutMs + 2_000, `closed after ${out.elapsedMs} ms`);
  });

  it(`connections beyond maxConnections (${LIMITS.maxConnections}) are refused while the first ones stay usable`, async () => {
    await sleep(300); // earlier connections wound down
    const open: TLSSocket[] = [];
    try {
      for (let i = 0; i < LIMITS.maxConnections; i++) open.push(await openSocket());
      // the next one is dropped: no handshake completes, or it is closed at once
      let refused = false;
      try {
        const extra = await openSocket();
        const out = await exchange(extra, rawRequest('GET', '/_portcullis/health/live', { host: 'localhost', connection: 'close' }), 2_000);
        refused = out.closed && !out.text.startsWith('HTTP/1.1 200');
      } catch {
        refused = true;
      }
      assert.ok(refused, 'a connection over maxConnections was served');
      // the first ones are still open and usable
      for (const s of [open[0]!, open[LIMITS.maxConnections - 1]!]) {
        const out = await exchange(s, rawRequest('GET', '/_portcullis/health/live', { host: 'localhost', connection: 'close' }), 3_000);
        const r = parseResponse(out.text);
        assert.equal(r.status, 200);
        assert.deepEqual(JSON.parse(r.body), { live: true });
      }
    } finally {
      for (const s of open) s.destroy();
    }
    // once they are gone, new connections are taken again
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await sleep(100);
      ok = await callSts(gw).then((r) => r.status === 200, () => false);
    }
    assert.ok(ok, 'new connections are served after the others closed');
  });

  it('garbage after the TLS handshake gets a 400 and no crash', async () => {
    for (const junk of ['GARBAGE\r\n\r\n', '\x00\x01\x02\x03 / HTTP/1.1\r\n\r\n', 'GET / HTTP/9.9\r\nhost: x\r\n\r\n', `GET / HTTP/1.1\r\nbad header\r\n\r\n`]) {
      const out = await exchange(await openSocket(), junk, 5_000);
      assert.ok(out.text.length > 0, `an answer to ${JSON.stringify(junk)} (error: ${out.error})`);
      const r = parseResponse(out.text);
      assert.equal(r.status, 400, `${JSON.stringify(junk)}: ${out.text}`);
      assert.match(r.headers['x-amzn-requestid'] ?? '', UUID);
      assertQueryError(r, 400, queryError(r.body)?.code ?? '?', `garbage ${JSON.stringify(junk)}`);
      assert.ok(out.closed, 'the connection is closed');
    }
    await stillServes();
  });
});

describe('request ids and error bodies', () => {
  it('a success, an auth error and a 404 all carry a distinct x-amzn-requestid', async () => {
    const ok = await callSts(gw);
    assert.equal(ok.status, 200);
    const okId = String(ok.headers['x-amzn-requestid']);
    assert.match(okId, UUID);
    assert.equal(/<RequestId>([^<]+)<\/RequestId>/.exec(ok.body)?.[1], okId, 'the body names the same request id');

    const denied = await callSts(gw, { credentials: wrongSecret(gw) });
    assertQueryError(denied, 403, 'SignatureDoesNotMatch', 'wrong secret');

    const unsigned = await call(gw, { method: 'POST', headers: { 'content-type': FORM }, body: GET_CALLER_IDENTITY });
    assertQueryError(unsigned, 403, 'MissingAuthenticationToken', 'unsigned');

    const missing = await call(gw, { path: '/_portcullis/unknown' });
    assert.equal(missing.status, 404);
    assert.match(String(missing.headers['x-amzn-requestid']), UUID);
    errorBodies.push({ what: '404', body: missing.body });

    const invalid = await callSts(gw, { body: 'Action=NoSuchAction&Version=2011-06-15' });
    assertQueryError(invalid, 400, 'InvalidAction', 'invalid action');

    const ids = [okId, denied.headers['x-amzn-requestid'], unsigned.headers['x-amzn-requestid'], missing.headers['x-amzn-requestid'], invalid.headers['x-amzn-requestid']];
    assert.equal(new Set(ids).size, ids.length, 'request ids are unique');
  });

  it('no error body holds a stack trace, a file path, a secret or a signature', async () => {
    const wrong = await callSts(gw, { credentials: wrongSecret(gw) });
    errorBodies.push({ what: 'wrong secret (2)', body: wrong.body });
    assert.ok(errorBodies.length >= 8, `collected ${errorBodies.length} error bodies`);
    const secret = gw.admin.secretAccessKey;
    for (const { what, body } of errorBodies) {
      assert.ok(!body.includes(secret), `${what}: holds the secret key`);
      assert.ok(!body.includes(wrong.signature), `${what}: holds a signature`);
      assert.doesNotMatch(body, /\n\s+at |at [\w.<>]+ \(|node:internal|\.[cm]?[jt]s:\d+/, `${what}: looks like a stack trace: ${body}`);
      assert.doesNotMatch(body, /\/work\/|\/tmp\/|\/home\/|dist\/|src\/|\\\\/, `${what}: holds a file path: ${body}`);
      assert.doesNotMatch(body, /TypeError|ReferenceError|RangeError|SyntaxError|ERR_[A-Z_]+|HPE_/, `${what}: holds an internal error name: ${body}`);
    }
    assert.ok(!gw.stderr().includes(secret), 'the log holds the secret key');
  });
});
