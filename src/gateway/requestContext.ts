/**
 * The condition keys Portcullis fills from a request it authenticated.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 */
import { isoSeconds } from '../core/clock.js';
import type { Principal } from '../core/principal.js';
import { RequestContext } from '../iam/context.js';
import { tlsVersionNumber } from '../tls/policy.js';

export interface ContextInput {
  readonly principal: Principal;
  readonly region: string;
  readonly sourceIp: string;
  readonly tlsVersion: string | null;
  readonly now: number;
}

/**
 * Built for every authorized request, so the keys are written lower case, as the context keeps
 * them: constant strings it need not lower again (`aws:CurrentTime` is `aws:currenttime`).
 */
export function requestContext(i: ContextInput): RequestContext {
  const p = i.principal;
  const ctx = new RequestContext()
    .set('aws:currenttime', isoSeconds(i.now))
    .set('aws:epochtime', String(Math.floor(i.now / 1000)))
    // Portcullis only listens on TLS.
    .set('aws:securetransport', 'true')
    .set('aws:sourceip', i.sourceIp.startsWith('::ffff:') ? i.sourceIp.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1') : i.sourceIp)
    // For a role session, AWS gives the role's ARN here, not the session's.
    .set('aws:principalarn', p.type === 'assumed-role' ? p.roleArn : p.arn)
    .set('aws:principalaccount', p.accountId)
    .set('aws:principaltype', p.type === 'assumed-role' ? 'AssumedRole' : p.type === 'federated-user' ? 'FederatedUser' : 'User')
    .set('aws:userid', p.userId)
    .set('aws:requestedregion', i.region);
  if (p.type === 'user') ctx.set('aws:username', p.userName);
  // As S3 does with s3:TlsVersion, a number such as 1.3 for Numeric operators.
  if (i.tlsVersion !== null) ctx.set('portcullis:tlsversion', tlsVersionNumber(i.tlsVersion));
  // Temporary credentials carry their issue time; long-term keys have neither key, as in AWS.
  if (p.session !== undefined) {
    ctx.set('aws:tokenissuetime', isoSeconds(p.session.issuedAt)).set('aws:multifactorauthpresent', 'false');
    if (p.session.sourceIdentity !== undefined) ctx.set('aws:sourceidentity', p.session.sourceIdentity);
  }
  return ctx;
}
