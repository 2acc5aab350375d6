/**
 * Negative tests for every error path of `parseAuth` and `Verifier`: a request is signed with
 * our `Signer` (or, where the signer cannot produce the shape, by hand from the spec), then
 * broken one way at a time. Each case asserts the exact `PortcullisError.code` and that the
 * message never echoes the secret key, the signature or the session token. Positive controls
 * sit next to the negative cases so that a failure really comes from the one change made.
 */
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fixedClock } from '../../src/core/clock.js';
import { type ErrorCode, PortcullisError } from '../../src/core/errors.js';
import {
  ALGORITHM_V4, ALGORITHM_V4A, type CredentialLookup, type CredentialLookupResult, type HttpRequest, Lru, parseAuth,
  requestFromRecord, type RequestToSign, type SignOptions, Signer, SigningKeyCache, Verifier, type VerifierOptions,
} from '../../src/sigv4/index.js';

// ---------------------------------------------------------------------------------------------
// Fixture

const T0 = Date.UTC(2024, 8, 9, 12, 0, 0); // 20240909T120000Z
const MIN = 60_000;
const AKID = 'AKIDEXAMPLE000000001';
const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const OTHER_SECRET = 'another/secret+KEY/for/the/same/access/key';
// Characters that need percent-encoding in a query, so "passed exactly" means decoded exactly.
const TOKEN = 'IQoJb3JpZ2luX2Vj/session+token=with%percent and space';
const REGION = 'us-east-1';
const SERVICE = 'sts';
const HOST = 'sts.example.com';

interface Principal {
  readonly name: string;
}
const PRINCIPAL: Principal = { name: 'alice' };

type Answer = (id: string, token: string | undefined) => CredentialLookupResult<Principal> | Promise<CredentialLookupResult<Principal>>;

/** Knows AKID (with SECRET) and, when `token` is set, only with that session token. */
function defaultAnswer(token: string | undefined): Answer {
  return (id, t) => {
    if (id !== AKID) return { status: 'unknown' };
    if (t !== token) return { status: 'invalidToken' };
    return { status: 'found', secretAccessKey: SECRET, principal: PRINCIPAL };
  };
}

class Fixture {
  readonly clock = fixedClock(T0);
  readonly signer = new Signer({ clock: this.clock });
  readonly calls: Array<[string, string | undefined]> = [];
  answer: Answer;
  readonly verifier: Verifier<Principal>;
  readonly token: string | undefined;

  constructor(opts: { token?: string; verifier?: Partial<Omit<VerifierOptions<Principal>, 'lookup' | 'clock'>> } = {}) {
    this.token = opts.token;
    this.answer = defaultAnswer(opts.token);
    const lookup: CredentialLookup<Principal> = (id, t) => {
      this.calls.push([id, t]);
      return this.answer(id, t);
    };
    this.verifier = new Verifier<Principal>({ region: REGION, ...opts.verifier, lookup, clock: this.clock });
  }

  signOpts(extra: Partial<SignOptions> = {}): SignOptions {
    return {
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET, ...(this.token !== undefined ? { sessionToken: this.token } : {}) },
      region: REGION,
      service: SERVICE,
      ...extra,
    };
  }

  /** Header-signed at the current clock. */
  sign(req: Partial<RequestToSign> = {}, extra: Partial<SignOptions> = {}): Signed {
    const toSign = baseRequest(req);
    const s = this.signer.sign(toSign, this.signOpts(extra));
    return { req: requestFromRecord(toSign.method, target(toSign.path, toSign.query ?? ''), s.headers), signature: s.signature, body: toSign.body };
  }

  /** Presigned at the current clock. */
  presign(req: Partial<RequestToSign> = {}, extra: Partial<SignOptions> & { expiresIn?: number } = {}): Signed {
    const toSign = baseRequest(req);
    const { expiresIn = 3600, ...rest } = extra;
    const p = this.signer.presign(toSign, { ...this.signOpts(rest), expiresIn });
    return { req: requestFromRecord(toSign.method, target(toSign.path, p.query), toSign.headers), signature: p.signature, body: toSign.body };
  }

  verify(req: HttpRequest, bodySha256?: string) {
    return this.verifier.verify(req, bodySha256 === undefined ? {} : { bodySha256 });
  }
}

interface Signed {
  readonly req: HttpRequest;
  readonly signature: string;
  readonly body: string | Uint8Array | undefined;
}

function baseRequest(req: Partial<RequestToSign>): RequestToSign {
  return {
    method: req.method ?? 'GET',
    path: req.path ?? '/',
    query: req.query ?? 'Action=GetCallerIdentity&Version=2011-06-15',
    headers: req.headers ?? { host: HOST },
    ...(req.body !== undefined ? { body: req.body } : {}),
  };
}

function target(path: string, query: string): string {
  return query === '' ? path : `${path}?${query}`;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Runs `fn` and checks it fails with exactly `code`, leaking none of `secrets`. */
async function expectCode(fn: () => unknown, code: ErrorCode, secrets: ReadonlyArray<string | undefined>): Promise<PortcullisError> {
  let caught: unknown;
  let passed = false;
  try {
    await fn();
    passed = true;
  } catch (e) {
    caught = e;
  }
  assert.ok(!passed, `expected ${code}, but it passed`);
  assert.ok(caught instanceof PortcullisError, `expected PortcullisError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, `wrong code; message: ${caught.message}`);
  for (const s of secrets) {
    if (s !== undefined && s !== '') assert.ok(!caught.message.includes(s), `the message leaks \`${s}\`: ${caught.message}`);
  }
  return caught;
}

/** Secrets of a signed request: the secret key, the signature and the session token. */
function secretsOf(s: Signed, token: string | undefined = undefined): Array<string | undefined> {
  return [SECRET, OTHER_SECRET, s.signature, token];
}

// --- request surgery (every helper returns a new request; the original is never touched) ---

function withHeaders(req: HttpRequest, changes: Record<string, string | string[] | undefined>): HttpRequest {
  let headers = req.headers;
  for (const [name, value] of Object.entries(changes)) headers = headers.with(name, value);
  return { ...req, headers };
}

function withQuery(req: HttpRequest, query: string): HttpRequest {
  return { ...req, query };
}

interface AuthParts {
  algorithm: string;
  credential: string;
  signedHeaders: string;
  signature: string;
}

function authParts(req: HttpRequest): AuthParts {
  const m = /^(\S+) Credential=([^,]+), SignedHeaders=([^,]+), Signature=(\S+)$/.exec(req.headers.get('authorization')![0]!);
  assert.ok(m, 'signer wrote an Authorization header of an unexpected shape');
  return { algorithm: m[1]!, credential: m[2]!, signedHeaders: m[3]!, signature: m[4]! };
}

function withAuth(req: HttpRequest, auth: string): HttpRequest {
  return withHeaders(req, { authorization: auth });
}

function withAuthParts(req: HttpRequest, change: Partial<AuthParts>): HttpRequest {
  const p = { ...authParts(req), ...change };
  return withAuth(req, `${p.algorithm} Credential=${p.credential}, SignedHeaders=${p.signedHeaders}, Signature=${p.signature}`);
}

function getParam(query: string, key: string): string | undefined {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if ((eq < 0 ? part : part.slice(0, eq)) === key) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return undefined;
}

/** Replaces (or with `undefined` removes) the raw value of every `key` parameter. */
function setParam(query: string, key: string, rawValue: string | undefined): string {
  return query
    .split('&')
    .flatMap((part) => {
      const eq = part.indexOf('=');
      if ((eq < 0 ? part : part.slice(0, eq)) !== key) return [part];
      return rawValue === undefined ? [] : [`${key}=${rawValue}`];
    })
    .join('&');
}

function withParam(req: HttpRequest, key: string, rawValue: string | undefined): HttpRequest {
  return withQuery(req, setParam(req.query, key, rawValue));
}

// --- signing by hand, from the spec, for shapes our Signer never produces ---

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function handSignature(secret: string, amzDate: string, region: string, service: string, canonical: string): string {
  const date = amzDate.slice(0, 8);
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
  const sts = `${ALGORITHM_V4}\n${amzDate}\n${date}/${region}/${service}/aws4_request\n${sha256(canonical)}`;
  return createHmac('sha256', key).update(sts, 'utf8').digest('hex');
}

const EMPTY_SHA256 = sha256('');

// ---------------------------------------------------------------------------------------------

describe('positive controls', () => {
  it('a header-signed and a presigned request verify, with and without a session token', async () => {
    for (const token of [undefined, TOKEN]) {
      const f = new Fixture(token === undefined ? {} : { token });
      const h = await f.verify(f.sign().req);
      assert.equal(h.principal, PRINCIPAL);
      assert.equal(h.presigned, false);
      assert.equal(h.sessionToken, token);
      const q = await f.verify(f.presign().req);
      assert.equal(q.principal, PRINCIPAL);
      assert.equal(q.presigned, true);
      assert.equal(q.expiresAtMs, T0 + 3600_000);
    }
  });

  it('our hand signing agrees with Signer (so the hand-signed cases below test the verifier, not the helper)', () => {
    const f = new Fixture();
    const s = f.sign({ query: '' });
    const canonical = `GET\n/\n\nhost:${HOST}\nx-amz-date:20240909T120000Z\n\nhost;x-amz-date\n${EMPTY_SHA256}`;
    assert.equal(handSignature(SECRET, '20240909T120000Z', REGION, SERVICE, canonical), s.signature);
  });
});

describe('no authentication', () => {
  it('a request without Authorization and without presigned parameters: MissingAuthenticationToken', async () => {
    const f = new Fixture();
    const req = requestFromRecord('GET', '/?Action=GetCallerIdentity', { host: HOST });
    await expectCode(() => f.verify(req), 'MissingAuthenticationToken', [SECRET]);
    // X-Amz-Date or X-Amz-Expires alone do not make a presigned request.
    const dateOnly = requestFromRecord('GET', '/?X-Amz-Date=20240909T120000Z&X-Amz-Expires=60', { host: HOST });
    await expectCode(() => f.verify(dateOnly), 'MissingAuthenticationToken', [SECRET]);
    assert.equal(f.calls.length, 0);
  });
});

describe('Authorization header syntax: IncompleteSignature', () => {
  const f = new Fixture({ token: TOKEN });
  const s = f.sign();
  const p = authParts(s.req);
  const secrets = secretsOf(s, TOKEN);
  const cred = `Credential=${p.credential}`;
  const sh = `SignedHeaders=${p.signedHeaders}`;
  const sig = `Signature=${p.signature}`;

  const cases: Array<[string, string]> = [
    ['missing Credential', `${ALGORITHM_V4} ${sh}, ${sig}`],
    ['missing SignedHeaders', `${ALGORITHM_V4} ${cred}, ${sig}`],
    ['missing Signature', `${ALGORITHM_V4} ${cred}, ${sh}`],
    ['empty Signature', `${ALGORITHM_V4} ${cred}, ${sh}, Signature=`],
    ['empty Credential', `${ALGORITHM_V4} Credential=, ${sh}, ${sig}`],
    ['algorithm only', ALGORITHM_V4],
    ['components not comma-separated', `${ALGORITHM_V4} ${cred} ${sh} ${sig}`],
    ['a component without `=`', `${ALGORITHM_V4} ${cred}, ${sh}, Signature ${p.signature}`],
    ['a component with an empty name', `${ALGORITHM_V4} ${cred}, ${sh}, =${p.signature}`],
    ['a stray component', `${ALGORITHM_V4} ${cred}, garbage, ${sh}, ${sig}`],
    ['duplicate Signature', `${ALGORITHM_V4} ${cred}, ${sh}, ${sig}, ${sig}`],
    ['duplicate Credential', `${ALGORITHM_V4} ${cred}, ${cred}, ${sh}, ${sig}`],
    ['duplicate SignedHeaders', `${ALGORITHM_V4} ${cred}, ${sh}, ${sh}, ${sig}`],
    ['unsupported algorithm AWS4-HMAC-SHA512', `AWS4-HMAC-SHA512 ${cred}, ${sh}, ${sig}`],
    ['algorithm in lower case', `aws4-hmac-sha256 ${cred}, ${sh}, ${sig}`],
    ['SigV2-style header', `AWS ${AKID}:${p.signature}`],
    ['SignedHeaders in upper case', `${ALGORITHM_V4} ${cred}, SignedHeaders=Host;X-Amz-Date;X-Amz-Security-Token, ${sig}`],
    ['SignedHeaders with an empty name', `${ALGORITHM_V4} ${cred}, SignedHeaders=host;;x-amz-date;x-amz-security-token, ${sig}`],
    ['SignedHeaders with a trailing `;`', `${ALGORITHM_V4} ${cred}, SignedHeaders=host;x-amz-date;x-amz-security-token;, ${sig}`],
    ['host not signed', `${ALGORITHM_V4} ${cred}, SignedHeaders=x-amz-date;x-amz-security-token, ${sig}`],
    ['x-amz-date not signed', `${ALGORITHM_V4} ${cred}, SignedHeaders=host;x-amz-security-token, ${sig}`],
  ];
  for (const [name, header] of cases) {
    it(name, async () => {
      await expectCode(() => f.verify(withAuth(s.req, header)), 'IncompleteSignature', secrets);
    });
  }

  it('components in another order and without spaces are fine (control for the cases above)', async () => {
    await f.verify(withAuth(s.req, `${ALGORITHM_V4} ${sh},${sig},${cred}`));
    await f.verify(withAuth(s.req, `${ALGORITHM_V4} ${cred},${sh},${sig}`));
  });

  it('the Authorization header sent twice', async () => {
    const auth = s.req.headers.get('authorization')![0]!;
    await expectCode(() => f.verify(withHeaders(s.req, { authorization: [auth, auth] })), 'IncompleteSignature', secrets);
  });

  for (const h of ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256']) {
    it(`the ${h} header sent twice`, async () => {
      const v = s.req.headers.get(h)?.[0] ?? EMPTY_SHA256;
      await expectCode(() => f.verify(withHeaders(s.req, { [h]: [v, v] })), 'IncompleteSignature', secrets);
    });
  }
});

describe('credential scope syntax: AuthorizationHeaderMalformed / AuthorizationQueryParametersError', () => {
  const f = new Fixture();
  const s = f.sign();
  const q = f.presign();
  const credentials: Array<[string, string]> = [
    ['four parts (no region)', `${AKID}/20240909/${SERVICE}/aws4_request`],
    ['six parts', `${AKID}/20240909/${REGION}/${SERVICE}/extra/aws4_request`],
    ['an empty access key id', `/20240909/${REGION}/${SERVICE}/aws4_request`],
    ['an empty region', `${AKID}/20240909//${SERVICE}/aws4_request`],
    ['a seven-digit date', `${AKID}/2024090/${REGION}/${SERVICE}/aws4_request`],
    ['a nine-digit date', `${AKID}/202409091/${REGION}/${SERVICE}/aws4_request`],
    ['a letter in the date', `${AKID}/2024O909/${REGION}/${SERVICE}/aws4_request`],
    ['a dashed date', `${AKID}/2024-09-09/${REGION}/${SERVICE}/aws4_request`],
    ['a bad terminator', `${AKID}/20240909/${REGION}/${SERVICE}/aws4_requesT`],
    ['another terminator', `${AKID}/20240909/${REGION}/${SERVICE}/aws5_request`],
  ];
  for (const [name, credential] of credentials) {
    it(`header: ${name}`, async () => {
      await expectCode(() => f.verify(withAuthParts(s.req, { credential })), 'AuthorizationHeaderMalformed', secretsOf(s));
    });
    it(`query: ${name}`, async () => {
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Credential', encodeURIComponent(credential))), 'AuthorizationQueryParametersError', secretsOf(q));
    });
  }

  it('a SigV4a credential shaped like SigV4 (with a region)', async () => {
    const a = f.sign({}, { algorithm: ALGORITHM_V4A });
    const credential = `${AKID}/20240909/${REGION}/${SERVICE}/aws4_request`;
    await expectCode(() => f.verify(withAuthParts(a.req, { credential })), 'AuthorizationHeaderMalformed', secretsOf(a));
  });
});

describe('request date', () => {
  const f = new Fixture();

  const malformed = [
    '2024-09-09T12:00:00Z', '20240909T120000', '20240909t120000z', '20240909T1200Z', '20240909T120000ZZ', '',
    ' 20240909T120000Z', '+2024909T120000Z',
  ];
  const impossible = [
    '20241309T120000Z', // month 13
    '20240009T120000Z', // month 0
    '20240932T120000Z', // day 32
    '20240900T120000Z', // day 0
    '20240230T120000Z', // 30 February
    '20230229T120000Z', // 29 February of a common year
    '20240431T120000Z', // 31 April
    '20240909T240000Z', // hour 24
    '20240909T126000Z', // minute 60
    '20240909T120060Z', // second 60
    '19691231T235959Z', // before the epoch
  ];
  for (const d of [...malformed, ...impossible]) {
    it(`X-Amz-Date \`${d}\` (header): IncompleteSignature`, async () => {
      const s = f.sign();
      await expectCode(() => f.verify(withHeaders(s.req, { 'x-amz-date': d })), 'IncompleteSignature', secretsOf(s));
    });
    it(`X-Amz-Date \`${d}\` (query): AuthorizationQueryParametersError`, async () => {
      const q = f.presign();
      // An empty value counts as a missing parameter, which is the same error.
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Date', encodeURIComponent(d))), 'AuthorizationQueryParametersError', secretsOf(q));
    });
  }

  it('a real leap day is accepted (control for the impossible dates)', async () => {
    const g = new Fixture();
    g.clock.set(Date.UTC(2024, 1, 29, 23, 59, 59));
    const s = g.sign();
    assert.equal(parseAuth(s.req).timeMs, Date.UTC(2024, 1, 29, 23, 59, 59));
    await g.verify(s.req);
  });

  it('no X-Amz-Date and no Date header: IncompleteSignature', async () => {
    const s = f.sign();
    await expectCode(() => f.verify(withHeaders(s.req, { 'x-amz-date': undefined })), 'IncompleteSignature', secretsOf(s));
  });

  describe('the HTTP Date header when X-Amz-Date is absent', () => {
    const httpDate = 'Mon, 09 Sep 2024 12:00:00 GMT'; // = T0
    const amzDate = '20240909T120000Z';
    function handSigned(signedHeaders: string, headers: Record<string, string>): { req: HttpRequest; signature: string } {
      const names = signedHeaders.split(';');
      const canonicalHeaders = names.map((n) => `${n}:${headers[n]}\n`).join('');
      const canonical = `GET\n/\n\n${canonicalHeaders}\n${signedHeaders}\n${EMPTY_SHA256}`;
      const signature = handSignature(SECRET, amzDate, REGION, SERVICE, canonical);
      const auth = `${ALGORITHM_V4} Credential=${AKID}/20240909/${REGION}/${SERVICE}/aws4_request, SignedHeaders=${signedHeaders}, Signature=${signature}`;
      return { req: requestFromRecord('GET', '/', { ...headers, authorization: auth }), signature };
    }

    it('is used when it is signed', async () => {
      const g = new Fixture();
      const { req } = handSigned('date;host', { date: httpDate, host: HOST });
      const v = await g.verify(req);
      assert.equal(v.signedAtMs, T0);
      // The time really comes from Date: 16 minutes later the same request is too old.
      g.clock.set(T0 + 16 * MIN);
      await expectCode(() => g.verify(req), 'RequestTimeTooSkewed', [SECRET]);
    });

    it('is refused when it is not signed: IncompleteSignature', async () => {
      const { req, signature } = handSigned('host', { date: httpDate, host: HOST });
      await expectCode(() => f.verify(req), 'IncompleteSignature', [SECRET, signature]);
    });

    it('is refused when it is not an HTTP date: IncompleteSignature', async () => {
      for (const bad of ['yesterday', '2024-09-09T12:00:00Z', '20240909T120000Z']) {
        const { req, signature } = handSigned('date;host', { date: bad, host: HOST });
        await expectCode(() => f.verify(req), 'IncompleteSignature', [SECRET, signature]);
      }
    });

    it('an X-Amz-Date that is present but not signed is refused even when Date is signed', async () => {
      const { req, signature } = handSigned('date;host', { date: httpDate, host: HOST });
      const withAmz = withHeaders(req, { 'x-amz-date': amzDate });
      await expectCode(() => f.verify(withAmz), 'IncompleteSignature', [SECRET, signature]);
    });

    it('the Date header sent twice: IncompleteSignature', async () => {
      const { req, signature } = handSigned('date;host', { date: httpDate, host: HOST });
      await expectCode(() => f.verify(withHeaders(req, { date: [httpDate, httpDate] })), 'IncompleteSignature', [SECRET, signature]);
    });
  });
});

describe('scope against the request', () => {
  it('scope date differs from the X-Amz-Date date (header): AuthorizationHeaderMalformed', async () => {
    const f = new Fixture();
    f.clock.set(Date.UTC(2024, 8, 9, 23, 59, 59));
    const s = f.sign();
    // Two seconds later, the next day: well inside the clock window, so only the scope is wrong.
    await expectCode(() => f.verify(withHeaders(s.req, { 'x-amz-date': '20240910T000001Z' })), 'AuthorizationHeaderMalformed', secretsOf(s));
    assert.equal(f.calls.length, 0, 'no credential lookup for a request that fails the scope check');
  });

  it('scope date differs from the X-Amz-Date date (query): AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    f.clock.set(Date.UTC(2024, 8, 9, 23, 59, 59));
    const q = f.presign();
    await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Date', '20240910T000001Z')), 'AuthorizationQueryParametersError', secretsOf(q));
  });

  it('a region the verifier does not accept: header AuthorizationHeaderMalformed, query AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    const s = f.sign({}, { region: 'eu-west-1' });
    await expectCode(() => f.verify(s.req), 'AuthorizationHeaderMalformed', secretsOf(s));
    const q = f.presign({}, { region: 'eu-west-1' });
    await expectCode(() => f.verify(q.req), 'AuthorizationQueryParametersError', secretsOf(q));
    assert.equal(f.calls.length, 0);
  });

  it('acceptRegion widens what is accepted (control)', async () => {
    const f = new Fixture({ verifier: { acceptRegion: (r) => r === REGION || r === 'eu-west-1' } });
    const v = await f.verify(f.sign({}, { region: 'eu-west-1' }).req);
    assert.equal(v.region, 'eu-west-1');
    await expectCode(() => f.verify(f.sign({}, { region: 'ap-south-1' }).req), 'AuthorizationHeaderMalformed', [SECRET]);
  });
});

describe('clock skew (header auth)', () => {
  const cases: Array<[string, number, boolean]> = [
    ['15 min + 1 s after signing', 15 * MIN + 1000, false],
    ['15 min + 1 ms after signing', 15 * MIN + 1, false],
    ['exactly 15 min after signing', 15 * MIN, true],
    ['14 min 59 s after signing', 15 * MIN - 1000, true],
    ['15 min + 1 s before signing (request from the future)', -(15 * MIN + 1000), false],
    ['exactly 15 min before signing', -15 * MIN, true],
  ];
  for (const [name, offset, passes] of cases) {
    it(`${name}: ${passes ? 'passes' : 'RequestTimeTooSkewed'}`, async () => {
      const f = new Fixture();
      const s = f.sign();
      f.clock.set(T0 + offset);
      if (passes) await f.verify(s.req);
      else await expectCode(() => f.verify(s.req), 'RequestTimeTooSkewed', secretsOf(s));
    });
  }

  it('maxSkewMs narrows the window', async () => {
    const f = new Fixture({ verifier: { maxSkewMs: 60_000 } });
    const s = f.sign();
    f.clock.set(T0 + 60_000);
    await f.verify(s.req);
    f.clock.set(T0 + 61_000);
    await expectCode(() => f.verify(s.req), 'RequestTimeTooSkewed', secretsOf(s));
    f.clock.set(T0 - 61_000);
    await expectCode(() => f.verify(s.req), 'RequestTimeTooSkewed', secretsOf(s));
  });
});

describe('presigned URLs', () => {
  const required = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', 'X-Amz-Expires'];
  for (const key of required) {
    it(`missing ${key}: AuthorizationQueryParametersError`, async () => {
      const f = new Fixture();
      const q = f.presign();
      await expectCode(() => f.verify(withParam(q.req, key, undefined)), 'AuthorizationQueryParametersError', secretsOf(q));
    });
    it(`empty ${key}: AuthorizationQueryParametersError`, async () => {
      const f = new Fixture();
      const q = f.presign();
      await expectCode(() => f.verify(withParam(q.req, key, '')), 'AuthorizationQueryParametersError', secretsOf(q));
    });
  }

  it('without any of Algorithm, Credential and Signature it is not a presigned request at all', async () => {
    const f = new Fixture();
    const q = f.presign();
    let query = q.req.query;
    for (const k of ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature']) query = setParam(query, k, undefined);
    await expectCode(() => f.verify(withQuery(q.req, query)), 'MissingAuthenticationToken', secretsOf(q));
  });

  for (const expires of ['604801', '0', '00', 'abc', '-1', '1e3', '3600.5', '12345678', '+60', ' 60']) {
    it(`X-Amz-Expires=${expires}: AuthorizationQueryParametersError`, async () => {
      const f = new Fixture();
      const q = f.presign();
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Expires', encodeURIComponent(expires))), 'AuthorizationQueryParametersError', secretsOf(q));
    });
  }

  it('X-Amz-Expires=604800 (seven days) is allowed, and the signer refuses 604801 and 0', async () => {
    const f = new Fixture();
    const q = f.presign({}, { expiresIn: 604_800 });
    f.clock.set(T0 + 604_800_000);
    const v = await f.verify(q.req);
    assert.equal(v.expiresAtMs, T0 + 604_800_000);
    assert.throws(() => f.presign({}, { expiresIn: 604_801 }), RangeError);
    assert.throws(() => f.presign({}, { expiresIn: 0 }), RangeError);
  });

  it('expired one millisecond after expiry: RequestExpired; exactly at expiry: passes', async () => {
    const f = new Fixture();
    const q = f.presign({}, { expiresIn: 60 });
    f.clock.set(T0 + 60_000);
    await f.verify(q.req);
    f.clock.set(T0 + 60_001);
    await expectCode(() => f.verify(q.req), 'RequestExpired', secretsOf(q));
    f.clock.set(T0 + 86_400_000);
    await expectCode(() => f.verify(q.req), 'RequestExpired', secretsOf(q));
  });

  it('not yet valid: more than 15 min in the future RequestTimeTooSkewed, exactly 15 min passes', async () => {
    const f = new Fixture();
    const q = f.presign({}, { expiresIn: 60 });
    f.clock.set(T0 - 15 * MIN);
    await f.verify(q.req);
    f.clock.set(T0 - 15 * MIN - 1000);
    await expectCode(() => f.verify(q.req), 'RequestTimeTooSkewed', secretsOf(q));
  });

  it('both an Authorization header and presigned parameters: AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    const q = f.presign();
    const s = f.sign();
    const both = withHeaders(q.req, { authorization: s.req.headers.get('authorization')!, 'x-amz-date': s.req.headers.get('x-amz-date')! });
    await expectCode(() => f.verify(both), 'AuthorizationQueryParametersError', [SECRET, q.signature, s.signature]);
    // Any one of the three presigned markers is enough to count as query auth.
    for (const [k, v] of [['X-Amz-Signature', q.signature], ['X-Amz-Credential', 'x'], ['X-Amz-Algorithm', ALGORITHM_V4]] as const) {
      const mixed = withQuery(s.req, `${s.req.query}&${k}=${v}`);
      await expectCode(() => f.verify(mixed), 'AuthorizationQueryParametersError', [SECRET, s.signature]);
    }
  });

  for (const key of ['X-Amz-Signature', 'X-Amz-Date', 'X-Amz-Credential', 'X-Amz-Security-Token']) {
    it(`${key} twice (same value): AuthorizationQueryParametersError`, async () => {
      const f = new Fixture({ token: TOKEN });
      const q = f.presign();
      const value = getParam(q.req.query, key)!;
      await expectCode(() => f.verify(withQuery(q.req, `${q.req.query}&${key}=${value}`)), 'AuthorizationQueryParametersError', secretsOf(q, TOKEN));
    });
  }

  it('unsupported X-Amz-Algorithm: AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    const q = f.presign();
    for (const alg of ['AWS4-HMAC-SHA1', 'aws4-hmac-sha256', 'AWS4-HMAC-SHA256 ']) {
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Algorithm', encodeURIComponent(alg))), 'AuthorizationQueryParametersError', secretsOf(q));
    }
  });

  it('X-Amz-SignedHeaders malformed or without host: AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    const q = f.presign({ headers: { host: HOST, 'x-extra': '1' } });
    for (const sh of ['Host', 'host;;x-extra', 'host;', 'host x-extra', 'x-extra']) {
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-SignedHeaders', encodeURIComponent(sh))), 'AuthorizationQueryParametersError', secretsOf(q));
    }
  });
});

describe('credential lookup', () => {
  const statuses: Array<[CredentialLookupResult<Principal>['status'], ErrorCode]> = [
    ['unknown', 'InvalidClientTokenId'],
    ['inactive', 'InvalidClientTokenId'],
    ['invalidToken', 'InvalidToken'],
    ['expired', 'ExpiredToken'],
  ];
  for (const [status, code] of statuses) {
    for (const mode of ['header', 'query'] as const) {
      for (const asyncLookup of [false, true]) {
        it(`${status} (${mode}, ${asyncLookup ? 'async' : 'sync'} lookup): ${code}`, async () => {
          const f = new Fixture({ token: TOKEN });
          const result = { status } as CredentialLookupResult<Principal>;
          f.answer = asyncLookup ? async () => result : () => result;
          const s = mode === 'header' ? f.sign() : f.presign();
          await expectCode(() => f.verify(s.req), code, secretsOf(s, TOKEN));
          assert.deepEqual(f.calls, [[AKID, TOKEN]]);
        });
      }
    }
  }

  it('unknown and inactive keys get the same answer (nothing to learn about which keys exist)', async () => {
    const messages: string[] = [];
    for (const status of ['unknown', 'inactive'] as const) {
      const f = new Fixture();
      f.answer = () => ({ status });
      const e = await expectCode(() => f.verify(f.sign().req), 'InvalidClientTokenId', [SECRET]);
      messages.push(e.message);
    }
    assert.equal(messages[0], messages[1]);
  });

  for (const mode of ['header', 'query'] as const) {
    it(`the session token reaches the lookup exactly (${mode})`, async () => {
      for (const token of [TOKEN, 'plain', 'a/b+c==', 'trailing%2F', '100% sure']) {
        const f = new Fixture({ token });
        const s = mode === 'header' ? f.sign() : f.presign();
        const v = await f.verify(s.req);
        assert.deepEqual(f.calls, [[AKID, token]]);
        assert.equal(v.sessionToken, token);
      }
    });
    it(`no session token reaches the lookup as undefined (${mode})`, async () => {
      const f = new Fixture();
      await f.verify((mode === 'header' ? f.sign() : f.presign()).req);
      assert.deepEqual(f.calls, [[AKID, undefined]]);
    });
    it(`a session token added after signing still reaches the lookup (${mode})`, async () => {
      const f = new Fixture({ token: TOKEN });
      const s = mode === 'header' ? f.sign({}, { tokenAfterSigning: true }) : f.presign({}, { tokenAfterSigning: true });
      await f.verify(s.req);
      assert.deepEqual(f.calls, [[AKID, TOKEN]]);
    });
  }

  it('the wrong secret: SignatureDoesNotMatch (header and query)', async () => {
    const f = new Fixture();
    f.answer = () => ({ status: 'found', secretAccessKey: OTHER_SECRET, principal: PRINCIPAL });
    for (const s of [f.sign(), f.presign()]) await expectCode(() => f.verify(s.req), 'SignatureDoesNotMatch', secretsOf(s));
  });

  it('a lookup that throws makes verification fail (fail closed)', async () => {
    const f = new Fixture();
    const boom = new Error('store down');
    f.answer = () => {
      throw boom;
    };
    await assert.rejects(() => f.verify(f.sign().req), (e) => e === boom);
    f.answer = () => Promise.reject(boom);
    await assert.rejects(() => f.verify(f.sign().req), (e) => e === boom);
  });

  // The type allows only the five statuses, but lookups are often written in JS or fed from a
  // store; whatever comes back that is not `found` must never authenticate anybody.
  for (const algorithm of [ALGORITHM_V4, ALGORITHM_V4A] as const) {
    it(`${algorithm}: an unrecognised lookup status never authenticates, not even a request signed with the secret "undefined"`, async () => {
      const f = new Fixture();
      f.answer = () => ({ status: 'disabled' }) as unknown as CredentialLookupResult<Principal>;
      // Refused with a PortcullisError like every other failure (not with a bare `undefined`).
      const isPortcullis = (e: unknown) => e instanceof PortcullisError || assert.fail(`rejected with ${String(e)}, not a PortcullisError`);
      await assert.rejects(() => f.verify(f.sign({}, { algorithm }).req), isPortcullis, 'an honest request with status "disabled" was accepted');
      const forged = f.signer.sign(baseRequest({}), { ...f.signOpts({ algorithm }), credentials: { accessKeyId: AKID, secretAccessKey: 'undefined' } });
      const forgedReq = requestFromRecord('GET', '/?Action=GetCallerIdentity&Version=2011-06-15', forged.headers);
      await assert.rejects(() => f.verify(forgedReq), isPortcullis, 'lookup status "disabled": a request signed with the secret "undefined" was accepted');
    });
  }

  it('a lookup that answers with a non-native thenable is awaited like a promise', async () => {
    const f = new Fixture();
    const found: CredentialLookupResult<Principal> = { status: 'found', secretAccessKey: SECRET, principal: PRINCIPAL };
    // What a promise from another library or another realm looks like: then-able, not instanceof Promise.
    const thenable = { then: (resolve: (r: CredentialLookupResult<Principal>) => void) => resolve(found) };
    f.answer = () => thenable as unknown as Promise<CredentialLookupResult<Principal>>;
    let outcome: string;
    try {
      outcome = `verified as ${(await f.verify(f.sign().req)).principal.name}`;
    } catch (e) {
      outcome = `rejected with ${String(e)}`;
    }
    assert.equal(outcome, `verified as ${PRINCIPAL.name}`);
  });

  it('no lookup happens for requests that fail parsing, time or scope checks', async () => {
    const f = new Fixture();
    const s = f.sign();
    await expectCode(() => f.verify(withHeaders(s.req, { 'x-amz-date': 'nope' })), 'IncompleteSignature', secretsOf(s));
    f.clock.set(T0 + 20 * MIN);
    await expectCode(() => f.verify(s.req), 'RequestTimeTooSkewed', secretsOf(s));
    assert.equal(f.calls.length, 0);
  });
});

describe('signature value and signed headers: SignatureDoesNotMatch', () => {
  function variants(sig: string): Array<[string, string]> {
    const flipped = sig.slice(0, 10) + (sig[10] === '0' ? '1' : '0') + sig.slice(11);
    return [
      ['upper-case hex', sig.toUpperCase()],
      ['63 characters', sig.slice(0, 63)],
      ['65 characters', sig + '0'],
      ['128 characters', sig + sig],
      ['one hex digit changed', flipped],
      ['not hex', 'z'.repeat(64)],
    ];
  }

  it('header', async () => {
    const f = new Fixture();
    const s = f.sign();
    for (const [name, bad] of variants(s.signature)) {
      await expectCode(() => f.verify(withAuthParts(s.req, { signature: bad })), 'SignatureDoesNotMatch', secretsOf(s)).catch((e: unknown) => {
        throw new Error(`${name}: ${String(e)}`);
      });
    }
  });

  it('query', async () => {
    const f = new Fixture();
    const q = f.presign();
    for (const [name, bad] of variants(q.signature)) {
      await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Signature', bad)), 'SignatureDoesNotMatch', secretsOf(q)).catch((e: unknown) => {
        throw new Error(`${name}: ${String(e)}`);
      });
    }
  });

  it('SigV4a: upper-case hex and a truncated DER signature', async () => {
    const f = new Fixture();
    const s = f.sign({}, { algorithm: ALGORITHM_V4A });
    await f.verify(s.req);
    await expectCode(() => f.verify(withAuthParts(s.req, { signature: s.signature.toUpperCase() })), 'SignatureDoesNotMatch', secretsOf(s));
    await expectCode(() => f.verify(withAuthParts(s.req, { signature: s.signature.slice(0, -2) })), 'SignatureDoesNotMatch', secretsOf(s));
  });

  it('a signed header absent from the request (header and query), naming the header', async () => {
    const f = new Fixture();
    const headers = { host: HOST, 'x-custom': 'v' };
    for (const s of [f.sign({ headers }), f.presign({ headers })]) {
      await f.verify(s.req);
      const e = await expectCode(() => f.verify(withHeaders(s.req, { 'x-custom': undefined })), 'SignatureDoesNotMatch', secretsOf(s));
      assert.match(e.message, /x-custom/);
    }
  });

  it('SignedHeaders edited to leave out a header that was signed', async () => {
    const f = new Fixture();
    const s = f.sign({ headers: { host: HOST, 'x-custom': 'v' } });
    const p = authParts(s.req);
    await expectCode(() => f.verify(withAuthParts(s.req, { signedHeaders: p.signedHeaders.replace(';x-custom', '') })), 'SignatureDoesNotMatch', secretsOf(s));
  });
});

describe('payload hash', () => {
  it('declared x-amz-content-sha256 not matching the body hash: XAmzContentSHA256Mismatch', async () => {
    const f = new Fixture();
    const s = f.sign({ body: 'hello' }, { service: 's3' });
    await f.verify(s.req, sha256('hello'));
    await expectCode(() => f.verify(s.req, sha256('hellO')), 'XAmzContentSHA256Mismatch', secretsOf(s));
    await expectCode(() => f.verify(s.req, EMPTY_SHA256), 'XAmzContentSHA256Mismatch', secretsOf(s));
  });

  it('the body hash alone, when nothing is declared, is covered by the signature', async () => {
    const f = new Fixture();
    const s = f.sign({ method: 'POST', body: 'Action=GetCallerIdentity' });
    await f.verify(s.req, sha256('Action=GetCallerIdentity'));
    await expectCode(() => f.verify(s.req, sha256('Action=GetCallerIdentitx')), 'SignatureDoesNotMatch', secretsOf(s));
    await expectCode(() => f.verify(s.req), 'SignatureDoesNotMatch', secretsOf(s)); // omitted = empty body
  });

  for (const bad of ['abc', sha256('x').toUpperCase(), sha256('x').slice(0, 63), sha256('x') + '0', 'unsigned-payload', 'UNSIGNED-PAYLOAD ', 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-EVENTS', '']) {
    it(`invalid x-amz-content-sha256 \`${bad}\`: InvalidParameterValue`, async () => {
      const f = new Fixture();
      // Signed with that very value, so only the value itself is wrong.
      const s = f.sign({}, { service: 's3', payloadHash: bad });
      await expectCode(() => f.verify(s.req), 'InvalidParameterValue', secretsOf(s));
    });
  }

  it('UNSIGNED-PAYLOAD is accepted and reported as unsigned (control)', async () => {
    const f = new Fixture();
    const v = await f.verify(f.sign({ body: 'x' }, { service: 's3', payloadHash: 'UNSIGNED-PAYLOAD' }).req, sha256('x'));
    assert.deepEqual(v.payload, { kind: 'unsigned' });
  });

  it('a streaming payload on a presigned request: InvalidParameterValue', async () => {
    for (const declared of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
      const f = new Fixture();
      const headers = { host: HOST, 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-decoded-content-length': '5' };
      const q = f.presign({ method: 'PUT', path: '/bucket/key', query: `X-Amz-Content-Sha256=${declared}`, headers }, { service: 's3', payloadHash: declared });
      await expectCode(() => f.verify(q.req), 'InvalidParameterValue', secretsOf(q));
    }
    // Control: the same construction with UNSIGNED-PAYLOAD verifies.
    const f = new Fixture();
    const ok = f.presign({ method: 'PUT', path: '/bucket/key', query: 'X-Amz-Content-Sha256=UNSIGNED-PAYLOAD' }, { service: 's3', payloadHash: 'UNSIGNED-PAYLOAD' });
    assert.deepEqual((await f.verify(ok.req)).payload, { kind: 'unsigned' });
  });

  const chunkedHeaders = { host: HOST, 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '5' };

  for (const declared of ['STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
    it(`${declared} without x-amz-trailer: InvalidParameterValue; with it: passes`, async () => {
      const f = new Fixture();
      const s = f.sign({ method: 'PUT', path: '/bucket/key', headers: chunkedHeaders }, { service: 's3', payloadHash: declared });
      await expectCode(() => f.verify(s.req), 'InvalidParameterValue', secretsOf(s));
      const t = f.sign({ method: 'PUT', path: '/bucket/key', headers: { ...chunkedHeaders, 'x-amz-trailer': 'x-amz-checksum-crc32' } }, { service: 's3', payloadHash: declared });
      const v = await f.verify(t.req);
      assert.equal(v.payload.kind, 'chunked');
    });
  }

  for (const length of ['abc', '-1', '1.5', '1e3', '0x10', '1234567890123456', '']) {
    it(`x-amz-decoded-content-length \`${length}\`: InvalidParameterValue`, async () => {
      const f = new Fixture();
      const s = f.sign({ method: 'PUT', path: '/bucket/key', headers: { ...chunkedHeaders, 'x-amz-decoded-content-length': length } }, { service: 's3', payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
      await expectCode(() => f.verify(s.req), 'InvalidParameterValue', secretsOf(s));
    });
  }

  it('x-amz-decoded-content-length sent twice: InvalidParameterValue; a single integer passes', async () => {
    const f = new Fixture();
    const opts = { service: 's3', payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' };
    const twice = f.sign({ method: 'PUT', path: '/b/k', headers: { ...chunkedHeaders, 'x-amz-decoded-content-length': ['5', '5'] } }, opts);
    await expectCode(() => f.verify(twice.req), 'InvalidParameterValue', secretsOf(twice));
    for (const ok of ['0', '5', '123456789012345']) {
      const v = await f.verify(f.sign({ method: 'PUT', path: '/b/k', headers: { ...chunkedHeaders, 'x-amz-decoded-content-length': ok } }, opts).req);
      assert.deepEqual(v.payload, { kind: 'chunked', signed: true, trailer: false, decodedLength: Number(ok) });
    }
  });

  it('signed streaming (HMAC chunk signatures) under SigV4a: InvalidParameterValue; unsigned trailer streaming passes', async () => {
    const f = new Fixture();
    const s = f.sign({ method: 'PUT', path: '/b/k', headers: chunkedHeaders }, { service: 's3', algorithm: ALGORITHM_V4A, payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
    await expectCode(() => f.verify(s.req), 'InvalidParameterValue', secretsOf(s));
    const u = f.sign({ method: 'PUT', path: '/b/k', headers: { ...chunkedHeaders, 'x-amz-trailer': 'x-amz-checksum-crc32' } }, { service: 's3', algorithm: ALGORITHM_V4A, payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' });
    assert.equal((await f.verify(u.req)).payload.kind, 'chunked');
  });
});

describe('SigV4a region set', () => {
  const cases: Array<[readonly string[], boolean]> = [
    [['us-east-1'], true],
    [['us-*'], true],
    [['*'], true],
    [['eu-*', 'us-east-1'], true],
    [['us-east-*'], true],
    [['eu-west-1'], false],
    [['us-west-*'], false],
    [['eu-*', 'ap-*'], false],
    [['us-east-10'], false],
    [['us-east'], false],
  ];
  for (const [regionSet, covers] of cases) {
    it(`[${regionSet.join(',')}] for ${REGION}: ${covers ? 'passes' : 'AuthorizationHeaderMalformed / AuthorizationQueryParametersError'}`, async () => {
      const f = new Fixture();
      const s = f.sign({}, { algorithm: ALGORITHM_V4A, regionSet });
      const q = f.presign({}, { algorithm: ALGORITHM_V4A, regionSet });
      if (covers) {
        assert.deepEqual((await f.verify(s.req)).regionSet, regionSet);
        assert.deepEqual((await f.verify(q.req)).regionSet, regionSet);
      } else {
        await expectCode(() => f.verify(s.req), 'AuthorizationHeaderMalformed', secretsOf(s));
        await expectCode(() => f.verify(q.req), 'AuthorizationQueryParametersError', secretsOf(q));
      }
    });
  }

  it('missing region set header (IncompleteSignature) or parameter (AuthorizationQueryParametersError)', async () => {
    const f = new Fixture();
    const s = f.sign({}, { algorithm: ALGORITHM_V4A });
    await expectCode(() => f.verify(withHeaders(s.req, { 'x-amz-region-set': undefined })), 'IncompleteSignature', secretsOf(s));
    const q = f.presign({}, { algorithm: ALGORITHM_V4A });
    await expectCode(() => f.verify(withParam(q.req, 'X-Amz-Region-Set', undefined)), 'AuthorizationQueryParametersError', secretsOf(q));
  });

  it('a region set header that is not signed: IncompleteSignature', async () => {
    const f = new Fixture();
    const s = f.sign({}, { algorithm: ALGORITHM_V4A });
    const p = authParts(s.req);
    const unsigned = p.signedHeaders.split(';').filter((h) => h !== 'x-amz-region-set').join(';');
    await expectCode(() => f.verify(withAuthParts(s.req, { signedHeaders: unsigned })), 'IncompleteSignature', secretsOf(s));
  });

  it('a malformed region set: IncompleteSignature / AuthorizationQueryParametersError', async () => {
    const f = new Fixture();
    const s = f.sign({}, { algorithm: ALGORITHM_V4A, regionSet: ['US-EAST-1'] });
    await expectCode(() => f.verify(s.req), 'IncompleteSignature', secretsOf(s));
    const q = f.presign({}, { algorithm: ALGORITHM_V4A, regionSet: ['us-east-1', ''] });
    await expectCode(() => f.verify(q.req), 'AuthorizationQueryParametersError', secretsOf(q));
  });
});

describe('Verifier construction', () => {
  it('refuses a missing lookup and an invalid region', () => {
    assert.throws(() => new Verifier({ region: REGION, lookup: undefined as unknown as CredentialLookup<Principal> }), TypeError);
    for (const region of ['', 'US-EAST-1', 'us east 1', 'us/east']) {
      assert.throws(() => new Verifier<Principal>({ region, lookup: () => ({ status: 'unknown' }) }), TypeError);
    }
  });
});

describe('signing key caches', () => {
  /** kSigning from the spec, independent of src. */
  function kSigning(secret: string, scope: string): Buffer {
    const [date, region, service] = scope.split('/') as [string, string, string];
    return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), service), 'aws4_request');
  }

  it('a verifier with keyCacheSize 2 stays correct with many more keys, scopes and rounds', async () => {
    const clock = fixedClock(T0);
    const secrets = new Map<string, string>();
    for (let i = 0; i < 7; i++) secrets.set(`AKID${String(i).padStart(16, '0')}`, `secret-${i}`);
    const verifier = new Verifier<Principal>({
      region: REGION,
      clock,
      keyCacheSize: 2,
      acceptRegion: () => true,
      lookup: (id) => (secrets.has(id) ? { status: 'found', secretAccessKey: secrets.get(id)!, principal: { name: id } } : { status: 'unknown' }),
    });
    const signer = new Signer({ clock });
    for (let round = 0; round < 3; round++) {
      for (const [id, secret] of secrets) {
        for (const [region, service] of [[REGION, 'sts'], ['eu-west-1', 'sts'], [REGION, 's3']] as const) {
          const toSign = baseRequest({});
          const s = signer.sign(toSign, { credentials: { accessKeyId: id, secretAccessKey: secret }, region, service });
          const req = requestFromRecord('GET', '/?Action=GetCallerIdentity&Version=2011-06-15', s.headers);
          const v = await verifier.verify(req);
          assert.equal(v.principal.name, id);
          const wrong = signer.sign(toSign, { credentials: { accessKeyId: id, secretAccessKey: secret + 'x' }, region, service });
          await expectCode(() => verifier.verify(requestFromRecord('GET', '/?Action=GetCallerIdentity&Version=2011-06-15', wrong.headers)), 'SignatureDoesNotMatch', [secret]);
        }
      }
    }
  });

  it('SigningKeyCache: size never exceeds max, and the least recently used key goes first', () => {
    const cache = new SigningKeyCache(8);
    const scope = `20240909/${REGION}/${SERVICE}/aws4_request`;
    const keys = [];
    for (let i = 0; i < 8; i++) keys.push(cache.get(`K${i}`, SECRET, scope));
    assert.equal(cache.size, 8);
    assert.equal(cache.get('K0', SECRET, scope), keys[0], 'a hit returns the cached key');
    const k8 = cache.get('K8', SECRET, scope); // overflows: K1 is now the least recently used
    assert.ok(cache.size <= 8, `size ${cache.size} > 8`);
    // Hits first (a miss inserts and could evict).
    assert.equal(cache.get('K8', SECRET, scope), k8, 'the newest key survives');
    assert.equal(cache.get('K0', SECRET, scope), keys[0], 'the recently used K0 survives');
    for (let i = 3; i < 8; i++) assert.equal(cache.get(`K${i}`, SECRET, scope), keys[i], `K${i} survives`);
    assert.notEqual(cache.get('K1', SECRET, scope), keys[1], 'K1, the least recently used, was evicted');
    assert.ok(cache.size <= 8);
  });

  it('SigningKeyCache: under any sequence of lookups the size stays bounded and no key is ever stale', () => {
    const ids = ['A', 'B', 'C', 'D', 'E', 'F'];
    const secrets = ['s0', 's1', 's2'];
    const scopes = [`20240909/${REGION}/sts/aws4_request`, `20240910/${REGION}/sts/aws4_request`, `20240909/eu-west-1/s3/aws4_request`];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.tuple(fc.nat(5), fc.nat(2), fc.nat(2)), { minLength: 1, maxLength: 60 }),
        (max, ops) => {
          const cache = new SigningKeyCache(max);
          for (const [i, s, c] of ops) {
            const key = cache.get(ids[i]!, secrets[s]!, scopes[c]!);
            assert.ok(cache.size <= max, `size ${cache.size} > ${max}`);
            assert.deepEqual(key.bytes, kSigning(secrets[s]!, scopes[c]!));
            assert.equal(cache.get(ids[i]!, secrets[s]!, scopes[c]!), key, 'the entry just used is kept');
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('Lru: size never exceeds max and it behaves as a least-recently-used map', () => {
    const lru = new Lru<string, number>(3);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.set('c', 3);
    assert.equal(lru.get('a'), 1); // a is now the most recent; b the least
    lru.set('d', 4);
    assert.equal(lru.size, 3);
    assert.equal(lru.get('b'), undefined);
    assert.deepEqual([lru.get('a'), lru.get('c'), lru.get('d')], [1, 3, 4]);
    // Recency now, oldest first: a, c, d.
    lru.set('c', 30); // an update is a use: a, d, c
    lru.set('e', 5); // evicts a
    assert.equal(lru.size, 3);
    assert.equal(lru.get('a'), undefined);
    assert.deepEqual([lru.get('c'), lru.get('d'), lru.get('e')], [30, 4, 5]);

    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.tuple(fc.boolean(), fc.nat(7), fc.integer()), { maxLength: 80 }),
        (max, ops) => {
          const l = new Lru<number, number>(max);
          let model: Array<[number, number]> = []; // least recent first
          for (const [isSet, k, v] of ops) {
            if (isSet) {
              l.set(k, v);
              model = model.filter(([mk]) => mk !== k);
              model.push([k, v]);
              if (model.length > max) model.shift();
            } else {
              const hit = model.find(([mk]) => mk === k);
              assert.equal(l.get(k), hit?.[1]);
              if (hit) model = [...model.filter(([mk]) => mk !== k), hit];
            }
            assert.equal(l.size, model.length);
            assert.ok(l.size <= max);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('both caches refuse a size that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new Lru(bad), RangeError);
      assert.throws(() => new SigningKeyCache(bad), RangeError);
    }
  });

  for (const algorithm of [ALGORITHM_V4, ALGORITHM_V4A] as const) {
    it(`${algorithm}: a changed secret for the same access key id is never served a stale cached key`, async () => {
      const f = new Fixture();
      let secret = SECRET;
      f.answer = (id) => (id === AKID ? { status: 'found', secretAccessKey: secret, principal: PRINCIPAL } : { status: 'unknown' });
      const oldSigned = f.sign({}, { algorithm });
      await f.verify(oldSigned.req); // the old secret's key is now cached
      secret = OTHER_SECRET; // rotated
      await expectCode(() => f.verify(oldSigned.req), 'SignatureDoesNotMatch', [SECRET, OTHER_SECRET, oldSigned.signature]);
      const newSigned = f.signer.sign(baseRequest({}), { ...f.signOpts({ algorithm }), credentials: { accessKeyId: AKID, secretAccessKey: OTHER_SECRET } });
      await f.verify(requestFromRecord('GET', '/?Action=GetCallerIdentity&Version=2011-06-15', newSigned.headers));
      secret = SECRET; // and back
      await f.verify(oldSigned.req);
    });
  }
});
