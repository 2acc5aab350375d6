/**
 * Interop with the AWS SDK for JavaScript v3's signer (@smithy/signature-v4): requests it signs
 * verify with our Verifier, and the same requests with one byte changed do not.
 *
 * Each signed request is put "on the wire" the way smithy's HTTP handler would send it: the path
 * as is, the query built from smithy's `query` bag with encodeURIComponent plus `!'()*` escaped,
 * the headers as smithy left them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest as SmithyRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { PortcullisError } from '../../src/core/errors.js';
import {
  NORMALIZING_RULES, requestFromRecord, S3_RULES, Verifier, type CanonicalRules, type VerifiedRequest,
} from '../../src/sigv4/index.js';
import { flipByte, rejectsWith, sha256Hex, signedHeaderList, withBody, withHeader, withPath, withQuery, type Signed } from '../helpers/tamper.js';

const SIGNING_DATE = new Date('2024-05-01T12:34:56Z');
const REGION = 'us-east-1';

interface Principal {
  readonly arn: string;
}

const PERMANENT = {
  accessKeyId: 'AKIDSMITHYINTEROP01',
  secretAccessKey: 'smithy/Interop+Secret/Key0123456789abcdEF',
};
const TEMPORARY = {
  accessKeyId: 'ASIASMITHYINTEROP02',
  secretAccessKey: 'temporary+Secret/For/Smithy0123456789xyz',
  sessionToken: 'IQoJb3JpZ2luX2VjE+session/token==',
};
const USER: Principal = { arn: 'arn:aws:iam::111122223333:user/smithy' };
const ROLE: Principal = { arn: 'arn:aws:sts::111122223333:assumed-role/smithy/session' };

function verifier(opts: { now?: number; rulesFor?: (service: string) => CanonicalRules } = {}): Verifier<Principal> {
  const now = opts.now ?? SIGNING_DATE.getTime();
  return new Verifier<Principal>({
    region: REGION,
    clock: () => now,
    ...(opts.rulesFor ? { rulesFor: opts.rulesFor } : {}),
    lookup: (id, token) => {
      if (id === PERMANENT.accessKeyId) {
        return token === undefined ? { status: 'found', secretAccessKey: PERMANENT.secretAccessKey, principal: USER } : { status: 'invalidToken' };
      }
      if (id === TEMPORARY.accessKeyId) {
        if (token === undefined) return { status: 'unknown' };
        return token === TEMPORARY.sessionToken ? { status: 'found', secretAccessKey: TEMPORARY.secretAccessKey, principal: ROLE } : { status: 'invalidToken' };
      }
      return { status: 'unknown' };
    },
  });
}

function signer(service: string, opts: { temporary?: boolean; uriEscapePath?: boolean; applyChecksum?: boolean } = {}): SignatureV4 {
  return new SignatureV4({
    service,
    region: REGION,
    credentials: opts.temporary ? TEMPORARY : PERMANENT,
    sha256: Sha256,
    uriEscapePath: opts.uriEscapePath ?? true,
    applyChecksum: opts.applyChecksum ?? false,
  });
}

/** encodeURIComponent with `!'()*` escaped as well: what smithy puts in a query string. */
function escapeQueryComponent(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** The raw query string smithy's HTTP handler sends for a query bag (keys sorted, arrays repeated). */
function wireQuery(query: Record<string, string | string[] | null> | undefined): string {
  const parts: string[] = [];
  for (const key of Object.keys(query ?? {}).sort()) {
    const value = query![key];
    const k = escapeQueryComponent(key);
    if (Array.isArray(value)) for (const v of value) parts.push(`${k}=${escapeQueryComponent(v)}`);
    else if (typeof value === 'string') parts.push(`${k}=${escapeQueryComponent(value)}`);
    else parts.push(k);
  }
  return parts.join('&');
}

/** Smithy's signed request as it arrives at the server. */
function onTheWire(signed: { method: string; path: string; query?: Record<string, string | string[] | null>; headers: Record<string, string>; body?: unknown }): Signed {
  const query = wireQuery(signed.query);
  const body = signed.body === undefined ? Buffer.alloc(0) : Buffer.from(signed.body as string | Uint8Array);
  return { req: requestFromRecord(signed.method, query === '' ? signed.path : `${signed.path}?${query}`, signed.headers), body };
}

async function verifyOk(s: Signed, v = verifier()): Promise<VerifiedRequest<Principal>> {
  return v.verify(s.req, { bodySha256: sha256Hex(s.body) });
}

/** A different character at `index`, keeping the string's shape (hex stays hex, letters letters). */
function changeCharAt(s: string, index: number): string {
  const c = s[index]!;
  const replacement = c === 'z' ? 'y' : c === 'Z' ? 'Y' : c === '9' ? '8' : c === 'F' ? 'E' : String.fromCharCode(c.charCodeAt(0) + 1);
  return s.slice(0, index) + replacement + s.slice(index + 1);
}

/** Changes the value of query parameter `name` (its first character after `=`). */
function tamperQueryValue(query: string, name: string): string {
  const parts = query.split('&');
  const i = parts.findIndex((p) => p.startsWith(name + '='));
  assert.ok(i >= 0, `no ${name} in ${query}`);
  parts[i] = changeCharAt(parts[i]!, name.length + 1);
  return parts.join('&');
}

const STS_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

function stsPost(): SmithyRequest {
  return new SmithyRequest({
    method: 'POST',
    protocol: 'https:',
    hostname: 'sts.us-east-1.amazonaws.com',
    path: '/',
    headers: {
      host: 'sts.us-east-1.amazonaws.com',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': String(Buffer.byteLength(STS_BODY)),
    },
    body: STS_BODY,
  });
}

describe('interop: @smithy/signature-v4 -> Verifier', () => {
  describe('STS POST with a form body, header-signed', () => {
    const sign = async () => onTheWire(await signer('sts').sign(stsPost(), { signingDate: SIGNING_DATE }));

    it('verifies, with the signer\'s principal, service and region', async () => {
      const s = await sign();
      assert.equal(s.body.toString(), STS_BODY);
      assert.equal(s.req.headers.get('x-amz-content-sha256'), undefined, 'the body hash is not declared: it must come from bodySha256');
      const v = await verifyOk(s);
      assert.equal(v.principal, USER);
      assert.equal(v.accessKeyId, PERMANENT.accessKeyId);
      assert.equal(v.sessionToken, undefined);
      assert.equal(v.service, 'sts');
      assert.equal(v.region, REGION);
      assert.equal(v.presigned, false);
      assert.equal(v.signedAtMs, SIGNING_DATE.getTime());
      assert.deepEqual([...v.signedHeaders], signedHeaderList(s));
      assert.deepEqual(v.payload, { kind: 'sha256', hash: sha256Hex(Buffer.from(STS_BODY)) });
    });

    it('a body with one byte changed does not verify', async () => {
      const s = await sign();
      for (const i of [0, STS_BODY.indexOf('=') + 1, STS_BODY.length - 1]) {
        await rejectsWith(verifyOk(withBody(s, flipByte(s.body, i))), 'SignatureDoesNotMatch');
      }
      // And an omitted bodySha256 means an empty body, which is not what was signed.
      await rejectsWith(verifier().verify(s.req), 'SignatureDoesNotMatch');
    });

    it('a changed path, signed header value or added query parameter does not verify', async () => {
      const s = await sign();
      await rejectsWith(verifyOk(withPath(s, '/x')), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withQuery(s, 'Action=GetCallerIdentity')), 'SignatureDoesNotMatch');
      assert.ok(signedHeaderList(s).includes('content-type'));
      await rejectsWith(verifyOk(withHeader(s, 'content-type', 'application/x-www-form-urlencodee')), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withHeader(s, 'host', 'sts.us-east-2.amazonaws.com')), 'SignatureDoesNotMatch');
      // x-amz-date is signed and feeds the string to sign: one second later must fail.
      await rejectsWith(verifyOk(withHeader(s, 'x-amz-date', '20240501T123457Z')), 'SignatureDoesNotMatch');
    });

    it('with applyChecksum the declared hash is checked against the body', async () => {
      const s = onTheWire(await signer('sts', { applyChecksum: true }).sign(stsPost(), { signingDate: SIGNING_DATE }));
      assert.deepEqual(s.req.headers.get('x-amz-content-sha256'), [sha256Hex(Buffer.from(STS_BODY))]);
      const v = await verifyOk(s);
      assert.equal(v.payload.kind, 'sha256');
      await rejectsWith(verifyOk(withBody(s, flipByte(s.body, 7))), 'XAmzContentSHA256Mismatch');
      // The streaming check finds the same thing when the hash is not known up front.
      const verified = await verifier().verify(s.req);
      const good = verifier().bodyDecoder(verified, s.req);
      good.push(s.body);
      good.end();
      const bad = verifier().bodyDecoder(verified, s.req);
      bad.push(flipByte(s.body, 7));
      assert.throws(() => bad.end(), (e: unknown) => e instanceof PortcullisError && e.code === 'XAmzContentSHA256Mismatch');
    });

    it('a wrong secret or a clock 16 minutes off does not verify', async () => {
      const s = await sign();
      const wrongSecret = new Verifier<Principal>({
        region: REGION,
        clock: () => SIGNING_DATE.getTime(),
        lookup: () => ({ status: 'found', secretAccessKey: PERMANENT.secretAccessKey + 'x', principal: USER }),
      });
      await rejectsWith(verifyOk(s, wrongSecret), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(s, verifier({ now: SIGNING_DATE.getTime() + 16 * 60_000 })), 'RequestTimeTooSkewed');
      await rejectsWith(verifyOk(s, verifier({ now: SIGNING_DATE.getTime() - 16 * 60_000 })), 'RequestTimeTooSkewed');
    });
  });

  describe('STS POST with a session token', () => {
    it('verifies as the temporary principal, and the token is signed', async () => {
      const s = onTheWire(await signer('sts', { temporary: true }).sign(stsPost(), { signingDate: SIGNING_DATE }));
      assert.deepEqual(s.req.headers.get('x-amz-security-token'), [TEMPORARY.sessionToken]);
      assert.ok(signedHeaderList(s).includes('x-amz-security-token'));
      const v = await verifyOk(s);
      assert.equal(v.principal, ROLE);
      assert.equal(v.accessKeyId, TEMPORARY.accessKeyId);
      assert.equal(v.sessionToken, TEMPORARY.sessionToken);
      assert.equal(v.service, 'sts');

      await rejectsWith(verifyOk(withBody(s, flipByte(s.body, 3))), 'SignatureDoesNotMatch');
      // Another token is refused by the lookup; dropping it makes the key unknown.
      await rejectsWith(verifyOk(withHeader(s, 'x-amz-security-token', TEMPORARY.sessionToken.replace('session', 'sessioN'))), 'InvalidToken');
      const headers = s.req.headers.with('x-amz-security-token', undefined);
      await rejectsWith(verifyOk({ ...s, req: { ...s.req, headers } }), 'InvalidClientTokenId');
    });
  });

  describe('presigned STS GET (expiresIn 900)', () => {
    const presign = async (temporary = false) => {
      const req = new SmithyRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: 'sts.amazonaws.com',
        path: '/',
        query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
        headers: { host: 'sts.amazonaws.com' },
      });
      return onTheWire(await signer('sts', { temporary }).presign(req, { signingDate: SIGNING_DATE, expiresIn: 900 }));
    };

    it('verifies, and expires 900 s after signing', async () => {
      const s = await presign();
      assert.equal(s.req.headers.get('authorization'), undefined);
      assert.match(s.req.query, /(^|&)X-Amz-Signature=[0-9a-f]{64}(&|$)/);
      const v = await verifyOk(s);
      assert.equal(v.presigned, true);
      assert.equal(v.principal, USER);
      assert.equal(v.service, 'sts');
      assert.equal(v.region, REGION);
      assert.equal(v.expiresAtMs, SIGNING_DATE.getTime() + 900_000);
      // Still good at the last second, expired one second later.
      await verifyOk(s, verifier({ now: SIGNING_DATE.getTime() + 900_000 }));
      await rejectsWith(verifyOk(s, verifier({ now: SIGNING_DATE.getTime() + 901_000 })), 'RequestExpired');
    });

    it('a changed query value, path or host does not verify', async () => {
      const s = await presign();
      await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'Action'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'Version'))), 'SignatureDoesNotMatch');
      // A longer lifetime than was signed.
      await rejectsWith(verifyOk(withQuery(s, s.req.query.replace('X-Amz-Expires=900', 'X-Amz-Expires=901'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, '/a')), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withHeader(s, 'host', 'sts.amazonaws.con')), 'SignatureDoesNotMatch');
      // A presigned GET signs the empty body.
      await rejectsWith(verifyOk(withBody(s, Buffer.from('x'))), 'SignatureDoesNotMatch');
    });

    it('with a session token in the query', async () => {
      const s = await presign(true);
      assert.match(s.req.query, /(^|&)X-Amz-Security-Token=/);
      const v = await verifyOk(s);
      assert.equal(v.principal, ROLE);
      assert.equal(v.sessionToken, TEMPORARY.sessionToken);
      await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'Action'))), 'SignatureDoesNotMatch');
    });
  });

  describe('S3 (uriEscapePath: false, applyChecksum: true)', () => {
    const BODY = Buffer.from('hello from smithy \u2713\n', 'utf8');
    const PATHS = [
      '/bucket/key%20with%20space/%E2%9C%93',
      "/bucket/%21%27%28%29%2A~-_.%2B%3D%26%3F%23",
      // S3 does not normalize: these segments are part of the key.
      '/bucket/a//b/./c/../d',
    ];
    const sign = async (path: string) => {
      const req = new SmithyRequest({
        method: 'PUT',
        protocol: 'https:',
        hostname: 's3.us-east-1.amazonaws.com',
        path,
        headers: {
          host: 's3.us-east-1.amazonaws.com',
          'content-type': 'text/plain; charset=utf-8',
          'content-length': String(BODY.length),
          'x-amz-meta-note': '  two   spaces\tand a tab  ',
        },
        body: BODY,
      });
      return onTheWire(await signer('s3', { uriEscapePath: false, applyChecksum: true }).sign(req, { signingDate: SIGNING_DATE }));
    };

    for (const path of PATHS) {
      it(`verifies ${path}`, async () => {
        const s = await sign(path);
        assert.equal(s.req.path, path);
        assert.deepEqual(s.req.headers.get('x-amz-content-sha256'), [sha256Hex(BODY)]);
        assert.ok(signedHeaderList(s).includes('x-amz-content-sha256'));
        assert.ok(signedHeaderList(s).includes('x-amz-meta-note'));
        const v = await verifyOk(s);
        assert.equal(v.service, 's3');
        assert.equal(v.principal, USER);
        assert.deepEqual(v.payload, { kind: 'sha256', hash: sha256Hex(BODY) });
        const body = verifier().bodyDecoder(v, s.req);
        assert.deepEqual(Buffer.concat([...body.push(s.body), ...body.end()]), BODY);
      });
    }

    it('a changed path byte, body byte or signed header value does not verify', async () => {
      const s = await sign(PATHS[0]!);
      // `key%20with` -> `key%21with`, and `key` -> `kez`: still valid paths, no longer what was signed.
      await rejectsWith(verifyOk(withPath(s, s.req.path.replace('%20', '%21'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, s.req.path.replace('key', 'kez'))), 'SignatureDoesNotMatch');
      // The S3 path is taken as sent: decoding what the client encoded is another path.
      await rejectsWith(verifyOk(withPath(s, '/bucket/key with space/%E2%9C%93')), 'SignatureDoesNotMatch');
      // The hash is declared, so a changed body is a hash mismatch, found before the signature.
      await rejectsWith(verifyOk(withBody(s, flipByte(s.body, 0))), 'XAmzContentSHA256Mismatch');
      await rejectsWith(verifyOk(withHeader(s, 'x-amz-meta-note', 'two spaces and a taB')), 'SignatureDoesNotMatch');
      // Same value modulo white space still verifies (canonical values are trimmed and collapsed).
      await verifyOk(withHeader(s, 'x-amz-meta-note', 'two spaces and a tab'));
      // A declared hash changed together with the body is still caught by the signature.
      const forged = withBody(withHeader(s, 'x-amz-content-sha256', sha256Hex(flipByte(s.body, 0))), flipByte(s.body, 0));
      await rejectsWith(verifyOk(forged), 'SignatureDoesNotMatch');
    });

    it('a presigned S3 GET (UNSIGNED-PAYLOAD hoisted into the query) verifies', async () => {
      const req = new SmithyRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: 'bucket.s3.amazonaws.com',
        path: '/key%20with%20space/%E2%9C%93',
        query: { 'x-id': 'GetObject', 'response-content-disposition': 'attachment; filename="a b.txt"' },
        headers: { host: 'bucket.s3.amazonaws.com', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
      });
      const s = onTheWire(await signer('s3', { uriEscapePath: false }).presign(req, { signingDate: SIGNING_DATE, expiresIn: 900 }));
      assert.match(s.req.query, /(^|&)X-Amz-Content-Sha256=UNSIGNED-PAYLOAD(&|$)/i);
      const v = await verifyOk(s);
      assert.equal(v.presigned, true);
      assert.deepEqual(v.payload, { kind: 'unsigned' });
      await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'response-content-disposition'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, s.req.path.replace('%E2%9C%93', '%E2%9C%94'))), 'SignatureDoesNotMatch');
    });
  });

  describe('non-S3 service: the path is normalized and encoded twice', () => {
    const sign = async (path: string, body = '{"payload":true}') => {
      const req = new SmithyRequest({
        method: 'POST',
        protocol: 'https:',
        hostname: 'lambda.us-east-1.amazonaws.com',
        path,
        headers: { host: 'lambda.us-east-1.amazonaws.com', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
        body,
      });
      return onTheWire(await signer('lambda').sign(req, { signingDate: SIGNING_DATE }));
    };
    const FN_PATH = '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A111122223333%3Afunction%3Amy-fn/invocations';

    it('a percent-encoded path verifies', async () => {
      const s = await sign(FN_PATH);
      assert.equal(s.req.path, FN_PATH);
      const v = await verifyOk(s);
      assert.equal(v.service, 'lambda');
      assert.equal(v.principal, USER);
    });

    it('the double encoding is what makes it verify', async () => {
      const s = await sign(FN_PATH);
      // Single-encoding (S3's rule) computes another canonical URI: the signature fails.
      await rejectsWith(verifyOk(s, verifier({ rulesFor: () => S3_RULES })), 'SignatureDoesNotMatch');
      await verifyOk(s, verifier({ rulesFor: () => NORMALIZING_RULES }));
      // The path as decoded text is another path.
      await rejectsWith(verifyOk(withPath(s, decodeURIComponent(FN_PATH))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, FN_PATH.replace('%3Amy-fn', '%3Amy-fo'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, FN_PATH.replace('%3A', '%3a'))), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withBody(s, flipByte(s.body, 2))), 'SignatureDoesNotMatch');
    });

    it('dot segments, doubled slashes and an encoded slash', async () => {
      const path = '/a/./b//c/../d%2Fe%20f/';
      const s = await sign(path);
      const v = await verifyOk(s);
      assert.equal(v.service, 'lambda');
      // The same path, normalized by hand, is the same canonical URI: it verifies too.
      await verifyOk(withPath(s, '/a/b/d%2Fe%20f/'));
      // But the encoded slash is not a separator, and the trailing slash counts.
      await rejectsWith(verifyOk(withPath(s, '/a/b/d/e%20f/')), 'SignatureDoesNotMatch');
      await rejectsWith(verifyOk(withPath(s, '/a/b/d%2Fe%20f')), 'SignatureDoesNotMatch');
    });

    // Smithy (like botocore) keeps a trailing slash only when the path as sent ends in `/`:
    // `/a/b/..` is signed as `/a`, `/a/b/.` as `/a/b`.
    for (const path of ['/a/b/..', '/a/b/.', '/a/./b//c/../d%2Fe/.']) {
      it(`a path ending in a dot segment verifies: ${path}`, async () => {
        const s = await sign(path);
        const v = await verifyOk(s);
        assert.equal(v.service, 'lambda');
      });
    }
  });

  describe('query parameters with special characters and repeated keys', () => {
    const QUERY = {
      q: 'a b&c=d+e/f?g#h%i',
      tag: ['zeta', 'alpha', 'Mu', '\u00fc', 'alpha '],
      empty: '',
      "sp ace*(!)'": "!'()*~",
      '\u043a\u043b\u044e\u0447': '\u0437\u043d\u0430\u0447\u0435\u043d\u0438\u0435 \u{1F600}',
      'X-Custom': 'Mixed-Case_value.~',
    };
    const sign = async (presigned: boolean) => {
      const req = new SmithyRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: 'abc123.execute-api.us-east-1.amazonaws.com',
        path: '/prod/items',
        query: QUERY,
        headers: { host: 'abc123.execute-api.us-east-1.amazonaws.com', 'x-api-client': 'interop' },
      });
      const s = signer('execute-api');
      return onTheWire(presigned
        ? await s.presign(req, { signingDate: SIGNING_DATE, expiresIn: 900 })
        : await s.sign(req, { signingDate: SIGNING_DATE }));
    };

    for (const presigned of [false, true]) {
      describe(presigned ? 'presigned' : 'header-signed', () => {
        it('verifies', async () => {
          const s = await sign(presigned);
          // Each repeated value is on the wire once; the order on the wire is not the signed order.
          assert.equal(s.req.query.split('&').filter((p) => p.startsWith('tag=')).length, QUERY.tag.length);
          assert.match(s.req.query, /sp%20ace%2A%28%21%29%27=%21%27%28%29%2A~/);
          const v = await verifyOk(s);
          assert.equal(v.presigned, presigned);
          assert.equal(v.service, 'execute-api');
        });

        it('a changed value, a dropped repeated value or a changed header does not verify', async () => {
          const s = await sign(presigned);
          await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'q'))), 'SignatureDoesNotMatch');
          await rejectsWith(verifyOk(withQuery(s, tamperQueryValue(s.req.query, 'tag'))), 'SignatureDoesNotMatch');
          const parts = s.req.query.split('&');
          const firstTag = parts.findIndex((p) => p.startsWith('tag='));
          await rejectsWith(verifyOk(withQuery(s, parts.filter((_, i) => i !== firstTag).join('&'))), 'SignatureDoesNotMatch');
          // `+` on the wire is a plus sign, not a space.
          await rejectsWith(verifyOk(withQuery(s, s.req.query.replace('a%20b', 'a+b'))), 'SignatureDoesNotMatch');
          // Reordering the wire query does not matter: the canonical query is sorted.
          await verifyOk(withQuery(s, [...parts].reverse().join('&')));
          // Lower-case percent escapes decode to the same bytes.
          await verifyOk(withQuery(s, s.req.query.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())));
          await rejectsWith(verifyOk(withHeader(s, 'x-api-client', 'interoq')), 'SignatureDoesNotMatch');
        });
      });
    }
  });
});
