/** Role credentials from STS AssumeRole, signed with another provider's credentials. */
import { systemClock } from '../core/clock.js';
import type { CredentialProvider } from './credentials.js';
import { CredentialsInvalid, ServiceError } from './errors.js';
import { sessionName, type ProviderOptions } from './providerOptions.js';
import { StsClient } from './sts.js';

/** Assumes a role with the credentials of `source`. */
export function fromAssumeRole(source: CredentialProvider, input: { roleArn: string; roleSessionName?: string; externalId?: string; durationSeconds?: number; where: string }, opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const clock = opts.clock ?? systemClock;
    const sts = new StsClient({ ...opts.sts, credentials: source, ...(opts.clock ? { clock: opts.clock } : {}) });
    try {
      const r = await sts.assumeRole({
        roleArn: input.roleArn,
        roleSessionName: input.roleSessionName ?? sessionName(clock),
        ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
        ...(input.durationSeconds !== undefined ? { durationSeconds: input.durationSeconds } : {}),
      });
      return { ...r.credentials, source: input.where };
    } catch (e) {
      if (e instanceof ServiceError) {
        throw new CredentialsInvalid(`${input.where}: AssumeRole of ${input.roleArn} was refused: ${e.awsCode}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`, { cause: e });
      }
      throw e;
    }
  };
}
