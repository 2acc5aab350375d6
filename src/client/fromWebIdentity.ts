/** Role credentials from STS AssumeRoleWithWebIdentity with an OpenID Connect token in a file. */
import { readFileSync } from 'node:fs';
import { systemClock } from '../core/clock.js';
import type { CredentialProvider } from './credentials.js';
import { CredentialsInvalid, CredentialsNotFound, ServiceError } from './errors.js';
import { envOf, sessionName, type ProviderOptions } from './providerOptions.js';
import { StsClient } from './sts.js';

/** AssumeRoleWithWebIdentity with a token read from a file at every refresh (the file rotates). */
export function fromWebIdentity(input: { tokenFile: string; roleArn: string; roleSessionName?: string; durationSeconds?: number; where: string }, opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const clock = opts.clock ?? systemClock;
    let token: string;
    try {
      token = readFileSync(input.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new CredentialsInvalid(`${input.where}: cannot read the web identity token file ${input.tokenFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const sts = new StsClient({ ...opts.sts, ...(opts.clock ? { clock: opts.clock } : {}) });
    try {
      const r = await sts.assumeRoleWithWebIdentity({
        roleArn: input.roleArn,
        roleSessionName: input.roleSessionName ?? sessionName(clock),
        webIdentityToken: token,
        ...(input.durationSeconds !== undefined ? { durationSeconds: input.durationSeconds } : {}),
      });
      return { ...r.credentials, source: input.where };
    } catch (e) {
      if (e instanceof ServiceError) {
        throw new CredentialsInvalid(`${input.where}: AssumeRoleWithWebIdentity of ${input.roleArn} was refused: ${e.awsCode}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`, { cause: e });
      }
      throw e;
    }
  };
}

/** `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (and `AWS_ROLE_SESSION_NAME`). */
export function fromTokenFile(opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const env = envOf(opts);
    const tokenFile = env['AWS_WEB_IDENTITY_TOKEN_FILE'];
    const roleArn = env['AWS_ROLE_ARN'];
    if (!tokenFile || !roleArn) throw new CredentialsNotFound('web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set');
    const name = env['AWS_ROLE_SESSION_NAME'];
    return fromWebIdentity({ tokenFile, roleArn, ...(name ? { roleSessionName: name } : {}), where: 'web-identity' }, opts)();
  };
}
