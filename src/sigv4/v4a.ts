/**
 * SigV4a: the ECDSA P-256 key pair derived from an access key, and signature checks with it.
 *
 * The private scalar comes from NIST SP 800-108 counter-mode KDF with HMAC-SHA256, keyed with
 * "AWS4A" + secret, over 0x00000001 || "AWS4-ECDSA-P256-SHA256" || 0x00 || access key ID ||
 * counter || 0x00000100. With c the output as an integer, d = c + 1 when c <= n - 2; otherwise
 * the counter goes up by one and the KDF runs again.
 */
import { createECDH, createHmac, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { ALGORITHM_V4A, KEY_PREFIX_V4A } from './constants.js';

/** The order of the P-256 group. */
const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

export interface V4aKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

function b64url(b: Uint8Array): string {
  return Buffer.from(b).toString('base64url');
}

export function deriveV4aKeyPair(accessKeyId: string, secret: string): V4aKeyPair {
  const key = KEY_PREFIX_V4A + secret;
  for (let counter = 1; counter <= 254; counter++) {
    const input = Buffer.concat([
      Buffer.from([0, 0, 0, 1]),
      Buffer.from(ALGORITHM_V4A, 'utf8'),
      Buffer.from([0]),
      Buffer.from(accessKeyId, 'utf8'),
      Buffer.from([counter]),
      Buffer.from([0, 0, 1, 0]),
    ]);
    const c = BigInt('0x' + createHmac('sha256', key).update(input).digest('hex'));
    if (c > P256_N - 2n) continue;
    const d = Buffer.from((c + 1n).toString(16).padStart(64, '0'), 'hex');
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(d);
    const point = ecdh.getPublicKey(); // 0x04 || X || Y
    const jwk = { kty: 'EC', crv: 'P-256', x: b64url(point.subarray(1, 33)), y: b64url(point.subarray(33, 65)) };
    return {
      privateKey: createPrivateKey({ key: { ...jwk, d: b64url(d) }, format: 'jwk' }),
      publicKey: createPublicKey({ key: jwk, format: 'jwk' }),
    };
  }
  // Unreachable in practice: each round fails with probability about 2^-32.
  throw new Error('sigv4a key derivation did not converge');
}

/** The public point as hex X and Y, the form AWS's test suite publishes. */
export function publicKeyXY(publicKey: KeyObject): { x: string; y: string } {
  const jwk = publicKey.export({ format: 'jwk' });
  return { x: Buffer.from(jwk.x!, 'base64url').toString('hex'), y: Buffer.from(jwk.y!, 'base64url').toString('hex') };
}

/** DER-encoded ECDSA signature over SHA-256 of the string to sign, as hex. */
export function signV4a(privateKey: KeyObject, stringToSign: string): string {
  return sign('sha256', Buffer.from(stringToSign, 'utf8'), { key: privateKey, dsaEncoding: 'der' }).toString('hex');
}

export function verifyV4a(publicKey: KeyObject, stringToSign: string, signatureHex: string): boolean {
  // A DER P-256 signature is at most 72 bytes.
  if (!/^(?:[0-9a-f]{2}){8,72}$/.test(signatureHex)) return false;
  try {
    return verify('sha256', Buffer.from(stringToSign, 'utf8'), { key: publicKey, dsaEncoding: 'der' }, Buffer.from(signatureHex, 'hex'));
  } catch {
    return false; // malformed DER
  }
}

/** Does a region-set entry (`*`, `us-*`, `us-east-1`) cover `region`? */
export function regionSetCovers(regionSet: readonly string[], region: string): boolean {
  return regionSet.some((pattern) => {
    if (!pattern.includes('*')) return pattern === region;
    const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, '\\$&')).join('.*') + '$');
    return re.test(region);
  });
}
