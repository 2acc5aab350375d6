/**
 * The one Store contract. SQLite (embedded, default) and PostgreSQL (several nodes) both satisfy
 * it; everything above the store speaks only this. Secrets go in and come out in the clear and
 * are sealed by the implementation, so no caller ever handles a sealed value.
 */

export interface Account {
  readonly accountId: string;
  readonly name: string;
  readonly createdAt: number;
}

export interface User {
  readonly accountId: string;
  readonly userName: string;
  /** AIDA… */
  readonly userId: string;
  readonly path: string;
  readonly createdAt: number;
}

export type AccessKeyStatus = 'Active' | 'Inactive';

export interface AccessKey {
  readonly accessKeyId: string;
  readonly accountId: string;
  readonly userName: string;
  readonly status: AccessKeyStatus;
  readonly createdAt: number;
  readonly lastUsed: LastUse | undefined;
}

export interface AccessKeyWithSecret extends AccessKey {
  readonly secretAccessKey: string;
}

export interface LastUse {
  readonly at: number;
  readonly service: string;
  readonly region: string;
}

/** What a new user or role may be created with, in the same transaction. */
export interface CreateExtras {
  readonly boundary?: string | undefined;
  readonly tags?: readonly Tag[] | undefined;
  readonly maxTags?: number;
}

export interface Store extends IamStore, IamEntityStore, OidcProviderStore {
  readonly kind: 'sqlite' | 'postgres';
  /** Cheap round trip for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /**
   * Sets `key` to `value` only if it holds `expected` now (`undefined`: only if absent), atomically
   * against every other writer, other nodes included. True when it did.
   */
  compareAndSetMeta(key: string, expected: string | undefined, value: string): Promise<boolean>;

  /**
   * Seals every secret again under the sealer's current master key (after a rotation, so the old
   * key can be dropped): access-key secrets, and meta values that are sealed (a sealed meta value
   * is always sealed with its own key as context). Returns how many values it re-sealed.
   */
  resealSecrets(): Promise<number>;

  /**
   * Tells `onChange` about changes made by any node (PostgreSQL LISTEN/NOTIFY), for caches to
   * drop what they hold. Undefined for a store with no such feed (SQLite): callers then rely on
   * short cache lifetimes alone.
   */
  watchChanges?(onChange: (change: StoreChange) => void): ChangeWatch;

  createAccount(account: Account): Promise<void>;
  getAccount(accountId: string): Promise<Account | undefined>;

  /** With its boundary and tags, in one transaction. */
  createUser(user: User, extras?: CreateExtras): Promise<void>;
  /** User names are unique per account regardless of case, as in IAM. */
  getUser(accountId: string, userName: string): Promise<User | undefined>;
  getUserById(userId: string): Promise<User | undefined>;

  createAccessKey(key: Omit<AccessKeyWithSecret, 'lastUsed'>): Promise<void>;
  getAccessKey(accessKeyId: string): Promise<AccessKeyWithSecret | undefined>;
  listAccessKeys(accountId: string, userName: string): Promise<AccessKey[]>;
  setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void>;
  /** Many uses at once; each key keeps its latest. */
  recordLastUsed(uses: ReadonlyMap<string, LastUse>): Promise<void>;
}

/**
 * What changed, never a secret. `all`: anything may have changed (the feed reconnected after
 * missing notices), so forget everything.
 */
export type StoreChange =
  | { readonly kind: 'key'; readonly accessKeyId: string }
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'policies' }
  | { readonly kind: 'all' };

export interface ChangeWatch {
  /** True while notices arrive; while false, a cache must not trust an entry longer than its short TTL. */
  readonly live: boolean;
  close(): Promise<void>;
}

/** Thrown for a create that collides with an existing entity. */
export class AlreadyExistsError extends Error {
  override readonly name = 'AlreadyExistsError';
}

// ---------------------------------------------------------------- IAM policies

/** Who a policy is attached to or embedded in. */
export type PolicyOwnerType = 'user' | 'group' | 'role';

export interface PolicyOwner {
  readonly type: PolicyOwnerType;
  /** The owner's unique id: AIDA… for users, AGPA… for groups, AROA… for roles. */
  readonly id: string;
}

export interface ManagedPolicy {
  /** `aws` for the pre-created AWS-managed policies, else the owning account. */
  readonly accountId: string;
  readonly policyName: string;
  /** ANPA… */
  readonly policyId: string;
  readonly path: string;
  readonly arn: string;
  readonly description: string;
  readonly defaultVersionId: string;
  readonly attachmentCount: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface PolicyVersion {
  readonly versionId: string;
  readonly document: string;
  readonly isDefault: boolean;
  readonly createdAt: number;
}

export interface InlinePolicy {
  readonly policyName: string;
  readonly document: string;
}

/** Everything the authorizer needs about one principal's policies, read in one go. */
export interface PrincipalPolicies {
  readonly inline: readonly InlinePolicy[];
  /** Attached managed policies with their default version. */
  readonly managed: readonly { readonly arn: string; readonly versionId: string; readonly document: string }[];
  /** The permissions boundary's default version, when one is set. */
  readonly boundary: { readonly arn: string; readonly versionId: string; readonly document: string } | undefined;
}

/** A create that would pass an IAM quota (two access keys per user, five policy versions…). */
export class LimitExceededError extends Error {
  override readonly name = 'LimitExceededError';
}

/** A delete that must wait until what depends on the entity is gone. */
export class DeleteConflictError extends Error {
  override readonly name = 'DeleteConflictError';
}

/** The entity a change refers to does not exist. */
export class NoSuchEntityError extends Error {
  override readonly name = 'NoSuchEntityError';
}

/**
 * IAM's entities beyond users and keys. Every method that changes something is atomic (one
 * transaction) and checks IAM's quotas and conflicts itself, so two requests racing cannot
 * break them.
 */
export interface IamStore {
  listUsers(accountId: string, pathPrefix: string): Promise<User[]>;
  /** Refuses with DeleteConflictError while the user has access keys, inline or attached policies. */
  deleteUser(accountId: string, userName: string): Promise<void>;
  /** ARN of the user's permissions boundary, or undefined. */
  getUserBoundary(userId: string): Promise<string | undefined>;
  setUserBoundary(userId: string, policyArn: string | undefined): Promise<void>;

  /** Creates a key unless the user already has `maxPerUser` (LimitExceededError). */
  createAccessKeyLimited(key: Omit<AccessKeyWithSecret, 'lastUsed'>, maxPerUser: number): Promise<void>;
  deleteAccessKey(accessKeyId: string): Promise<void>;

  /** Creates the policy with `document` as v1, the default. */
  createManagedPolicy(policy: Omit<ManagedPolicy, 'defaultVersionId' | 'attachmentCount' | 'updatedAt'>, document: string): Promise<ManagedPolicy>;
  getManagedPolicy(arn: string): Promise<ManagedPolicy | undefined>;
  /** `scope`: `All`, `AWS` (AWS-managed) or `Local` (the account's own); `onlyAttached` as IAM's ListPolicies. */
  listManagedPolicies(accountId: string, scope: 'All' | 'AWS' | 'Local', onlyAttached: boolean, pathPrefix: string): Promise<ManagedPolicy[]>;
  /** Refuses with DeleteConflictError while attached anywhere or while it has versions besides the default. */
  deleteManagedPolicy(arn: string): Promise<void>;
  /** Adds v(N+1), at most `maxVersions` versions (LimitExceededError); optionally the new default. */
  createPolicyVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<PolicyVersion>;
  getPolicyVersion(arn: string, versionId: string): Promise<PolicyVersion | undefined>;
  listPolicyVersions(arn: string): Promise<PolicyVersion[]>;
  setDefaultPolicyVersion(arn: string, versionId: string): Promise<void>;
  /** Refuses with DeleteConflictError for the default version. */
  deletePolicyVersion(arn: string, versionId: string): Promise<void>;

  /** Attaching twice is not an error; at most `maxAttached` per owner (LimitExceededError). */
  attachPolicy(owner: PolicyOwner, arn: string, maxAttached: number): Promise<void>;
  detachPolicy(owner: PolicyOwner, arn: string): Promise<void>;
  listAttachedPolicies(owner: PolicyOwner): Promise<ManagedPolicy[]>;

  /** Adds or replaces; with `maxTotalSize`, LimitExceededError when the owner's inline policies would then exceed it (IAM counts non-white-space characters). */
  putInlinePolicy(owner: PolicyOwner, policyName: string, document: string, maxTotalSize?: number): Promise<void>;
  getInlinePolicy(owner: PolicyOwner, policyName: string): Promise<InlinePolicy | undefined>;
  listInlinePolicies(owner: PolicyOwner): Promise<InlinePolicy[]>;
  deleteInlinePolicy(owner: PolicyOwner, policyName: string): Promise<void>;

  /**
   * A user's inline and attached policies, those of every group the user is in, and the
   * user's boundary, with each managed policy's default version.
   */
  principalPolicies(userId: string): Promise<PrincipalPolicies>;
}

// ---------------------------------------------------------------- groups, roles, tags

export interface Group {
  readonly accountId: string;
  readonly groupName: string;
  /** AGPA… */
  readonly groupId: string;
  readonly path: string;
  readonly createdAt: number;
}

export interface Role {
  readonly accountId: string;
  readonly roleName: string;
  /** AROA… */
  readonly roleId: string;
  readonly path: string;
  readonly assumeRolePolicyDocument: string;
  readonly description: string;
  /** Seconds, 3600..43200. */
  readonly maxSessionDuration: number;
  readonly createdAt: number;
}

export type TaggedType = 'user' | 'role' | 'policy';

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** Groups, roles and tags. Mutations are atomic and check IAM's rules, as in IamStore. */
export interface IamEntityStore {
  createGroup(group: Group): Promise<void>;
  getGroup(accountId: string, groupName: string): Promise<Group | undefined>;
  listGroups(accountId: string, pathPrefix: string): Promise<Group[]>;
  /** Refuses with DeleteConflictError while the group has members, inline or attached policies. */
  deleteGroup(accountId: string, groupName: string): Promise<void>;
  /** Idempotent. NoSuchEntityError when the user or the group does not exist. */
  addUserToGroup(groupId: string, userId: string): Promise<void>;
  /** NoSuchEntityError when the user is not in the group. */
  removeUserFromGroup(groupId: string, userId: string): Promise<void>;
  listGroupsForUser(userId: string): Promise<Group[]>;
  listUsersInGroup(groupId: string): Promise<User[]>;

  /** With its boundary and tags, in one transaction. */
  createRole(role: Role, extras?: CreateExtras): Promise<void>;
  getRole(accountId: string, roleName: string): Promise<Role | undefined>;
  getRoleById(roleId: string): Promise<Role | undefined>;
  listRoles(accountId: string, pathPrefix: string): Promise<Role[]>;
  /** Refuses with DeleteConflictError while the role has inline or attached policies. */
  deleteRole(accountId: string, roleName: string): Promise<void>;
  updateRole(roleId: string, changes: { readonly description?: string; readonly maxSessionDuration?: number; readonly assumeRolePolicyDocument?: string }): Promise<void>;
  getRoleBoundary(roleId: string): Promise<string | undefined>;
  setRoleBoundary(roleId: string, policyArn: string | undefined): Promise<void>;

  /** Adds or replaces tags; at most `maxTags` per entity (LimitExceededError). Keys compare without case. */
  tagResource(type: TaggedType, id: string, tags: readonly Tag[], maxTags: number): Promise<void>;
  untagResource(type: TaggedType, id: string, keys: readonly string[]): Promise<void>;
  listTags(type: TaggedType, id: string): Promise<Tag[]>;

  /** A role's inline and attached policies and boundary, as principalPolicies gives a user's. */
  rolePolicies(roleId: string): Promise<PrincipalPolicies>;
}

// ---------------------------------------------------------------- OpenID Connect providers

export interface OidcProvider {
  readonly accountId: string;
  /** `arn:aws:iam::ACCOUNT:oidc-provider/HOST/PATH` */
  readonly arn: string;
  /** The issuer URL, `https://HOST/PATH`. */
  readonly url: string;
  readonly clientIds: readonly string[];
  readonly thumbprints: readonly string[];
  readonly createdAt: number;
}

export interface OidcProviderStore {
  /** AlreadyExistsError for a second provider with the same URL in the account. */
  createOidcProvider(provider: OidcProvider): Promise<void>;
  getOidcProvider(arn: string): Promise<OidcProvider | undefined>;
  listOidcProviders(accountId: string): Promise<OidcProvider[]>;
  /** NoSuchEntityError when absent. */
  deleteOidcProvider(arn: string): Promise<void>;
  /** Replaces the client IDs (and thumbprints when given); NoSuchEntityError when absent. */
  updateOidcProvider(arn: string, changes: { readonly clientIds?: readonly string[]; readonly thumbprints?: readonly string[] }): Promise<void>;
}
