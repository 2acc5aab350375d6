/**
 * The condition keys Portcullis fills from a request it authenticated.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
 */
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
  const ctx = new RequestContext([
    ['aws:CurrentTime', new Date(i.now).toISOString().replace(/\.\d{3}Z$/, 'Z')],
    ['aws:EpochTime', String(Math.floor(i.now / 1000))],
    // Portcullis only listens on TLS.
    ['aws:SecureTransport', 'true'],
    ['aws:SourceIp', i.sourceIp.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1')],
    ['aws:PrincipalArn', i.principal.arn],
    ['aws:PrincipalAccount', i.principal.accountId],
    ['aws:PrincipalType', 'User'],
    ['aws:userid', i.principal.userId],
    ['aws:username', i.principal.userName],
    ['aws:RequestedRegion', i.region],
  ]);
  // As S3 does with s3:TlsVersion, a number such as 1.3 for Numeric operators.
  if (i.tlsVersion !== null) ctx.set('portcullis:TlsVersion', tlsVersionNumber(i.tlsVersion));
  // aws:MultiFactorAuthPresent is absent for long-term access keys, as in AWS.
  return ctx;
}
