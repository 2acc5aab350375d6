/**
 * STS actions that hand out temporary credentials: GetSessionToken and AssumeRole.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_GetSessionToken.html
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { newSecretAccessKey, newTemporaryKeyId } from '../core/ids.js';
import { assumedRoleArn, roleArn } from '../core/principal.js';
import { parseArn } from '../iam/arn.js';
import { parsePolicy, policySize } from '../iam/document.js';
import type { Role } from '../store/types.js';
import type { SessionClaims, SessionPrincipal } from '../sts/token.js';
import { requestTagKeys } from './iamGroupsRoles.js';
import { memberList } from './simulate.js';
import { param, required, type XmlNode } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';

type Params = ReadonlyMap<string, string>;

export const STS_LIMITS = {
  minDuration: 900,
  sessionTokenMax: 129_600,
  sessionTokenDefault: 43_200,
  assumeRoleDefault: 3600,
  chainedMax: 3600,
  packedPolicyChars: 2048,
  policyArns: 10,
  sessionTags: 50,
} as const;

function duration(p: Params, fallback: number, max: number): number {
  const raw = param(p, 'DurationSeconds');
  if (raw === undefined) return Math.min(fallback, max);
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < STS_LIMITS.minDuration) {
    throw new PortcullisError('ValidationError', `1 validation error detected: Value '${raw.slice(0, 20)}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${STS_LIMITS.minDuration}`);
  }
  if (n > max) throw new PortcullisError('ValidationError', `The requested DurationSeconds exceeds the ${max === STS_LIMITS.chainedMax ? '1 hour session limit for roles assumed by role chaining' : 'MaxSessionDuration set for this role'}.`);
  return n;
}

function credentialsXml(c: SessionClaims, token: string): XmlNode {
  return { AccessKeyId: c.accessKeyId, SecretAccessKey: c.secretAccessKey, SessionToken: token, Expiration: isoSeconds(c.expiresAt) };
}

function sessionTags(p: Params): Record<string, string> {
  const tags: Record<string, string> = {};
  const seen = new Set<string>();
  for (let i = 1; p.has(`Tags.member.${i}.Key`); i++) {
    const key = p.get(`Tags.member.${i}.Key`)!;
    if (key.length < 1 || key.length > 128 || /^aws:/i.test(key)) throw new PortcullisError('ValidationError', `Invalid session tag key \`${key.slice(0, 128)}\``);
    // Session tag keys are unique regardless of case.
    if (seen.has(key.toLowerCase())) throw new PortcullisError('InvalidParameterValue', `Duplicate tag keys found. Please note that Tag keys are case insensitive.`);
    seen.add(key.toLowerCase());
    tags[key] = p.get(`Tags.member.${i}.Value`) ?? '';
  }
  if (seen.size > STS_LIMITS.sessionTags) throw new PortcullisError('ValidationError', `A session can have at most ${STS_LIMITS.sessionTags} tags.`);
  return tags;
}

/** The role a RoleArn names, in the caller's account. */
async function roleOf(p: Params, ctx: ApiContext): Promise<Role> {
  const arn = required(p, 'RoleArn');
  const a = parseArn(arn);
  const m = a !== undefined && a.service === 'iam' ? /^role\/(?:.*\/)?([^/]+)$/.exec(a.resource) : null;
  if (a === undefined || !m || !/^\d{12}$/.test(a.account)) throw new PortcullisError('ValidationError', `${arn.slice(0, 200)} is not a valid role ARN.`);
  const role = a.account === ctx.principal.accountId ? await ctx.store.getRole(a.account, m[1]!) : undefined;
  // AWS does not say whether a role exists to someone it would not trust.
  if (role === undefined || `arn:aws:iam::${role.accountId}:role${role.path}${role.roleName}` !== arn) {
    throw new PortcullisError('AccessDenied', `User: ${ctx.principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${arn}`);
  }
  return role;
}

/** Session policies: the inline Policy and up to ten managed ones (PolicyArns), each narrowing the session. */
async function sessionPolicies(p: Params, ctx: ApiContext): Promise<string[]> {
  const policies: string[] = [];
  const inline = param(p, 'Policy');
  if (inline !== undefined) {
    parsePolicy(inline, 'identity');
    policies.push(inline);
  }
  const arns = [];
  for (let i = 1; p.has(`PolicyArns.member.${i}.arn`); i++) arns.push(p.get(`PolicyArns.member.${i}.arn`)!);
  if (arns.length > STS_LIMITS.policyArns) throw new PortcullisError('ValidationError', `A session can have at most ${STS_LIMITS.policyArns} managed session policies.`);
  for (const arn of arns) {
    const found = await ctx.store.getManagedPolicy(arn);
    if (found === undefined || (found.accountId !== 'aws' && found.accountId !== ctx.principal.accountId)) throw new PortcullisError('InvalidParameterValue', `Policy ${arn} does not exist or is not attachable.`);
    policies.push((await ctx.store.getPolicyVersion(arn, found.defaultVersionId))!.document);
  }
  return policies;
}

/** PackedPolicySize: the session policies and tags as a percentage of what a session may carry. */
function packed(policies: readonly string[], tags: Readonly<Record<string, string>>): number {
  const size = policies.reduce((n, d) => n + policySize(d), 0) + Object.entries(tags).reduce((n, [k, v]) => n + k.length + v.length, 0);
  const percent = Math.ceil((size / STS_LIMITS.packedPolicyChars) * 100);
  if (percent > 100) throw new PortcullisError('PackedPolicyTooLarge', `Packed size of the session policies and tags is ${percent}% of the allowed size.`);
  return percent;
}

/** The condition keys AssumeRole puts in the request context for the trust policy. */
function assumeRoleKeys(p: Params): Array<[string, string | string[]]> {
  const out: Array<[string, string | string[]]> = [];
  for (const [k, name] of [['sts:ExternalId', 'ExternalId'], ['sts:RoleSessionName', 'RoleSessionName'], ['sts:SourceIdentity', 'SourceIdentity']] as const) {
    const v = param(p, name);
    if (v !== undefined) out.push([k, v]);
  }
  out.push(...requestTagKeys(p));
  const transitive = memberList(p, 'TransitiveTagKeys');
  if (transitive.length > 0) out.push(['sts:TransitiveTagKeys', transitive]);
  return out;
}

export const STS_CREDENTIAL_ACTIONS: Readonly<Record<string, QueryAction>> = {
  DecodeAuthorizationMessage: {
    resource: async () => '*',
    async run(p, ctx) {
      const decoded = ctx.openMessage(required(p, 'EncodedMessage'));
      if (decoded === undefined) throw new PortcullisError('InvalidAuthorizationMessage', 'The encoded authorization message is not valid.');
      return { DecodedMessage: decoded };
    },
  },

  GetFederationToken: {
    resource: async (p, ctx) => `arn:aws:sts::${ctx.principal.accountId}:federated-user/${param(p, 'Name') ?? ''}`,
    context: (p) => requestTagKeys(p),
    async run(p, ctx) {
      const caller = ctx.principal;
      if (caller.type !== 'user' || caller.session !== undefined) {
        throw new PortcullisError('AccessDenied', 'Cannot call GetFederationToken with session credentials');
      }
      const name = required(p, 'Name');
      if (!/^[\w+=,.@-]{2,32}$/.test(name)) {
        throw new PortcullisError('ValidationError', `1 validation error detected: Value '${name.slice(0, 32)}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 32`);
      }
      const seconds = duration(p, STS_LIMITS.sessionTokenDefault, STS_LIMITS.sessionTokenMax);
      const policies = await sessionPolicies(p, ctx);
      const tags = sessionTags(p);
      const packedPercent = packed(policies, tags);
      const now = ctx.now();
      const principal: SessionPrincipal = { type: 'federated-user', accountId: caller.accountId, name, userId: caller.userId, userName: caller.userName, userPath: caller.path };
      const claims: SessionClaims = {
        accessKeyId: newTemporaryKeyId(caller.accountId), secretAccessKey: newSecretAccessKey(), principal, issuedAt: now, expiresAt: now + seconds * 1000,
        // Without a session policy a federated user may do nothing: the empty list says so.
        sessionPolicies: policies, tags, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
      };
      return {
        Credentials: credentialsXml(claims, ctx.sealToken(claims)),
        FederatedUser: { FederatedUserId: `${caller.accountId}:${name}`, Arn: `arn:aws:sts::${caller.accountId}:federated-user/${name}` },
        PackedPolicySize: packedPercent,
      };
    },
  },

  // Needs no permission, but only long-term credentials may call it.
  GetSessionToken: {
    resource: async () => '*',
    authorize: false,
    async run(p, ctx) {
      const caller = ctx.principal;
      if (caller.type !== 'user' || caller.session !== undefined) {
        throw new PortcullisError('AccessDenied', 'Cannot call GetSessionToken with session credentials');
      }
      const seconds = duration(p, STS_LIMITS.sessionTokenDefault, STS_LIMITS.sessionTokenMax);
      const now = ctx.now();
      const principal: SessionPrincipal = { type: 'user-session', accountId: caller.accountId, userId: caller.userId, userName: caller.userName, userPath: caller.path };
      const claims: SessionClaims = {
        accessKeyId: newTemporaryKeyId(caller.accountId), secretAccessKey: newSecretAccessKey(), principal, issuedAt: now, expiresAt: now + seconds * 1000,
        sessionPolicies: [], tags: {}, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
      };
      return { Credentials: credentialsXml(claims, ctx.sealToken(claims)) };
    },
  },

  AssumeRole: {
    resource: async (p) => param(p, 'RoleArn') ?? '*',
    resourcePolicy: async (p, ctx) => {
      const role = await roleOf(p, ctx);
      return { text: role.assumeRolePolicyDocument, account: role.accountId, kind: 'trust' };
    },
    context: assumeRoleKeys,
    async run(p, ctx) {
      const role = await roleOf(p, ctx);
      const caller = ctx.principal;
      const sessionName = required(p, 'RoleSessionName');
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
        throw new PortcullisError('ValidationError', `1 validation error detected: Value '${sessionName.slice(0, 64)}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64`);
      }
      const chained = caller.type === 'assumed-role';
      const seconds = duration(p, STS_LIMITS.assumeRoleDefault, chained ? STS_LIMITS.chainedMax : role.maxSessionDuration);

      const policies = await sessionPolicies(p, ctx);

      // Tags: the request's, plus the caller's transitive ones when chaining (which cannot be overridden).
      const tags = sessionTags(p);
      let transitive = memberList(p, 'TransitiveTagKeys');
      let sourceIdentity = param(p, 'SourceIdentity');
      if (caller.session !== undefined && chained) {
        for (const k of caller.session.transitiveTagKeys) {
          const v = caller.session.tags[k];
          if (v === undefined) continue;
          if (Object.keys(tags).some((t) => t.toLowerCase() === k.toLowerCase())) throw new PortcullisError('InvalidParameterValue', `The transitive tag key ${k} cannot be overridden.`);
          tags[k] = v;
        }
        transitive = [...new Set([...transitive, ...caller.session.transitiveTagKeys])];
        if (caller.session.sourceIdentity !== undefined) {
          if (sourceIdentity !== undefined && sourceIdentity !== caller.session.sourceIdentity) throw new PortcullisError('ValidationError', 'SourceIdentity cannot be changed once set.');
          sourceIdentity = caller.session.sourceIdentity;
        }
      }
      const packedPercent = packed(policies, tags);
      // Passing session tags takes sts:TagSession too, from the caller's policies and the trust policy.
      if (Object.keys(tags).length > 0) {
        await ctx.authorize('sts:TagSession', roleArn(role.accountId, role.path, role.roleName), { text: role.assumeRolePolicyDocument, account: role.accountId, kind: 'trust' });
      }

      const now = ctx.now();
      const principal: SessionPrincipal = { type: 'assumed-role', accountId: role.accountId, roleId: role.roleId, roleName: role.roleName, rolePath: role.path, sessionName };
      const claims: SessionClaims = {
        accessKeyId: newTemporaryKeyId(caller.accountId), secretAccessKey: newSecretAccessKey(), principal, issuedAt: now, expiresAt: now + seconds * 1000,
        sessionPolicies: policies, tags, transitiveTagKeys: transitive, sourceIdentity, chained,
      };
      return {
        Credentials: credentialsXml(claims, ctx.sealToken(claims)),
        AssumedRoleUser: { AssumedRoleId: `${role.roleId}:${sessionName}`, Arn: assumedRoleArn(role.accountId, role.roleName, sessionName) },
        PackedPolicySize: policies.length > 0 || Object.keys(tags).length > 0 ? packedPercent : undefined,
        SourceIdentity: sourceIdentity,
      };
    },
  },
};
