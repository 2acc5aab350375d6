import * as crypto from 'node:crypto';
import type { HttpRequest } from './request.js';
import { canonicalUri, type CanonicalRules } from './canonicalUri.js';
import { canonicalQueryFromRaw } from './canonicalQuery.js';
import { canonicalHeaders } from './canonicalHeaders.js';

/**
 * CanonicalRequest =
 *   Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n PayloadHash
 * where CanonicalHeaders already ends in `\n` (hence the blank line before SignedHeaders).
 */
export function canonicalRequest(
  method: string,
  uri: string,
  query: string,
  headers: string,
  signedHeaders: string,
  payloadHash: string,
): string {
  return method + '\n' + uri + '\n' + query + '\n' + headers + '\n' + signedHeaders + '\n' + payloadHash;
}

type OneShotHash = (algorithm: string, data: string | Uint8Array, encoding: 'hex' | 'latin1') => string;
// crypto.hash (Node >= 20.12) is about twice as fast as createHash for small inputs.
const oneShot = (crypto as unknown as { hash?: OneShotHash }).hash;

export const sha256Hex: (data: string | Uint8Array) => string = oneShot
  ? (data) => oneShot('sha256', data, 'hex')
  : (data) => crypto.createHash('sha256').update(data).digest('hex');

/**
 * The SHA-256 digest as a string of 32 characters, one per byte (latin1): handing back a Buffer
 * costs Node about four times as much as the hash of a short input itself.
 */
export const sha256Bytes: (data: string | Uint8Array) => string = oneShot
  ? (data) => oneShot('sha256', data, 'latin1')
  : (data) => crypto.createHash('sha256').update(data).digest('binary'); // 'binary' is latin1

/** StringToSign = Algorithm \n RequestDateTime \n CredentialScope \n hex(SHA256(CanonicalRequest)) */
export function stringToSign(algorithm: string, amzDate: string, scope: string, canonical: string): string {
  return algorithm + '\n' + amzDate + '\n' + scope + '\n' + sha256Hex(canonical);
}


/**
 * The canonical request of a received request, or undefined when one of the signed headers is
 * not in it. `signed` is the SignedHeaders list, parsed and as sent (they are the same names). `excludeQuery` names raw query parameters left out (the presigned signature).
 */
export function canonicalRequestOf(
  req: HttpRequest,
  rules: CanonicalRules,
  signed: { readonly signedHeaders: readonly string[]; readonly signedHeadersRaw: string },
  payloadHash: string,
  excludeQuery?: ReadonlySet<string>,
): string | undefined {
  const headers = canonicalHeaders(req.headers, signed.signedHeaders);
  if (headers === undefined) return undefined;
  return canonicalRequest(
    req.method,
    canonicalUri(req.path, rules),
    canonicalQueryFromRaw(req.query, excludeQuery),
    headers,
    signed.signedHeadersRaw,
    payloadHash,
  );
}
