/**
 * Exit codes scripts can rely on (documented in docs/client.md), and what each failure tells
 * the user to do next.
 */
import { ClientError, CredentialsInvalid, CredentialsNotFound, NetworkError, ServiceError, Timeout, TlsRefused } from '../client/errors.js';

export const EXIT = {
  /** Success. */
  ok: 0,
  /** Something unexpected (a bug): the message says what. */
  internal: 1,
  /** Bad command line or configuration. */
  usage: 2,
  /** No credentials could be resolved, or their source failed. */
  credentials: 3,
  /** The endpoint could not be reached, or its TLS was refused. */
  connection: 4,
  /** The service refused the request (an AWS 4xx error such as AccessDenied or NoSuchEntity). */
  refused: 5,
  /** The service failed (5xx) or kept throttling after retries. */
  serviceFailure: 6,
  /** `doctor`: at least one check failed. */
  checkFailed: 7,
} as const;

export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** The command whose --help would help, e.g. `users create`. */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super(message);
    this.command = command;
  }
}

/** Hints for AWS error codes: what to do next. */
const HINTS: Readonly<Record<string, string>> = {
  AccessDenied: 'the caller\'s policies do not allow this; see why with `portcullis simulate --principal ARN --action ACTION`, or use another profile',
  InvalidClientTokenId: 'the access key is unknown, deleted or inactive; check `portcullis sts whoami` and the profile or AWS_ACCESS_KEY_ID in use',
  SignatureDoesNotMatch: 'the secret key does not match the access key, or the clock is off; `portcullis doctor` checks both',
  ExpiredToken: 'the temporary credentials have expired; get new ones (assume the role again)',
  NoSuchEntity: 'check the name; `list` shows what exists',
  EntityAlreadyExists: 'pick another name, or use the existing one',
  DeleteConflict: 'remove what is attached first, or pass --force where the command offers it',
  MalformedPolicyDocument: 'fix the policy document; the message names the problem',
  ValidationError: 'a parameter is out of range or badly formed; see --help',
  Throttling: 'the service is throttling; wait and try again',
};

export interface Failure {
  readonly exitCode: number;
  readonly message: string;
}

/** The exit code and message (with a next step) for an error. */
export function describeFailure(e: unknown): Failure {
  if (e instanceof UsageError) {
    return { exitCode: EXIT.usage, message: `${e.message}\nRun \`portcullis ${e.command ? `${e.command} ` : ''}--help\` for usage and examples.` };
  }
  if (e instanceof CredentialsNotFound || e instanceof CredentialsInvalid) return { exitCode: EXIT.credentials, message: e.message };
  if (e instanceof TlsRefused) return { exitCode: EXIT.connection, message: e.message };
  if (e instanceof NetworkError || e instanceof Timeout) return { exitCode: EXIT.connection, message: `${e.message}\nCheck --endpoint-url (or PORTCULLIS_ENDPOINT); \`portcullis doctor\` checks the connection.` };
  if (e instanceof ServiceError) {
    const hint = HINTS[e.awsCode];
    const rid = e.requestId ? ` (request id ${e.requestId})` : '';
    return {
      exitCode: e.status >= 500 || e.status === 429 || e.awsCode === 'Throttling' ? EXIT.serviceFailure : EXIT.refused,
      message: `${e.awsCode}: ${e.message}${rid}${hint ? `\n${hint}.` : ''}`,
    };
  }
  if (e instanceof ClientError) return { exitCode: EXIT.internal, message: e.message };
  return { exitCode: EXIT.internal, message: `unexpected error: ${e instanceof Error ? e.message : String(e)}` };
}
