/**
 * GetAccountAuthorizationDetails: every user, group, role and managed policy of the account with
 * their policies, in one paged answer.
 * https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetAccountAuthorizationDetails.html
 */
import { isoSeconds } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import { userArn } from '../core/principal.js';
import type { PolicyOwner } from '../store/types.js';
import { paginate, policyXml, versionXml } from './iamShared.js';
import { memberList } from './simulate.js';
import type { XmlNode } from './query.js';
import type { ApiContext, QueryAction } from './sts.js';

const FILTERS = ['User', 'Role', 'Group', 'LocalManagedPolicy', 'AWSManagedPolicy'] as const;
type Filter = (typeof FILTERS)[number];
type Entry = { readonly list: 'UserDetailList' | 'GroupDetailList' | 'RoleDetailList' | 'Policies'; readonly item: XmlNode };

async function ownedPolicies(ctx: ApiContext, owner: PolicyOwner, listName: string): Promise<XmlNode> {
  const inline = await ctx.store.listInlinePolicies(owner);
  const attached = await ctx.store.listAttachedPolicies(owner);
  return {
    [listName]: inline.map((p) => ({ PolicyName: p.policyName, PolicyDocument: encodeURIComponent(p.document) })),
    AttachedManagedPolicies: attached.map((p) => ({ PolicyName: p.policyName, PolicyArn: p.arn })),
  };
}

const tagsXml = (tags: readonly { key: string; value: string }[]) => (tags.length ? tags.map((t) => ({ Key: t.key, Value: t.value })) : undefined);
const boundaryXml = (arn: string | undefined) => (arn === undefined ? undefined : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: arn });

async function entries(ctx: ApiContext, filters: ReadonlySet<Filter>): Promise<Entry[]> {
  const account = ctx.principal.accountId;
  const out: Entry[] = [];
  if (filters.has('User')) {
    for (const u of await ctx.store.listUsers(account, '/')) {
      const owner: PolicyOwner = { type: 'user', id: u.userId };
      out.push({
        list: 'UserDetailList',
        item: {
          Path: u.path, UserName: u.userName, UserId: u.userId, Arn: userArn(u.accountId, u.path, u.userName), CreateDate: isoSeconds(u.createdAt),
          ...(await ownedPolicies(ctx, owner, 'UserPolicyList')),
          GroupList: (await ctx.store.listGroupsForUser(u.userId)).map((g) => g.groupName),
          PermissionsBoundary: boundaryXml(await ctx.store.getUserBoundary(u.userId)),
          Tags: tagsXml(await ctx.store.listTags('user', u.userId)),
        },
      });
    }
  }
  if (filters.has('Group')) {
    for (const g of await ctx.store.listGroups(account, '/')) {
      out.push({
        list: 'GroupDetailList',
        item: {
          Path: g.path, GroupName: g.groupName, GroupId: g.groupId, Arn: `arn:aws:iam::${account}:group${g.path}${g.groupName}`, CreateDate: isoSeconds(g.createdAt),
          ...(await ownedPolicies(ctx, { type: 'group', id: g.groupId }, 'GroupPolicyList')),
        },
      });
    }
  }
  if (filters.has('Role')) {
    for (const r of await ctx.store.listRoles(account, '/')) {
      out.push({
        list: 'RoleDetailList',
        item: {
          Path: r.path, RoleName: r.roleName, RoleId: r.roleId, Arn: `arn:aws:iam::${account}:role${r.path}${r.roleName}`, CreateDate: isoSeconds(r.createdAt),
          AssumeRolePolicyDocument: encodeURIComponent(r.assumeRolePolicyDocument),
          InstanceProfileList: [],
          ...(await ownedPolicies(ctx, { type: 'role', id: r.roleId }, 'RolePolicyList')),
          PermissionsBoundary: boundaryXml(await ctx.store.getRoleBoundary(r.roleId)),
          Tags: tagsXml(await ctx.store.listTags('role', r.roleId)),
        },
      });
    }
  }
  const scopes: Array<'AWS' | 'Local'> = [];
  if (filters.has('AWSManagedPolicy')) scopes.push('AWS');
  if (filters.has('LocalManagedPolicy')) scopes.push('Local');
  for (const scope of scopes) {
    for (const p of await ctx.store.listManagedPolicies(account, scope, false, '/')) {
      const versions = await ctx.store.listPolicyVersions(p.arn);
      out.push({ list: 'Policies', item: { ...policyXml(p), PolicyVersionList: versions.map((v) => versionXml(v, true)) } });
    }
  }
  return out;
}

export const AUTHORIZATION_DETAILS_ACTIONS: Readonly<Record<string, QueryAction>> = {
  GetAccountAuthorizationDetails: {
    resource: async () => '*',
    async run(p, ctx) {
      const asked = memberList(p, 'Filter');
      for (const f of asked) {
        if (!(FILTERS as readonly string[]).includes(f)) throw new PortcullisError('ValidationError', `Value '${f.slice(0, 40)}' at 'filter' failed to satisfy constraint: Member must satisfy enum value set: [${FILTERS.join(', ')}]`);
      }
      const filters = new Set<Filter>(asked.length > 0 ? (asked as Filter[]) : FILTERS);
      const { page, more } = paginate(await entries(ctx, filters), p);
      const lists: Record<Entry['list'], XmlNode[]> = { UserDetailList: [], GroupDetailList: [], RoleDetailList: [], Policies: [] };
      for (const e of page) lists[e.list].push(e.item);
      return { ...lists, ...more };
    },
  },
};
