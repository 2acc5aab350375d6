/**
 * The standard credential chain, with AWS's conventions:
 * https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html
 *
 * - `fromEnv`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CREDENTIAL_EXPIRATION`.
 * - `fromProfile`: a profile of the shared files: static keys; `role_arn` with `source_profile` or
 *   `credential_source` (`Environment`), `external_id`, `duration_seconds`, `role_session_name`;
 *   `role_arn` with `web_identity_token_file`; `credential_process`.
 * - `fromProcess`: a `credential_process` command (JSON `Version: 1` on stdout).
 * - `fromTokenFile`: `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`.
 * - `defaultProvider`: the chain env -> profile -> token file, memoized.
 */
import { chain, memoize, type CredentialProvider, type MemoizedProvider } from './credentials.js';
import { fromEnv } from './fromEnv.js';
import { fromProfile } from './fromProfile.js';
import { fromTokenFile } from './fromWebIdentity.js';
import { envOf, type ProviderOptions } from './providerOptions.js';

export interface DefaultProviderOptions extends ProviderOptions {
  /** An explicit profile (e.g. `--profile`); with it, or with AWS_PROFILE, environment keys are not consulted. */
  readonly profile?: string;
  /** Refresh this long before expiry (default 5 min). */
  readonly refreshBeforeMs?: number;
  /** Links tried after the standard ones (the CLI adds the local data dir's credentials). */
  readonly fallback?: readonly CredentialProvider[];
}

/**
 * The standard chain, memoized: environment (unless a profile is named, as the AWS SDK for
 * JavaScript does), the profile of the shared files, the web identity token file.
 */
export function defaultProvider(opts: DefaultProviderOptions = {}): MemoizedProvider {
  const env = envOf(opts);
  const namedProfile = opts.profile || env['AWS_PROFILE'];
  return memoize(
    chain(...(namedProfile ? [] : [fromEnv(opts)]), fromProfile(opts), fromTokenFile(opts), ...(opts.fallback ?? [])),
    { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}) },
  );
}
