/**
 * Credentials from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and
 * `AWS_CREDENTIAL_EXPIRATION`.
 */
import type { CredentialProvider } from './credentials.js';
import { CredentialsInvalid, CredentialsNotFound } from './errors.js';
import { envOf, type ProviderOptions } from './providerOptions.js';

export function fromEnv(opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const env = envOf(opts);
    const id = env['AWS_ACCESS_KEY_ID'];
    const secret = env['AWS_SECRET_ACCESS_KEY'];
    if (!id && !secret) throw new CredentialsNotFound('environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
    if (!id || !secret) {
      throw new CredentialsInvalid(`environment: ${id ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not set but ${id ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is; set both or neither`);
    }
    const exp = env['AWS_CREDENTIAL_EXPIRATION'];
    const expiration = exp ? Date.parse(exp) : undefined;
    if (expiration !== undefined && Number.isNaN(expiration)) throw new CredentialsInvalid('environment: AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time');
    return { accessKeyId: id, secretAccessKey: secret, sessionToken: env['AWS_SESSION_TOKEN'] || undefined, expiration, source: 'env' };
  };
}
