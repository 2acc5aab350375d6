/**
 * Fuzz targets: every parser of Portcullis that sees untrusted bytes, each wrapped as a function
 * of one byte string. Shared by the property tests (test/adversarial/fuzz-parsers.test.ts, in
 * `npm test`) and the coverage-guided runner (fuzz/run.ts, `npm run fuzz`).
 *
 * The contract every target checks: an input gives a value, or a PortcullisError whose code is in
 * the error table and whose message carries no internal detail (stack frame, source path). Any
 * other exception is a crash. Some targets check more (the session-token codec never opens a
 * token it did not seal; an error body is always well-formed XML).
 *
 * Pure and synchronous: a fixed clock, an in-memory credential lookup, no I/O.
 */
import { createHash, generateKeyPairSync, sign as cryptoSign, type JsonWebKey } from 'node:crypto';
import { ERRORS, PortcullisError, renderError } from '../src/core/errors.js';
import { queryParams, queryResponse, param } from '../src/api/query.js';
import { compilePolicy } from '../src/iam/compile.js';
import { RequestContext } from '../src/iam/context.js';
import { parsePolicy, type PolicyKind } from '../src/iam/document.js';
import { evaluate } from '../src/iam/evaluate.js';
import { compileRoute, expand, parseJsonBody, parseTemplate, requestTags, ServiceRoutes } from '../src/gateway/routes.js';
import type { UpstreamService } from '../src/config/schema.js';
import {
  canonicalQueryFromRaw, canonicalUri, ChunkedDecoder, encodeChunkedBody, HeaderMap, type HttpRequest, normalizePath,
  NORMALIZING_RULES, S3_RULES, Signer, type CredentialLookupResult, Verifier, deriveSigningKey,
} from '../src/sigv4/index.js';
import { openMessage, openToken, sealMessage, sealToken, tokenKeyFrom, type SessionClaims } from '../src/sts/token.js';
import { claimedIssuer, verifyIdToken, type Jwks } from '../src/sts/webIdentity.js';

/** A target: a name, valid inputs to start from, words a mutator may splice in, and the check. */
export interface FuzzTarget {
  readonly name: string;
  readonly seeds: () => Buffer[];
  readonly dictionary: readonly string[];
  /** Returns normally or throws; `verdict` decides whether what it threw is allowed. */
  run(data: Buffer): void;
}

/** A broken invariant that is not an exception of the code under test. */
export class InvariantBroken extends Error {
  override readonly name = 'InvariantBroken';
}

const INTERNAL_DETAIL = /\n\s+at \S|node:internal|\/dist\/src\/|\/src\/[a-z]+\/[a-zA-Z]+\.[jt]s/;

/** Undefined when `e` is an allowed outcome; otherwise why it is a crash. */
export function verdict(e: unknown): string | undefined {
  if (e instanceof InvariantBroken) return `invariant: ${e.message}`;
  if (!(e instanceof PortcullisError)) {
    const err = e as { name?: unknown; message?: unknown };
    return `${String(err?.name ?? typeof e)}: ${String(err?.message ?? e)}`;
  }
  if (!Object.hasOwn(ERRORS, e.code)) return `PortcullisError with a code outside the table: ${String(e.code)}`;
  if (INTERNAL_DETAIL.test(e.message)) return `PortcullisError message with internal detail: ${e.message.slice(0, 200)}`;
  return undefined;
}

/** Runs a target on one input: undefined, or the crash description. */
export function runOne(t: FuzzTarget, data: Buffer): string | undefined {
  try {
    t.run(data);
    return undefined;
  } catch (e) {
    return verdict(e);
  }
}

// ---------------------------------------------------------------------------------------------
// Fixed world: clock, keys, a verifier

export const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const clock = () => NOW;
const REGION = 'us-east-1';
export const AKID = 'AKIAFUZZEXAMPLE00001';
export const SECRET = 'fuzzSecretKey/EXAMPLE+0123456789abcdefghij';
const TEMP_AKID = 'ASIAFUZZEXAMPLE00002';
const TOKEN_KEY = tokenKeyFrom(Buffer.alloc(32, 7));
const CLAIMS: SessionClaims = {
  accessKeyId: TEMP_AKID,
  secretAccessKey: 'tempSecret/EXAMPLE+abcdefghijklmnopqrstuv',
  principal: { type: 'assumed-role', accountId: '123456789012', roleId: 'AROAFUZZ', roleName: 'fuzz', rolePath: '/', sessionName: 's' },
  issuedAt: NOW - 60_000,
  expiresAt: NOW + 3_600_000,
  sessionPolicies: [],
  tags: { team: 'fuzz' },
  transitiveTagKeys: [],
  sourceIdentity: undefined,
  chained: false,
};
const TOKEN = sealToken(CLAIMS, TOKEN_KEY);

function lookup(accessKeyId: string, sessionToken: string | undefined): CredentialLookupResult<string> {
  if (accessKeyId === AKID) return { status: 'found', secretAccessKey: SECRET, principal: 'user' };
  if (accessKeyId === TEMP_AKID) {
    if (sessionToken === undefined) return { status: 'unknown' };
    const c = openToken(sessionToken, [TOKEN_KEY]);
    if (c === undefined || c.accessKeyId !== accessKeyId) return { status: 'invalidToken' };
    return { status: 'found', secretAccessKey: c.secretAccessKey, principal: 'session' };
  }
  return { status: 'unknown' };
}

const verifier = new Verifier<string>({ region: REGION, clock, lookup, maxChunkBytes: 64 * 1024 });
const signer = new Signer({ clock });
const HOST = 'portcullis.example:8443';

/** Parses, checks time and scope, looks the key up and checks the signature, synchronously. */
function verifySync(req: HttpRequest, body: Buffer): void {
  const auth = verifier.parse(req);
  verifier.checkTimeAndScope(auth);
  const verified = verifier.checkSignature(req, auth, lookup(auth.accessKeyId, auth.sessionToken), {
    bodySha256: createHash('sha256').update(body).digest('hex'),
  });
  const decoder = verifier.bodyDecoder(verified, req);
  // Three pieces, as a body arrives in several reads.
  const a = body.length >> 2, b = body.length >> 1;
  decoder.push(body.subarray(0, a));
  decoder.push(body.subarray(a, b));
  decoder.push(body.subarray(b));
  decoder.end();
}

/**
 * A raw request in text form, tolerant of anything: `METHOD target` line, `name: value` lines,
 * an empty line, the body. Bytes are read as latin1, which is how Node hands header values over.
 */
function parseRaw(data: Buffer): { req: HttpRequest; body: Buffer } {
  const text = data.toString('latin1');
  const sep = text.indexOf('\n\n');
  const head = sep < 0 ? text : text.slice(0, sep);
  const body = sep < 0 ? Buffer.alloc(0) : data.subarray(sep + 2);
  const [line = '', ...lines] = head.split('\n');
  const sp = line.indexOf(' ');
  const method = sp < 0 ? line : line.slice(0, sp);
  const target = sp < 0 ? '/' : line.slice(sp + 1);
  const raw: string[] = [];
  for (const l of lines) {
    const c = l.indexOf(':');
    if (c <= 0) continue;
    raw.push(l.slice(0, c), l.slice(c + 1).trim());
  }
  const q = target.indexOf('?');
  return { req: { method, path: q < 0 ? target : target.slice(0, q), query: q < 0 ? '' : target.slice(q + 1), headers: HeaderMap.fromRaw(raw) }, body };
}

function rawText(method: string, target: string, headers: Record<string, string | readonly string[]>, body: string | Buffer = ''): Buffer {
  let head = `${method} ${target}\n`;
  for (const [k, v] of Object.entries(headers)) for (const one of typeof v === 'string' ? [v] : v) head += `${k}: ${one}\n`;
  return Buffer.concat([Buffer.from(head + '\n', 'latin1'), Buffer.from(body)]);
}

const FORM = 'Action=GetCallerIdentity&Version=2011-06-15';

function signedSeeds(): Buffer[] {
  const out: Buffer[] = [];
  const base = { host: HOST, 'content-type': 'application/x-www-form-urlencoded' };
  const s1 = signer.sign({ method: 'POST', path: '/', headers: base, body: FORM }, { credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: REGION, service: 'sts' });
  out.push(rawText('POST', '/', s1.headers, FORM));
  const s2 = signer.sign({ method: 'GET', path: '/a/b/../c%2Fd', query: 'x=1&y=%20z', headers: { host: HOST } }, { credentials: { accessKeyId: TEMP_AKID, secretAccessKey: CLAIMS.secretAccessKey, sessionToken: TOKEN }, region: REGION, service: 'iam' });
  out.push(rawText('GET', '/a/b/../c%2Fd?x=1&y=%20z', s2.headers));
  const p = signer.presign({ method: 'GET', path: '/', query: 'Action=GetCallerIdentity', headers: { host: HOST } }, { credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: REGION, service: 'sts', expiresIn: 300 });
  out.push(rawText('GET', p.target, { host: HOST }));
  const s3 = signer.sign({ method: 'GET', path: '/', headers: { host: HOST } }, { credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: REGION, service: 'sts', algorithm: 'AWS4-ECDSA-P256-SHA256' });
  out.push(rawText('GET', '/', s3.headers));
  // aws-chunked, signed, with a checksum trailer.
  const data = [Buffer.from('hello '), Buffer.from('chunked world')];
  const decoded = String(data[0]!.length + data[1]!.length);
  const s4 = signer.sign(
    { method: 'PUT', path: '/bucket/key', headers: { host: HOST, 'x-amz-decoded-content-length': decoded, 'x-amz-trailer': 'x-amz-checksum-crc32', 'content-encoding': 'aws-chunked' } },
    { credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: REGION, service: 's3', payloadHash: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' },
  );
  const body = encodeChunkedBody(data, { signing: { key: s4.signingKey!, seedSignature: s4.signature, amzDate: s4.amzDate, scope: s4.scope }, trailer: 'x-amz-checksum-crc32' });
  out.push(rawText('PUT', '/bucket/key', s4.headers, body));
  return out;
}

const SIGV4_WORDS = [
  'AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256', 'Credential=', 'SignedHeaders=', 'Signature=', '/aws4_request', 'aws4_request',
  'host;x-amz-date', 'x-amz-date', 'X-Amz-Date=', 'X-Amz-Algorithm=', 'X-Amz-Credential=', 'X-Amz-Signature=', 'X-Amz-Expires=604801',
  'X-Amz-SignedHeaders=', 'X-Amz-Security-Token=', 'x-amz-security-token: ', 'x-amz-content-sha256: ', 'UNSIGNED-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'x-amz-region-set: ', '20260115T120000Z', '20260115',
  'us-east-1', 'sts', 's3', 'constructor', '__proto__', 'toString', '%', '%2', '%2F', '%2e%2e', '/../', '%C0%AF', '%FF', '&', '=', ',', ';', ' ', '\n', '\r\n', ':', AKID, TEMP_AKID,
];

// ---------------------------------------------------------------------------------------------
// The targets

/** A whole request through the verifier: Authorization header or presigned query, then the body. */
const sigv4Request: FuzzTarget = {
  name: 'sigv4-request',
  seeds: signedSeeds,
  dictionary: SIGV4_WORDS,
  run(data) {
    const { req, body } = parseRaw(data);
    verifySync(req, body);
  },
};

/** The Authorization header alone, on an otherwise plausible request. */
const authorizationHeader: FuzzTarget = {
  name: 'authorization-header',
  seeds: () => signedSeeds().slice(0, 2).map((raw) => Buffer.from(/^authorization: (.*)$/m.exec(raw.toString('latin1'))![1]!, 'latin1')),
  dictionary: SIGV4_WORDS,
  run(data) {
    const headers = HeaderMap.fromRaw(['host', HOST, 'x-amz-date', '20260115T120000Z', 'authorization', data.toString('latin1')]);
    verifySync({ method: 'GET', path: '/', query: '', headers }, Buffer.alloc(0));
  },
};

/** The query string of a presigned URL. */
const presignedQuery: FuzzTarget = {
  name: 'presigned-query',
  seeds: () => [Buffer.from(signer.presign({ method: 'GET', path: '/', query: 'Action=GetCallerIdentity', headers: { host: HOST } }, { credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: REGION, service: 'sts', expiresIn: 300 }).query, 'latin1')],
  dictionary: SIGV4_WORDS,
  run(data) {
    const query = data.toString('latin1');
    verifySync({ method: 'GET', path: '/', query, headers: HeaderMap.fromRaw(['host', HOST]) }, Buffer.alloc(0));
    canonicalQueryFromRaw(query);
  },
};

/** A query-protocol form body (and the same bytes as a query string). */
const formBody: FuzzTarget = {
  name: 'form-body',
  seeds: () => [Buffer.from(FORM), Buffer.from('Action=CreateUser&UserName=a%2Fb&Tags.member.1.Key=k&Tags.member.1.Value=%E2%82%AC&Path=%2F')],
  dictionary: ['Action=', 'Version=', '&', '=', '%', '%00', '%E2%82', '%FF', '+', 'member.1', '.member.', 'PolicyDocument=', 'UserName='],
  run(data) {
    const p = queryParams(data, 'application/x-www-form-urlencoded; charset=utf-8', '');
    queryParams(Buffer.alloc(0), undefined, data.toString('latin1'));
    param(p, 'Action');
    for (const [k, v] of p) if (typeof k !== 'string' || typeof v !== 'string') throw new InvariantBroken('a parameter is not a string');
  },
};

function chunkedSeed(signed: boolean): Buffer {
  const key = deriveSigningKey(SECRET, '20260115', REGION, 's3');
  const signing = { key, seedSignature: 'a'.repeat(64), amzDate: '20260115T120000Z', scope: `20260115/${REGION}/s3/aws4_request` };
  return encodeChunkedBody([Buffer.from('abc'), Buffer.from('defgh'), Buffer.alloc(20, 0x41)], signed ? { signing, trailer: 'x-amz-checksum-crc32' } : { trailer: 'x-amz-checksum-sha256' });
}

/** aws-chunked framing, chunk signatures and trailers, in the three streaming modes. */
const awsChunked: FuzzTarget = {
  name: 'aws-chunked',
  seeds: () => [chunkedSeed(true), chunkedSeed(false)],
  dictionary: ['\r\n', ';chunk-signature=', 'x-amz-checksum-crc32:', 'x-amz-checksum-sha256:', 'x-amz-trailer-signature:', 'constructor:', '__proto__:', '0\r\n', 'ffffffffffffffff', '10000', ':', '0;chunk-signature='],
  run(data) {
    const key = deriveSigningKey(SECRET, '20260115', REGION, 's3');
    const signing = { key, seedSignature: 'a'.repeat(64), amzDate: '20260115T120000Z', scope: `20260115/${REGION}/s3/aws4_request` } as const;
    const modes = [
      { signing, trailer: 'x-amz-checksum-crc32', decodedLength: 28 },
      { signing: undefined, trailer: 'x-amz-checksum-sha256', decodedLength: undefined },
      { signing, trailer: undefined, decodedLength: undefined },
    ];
    let firstError: unknown;
    for (const m of modes) {
      try {
        const d = new ChunkedDecoder({ ...m, maxChunkBytes: 4096 });
        // Split at a point the input chooses, so that every boundary gets crossed sometimes.
        const cut = data.length === 0 ? 0 : data[0]! % (data.length + 1);
        d.push(data.subarray(0, cut));
        d.push(data.subarray(cut));
        d.end();
      } catch (e) {
        firstError ??= e;
        if (verdict(e) !== undefined) throw e;
      }
    }
    if (firstError !== undefined) throw firstError;
  },
};

const POLICY_KINDS: PolicyKind[] = ['identity', 'resource', 'trust'];
const PRINCIPAL = { kind: 'user', arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012' } as const;

/** A policy document: grammar, then compiled and evaluated once. */
const policyDocument: FuzzTarget = {
  name: 'policy-document',
  seeds: () => [
    Buffer.from(JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'A', Effect: 'Allow', Action: ['s3:Get*', 'iam:*'], Resource: 'arn:aws:s3:::b/${aws:username}/*', Condition: { StringLike: { 'aws:PrincipalTag/team': ['a*', 'b?'] }, IpAddress: { 'aws:SourceIp': '10.0.0.0/8' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['x'] }, DateLessThanIfExists: { 'aws:CurrentTime': '2030-01-01T00:00:00Z' }, NumericLessThan: { 's3:max-keys': '10' } } }] })),
    Buffer.from(JSON.stringify({ Version: '2012-10-17', Id: 'x', Statement: { Effect: 'Deny', Principal: { AWS: ['arn:aws:iam::123456789012:root', '*'] }, NotAction: 'sts:*', NotResource: ['*'], Condition: { Bool: { 'aws:SecureTransport': 'false' }, ArnLike: { 'aws:SourceArn': 'arn:aws:*:*:*:*' }, Null: { 'aws:TokenIssueTime': 'true' } } } })),
  ],
  dictionary: ['"Version"', '"2012-10-17"', '"Statement"', '"Effect"', '"Allow"', '"Deny"', '"Action"', '"NotAction"', '"Resource"', '"Principal"', '"Condition"', '"StringLike"', '"ForAnyValue:', 'IfExists"', '${', '}', '*', '?', '[', ']', '{', '}', ',', ':', '"', '\\u0000', 'arn:aws:', '"BinaryEquals"', '"IpAddress"', '"::/0"', '"constructor"', '"__proto__"', '"toString"', '${toString}', '${constructor}', '"aws:userid"', 'a*a*a*a*', '*a*', 'arn:aws:s3:::a*'],
  run(data) {
    const text = data.toString('utf8');
    let firstError: unknown;
    for (const kind of POLICY_KINDS) {
      try {
        const doc = parsePolicy(text, kind);
        const policy = compilePolicy('fuzz', doc, kind);
        // Long, repetitive values too: a pattern with many wildcards must not take exponential time on them.
        const context = new RequestContext([['aws:username', 'alice'], ['aws:userid', 'a'.repeat(300)], ['aws:SourceIp', '10.1.2.3'], ['aws:TagKeys', ['x', 'y']], ['aws:CurrentTime', '2026-01-15T12:00:00Z'], ['aws:SecureTransport', 'true']]);
        for (const resource of ['arn:aws:s3:::b/alice/k', `arn:aws:s3:::${'a'.repeat(300)}`]) {
          const req = { principal: PRINCIPAL, action: 's3:GetObject', resource, context };
          evaluate(req, kind === 'identity' ? { identity: [policy] } : { identity: [], resource: [policy] });
        }
      } catch (e) {
        firstError ??= e;
        if (verdict(e) !== undefined) throw e;
      }
    }
    if (firstError !== undefined) throw firstError;
  },
};

/** The session-token codec: nothing but a token it sealed opens, and a DecodeAuthorizationMessage message likewise. */
export const SEALED = { token: TOKEN, message: sealMessage('{"allowed":false}', TOKEN_KEY), key: TOKEN_KEY } as const;

const sessionToken: FuzzTarget = {
  name: 'session-token',
  seeds: () => [Buffer.from(SEALED.token, 'latin1'), Buffer.from(SEALED.message, 'latin1')],
  dictionary: ['PCT1.', `${TOKEN_KEY.id}.`, '.', '=', '-', '_', '+', '/', 'AAAA'],
  run(data) {
    const s = data.toString('latin1');
    const claims = openToken(s, [TOKEN_KEY]);
    if (claims !== undefined && s !== SEALED.token) throw new InvariantBroken('a session token opened that is not the one sealed');
    const msg = openMessage(s, [TOKEN_KEY]);
    if (msg !== undefined && s !== SEALED.message) throw new InvariantBroken('an authorization message opened that is not the one sealed');
  },
};

const SERVICE: UpstreamService = {
  name: 'widgets', protocol: 'rest-json', routes: [
    { match: 'PUT /widgets/{id}/parts/{rest+}', action: 'PutPart', resource: 'arn:aws:widgets:{region}:{account}:widget/{path.id}/{body.Name}', conditions: { 'widgets:Owner': '{body.Owner.Id}', 'widgets:Ver': '{header.x-ver}' }, requestTags: '{body.Tags}' },
  ],
} as unknown as UpstreamService;
const ROUTES = new ServiceRoutes(SERVICE);
const ROUTE = compileRoute(SERVICE.routes[0]!, true);

/** A JSON body a route reads, and the values it takes from it (as the gateway does for awsJson and REST JSON services). */
const jsonBody: FuzzTarget = {
  name: 'json-body',
  seeds: () => [Buffer.from(JSON.stringify({ Name: ['a', 'b'], Owner: { Id: 'o-1' }, Tags: [{ Key: 'k', Value: 'v' }, { key: 'x', value: 'y' }] })), Buffer.from('{"Name":"n","Tags":{"a":"b","c":1}}')],
  dictionary: ['{', '}', '[', ']', '"Name"', '"Tags"', '"Owner"', '"Id"', '"Key"', '"Value"', '__proto__', 'constructor', ':', ',', 'null', 'true', '1e999', '"\\ud800"'],
  run(data) {
    let body: unknown = {};
    if (data.length > 0) {
      const parsed = parseJsonBody(data);
      if (parsed === undefined) throw new PortcullisError('ValidationError', 'The request body is not valid JSON.');
      body = parsed.value;
    }
    const values = { region: REGION, account: '123456789012', path: { id: 'w1' }, query: new Map<string, string>(), repeated: new Set<string>(), headers: HeaderMap.fromRaw(['x-ver', '1']), body };
    expand(ROUTE.resource, values);
    for (const [, t] of ROUTE.conditions) expand(t, values);
    for (const [k, v] of requestTags(ROUTE, body)) if (typeof k !== 'string' || typeof v !== 'string') throw new InvariantBroken('a request tag is not a string pair');
  },
};

/** The request path: canonical forms (normalizing and S3) and REST route matching with percent-decoding. */
const uriPath: FuzzTarget = {
  name: 'uri-path',
  seeds: () => [Buffer.from('/widgets/w1/parts/a/b%2Fc/../d'), Buffer.from('/a/./b//c/%2e%2e/%E2%82%AC/~x')],
  dictionary: ['/', '.', '..', '%2e', '%2E%2E', '%2F', '%5C', '\\', '%', '%C0%AE', '%FF', '//', '/widgets/', '/parts/', '?', '#', ';'],
  run(data) {
    const path = data.toString('latin1');
    canonicalUri(path, NORMALIZING_RULES);
    canonicalUri(path, S3_RULES);
    const n = normalizePath(path);
    if (normalizePath(n) !== n) throw new InvariantBroken('normalizePath is not idempotent');
    ROUTES.forPath('PUT', path);
  },
};

function jwtSeed(): { jwks: Jwks; token: string; sign: (signingInput: string) => string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as JsonWebKey;
  const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'ES256', kid: 'k1', typ: 'JWT' });
  const body = enc({ iss: 'https://issuer.example', sub: 'user-1', aud: 'client-1', exp: NOW / 1000 + 600, iat: NOW / 1000 - 10 });
  const sig = cryptoSign('sha256', Buffer.from(`${head}.${body}`), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  const sign = (input: string) => cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return { jwks: { keys: [{ ...jwk, kid: 'k1', alg: 'ES256', use: 'sig' }] }, token: `${head}.${body}.${sig}`, sign };
}
let jwt: ReturnType<typeof jwtSeed> | undefined;

/** AssumeRoleWithWebIdentity's token, which arrives unsigned: issuer read first, then the JWT checked. */
const webIdentityToken: FuzzTarget = {
  name: 'web-identity-token',
  seeds: () => {
    const token = (jwt ??= jwtSeed()).token;
    const [h, p, sig] = token.split('.') as [string, string, string];
    const json = (x: string) => Buffer.from(x, 'base64url').toString('utf8');
    // The same token in the structured form below, so that mutations reach the claims.
    return [Buffer.from(token), Buffer.from(`${json(h)}\n${json(p)}\n${sig}`), Buffer.from(`${json(h)}\n${json(p)}`)];
  },
  dictionary: ['.', 'eyJ', '=', '-', '_', '"alg"', '"none"', '"HS256"', '"ES256"', '"RS256"', '"kid"', '"k1"', '"iss"', '"aud"', '"azp"', '"exp"', '"nbf"', '"iat"', '"sub"', '[', ']', 'null', '1e308', '-1', '"constructor"', '"__proto__"'],
  run(data) {
    jwt ??= jwtSeed();
    // `header JSON \n payload JSON [\n signature]`: encoded here (and signed with the provider's
    // key when no signature is given) so that mutations of the claims reach the claim checks;
    // otherwise the bytes are the token as sent.
    const lines = data.toString('utf8').split('\n');
    let s = data.toString('latin1');
    if (lines.length === 2 || lines.length === 3) {
      const input = `${Buffer.from(lines[0]!).toString('base64url')}.${Buffer.from(lines[1]!).toString('base64url')}`;
      s = `${input}.${lines[2] ?? jwt.sign(input)}`;
    }
    try {
      claimedIssuer(s);
    } finally {
      verifyIdToken(s, { jwks: jwt.jwks, issuer: 'https://issuer.example', clientIds: ['client-1'], nowMs: NOW });
    }
  },
};

const XML_ERROR = /^<ErrorResponse><Error><Type>Sender<\/Type><Code>InvalidInput<\/Code><Message>([^<]*)<\/Message><\/Error><RequestId>r<\/RequestId><\/ErrorResponse>$/;
const XML_TEXT = /^(?:[^<>&]|&(?:lt|gt|amp|apos|quot);)*$/u;

/** What we send back: any text a client makes us echo stays inside its element. */
const xmlOutput: FuzzTarget = {
  name: 'xml-output',
  seeds: () => [Buffer.from('<a>&amp;"\'\u0000\uFFFE]]>')],
  dictionary: ['<', '>', '&', ']]>', '<!--', '\u0000', '\uD800', '\uFFFF', '"', "'"],
  run(data) {
    for (const text of [data.toString('utf8'), data.toString('latin1'), data.toString('utf16le')]) {
      const body = renderError(new PortcullisError('InvalidInput', text), { protocol: 'query', requestId: 'r' }).body;
      const m = XML_ERROR.exec(body);
      if (!m || !XML_TEXT.test(m[1]!) || /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(m[1]!)) throw new InvariantBroken('an error body is not well-formed XML');
      const ok = queryResponse('GetUser', 'https://iam.amazonaws.com/doc/2010-05-08/', { User: { UserName: text, Tags: [{ Key: text, Value: text }] } }, 'r');
      const inner = ok.replace(/<\/?[A-Za-z]+(?: xmlns="[^"]*")?>/g, '');
      if (!XML_TEXT.test(inner)) throw new InvariantBroken('a response body is not well-formed XML');
    }
  },
};

/** A route template (configuration, but worth a look: a bad one must be a clean refusal). */
const templates: FuzzTarget = {
  name: 'route-template',
  seeds: () => [Buffer.from('arn:aws:x:{region}:{account}:thing/{path.id}/{body.a.b}/{query.q}/{header.H}')],
  dictionary: ['{', '}', '{region}', '{body.', '{path.', '{query.', '.'],
  run(data) {
    try {
      parseTemplate(data.toString('utf8'));
    } catch (e) {
      // A configuration error is reported at start as a TypeError naming the template; that is its contract.
      if (!(e instanceof TypeError)) throw e;
    }
  },
};

export const TARGETS: readonly FuzzTarget[] = [
  sigv4Request, authorizationHeader, presignedQuery, formBody, awsChunked, policyDocument, sessionToken, jsonBody, uriPath, webIdentityToken, xmlOutput, templates,
];
