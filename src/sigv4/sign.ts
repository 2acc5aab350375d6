/**
 * Signing and presigning with the same canonicalization the verifier uses, for our client SDK
 * and for tests. A `Signer` owns its own bounded caches of derived keys.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { canonicalHeaders, HeaderMap } from './canonicalHeaders.js';
import { canonicalQueryFromRaw } from './canonicalQuery.js';
import { canonicalRequest, sha256Hex, stringToSign } from './canonicalRequest.js';
import { canonicalUri, NORMALIZING_RULES, S3_RULES, type CanonicalRules } from './canonicalUri.js';
import {
  ALGORITHM_V4, ALGORITHM_V4A, type Algorithm, H_CONTENT_SHA256, H_DATE, H_REGION_SET, H_SECURITY_TOKEN,
  MAX_PRESIGNED_EXPIRES_S, Q_ALGORITHM, Q_CREDENTIAL, Q_DATE, Q_EXPIRES, Q_REGION_SET, Q_SECURITY_TOKEN,
  Q_SIGNATURE, Q_SIGNED_HEADERS, TERMINATOR, UNSIGNED_PAYLOAD,
} from './constants.js';
import { formatAmzDate } from './parse.js';
import { Lru, SigningKeyCache, type SigningKey } from './signingKey.js';
import { uriEncode } from './uriEncode.js';
import { deriveV4aKeyPair, signV4a, type V4aKeyPair } from './v4a.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

export interface RequestToSign {
  readonly method: string;
  /** The path as it will go on the wire (percent-encoded). */
  readonly path: string;
  /** The raw query string as it will go on the wire, without `?`. */
  readonly query?: string;
  /** Must include `host`. A list value is a header sent several times. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Uint8Array;
}

export interface SignOptions {
  readonly credentials: Credentials;
  readonly region: string;
  readonly service: string;
  readonly algorithm?: Algorithm;
  /** SigV4a: regions the signature is good for; default `[region]`. */
  readonly regionSet?: readonly string[];
  /** Default: S3 rules for `s3`, normalizing otherwise. */
  readonly rules?: CanonicalRules;
  /** Hex SHA-256, `UNSIGNED-PAYLOAD` or a `STREAMING-*` value; default: hash of `body`. */
  readonly payloadHash?: string;
  /** Send the payload hash as `x-amz-content-sha256` (S3 requires it). Default: for s3 only. */
  readonly contentSha256Header?: boolean;
  /** Leave the session token out of what is signed, and add it afterwards. */
  readonly tokenAfterSigning?: boolean;
}

export interface SignedRequest {
  /** All headers to send, the given ones plus the signature's. */
  readonly headers: Record<string, string | readonly string[]>;
  readonly signature: string;
  readonly amzDate: string;
  readonly scope: string;
  /** Chunked bodies: the key that signs the chunks (SigV4 only). */
  readonly signingKey: SigningKey | undefined;
}

export interface PresignedRequest {
  /** The full raw query string to send, without `?`. */
  readonly query: string;
  /** path + `?` + query */
  readonly target: string;
  readonly signature: string;
}

/** Headers that proxies may change and that no signer includes. */
const UNSIGNABLE = new Set(['authorization', 'user-agent', 'x-amzn-trace-id', 'expect', 'connection', 'transfer-encoding', 'content-length-will-change']);

export class Signer {
  readonly #clock: Clock;
  readonly #keys: SigningKeyCache;
  readonly #v4aKeys: Lru<string, { secret: string; pair: V4aKeyPair }>;

  constructor(opts: { clock?: Clock; keyCacheSize?: number } = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#keys = new SigningKeyCache(opts.keyCacheSize ?? 64);
    this.#v4aKeys = new Lru(opts.keyCacheSize ?? 64);
  }

  /** Adds `Authorization`, `X-Amz-Date` and, where they apply, the token and payload headers. */
  sign(req: RequestToSign, opts: SignOptions): SignedRequest {
    const algorithm = opts.algorithm ?? ALGORITHM_V4;
    const rules = opts.rules ?? (opts.service === 's3' ? S3_RULES : NORMALIZING_RULES);
    const amzDate = formatAmzDate(this.#clock());
    const scope = this.#scope(algorithm, amzDate, opts);
    const payloadHash = opts.payloadHash ?? sha256Hex(req.body ?? '');
    const headers: Record<string, string | readonly string[]> = { ...req.headers, [H_DATE]: amzDate };
    const token = opts.credentials.sessionToken;
    if (token !== undefined && !opts.tokenAfterSigning) headers[H_SECURITY_TOKEN] = token;
    if (opts.contentSha256Header ?? opts.service === 's3') headers[H_CONTENT_SHA256] = payloadHash;
    if (algorithm === ALGORITHM_V4A) headers[H_REGION_SET] = (opts.regionSet ?? [opts.region]).join(',');

    const map = HeaderMap.fromRecord(headers);
    const signed = [...map.names()].filter((h) => !UNSIGNABLE.has(h)).sort();
    if (!signed.includes('host')) throw new TypeError('the request to sign needs a `host` header');
    const canonical = canonicalRequest(
      req.method, canonicalUri(req.path, rules), canonicalQueryFromRaw(req.query ?? ''),
      canonicalHeaders(map, signed)!, signed.join(';'), payloadHash,
    );
    const { signature, signingKey } = this.#signString(algorithm, amzDate, scope, canonical, opts);
    if (token !== undefined && opts.tokenAfterSigning) headers[H_SECURITY_TOKEN] = token;
    headers['authorization'] =
      `${algorithm} Credential=${opts.credentials.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
    return { headers, signature, amzDate, scope, signingKey };
  }

  /** A presigned URL: the authentication goes in the query string. */
  presign(req: RequestToSign, opts: SignOptions & { readonly expiresIn: number }): PresignedRequest {
    if (!Number.isInteger(opts.expiresIn) || opts.expiresIn < 1 || opts.expiresIn > MAX_PRESIGNED_EXPIRES_S) {
      throw new RangeError(`expiresIn must be 1..${MAX_PRESIGNED_EXPIRES_S} seconds`);
    }
    const algorithm = opts.algorithm ?? ALGORITHM_V4;
    const rules = opts.rules ?? (opts.service === 's3' ? S3_RULES : NORMALIZING_RULES);
    const amzDate = formatAmzDate(this.#clock());
    const scope = this.#scope(algorithm, amzDate, opts);
    const map = HeaderMap.fromRecord(req.headers);
    const signed = [...map.names()].filter((h) => !UNSIGNABLE.has(h)).sort();
    if (!signed.includes('host')) throw new TypeError('the request to sign needs a `host` header');
    const token = opts.credentials.sessionToken;
    const params: Array<[string, string]> = [
      [Q_ALGORITHM, algorithm],
      [Q_CREDENTIAL, `${opts.credentials.accessKeyId}/${scope}`],
      [Q_DATE, amzDate],
      [Q_EXPIRES, String(opts.expiresIn)],
      [Q_SIGNED_HEADERS, signed.join(';')],
    ];
    if (algorithm === ALGORITHM_V4A) params.push([Q_REGION_SET, (opts.regionSet ?? [opts.region]).join(',')]);
    if (token !== undefined && !opts.tokenAfterSigning) params.push([Q_SECURITY_TOKEN, token]);
    const encoded = (ps: Array<[string, string]>) => ps.map(([k, v]) => `${uriEncode(k)}=${uriEncode(v)}`).join('&');
    let query = [req.query, encoded(params)].filter((q) => q).join('&');
    const payloadHash = opts.payloadHash ?? (rules === S3_RULES ? UNSIGNED_PAYLOAD : sha256Hex(req.body ?? ''));
    const canonical = canonicalRequest(
      req.method, canonicalUri(req.path, rules), canonicalQueryFromRaw(query),
      canonicalHeaders(map, signed)!, signed.join(';'), payloadHash,
    );
    const { signature } = this.#signString(algorithm, amzDate, scope, canonical, opts);
    if (token !== undefined && opts.tokenAfterSigning) query += '&' + encoded([[Q_SECURITY_TOKEN, token]]);
    query += '&' + encoded([[Q_SIGNATURE, signature]]);
    return { query, target: `${req.path}?${query}`, signature };
  }

  #scope(algorithm: Algorithm, amzDate: string, opts: SignOptions): string {
    const date = amzDate.slice(0, 8);
    return algorithm === ALGORITHM_V4A ? `${date}/${opts.service}/${TERMINATOR}` : `${date}/${opts.region}/${opts.service}/${TERMINATOR}`;
  }

  #signString(algorithm: Algorithm, amzDate: string, scope: string, canonical: string, opts: SignOptions) {
    const { accessKeyId, secretAccessKey } = opts.credentials;
    const sts = stringToSign(algorithm, amzDate, scope, canonical);
    if (algorithm === ALGORITHM_V4A) {
      let hit = this.#v4aKeys.get(accessKeyId);
      if (hit === undefined || hit.secret !== secretAccessKey) {
        hit = { secret: secretAccessKey, pair: deriveV4aKeyPair(accessKeyId, secretAccessKey) };
        this.#v4aKeys.set(accessKeyId, hit);
      }
      return { signature: signV4a(hit.pair.privateKey, sts), signingKey: undefined };
    }
    const signingKey = this.#keys.get(accessKeyId, secretAccessKey, scope);
    return { signature: signingKey.sign(sts), signingKey };
  }
}
