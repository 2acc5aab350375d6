/**
 * The client's errors: one base class with a stable `code`, one subclass per code. Callers
 * (and the CLI's exit codes) branch on the class or the code, never on a message.
 *
 * Invariant: no message holds a secret access key, a session token or a signature.
 */

export type ClientErrorCode =
  | 'CredentialsNotFound'
  | 'CredentialsInvalid'
  | 'ServiceError'
  | 'TlsRefused'
  | 'NetworkError'
  | 'Timeout';

export abstract class ClientError extends Error {
  abstract readonly code: ClientErrorCode;
}

/**
 * A credential provider found nothing to work with (no variables, no such profile, no token
 * file). A chain moves on to its next link only on this error.
 */
export class CredentialsNotFound extends ClientError {
  readonly code = 'CredentialsNotFound';
  override readonly name = 'CredentialsNotFound';
  /** What each link of a chain said, in order (only on the chain's own error). */
  readonly tried: readonly string[];
  constructor(message: string, opts: { tried?: readonly string[]; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.tried = opts.tried ?? [];
  }
}

/**
 * A provider found its source but the source is wrong or failed (a malformed file, a process
 * that exits non-zero, an AssumeRole that was refused). The chain stops here: trying the next
 * link would quietly use other credentials than the ones the user configured.
 */
export class CredentialsInvalid extends ClientError {
  readonly code = 'CredentialsInvalid';
  override readonly name = 'CredentialsInvalid';
  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
  }
}

/** The service answered with an error (AWS's code, HTTP status and request id). */
export class ServiceError extends ClientError {
  readonly code = 'ServiceError';
  override readonly name = 'ServiceError';
  /** AWS's error code, e.g. `AccessDenied`, `NoSuchEntity`, `Throttling`. */
  readonly awsCode: string;
  readonly status: number;
  readonly requestId: string | undefined;
  /** The query protocol's `<Type>`: `Sender` or `Receiver`. */
  readonly fault: 'Sender' | 'Receiver' | undefined;
  /** How many attempts were made, retries included. */
  readonly attempts: number;
  constructor(init: { awsCode: string; status: number; message: string; requestId?: string | undefined; fault?: 'Sender' | 'Receiver' | undefined; attempts?: number }) {
    super(init.message);
    this.awsCode = init.awsCode;
    this.status = init.status;
    this.requestId = init.requestId;
    this.fault = init.fault;
    this.attempts = init.attempts ?? 1;
  }
}

/**
 * The TLS handshake failed or its result was refused: an old protocol, no forward-secret suite
 * in common, or a certificate that does not verify. Never retried.
 */
export class TlsRefused extends ClientError {
  readonly code = 'TlsRefused';
  override readonly name = 'TlsRefused';
  /** Node's or OpenSSL's error code, e.g. `ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION`, `DEPTH_ZERO_SELF_SIGNED_CERT`. */
  readonly reason: string;
  constructor(message: string, reason: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = reason;
  }
}

/** The connection failed or broke (refused, reset, DNS). */
export class NetworkError extends ClientError {
  readonly code = 'NetworkError';
  override readonly name = 'NetworkError';
  /** Node's error code, e.g. `ECONNREFUSED`. */
  readonly reason: string;
  readonly attempts: number;
  constructor(message: string, reason: string, opts: { cause?: unknown; attempts?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.reason = reason;
    this.attempts = opts.attempts ?? 1;
  }
}

/** No answer within the time allowed. */
export class Timeout extends ClientError {
  readonly code = 'Timeout';
  override readonly name = 'Timeout';
  constructor(message: string) {
    super(message);
  }
}
