/**
 * What the SQLite and the PostgreSQL store share: the rows both schemas return (the tables are the
 * same, column for column), the column lists they are read with (SQL both engines accept as
 * written), the mappers from rows to the contract's entities, and IAM's quotas and their names.
 *
 * What differs between the engines stays in each store: placeholders (`?` / `$1`), booleans
 * (SQLite has none: a comparison comes back 0 or 1), prefix matching, error codes. Times are
 * numbers in both (PostgreSQL's BIGINT is read as a number by `postgres/pool.ts`).
 */
import {
  type AccessKey, type AccessKeyStatus, type Account, type Group, type InlinePolicy, LimitExceededError, type ManagedPolicy,
  type OidcProvider, type PolicyOwner, type PolicyOwnerType, type PrincipalPolicies, type Role, type Tag, type TaggedType, type User,
} from './types.js';

// ---------------------------------------------------------------- rows

export interface AccountRow {
  account_id: string;
  name: string;
  created_at: number;
}

export interface KeyRow {
  access_key_id: string;
  account_id: string;
  user_name: string;
  status: AccessKeyStatus;
  secret_sealed: string;
  created_at: number;
  last_used_at: number | null;
  last_used_service: string | null;
  last_used_region: string | null;
}

export interface UserRow {
  account_id: string;
  user_name: string;
  user_id: string;
  path: string;
  created_at: number;
}

export interface PolicyRow {
  policy_id: string;
  account_id: string;
  policy_name: string;
  path: string;
  arn: string;
  description: string;
  default_version_id: string;
  next_version: number;
  created_at: number;
  updated_at: number;
  attachment_count: number;
}

export interface InlineRow {
  policy_name: string;
  document: string;
}

export interface DefaultVersionRow {
  arn: string;
  version_id: string;
  document: string;
}

export interface GroupRow {
  account_id: string;
  group_name: string;
  group_id: string;
  path: string;
  created_at: number;
}

export interface RoleRow {
  account_id: string;
  role_name: string;
  role_id: string;
  path: string;
  assume_role_policy: string;
  description: string;
  max_session_duration: number;
  created_at: number;
}

export interface TagRow {
  tag_key: string;
  tag_value: string;
}

export interface OidcProviderRow {
  arn: string;
  account_id: string;
  url: string;
  client_ids: string;
  thumbprints: string;
  created_at: number;
}

// ---------------------------------------------------------------- tables and columns

/** The table of each kind of entity that owns policies or tags, and its id column. */
export const ENTITY_TABLES: Readonly<Record<PolicyOwnerType | TaggedType, { readonly table: string; readonly id: string }>> = {
  user: { table: 'users', id: 'user_id' },
  group: { table: 'groups', id: 'group_id' },
  role: { table: 'roles', id: 'role_id' },
  policy: { table: 'managed_policies', id: 'policy_id' },
};

export const USER_COLUMNS = 'account_id, user_name, user_id, path, created_at';

export const GROUP_COLUMNS = 'g.account_id, g.group_name, g.group_id, g.path, g.created_at';

export const ROLE_COLUMNS = 'account_id, role_name, role_id, path, assume_role_policy, description, max_session_duration, created_at';

export const KEY_COLUMNS = `k.access_key_id, u.account_id, u.user_name, k.status, k.secret_sealed, k.created_at,
  k.last_used_at, k.last_used_service, k.last_used_region`;

export const POLICY_COLUMNS = `p.policy_id, p.account_id, p.policy_name, p.path, p.arn, p.description, p.default_version_id,
  p.next_version, p.created_at, p.updated_at,
  (SELECT COUNT(*) FROM policy_attachments a WHERE a.policy_id = p.policy_id) AS attachment_count`;

/** Managed policies in list order: by name (as IAM compares names, ignoring case), then ARN. */
export const POLICY_ORDER = 'ORDER BY p.policy_name_lower, p.arn';

/**
 * A policy version `v` with its policy `p`. `is_default` is the one column whose type differs
 * (0/1 from SQLite, a boolean from PostgreSQL), so each store keeps its own version row and mapper.
 */
export const VERSION_COLUMNS = 'v.version_id, v.document, v.version_id = p.default_version_id AS is_default, v.created_at';

/** The default version `v` of policy `p`. */
export const JOIN_DEFAULT_VERSION = 'JOIN policy_versions v ON v.policy_id = p.policy_id AND v.version_id = p.default_version_id';

export const OIDC_COLUMNS = 'arn, account_id, url, client_ids, thumbprints, created_at';

// ---------------------------------------------------------------- rows to entities

export function toAccount(r: AccountRow): Account {
  return { accountId: r.account_id, name: r.name, createdAt: r.created_at };
}

export function toUser(r: UserRow): User {
  return { accountId: r.account_id, userName: r.user_name, userId: r.user_id, path: r.path, createdAt: r.created_at };
}

export function toGroup(r: GroupRow): Group {
  return { accountId: r.account_id, groupName: r.group_name, groupId: r.group_id, path: r.path, createdAt: r.created_at };
}

export function toRole(r: RoleRow): Role {
  return {
    accountId: r.account_id,
    roleName: r.role_name,
    roleId: r.role_id,
    path: r.path,
    assumeRolePolicyDocument: r.assume_role_policy,
    description: r.description,
    maxSessionDuration: r.max_session_duration,
    createdAt: r.created_at,
  };
}

export function toTag(r: TagRow): Tag {
  return { key: r.tag_key, value: r.tag_value };
}

export function toOidcProvider(r: OidcProviderRow): OidcProvider {
  return {
    accountId: r.account_id,
    arn: r.arn,
    url: r.url,
    clientIds: JSON.parse(r.client_ids) as string[],
    thumbprints: JSON.parse(r.thumbprints) as string[],
    createdAt: r.created_at,
  };
}

export function toPolicy(r: PolicyRow): ManagedPolicy {
  return {
    accountId: r.account_id,
    policyName: r.policy_name,
    policyId: r.policy_id,
    path: r.path,
    arn: r.arn,
    description: r.description,
    defaultVersionId: r.default_version_id,
    attachmentCount: r.attachment_count,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export function toInline(r: InlineRow): InlinePolicy {
  return { policyName: r.policy_name, document: r.document };
}

export function toDefaultVersion(r: DefaultVersionRow): NonNullable<PrincipalPolicies['boundary']> {
  return { arn: r.arn, versionId: r.version_id, document: r.document };
}

/** Without the secret: the caller opens `secret_sealed` when it needs it. */
export function toKey(r: KeyRow): AccessKey {
  return {
    accessKeyId: r.access_key_id,
    accountId: r.account_id,
    userName: r.user_name,
    status: r.status,
    createdAt: r.created_at,
    lastUsed: r.last_used_at === null ? undefined : { at: r.last_used_at, service: r.last_used_service ?? '', region: r.last_used_region ?? '' },
  };
}

// ---------------------------------------------------------------- IAM's quotas

/** IAM's fixed quota of groups per user, for callers that do not pass their own. */
export const GROUPS_PER_USER = 10;

/** IAM's quota of tags per user or role, for a create whose caller passes none. */
export const TAGS_PER_ENTITY = 50;

/** The refusal of a change that would pass IAM's quota `quota` (AccessKeysPerUser…) of `max`. */
export function quotaExceeded(quota: string, max: number): LimitExceededError {
  return new LimitExceededError(`Cannot exceed quota for ${quota}: ${max}`);
}

/** `user` -> `User`, for IAM's quota names (PoliciesPerUser, TagsPerRole…). */
function capitalized(type: string): string {
  return `${type.charAt(0).toUpperCase()}${type.slice(1)}`;
}

/** IAM's quota name for an owner type: PoliciesPerUser, PoliciesPerGroup, PoliciesPerRole. */
export function attachmentQuota(owner: PolicyOwner): string {
  return `PoliciesPer${capitalized(owner.type)}`;
}

/** IAM's quota name for a tagged type: TagsPerUser, TagsPerRole, TagsPerPolicy. */
export function tagQuota(type: TaggedType): string {
  return `TagsPer${capitalized(type)}`;
}

/**
 * LimitExceededError when `owner`'s inline policies together pass `maxTotalSize`, as IAM counts
 * them: every character but white space.
 */
export function checkInlinePoliciesSize(owner: PolicyOwner, policies: readonly InlinePolicy[], maxTotalSize: number): void {
  const total = policies.reduce((n, p) => n + p.document.replace(/\s/g, '').length, 0);
  if (total > maxTotalSize) throw new LimitExceededError(`Maximum policy size of ${maxTotalSize} bytes exceeded for ${owner.type} ${owner.id}`);
}
