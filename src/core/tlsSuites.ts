/**
 * The TLS versions, suites and groups of SPEC §1.1, in one place for both ends: the gateway's
 * listener (`src/tls/policy.ts`) and the client's agent (`src/client/tlsAgent.ts`) read them
 * from here, so a suite added or dropped changes both.
 */
import { constants } from 'node:crypto';

export type MinTls = '1.2' | '1.3';

/** TLS 1.3 suites: all AEAD and forward-secret by construction. */
export const TLS13_SUITES = ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'] as const;

/** TLS 1.2 suites: ECDHE key exchange and AEAD only. No static RSA, no CBC, no DHE (we set no DH params). */
export const TLS12_SUITES = [
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
] as const;

export const CURVES = 'X25519:P-256:P-384';

/** OpenSSL's cipher string for a minimum version: one list, Node routes the TLS_* names to TLS 1.3. */
export function cipherList(minTls: MinTls): string {
  return [...TLS13_SUITES, ...(minTls === '1.3' ? [] : TLS12_SUITES)].join(':');
}

/** Node's `minVersion` for a minimum version. */
export function minVersionOf(minTls: MinTls): 'TLSv1.2' | 'TLSv1.3' {
  return minTls === '1.3' ? 'TLSv1.3' : 'TLSv1.2';
}

/** Forward secrecy follows from the suite: every TLS 1.3 suite, and the ECDHE/DHE TLS 1.2 ones. */
export function isForwardSecret(version: string, suite: string): boolean {
  return version === 'TLSv1.3' || /^(ECDHE|DHE)-/.test(suite);
}

/** Never SSL, TLS 1.0 or 1.1, whatever the version bounds say; no compression, no renegotiation. */
export const SECURE_OPTIONS =
  constants.SSL_OP_NO_SSLv2 | constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 |
  constants.SSL_OP_NO_COMPRESSION | constants.SSL_OP_NO_RENEGOTIATION;
