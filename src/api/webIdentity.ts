/**
 * AssumeRoleWithWebIdentity (taken unsigned, as AWS takes it) and the IAM actions that register
 * the OpenID Connect providers it trusts.
 * https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRoleWithWebIdentity.html
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { newSecretAccessKey, newTemporaryKeyId } from '../core/ids.js';
import { assumedRoleArn } from '../core/principal.js';
import { compilePolicy } from '../iam/compile.js';
import { RequestContext } from '../iam/context.js';
import { parsePolicy } from '../iam/document.js';
import { evaluate } from '../iam/evaluate.js';
import type { OidcProvider, Store } from '../store/types.js';
import { type SessionClaims } from '../sts/token.js';
import { claimedIssuer, verifyIdToken, type Jwks } from '../sts/webIdentity.js';
import { paginate, store } from './iamShared.js';
import { memberList } from './simulate.js';
import { param, required, type XmlNode } from './query.js';
import type { QueryAction } from './sts.js';
import { STS_LIMITS } from './stsCredentials.js';

type Params = ReadonlyMap<string, string>;

/** What an unsigned STS action has to work with: no principal, only the request. */
export interface UnsignedContext {
  readonly store: Store;
  readonly now: () => number;
  readonly sealToken: (claims: SessionClaims) => string;
  readonly jwks: (issuer: string, fresh?: boolean) => Promise<Jwks | undefined>;
}

export interface UnsignedAction {
  run(params: Params, ctx: UnsignedContext): Promise<XmlNode>;
}

/** `https://host/path` -> `host/path`, the form provider ARNs and condition keys use. */
function hostPath(url: string): string {
  return url.replace(/^https:\/\//, '').replace(/\/$/, '');
}

const notAuthorized = () => new PortcullisError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');

export const UNSIGNED_STS_ACTIONS: Readonly<Record<string, UnsignedAction>> = {
  AssumeRoleWithWebIdentity: {
    async run(p, ctx) {
      const roleArnParam = required(p, 'RoleArn');
      const sessionName = required(p, 'RoleSessionName');
      if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) throw new PortcullisError('ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64");
      const token = required(p, 'WebIdentityToken');
      const m = /^arn:aws:iam::(\d{12}):role(\/(?:.*\/)?)([^/]+)$/.exec(roleArnParam);
      if (!m) throw new PortcullisError('ValidationError', `${roleArnParam.slice(0, 200)} is not a valid role ARN.`);
      const account = m[1]!;
      const role = await ctx.store.getRole(account, m[3]!);
      if (role === undefined || role.path !== m[2]) throw notAuthorized();

      // The token names its issuer; the account must have registered that issuer as a provider.
      const issuer = claimedIssuer(token);
      const provider = await ctx.store.getOidcProvider(`arn:aws:iam::${account}:oidc-provider/${hostPath(issuer)}`);
      if (provider === undefined || provider.url !== issuer) throw new PortcullisError('InvalidIdentityToken', `No OpenIDConnect provider found in your account for ${issuer.slice(0, 200)}`);
      let jwks = await ctx.jwks(issuer);
      if (jwks === undefined) throw new PortcullisError('InvalidIdentityToken', `The keys of ${issuer.slice(0, 200)} are not configured on this endpoint (oidc.jwks).`);
      const opts = { issuer, clientIds: provider.clientIds, nowMs: ctx.now() };
      let id;
      try {
        id = verifyIdToken(token, { jwks, ...opts });
      } catch (e) {
        // A key id we do not know may mean the issuer rotated its keys: read them once more.
        if (!(e instanceof PortcullisError) || e.code !== 'InvalidIdentityToken') throw e;
        jwks = await ctx.jwks(issuer, true);
        if (jwks === undefined) throw e;
        id = verifyIdToken(token, { jwks, ...opts });
      }

      // The trust policy alone decides: it must name the provider, with its conditions met.
      const prefix = hostPath(issuer);
      const context = new RequestContext([
        [`${prefix}:aud`, id.aud],
        [`${prefix}:sub`, id.sub],
        [`${prefix}:oaud`, id.aud],
        ['aws:FederatedProvider', provider.arn],
        ['sts:RoleSessionName', sessionName],
        ['aws:CurrentTime', isoSeconds(ctx.now())],
        ['aws:EpochTime', String(Math.floor(ctx.now() / 1000))],
        ['aws:SecureTransport', 'true'],
      ]);
      if (typeof id.claims['amr'] === 'string' || Array.isArray(id.claims['amr'])) context.set(`${prefix}:amr`, id.claims['amr'] as string | string[]);
      const trust = compilePolicy(`trust:${role.roleId}`, parsePolicy(role.assumeRolePolicyDocument, 'trust'), 'trust');
      const decision = evaluate(
        { principal: { kind: 'web-identity', arn: provider.arn, accountId: account, provider: provider.arn }, action: 'sts:AssumeRoleWithWebIdentity', resource: roleArnParam, resourceAccount: account, context },
        { identity: [], resource: [trust] },
      );
      if (decision.decision !== 'allowed') throw notAuthorized();

      const seconds = Number(param(p, 'DurationSeconds') ?? STS_LIMITS.assumeRoleDefault);
      if (!Number.isInteger(seconds) || seconds < STS_LIMITS.minDuration || seconds > role.maxSessionDuration) {
        throw new PortcullisError('ValidationError', 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
      }
      const policies: string[] = [];
      const inline = param(p, 'Policy');
      if (inline !== undefined) {
        parsePolicy(inline, 'identity');
        policies.push(inline);
      }
      const now = ctx.now();
      const claims: SessionClaims = {
        accessKeyId: newTemporaryKeyId(account), secretAccessKey: newSecretAccessKey(),
        principal: { type: 'assumed-role', accountId: account, roleId: role.roleId, roleName: role.roleName, rolePath: role.path, sessionName },
        issuedAt: now, expiresAt: now + seconds * 1000, sessionPolicies: policies, tags: {}, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
      };
      return {
        Credentials: { AccessKeyId: claims.accessKeyId, SecretAccessKey: claims.secretAccessKey, SessionToken: ctx.sealToken(claims), Expiration: isoSeconds(claims.expiresAt) },
        SubjectFromWebIdentityToken: id.sub,
        AssumedRoleUser: { AssumedRoleId: `${role.roleId}:${sessionName}`, Arn: assumedRoleArn(account, role.roleName, sessionName) },
        Provider: prefix,
        Audience: id.aud,
      };
    },
  },
};

// ---------------------------------------------------------------- IAM: OpenID Connect providers

const providerTarget = async (p: Params): Promise<string> => param(p, 'OpenIDConnectProviderArn') ?? '*';

async function provider(p: Params, ctx: { store: Store; principal: { accountId: string } }): Promise<OidcProvider> {
  const arn = required(p, 'OpenIDConnectProviderArn');
  const found = await ctx.store.getOidcProvider(arn);
  if (found === undefined || found.accountId !== ctx.principal.accountId) throw new PortcullisError('NoSuchEntity', `OpenIDConnect provider ${arn} does not exist.`);
  return found;
}

function thumbprints(p: Params): string[] {
  const list = memberList(p, 'ThumbprintList');
  for (const t of list) if (!/^[0-9a-fA-F]{40}$/.test(t)) throw new PortcullisError('ValidationError', `Thumbprint \`${t.slice(0, 64)}\` must be 40 hex characters.`);
  return list;
}

export const OIDC_PROVIDER_ACTIONS: Readonly<Record<string, QueryAction>> = {
  CreateOpenIDConnectProvider: {
    resource: async (p, ctx) => `arn:aws:iam::${ctx.principal.accountId}:oidc-provider/${hostPath(param(p, 'Url') ?? '')}`,
    async run(p, ctx) {
      const url = required(p, 'Url').replace(/\/$/, '');
      if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(url) || url.length > 255) throw new PortcullisError('ValidationError', 'Url must begin with https:// and name a host.');
      const clientIds = memberList(p, 'ClientIDList');
      if (clientIds.some((c) => c.length < 1 || c.length > 255)) throw new PortcullisError('ValidationError', 'Each client ID must be 1 to 255 characters.');
      const arn = `arn:aws:iam::${ctx.principal.accountId}:oidc-provider/${hostPath(url)}`;
      await store(ctx.store.createOidcProvider({ accountId: ctx.principal.accountId, arn, url, clientIds, thumbprints: thumbprints(p), createdAt: ctx.now() }), {
        exists: `Provider with url ${url} already exists.`,
      });
      return { OpenIDConnectProviderArn: arn };
    },
  },
  GetOpenIDConnectProvider: {
    resource: providerTarget,
    async run(p, ctx) {
      const found = await provider(p, ctx);
      return { Url: hostPath(found.url), ClientIDList: [...found.clientIds], ThumbprintList: [...found.thumbprints], CreateDate: isoSeconds(found.createdAt) };
    },
  },
  ListOpenIDConnectProviders: {
    resource: async () => '*',
    async run(p, ctx) {
      const { page } = paginate(await ctx.store.listOidcProviders(ctx.principal.accountId), p);
      return { OpenIDConnectProviderList: page.map((x) => ({ Arn: x.arn })) };
    },
  },
  DeleteOpenIDConnectProvider: {
    resource: providerTarget,
    async run(p, ctx) {
      await ctx.store.deleteOidcProvider((await provider(p, ctx)).arn);
      return undefined;
    },
  },
  AddClientIDToOpenIDConnectProvider: {
    resource: providerTarget,
    async run(p, ctx) {
      const found = await provider(p, ctx);
      const id = required(p, 'ClientID');
      if (!found.clientIds.includes(id)) await ctx.store.updateOidcProvider(found.arn, { clientIds: [...found.clientIds, id] });
      return undefined;
    },
  },
  RemoveClientIDFromOpenIDConnectProvider: {
    resource: providerTarget,
    async run(p, ctx) {
      const found = await provider(p, ctx);
      const id = required(p, 'ClientID');
      await ctx.store.updateOidcProvider(found.arn, { clientIds: found.clientIds.filter((c) => c !== id) });
      return undefined;
    },
  },
  UpdateOpenIDConnectProviderThumbprint: {
    resource: providerTarget,
    async run(p, ctx) {
      const found = await provider(p, ctx);
      await ctx.store.updateOidcProvider(found.arn, { thumbprints: thumbprints(p) });
      return undefined;
    },
  },
};
