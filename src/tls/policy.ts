/**
 * The TLS policy of SPEC §1.1 as the complete set of secure-context options. Every option is
 * set here explicitly, never left to Node's defaults or NODE_OPTIONS, and the same function
 * builds the options at start and at every certificate reload: a partial `setSecureContext`
 * would silently fall back to Node's defaults.
 */
import { constants } from 'node:crypto';
import type { SecureContextOptions } from 'node:tls';
import { cipherList, CURVES, minVersionOf, SECURE_OPTIONS, type MinTls } from '../core/tlsSuites.js';

// The suite list lives in core so that the client's agent enforces the very same one.
export { CURVES, isForwardSecret, TLS12_SUITES, TLS13_SUITES, type MinTls } from '../core/tlsSuites.js';

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
    minVersion: minVersionOf(input.minTls),
    maxVersion: 'TLSv1.3',
    ciphers: cipherList(input.minTls),
    ecdhCurve: CURVES,
    honorCipherOrder: true,
    secureOptions: SECURE_OPTIONS | constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
    cert: input.identities.map((i) => i.certPem),
    key: input.identities.map((i) => i.keyPem),
    ...(input.clientCaPem !== undefined ? { ca: input.clientCaPem } : {}),
    requestCert: input.clientCaPem !== undefined,
    rejectUnauthorized: input.clientCaPem !== undefined,
  };
}

/** `TLSv1.3` -> `1.3`, for the portcullis:TlsVersion condition key and metrics. */
export function tlsVersionNumber(version: string): string {
  return version.replace(/^TLSv/, '');
}
