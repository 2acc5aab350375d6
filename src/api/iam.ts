/**
 * IAM (query protocol, version 2010-05-08): users, access keys, inline and managed policies with
 * versions, attachments and permissions boundaries, with IAM's names, quotas and errors.
 * https://docs.aws.amazon.com/IAM/latest/APIReference/
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { newAccessKeyId, newPolicyId, newSecretAccessKey, newUserId } from '../core/ids.js';
import { userArn } from '../core/principal.js';
import type { User } from '../store/types.js';
import {
  asOwner, checkDocument, checkName, checkPath, IAM_LIMITS, keyXml, ownKey, paginate, policy, policyXml, store,
  targetUser, user, userNameParam, userXml, versionXml,
} from './iamShared.js';
import { requestTagKeys, tagsParam, TAGS_PER_ENTITY } from './iamGroupsRoles.js';
import { ownerPolicyActions } from './iamOwnerPolicies.js';
import { param, required } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';

export { IAM_LIMITS, IAM_VERSION, IAM_XMLNS } from './iamShared.js';

// ---------------------------------------------------------------- resources for authorization

function userResource(ctx: ApiContext, u: User | undefined, name: string, path = '/'): string {
  return u === undefined ? userArn(ctx.principal.accountId, path, name) : userArn(u.accountId, u.path, u.userName);
}

/** The ARN of the user a request names (or the caller), whether or not that user exists. */
async function userTarget(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<string> {
  const name = param(p, 'UserName') ?? (ctx.principal.type === 'user' ? ctx.principal.userName : '');
  return userResource(ctx, await ctx.store.getUser(ctx.principal.accountId, name), name, param(p, 'Path'));
}

const policyTarget = async (p: ReadonlyMap<string, string>): Promise<string> => param(p, 'PolicyArn') ?? '*';

// ---------------------------------------------------------------- actions

export const IAM_ACTIONS: Readonly<Record<string, QueryAction>> = {
  ...ownerPolicyActions({
    noun: 'User',
    find: async (name, ctx) => {
      const u = await user(ctx, name);
      return { owner: asOwner(u), name: u.userName };
    },
    resource: userTarget,
    inlineLimit: IAM_LIMITS.userInlinePoliciesSize,
  }),

  CreateUser: {
    resource: userTarget,
    context: (p) => [...requestTagKeys(p), ...(p.get('PermissionsBoundary') === undefined ? [] : [['iam:PermissionsBoundary', p.get('PermissionsBoundary')!] as const])],
    async run(p, ctx) {
      const name = userNameParam(p);
      const u: User = { accountId: ctx.principal.accountId, userName: name, userId: newUserId(), path: checkPath(param(p, 'Path')), createdAt: ctx.now() };
      const boundaryArn = param(p, 'PermissionsBoundary');
      const boundary = boundaryArn === undefined ? undefined : (await policy(ctx, boundaryArn)).arn;
      const tags = tagsParam(p);
      await store(ctx.store.createUser(u, { boundary, tags, maxTags: TAGS_PER_ENTITY }), { exists: `User with name ${name} already exists.` });
      return { User: { ...userXml(u, boundary), Tags: tags.length ? tags.map((t) => ({ Key: t.key, Value: t.value })) : undefined } };
    },
  },

  GetUser: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await targetUser(p, ctx);
      return { User: userXml(u, await ctx.store.getUserBoundary(u.userId)) };
    },
  },

  ListUsers: {
    resource: async (_p, ctx) => `arn:aws:iam::${ctx.principal.accountId}:user/`,
    async run(p, ctx) {
      const users = await ctx.store.listUsers(ctx.principal.accountId, checkPath(param(p, 'PathPrefix')));
      const { page, more } = paginate(users, p);
      return { Users: page.map((u) => userXml(u)), ...more };
    },
  },

  DeleteUser: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, userNameParam(p));
      await store(ctx.store.deleteUser(u.accountId, u.userName), {
        conflict: 'Cannot delete entity, must delete access keys and policies first.',
        notFound: `The user with name ${u.userName} cannot be found.`,
      });
      return undefined;
    },
  },

  CreateAccessKey: {
    resource: userTarget,
    async run(p, ctx) {
      const owner = await targetUser(p, ctx);
      const key = { accessKeyId: newAccessKeyId(owner.accountId), accountId: owner.accountId, userName: owner.userName, status: 'Active' as const, createdAt: ctx.now(), secretAccessKey: newSecretAccessKey() };
      await store(ctx.store.createAccessKeyLimited(key, IAM_LIMITS.accessKeysPerUser), { limit: `Cannot exceed quota for AccessKeysPerUser: ${IAM_LIMITS.accessKeysPerUser}` });
      return { AccessKey: { ...keyXml({ ...key, lastUsed: undefined }), SecretAccessKey: key.secretAccessKey } };
    },
  },

  ListAccessKeys: {
    resource: userTarget,
    async run(p, ctx) {
      const owner = await targetUser(p, ctx);
      const { page, more } = paginate(await ctx.store.listAccessKeys(owner.accountId, owner.userName), p);
      return { AccessKeyMetadata: page.map(keyXml), ...more };
    },
  },

  UpdateAccessKey: {
    resource: userTarget,
    async run(p, ctx) {
      const status = required(p, 'Status');
      if (status !== 'Active' && status !== 'Inactive') {
        throw new PortcullisError('ValidationError', `1 validation error detected: Value '${status.slice(0, 40)}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`);
      }
      const { key } = await ownKey(p, ctx);
      await ctx.store.setAccessKeyStatus(key.accessKeyId, status);
      ctx.keyChanged(key.accessKeyId);
      return undefined;
    },
  },

  DeleteAccessKey: {
    resource: userTarget,
    async run(p, ctx) {
      const { key } = await ownKey(p, ctx);
      await store(ctx.store.deleteAccessKey(key.accessKeyId));
      ctx.keyChanged(key.accessKeyId);
      return undefined;
    },
  },

  GetAccessKeyLastUsed: {
    // The key's owner is the resource; IAM looks it up from the key ID alone.
    resource: async (p, ctx) => {
      const key = await ctx.store.getAccessKey(required(p, 'AccessKeyId'));
      return key === undefined || key.accountId !== ctx.principal.accountId ? '*' : userResource(ctx, await ctx.store.getUser(key.accountId, key.userName), key.userName);
    },
    async run(p, ctx) {
      const id = required(p, 'AccessKeyId');
      const key = await ctx.store.getAccessKey(id);
      if (key === undefined || key.accountId !== ctx.principal.accountId) throw new PortcullisError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
      const used = key.lastUsed;
      return {
        UserName: key.userName,
        AccessKeyLastUsed: used === undefined
          ? { ServiceName: 'N/A', Region: 'N/A' }
          : { LastUsedDate: isoSeconds(used.at), ServiceName: used.service, Region: used.region },
      };
    },
  },

  CreatePolicy: {
    resource: async (p, ctx) => `arn:aws:iam::${ctx.principal.accountId}:policy${param(p, 'Path') ?? '/'}${param(p, 'PolicyName') ?? ''}`,
    async run(p, ctx) {
      const name = checkName(required(p, 'PolicyName'), 'policyName', 128);
      const path = checkPath(param(p, 'Path'));
      const document = checkDocument(required(p, 'PolicyDocument'), IAM_LIMITS.managedPolicySize, 'PolicySize');
      const description = param(p, 'Description') ?? '';
      if (description.length > 1000) throw new PortcullisError('ValidationError', 'Description must be at most 1000 characters');
      const arn = `arn:aws:iam::${ctx.principal.accountId}:policy${path}${name}`;
      const created = await store(
        ctx.store.createManagedPolicy({ accountId: ctx.principal.accountId, policyName: name, policyId: newPolicyId(), path, arn, description, createdAt: ctx.now() }, document),
        { exists: `A policy called ${name} already exists. Duplicate names are not allowed.` },
      );
      return { Policy: policyXml(created) };
    },
  },

  GetPolicy: {
    resource: policyTarget,
    async run(p, ctx) {
      return { Policy: policyXml(await policy(ctx, required(p, 'PolicyArn'))) };
    },
  },

  ListPolicies: {
    resource: async () => '*',
    async run(p, ctx) {
      const scope = param(p, 'Scope') ?? 'All';
      if (scope !== 'All' && scope !== 'AWS' && scope !== 'Local') throw new PortcullisError('ValidationError', `Value '${scope.slice(0, 20)}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]`);
      const list = await ctx.store.listManagedPolicies(ctx.principal.accountId, scope, param(p, 'OnlyAttached') === 'true', checkPath(param(p, 'PathPrefix')));
      const { page, more } = paginate(list, p);
      return { Policies: page.map(policyXml), ...more };
    },
  },

  DeletePolicy: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      if (found.accountId === 'aws') throw new PortcullisError('InvalidInput', 'AWS-managed policies cannot be deleted.');
      await store(ctx.store.deleteManagedPolicy(found.arn), { conflict: 'Cannot delete a policy attached to entities, or with versions other than the default.' });
      return undefined;
    },
  },

  CreatePolicyVersion: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      if (found.accountId === 'aws') throw new PortcullisError('InvalidInput', 'AWS-managed policies cannot be changed.');
      const document = checkDocument(required(p, 'PolicyDocument'), IAM_LIMITS.managedPolicySize, 'PolicySize');
      const version = await store(ctx.store.createPolicyVersion(found.arn, document, param(p, 'SetAsDefault') === 'true', IAM_LIMITS.versionsPerPolicy), {
        limit: `A managed policy can have up to ${IAM_LIMITS.versionsPerPolicy} versions. Before you create a new version, you must delete an existing version.`,
      });
      ctx.policiesChanged();
      return { PolicyVersion: versionXml(version, false) };
    },
  },

  GetPolicyVersion: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      const id = required(p, 'VersionId');
      const version = await ctx.store.getPolicyVersion(found.arn, id);
      if (version === undefined) throw new PortcullisError('NoSuchEntity', `Policy ${found.arn} version ${id} does not exist or is not attachable.`);
      return { PolicyVersion: versionXml(version, true) };
    },
  },

  ListPolicyVersions: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      const { page, more } = paginate(await ctx.store.listPolicyVersions(found.arn), p);
      return { Versions: page.map((v) => versionXml(v, false)), ...more };
    },
  },

  SetDefaultPolicyVersion: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      const id = required(p, 'VersionId');
      await store(ctx.store.setDefaultPolicyVersion(found.arn, id), { notFound: `Policy ${found.arn} version ${id} does not exist or is not attachable.` });
      ctx.policiesChanged();
      return undefined;
    },
  },

  DeletePolicyVersion: {
    resource: policyTarget,
    async run(p, ctx) {
      const found = await policy(ctx, required(p, 'PolicyArn'));
      const id = required(p, 'VersionId');
      await store(ctx.store.deletePolicyVersion(found.arn, id), {
        notFound: `Policy ${found.arn} version ${id} does not exist or is not attachable.`,
        conflict: 'Cannot delete the default version of a policy.',
      });
      return undefined;
    },
  },

  PutUserPermissionsBoundary: {
    resource: userTarget,
    context: (p) => (p.get('PermissionsBoundary') === undefined ? [] : [['iam:PermissionsBoundary', p.get('PermissionsBoundary')!]]),
    async run(p, ctx) {
      const u = await user(ctx, userNameParam(p));
      const found = await policy(ctx, required(p, 'PermissionsBoundary'));
      await ctx.store.setUserBoundary(u.userId, found.arn);
      ctx.policiesChanged();
      return undefined;
    },
  },

  DeleteUserPermissionsBoundary: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, userNameParam(p));
      await ctx.store.setUserBoundary(u.userId, undefined);
      ctx.policiesChanged();
      return undefined;
    },
  },
};
