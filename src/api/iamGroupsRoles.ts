/**
 * IAM groups (and membership), roles (trust policy, MaxSessionDuration, boundary) and tags on
 * users, roles and policies.
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { newGroupId, newRoleId } from '../core/ids.js';
import type { Group, Role, Tag, TaggedType } from '../store/types.js';
import { checkDocument, checkName, checkPath, paginate, policy, store, user, userNameParam, userXml } from './iamShared.js';
import { ownerPolicyActions } from './iamOwnerPolicies.js';
import { memberList } from './simulate.js';
import { param, required, type XmlNode } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';

type Params = ReadonlyMap<string, string>;

export const ROLE_LIMITS = { trustPolicySize: 2048, inlinePoliciesSize: 10240, minSession: 3600, maxSession: 43200 } as const;
export const TAGS_PER_ENTITY = 50;
const GROUP_INLINE_SIZE = 5120;

const groupArn = (g: { accountId: string; path: string; groupName: string }) => `arn:aws:iam::${g.accountId}:group${g.path}${g.groupName}`;
const roleArn = (r: { accountId: string; path: string; roleName: string }) => `arn:aws:iam::${r.accountId}:role${r.path}${r.roleName}`;

function groupXml(g: Group): XmlNode {
  return { Path: g.path, GroupName: g.groupName, GroupId: g.groupId, Arn: groupArn(g), CreateDate: isoSeconds(g.createdAt) };
}

function roleXml(r: Role, extra: { boundary?: string | undefined; tags?: Tag[] } = {}): XmlNode {
  return {
    Path: r.path,
    RoleName: r.roleName,
    RoleId: r.roleId,
    Arn: roleArn(r),
    CreateDate: isoSeconds(r.createdAt),
    AssumeRolePolicyDocument: encodeURIComponent(r.assumeRolePolicyDocument),
    Description: r.description || undefined,
    MaxSessionDuration: r.maxSessionDuration,
    PermissionsBoundary: extra.boundary === undefined ? undefined : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: extra.boundary },
    Tags: extra.tags?.length ? extra.tags.map((t) => ({ Key: t.key, Value: t.value })) : undefined,
  };
}

async function group(ctx: ApiContext, name: string): Promise<Group> {
  const g = await ctx.store.getGroup(ctx.principal.accountId, name);
  if (g === undefined) throw new PortcullisError('NoSuchEntity', `The group with name ${name} cannot be found.`);
  return g;
}

async function role(ctx: ApiContext, name: string): Promise<Role> {
  const r = await ctx.store.getRole(ctx.principal.accountId, name);
  if (r === undefined) throw new PortcullisError('NoSuchEntity', `The role with name ${name} cannot be found.`);
  return r;
}

const groupName = (p: Params) => checkName(required(p, 'GroupName'), 'groupName', 128);
const roleName = (p: Params) => checkName(required(p, 'RoleName'), 'roleName', 64);

async function groupTarget(p: Params, ctx: ApiContext): Promise<string> {
  const name = param(p, 'GroupName') ?? '';
  const g = await ctx.store.getGroup(ctx.principal.accountId, name);
  return groupArn(g ?? { accountId: ctx.principal.accountId, path: param(p, 'Path') ?? '/', groupName: name });
}

async function roleTarget(p: Params, ctx: ApiContext): Promise<string> {
  const name = param(p, 'RoleName') ?? '';
  const r = await ctx.store.getRole(ctx.principal.accountId, name);
  return roleArn(r ?? { accountId: ctx.principal.accountId, path: param(p, 'Path') ?? '/', roleName: name });
}

async function userOrAnyTarget(p: Params, ctx: ApiContext): Promise<string> {
  const name = param(p, 'UserName') ?? (ctx.principal.type === 'user' ? ctx.principal.userName : '');
  const u = await ctx.store.getUser(ctx.principal.accountId, name);
  return `arn:aws:iam::${ctx.principal.accountId}:user${u?.path ?? '/'}${name}`;
}

/** `Tags.member.N.Key` / `.Value`, checked against IAM's tag rules. */
export function tagsParam(p: Params): Tag[] {
  const tags: Tag[] = [];
  for (let i = 1; p.has(`Tags.member.${i}.Key`); i++) {
    const key = p.get(`Tags.member.${i}.Key`)!;
    const value = p.get(`Tags.member.${i}.Value`) ?? '';
    if (key.length < 1 || key.length > 128 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u.test(key) || /^aws:/i.test(key)) {
      throw new PortcullisError('InvalidInput', `Invalid tag key \`${key.slice(0, 128)}\``);
    }
    if (value.length > 256 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u.test(value)) throw new PortcullisError('InvalidInput', `Invalid value for tag \`${key}\``);
    tags.push({ key, value });
  }
  return tags;
}

/** aws:RequestTag/key and aws:TagKeys for requests that set tags. */
export function requestTagKeys(p: Params): Array<[string, string | string[]]> {
  const out: Array<[string, string | string[]]> = [];
  const keys: string[] = [];
  for (let i = 1; p.has(`Tags.member.${i}.Key`); i++) {
    const key = p.get(`Tags.member.${i}.Key`)!;
    keys.push(key);
    out.push([`aws:RequestTag/${key}`, p.get(`Tags.member.${i}.Value`) ?? '']);
  }
  if (keys.length > 0) out.push(['aws:TagKeys', keys]);
  return out;
}

/** iam:PermissionsBoundary for requests that set one. */
const boundaryKey = (p: Params): Array<[string, string]> => {
  const arn = p.get('PermissionsBoundary');
  return arn === undefined ? [] : [['iam:PermissionsBoundary', arn]];
};

function tagActions(noun: 'User' | 'Role' | 'Policy', type: TaggedType, find: (p: Params, ctx: ApiContext) => Promise<string>, resource: (p: Params, ctx: ApiContext) => Promise<string>): Record<string, QueryAction> {
  return {
    [`Tag${noun}`]: {
      resource,
      context: requestTagKeys,
      async run(p, ctx) {
        const tags = tagsParam(p);
        if (tags.length === 0) throw new PortcullisError('ValidationError', "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null");
        await store(ctx.store.tagResource(type, await find(p, ctx), tags, TAGS_PER_ENTITY), { limit: `Cannot exceed quota for TagsPer${noun}: ${TAGS_PER_ENTITY}` });
        ctx.policiesChanged(); // aws:PrincipalTag values may have changed
        return undefined;
      },
    },
    [`Untag${noun}`]: {
      resource,
      context: (p) => {
        const keys = memberList(p, 'TagKeys');
        return keys.length > 0 ? [['aws:TagKeys', keys]] : [];
      },
      async run(p, ctx) {
        await ctx.store.untagResource(type, await find(p, ctx), memberList(p, 'TagKeys'));
        ctx.policiesChanged();
        return undefined;
      },
    },
    [`List${noun}Tags`]: {
      resource,
      async run(p, ctx) {
        const { page, more } = paginate(await ctx.store.listTags(type, await find(p, ctx)), p);
        return { Tags: page.map((t) => ({ Key: t.key, Value: t.value })), ...more };
      },
    },
  };
}

export const IAM_GROUP_ROLE_ACTIONS: Readonly<Record<string, QueryAction>> = {
  // ---- groups
  CreateGroup: {
    resource: groupTarget,
    async run(p, ctx) {
      const g: Group = { accountId: ctx.principal.accountId, groupName: groupName(p), groupId: newGroupId(), path: checkPath(param(p, 'Path')), createdAt: ctx.now() };
      await store(ctx.store.createGroup(g), { exists: `Group with name ${g.groupName} already exists.` });
      return { Group: groupXml(g) };
    },
  },
  GetGroup: {
    resource: groupTarget,
    async run(p, ctx) {
      const g = await group(ctx, groupName(p));
      const { page, more } = paginate(await ctx.store.listUsersInGroup(g.groupId), p);
      return { Group: groupXml(g), Users: page.map((u) => userXml(u)), ...more };
    },
  },
  ListGroups: {
    resource: async (_p, ctx) => `arn:aws:iam::${ctx.principal.accountId}:group/`,
    async run(p, ctx) {
      const { page, more } = paginate(await ctx.store.listGroups(ctx.principal.accountId, checkPath(param(p, 'PathPrefix'))), p);
      return { Groups: page.map(groupXml), ...more };
    },
  },
  DeleteGroup: {
    resource: groupTarget,
    async run(p, ctx) {
      const g = await group(ctx, groupName(p));
      await store(ctx.store.deleteGroup(g.accountId, g.groupName), { conflict: 'Cannot delete entity, must remove users and policies from group first.' });
      ctx.policiesChanged();
      return undefined;
    },
  },
  AddUserToGroup: {
    resource: groupTarget,
    async run(p, ctx) {
      const g = await group(ctx, groupName(p));
      const u = await user(ctx, userNameParam(p));
      await store(ctx.store.addUserToGroup(g.groupId, u.userId));
      ctx.policiesChanged();
      return undefined;
    },
  },
  RemoveUserFromGroup: {
    resource: groupTarget,
    async run(p, ctx) {
      const g = await group(ctx, groupName(p));
      const u = await user(ctx, userNameParam(p));
      await store(ctx.store.removeUserFromGroup(g.groupId, u.userId), { notFound: `User ${u.userName} is not in group ${g.groupName}.` });
      ctx.policiesChanged();
      return undefined;
    },
  },
  ListGroupsForUser: {
    resource: userOrAnyTarget,
    async run(p, ctx) {
      const u = await user(ctx, userNameParam(p));
      const { page, more } = paginate(await ctx.store.listGroupsForUser(u.userId), p);
      return { Groups: page.map(groupXml), ...more };
    },
  },
  ...ownerPolicyActions({
    noun: 'Group',
    find: async (name, ctx) => {
      const g = await group(ctx, name);
      return { owner: { type: 'group', id: g.groupId }, name: g.groupName };
    },
    resource: groupTarget,
    inlineLimit: GROUP_INLINE_SIZE,
  }),

  // ---- roles
  CreateRole: {
    resource: roleTarget,
    context: (p) => [...requestTagKeys(p), ...boundaryKey(p)],
    async run(p, ctx) {
      const name = roleName(p);
      const trust = checkDocument(required(p, 'AssumeRolePolicyDocument'), ROLE_LIMITS.trustPolicySize, 'ACLSizePerRole', 'trust');
      const max = param(p, 'MaxSessionDuration') === undefined ? ROLE_LIMITS.minSession : Number(param(p, 'MaxSessionDuration'));
      if (!Number.isInteger(max) || max < ROLE_LIMITS.minSession || max > ROLE_LIMITS.maxSession) {
        throw new PortcullisError('ValidationError', `The MaxSessionDuration must be between ${ROLE_LIMITS.minSession} and ${ROLE_LIMITS.maxSession} seconds.`);
      }
      const r: Role = {
        accountId: ctx.principal.accountId, roleName: name, roleId: newRoleId(), path: checkPath(param(p, 'Path')),
        assumeRolePolicyDocument: trust, description: param(p, 'Description') ?? '', maxSessionDuration: max, createdAt: ctx.now(),
      };
      const boundaryArn = param(p, 'PermissionsBoundary');
      const boundary = boundaryArn === undefined ? undefined : (await policy(ctx, boundaryArn)).arn;
      const tags = tagsParam(p);
      await store(ctx.store.createRole(r, { boundary, tags, maxTags: TAGS_PER_ENTITY }), { exists: `Role with name ${name} already exists.` });
      return { Role: roleXml(r, { boundary, tags }) };
    },
  },
  GetRole: {
    resource: roleTarget,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      return { Role: roleXml(r, { boundary: await ctx.store.getRoleBoundary(r.roleId), tags: await ctx.store.listTags('role', r.roleId) }) };
    },
  },
  ListRoles: {
    resource: async (_p, ctx) => `arn:aws:iam::${ctx.principal.accountId}:role/`,
    async run(p, ctx) {
      const { page, more } = paginate(await ctx.store.listRoles(ctx.principal.accountId, checkPath(param(p, 'PathPrefix'))), p);
      return { Roles: page.map((r) => roleXml(r)), ...more };
    },
  },
  DeleteRole: {
    resource: roleTarget,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      await store(ctx.store.deleteRole(r.accountId, r.roleName), { conflict: 'Cannot delete entity, must delete policies first.' });
      return undefined;
    },
  },
  UpdateRole: {
    resource: roleTarget,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      const max = param(p, 'MaxSessionDuration');
      if (max !== undefined && (!/^\d+$/.test(max) || Number(max) < ROLE_LIMITS.minSession || Number(max) > ROLE_LIMITS.maxSession)) {
        throw new PortcullisError('ValidationError', `The MaxSessionDuration must be between ${ROLE_LIMITS.minSession} and ${ROLE_LIMITS.maxSession} seconds.`);
      }
      const description = param(p, 'Description');
      await ctx.store.updateRole(r.roleId, { ...(description !== undefined ? { description } : {}), ...(max !== undefined ? { maxSessionDuration: Number(max) } : {}) });
      return {};
    },
  },
  UpdateAssumeRolePolicy: {
    resource: roleTarget,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      const trust = checkDocument(required(p, 'PolicyDocument'), ROLE_LIMITS.trustPolicySize, 'ACLSizePerRole', 'trust');
      await ctx.store.updateRole(r.roleId, { assumeRolePolicyDocument: trust });
      return undefined;
    },
  },
  PutRolePermissionsBoundary: {
    resource: roleTarget,
    context: boundaryKey,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      await ctx.store.setRoleBoundary(r.roleId, (await policy(ctx, required(p, 'PermissionsBoundary'))).arn);
      ctx.policiesChanged();
      return undefined;
    },
  },
  DeleteRolePermissionsBoundary: {
    resource: roleTarget,
    async run(p, ctx) {
      const r = await role(ctx, roleName(p));
      await ctx.store.setRoleBoundary(r.roleId, undefined);
      ctx.policiesChanged();
      return undefined;
    },
  },
  ...ownerPolicyActions({
    noun: 'Role',
    find: async (name, ctx) => {
      const r = await role(ctx, name);
      return { owner: { type: 'role', id: r.roleId }, name: r.roleName };
    },
    resource: roleTarget,
    inlineLimit: ROLE_LIMITS.inlinePoliciesSize,
  }),

  // ---- tags
  ...tagActions('User', 'user', async (p, ctx) => (await user(ctx, userNameParam(p))).userId, userOrAnyTarget),
  ...tagActions('Role', 'role', async (p, ctx) => (await role(ctx, roleName(p))).roleId, roleTarget),
  ...tagActions('Policy', 'policy', async (p, ctx) => (await policy(ctx, required(p, 'PolicyArn'))).policyId, async (p) => param(p, 'PolicyArn') ?? '*'),
};

