/**
 * Property tests of the SigV4 engine with fast-check.
 *
 * - Sign with `Signer`, verify with `Verifier`: arbitrary requests always pass.
 * - Any single-byte change of the method, the path, the query, a signed header's value, the
 *   body or the signature is refused. Some changes leave the canonical request the same (the
 *   hex case of a `%XX` escape in the query, white space the header canonicalization folds,
 *   dot segments the path normalization removes). Those are not excluded: an independent
 *   reference model of the canonical form, written from the spec below, decides whether a
 *   mutation is equivalent, and then the request must still PASS; otherwise it must fail with
 *   the one error code that change calls for.
 * - uriEncode round trip, canonical query order independence, normalizePath idempotence.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { type ErrorCode, PortcullisError } from '../../src/core/errors.js';
import {
  AuthPrefixMemo, canonicalComponent, canonicalHeaderValue, canonicalQueryFromParams, canonicalQueryFromRaw, type CredentialLookupResult, deriveSigningKey,
  HeaderMap, type HttpRequest, normalizePath, parseAuth, percentDecode, type RequestToSign, type SignOptions,
  Signer, uriEncode, Verifier,
} from '../../src/sigv4/index.js';

const RUNS = 200;

// ---------------------------------------------------------------------------------------------
// Reference model of the canonical forms, from the spec (independent of src/)

/** `%XX` (either case) is one byte; any other `%` is a literal; everything else is its UTF-8. */
function refPercentDecode(raw: string): Buffer {
  const text = Buffer.from(raw, 'utf8');
  const out: number[] = [];
  const hex = (b: number | undefined) => b !== undefined && /^[0-9A-Fa-f]$/.test(String.fromCharCode(b));
  for (let i = 0; i < text.length; i++) {
    if (text[i] === 0x25 && hex(text[i + 1]) && hex(text[i + 2])) {
      out.push(parseInt(String.fromCharCode(text[i + 1]!, text[i + 2]!), 16));
      i += 2;
    } else {
      out.push(text[i]!);
    }
  }
  return Buffer.from(out);
}

/**
 * The canonical query as a sorted multiset of decoded (name, value) byte strings. Empty parts
 * are dropped, a part without `=` has an empty value, `+` is a literal. The presigned
 * signature parameter is left out.
 */
function refQuery(raw: string, presigned: boolean): string {
  const pairs: string[] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (presigned && k === 'X-Amz-Signature') continue;
    pairs.push(refPercentDecode(k).toString('hex') + ' ' + refPercentDecode(eq < 0 ? '' : part.slice(eq + 1)).toString('hex'));
  }
  return pairs.sort().join('&');
}

/**
 * The canonical path of a path that starts with `/`. S3: the path itself. Everyone else: dot
 * segments and empty segments removed (RFC 3986 5.2.4 plus SigV4's empty-segment rule), a
 * trailing `/` kept only when the path was sent with one (as botocore and smithy do: `/a/b/..`
 * is `/a`), then encoded once more, which is injective, so comparing the normalized strings is
 * enough.
 */
function refPath(path: string, s3: boolean): string {
  if (s3) return path;
  const out: string[] = [];
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  return '/' + out.join('/') + (out.length > 0 && path.endsWith('/') ? '/' : '');
}

/** Canonical header values: each trimmed, runs of white space one space, joined with `,`. */
function refHeader(values: readonly string[]): string {
  return values.map((v) => v.split(/[ \t]+/).filter((w) => w !== '').join(' ')).join(',');
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Arbitrary requests

interface Scenario {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly host: string;
  readonly headers: ReadonlyArray<readonly [string, string | string[]]>;
  readonly body: Uint8Array;
  readonly service: string;
  readonly region: string;
  readonly presigned: boolean;
  readonly accessKeyId: string;
  readonly secret: string;
  readonly token: string | undefined;
  readonly tokenAfterSigning: boolean;
  readonly contentSha256Header: boolean | undefined;
  readonly timeMs: number;
  readonly expiresIn: number;
  /** Where the verifier's clock stands, in seconds after signing; always inside the window. */
  readonly clockOffsetS: number;
}

const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const printable = fc.string({ unit: printableChar, maxLength: 24 });

const segment = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: 'binary', maxLength: 10 }) },
  { weight: 2, arbitrary: fc.constantFrom('.', '..', '') },
  { weight: 1, arbitrary: fc.constantFrom('%', '/', '?', '#', '+', ' ', 'a b', '~', "!*'()", '%2F', '..a', '.a') },
);
/** As a client puts it on the wire: each segment through encodeURIComponent. */
const wirePath = fc.array(segment, { minLength: 1, maxLength: 6 }).map((segs) => '/' + segs.map(encodeURIComponent).join('/'));

const queryText = (maxLength: number) => fc.oneof(fc.string({ unit: 'binary', maxLength }), fc.string({ unit: printableChar, maxLength }));
const queryKey = queryText(8).filter((k) => !encodeURIComponent(k).startsWith('X-Amz-'));
const queryParam = fc.tuple(queryKey, fc.option(queryText(10), { nil: undefined, freq: 6 }));
const wireQuery = fc
  .array(queryParam, { maxLength: 5 })
  .map((ps) => ps.map(([k, v]) => (v === undefined ? encodeURIComponent(k) : `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)).join('&'));

/** Names the signer or the verifier treat specially; the extra headers never use them. */
const RESERVED = new Set([
  'host', 'authorization', 'date', 'x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-region-set',
  'x-amz-decoded-content-length', 'x-amz-trailer', 'content-encoding',
]);
const headerName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,14}$/).filter((n) => !RESERVED.has(n.toLowerCase()));
const headerValue = fc.oneof(
  { weight: 4, arbitrary: printable },
  { weight: 1, arbitrary: fc.array(printable, { minLength: 2, maxLength: 3 }) },
);

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=';
const tokenArb = fc.string({ unit: fc.constantFrom(...BASE64), minLength: 1, maxLength: 40 });

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    method: fc.oneof(fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'PATCH'), fc.stringMatching(/^[A-Z]{1,10}$/)),
    path: wirePath,
    query: wireQuery,
    host: fc.constantFrom('example.com', 'api.example.com:8443', 'bucket.s3.us-east-1.amazonaws.com'),
    headers: fc.uniqueArray(fc.tuple(headerName, headerValue), { minLength: 1, maxLength: 8, selector: ([n]) => n.toLowerCase() }),
    body: fc.uint8Array({ maxLength: 64 }),
    service: fc.oneof(fc.constant('s3'), fc.constantFrom('sts', 'execute-api', 'dynamodb'), fc.stringMatching(/^[a-z][a-z0-9-]{0,9}$/)),
    region: fc.constantFrom('us-east-1', 'eu-west-1', 'ap-southeast-2'),
    presigned: fc.boolean(),
    accessKeyId: fc.stringMatching(/^[A-Z0-9]{16,20}$/),
    secret: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    token: fc.option(tokenArb, { nil: undefined }),
    tokenAfterSigning: fc.boolean(),
    contentSha256Header: fc.option(fc.boolean(), { nil: undefined }),
    timeS: fc.integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2099, 11, 31) / 1000 }),
    expiresIn: fc.integer({ min: 1, max: 604_800 }),
    clockSeed: fc.nat(),
  })
  .map(({ timeS, clockSeed, ...s }) => ({
    ...s,
    timeMs: timeS * 1000,
    // Header auth: within +-15 min. Presigned: from 15 min before signing to the expiry.
    clockOffsetS: s.presigned ? -900 + (clockSeed % (s.expiresIn + 901)) : -900 + (clockSeed % 1801),
  }));

interface Built {
  readonly req: HttpRequest;
  readonly verifier: Verifier<{ id: string }>;
  readonly bodySha256: string;
  /** The presigned user part of the query (everything before the signer's parameters). */
  readonly userQueryLength: number;
  readonly declaredHash: boolean;
  readonly s3: boolean;
}

function build(s: Scenario): Built {
  const signer = new Signer({ clock: () => s.timeMs });
  const headers: Record<string, string | string[]> = { host: s.host };
  for (const [n, v] of s.headers) headers[n] = v;
  const toSign: RequestToSign = { method: s.method, path: s.path, query: s.query, headers, body: s.body };
  const opts: SignOptions = {
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey: s.secret, ...(s.token !== undefined ? { sessionToken: s.token } : {}) },
    region: s.region,
    service: s.service,
    tokenAfterSigning: s.tokenAfterSigning,
    ...(s.contentSha256Header !== undefined ? { contentSha256Header: s.contentSha256Header } : {}),
  };
  let req: HttpRequest;
  if (s.presigned) {
    const p = signer.presign(toSign, { ...opts, expiresIn: s.expiresIn });
    req = { method: s.method, path: s.path, query: p.query, headers: HeaderMap.fromRecord(headers) };
  } else {
    const h = signer.sign(toSign, opts);
    req = { method: s.method, path: s.path, query: s.query, headers: HeaderMap.fromRecord(h.headers) };
  }
  const lookup = (id: string, token: string | undefined): CredentialLookupResult<{ id: string }> => {
    if (id !== s.accessKeyId) return { status: 'unknown' };
    if (token !== s.token) return { status: 'invalidToken' };
    return { status: 'found', secretAccessKey: s.secret, principal: { id } };
  };
  const verifier = new Verifier({ region: s.region, lookup, clock: () => s.timeMs + s.clockOffsetS * 1000 });
  return {
    req,
    verifier,
    bodySha256: sha256(s.body),
    userQueryLength: s.presigned ? s.query.length : 0,
    declaredHash: !s.presigned && (s.contentSha256Header ?? s.service === 's3'),
    s3: s.service === 's3',
  };
}

type Outcome = { ok: true } | { ok: false; code: ErrorCode | 'not a PortcullisError'; message: string };

async function outcome(b: Built, req: HttpRequest, bodySha256 = b.bodySha256): Promise<Outcome> {
  try {
    await b.verifier.verify(req, { bodySha256 });
    return { ok: true };
  } catch (e) {
    if (e instanceof PortcullisError) return { ok: false, code: e.code, message: e.message };
    return { ok: false, code: 'not a PortcullisError', message: String(e) };
  }
}

function describeOutcome(o: Outcome): string {
  return o.ok ? 'passed' : `${o.code}: ${o.message}`;
}

/** A different character from `alphabet` than `old`, chosen by `seed`. */
function otherChar(alphabet: string, old: string | undefined, seed: number): string {
  const c = alphabet[seed % alphabet.length]!;
  return c !== old ? c : alphabet[(seed + 1) % alphabet.length]!;
}

/**
 * Where to change one byte of `str` within [from, to), and to what. Half of the time (when
 * `escapeCase` is set and there is one) it flips the case of a hex letter inside a `%XX`
 * escape, the one change a decoder may legitimately ignore; otherwise any position gets any
 * other printable character.
 */
function pickChange(str: string, from: number, to: number, pos: number, seed: number, escapeCase: boolean): [number, string] {
  if (escapeCase) {
    const letters: number[] = [];
    for (const m of str.slice(from, to).matchAll(/%[0-9A-Fa-f]{2}/g)) {
      for (const j of [m.index + 1, m.index + 2]) if (/[A-Fa-f]/.test(str[from + j]!)) letters.push(from + j);
    }
    if (letters.length > 0) {
      const i = letters[pos % letters.length]!;
      const c = str[i]!;
      return [i, c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase()];
    }
  }
  const i = from + (pos % (to - from));
  return [i, otherChar(PRINTABLE, str[i], seed)];
}

function replaceAt(s: string, i: number, c: string): string {
  return s.slice(0, i) + c + s.slice(i + 1);
}

const PRINTABLE = Array.from({ length: 0x7f - 0x20 }, (_, i) => String.fromCharCode(0x20 + i)).join('');
const ALNUM = '0123456789abcdefABCDEFghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ';
const HEX = '0123456789abcdef';
const HEX_SIGNATURE = fc.string({ unit: fc.constantFrom(...HEX), minLength: 64, maxLength: 64 });

function withHeaderValues(req: HttpRequest, name: string, values: string[]): HttpRequest {
  return { ...req, headers: req.headers.with(name, values) };
}

// ---------------------------------------------------------------------------------------------

describe('sign then verify', () => {
  it('every arbitrary request signed by Signer verifies, with the facts it was signed with', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const b = build(s);
        const v = await b.verifier.verify(b.req, { bodySha256: b.bodySha256 });
        assert.equal(v.principal.id, s.accessKeyId);
        assert.equal(v.accessKeyId, s.accessKeyId);
        assert.equal(v.sessionToken, s.token);
        assert.equal(v.presigned, s.presigned);
        assert.equal(v.region, s.region);
        assert.equal(v.service, s.service);
        assert.equal(v.signedAtMs, s.timeMs);
        assert.equal(v.expiresAtMs, s.presigned ? s.timeMs + s.expiresIn * 1000 : undefined);
        const expectedPayload = s.presigned && b.s3 ? { kind: 'unsigned' } : { kind: 'sha256', hash: b.bodySha256 };
        assert.deepEqual(v.payload, expectedPayload);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('any single-byte change is refused, unless it is canonically the same request', () => {
  /** Asserts the mutated request's outcome: pass when equivalent, otherwise one of `codes`. */
  async function check(b: Built, mutated: HttpRequest, equivalent: boolean, codes: readonly ErrorCode[], what: string, bodySha256?: string) {
    const o = await outcome(b, mutated, bodySha256);
    if (equivalent) {
      assert.ok(o.ok, `${what}: canonically equivalent, so it must verify; got ${describeOutcome(o)}`);
    } else {
      assert.ok(!o.ok && (codes as readonly string[]).includes(o.code), `${what}: expected ${codes.join(' or ')}, got ${describeOutcome(o)}`);
    }
  }

  it('the method', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), async (s, pos, seed) => {
        const b = build(s);
        const i = pos % s.method.length;
        const method = replaceAt(s.method, i, otherChar(PRINTABLE, s.method[i], seed));
        await check(b, { ...b.req, method }, false, ['SignatureDoesNotMatch'], `method ${JSON.stringify(method)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('the path (S3: as sent; others: up to dot segments and empty segments)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), fc.boolean(), async (s, pos, seed, escapeCase) => {
        // The request target of an HTTP request always starts with `/`: the first byte stays.
        fc.pre(s.path.length > 1);
        const b = build(s);
        // The path is never decoded, so even the hex case of an escape matters (S3 and others).
        const path = replaceAt(s.path, ...pickChange(s.path, 1, s.path.length, pos, seed, escapeCase));
        const equivalent = refPath(path, b.s3) === refPath(s.path, b.s3);
        await check(b, { ...b.req, path }, equivalent, ['SignatureDoesNotMatch'], `path ${JSON.stringify(s.path)} -> ${JSON.stringify(path)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('dot-segment mutations that normalize away are accepted for non-S3 services (the equivalence is exercised)', async () => {
    // A directed case of the property above, so the "equivalent" branch surely runs.
    const s: Scenario = fc.sample(scenarioArb, { numRuns: 1, seed: 42 })[0]!;
    for (const [path, mutated] of [['/a/x/../b', '/a/y/../b'], ['/a/./b', '/a///b'], ['/a/b/..', '/a/c/..'], ['/a//b', '/a/.b']] as const) {
      const scenario = { ...s, path, service: 'sts', presigned: false, clockOffsetS: 0 };
      const b = build(scenario);
      const equivalent = refPath(mutated, false) === refPath(path, false);
      assert.equal(equivalent, !mutated.includes('.b'), 'the reference model itself');
      await check(b, { ...b.req, path: mutated }, equivalent, ['SignatureDoesNotMatch'], `path ${path} -> ${mutated}`);
    }
  });

  it('the query', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), fc.boolean(), async (s, pos, seed, escapeCase) => {
        const b = build(s);
        // Presigned: everything but the signature parameter (changing it is the signature case).
        const sigAt = s.presigned ? b.req.query.lastIndexOf('&X-Amz-Signature=') : b.req.query.length;
        fc.pre(sigAt > 0);
        const [i, c] = pickChange(b.req.query, 0, sigAt, pos, seed, escapeCase);
        const query = replaceAt(b.req.query, i, c);
        const equivalent = refQuery(query, s.presigned) === refQuery(b.req.query, s.presigned);
        // In the client's own parameters only the signature can tell; in the presigning
        // parameters the change may first trip their own checks (date, expiry, credential, token).
        const inUserPart = !s.presigned || i < b.userQueryLength;
        const codes: ErrorCode[] = inUserPart
          ? ['SignatureDoesNotMatch']
          : ['SignatureDoesNotMatch', 'AuthorizationQueryParametersError', 'RequestTimeTooSkewed', 'RequestExpired', 'InvalidClientTokenId', 'InvalidToken'];
        await check(b, { ...b.req, query }, equivalent, codes, `query ${JSON.stringify(b.req.query)} -> ${JSON.stringify(query)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it("one signed header's value", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), fc.nat(), fc.nat(), async (s, pick, pickValue, pos, seed) => {
        const b = build(s);
        const signed = parseAuth(b.req).signedHeaders;
        const name = signed[pick % signed.length]!;
        const values = b.req.headers.get(name)!;
        const vi = pickValue % values.length;
        const old = values[vi]!;
        const c = otherChar(PRINTABLE, undefined, seed);
        const changed = old === '' ? c : replaceAt(old, pos % old.length, otherChar(PRINTABLE, old[pos % old.length], seed));
        const mutatedValues = values.map((v, j) => (j === vi ? changed : v));
        const codes: ErrorCode[] =
          name === 'x-amz-date' ? ['IncompleteSignature', 'AuthorizationHeaderMalformed', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch']
          : name === 'x-amz-security-token' ? ['InvalidToken'] // the lookup sees the token as sent
          : name === 'x-amz-content-sha256' ? ['XAmzContentSHA256Mismatch', 'InvalidParameterValue']
          : ['SignatureDoesNotMatch'];
        // The token goes to the lookup byte for byte, so for it only identity is equivalence.
        const equivalent = name !== 'x-amz-security-token' && refHeader(mutatedValues) === refHeader(values);
        await check(b, withHeaderValues(b.req, name, mutatedValues), equivalent, codes, `header ${name}: ${JSON.stringify(values)} -> ${JSON.stringify(mutatedValues)}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('the body (a different bodySha256)', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.integer({ min: 1, max: 255 }), async (s, pos, xor) => {
        const b = build(s);
        const mutated = Buffer.from(s.body.length === 0 ? [0] : s.body);
        mutated[pos % mutated.length] = mutated[pos % mutated.length]! ^ xor;
        // A presigned S3 URL never covers the body (UNSIGNED-PAYLOAD): any body goes.
        const unsigned = s.presigned && b.s3;
        const code: ErrorCode = b.declaredHash ? 'XAmzContentSHA256Mismatch' : 'SignatureDoesNotMatch';
        await check(b, b.req, unsigned, [code], 'body', sha256(mutated));
      }),
      { numRuns: RUNS },
    );
  });

  it('the declared payload hash, even when the body matches the new hash', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), async (s, pos, seed) => {
        fc.pre(!s.presigned);
        const b = build(s);
        const declared = b.req.headers.get('x-amz-content-sha256')?.[0];
        if (declared === undefined) {
          // Nothing declared: the hash of the body itself is signed.
          await check(b, b.req, false, ['SignatureDoesNotMatch'], 'undeclared body hash', sha256(Buffer.concat([s.body, Buffer.from('x')])));
          return;
        }
        const i = pos % declared.length;
        const changed = replaceAt(declared, i, otherChar(HEX, declared[i], seed));
        // The attacker sends a body that matches the new declared hash: only the signature catches it.
        await check(b, withHeaderValues(b.req, 'x-amz-content-sha256', [changed]), false, ['SignatureDoesNotMatch'], `declared ${changed}`, changed);
      }),
      { numRuns: RUNS },
    );
  });

  it('the signature', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, fc.nat(), fc.nat(), async (s, pos, seed) => {
        const b = build(s);
        let mutated: HttpRequest;
        if (s.presigned) {
          const at = b.req.query.lastIndexOf('&X-Amz-Signature=') + '&X-Amz-Signature='.length;
          const i = at + (pos % (b.req.query.length - at));
          mutated = { ...b.req, query: replaceAt(b.req.query, i, otherChar(ALNUM, b.req.query[i], seed)) };
        } else {
          const auth = b.req.headers.get('authorization')![0]!;
          const at = auth.lastIndexOf('Signature=') + 'Signature='.length;
          const i = at + (pos % (auth.length - at));
          mutated = withHeaderValues(b.req, 'authorization', [replaceAt(auth, i, otherChar(ALNUM, auth[i], seed))]);
        }
        await check(b, mutated, false, ['SignatureDoesNotMatch'], 'signature');
      }),
      { numRuns: RUNS },
    );
  });
});

describe('parsing', () => {
  it('the Authorization header means the same in any component order (fast path = general parser)', () => {
    fc.assert(
      fc.property(scenarioArb, fc.constantFrom([1, 0, 2], [2, 1, 0], [0, 2, 1], [1, 2, 0], [2, 0, 1]), fc.constantFrom(', ', ','), (s, order, sep) => {
        const b = build({ ...s, presigned: false });
        const auth = b.req.headers.get('authorization')![0]!;
        const m = /^(\S+) (Credential=[^,]+), (SignedHeaders=[^,]+), (Signature=\S+)$/.exec(auth)!;
        const parts = [m[2]!, m[3]!, m[4]!];
        const reordered = `${m[1]} ${order.map((i) => parts[i]!).join(sep)}`;
        assert.deepEqual(parseAuth(withHeaderValues(b.req, 'authorization', [reordered])), parseAuth(b.req));
      }),
      { numRuns: RUNS },
    );
  });

  it('a memo of parsed Authorization prefixes changes no result: hits, misses and other clients alike', () => {
    const memo = new AuthPrefixMemo(2);
    fc.assert(
      fc.property(fc.array(scenarioArb, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), HEX_SIGNATURE, (scenarios, picks, otherSignature) => {
        const built = scenarios.map((s) => build({ ...s, presigned: false }).req);
        for (const i of picks) {
          const req = built[i % built.length]!;
          assert.deepEqual(parseAuth(req, memo), parseAuth(req));
          // The same prefix with another signature: the memo must hand back the new signature.
          const auth = req.headers.first('authorization')!;
          const resigned = withHeaderValues(req, 'authorization', [auth.slice(0, -64) + otherSignature]);
          assert.deepEqual(parseAuth(resigned, memo), parseAuth(resigned));
          // The same key and a prefix of the same length that differs in one digit of the date.
          const credentialDate = /Credential=[^/]+\/(\d{8})/.exec(auth)!;
          const at = credentialDate.index + credentialDate[0].length - 1;
          const redated = withHeaderValues(req, 'authorization', [auth.slice(0, at) + (auth[at] === '1' ? '2' : '1') + auth.slice(at + 1)]);
          assert.deepEqual(parseAuth(redated, memo), parseAuth(redated));
        }
      }),
      { numRuns: RUNS },
    );
  });
});

describe('building blocks', () => {
  it('canonicalHeaderValue: no white space at the ends, no runs of it, no tab or line break; applying it twice changes nothing', () => {
    const unit = fc.constantFrom(' ', '\t', '\n', '\r', '\v', '\f', '\u00a0', '\u2003', '\ufeff', 'a', 'Z', '0', ';', '=', '\u00e9', '\u0001', '\u007f');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 64 }), (v) => {
        const c = canonicalHeaderValue(v);
        assert.doesNotMatch(c, /^\s|\s$|\s\s|[\t\r\n]/);
        assert.equal(canonicalHeaderValue(c), c);
        assert.equal(c.replace(/\s/g, ''), v.replace(/\s/g, ''), 'only white space changes');
      }),
      { numRuns: RUNS * 4 },
    );
  });

  it('HeaderMap.fromRaw groups repeated fields in order, whatever the case of their names', () => {
    const name = fc.constantFrom('Host', 'host', 'X-Amz-Date', 'x-amz-date', 'Via', 'VIA', 'a');
    fc.assert(
      fc.property(fc.array(fc.tuple(name, fc.string({ maxLength: 8 })), { maxLength: 10 }), (pairs) => {
        const expected = new Map<string, string[]>();
        for (const [n, v] of pairs) expected.set(n.toLowerCase(), [...(expected.get(n.toLowerCase()) ?? []), v]);
        const map = HeaderMap.fromRaw(pairs.flat());
        assert.deepEqual(new Map(map), expected);
        for (const [n, values] of expected) {
          assert.equal(map.count(n), values.length);
          assert.equal(map.first(n), values[0]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('uriEncode: decoding our encoding gives back the UTF-8 bytes, and only unreserved bytes stay literal', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.boolean(), (s, keepSlash) => {
        const e = uriEncode(s, keepSlash);
        assert.deepEqual(refPercentDecode(e), Buffer.from(s, 'utf8'));
        assert.deepEqual(percentDecode(e), Buffer.from(s, 'utf8'));
        assert.equal(decodeURIComponent(e), s);
        assert.match(e, keepSlash ? /^(?:[A-Za-z0-9\-._~/]|%[0-9A-F]{2})*$/ : /^(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*$/);
        // Encoding the canonical form again changes nothing (a `%` is always encoded).
        assert.equal(canonicalComponent(e), uriEncode(s));
      }),
      { numRuns: RUNS },
    );
  });

  it('canonicalComponent is idempotent and depends only on the decoded bytes', () => {
    const rawChar = fc.oneof(printableChar, fc.constantFrom('%', '%2', '%2f', '%2F', '%zz', '%E2%82%AC', 'é', '€'));
    fc.assert(
      fc.property(fc.string({ unit: rawChar, maxLength: 20 }), (raw) => {
        const c = canonicalComponent(raw);
        assert.equal(canonicalComponent(c), c);
        assert.equal(c, encodeBytesRef(refPercentDecode(raw)));
      }),
      { numRuns: RUNS },
    );
  });

  it('canonicalQueryFromRaw does not depend on the order of the parameters', () => {
    const rawPiece = fc.string({ unit: fc.oneof(printableChar.filter((c) => c !== '&' && c !== '='), fc.constantFrom('%41', '%2f', '%2F', '%', '%E2%82%AC', '€', '+')), maxLength: 8 });
    const part = fc.oneof(
      fc.tuple(rawPiece, rawPiece).map(([k, v]) => `${k}=${v}`),
      rawPiece, // a flag without `=`
      fc.tuple(rawPiece, rawPiece, rawPiece).map(([k, v, w]) => `${k}=${v}=${w}`), // `=` inside a value
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (parts, keys, exclude) => {
        const shuffled = parts.map((p, i) => [keys[i] ?? i, i, p] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map(([, , p]) => p);
        const ex = exclude ? new Set(['X-Amz-Signature']) : undefined;
        assert.equal(canonicalQueryFromRaw(shuffled.join('&'), ex), canonicalQueryFromRaw(parts.join('&'), ex));
        // And the same as the reference multiset says: equal canonical strings for equal multisets.
        const ref = refQuery(parts.join('&'), false);
        assert.equal(refQuery(shuffled.join('&'), false), ref);
      }),
      { numRuns: RUNS },
    );
  });

  it('canonicalQueryFromParams (signer side) equals canonicalQueryFromRaw of the encoded query (verifier side)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 })), { maxLength: 8 }), (params) => {
        const raw = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
        assert.equal(canonicalQueryFromParams(params), canonicalQueryFromRaw(raw));
      }),
      { numRuns: RUNS },
    );
  });

  it('normalizePath is idempotent, leaves no dot or empty segments, and matches the reference', () => {
    const seg = fc.oneof(fc.constantFrom('', '.', '..', '...', '.a', 'a.', '%2E', '%2F'), fc.string({ unit: 'grapheme-ascii', maxLength: 4 }).filter((x) => !x.includes('/')));
    fc.assert(
      fc.property(fc.array(seg, { maxLength: 8 }), fc.boolean(), (segs, leadingSlash) => {
        const p = (leadingSlash ? '/' : '') + segs.join('/');
        const n = normalizePath(p);
        assert.equal(normalizePath(n), n, `not idempotent: ${JSON.stringify(p)} -> ${JSON.stringify(n)} -> ${JSON.stringify(normalizePath(n))}`);
        if (n !== p) {
          assert.ok(n.startsWith('/'));
          const out = n.slice(1).split('/');
          const inner = out.slice(0, -1);
          assert.ok(!inner.some((x) => x === '' || x === '.' || x === '..') && out.at(-1) !== '.' && out.at(-1) !== '..', `left a dot or empty segment: ${n}`);
        }
        if (leadingSlash) assert.equal(n, refPath(p, false));
      }),
      { numRuns: RUNS },
    );
  });

  it("a derived key's HMAC equals node:crypto's HMAC-SHA256 for any data", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 200 }), (secret, data) => {
        const key = deriveSigningKey(secret, '20240909', 'us-east-1', 'sts');
        const mac = (k: string | Buffer, d: string) => createHmac('sha256', k).update(d, 'utf8').digest();
        const expectedKey = mac(mac(mac(mac('AWS4' + secret, '20240909'), 'us-east-1'), 'sts'), 'aws4_request');
        assert.deepEqual(key.bytes, expectedKey);
        assert.equal(key.sign(data), createHmac('sha256', expectedKey).update(data, 'utf8').digest('hex'));
      }),
      { numRuns: RUNS },
    );
  });
});

/** SigV4 encoding of bytes, from the spec: unreserved bytes literal, every other byte %XX upper case. */
function encodeBytesRef(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
