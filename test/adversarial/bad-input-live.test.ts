/**
 * The bad-input corpus against a live gateway (SPEC §6, issue 9): exact bytes over TLS for what an
 * HTTP client will not send, and correctly signed requests that are wrong in one way. Every case
 * gets its AWS error (code and status from docs/errors.md, query shape for STS, awsJson for the
 * REST JSON service), no internal text, an audit event with decision deny or error; and after
 * each group a normal signed request still succeeds.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Signer } from '../../src/sigv4/sign.js';
import { removeDir, startGateway, tempDir, type RunningGateway } from '../helpers/gateway.js';
import { callSts, FORM, GET_CALLER_IDENTITY, sleep, type Creds } from '../helpers/signedRequest.js';
import {
  assertAwsError, auditEventOf, hostOf, iam, rawRequest, sendRaw, signedForm, signRaw, userWithPolicy, type LiveReply,
} from './live.js';

const LIMITS = { maxBodyBytes: 8192, maxHeaderCount: 40 };
const MAX_HEADER_BYTES = 16 * 1024;

let gw: RunningGateway;
let upstream: Server;
/** Paths the upstream was asked for. */
const upstreamSaw: string[] = [];
let reader: Creds;
const dirs: string[] = [];

before(async () => {
  upstream = createServer((req, res) => {
    upstreamSaw.push(req.url ?? '');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true }));
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const port = (upstream.address() as { port: number }).port;
  const dataDir = tempDir('portcullis-badinput-');
  const confDir = tempDir('portcullis-badinput-conf-');
  dirs.push(dataDir, confDir);
  writeFileSync(join(confDir, 'portcullis.json'), JSON.stringify({
    limits: LIMITS,
    services: [{
      name: 'widgets', upstream: `http://127.0.0.1:${port}`, protocol: 'rest-json',
      routes: [
        { match: 'GET /public/{key+}', action: 'GetPublic', resource: 'arn:aws:widgets:{region}:{account}:public/{path.key}' },
        { match: 'GET /admin/{name}', action: 'GetAdmin', resource: 'arn:aws:widgets:{region}:{account}:admin/{path.name}' },
      ],
    }, { name: 'gadgets', upstream: `http://127.0.0.1:${port}`, protocol: 'json1.1' }],
  }));
  gw = await startGateway({ dataDir, args: ['--config', join(confDir, 'portcullis.json')], timeoutMs: 60_000 });
  // May read public things, nothing else.
  reader = await userWithPolicy(gw, 'reader', { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['widgets:GetPublic', 'gadgets:ListGadgets'], Resource: '*' }] });
});

after(async () => {
  if (gw) assert.equal(await gw.stop(), 0, `the gateway exits 0 on SIGTERM\n${gw.stderr()}`);
  await new Promise<void>((r) => upstream?.close(() => r()));
  for (const d of dirs) removeDir(d);
});

/** The gateway still answers a normal signed request, and its process is alive. */
async function stillServing(): Promise<void> {
  const r = await callSts(gw);
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, /<GetCallerIdentityResponse/);
  assert.equal(gw.proc.exitCode, null, 'the process is alive');
  assert.equal(gw.proc.signalCode, null);
}

/** The error, its audit event (deny or error, the status sent), and the body holds no signature or secret. */
async function expectError(r: LiveReply, status: number, code: string, protocol: 'query' | 'json' = 'query'): Promise<void> {
  const e = assertAwsError(r, status, code, protocol);
  const ev = await auditEventOf(gw, e.requestId);
  assert.ok(ev.decision === 'deny' || ev.decision === 'error', `audit decision ${ev.decision}`);
  assert.equal(ev.status, status);
  assert.ok(!r.body.includes(gw.admin.secretAccessKey) && !r.body.includes(reader.secretAccessKey), 'no secret in the body');
  const sigs = [...r.raw.matchAll(/[0-9a-f]{64}/g)];
  assert.equal(sigs.length, 0, 'no signature-like hex in the response');
}

const admin = () => gw.admin;
const sts = (body = GET_CALLER_IDENTITY, opts: Parameters<typeof signedForm>[2] = { credentials: admin() }) => signedForm(gw, body, opts);

/** Splits a raw request at its header section. */
function headersOf(raw: Buffer): { line: string; headers: Array<[string, string]>; body: Buffer } {
  const end = raw.indexOf('\r\n\r\n');
  const [line, ...rest] = raw.subarray(0, end).toString('latin1').split('\r\n');
  return { line: line!, headers: rest.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 2)] as [string, string]), body: raw.subarray(end + 4) };
}
function rebuild(p: { line: string; headers: Array<[string, string]>; body: Buffer }): Buffer {
  const [method, target] = p.line.split(' ');
  return rawRequest(method!, target!, p.headers, p.body);
}
function edit(raw: Buffer, f: (h: Array<[string, string]>) => Array<[string, string]>): Buffer {
  const p = headersOf(raw);
  return rebuild({ ...p, headers: f(p.headers) });
}
const dup = (name: string) => (h: Array<[string, string]>) => {
  const i = h.findIndex(([k]) => k.toLowerCase() === name);
  assert.ok(i >= 0, `the request has ${name}`);
  return [...h.slice(0, i + 1), h[i]!, ...h.slice(i + 1)];
};
const drop = (name: string) => (h: Array<[string, string]>) => h.filter(([k]) => k.toLowerCase() !== name);
const set = (name: string, value: string) => (h: Array<[string, string]>) => h.map(([k, v]) => [k, k.toLowerCase() === name ? value : v] as [string, string]);
const authOf = (raw: Buffer) => headersOf(raw).headers.find(([k]) => k === 'authorization')![1];

describe('missing and duplicated headers', () => {
  it('no Authorization and no presigned query: 403 MissingAuthenticationToken', async () => {
    const r = await sendRaw(gw, rawRequest('POST', '/', [['host', hostOf(gw)], ['content-type', FORM], ['content-length', String(GET_CALLER_IDENTITY.length)], ['connection', 'close']], GET_CALLER_IDENTITY));
    await expectError(r, 403, 'MissingAuthenticationToken');
  });

  for (const name of ['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
    it(`\`${name}\` twice: 400 IncompleteSignature`, async () => {
      let raw = sts();
      if (name === 'x-amz-security-token' || name === 'x-amz-content-sha256') raw = edit(raw, (h) => [...h.slice(0, 1), [name, 'x'], [name, 'y'], ...h.slice(1)]);
      else raw = edit(raw, dup(name));
      await expectError(await sendRaw(gw, raw), 400, 'IncompleteSignature');
    });
  }

  it('no X-Amz-Date (and no Date): 400 IncompleteSignature', async () => {
    await expectError(await sendRaw(gw, edit(sts(), drop('x-amz-date'))), 400, 'IncompleteSignature');
  });

  it('an Authorization header without its Signature component: 400 IncompleteSignature', async () => {
    const raw = sts();
    await expectError(await sendRaw(gw, edit(raw, set('authorization', authOf(raw).replace(/, Signature=.*/, '')))), 400, 'IncompleteSignature');
  });

  it('an Authorization header with an unknown algorithm: 400 IncompleteSignature', async () => {
    const raw = sts();
    await expectError(await sendRaw(gw, edit(raw, set('authorization', authOf(raw).replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA1')))), 400, 'IncompleteSignature');
  });

  it('a signed header that is not in the request: 403 SignatureDoesNotMatch', async () => {
    const raw = signedForm(gw, GET_CALLER_IDENTITY, { credentials: admin() });
    const withExtra = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM, 'x-extra': '1' }, body: GET_CALLER_IDENTITY }, { credentials: admin() });
    const sent = rawRequest('POST', '/', [...withExtra.filter(([k]) => k !== 'x-extra'), ['content-length', String(GET_CALLER_IDENTITY.length)], ['connection', 'close']], GET_CALLER_IDENTITY);
    assert.ok(raw.length > 0);
    await expectError(await sendRaw(gw, sent), 403, 'SignatureDoesNotMatch');
  });

  it('an HTTP/1.1 request without Host: 400 InvalidParameterValue', async () => {
    await expectError(await sendRaw(gw, edit(sts(), drop('host'))), 400, 'InvalidParameterValue');
  });

  /** An unsigned query-protocol POST (AssumeRoleWithWebIdentity is the one STS action AWS takes unsigned). */
  const unsigned = (body: string) => rawRequest('POST', '/', [['host', hostOf(gw)], ['content-type', FORM], ['content-length', String(Buffer.byteLength(body))], ['connection', 'close']], body);
  let roleArn = '';
  const webIdentity = (token: string) => `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=${encodeURIComponent(roleArn)}&RoleSessionName=session1&WebIdentityToken=${encodeURIComponent(token)}`;
  before(async () => {
    const account = /<Account>(\d{12})</.exec((await callSts(gw)).body)![1]!;
    const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Federated: `arn:aws:iam::${account}:oidc-provider/issuer.example` }, Action: 'sts:AssumeRoleWithWebIdentity' }] };
    const xml = await iam(gw, gw.admin, { Action: 'CreateRole', RoleName: 'web', AssumeRolePolicyDocument: JSON.stringify(trust) });
    roleArn = /<Arn>([^<]+)</.exec(xml)![1]!;
  });

  for (const [what, token] of [
    ['not a JWT', 'garbage'],
    ['three parts of nothing', '..'],
    ['a payload that is not JSON', 'eyJhbGciOiJub25lIn0.bm90IGpzb24.'],
    ['alg none from an issuer nobody registered', `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"iss":"https://evil.example","sub":"x","aud":"y"}').toString('base64url')}.`],
    ['an issuer named constructor', `${Buffer.from('{"alg":"constructor"}').toString('base64url')}.${Buffer.from('{"iss":"constructor"}').toString('base64url')}.AAAA`],
  ] as const) {
    it(`unsigned AssumeRoleWithWebIdentity with a token that is ${what}: 400 InvalidIdentityToken`, async () => {
      await expectError(await sendRaw(gw, unsigned(webIdentity(token))), 400, 'InvalidIdentityToken');
    });
  }

  it('an unsigned request for another action: 403 MissingAuthenticationToken; an unsigned body over the limit too', async () => {
    await expectError(await sendRaw(gw, unsigned('Action=CreateUser&Version=2010-05-08&UserName=x')), 403, 'MissingAuthenticationToken');
    await expectError(await sendRaw(gw, unsigned(webIdentity('x'.repeat(LIMITS.maxBodyBytes)))), 403, 'MissingAuthenticationToken');
  });

  it('both an Authorization header and presigned query parameters: 400 IncompleteSignature (AuthorizationQueryParametersError)', async () => {
    const p = headersOf(sts());
    await expectError(await sendRaw(gw, rebuild({ ...p, line: 'POST /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=00' })), 400, 'IncompleteSignature');
  });

  it('still serving', stillServing);
});

describe('oversized headers, bodies and chunks', () => {
  it(`a header section over ${MAX_HEADER_BYTES} bytes: 400 RequestHeaderSectionTooLarge, connection closed`, async () => {
    const r = await sendRaw(gw, edit(sts(), (h) => [...h, ['x-pad', 'a'.repeat(MAX_HEADER_BYTES + 10)]]));
    await expectError(r, 400, 'RequestHeaderSectionTooLarge');
    assert.ok(r.closed);
  });

  it(`more than ${LIMITS.maxHeaderCount} header fields: 400 RequestHeaderSectionTooLarge`, async () => {
    const pad: Array<[string, string]> = Array.from({ length: LIMITS.maxHeaderCount + 5 }, (_, i) => [`x-pad-${i}`, 'v']);
    await expectError(await sendRaw(gw, edit(sts(), (h) => [...pad, ...h])), 400, 'RequestHeaderSectionTooLarge');
  });

  it(`a signed body over maxBodyBytes (${LIMITS.maxBodyBytes}): 413 RequestEntityTooLarge`, async () => {
    const body = GET_CALLER_IDENTITY + '&Pad=' + 'x'.repeat(LIMITS.maxBodyBytes);
    await expectError(await sendRaw(gw, sts(body)), 413, 'RequestEntityTooLarge');
  });

  it('a content-length far beyond any limit (2^53): 413 RequestEntityTooLarge, the body never awaited', async () => {
    const r = await sendRaw(gw, edit(sts(), set('content-length', '9007199254740993')));
    await expectError(r, 413, 'RequestEntityTooLarge');
  });

  /** A signed aws-chunked STS request whose body is `body` (framing written by hand). */
  function chunked(body: string, decodedLength = GET_CALLER_IDENTITY.length): Buffer {
    const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(decodedLength) } }, { credentials: admin(), payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', contentSha256Header: true });
    return rawRequest('POST', '/', [...headers, ['content-length', String(body.length)], ['connection', 'close']], body);
  }
  const SIG = 'chunk-signature=' + '0'.repeat(64);

  it('an aws-chunked chunk size larger than the chunk limit: 400 InvalidRequest (InvalidChunkedEncoding)', async () => {
    await expectError(await sendRaw(gw, chunked(`ffffffffffff;${SIG}\r\nAction=GetCallerIdentity\r\n0;${SIG}\r\n\r\n`)), 400, 'InvalidRequest');
  });

  it('an aws-chunked size of 17 hex digits (overlong): 400 InvalidRequest', async () => {
    await expectError(await sendRaw(gw, chunked(`00000000000000019;${SIG}\r\nAction=GetCallerIdentity\r\n0;${SIG}\r\n\r\n`)), 400, 'InvalidRequest');
  });

  it('an aws-chunked chunk longer than its size: 400 InvalidRequest', async () => {
    await expectError(await sendRaw(gw, chunked(`2;${SIG}\r\nAction=GetCallerIdentity\r\n0;${SIG}\r\n\r\n`)), 400, 'InvalidRequest');
  });

  it('an aws-chunked body that stops before its final chunk: 400 IncompleteBody', async () => {
    await expectError(await sendRaw(gw, chunked('')), 400, 'IncompleteBody');
  });

  it('still serving', stillServing);
});

describe('invalid UTF-8 and percent-encoding', () => {
  it('an Action of invalid UTF-8 in a signed form body: 400 InvalidAction, the echo made XML-safe', async () => {
    const body = Buffer.concat([Buffer.from('Action=Get'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from('&Version=2011-06-15')]);
    await expectError(await sendRaw(gw, sts(body as unknown as string)), 400, 'InvalidAction');
  });

  it('an Action of percent-encoded invalid UTF-8 and control characters: 400 InvalidAction', async () => {
    await expectError(await sendRaw(gw, sts('Action=%FF%FE%00%01%1b%C0%AF&Version=2011-06-15')), 400, 'InvalidAction');
  });

  it('a malformed percent escape in the Action: 400 InvalidAction', async () => {
    await expectError(await sendRaw(gw, sts('Action=GetCaller%G1Identity%&Version=2011-06-15')), 400, 'InvalidAction');
  });

  it('malformed escapes in a parameter nobody reads are literal on both sides of the signature: served', async () => {
    const r = await sendRaw(gw, sts(GET_CALLER_IDENTITY + '&Junk=%zz%&More=%E0%A4%A'));
    assert.equal(r.status, 200, r.body);
  });

  it('bytes over 0x7F in the X-Amz-Date header: 400 IncompleteSignature', async () => {
    await expectError(await sendRaw(gw, edit(sts(), set('x-amz-date', '2026\xff\xfe01T000000Z'))), 400, 'IncompleteSignature');
  });

  it('bytes over 0x7F in the access key ID: 403 InvalidClientTokenId', async () => {
    const raw = sts();
    await expectError(await sendRaw(gw, edit(raw, set('authorization', authOf(raw).replace('Credential=', 'Credential=\xff\xfe')))), 403, 'InvalidClientTokenId');
  });

  it('a NUL byte in a header value: 400 InvalidParameterValue (not well-formed HTTP)', async () => {
    await expectError(await sendRaw(gw, edit(sts(), (h) => [...h, ['x-nul', 'a\u0000b']])), 400, 'InvalidParameterValue');
  });

  it('a REST path parameter of invalid percent-encoding, correctly signed: 400 ValidationException (InvalidParameterValue)', async () => {
    const path = '/public/%E0%A4%A';
    const headers = signRaw(gw, { method: 'GET', path }, { credentials: reader, service: 'widgets' });
    const before = upstreamSaw.length;
    await expectError(await sendRaw(gw, rawRequest('GET', path, [...headers, ['connection', 'close']])), 400, 'ValidationException', 'json');
    assert.equal(upstreamSaw.length, before, 'the upstream saw nothing');
  });

  it('still serving', stillServing);
});

describe('path traversal and normalization tricks on the data plane', () => {
  it('a correctly signed public read reaches the upstream (the control case)', async () => {
    const path = '/public/a/b.txt';
    const headers = signRaw(gw, { method: 'GET', path }, { credentials: reader, service: 'widgets' });
    const r = await sendRaw(gw, rawRequest('GET', path, [...headers, ['connection', 'close']]));
    assert.equal(r.status, 200, r.body);
    assert.equal(upstreamSaw.at(-1), path);
  });

  it('the admin route is denied to the reader (the control case): 400 AccessDeniedException', async () => {
    const path = '/admin/secret';
    const headers = signRaw(gw, { method: 'GET', path }, { credentials: reader, service: 'widgets' });
    await expectError(await sendRaw(gw, rawRequest('GET', path, [...headers, ['connection', 'close']])), 400, 'AccessDeniedException', 'json');
  });

  // Each of these matched `GET /public/{key+}` (allowed) while an upstream that normalizes the
  // path, as WHATWG URL parsing and most servers do, would serve /admin/secret (denied); and
  // SigV4 signs `/public/../admin/secret` as `/admin/secret`. They are refused before routing.
  for (const path of ['/public/../admin/secret', '/public/%2e%2e/admin/secret', '/public/%2E%2e%2Fadmin%2fsecret', '/public/.%2E/admin/secret', '/public/./../admin/secret', '/public/..%5cadmin%5csecret', '/public/..\\admin\\secret']) {
    it(`\`${path}\`: 400 ValidationException (InvalidParameterValue), the upstream never asked`, async () => {
      const headers = signRaw(gw, { method: 'GET', path }, { credentials: reader, service: 'widgets' });
      const before = upstreamSaw.length;
      await expectError(await sendRaw(gw, rawRequest('GET', path, [...headers, ['connection', 'close']])), 400, 'ValidationException', 'json');
      assert.equal(upstreamSaw.length, before, `the upstream saw ${upstreamSaw.slice(before).join(', ')}`);
    });
  }

  /** A signed awsJson call of the gadgets service, sent with `target` on the request line. */
  function gadgets(target: string): Buffer {
    const body = '{}';
    const headers = signRaw(gw, { method: 'POST', path: target, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'Gadgets.ListGadgets' }, body }, { credentials: reader, service: 'gadgets' });
    return rawRequest('POST', target, [...headers, ['content-length', '2'], ['connection', 'close']], body);
  }

  it('an awsJson call on `/` reaches the upstream (the control case)', async () => {
    const r = await sendRaw(gw, gadgets('/'));
    assert.equal(r.status, 200, r.body);
    assert.equal(upstreamSaw.at(-1), '/');
  });

  it('a request target without a leading `/` is not HTTP: 400 InvalidParameterValue from the parser, the upstream never asked', async () => {
    const before = upstreamSaw.length;
    await expectError(await sendRaw(gw, gadgets('admin')), 400, 'InvalidParameterValue');
    assert.equal(upstreamSaw.length, before);
  });

  for (const target of ['http://169.254.169.254/latest/meta-data/', 'https://127.0.0.1/admin', '*']) {
    it(`a request target \`${target}\` (absolute- or asterisk-form): 400 ValidationException (InvalidParameterValue), the upstream never asked`, async () => {
      const before = upstreamSaw.length;
      await expectError(await sendRaw(gw, gadgets(target)), 400, 'ValidationException', 'json');
      assert.equal(upstreamSaw.length, before, `the upstream saw ${upstreamSaw.slice(before).join(', ')}`);
    });
  }

  it('still serving', stillServing);
});

describe('correctly signed, but wrong', () => {
  it('the wrong region: 403 SignatureDoesNotMatch (AuthorizationHeaderMalformed)', async () => {
    await expectError(await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: admin(), region: 'eu-west-1' })), 403, 'SignatureDoesNotMatch');
  });

  it('a service that is not here: 403 SignatureDoesNotMatch (AuthorizationHeaderMalformed)', async () => {
    await expectError(await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: admin(), service: 'dynamodb' })), 403, 'SignatureDoesNotMatch');
  });

  it('a terminator other than aws4_request: 403 SignatureDoesNotMatch (AuthorizationHeaderMalformed)', async () => {
    const raw = sts();
    await expectError(await sendRaw(gw, edit(raw, set('authorization', authOf(raw).replace('/aws4_request', '/aws4_requesx')))), 403, 'SignatureDoesNotMatch');
  });

  it('a scope date that is not the X-Amz-Date day: 403 SignatureDoesNotMatch (AuthorizationHeaderMalformed)', async () => {
    const raw = sts();
    await expectError(await sendRaw(gw, edit(raw, set('authorization', authOf(raw).replace(/Credential=([^/]+)\/\d{8}/, 'Credential=$1/20000101')))), 403, 'SignatureDoesNotMatch');
  });

  for (const [what, offset] of [['20 minutes old', -20 * 60_000], ['20 minutes ahead', 20 * 60_000]] as const) {
    it(`signed ${what}: 403 SignatureDoesNotMatch (RequestTimeTooSkewed)`, async () => {
      const r = await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: admin(), clock: () => Date.now() + offset }));
      await expectError(r, 403, 'SignatureDoesNotMatch');
      assert.match(r.body, /Signature (expired|not yet current)/);
    });
  }

  it('a wrong signature: 403 SignatureDoesNotMatch; an unknown key: 403 InvalidClientTokenId', async () => {
    const raw = sts();
    const a = authOf(raw);
    const flipped = a.slice(0, -1) + (a.endsWith('0') ? '1' : '0');
    await expectError(await sendRaw(gw, edit(raw, set('authorization', flipped))), 403, 'SignatureDoesNotMatch');
    await expectError(await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x'.repeat(40) } })), 403, 'InvalidClientTokenId');
  });

  it('an unsigned body changed after signing: 403 SignatureDoesNotMatch', async () => {
    const raw = sts();
    const p = headersOf(raw);
    await expectError(await sendRaw(gw, rebuild({ ...p, body: Buffer.from(GET_CALLER_IDENTITY.replace('GetCallerIdentity', 'GetCallerIdentitz')) })), 403, 'SignatureDoesNotMatch');
  });

  it('a presigned URL works until it expires; replayed after expiry: 403 SignatureDoesNotMatch (RequestExpired)', async () => {
    const host = hostOf(gw);
    const signedAt = Date.now();
    const p = new Signer({ clock: () => signedAt }).presign({ method: 'GET', path: '/', query: GET_CALLER_IDENTITY, headers: { host } }, { credentials: admin(), region: 'us-east-1', service: 'sts', expiresIn: 8 });
    const request = rawRequest('GET', p.target, [['host', host], ['connection', 'close']]);
    const first = await sendRaw(gw, request);
    if (Date.now() - signedAt < 7000) assert.equal(first.status, 200, first.body); // on a very slow machine it may be late already
    await sleep(Math.max(0, signedAt + 9500 - Date.now()));
    const replay = await sendRaw(gw, request);
    await expectError(replay, 403, 'SignatureDoesNotMatch');
    assert.match(replay.body, /Request has expired/);
  });

  it('a presigned URL with X-Amz-Expires over 7 days: 400 IncompleteSignature (AuthorizationQueryParametersError)', async () => {
    const host = hostOf(gw);
    const p = new Signer().presign({ method: 'GET', path: '/', query: GET_CALLER_IDENTITY, headers: { host } }, { credentials: admin(), region: 'us-east-1', service: 'sts', expiresIn: 60 });
    await expectError(await sendRaw(gw, rawRequest('GET', p.target.replace('X-Amz-Expires=60', 'X-Amz-Expires=604801'), [['host', host], ['connection', 'close']])), 400, 'IncompleteSignature');
  });

  it('still serving', stillServing);
});

describe('header smuggling', () => {
  /** Exactly one response came back on the connection: nothing smuggled behind the first request was answered. */
  function oneResponse(r: LiveReply): void {
    assert.equal(r.raw.match(/HTTP\/1\.1 \d{3} /g)?.length, 1, `one response only:\n${r.raw.slice(0, 2000)}`);
    assert.ok(r.closed, 'the connection is closed');
  }
  const smuggled = 'GET /_portcullis/health HTTP/1.1\r\nhost: x\r\n\r\n';

  it('Content-Length and Transfer-Encoding together: 400 InvalidParameterValue, the smuggled request never answered', async () => {
    const body = `0\r\n\r\n${smuggled}`;
    const raw = edit(sts(), (h) => [...drop('connection')(h).map(([k, v]) => [k, k === 'content-length' ? String(body.length) : v] as [string, string]), ['transfer-encoding', 'chunked']]);
    const r = await sendRaw(gw, Buffer.concat([raw.subarray(0, raw.indexOf('\r\n\r\n') + 4), Buffer.from(body)]));
    await expectError(r, 400, 'InvalidParameterValue');
    oneResponse(r);
  });

  it('Transfer-Encoding then Content-Length (the other order): 400 InvalidParameterValue', async () => {
    const p = headersOf(sts());
    const body = `0\r\n\r\n${smuggled}`;
    const headers = p.headers.filter(([k]) => k !== 'content-length' && k !== 'connection');
    const r = await sendRaw(gw, rawRequest('POST', '/', [...headers, ['transfer-encoding', 'chunked'], ['content-length', String(body.length)]], body));
    await expectError(r, 400, 'InvalidParameterValue');
    oneResponse(r);
  });

  it('two different Content-Length values: 400 InvalidParameterValue', async () => {
    const r = await sendRaw(gw, edit(sts(), (h) => [...h, ['content-length', '5']]));
    await expectError(r, 400, 'InvalidParameterValue');
    oneResponse(r);
  });

  for (const te of ['chunked, identity', 'xchunked', 'chunked\u000b', 'identity']) {
    it(`Transfer-Encoding \`${JSON.stringify(te).slice(1, -1)}\`: 400 InvalidParameterValue`, async () => {
      const p = headersOf(sts());
      const headers = p.headers.filter(([k]) => k !== 'content-length' && k !== 'connection');
      const r = await sendRaw(gw, rawRequest('POST', '/', [...headers, ['transfer-encoding', te]], `${GET_CALLER_IDENTITY.length.toString(16)}\r\n${GET_CALLER_IDENTITY}\r\n0\r\n\r\n${smuggled}`));
      await expectError(r, 400, 'InvalidParameterValue');
      oneResponse(r);
    });
  }

  it('a space before the colon of a header name: 400 InvalidParameterValue', async () => {
    const raw = sts().toString('latin1').replace('\r\nhost:', '\r\nhost :');
    await expectError(await sendRaw(gw, raw), 400, 'InvalidParameterValue');
  });

  it('an obs-fold continuation line in Transfer-Encoding: 400 InvalidParameterValue', async () => {
    const p = headersOf(sts());
    const headers = p.headers.filter(([k]) => k !== 'content-length' && k !== 'connection');
    const r = await sendRaw(gw, rawRequest('POST', '/', [...headers, ['transfer-encoding', 'identity\r\n chunked']], `0\r\n\r\n${smuggled}`));
    await expectError(r, 400, 'InvalidParameterValue');
    oneResponse(r);
  });

  it('an HTTP chunk size that is not hex: 400 InvalidParameterValue or a closed connection, never a second response', async () => {
    const p = headersOf(sts());
    const headers = p.headers.filter(([k]) => k !== 'content-length' && k !== 'connection');
    const r = await sendRaw(gw, rawRequest('POST', '/', [...headers, ['transfer-encoding', 'chunked']], `zz\r\n${GET_CALLER_IDENTITY}\r\n0\r\n\r\n${smuggled}`));
    if (r.raw !== '') {
      await expectError(r, 400, 'InvalidParameterValue');
      oneResponse(r);
    }
    assert.ok(r.closed);
  });

  it('still serving', stillServing);
});

describe('names that Object.prototype has (`constructor`, `__proto__`, `toString`)', () => {
  const PROTO = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueof'];

  for (const service of PROTO) {
    it(`a credential scope for service \`${service}\`: 403 SignatureDoesNotMatch (AuthorizationHeaderMalformed), not a 500`, async () => {
      await expectError(await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: admin(), service: service.toLowerCase() })), 403, 'SignatureDoesNotMatch');
    });
  }

  it('a proxied request with header fields named `__proto__` and `constructor` is forwarded like any other, not a 500', async () => {
    const path = '/public/proto.txt';
    const headers = signRaw(gw, { method: 'GET', path }, { credentials: reader, service: 'widgets' });
    const r = await sendRaw(gw, rawRequest('GET', path, [...headers, ['__proto__', 'x'], ['constructor', 'y'], ['connection', 'close']]));
    assert.equal(r.status, 200, r.body);
    assert.equal(upstreamSaw.at(-1), path);
  });

  it('made-up services do not become metric labels', async () => {
    await sendRaw(gw, sts(GET_CALLER_IDENTITY, { credentials: admin(), service: 'made-up-service-xyz' }));
    const r = await sendRaw(gw, rawRequest('GET', '/_portcullis/metrics', [['host', hostOf(gw)], ['connection', 'close']]));
    assert.equal(r.status, 200);
    assert.doesNotMatch(r.body, /made-up-service-xyz|constructor|__proto__|hasownproperty/i);
  });

  it('an x-amz-trailer named `constructor`: 400 InvalidParameterValue, not a 500', async () => {
    const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM, 'content-encoding': 'aws-chunked', 'x-amz-trailer': 'constructor', 'x-amz-decoded-content-length': String(GET_CALLER_IDENTITY.length) } }, { credentials: admin(), payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', contentSha256Header: true });
    const body = `${GET_CALLER_IDENTITY.length.toString(16)}\r\n${GET_CALLER_IDENTITY}\r\n0\r\nconstructor:x\r\n\r\n`;
    await expectError(await sendRaw(gw, rawRequest('POST', '/', [...headers, ['content-length', String(body.length)], ['connection', 'close']], body)), 400, 'InvalidParameterValue');
  });

  for (const type of ['constructor', '__proto__', 'toString']) {
    it(`a trust policy with principal type \`${type}\`: 400 MalformedPolicyDocument`, async () => {
      const doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"${type}":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`;
      const body = new URLSearchParams({ Action: 'CreateRole', Version: '2010-05-08', RoleName: `proto-${type.replace(/_/g, '')}`, AssumeRolePolicyDocument: doc }).toString();
      await expectError(await sendRaw(gw, sts(body, { credentials: admin(), service: 'iam' })), 400, 'MalformedPolicyDocument');
    });
  }

  it('a policy variable `${toString}` or `${constructor}` is a variable like any other: the user it is attached to is still served', async () => {
    const creds = await userWithPolicy(gw, 'proto-vars', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: ['arn:aws:iam::*:user/${aws:username}', 'arn:aws:iam::*:user/${toString}', 'arn:aws:iam::*:user/${constructor}', 'arn:aws:iam::*:user/${__proto__}'] }],
    });
    const ok = await sendRaw(gw, sts('Action=GetUser&Version=2010-05-08', { credentials: creds, service: 'iam' }));
    assert.equal(ok.status, 200, ok.body);
    // And `${toString}` does not match Object.prototype.toString's source text.
    const other = await sendRaw(gw, sts('Action=GetUser&Version=2010-05-08&UserName=reader', { credentials: creds, service: 'iam' }));
    await expectError(other, 403, 'AccessDenied');
  });

  it('still serving', stillServing);
});

describe('policy patterns a backtracking engine never finishes (ReDoS)', () => {
  // `a*a*…*c` against a long run of `a`: a RegExp backtracks through every way to split the run
  // (n^k); 8 stars and 64 characters took 40 s, during which the gateway answered nobody.
  const EVIL = 'a*'.repeat(12) + 'c';
  const NAME = 'a'.repeat(64);

  it('an identity policy with such a Resource, and a request for a 64-character name: refused at once', async () => {
    const creds = await userWithPolicy(gw, 'redos-identity', {
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: `arn:aws:iam::*:user/${EVIL}` }, { Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*', Condition: { StringLike: { 'aws:userid': EVIL } } }],
    });
    const started = Date.now();
    const r = await sendRaw(gw, sts(`Action=GetUser&Version=2010-05-08&UserName=${NAME}`, { credentials: creds, service: 'iam' }), 20_000);
    assert.equal(r.status, 403, r.body);
    assert.ok(Date.now() - started < 15_000, `answered in ${Date.now() - started} ms`);
    await stillServing();
  });

  it('a session policy the caller writes (AssumeRole Policy) with such a pattern: refused at once, others served meanwhile', async () => {
    const account = /<Account>(\d{12})</.exec((await callSts(gw)).body)![1]!;
    await iam(gw, gw.admin, { Action: 'CreateRole', RoleName: 'redos', AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'sts:AssumeRole' }] }) });
    await iam(gw, gw.admin, { Action: 'PutRolePolicy', RoleName: 'redos', PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }] }) });
    const session = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:GetUser', Resource: `arn:aws:iam::*:user/${EVIL}` }] };
    const assumed = await sendRaw(gw, sts(`Action=AssumeRole&Version=2011-06-15&RoleSessionName=redos&RoleArn=${encodeURIComponent(`arn:aws:iam::${account}:role/redos`)}&Policy=${encodeURIComponent(JSON.stringify(session))}`, { credentials: admin() }));
    assert.equal(assumed.status, 200, assumed.body);
    const tag = (n: string) => new RegExp(`<${n}>([^<]+)</${n}>`).exec(assumed.body)![1]!;
    const creds = { accessKeyId: tag('AccessKeyId'), secretAccessKey: tag('SecretAccessKey'), sessionToken: tag('SessionToken') };
    const started = Date.now();
    const [r] = await Promise.all([
      sendRaw(gw, sts(`Action=GetUser&Version=2010-05-08&UserName=${NAME}`, { credentials: creds, service: 'iam' }), 20_000),
      stillServing(),
    ]);
    assert.equal(r.status, 403, r.body);
    assert.ok(Date.now() - started < 15_000, `answered in ${Date.now() - started} ms`);
  });
});
