/**
 * AWS's SigV4 and SigV4a test suite (../shared/vectors/sigv4): for every case, our canonical
 * request, string to sign and signature match AWS's, the signed request verifies, and our
 * signer reproduces the signature (v4) or makes one that verifies (v4a).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  ALGORITHM_V4, ALGORITHM_V4A, canonicalRequestOf, HeaderMap, deriveV4aKeyPair, parseAuth, publicKeyXY, Q_SECURITY_TOKEN, Q_SIGNATURE,
  sha256Hex, Signer, stringToSign, Verifier, verifyV4a, type CanonicalRules, type HttpRequest,
} from '../../src/sigv4/index.js';
import { parseHttpText } from '../helpers/httpText.js';
import { sigv4VectorsDir } from '../helpers/paths.js';

interface Context {
  credentials: { access_key_id: string; secret_access_key: string; token?: string };
  region: string;
  service: string;
  timestamp: string;
  normalize: boolean;
  sign_body: boolean;
  omit_session_token?: boolean;
  expiration_in_seconds: number;
}

const root = sigv4VectorsDir();

function read(dir: string, file: string): string {
  return readFileSync(join(dir, file), 'utf8');
}

function setup(dir: string) {
  const ctx = JSON.parse(read(dir, 'context.json')) as Context;
  const time = Date.parse(ctx.timestamp);
  const rules: CanonicalRules = { normalizePath: ctx.normalize, encodePath: true };
  const creds = { accessKeyId: ctx.credentials.access_key_id, secretAccessKey: ctx.credentials.secret_access_key, sessionToken: ctx.credentials.token };
  const principal = { arn: 'arn:aws:iam::123456789012:user/vector' };
  const verifier = new Verifier({
    region: ctx.region,
    clock: () => time,
    rulesFor: () => rules,
    lookup: (id, token) =>
      id === creds.accessKeyId && token === creds.sessionToken
        ? { status: 'found', secretAccessKey: creds.secretAccessKey, principal }
        : { status: 'unknown' },
  });
  const signer = new Signer({ clock: () => time });
  const unsigned = parseHttpText(read(dir, 'request.txt'));
  const headersRecord: Record<string, string[]> = {};
  for (let i = 0; i < unsigned.rawHeaders.length; i += 2) {
    (headersRecord[unsigned.rawHeaders[i]!] ??= []).push(unsigned.rawHeaders[i + 1]!);
  }
  const toSign = { method: unsigned.request.method, path: unsigned.request.path, query: unsigned.request.query, headers: headersRecord, body: unsigned.body };
  const signOpts = {
    credentials: creds,
    region: ctx.region,
    service: ctx.service,
    rules,
    contentSha256Header: ctx.sign_body,
    tokenAfterSigning: ctx.omit_session_token === true,
  };
  return { ctx, rules, verifier, signer, toSign, signOpts, principal, bodySha256: sha256Hex(unsigned.body) };
}

function caseDirs(set: string): string[] {
  return readdirSync(join(root!, set)).filter((d) => existsSync(join(root!, set, d, 'context.json'))).sort();
}

/** `tokenAfterSigning`: the session token was added to the URL after signing (omit_session_token). */
function canonicalOf(req: HttpRequest, rules: CanonicalRules, bodySha256: string, tokenAfterSigning = false): string {
  const auth = parseAuth(req);
  const exclude = tokenAfterSigning ? new Set([Q_SIGNATURE, Q_SECURITY_TOKEN]) : new Set([Q_SIGNATURE]);
  return canonicalRequestOf(req, rules, auth, auth.declaredPayloadHash ?? bodySha256, auth.presigned ? exclude : undefined)!;
}

describe('AWS SigV4 test suite (v4)', { skip: root === undefined ? 'vectors not found (set CI=true to make this fail)' : false }, () => {
  if (root === undefined) return;
  const cases = caseDirs('v4');
  it('has all 38 cases', () => assert.equal(cases.length, 38));
  for (const name of cases) {
    const dir = join(root, 'v4', name);
    describe(name, () => {
      const t = setup(dir);
      for (const mode of ['header', 'query'] as const) {
        it(`${mode}: canonical request, string to sign, signature`, async () => {
          const signed = parseHttpText(read(dir, `${mode}-signed-request.txt`));
          const canonical = canonicalOf(signed.request, t.rules, t.bodySha256, t.signOpts.tokenAfterSigning);
          assert.equal(canonical, read(dir, `${mode}-canonical-request.txt`));
          const auth = parseAuth(signed.request);
          assert.equal(stringToSign(ALGORITHM_V4, auth.amzDate, auth.scope, canonical), read(dir, `${mode}-string-to-sign.txt`));
          assert.equal(auth.signature, read(dir, `${mode}-signature.txt`).trim());
          const verified = await t.verifier.verify(signed.request, { bodySha256: t.bodySha256 });
          assert.equal(verified.principal, t.principal);
          assert.equal(verified.presigned, mode === 'query');
        });
        it(`${mode}: our signer reproduces the signature`, () => {
          const sig = mode === 'header'
            ? t.signer.sign(t.toSign, t.signOpts).signature
            : t.signer.presign(t.toSign, { ...t.signOpts, expiresIn: t.ctx.expiration_in_seconds }).signature;
          assert.equal(sig, read(dir, `${mode}-signature.txt`).trim());
        });
      }
    });
  }
});

describe('AWS SigV4a test suite (v4a)', { skip: root === undefined ? 'vectors not found' : false }, () => {
  if (root === undefined) return;
  const cases = caseDirs('v4a').filter((c) => existsSync(join(root, 'v4a', c, 'header-canonical-request.txt')));
  it('has the 38 cases with expected output', () => assert.equal(cases.length, 38));
  for (const name of cases) {
    const dir = join(root, 'v4a', name);
    describe(name, () => {
      const t = setup(dir);
      it('derives the published public key', () => {
        const key = JSON.parse(read(dir, 'public-key.json')) as { X: string; Y: string };
        const { x, y } = publicKeyXY(deriveV4aKeyPair(t.signOpts.credentials.accessKeyId, t.signOpts.credentials.secretAccessKey).publicKey);
        assert.deepEqual({ x, y }, { x: key.X, y: key.Y });
      });
      for (const mode of ['header', 'query'] as const) {
        it(`${mode}: canonical request, string to sign, both published signatures verify`, async () => {
          const signed = parseHttpText(read(dir, `${mode}-signed-request.txt`));
          const canonical = canonicalOf(signed.request, t.rules, t.bodySha256, t.signOpts.tokenAfterSigning);
          assert.equal(canonical, read(dir, `${mode}-canonical-request.txt`));
          const auth = parseAuth(signed.request);
          const sts = stringToSign(ALGORITHM_V4A, auth.amzDate, auth.scope, canonical);
          assert.equal(sts, read(dir, `${mode}-string-to-sign.txt`));
          const { publicKey } = deriveV4aKeyPair(t.signOpts.credentials.accessKeyId, t.signOpts.credentials.secretAccessKey);
          assert.ok(verifyV4a(publicKey, sts, read(dir, `${mode}-signature.txt`).trim()));
          const verified = await t.verifier.verify(signed.request, { bodySha256: t.bodySha256 });
          assert.equal(verified.algorithm, ALGORITHM_V4A);
          assert.deepEqual(verified.regionSet, ['us-east-1']);
        });
      }
      it('our v4a signer makes signatures that verify', async () => {
        const s = t.signer.sign(t.toSign, { ...t.signOpts, algorithm: ALGORITHM_V4A });
        const req = { method: t.toSign.method, path: t.toSign.path, query: t.toSign.query, headers: HeaderMap.fromRecord(s.headers) };
        await t.verifier.verify(req, { bodySha256: t.bodySha256 });
      });
    });
  }
});

describe('supplemental: non-S3 double encoding of an encoded path', { skip: root === undefined ? 'vectors not found' : false }, () => {
  if (root === undefined) return;
  const rules: CanonicalRules = { normalizePath: true, encodePath: true };
  it('double-url-encode: canonical request, string to sign and signature', async () => {
    const dir = join(root, 'supplemental', 'smithy-rs', 'v4', 'double-url-encode');
    const signed = parseHttpText(read(dir, 'header-signed-request.txt'));
    const canonical = canonicalOf(signed.request, rules, sha256Hex(''));
    assert.equal(canonical, read(dir, 'header-canonical-request.txt'));
    const auth = parseAuth(signed.request);
    assert.equal(stringToSign(ALGORITHM_V4, auth.amzDate, auth.scope, canonical), read(dir, 'header-string-to-sign.txt').trimEnd());
    const v = new Verifier({
      region: 'us-east-2',
      clock: () => auth.timeMs,
      lookup: () => ({ status: 'found', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', principal: 1 }),
    });
    assert.equal((await v.verify(signed.request)).service, 'lambda');
  });
  it('double-encode-path: the path is encoded twice and the signature verifies', async () => {
    const dir = join(root, 'supplemental', 'smithy-rs', 'v4', 'double-encode-path');
    const signed = parseHttpText(read(dir, 'header-signed-request.txt'));
    const canonical = canonicalOf(signed.request, rules, sha256Hex(''));
    // The published canonical request carries another clock's x-amz-date; the path is what matters.
    assert.equal(canonical.split('\n')[1], read(dir, 'header-canonical-request.txt').split('\n')[1]);
    const auth = parseAuth(signed.request);
    const v = new Verifier({
      region: 'us-east-1',
      clock: () => auth.timeMs,
      lookup: (id) => (id === 'ANOTREAL' ? { status: 'found', secretAccessKey: 'notrealrnrELgWzOk3IfjzDKtFBhDby', principal: 1 } : { status: 'unknown' }),
    });
    await v.verify(signed.request);
  });
});
