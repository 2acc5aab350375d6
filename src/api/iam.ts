/**
 * IAM (query protocol, version 2010-05-08): users, access keys, inline and managed policies with
 * versions, attachments and permissions boundaries, with IAM's names, quotas and errors.
 * https://docs.aws.amazon.com/IAM/latest/APIReference/
 */
import { PortcullisError } from '../core/errors.js';
import { newAccessKeyId, newSecretAccessKey, newUserId, newPolicyId } from '../core/ids.js';
import { userArn } from '../core/principal.js';
import { parsePolicy, policySize } from '../iam/document.js';
import {
  AlreadyExistsError, DeleteConflictError, LimitExceededError, NoSuchEntityError, type AccessKey, type ManagedPolicy,
  type PolicyOwner, type PolicyVersion, type User,
} from '../store/types.js';
import type { ApiContext, QueryAction } from './sts.js';
import { param, required, type XmlNode } from './query.js';

export const IAM_XMLNS = 'https://iam.amazonaws.com/doc/2010-05-08/';
export const IAM_VERSION = '2010-05-08';

/** IAM quotas. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html */
export const IAM_LIMITS = {
  accessKeysPerUser: 2,
  versionsPerPolicy: 5,
  attachedPoliciesPerUser: 10,
  managedPolicySize: 6144,
  userInlinePoliciesSize: 2048,
} as const;

// ---------------------------------------------------------------- parameters

const NAME = /^[\w+=,.@-]+$/;

function checkName(value: string, what: string, max: number): string {
  if (value.length > max || !NAME.test(value)) {
    throw new PortcullisError('ValidationError', `1 validation error detected: Value '${value.slice(0, 140)}' at '${what}' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+ and have length at most ${max}`);
  }
  return value;
}

function checkPath(value: string | undefined): string {
  const path = value ?? '/';
  if (path.length > 512 || !/^\/([\x21-\x7e]*\/)?$/.test(path)) {
    throw new PortcullisError('ValidationError', `The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.`);
  }
  return path;
}

/** Validates a policy document and IAM's size quota for it. */
function checkDocument(text: string, limit: number, quota: string): string {
  parsePolicy(text, 'identity');
  if (policySize(text) > limit) throw new PortcullisError('LimitExceeded', `Cannot exceed quota for ${quota}: ${limit}`);
  return text;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** IAM lists: Marker is the position to go on from, MaxItems at most 1000 (default 100). */
function paginate<T>(items: readonly T[], p: ReadonlyMap<string, string>): { page: T[]; more: XmlNode } {
  const max = param(p, 'MaxItems') === undefined ? 100 : Number(param(p, 'MaxItems'));
  if (!Number.isInteger(max) || max < 1 || max > 1000) throw new PortcullisError('ValidationError', 'MaxItems must be between 1 and 1000');
  const marker = param(p, 'Marker');
  const start = marker === undefined ? 0 : Number(Buffer.from(marker, 'base64url').toString('utf8'));
  if (!Number.isInteger(start) || start < 0 || start > items.length) throw new PortcullisError('InvalidInput', 'The Marker is not one this endpoint issued.');
  const page = items.slice(start, start + max);
  const truncated = start + max < items.length;
  return { page, more: truncated ? { IsTruncated: true, Marker: Buffer.from(String(start + max)).toString('base64url') } : { IsTruncated: false } };
}

// ---------------------------------------------------------------- store errors

/** Runs a store call, turning its typed errors into IAM's. */
async function store<T>(call: Promise<T>, messages: { notFound?: string; exists?: string; conflict?: string; limit?: string } = {}): Promise<T> {
  try {
    return await call;
  } catch (e) {
    if (e instanceof NoSuchEntityError) throw new PortcullisError('NoSuchEntity', messages.notFound ?? e.message);
    if (e instanceof AlreadyExistsError) throw new PortcullisError('EntityAlreadyExists', messages.exists ?? e.message);
    if (e instanceof DeleteConflictError) throw new PortcullisError('DeleteConflict', messages.conflict ?? e.message);
    if (e instanceof LimitExceededError) throw new PortcullisError('LimitExceeded', messages.limit ?? e.message);
    throw e;
  }
}

// ---------------------------------------------------------------- shapes

function userXml(u: User, boundary?: string): XmlNode {
  return {
    Path: u.path,
    UserName: u.userName,
    UserId: u.userId,
    Arn: userArn(u.accountId, u.path, u.userName),
    CreateDate: iso(u.createdAt),
    PermissionsBoundary: boundary === undefined ? undefined : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: boundary },
  };
}

function keyXml(k: AccessKey): XmlNode {
  return { UserName: k.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: iso(k.createdAt) };
}

function policyXml(p: ManagedPolicy): XmlNode {
  return {
    PolicyName: p.policyName,
    DefaultVersionId: p.defaultVersionId,
    PolicyId: p.policyId,
    Path: p.path,
    Arn: p.arn,
    AttachmentCount: p.attachmentCount,
    PermissionsBoundaryUsageCount: 0,
    IsAttachable: true,
    Description: p.description || undefined,
    CreateDate: iso(p.createdAt),
    UpdateDate: iso(p.updatedAt),
  };
}

function versionXml(v: PolicyVersion, withDocument: boolean): XmlNode {
  // IAM returns documents URL-encoded; the SDKs and the CLI decode them.
  return { Document: withDocument ? encodeURIComponent(v.document) : undefined, VersionId: v.versionId, IsDefaultVersion: v.isDefault, CreateDate: iso(v.createdAt) };
}

// ---------------------------------------------------------------- lookups

async function user(ctx: ApiContext, userName: string): Promise<User> {
  const u = await ctx.store.getUser(ctx.principal.accountId, userName);
  if (u === undefined) throw new PortcullisError('NoSuchEntity', `The user with name ${userName} cannot be found.`);
  return u;
}

/** The user a request is about: `UserName`, or the caller when omitted (as IAM does). */
async function targetUser(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<User> {
  const name = param(p, 'UserName');
  return user(ctx, name === undefined ? ctx.principal.userName : checkName(name, 'userName', 64));
}

async function policy(ctx: ApiContext, arn: string): Promise<ManagedPolicy> {
  const found = await ctx.store.getManagedPolicy(arn);
  // Another account's policies are as good as absent.
  if (found === undefined || (found.accountId !== 'aws' && found.accountId !== ctx.principal.accountId)) {
    throw new PortcullisError('NoSuchEntity', `Policy ${arn} does not exist or is not attachable.`);
  }
  return found;
}

async function ownKey(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<{ key: AccessKey; owner: User }> {
  const owner = await targetUser(p, ctx);
  const id = required(p, 'AccessKeyId');
  const key = (await ctx.store.listAccessKeys(owner.accountId, owner.userName)).find((k) => k.accessKeyId === id);
  if (key === undefined) throw new PortcullisError('NoSuchEntity', `The Access Key with id ${id} cannot be found.`);
  return { key, owner };
}

const asOwner = (u: User): PolicyOwner => ({ type: 'user', id: u.userId });

// ---------------------------------------------------------------- resources for authorization

function userResource(ctx: ApiContext, u: User | undefined, name: string, path = '/'): string {
  return u === undefined ? userArn(ctx.principal.accountId, path, name) : userArn(u.accountId, u.path, u.userName);
}

/** The ARN of the user a request names (or the caller), whether or not that user exists. */
async function userTarget(p: ReadonlyMap<string, string>, ctx: ApiContext): Promise<string> {
  const name = param(p, 'UserName') ?? ctx.principal.userName;
  return userResource(ctx, await ctx.store.getUser(ctx.principal.accountId, name), name, param(p, 'Path'));
}

const policyTarget = async (p: ReadonlyMap<string, string>): Promise<string> => param(p, 'PolicyArn') ?? '*';

// ---------------------------------------------------------------- actions

export const IAM_ACTIONS: Readonly<Record<string, QueryAction>> = {
  CreateUser: {
    resource: userTarget,
    async run(p, ctx) {
      const name = checkName(required(p, 'UserName'), 'userName', 64);
      const u: User = { accountId: ctx.principal.accountId, userName: name, userId: newUserId(), path: checkPath(param(p, 'Path')), createdAt: ctx.now() };
      await store(ctx.store.createUser(u), { exists: `User with name ${name} already exists.` });
      return { User: userXml(u) };
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
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
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
      const key = { accessKeyId: newAccessKeyId(), accountId: owner.accountId, userName: owner.userName, status: 'Active' as const, createdAt: ctx.now(), secretAccessKey: newSecretAccessKey() };
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
          : { LastUsedDate: iso(used.at), ServiceName: used.service, Region: used.region },
      };
    },
  },

  PutUserPolicy: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const name = checkName(required(p, 'PolicyName'), 'policyName', 128);
      const document = required(p, 'PolicyDocument');
      parsePolicy(document, 'identity');
      // The quota is on the sum of a user's inline policies.
      const others = (await ctx.store.listInlinePolicies(asOwner(u))).filter((x) => x.policyName !== name);
      const total = others.reduce((n, x) => n + policySize(x.document), policySize(document));
      if (total > IAM_LIMITS.userInlinePoliciesSize) throw new PortcullisError('LimitExceeded', `Maximum policy size of ${IAM_LIMITS.userInlinePoliciesSize} bytes exceeded for user ${u.userName}`);
      await ctx.store.putInlinePolicy(asOwner(u), name, document);
      ctx.policiesChanged();
      return undefined;
    },
  },

  GetUserPolicy: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const name = required(p, 'PolicyName');
      const found = await ctx.store.getInlinePolicy(asOwner(u), name);
      if (found === undefined) throw new PortcullisError('NoSuchEntity', `The user policy with name ${name} cannot be found.`);
      return { UserName: u.userName, PolicyName: found.policyName, PolicyDocument: encodeURIComponent(found.document) };
    },
  },

  ListUserPolicies: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const { page, more } = paginate((await ctx.store.listInlinePolicies(asOwner(u))).map((x) => x.policyName), p);
      return { PolicyNames: page, ...more };
    },
  },

  DeleteUserPolicy: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const name = required(p, 'PolicyName');
      await store(ctx.store.deleteInlinePolicy(asOwner(u), name), { notFound: `The user policy with name ${name} cannot be found.` });
      ctx.policiesChanged();
      return undefined;
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

  AttachUserPolicy: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const found = await policy(ctx, required(p, 'PolicyArn'));
      await store(ctx.store.attachPolicy(asOwner(u), found.arn, IAM_LIMITS.attachedPoliciesPerUser), {
        limit: `Cannot exceed quota for PoliciesPerUser: ${IAM_LIMITS.attachedPoliciesPerUser}`,
      });
      ctx.policiesChanged();
      return undefined;
    },
  },

  DetachUserPolicy: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const arn = required(p, 'PolicyArn');
      await store(ctx.store.detachPolicy(asOwner(u), arn), { notFound: `Policy ${arn} was not found.` });
      ctx.policiesChanged();
      return undefined;
    },
  },

  ListAttachedUserPolicies: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const { page, more } = paginate(await ctx.store.listAttachedPolicies(asOwner(u)), p);
      return { AttachedPolicies: page.map((x) => ({ PolicyName: x.policyName, PolicyArn: x.arn })), ...more };
    },
  },

  PutUserPermissionsBoundary: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      const found = await policy(ctx, required(p, 'PermissionsBoundary'));
      await ctx.store.setUserBoundary(u.userId, found.arn);
      ctx.policiesChanged();
      return undefined;
    },
  },

  DeleteUserPermissionsBoundary: {
    resource: userTarget,
    async run(p, ctx) {
      const u = await user(ctx, checkName(required(p, 'UserName'), 'userName', 64));
      await ctx.store.setUserBoundary(u.userId, undefined);
      ctx.policiesChanged();
      return undefined;
    },
  },
};
