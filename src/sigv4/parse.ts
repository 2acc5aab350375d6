/**
 * Reads the SigV4/SigV4a authentication of a request, from the `Authorization` header or from
 * presigned query parameters, into one typed value. Only the syntax is checked here; time,
 * scope and signature are the verifier's job. Every malformed input gets its own AWS error.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 */
import { PortcullisError, quoted } from '../core/errors.js';
import {
  ALGORITHM_V4, ALGORITHM_V4A, type Algorithm, H_AUTHORIZATION, H_CONTENT_SHA256, H_DATE, H_HOST, H_HTTP_DATE,
  H_REGION_SET, H_SECURITY_TOKEN, MAX_PRESIGNED_EXPIRES_S, Q_ALGORITHM, Q_CONTENT_SHA256, Q_CREDENTIAL, Q_DATE,
  Q_EXPIRES, Q_REGION_SET, Q_SECURITY_TOKEN, Q_SIGNATURE, Q_SIGNED_HEADERS, TERMINATOR,
} from './constants.js';
import type { HttpRequest } from './request.js';
import { decodeComponent } from './uriEncode.js';

export interface ParsedAuth {
  readonly algorithm: Algorithm;
  /** True when the authentication came in the query string. */
  readonly presigned: boolean;
  readonly accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  readonly scopeDate: string;
  /** Region of the scope; `undefined` for SigV4a, whose scope has none. */
  readonly scopeRegion: string | undefined;
  readonly service: string;
  readonly terminator: string;
  /** `date/region/service/aws4_request` (v4) or `date/service/aws4_request` (v4a). */
  readonly scope: string;
  /** `accessKeyId/scope`, as in the Credential: the name of the key that signed. */
  readonly credential: string;
  /** The request time in ISO 8601 basic format, as signed. */
  readonly amzDate: string;
  readonly timeMs: number;
  readonly signedHeaders: readonly string[];
  readonly signedHeadersRaw: string;
  readonly signature: string;
  /** Presigned only: lifetime in seconds. */
  readonly expiresS: number | undefined;
  readonly sessionToken: string | undefined;
  /** SigV4a: the regions the signature is good for. */
  readonly regionSet: readonly string[] | undefined;
  /** The payload hash the client declared (`x-amz-content-sha256` or its query twin). */
  readonly declaredPayloadHash: string | undefined;
}

function digits(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return NaN;
    n = n * 10 + c;
  }
  return n;
}

/** Parses `YYYYMMDDTHHMMSSZ`, returning NaN when it is not a real instant. */
export function parseAmzDate(s: string): number {
  if (s.length !== 16 || s[8] !== 'T' || s[15] !== 'Z') return NaN;
  const y = digits(s, 0, 4), mo = digits(s, 4, 6), d = digits(s, 6, 8);
  const h = digits(s, 9, 11), mi = digits(s, 11, 13), se = digits(s, 13, 15);
  // NaN fails every comparison, so a non-digit anywhere lands in the return below.
  if (!(mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 59 && y >= 1970)) return NaN;
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC rolls 31 April over into May; catch that for the days that can roll.
  return d > 28 && new Date(t).getUTCDate() !== d ? NaN : t;
}

export function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]|\.\d{3}/g, '');
}

function fail(code: 'IncompleteSignature' | 'AuthorizationHeaderMalformed' | 'AuthorizationQueryParametersError' | 'MissingAuthenticationToken', message: string): never {
  throw new PortcullisError(code, message);
}

/** Does the request carry any presigned-URL parameter? */
function queryAuthParams(query: string): Map<string, string> | undefined {
  if (!query.includes('X-Amz-')) return undefined;
  let params: Map<string, string> | undefined;
  for (const part of query.split('&')) {
    if (!part.startsWith('X-Amz-')) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : decodeComponent(part.slice(eq + 1));
    params ??= new Map();
    if (params.has(k)) fail('AuthorizationQueryParametersError', `the query parameter \`${quoted(k, 64)}\` appears more than once`);
    params.set(k, v);
  }
  return params;
}

/** Lower-case header names (RFC 9110 tokens; HTTP/2 pseudo-headers keep their colon), `;`-separated. */
const SIGNED_HEADERS = /^:?[a-z0-9!#$%&'*+.^_`|~-]+(?:;:?[a-z0-9!#$%&'*+.^_`|~-]+)*$/;

function splitSignedHeaders(raw: string, onError: (msg: string) => never, checked = false): string[] {
  if (!checked && !SIGNED_HEADERS.test(raw)) onError(`SignedHeaders must be lower-case header names separated by ';', got \`${quoted(raw, 200)}\``);
  const names = raw.split(';');
  if (!names.includes(H_HOST) && !names.includes(':authority')) onError(`the 'host' header must be signed`);
  return names;
}

interface Scope {
  accessKeyId: string;
  scopeDate: string;
  scopeRegion: string | undefined;
  service: string;
  terminator: string;
  scope: string;
  credential: string;
}

function splitCredential(credential: string, algorithm: Algorithm, onError: (msg: string) => never): Scope {
  const v4a = algorithm === ALGORITHM_V4A;
  const parts = credential.split('/');
  if (parts.length !== (v4a ? 4 : 5) || parts.includes('')) {
    const shape = v4a ? '<YOUR-AKID>/YYYYMMDD/SERVICE/aws4_request' : '<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request';
    onError(`the Credential is mal-formed; expecting "${shape}"`);
  }
  const scopeDate = parts[1]!;
  const terminator = parts[parts.length - 1]!;
  if (scopeDate.length !== 8 || Number.isNaN(digits(scopeDate, 0, 8))) onError(`the Credential date \`${quoted(scopeDate, 16)}\` is not in YYYYMMDD format`);
  if (terminator !== TERMINATOR) onError(`Credential should be scoped with a valid terminator: 'aws4_request', not '${quoted(terminator, 32)}'`);
  return {
    accessKeyId: parts[0]!,
    scopeDate,
    scopeRegion: v4a ? undefined : parts[2]!,
    service: parts[parts.length - 2]!,
    terminator,
    scope: credential.slice(parts[0]!.length + 1),
    credential,
  };
}

function algorithmOf(s: string, onError: (msg: string) => never): Algorithm {
  if (s === ALGORITHM_V4 || s === ALGORITHM_V4A) return s;
  return onError(`unsupported signing algorithm \`${quoted(s, 64)}\`; use AWS4-HMAC-SHA256 or AWS4-ECDSA-P256-SHA256`);
}

function single(req: HttpRequest, name: string, onError: (msg: string) => never): string | undefined {
  const value = req.headers.sole(name);
  if (value === null) onError(`the \`${name}\` header appears more than once`);
  return value;
}

/**
 * The SigV4 header as every SDK writes it, checked in one pass; anything else, including
 * every malformed header, goes through the general parser that names the problem.
 */
const USUAL_V4 =
  /^AWS4-HMAC-SHA256 Credential=([A-Za-z0-9]{1,128})\/((\d{8})\/([a-z0-9-]{1,64})\/([a-z0-9-]{1,64})\/aws4_request), ?SignedHeaders=([a-z0-9-]+(?:;[a-z0-9-]+)*), ?Signature=([0-9a-f]{64})$/;

// The usual order of the three components, with or without spaces.
const USUAL_FIELDS = /^Credential=([^\s,=]+), ?SignedHeaders=([^\s,=]+), ?Signature=([^\s,=]+)$/;

interface AuthorizationFields {
  readonly credential: string;
  readonly signedHeaders: string;
  readonly signature: string;
}

function authorizationFields(rest: string, onError: (msg: string) => never): AuthorizationFields {
  const m = USUAL_FIELDS.exec(rest);
  if (m) return { credential: m[1]!, signedHeaders: m[2]!, signature: m[3]! };
  const fields = new Map<string, string>();
  for (const item of rest.split(',')) {
    const t = item.trim();
    const eq = t.indexOf('=');
    if (eq <= 0) onError(`Authorization header requires each component to be of the form name=value, got \`${quoted(t, 32)}\``);
    const k = t.slice(0, eq);
    if (fields.has(k)) onError(`Authorization header has the \`${quoted(k, 32)}\` component more than once`);
    fields.set(k, t.slice(eq + 1));
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !fields.get(k));
  if (missing.length > 0) onError(missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' '));
  return { credential: fields.get('Credential')!, signedHeaders: fields.get('SignedHeaders')!, signature: fields.get('Signature')! };
}

/**
 * What an Authorization header says besides its signature: the same for every request a client
 * signs with one key, scope and header list, so a verifier keeps the last ones it parsed.
 */
interface HeaderAuthPrefix {
  readonly algorithm: Algorithm;
  readonly scope: Scope;
  readonly signedHeaders: readonly string[];
  readonly signedHeadersRaw: string;
  /** Checked by USUAL_V4 and splitSignedHeaders already. */
  readonly usual: boolean;
}

interface MemoEntry extends HeaderAuthPrefix {
  /** The header up to and including `Signature=`. */
  readonly prefix: string;
}

const USUAL_START = ALGORITHM_V4 + ' Credential=';
const SIGNATURE_HEX = 64;
const PREFIXES_PER_KEY = 4;

/**
 * Parsed Authorization prefixes (the header up to its 64-hex-digit signature) by access key,
 * a few per key (a client may sign for several services or header lists). Bounded: when full it
 * starts over, which costs one regex per client and keeps no order to maintain. Only headers in
 * the usual form are kept, so a hit is a prefix the strict pattern passed, compared whole.
 */
export class AuthPrefixMemo {
  readonly #max: number;
  readonly #byKey = new Map<string, MemoEntry[]>();
  /** The last `X-Amz-Date` read and its instant: under load, many requests share a second. */
  #lastDate = '';
  #lastDateMs = NaN;

  constructor(max = 1024) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`memo size must be a positive integer, got \`${max}\``);
    this.#max = max;
  }

  /** The parsed prefix of `authorization`, if it was seen. */
  find(authorization: string): HeaderAuthPrefix | undefined {
    if (authorization.slice(0, USUAL_START.length) !== USUAL_START) return undefined;
    const slash = authorization.indexOf('/', USUAL_START.length);
    const entries = slash < 0 ? undefined : this.#byKey.get(authorization.slice(USUAL_START.length, slash));
    if (entries === undefined) return undefined;
    // A slice compared with `===` is several times faster than startsWith on these lengths.
    const prefix = authorization.slice(0, authorization.length - SIGNATURE_HEX);
    for (const e of entries) if (e.prefix === prefix) return e;
    return undefined;
  }

  /** parseAmzDate, answered from the last call when the date is the same. */
  amzDate(s: string): number {
    if (s !== this.#lastDate) {
      this.#lastDateMs = parseAmzDate(s);
      this.#lastDate = s;
    }
    return this.#lastDateMs;
  }

  remember(authorization: string, parsed: HeaderAuthPrefix): void {
    const key = parsed.scope.accessKeyId;
    let entries = this.#byKey.get(key);
    if (entries === undefined) {
      if (this.#byKey.size >= this.#max) this.#byKey.clear();
      this.#byKey.set(key, (entries = []));
    }
    if (entries.length >= PREFIXES_PER_KEY) entries.shift();
    entries.push({ ...parsed, prefix: authorization.slice(0, authorization.length - SIGNATURE_HEX) });
  }
}

function parseHeaderPrefix(authorization: string, onError: (msg: string) => never): HeaderAuthPrefix & { signature: string } {
  const usual = USUAL_V4.exec(authorization);
  if (usual) {
    return {
      algorithm: ALGORITHM_V4,
      scope: { accessKeyId: usual[1]!, scopeDate: usual[3]!, scopeRegion: usual[4]!, service: usual[5]!, terminator: TERMINATOR, scope: usual[2]!, credential: usual[1]! + '/' + usual[2]! },
      signedHeaders: Object.freeze(splitSignedHeaders(usual[6]!, onError, true)),
      signedHeadersRaw: usual[6]!,
      usual: true,
      signature: usual[7]!,
    };
  }
  const sp = authorization.indexOf(' ');
  const algorithm = algorithmOf(sp < 0 ? authorization : authorization.slice(0, sp), onError);
  const fields = authorizationFields(authorization.slice(sp + 1), onError);
  return {
    algorithm,
    scope: splitCredential(fields.credential, algorithm, (m) => fail('AuthorizationHeaderMalformed', m)),
    signedHeaders: splitSignedHeaders(fields.signedHeaders, onError),
    signedHeadersRaw: fields.signedHeaders,
    usual: false,
    signature: fields.signature,
  };
}

const incomplete: (msg: string) => never = (msg) => fail('IncompleteSignature', msg);

function parseHeaderAuth(req: HttpRequest, authorization: string, memo: AuthPrefixMemo | undefined): ParsedAuth {
  const onError: (msg: string) => never = incomplete;
  let prefix = memo?.find(authorization);
  let signature: string;
  if (prefix !== undefined) {
    signature = authorization.slice(authorization.length - SIGNATURE_HEX);
  } else {
    const parsed = parseHeaderPrefix(authorization, onError);
    prefix = parsed;
    signature = parsed.signature;
    if (parsed.usual) memo?.remember(authorization, { algorithm: parsed.algorithm, scope: parsed.scope, signedHeaders: parsed.signedHeaders, signedHeadersRaw: parsed.signedHeadersRaw, usual: true });
  }
  const { algorithm, scope, signedHeaders } = prefix;

  let amzDate = single(req, H_DATE, onError);
  let timeMs: number;
  let dateHeader = H_DATE;
  if (amzDate !== undefined) {
    timeMs = memo === undefined ? parseAmzDate(amzDate) : memo.amzDate(amzDate);
    if (Number.isNaN(timeMs)) onError(`Date must be in ISO-8601 'basic format'. Got '${quoted(amzDate, 32)}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  } else {
    // Without X-Amz-Date, AWS falls back to the HTTP Date header (RFC 7231 format).
    const http = single(req, H_HTTP_DATE, onError);
    if (http === undefined) onError(`Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.`);
    timeMs = Date.parse(http);
    if (Number.isNaN(timeMs) || !/GMT$/.test(http.trim())) onError(`the Date header \`${quoted(http, 40)}\` is not an HTTP date`);
    timeMs -= timeMs % 1000;
    amzDate = formatAmzDate(timeMs);
    dateHeader = H_HTTP_DATE;
  }
  // An unsigned date could be moved by anyone on the path, which would defeat the expiry window.
  if (!signedHeaders.includes(dateHeader)) onError(`the '${dateHeader}' header must be signed`);

  let regionSet: string[] | undefined;
  if (algorithm === ALGORITHM_V4A) {
    const set = single(req, H_REGION_SET, onError);
    if (set === undefined || !signedHeaders.includes(H_REGION_SET)) onError(`SigV4a requires a signed 'X-Amz-Region-Set' header`);
    regionSet = splitRegionSet(set, onError);
  }

  return {
    algorithm,
    presigned: false,
    accessKeyId: scope.accessKeyId,
    scopeDate: scope.scopeDate,
    scopeRegion: scope.scopeRegion,
    service: scope.service,
    terminator: scope.terminator,
    scope: scope.scope,
    credential: scope.credential,
    amzDate,
    timeMs,
    signedHeaders,
    signedHeadersRaw: prefix.signedHeadersRaw,
    signature,
    expiresS: undefined,
    sessionToken: single(req, H_SECURITY_TOKEN, onError),
    regionSet,
    declaredPayloadHash: single(req, H_CONTENT_SHA256, onError),
  };
}

function splitRegionSet(set: string, onError: (msg: string) => never): string[] {
  const regions = set.split(',').map((r) => r.trim());
  if (regions.some((r) => !/^[a-z0-9*-]+$/.test(r))) onError(`the region set \`${quoted(set, 64)}\` is malformed`);
  return regions;
}

function parseQueryAuth(params: Map<string, string>): ParsedAuth {
  const onError: (msg: string) => never = (msg) => fail('AuthorizationQueryParametersError', msg);
  const required = [Q_ALGORITHM, Q_CREDENTIAL, Q_SIGNATURE, Q_DATE, Q_SIGNED_HEADERS, Q_EXPIRES];
  if (required.some((k) => !params.get(k))) {
    onError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
  }
  const algorithm = algorithmOf(params.get(Q_ALGORITHM)!, onError);
  const scope = splitCredential(params.get(Q_CREDENTIAL)!, algorithm, onError);
  const signedHeadersRaw = params.get(Q_SIGNED_HEADERS)!;
  const signedHeaders = splitSignedHeaders(signedHeadersRaw, onError);
  const amzDate = params.get(Q_DATE)!;
  const timeMs = parseAmzDate(amzDate);
  if (Number.isNaN(timeMs)) onError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  const expires = params.get(Q_EXPIRES)!;
  if (!/^\d{1,7}$/.test(expires)) onError('X-Amz-Expires should be a number');
  const expiresS = Number(expires);
  if (expiresS > MAX_PRESIGNED_EXPIRES_S) onError(`X-Amz-Expires must be less than a week (in seconds) that is ${MAX_PRESIGNED_EXPIRES_S}`);
  if (expiresS < 1) onError('X-Amz-Expires must be a positive number of seconds');
  let regionSet: string[] | undefined;
  if (algorithm === ALGORITHM_V4A) {
    const set = params.get(Q_REGION_SET);
    if (!set) onError(`SigV4a requires the 'X-Amz-Region-Set' parameter`);
    regionSet = splitRegionSet(set, onError);
  }
  return {
    algorithm,
    presigned: true,
    ...scope,
    amzDate,
    timeMs,
    signedHeaders,
    signedHeadersRaw,
    signature: params.get(Q_SIGNATURE)!,
    expiresS,
    sessionToken: params.get(Q_SECURITY_TOKEN),
    regionSet,
    declaredPayloadHash: params.get(Q_CONTENT_SHA256),
  };
}

/**
 * Reads a request's authentication. Throws a PortcullisError naming what is wrong. With a memo,
 * the Authorization header's prefix is parsed once per client rather than once per request.
 */
export function parseAuth(req: HttpRequest, memo?: AuthPrefixMemo): ParsedAuth {
  const auth = req.headers.sole(H_AUTHORIZATION);
  const params = queryAuthParams(req.query);
  const presigned = params !== undefined && (params.has(Q_ALGORITHM) || params.has(Q_SIGNATURE) || params.has(Q_CREDENTIAL));
  if (auth !== undefined) {
    if (presigned) {
      fail('AuthorizationQueryParametersError', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified');
    }
    if (auth === null) fail('IncompleteSignature', 'the Authorization header appears more than once');
    return parseHeaderAuth(req, auth, memo);
  }
  if (presigned) return parseQueryAuth(params);
  return fail('MissingAuthenticationToken', 'Request is missing Authentication Token');
}

