/**
 * Retries with full-jitter backoff, the XML reader and error parsing, against a real HTTPS
 * server that throttles and fails before it answers.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  backoffDelay, isRetryable, memoize, NetworkError, parseXml, PolicyAgent, ServiceError, serviceError, staticCredentials, StsClient, TlsRefused,
  toPlain, withRetries, XmlError,
} from '../../src/client/index.js';
import { makePki, type Pki } from '../helpers/tls.js';

describe('backoff', () => {
  it('is full jitter under a capped exponential', () => {
    const max = (n: number) => backoffDelay(n, { baseDelayMs: 100, maxDelayMs: 1_000, random: () => 0.999999 });
    assert.deepEqual([0, 1, 2, 3, 4, 10].map(max), [99, 199, 399, 799, 999, 999]);
    assert.equal(backoffDelay(5, { random: () => 0 }), 0);
    assert.equal(backoffDelay(2, { baseDelayMs: 100, random: () => 0.5 }), 200);
  });

  it('retries throttling, 5xx and transient network errors only', async () => {
    const e = (awsCode: string, status: number) => new ServiceError({ awsCode, status, message: 'm' });
    assert.ok(isRetryable(e('Throttling', 400)));
    assert.ok(isRetryable(e('SlowDown', 503)));
    assert.ok(isRetryable(e('InternalFailure', 500)));
    assert.ok(isRetryable(e('Anything', 429)));
    assert.ok(!isRetryable(e('AccessDenied', 403)));
    assert.ok(!isRetryable(e('NoSuchEntity', 404)));
    assert.ok(isRetryable(new NetworkError('x', 'ECONNRESET')));
    assert.ok(!isRetryable(new NetworkError('x', 'ENOTFOUND')));
    assert.ok(!isRetryable(new TlsRefused('x', 'DEPTH_ZERO_SELF_SIGNED_CERT')));
  });

  it('withRetries: gives up after maxAttempts with the last error, sleeping the jittered delays', async () => {
    const slept: number[] = [];
    let calls = 0;
    const err = await withRetries(async () => {
      calls++;
      throw new ServiceError({ awsCode: 'Throttling', status: 400, message: 'Rate exceeded' });
    }, { maxAttempts: 4, baseDelayMs: 10, random: () => 0.5, sleep: async (ms) => void slept.push(ms) }).catch((e: unknown) => e);
    assert.ok(err instanceof ServiceError && err.awsCode === 'Throttling');
    assert.equal(calls, 4);
    assert.deepEqual(slept, [5, 10, 20]);
  });
});

describe('XML', () => {
  it('reads elements, entities, CDATA; refuses DTDs', () => {
    const root = parseXml('<?xml version="1.0"?>\n<A xmlns="x"><B>1 &lt; 2 &amp; &#x41;&#66;</B><L><member>a</member><member>b</member></L><E/><C><![CDATA[<raw>]]></C><!-- c --></A>');
    assert.deepEqual(toPlain(root, new Set(['E'])), { B: '1 < 2 & AB', L: ['a', 'b'], E: [], C: '<raw>' });
    assert.throws(() => parseXml('<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'), XmlError);
    assert.throws(() => parseXml('<a><b></a>'), XmlError);
  });

  it('error bodies of each protocol become ServiceErrors with code, status and request id', () => {
    const q = serviceError({ status: 403, headers: {}, body: Buffer.from('<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no &amp; no</Message></Error><RequestId>rid-1</RequestId></ErrorResponse>') });
    assert.deepEqual([q.awsCode, q.status, q.message, q.requestId, q.fault], ['AccessDenied', 403, 'no & no', 'rid-1', 'Sender']);
    const j = serviceError({ status: 400, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'rid-2' }, body: Buffer.from('{"__type":"com.amazon#ThrottlingException","message":"slow down"}') });
    assert.deepEqual([j.awsCode, j.message, j.requestId], ['ThrottlingException', 'slow down', 'rid-2']);
    const p = serviceError({ status: 502, headers: {}, body: Buffer.from('Bad Gateway') });
    assert.deepEqual([p.awsCode, p.status], ['Http502', 502]);
  });
});

describe('a real HTTPS server that throttles, then fails, then answers', () => {
  let pki: Pki;
  let server: Server;
  let url: string;
  const seen: Array<{ auth: string | undefined; date: string | undefined; body: string }> = [];
  let answers = [
    { status: 400, body: '<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>' },
    { status: 503, body: '<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>busy</Message></Error><RequestId>r2</RequestId></ErrorResponse>' },
    { status: 200, body: '<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::111122223333:user/u</Arn><UserId>AIDAX</UserId><Account>111122223333</Account></GetCallerIdentityResult></GetCallerIdentityResponse>' },
    { status: 403, body: '<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not you</Message></Error><RequestId>r4</RequestId></ErrorResponse>' },
  ];
  before(async () => {
    pki = await makePki(join(tmpdir(), `portcullis-client-pki-${process.pid}-t`));
    server = createServer({ cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, date: req.headers['x-amz-date'] as string | undefined, body });
        const a = answers[Math.min(seen.length - 1, answers.length - 1)]!;
        res.writeHead(a.status, { 'content-type': 'text/xml' }).end(a.body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('retries the throttled and the 5xx attempt, signing each anew, and returns the answer', async () => {
    const slept: number[] = [];
    const sts = new StsClient({
      endpoint: url, agent: new PolicyAgent({ ca: pki.caPem }), credentials: staticCredentials({ accessKeyId: 'AKIDRETRY00000000001', secretAccessKey: 'retry-secret' }),
      retry: { maxAttempts: 3, baseDelayMs: 40, random: () => 0.5, sleep: async (ms) => void slept.push(ms) },
    });
    const me = await sts.getCallerIdentity();
    assert.deepEqual(me, { arn: 'arn:aws:iam::111122223333:user/u', userId: 'AIDAX', account: '111122223333' });
    assert.equal(seen.length, 3);
    assert.deepEqual(slept, [20, 40]);
    for (const s of seen) {
      assert.match(s.auth ?? '', /^AWS4-HMAC-SHA256 Credential=AKIDRETRY00000000001\/\d{8}\/us-east-1\/sts\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/);
      assert.equal(s.body, 'Action=GetCallerIdentity&Version=2011-06-15');
      assert.ok(!(s.auth ?? '').includes('retry-secret'));
    }
    // A 4xx that is not throttling is not retried and carries AWS's code and request id.
    const e = await sts.getCallerIdentity().catch((x: unknown) => x);
    assert.ok(e instanceof ServiceError);
    assert.deepEqual([e.awsCode, e.status, e.requestId, e.attempts], ['AccessDenied', 403, 'r4', 1]);
    assert.equal(seen.length, 4);
  });

  it('ExpiredToken: the memoized credentials are dropped and the call is made once more with fresh ones', async () => {
    seen.length = 0;
    const ok = answers[2]!;
    answers = [
      { status: 400, body: '<ErrorResponse><Error><Type>Sender</Type><Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message></Error><RequestId>e1</RequestId></ErrorResponse>' },
      ok,
    ];
    let fetched = 0;
    const provider = memoize(async () => ({ accessKeyId: `ASIAEXPIRED00000000${++fetched}`, secretAccessKey: 's', sessionToken: `t${fetched}`, expiration: Date.now() + 3_600_000 }));
    const sts = new StsClient({ endpoint: url, agent: new PolicyAgent({ ca: pki.caPem }), credentials: provider, retry: { maxAttempts: 1 } });
    assert.equal((await sts.getCallerIdentity()).account, '111122223333');
    assert.equal(fetched, 2, 'fresh credentials were fetched');
    assert.deepEqual(seen.map((s) => /Credential=(\w+)\//.exec(s.auth ?? '')?.[1]), ['ASIAEXPIRED000000001', 'ASIAEXPIRED000000002']);
    // With static credentials there is nothing to refresh: the error stands.
    seen.length = 0;
    const fixed = new StsClient({ endpoint: url, agent: new PolicyAgent({ ca: pki.caPem }), credentials: staticCredentials({ accessKeyId: 'ASIAX', secretAccessKey: 's', sessionToken: 't' }), retry: { maxAttempts: 1 } });
    await assert.rejects(fixed.getCallerIdentity(), (e: unknown) => e instanceof ServiceError && e.awsCode === 'ExpiredToken');
    assert.equal(seen.length, 1);
  });

  it('http: URLs are refused (TLS only)', async () => {
    const sts = new StsClient({ endpoint: url.replace('https:', 'http:'), credentials: staticCredentials({ accessKeyId: 'a', secretAccessKey: 'b' }), retry: { maxAttempts: 1 } });
    await assert.rejects(sts.getCallerIdentity(), (e: unknown) => e instanceof NetworkError && /TLS only/.test(e.message));
  });
});
