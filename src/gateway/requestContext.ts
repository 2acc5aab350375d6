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

export function requestContext(i: ContextInput): RequestContext {
  const p = i.principal;
  const ctx = new RequestContext([
    ['aws:CurrentTime', isoSeconds(i.now)],
    ['aws:EpochTime', String(Math.floor(i.now / 1000))],
    // Portcullis only listens on TLS.
    ['aws:SecureTransport', 'true'],
    ['aws:SourceIp', i.sourceIp.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')],
    // For a role session, AWS gives the role's ARN here, not the session's.
    ['aws:PrincipalArn', p.type === 'assumed-role' ? p.roleArn : p.arn],
    ['aws:PrincipalAccount', p.accountId],
    ['aws:PrincipalType', p.type === 'assumed-role' ? 'AssumedRole' : p.type === 'federated-user' ? 'FederatedUser' : 'User'],
    ['aws:userid', p.userId],
    ['aws:username', p.type === 'user' ? p.userName : undefined],
    ['aws:RequestedRegion', i.region],
  ]);
  // As S3 does with s3:TlsVersion, a number such as 1.3 for Numeric operators.
  if (i.tlsVersion !== null) ctx.set('portcullis:TlsVersion', tlsVersionNumber(i.tlsVersion));
  // Temporary credentials carry their issue time; long-term keys have neither key, as in AWS.
  if (p.session !== undefined) {
    ctx.set('aws:TokenIssueTime', isoSeconds(p.session.issuedAt)).set('aws:MultiFactorAuthPresent', 'false');
    if (p.session.sourceIdentity !== undefined) ctx.set('aws:SourceIdentity', p.session.sourceIdentity);
  }
  return ctx;
}
