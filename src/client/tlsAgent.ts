/**
 * An HTTPS agent with the gateway's own TLS policy (SPEC §1.1): TLS 1.2 or 1.3 only, the
 * forward-secret AEAD suites of `core/tlsSuites.ts` only, certificates always verified (against
 * the system's roots, or a custom CA bundle). Every option is set here, so neither Node's
 * defaults nor NODE_OPTIONS nor NODE_TLS_REJECT_UNAUTHORIZED can weaken it.
 */
import { readFileSync } from 'node:fs';
import { Agent, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { cipherList, CURVES, isForwardSecret, minVersionOf, SECURE_OPTIONS, type MinTls } from '../core/tlsSuites.js';
import { TlsRefused } from './errors.js';

export interface TlsOptions {
  /** Default `1.2`. */
  readonly minTls?: MinTls;
  /** PEM bundle that replaces the system's roots (as `AWS_CA_BUNDLE` does). */
  readonly ca?: string;
  /** A file holding such a bundle. */
  readonly caFile?: string;
  /** A client certificate and its key (PEM), for servers that require mTLS. */
  readonly cert?: string;
  readonly key?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly keepAlive?: boolean;
}

/** Certificate verification failures, as Node and OpenSSL name them. */
const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE', 'INVALID_CA', 'ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH',
]);

/** Handshake failures that mean "no protocol version in common". */
const VERSION_CODES = new Set(['ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'ERR_SSL_UNSUPPORTED_PROTOCOL', 'ERR_SSL_WRONG_SSL_VERSION', 'ERR_SSL_UNKNOWN_PROTOCOL']);

/** Handshake failures that mean "no suite in common". */
const SUITE_CODES = new Set(['ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE', 'ERR_SSL_NO_SHARED_CIPHER', 'ERR_SSL_NO_CIPHERS_AVAILABLE', 'ERR_SSL_WRONG_CIPHER_RETURNED']);

/**
 * A handshake the server ends with an alert reaches Node as a bare `EPROTO` socket error; the
 * only structured part is the TLS alert number OpenSSL appends (RFC 8446 §6: 70
 * protocol_version, 40 handshake_failure, 71 insufficient_security), read here into the code
 * OpenSSL gives the same failure elsewhere.
 */
function alertCode(e: unknown): string | undefined {
  const n = /SSL alert number (\d+)/.exec(e instanceof Error ? e.message : '')?.[1];
  if (n === '70') return 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION';
  if (n === '40' || n === '71') return 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE';
  if (n === '116') return 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED';
  if (n === '42') return 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE';
  if (n === '48') return 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA';
  return undefined;
}

/** The server's verdict on our client certificate (mTLS). */
const CLIENT_CERT_CODES = new Set(['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA']);

/** Turns a connection error into `TlsRefused` when it is one, with what to do next; else undefined. */
export function tlsFailure(e: unknown, target: string): TlsRefused | undefined {
  if (e instanceof TlsRefused) return e;
  const raw = (e as { code?: unknown } | null)?.code;
  if (typeof raw !== 'string') return undefined;
  const code = raw === 'EPROTO' ? (alertCode(e) ?? raw) : raw;
  if (CERT_CODES.has(code)) {
    return new TlsRefused(
      `the certificate of ${target} does not verify (${code}). If the server uses your own CA or a self-signed certificate, ` +
        'pass its PEM with --ca-bundle FILE (or AWS_CA_BUNDLE, or ca_bundle in the profile); verification is never turned off.',
      code, { cause: e },
    );
  }
  if (VERSION_CODES.has(code)) {
    return new TlsRefused(`${target} offers no TLS version we accept (${code}): TLS 1.2 or 1.3 is required; the server must be upgraded.`, code, { cause: e });
  }
  if (SUITE_CODES.has(code)) {
    return new TlsRefused(
      `${target} and this client share no cipher suite (${code}): only forward-secret (ECDHE) AEAD suites are accepted; the server must enable one.`,
      code, { cause: e },
    );
  }
  if (CLIENT_CERT_CODES.has(code)) {
    return new TlsRefused(
      code === 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED'
        ? `${target} requires a client certificate (mTLS) (${code}): pass --client-cert FILE and --client-key FILE (SDK: cert and key)`
        : `${target} refused our client certificate (${code}): it must be signed by a CA the server trusts`,
      code, { cause: e },
    );
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO') return new TlsRefused(`the TLS handshake with ${target} failed (${code})`, code, { cause: e });
  return undefined;
}

/** An `https.Agent` that connects only as the policy allows and checks what was negotiated. */
export class PolicyAgent extends Agent {
  readonly minTls: MinTls;

  constructor(opts: TlsOptions = {}) {
    const minTls = opts.minTls ?? '1.2';
    const ca = opts.ca ?? (opts.caFile !== undefined ? readFileSync(opts.caFile, 'utf8') : undefined);
    const cert = opts.cert ?? (opts.certFile !== undefined ? readFileSync(opts.certFile, 'utf8') : undefined);
    const key = opts.key ?? (opts.keyFile !== undefined ? readFileSync(opts.keyFile, 'utf8') : undefined);
    if ((cert === undefined) !== (key === undefined)) throw new TypeError('a client certificate needs its key, and a key its certificate');
    super({
      minVersion: minVersionOf(minTls),
      maxVersion: 'TLSv1.3',
      ciphers: cipherList(minTls),
      ecdhCurve: CURVES,
      secureOptions: SECURE_OPTIONS,
      rejectUnauthorized: true,
      keepAlive: opts.keepAlive ?? true,
      ...(ca !== undefined ? { ca } : {}),
      ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    });
    this.minTls = minTls;
  }

  // INVARIANT: a connection whose negotiated version or suite is outside the policy carries no
  // request. The options above already make such a handshake impossible; this check keeps it so
  // if OpenSSL ever disagrees with them.
  override createConnection(options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback) as TLSSocket | null | undefined;
    socket?.once('secureConnect', () => {
      const version = socket.getProtocol() ?? '';
      const suite = socket.getCipher()?.standardName ?? '';
      const okVersion = version === 'TLSv1.3' || (version === 'TLSv1.2' && this.minTls === '1.2');
      const okSuite = isForwardSecret(version, socket.getCipher()?.name ?? '') && /GCM|CHACHA20/.test(suite);
      if (!okVersion || !okSuite) {
        socket.destroy(new TlsRefused(`the server negotiated ${version} with ${suite}, which the TLS policy does not allow`, 'POLICY_VIOLATION'));
      }
    });
    return socket;
  }
}
