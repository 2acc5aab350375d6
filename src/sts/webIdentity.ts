/**
 * OpenID Connect ID tokens (JWT, RFC 7519) as AssumeRoleWithWebIdentity takes them: the
 * signature checked against the provider's keys (JWKS, RFC 7517), then issuer, audience and
 * time. Pure: the keys and the clock come in.
 */
import { createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { PortcullisError } from '../core/errors.js';

export interface Jwks {
  readonly keys: readonly (JsonWebKey & { kid?: string; alg?: string; use?: string })[];
}

export interface IdToken {
  readonly iss: string;
  readonly sub: string;
  /** The audience that matched one of the provider's client IDs. */
  readonly aud: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** JWS algorithms accepted: RSA PKCS#1 v1.5, RSA-PSS and ECDSA. Never `none`, never HMAC. */
const ALGORITHMS: Readonly<Record<string, { hash: string; kind: 'rsa' | 'pss' | 'ec' }>> = {
  RS256: { hash: 'sha256', kind: 'rsa' },
  RS384: { hash: 'sha384', kind: 'rsa' },
  RS512: { hash: 'sha512', kind: 'rsa' },
  PS256: { hash: 'sha256', kind: 'pss' },
  PS384: { hash: 'sha384', kind: 'pss' },
  ES256: { hash: 'sha256', kind: 'ec' },
  ES384: { hash: 'sha384', kind: 'ec' },
};

function invalid(message: string): never {
  throw new PortcullisError('InvalidIdentityToken', message);
}

function json(part: string, what: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  return invalid(`The web identity token's ${what} is not a JSON object.`);
}

/** The issuer a token claims, read before its signature is checked (to find the provider). */
export function claimedIssuer(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3 || token.length > 20_000) invalid('The web identity token is not a JWT.');
  const iss = json(parts[1]!, 'payload')['iss'];
  if (typeof iss !== 'string' || iss === '') invalid('The web identity token has no issuer.');
  return iss;
}

export interface VerifyIdTokenOptions {
  readonly jwks: Jwks;
  readonly issuer: string;
  /** The provider's client IDs: `aud` (or, for several audiences, `azp`) must be one. */
  readonly clientIds: readonly string[];
  readonly nowMs: number;
  /** Tolerated clock difference for exp/nbf/iat. */
  readonly skewS?: number;
}

export function verifyIdToken(token: string, opts: VerifyIdTokenOptions): IdToken {
  const parts = token.split('.');
  if (parts.length !== 3) invalid('The web identity token is not a JWT.');
  const header = json(parts[0]!, 'header');
  const alg = Object.hasOwn(ALGORITHMS, String(header['alg'])) ? ALGORITHMS[String(header['alg'])] : undefined;
  if (alg === undefined) invalid(`The web identity token's algorithm \`${String(header['alg']).slice(0, 16)}\` is not accepted.`);
  const kid = header['kid'];
  const candidates = opts.jwks.keys.filter((k) => (kid === undefined || k.kid === kid) && (k.use === undefined || k.use === 'sig') && (k.alg === undefined || k.alg === header['alg']));
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  const signature = Buffer.from(parts[2]!, 'base64url');
  const ok = candidates.some((jwk) => {
    try {
      const key = createPublicKey({ key: jwk, format: 'jwk' });
      if (alg.kind === 'ec') return verify(alg.hash, signed, { key, dsaEncoding: 'ieee-p1363' }, signature);
      if (alg.kind === 'pss') return verify(alg.hash, signed, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 }, signature);
      return verify(alg.hash, signed, key, signature);
    } catch {
      return false;
    }
  });
  if (!ok) invalid('The web identity token signature could not be verified against the provider keys.');

  const claims = json(parts[1]!, 'payload');
  if (claims['iss'] !== opts.issuer) invalid('The web identity token was not issued by this provider.');
  const now = opts.nowMs / 1000;
  const skew = opts.skewS ?? 60;
  const exp = claims['exp'];
  if (typeof exp !== 'number') invalid('The web identity token has no expiry.');
  if (now > exp + skew) throw new PortcullisError('ExpiredWebIdentityToken', 'Token expired: current date/time must be before the expiration date/time.');
  if (typeof claims['nbf'] === 'number' && now + skew < claims['nbf']) invalid('The web identity token is not valid yet.');
  const audiences = Array.isArray(claims['aud']) ? claims['aud'].filter((a): a is string => typeof a === 'string') : typeof claims['aud'] === 'string' ? [claims['aud']] : [];
  const azp = typeof claims['azp'] === 'string' ? claims['azp'] : undefined;
  const aud = audiences.find((a) => opts.clientIds.includes(a)) ?? (azp !== undefined && opts.clientIds.includes(azp) ? azp : undefined);
  if (aud === undefined) invalid('Incorrect token audience.');
  const sub = claims['sub'];
  if (typeof sub !== 'string' || sub === '') invalid('The web identity token has no subject.');
  return { iss: opts.issuer, sub, aud, claims };
}
