/**
 * The audit trail (SPEC §1.4) of a real gateway: one JSON line per request in DIR/audit/audit.log,
 * allowed or denied, with the fields the SPEC lists and never a secret, a signature or a session
 * token; size-based rotation that keeps `keepFiles` old files and loses no line it keeps.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import { call, callSts, exchange, FORM, GET_CALLER_IDENTITY, parseResponse, queryError, sleep, tlsConnect, wrongSecret, type Reply } from '../helpers/signedRequest.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FIELDS = ['time', 'requestId', 'principal', 'accessKeyId', 'action', 'resource', 'decision', 'reason', 'sourceIp', 'tlsVersion', 'tlsSuite', 'status', 'latencyMs'];

const dirs: string[] = [];
const running = new Set<RunningGateway>();
after(async () => {
  for (const gw of running) {
    const code = await gw.stop();
    assert.equal(code, 0);
  }
  for (const d of dirs) removeDir(d);
});

async function start(config?: object): Promise<RunningGateway> {
  const dataDir = tempDir('portcullis-audit-');
  dirs.push(dataDir);
  const args: string[] = [];
  if (config) {
    const confDir = tempDir('portcullis-audit-conf-');
    dirs.push(confDir);
    writeFileSync(join(confDir, 'portcullis.json'), JSON.stringify(config));
    args.push('--config', join(confDir, 'portcullis.json'));
  }
  const gw = await startGateway({ dataDir, args });
  running.add(gw);
  return gw;
}

const auditDir = (gw: RunningGateway) => join(gw.dataDir, 'audit');
const auditFile = (gw: RunningGateway, n = 0) => join(auditDir(gw), n === 0 ? 'audit.log' : `audit.log.${n}`);

function readText(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

/** The lines of one audit file, each parsed; a line that is not a JSON object fails the test. */
function parseLines(text: string, where: string): Record<string, unknown>[] {
  if (text === '') return [];
  assert.ok(text.endsWith('\n'), `${where}: the last line is complete`);
  return text.slice(0, -1).split('\n').map((line, i) => {
    let o: unknown;
    assert.doesNotThrow(() => (o = JSON.parse(line)), `${where} line ${i + 1} is not JSON: ${JSON.stringify(line)}`);
    assert.ok(o !== null && typeof o === 'object' && !Array.isArray(o), `${where} line ${i + 1} is not an object`);
    return o as Record<string, unknown>;
  });
}

/** Waits until every id has a line in audit.log (or `timeoutMs` passes); returns the parsed lines. */
async function waitFor(gw: RunningGateway, ids: readonly string[], timeoutMs = 1_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readText(auditFile(gw));
    if (ids.every((id) => text.includes(`"requestId":"${id}"`)) || Date.now() > deadline) return parseLines(text, 'audit.log');
    await sleep(20);
  }
}

function requestId(r: Reply): string {
  const id = r.headers['x-amzn-requestid'];
  assert.equal(typeof id, 'string', 'the response has x-amzn-requestid');
  assert.match(id as string, UUID);
  return id as string;
}

describe('audit events', () => {
  let gw: RunningGateway;
  const started = Date.now();
  const made: { what: string; id: string; reply: Reply }[] = [];
  const signatures: string[] = [];
  const token = 'FwoGZXIvYXdzE' + randomBytes(48).toString('base64').replace(/[+/=]/g, 'x');
  let lines: Record<string, unknown>[] = [];

  before(async () => {
    gw = await start();
  });

  const byId = (id: string) => lines.filter((l) => l['requestId'] === id);
  const one = (what: string) => {
    const m = made.find((x) => x.what === what);
    assert.ok(m, `request ${what} was made`);
    const found = byId(m.id);
    assert.equal(found.length, 1, `${what}: exactly one audit line for request ${m.id}`);
    return { ...m, line: found[0]! };
  };

  it('an audit line appears within about a second of the response', async () => {
    const r = await callSts(gw);
    assert.equal(r.status, 200, r.body);
    signatures.push(r.signature);
    const id = requestId(r);
    made.push({ what: 'allowed', id, reply: r });
    const t0 = Date.now();
    lines = await waitFor(gw, [id], 1_000);
    assert.equal(byId(id).length, 1, `no audit line for ${id} within 1 s`);
    assert.ok(Date.now() - t0 <= 1_000);
  });

  it('allowed and denied requests each produce exactly one line', async () => {
    const denied = await callSts(gw, { credentials: wrongSecret(gw) });
    assert.equal(queryError(denied.body)?.code, 'SignatureDoesNotMatch');
    signatures.push(denied.signature);
    made.push({ what: 'bad signature', id: requestId(denied), reply: denied });

    const unsigned = await call(gw, { method: 'POST', headers: { 'content-type': FORM }, body: GET_CALLER_IDENTITY });
    assert.equal(queryError(unsigned.body)?.code, 'MissingAuthenticationToken');
    made.push({ what: 'unsigned', id: requestId(unsigned), reply: unsigned });

    const withToken = await callSts(gw, { credentials: { ...gw.admin, sessionToken: token } });
    assert.equal(withToken.status, 403, withToken.body);
    signatures.push(withToken.signature);
    made.push({ what: 'session token', id: requestId(withToken), reply: withToken });

    const unknownKey = await callSts(gw, { credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x'.repeat(40) } });
    assert.equal(queryError(unknownKey.body)?.code, 'InvalidClientTokenId');
    signatures.push(unknownKey.signature);
    made.push({ what: 'unknown key', id: requestId(unknownKey), reply: unknownKey });

    const badAction = await callSts(gw, { body: 'Action=NoSuchThing&Version=2011-06-15' });
    assert.equal(queryError(badAction.body)?.code, 'InvalidAction');
    signatures.push(badAction.signature);
    made.push({ what: 'invalid action', id: requestId(badAction), reply: badAction });

    const health = await call(gw, { path: '/_portcullis/health' });
    assert.equal(health.status, 200);
    made.push({ what: 'health', id: requestId(health), reply: health });

    const missing = await call(gw, { path: '/_portcullis/unknown' });
    assert.equal(missing.status, 404);
    made.push({ what: '404', id: requestId(missing), reply: missing });

    lines = await waitFor(gw, made.map((m) => m.id), 1_500);
    for (const m of made) assert.equal(byId(m.id).length, 1, `${m.what}: exactly one audit line for ${m.id}`);
    assert.equal(lines.length, made.length, `one line per request, no more: ${lines.length} lines for ${made.length} requests`);
  });

  it('every line has the SPEC §1.4 fields with sensible values', () => {
    assert.ok(lines.length > 0);
    for (const l of lines) {
      for (const f of FIELDS) assert.ok(Object.hasOwn(l, f), `field ${f} is missing in ${JSON.stringify(l)}`);
      const time = l['time'] as string;
      assert.equal(typeof time, 'string');
      assert.equal(new Date(time).toISOString(), time, `time is ISO 8601 UTC: ${time}`);
      assert.ok(Date.parse(time) >= started - 1_000 && Date.parse(time) <= Date.now() + 1_000, `time is now: ${time}`);
      assert.match(l['requestId'] as string, UUID);
      assert.ok(l['principal'] === null || /^arn:aws:iam::\d{12}:(user|role)\//.test(l['principal'] as string), `principal: ${String(l['principal'])}`);
      assert.ok(l['accessKeyId'] === null || typeof l['accessKeyId'] === 'string');
      assert.ok(l['action'] === null || typeof l['action'] === 'string');
      assert.ok(l['resource'] === null || typeof l['resource'] === 'string');
      assert.ok(['allow', 'deny', 'error'].includes(l['decision'] as string), `decision: ${String(l['decision'])}`);
      assert.equal(typeof l['reason'], 'string');
      assert.ok((l['reason'] as string).length > 0);
      assert.equal(l['sourceIp'], '127.0.0.1');
      assert.equal(l['tlsVersion'], 'TLSv1.3');
      assert.match(l['tlsSuite'] as string, /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/);
      assert.ok(Number.isInteger(l['status']) && (l['status'] as number) >= 200 && (l['status'] as number) < 600);
      assert.equal(typeof l['latencyMs'], 'number');
      assert.ok((l['latencyMs'] as number) >= 0 && (l['latencyMs'] as number) < 10_000, `latencyMs: ${String(l['latencyMs'])}`);
    }
    // each line's status is the one its response had
    for (const m of made) assert.equal(byId(m.id)[0]!['status'], m.reply.status, `${m.what}: status`);
  });

  it('an allowed request names the principal, its key and the action', () => {
    const { line } = one('allowed');
    assert.match(line['principal'] as string, /^arn:aws:iam::\d{12}:user\/admin$/);
    assert.equal(line['accessKeyId'], gw.admin.accessKeyId);
    assert.equal(line['action'], 'sts:GetCallerIdentity');
    assert.equal(line['decision'], 'allow');
    assert.equal(line['status'], 200);
  });

  it('denied requests say why', () => {
    const sig = one('bad signature').line;
    assert.equal(sig['decision'], 'deny');
    assert.equal(sig['reason'], 'SignatureDoesNotMatch');
    assert.equal(sig['principal'], null, 'an unauthenticated request has no principal');
    assert.equal(sig['accessKeyId'], gw.admin.accessKeyId, 'the key it claimed is recorded');
    assert.equal(sig['status'], 403);

    const unsigned = one('unsigned').line;
    assert.equal(unsigned['decision'], 'deny');
    assert.equal(unsigned['reason'], 'MissingAuthenticationToken');
    assert.equal(unsigned['principal'], null);
    assert.equal(unsigned['accessKeyId'], null);
    assert.equal(unsigned['status'], 403);

    const tok = one('session token').line;
    assert.equal(tok['decision'], 'deny');
    assert.ok(['InvalidToken', 'InvalidClientTokenId'].includes(tok['reason'] as string), `reason: ${String(tok['reason'])}`);
    assert.equal(tok['accessKeyId'], gw.admin.accessKeyId);

    const unknown = one('unknown key').line;
    assert.equal(unknown['decision'], 'deny');
    assert.equal(unknown['reason'], 'InvalidClientTokenId');
    assert.equal(unknown['accessKeyId'], 'AKIAUNKNOWN000000000');

    const action = one('invalid action').line;
    assert.equal(action['reason'], 'InvalidAction');
    assert.equal(action['status'], 400);
    assert.match(action['principal'] as string, /:user\/admin$/, 'the caller was authenticated');
  });

  it('operations endpoints are audited too (current behaviour): a health check and a 404 get one line each', () => {
    const h = one('health').line;
    assert.equal(h['status'], 200);
    assert.equal(h['decision'], 'allow');
    assert.equal(h['principal'], null);
    assert.equal(h['accessKeyId'], null);
    const nf = one('404').line;
    assert.equal(nf['status'], 404);
  });

  it('no line holds a secret key, a signature or a session token', () => {
    const text = readText(auditFile(gw));
    assert.ok(text.length > 0);
    assert.ok(!text.includes(gw.admin.secretAccessKey), 'the secret access key is in the audit log');
    assert.ok(!text.includes(wrongSecret(gw).secretAccessKey), 'a (wrong) secret is in the audit log');
    assert.equal(signatures.length, 5);
    for (const s of signatures) assert.ok(!text.includes(s), `signature ${s} is in the audit log`);
    assert.ok(!text.includes(token), 'the session token is in the audit log');
    assert.ok(!text.includes(token.slice(0, 24)), 'part of the session token is in the audit log');
    assert.doesNotMatch(text, /Signature=|Credential=|x-amz-security-token|AWS4-HMAC-SHA256/i);
    assert.ok(!gw.stderr().includes(token), 'the session token is in the log');
    assert.ok(!gw.stderr().includes(gw.admin.secretAccessKey), 'the secret is in the log');
  });

  it('the audit file is private: mode 0600 in a 0700 directory', () => {
    assert.equal(statSync(auditFile(gw)).mode & 0o777, 0o600);
    assert.equal(statSync(auditDir(gw)).mode & 0o777, 0o700);
  });

  it('a request refused for too many header fields is audited with the request id it was given', async () => {
    let head = `POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: ${FORM}\r\ncontent-length: ${GET_CALLER_IDENTITY.length}\r\n`;
    for (let i = 0; i < 120; i++) head += `x-many-${i}: x\r\n`; // over the default maxHeaderCount of 100
    const out = await exchange(await tlsConnect(gw), `${head}\r\n${GET_CALLER_IDENTITY}`, 5_000);
    const r = parseResponse(out.text);
    assert.equal(queryError(r.body)?.code, 'RequestHeaderSectionTooLarge', out.text);
    const id = r.headers['x-amzn-requestid']!;
    assert.match(id, UUID);
    const got = (await waitFor(gw, [id])).filter((l) => l['requestId'] === id);
    assert.equal(got.length, 1);
    assert.equal(got[0]!['status'], 400);
    assert.equal(got[0]!['decision'], 'deny');
  });

  it('a request refused for an oversized header section is audited with the request id it was given (SPEC §1.4: every request)', async () => {
    const out = await exchange(await tlsConnect(gw), `POST / HTTP/1.1\r\nhost: localhost\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`, 5_000);
    const r = parseResponse(out.text);
    const e = queryError(r.body);
    assert.equal(e?.code, 'RequestHeaderSectionTooLarge');
    const got = (await waitFor(gw, [e!.requestId])).filter((l) => l['requestId'] === e!.requestId);
    assert.equal(got.length, 1, `the request id ${e!.requestId} the client was given is not in the audit log`);
  });
});

describe('audit rotation', () => {
  const MAX = 4096;
  let gw: RunningGateway;
  const ids: string[] = [];
  let sawThird = false;

  before(async () => {
    gw = await start({ audit: { maxFileBytes: MAX, keepFiles: 2 } });
  });

  /** `n` requests, one after the other; `paceMs` apart (each its own 50 ms batch) or in a burst. */
  async function requests(n: number, paceMs = 0): Promise<void> {
    for (let i = 0; i < n; i++) {
      // mostly allowed, some denied
      const r = i % 4 === 3 ? await callSts(gw, { credentials: wrongSecret(gw) }) : await callSts(gw);
      ids.push(requestId(r));
      if (existsSync(auditFile(gw, 3))) sawThird = true;
      if (paceMs > 0) await sleep(paceMs);
    }
    await sleep(300); // > the 50 ms batch
  }

  function allLines(): { lines: Record<string, unknown>[]; files: number[] } {
    const lines: Record<string, unknown>[] = [];
    const files: number[] = [];
    for (const n of [2, 1, 0]) {
      const p = auditFile(gw, n);
      if (!existsSync(p)) continue;
      files.push(n);
      lines.push(...parseLines(readText(p), `audit.log${n ? `.${n}` : ''}`));
    }
    return { lines, files };
  }

  it('after a file grows past maxFileBytes it moves to audit.log.1, and no line is lost', async () => {
    await requests(15, 60); // ~15 × 400 bytes: more than one 4 KiB file, less than the three kept
    assert.ok(existsSync(auditFile(gw, 1)), 'audit.log.1 exists');
    assert.ok(existsSync(auditFile(gw)), 'audit.log exists');
    const { lines } = allLines();
    assert.equal(lines.length, ids.length, `${ids.length} requests, ${lines.length} audit lines`);
    assert.deepEqual(lines.map((l) => l['requestId']), ids, 'every request once, oldest file first, in order');
  });

  it('keeps at most keepFiles old files; every kept line is valid JSON and the kept lines are the latest, with no gap', async () => {
    await requests(60); // a burst: many requests per 50 ms batch
    assert.equal(sawThird || existsSync(auditFile(gw, 3)), false, 'audit.log.3 exists with keepFiles 2');
    assert.ok(existsSync(auditFile(gw, 1)) && existsSync(auditFile(gw, 2)), 'audit.log.1 and audit.log.2 exist');
    const { lines } = allLines();
    const kept = lines.map((l) => l['requestId'] as string);
    assert.equal(new Set(kept).size, kept.length, 'no line is written twice');
    assert.ok(kept.length >= 15, `the kept files hold a fair number of lines: ${kept.length}`);
    assert.deepEqual(kept, ids.slice(ids.length - kept.length), 'the kept lines are exactly the most recent requests, in order');
    for (const f of [2, 1, 0]) assert.equal(statSync(auditFile(gw, f)).mode & 0o777, 0o600, `audit.log.${f} mode`);
  });

  it('no audit file grows past maxFileBytes, even when a batch of lines straddles the limit', () => {
    for (const n of [0, 1, 2]) {
      const size = statSync(auditFile(gw, n)).size;
      assert.ok(size <= MAX, `audit.log${n ? `.${n}` : ''} is ${size} bytes, over maxFileBytes ${MAX}`);
    }
  });

  it('stopping the gateway flushes the last lines', async () => {
    const r = await callSts(gw);
    const id = requestId(r);
    running.delete(gw);
    assert.equal(await gw.stop(), 0);
    assert.ok(readText(auditFile(gw)).includes(`"requestId":"${id}"`), 'the last request is in audit.log after SIGTERM');
  });
});
