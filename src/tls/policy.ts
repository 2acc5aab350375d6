/**
 * The TLS policy of SPEC §1.1 as the complete set of secure-context options. Every option is
 * set here explicitly, never left to Node's defaults or NODE_OPTIONS, and the same function
 * builds the options at start and at every certificate reload: a partial `setSecureContext`
 * would silently fall back to Node's defaults.
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';

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

export interface Identity {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface TlsPolicyInput {
  readonly minTls: MinTls;
  /** One or more certificate/key pairs (ECDSA and RSA served together). */
  readonly identities: readonly Identity[];
  /** PEM CA bundle; when set, clients must present a certificate it signed (mTLS). */
  readonly clientCaPem?: string | undefined;
}

export function secureContextOptions(input: TlsPolicyInput): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  if (input.identities.length === 0) throw new Error('tls: at least one certificate and key are needed');
  return {
    minVersion: input.minTls === '1.3' ? 'TLSv1.3' : 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    // One list for both versions: Node routes the TLS_* names to TLS 1.3.
    ciphers: [...TLS13_SUITES, ...(input.minTls === '1.3' ? [] : TLS12_SUITES)].join(':'),
    ecdhCurve: CURVES,
    honorCipherOrder: true,
    secureOptions:
      constants.SSL_OP_NO_SSLv2 | constants.SSL_OP_NO_SSLv3 | constants.SSL_OP_NO_TLSv1 | constants.SSL_OP_NO_TLSv1_1 |
      constants.SSL_OP_NO_COMPRESSION | constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
    cert: input.identities.map((i) => i.certPem),
    key: input.identities.map((i) => i.keyPem),
    ...(input.clientCaPem !== undefined ? { ca: input.clientCaPem } : {}),
    requestCert: input.clientCaPem !== undefined,
    rejectUnauthorized: input.clientCaPem !== undefined,
  };
}

/** Forward secrecy follows from the suite: every TLS 1.3 suite, and the ECDHE/DHE TLS 1.2 ones. */
export function isForwardSecret(version: string, suite: string): boolean {
  return version === 'TLSv1.3' || /^(ECDHE|DHE)-/.test(suite);
}

/** `TLSv1.3` -> `1.3`, for the portcullis:TlsVersion condition key and metrics. */
export function tlsVersionNumber(version: string): string {
  return version.replace(/^TLSv/, '');
}
