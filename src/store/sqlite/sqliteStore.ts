/**
 * The embedded store: one SQLite file in the data dir, WAL journal, synchronous=FULL so an
 * acknowledged write survives a crash, versioned migrations.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync } from 'node:fs';
import { Sealer } from '../seal.js';
import {
  type AccessKey, type AccessKeyStatus, type AccessKeyWithSecret, type Account, AlreadyExistsError, DeleteConflictError, type Group,
  type InlinePolicy, type LastUse, type ManagedPolicy, NoSuchEntityError, type PolicyOwner, type PolicyOwnerType,
  type CreateExtras, type OidcProvider, type PolicyVersion, type PrincipalPolicies, type Role, type Store, type Tag, type TaggedType,
  type User,
} from '../types.js';
import {
  type AccountRow, attachmentQuota, checkInlinePoliciesSize, type DefaultVersionRow, ENTITY_TABLES, GROUP_COLUMNS, GROUPS_PER_USER,
  type GroupRow, type InlineRow, JOIN_DEFAULT_VERSION, KEY_COLUMNS, type KeyRow, OIDC_COLUMNS, type OidcProviderRow, POLICY_COLUMNS,
  POLICY_ORDER, type PolicyRow, quotaExceeded, ROLE_COLUMNS, type RoleRow, TAGS_PER_ENTITY, tagQuota, type TagRow, toAccount,
  toDefaultVersion, toGroup, toInline, toKey, toOidcProvider, toPolicy, toRole, toTag, toUser, USER_COLUMNS, type UserRow,
  VERSION_COLUMNS,
} from '../rows.js';
import { SQLITE_MIGRATIONS } from './migrations.js';

export { GROUPS_PER_USER } from '../rows.js';

/** SQLite has no boolean type: `is_default` (VERSION_COLUMNS) comes back 0 or 1. */
interface VersionRow {
  version_id: string;
  document: string;
  is_default: number;
  created_at: number;
}

function toVersion(r: VersionRow): PolicyVersion {
  return { versionId: r.version_id, document: r.document, isDefault: r.is_default === 1, createdAt: r.created_at };
}

/** `column` starts with the bound prefix (LIKE would ignore case and read `_` and `%` as wildcards). */
const startsWith = (column: string): string => `instr(${column}, ?) = 1`;

/** Only a duplicate key is a collision; foreign-key and check failures are other errors. */
function isUniqueViolation(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #sealer: Sealer;
  /** Statements by their SQL text (a fixed set: values are always bound), each compiled once. */
  readonly #statements = new Map<string, Database.Statement>();

  constructor(path: string, sealer: Sealer) {
    // Created 0600 before SQLite opens it (its -wal and -shm files take the same mode), so
    // the file is never readable by others, not even for a moment.
    if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
    this.#db = new Database(path);
    this.#sealer = sealer;
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.pragma('foreign_keys = ON');
    this.#db.pragma('busy_timeout = 5000');
    this.#migrate();
  }

  /** The statement for `sql`, compiled on first use; one that returns rows comes back in its default mode. */
  #sql(sql: string): Database.Statement {
    let stmt = this.#statements.get(sql);
    if (stmt === undefined) {
      stmt = this.#db.prepare(sql);
      this.#statements.set(sql, stmt);
    }
    return stmt.reader ? stmt.pluck(false) : stmt;
  }

  #migrate(): void {
    this.#db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
    const done = new Set(this.#db.prepare('SELECT version FROM schema_migrations').pluck().all() as number[]);
    for (const m of SQLITE_MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.#db.transaction(() => {
        this.#db.exec(m.sql);
        this.#db.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)').run(m.version, Date.now());
      })();
    }
  }

  /** The schema version, for tests and `portcullis` diagnostics. */
  schemaVersion(): number {
    return (this.#sql('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
  }

  async ping(): Promise<void> {
    this.#sql('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.#sql('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.#sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async compareAndSetMeta(key: string, expected: string | undefined, value: string): Promise<boolean> {
    const { changes } = expected === undefined
      ? this.#sql('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING').run(key, value)
      : this.#sql('UPDATE meta SET value = ? WHERE key = ? AND value = ?').run(value, key, expected);
    return changes === 1;
  }

  async resealSecrets(): Promise<number> {
    const current = this.#sealer.currentKeyId;
    return this.#write(() => {
      let n = 0;
      const keys = this.#sql('SELECT access_key_id AS id, secret_sealed AS sealed FROM access_keys').all() as { id: string; sealed: string }[];
      const putKey = this.#sql('UPDATE access_keys SET secret_sealed = ? WHERE access_key_id = ?');
      for (const k of keys) {
        if (Sealer.keyIdOf(k.sealed) === current) continue;
        putKey.run(this.#sealer.reseal(k.sealed, k.id), k.id);
        n++;
      }
      const metas = this.#sql("SELECT key, value FROM meta WHERE value LIKE 'pcs1.%'").all() as { key: string; value: string }[];
      const putMeta = this.#sql('UPDATE meta SET value = ? WHERE key = ?');
      for (const m of metas) {
        const id = Sealer.keyIdOf(m.value);
        if (id === undefined || id === current) continue;
        putMeta.run(this.#sealer.reseal(m.value, m.key), m.key);
        n++;
      }
      return n;
    });
  }

  async createAccount(a: Account): Promise<void> {
    try {
      this.#sql('INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(a.accountId, a.name, a.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`account ${a.accountId} already exists`);
      throw e;
    }
  }

  async getAccount(accountId: string): Promise<Account | undefined> {
    const r = this.#sql('SELECT account_id, name, created_at FROM accounts WHERE account_id = ?').get(accountId) as AccountRow | undefined;
    return r && toAccount(r);
  }

  async createUser(u: User, extras: CreateExtras = {}): Promise<void> {
    this.#write(() => {
      try {
        this.#sql('INSERT INTO users (account_id, user_name, user_name_lower, user_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(u.accountId, u.userName, u.userName.toLowerCase(), u.userId, u.path, u.createdAt);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`User with name ${u.userName} already exists.`);
        throw e;
      }
      this.#extras('user', u.userId, extras);
    });
  }

  /** A new entity's boundary and tags, in the transaction that creates it. */
  #extras(type: 'user' | 'role', id: string, extras: CreateExtras): void {
    if (extras.boundary !== undefined) this.#setBoundary(type, id, extras.boundary);
    if (extras.tags !== undefined && extras.tags.length > 0) this.#putTags(type, id, extras.tags, extras.maxTags ?? TAGS_PER_ENTITY);
  }

  #setBoundary(type: 'user' | 'role', id: string, policyArn: string | undefined): void {
    if (policyArn !== undefined) this.#requirePolicy(policyArn);
    const sql = type === 'user' ? 'UPDATE users SET permissions_boundary = ? WHERE user_id = ?' : 'UPDATE roles SET permissions_boundary = ? WHERE role_id = ?';
    const { changes } = this.#sql(sql).run(policyArn ?? null, id);
    if (changes === 0) throw new NoSuchEntityError(`The ${type} with id ${id} cannot be found.`);
  }

  async getUser(accountId: string, userName: string): Promise<User | undefined> {
    const r = this.#userRow(accountId, userName);
    return r && toUser(r);
  }

  async getUserById(userId: string): Promise<User | undefined> {
    const r = this.#sql(`SELECT ${USER_COLUMNS} FROM users WHERE user_id = ?`).get(userId) as UserRow | undefined;
    return r && toUser(r);
  }

  async createAccessKey(k: Omit<AccessKeyWithSecret, 'lastUsed'>): Promise<void> {
    this.#insertKey(this.#requireUser(k.accountId, k.userName).user_id, k);
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyWithSecret | undefined> {
    const r = this.#sql(`SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = ?`)
      .get(accessKeyId) as KeyRow | undefined;
    if (r === undefined) return undefined;
    return { ...toKey(r), secretAccessKey: this.#sealer.open(r.secret_sealed, r.access_key_id) };
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKey[]> {
    const rows = this.#sql(`SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id
                WHERE u.account_id = ? AND u.user_name_lower = ? ORDER BY k.created_at, k.access_key_id`)
      .all(accountId, userName.toLowerCase()) as KeyRow[];
    return rows.map(toKey);
  }

  async setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    this.#sql('UPDATE access_keys SET status = ? WHERE access_key_id = ?').run(status, accessKeyId);
  }

  async recordLastUsed(uses: ReadonlyMap<string, LastUse>): Promise<void> {
    const stmt = this.#sql(
      `UPDATE access_keys SET last_used_at = ?, last_used_service = ?, last_used_region = ?
       WHERE access_key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
    );
    this.#db.transaction(() => {
      for (const [id, u] of uses) stmt.run(u.at, u.service, u.region, id, u.at);
    })();
  }

  // ---------------------------------------------------------------- IAM: users and keys

  async listUsers(accountId: string, pathPrefix: string): Promise<User[]> {
    const rows = this.#sql(`SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? AND ${startsWith('path')} ORDER BY user_name_lower`)
      .all(accountId, pathPrefix) as UserRow[];
    return rows.map(toUser);
  }

  async deleteUser(accountId: string, userName: string): Promise<void> {
    this.#write(() => {
      const u = this.#requireUser(accountId, userName);
      if (this.#count('SELECT COUNT(*) FROM access_keys WHERE user_id = ?', u.user_id) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must delete access keys first.');
      }
      this.#refuseIfOwnsPolicies({ type: 'user', id: u.user_id });
      if (this.#count('SELECT COUNT(*) FROM group_members WHERE user_id = ?', u.user_id) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must remove user from all groups first.');
      }
      this.#sql('DELETE FROM users WHERE user_id = ?').run(u.user_id); // and its tags, by trigger
    });
  }

  async getUserBoundary(userId: string): Promise<string | undefined> {
    const arn = this.#sql('SELECT permissions_boundary FROM users WHERE user_id = ?').pluck().get(userId) as string | null | undefined;
    return arn ?? undefined;
  }

  async setUserBoundary(userId: string, policyArn: string | undefined): Promise<void> {
    this.#write(() => this.#setBoundary('user', userId, policyArn));
  }

  async createAccessKeyLimited(k: Omit<AccessKeyWithSecret, 'lastUsed'>, maxPerUser: number): Promise<void> {
    this.#write(() => {
      const u = this.#requireUser(k.accountId, k.userName);
      if (this.#count('SELECT COUNT(*) FROM access_keys WHERE user_id = ?', u.user_id) >= maxPerUser) {
        throw quotaExceeded('AccessKeysPerUser', maxPerUser);
      }
      this.#insertKey(u.user_id, k);
    });
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    const { changes } = this.#sql('DELETE FROM access_keys WHERE access_key_id = ?').run(accessKeyId);
    if (changes === 0) throw new NoSuchEntityError(`The Access Key with id ${accessKeyId} cannot be found.`);
  }

  // ---------------------------------------------------------------- IAM: managed policies

  async createManagedPolicy(
    policy: Omit<ManagedPolicy, 'defaultVersionId' | 'attachmentCount' | 'updatedAt'>,
    document: string,
  ): Promise<ManagedPolicy> {
    return this.#write(() => {
      try {
        this.#sql(`INSERT INTO managed_policies (policy_id, account_id, policy_name, policy_name_lower, path, arn, description,
                      default_version_id, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'v1', 2, ?, ?)`)
          .run(policy.policyId, policy.accountId, policy.policyName, policy.policyName.toLowerCase(), policy.path, policy.arn,
            policy.description, policy.createdAt, policy.createdAt);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`A policy called ${policy.policyName} already exists. Duplicate names are not allowed.`);
        throw e;
      }
      this.#insertVersion(policy.policyId, 'v1', document, policy.createdAt);
      return toPolicy(this.#requirePolicy(policy.arn));
    });
  }

  async getManagedPolicy(arn: string): Promise<ManagedPolicy | undefined> {
    const r = this.#policyRow(arn);
    return r && toPolicy(r);
  }

  async listManagedPolicies(accountId: string, scope: 'All' | 'AWS' | 'Local', onlyAttached: boolean, pathPrefix: string): Promise<ManagedPolicy[]> {
    // The accounts a scope covers, as the two values of `account_id IN (?, ?)`.
    const accounts = { All: ['aws', accountId], AWS: ['aws', 'aws'], Local: [accountId, accountId] }[scope];
    const rows = this.#sql(`SELECT ${POLICY_COLUMNS} FROM managed_policies p
                WHERE p.account_id IN (?, ?) AND ${startsWith('p.path')}
                  AND (? = 0 OR EXISTS (SELECT 1 FROM policy_attachments a WHERE a.policy_id = p.policy_id))
                ${POLICY_ORDER}`)
      .all(...accounts, pathPrefix, onlyAttached ? 1 : 0) as PolicyRow[];
    return rows.map(toPolicy);
  }

  async deleteManagedPolicy(arn: string): Promise<void> {
    this.#write(() => {
      const p = this.#requirePolicy(arn);
      if (p.attachment_count > 0) throw new DeleteConflictError('Cannot delete a policy attached to entities.');
      if (this.#count('SELECT (SELECT COUNT(*) FROM users WHERE permissions_boundary = ?) + (SELECT COUNT(*) FROM roles WHERE permissions_boundary = ?)', arn, arn) > 0) {
        throw new DeleteConflictError('Cannot delete a policy used as a permissions boundary.');
      }
      if (this.#versionCount(p.policy_id) > 1) {
        throw new DeleteConflictError('This policy has more than one version. Before you delete a policy, you must delete the policy\'s versions. The default version is deleted with the policy.');
      }
      this.#sql('DELETE FROM managed_policies WHERE policy_id = ?').run(p.policy_id); // its version by cascade, its tags by trigger
    });
  }

  async createPolicyVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<PolicyVersion> {
    return this.#write(() => {
      const p = this.#requirePolicy(arn);
      if (this.#versionCount(p.policy_id) >= maxVersions) throw quotaExceeded('PolicyVersionsPerPolicy', maxVersions);
      const versionId = `v${p.next_version}`;
      const now = Date.now();
      this.#insertVersion(p.policy_id, versionId, document, now);
      this.#sql('UPDATE managed_policies SET next_version = next_version + 1, updated_at = ? WHERE policy_id = ?').run(now, p.policy_id);
      if (setAsDefault) this.#setDefault(p.policy_id, versionId);
      return { versionId, document, isDefault: setAsDefault, createdAt: now };
    });
  }

  async getPolicyVersion(arn: string, versionId: string): Promise<PolicyVersion | undefined> {
    const r = this.#sql(`SELECT ${VERSION_COLUMNS} FROM policy_versions v JOIN managed_policies p ON p.policy_id = v.policy_id
                WHERE p.arn = ? AND v.version_id = ?`)
      .get(arn, versionId) as VersionRow | undefined;
    return r && toVersion(r);
  }

  /** Newest first, as IAM lists them; empty for an unknown policy (a policy always has a version). */
  async listPolicyVersions(arn: string): Promise<PolicyVersion[]> {
    const rows = this.#sql(`SELECT ${VERSION_COLUMNS} FROM policy_versions v JOIN managed_policies p ON p.policy_id = v.policy_id
                WHERE p.arn = ? ORDER BY CAST(substr(v.version_id, 2) AS INTEGER) DESC`)
      .all(arn) as VersionRow[];
    return rows.map(toVersion);
  }

  async setDefaultPolicyVersion(arn: string, versionId: string): Promise<void> {
    this.#write(() => {
      const p = this.#requirePolicy(arn);
      this.#requireVersion(p, versionId);
      this.#setDefault(p.policy_id, versionId);
    });
  }

  async deletePolicyVersion(arn: string, versionId: string): Promise<void> {
    this.#write(() => {
      const p = this.#requirePolicy(arn);
      this.#requireVersion(p, versionId);
      if (p.default_version_id === versionId) throw new DeleteConflictError('Cannot delete the default version of a policy.');
      this.#sql('DELETE FROM policy_versions WHERE policy_id = ? AND version_id = ?').run(p.policy_id, versionId);
    });
  }

  // ---------------------------------------------------------------- IAM: attachments and inline policies

  async attachPolicy(owner: PolicyOwner, arn: string, maxAttached: number): Promise<void> {
    this.#write(() => {
      const p = this.#requirePolicy(arn);
      this.#requireOwner(owner);
      const attached = this.#count('SELECT COUNT(*) FROM policy_attachments WHERE owner_type = ? AND owner_id = ? AND policy_id = ?', owner.type, owner.id, p.policy_id);
      if (attached > 0) return;
      if (this.#attachedCount(owner) >= maxAttached) throw quotaExceeded(attachmentQuota(owner), maxAttached);
      this.#sql('INSERT INTO policy_attachments (owner_type, owner_id, policy_id) VALUES (?, ?, ?)').run(owner.type, owner.id, p.policy_id);
    });
  }

  async detachPolicy(owner: PolicyOwner, arn: string): Promise<void> {
    const { changes } = this.#sql(`DELETE FROM policy_attachments WHERE owner_type = ? AND owner_id = ?
                AND policy_id = (SELECT policy_id FROM managed_policies WHERE arn = ?)`)
      .run(owner.type, owner.id, arn);
    if (changes === 0) throw new NoSuchEntityError(`Policy ${arn} was not found.`);
  }

  async listAttachedPolicies(owner: PolicyOwner): Promise<ManagedPolicy[]> {
    const rows = this.#sql(`SELECT ${POLICY_COLUMNS} FROM policy_attachments x JOIN managed_policies p ON p.policy_id = x.policy_id
                WHERE x.owner_type = ? AND x.owner_id = ? ${POLICY_ORDER}`)
      .all(owner.type, owner.id) as PolicyRow[];
    return rows.map(toPolicy);
  }

  async putInlinePolicy(owner: PolicyOwner, policyName: string, document: string, maxTotalSize?: number): Promise<void> {
    this.#write(() => {
      this.#requireOwner(owner);
      this.#sql(`INSERT INTO inline_policies (owner_type, owner_id, policy_name, document) VALUES (?, ?, ?, ?)
                  ON CONFLICT (owner_type, owner_id, policy_name) DO UPDATE SET document = excluded.document`)
        .run(owner.type, owner.id, policyName, document);
      // Summed after the change, inside the transaction: two racing puts cannot pass the quota.
      if (maxTotalSize !== undefined) checkInlinePoliciesSize(owner, this.#inline(owner), maxTotalSize);
    });
  }

  async getInlinePolicy(owner: PolicyOwner, policyName: string): Promise<InlinePolicy | undefined> {
    const r = this.#sql('SELECT policy_name, document FROM inline_policies WHERE owner_type = ? AND owner_id = ? AND policy_name = ?')
      .get(owner.type, owner.id, policyName) as InlineRow | undefined;
    return r && toInline(r);
  }

  async listInlinePolicies(owner: PolicyOwner): Promise<InlinePolicy[]> {
    return this.#inline(owner);
  }

  async deleteInlinePolicy(owner: PolicyOwner, policyName: string): Promise<void> {
    const { changes } = this.#sql('DELETE FROM inline_policies WHERE owner_type = ? AND owner_id = ? AND policy_name = ?')
      .run(owner.type, owner.id, policyName);
    if (changes === 0) throw new NoSuchEntityError(`The ${owner.type} policy with name ${policyName} cannot be found.`);
  }

  async principalPolicies(userId: string): Promise<PrincipalPolicies> {
    return this.#effectivePolicies('user', userId);
  }

  // ---------------------------------------------------------------- IAM: groups

  async createGroup(g: Group): Promise<void> {
    this.#write(() => {
      this.#requireAccount(g.accountId);
      try {
        this.#sql('INSERT INTO groups (group_id, account_id, group_name, group_name_lower, path, created_at) VALUES (?, ?, ?, ?, ?, ?)')
          .run(g.groupId, g.accountId, g.groupName, g.groupName.toLowerCase(), g.path, g.createdAt);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Group with name ${g.groupName} already exists.`);
        throw e;
      }
    });
  }

  async getGroup(accountId: string, groupName: string): Promise<Group | undefined> {
    const r = this.#groupRow(accountId, groupName);
    return r && toGroup(r);
  }

  async listGroups(accountId: string, pathPrefix: string): Promise<Group[]> {
    const rows = this.#sql(`SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.account_id = ? AND ${startsWith('g.path')} ORDER BY g.group_name_lower`)
      .all(accountId, pathPrefix) as GroupRow[];
    return rows.map(toGroup);
  }

  async deleteGroup(accountId: string, groupName: string): Promise<void> {
    this.#write(() => {
      const g = this.#groupRow(accountId, groupName);
      if (g === undefined) throw new NoSuchEntityError(`The group with name ${groupName} cannot be found.`);
      if (this.#count('SELECT COUNT(*) FROM group_members WHERE group_id = ?', g.group_id) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must remove users from group first.');
      }
      this.#refuseIfOwnsPolicies({ type: 'group', id: g.group_id });
      this.#sql('DELETE FROM groups WHERE group_id = ?').run(g.group_id);
    });
  }

  /**
   * Idempotent. The user and the group must exist in the same account (NoSuchEntityError);
   * a user is in at most `maxGroupsPerUser` groups (LimitExceededError), IAM's 10 by default.
   */
  async addUserToGroup(groupId: string, userId: string, maxGroupsPerUser = GROUPS_PER_USER): Promise<void> {
    this.#write(() => {
      const groupAccount = this.#sql('SELECT account_id FROM groups WHERE group_id = ?').pluck().get(groupId) as string | undefined;
      if (groupAccount === undefined) throw new NoSuchEntityError(`The group with id ${groupId} cannot be found.`);
      const userAccount = this.#sql('SELECT account_id FROM users WHERE user_id = ?').pluck().get(userId) as string | undefined;
      if (userAccount !== groupAccount) throw new NoSuchEntityError(`The user with id ${userId} cannot be found.`);
      if (this.#count('SELECT COUNT(*) FROM group_members WHERE group_id = ? AND user_id = ?', groupId, userId) > 0) return;
      if (this.#count('SELECT COUNT(*) FROM group_members WHERE user_id = ?', userId) >= maxGroupsPerUser) {
        throw quotaExceeded('GroupsPerUser', maxGroupsPerUser);
      }
      this.#sql('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)').run(groupId, userId);
    });
  }

  async removeUserFromGroup(groupId: string, userId: string): Promise<void> {
    const { changes } = this.#sql('DELETE FROM group_members WHERE group_id = ? AND user_id = ?').run(groupId, userId);
    if (changes === 0) throw new NoSuchEntityError(`The user with id ${userId} is not in the group with id ${groupId}.`);
  }

  async listGroupsForUser(userId: string): Promise<Group[]> {
    const rows = this.#sql(`SELECT ${GROUP_COLUMNS} FROM group_members m JOIN groups g ON g.group_id = m.group_id
                WHERE m.user_id = ? ORDER BY g.group_name_lower`)
      .all(userId) as GroupRow[];
    return rows.map(toGroup);
  }

  async listUsersInGroup(groupId: string): Promise<User[]> {
    const rows = this.#sql(`SELECT u.account_id, u.user_name, u.user_id, u.path, u.created_at FROM group_members m JOIN users u ON u.user_id = m.user_id
                WHERE m.group_id = ? ORDER BY u.user_name_lower`)
      .all(groupId) as UserRow[];
    return rows.map(toUser);
  }

  // ---------------------------------------------------------------- IAM: roles

  async createRole(r: Role, extras: CreateExtras = {}): Promise<void> {
    this.#write(() => {
      this.#requireAccount(r.accountId);
      try {
        this.#sql(`INSERT INTO roles (role_id, account_id, role_name, role_name_lower, path, assume_role_policy, description,
                      max_session_duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
          .run(r.roleId, r.accountId, r.roleName, r.roleName.toLowerCase(), r.path, r.assumeRolePolicyDocument, r.description,
            r.maxSessionDuration, r.createdAt);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Role with name ${r.roleName} already exists.`);
        throw e;
      }
      this.#extras('role', r.roleId, extras);
    });
  }

  async getRole(accountId: string, roleName: string): Promise<Role | undefined> {
    const r = this.#roleRow(accountId, roleName);
    return r && toRole(r);
  }

  async getRoleById(roleId: string): Promise<Role | undefined> {
    const r = this.#sql(`SELECT ${ROLE_COLUMNS} FROM roles WHERE role_id = ?`).get(roleId) as RoleRow | undefined;
    return r && toRole(r);
  }

  async listRoles(accountId: string, pathPrefix: string): Promise<Role[]> {
    const rows = this.#sql(`SELECT ${ROLE_COLUMNS} FROM roles WHERE account_id = ? AND ${startsWith('path')} ORDER BY role_name_lower`)
      .all(accountId, pathPrefix) as RoleRow[];
    return rows.map(toRole);
  }

  async deleteRole(accountId: string, roleName: string): Promise<void> {
    this.#write(() => {
      const r = this.#roleRow(accountId, roleName);
      if (r === undefined) throw new NoSuchEntityError(`The role with name ${roleName} cannot be found.`);
      this.#refuseIfOwnsPolicies({ type: 'role', id: r.role_id });
      this.#sql('DELETE FROM roles WHERE role_id = ?').run(r.role_id); // and its tags, by trigger
    });
  }

  /** Changes only what `changes` names; NoSuchEntityError for an unknown role. */
  async updateRole(
    roleId: string,
    changes: { readonly description?: string; readonly maxSessionDuration?: number; readonly assumeRolePolicyDocument?: string },
  ): Promise<void> {
    const { changes: n } = this.#sql(`UPDATE roles SET description = COALESCE(?, description), max_session_duration = COALESCE(?, max_session_duration),
                  assume_role_policy = COALESCE(?, assume_role_policy) WHERE role_id = ?`)
      .run(changes.description ?? null, changes.maxSessionDuration ?? null, changes.assumeRolePolicyDocument ?? null, roleId);
    if (n === 0) throw new NoSuchEntityError(`The role with id ${roleId} cannot be found.`);
  }

  async getRoleBoundary(roleId: string): Promise<string | undefined> {
    const arn = this.#sql('SELECT permissions_boundary FROM roles WHERE role_id = ?').pluck().get(roleId) as string | null | undefined;
    return arn ?? undefined;
  }

  async setRoleBoundary(roleId: string, policyArn: string | undefined): Promise<void> {
    this.#write(() => this.#setBoundary('role', roleId, policyArn));
  }

  async rolePolicies(roleId: string): Promise<PrincipalPolicies> {
    return this.#effectivePolicies('role', roleId);
  }

  // ---------------------------------------------------------------- IAM: tags

  /**
   * `id` is the entity's unique id: user_id, role_id, or policy_id (ANPA…, not the ARN).
   * NoSuchEntityError for an unknown entity. A key equal to an existing one but for case
   * replaces it, key spelling and value. Tags in `tags` apply in order, so of two keys equal
   * but for case the later wins.
   */
  async tagResource(type: TaggedType, id: string, tags: readonly Tag[], maxTags: number): Promise<void> {
    this.#write(() => this.#putTags(type, id, tags, maxTags));
  }

  #putTags(type: TaggedType, id: string, tags: readonly Tag[], maxTags: number): void {
    this.#requireEntity(type, id);
    const put = this.#sql(`INSERT INTO tags (resource_type, resource_id, tag_key, tag_key_lower, tag_value) VALUES (?, ?, ?, ?, ?)
                                  ON CONFLICT (resource_type, resource_id, tag_key_lower)
                                  DO UPDATE SET tag_key = excluded.tag_key, tag_value = excluded.tag_value`);
    for (const t of tags) put.run(type, id, t.key, t.key.toLowerCase(), t.value);
    // Counted after the change, inside the transaction: a refusal rolls every tag of the call back.
    if (this.#count('SELECT COUNT(*) FROM tags WHERE resource_type = ? AND resource_id = ?', type, id) > maxTags) {
      throw quotaExceeded(tagQuota(type), maxTags);
    }
  }

  /** Keys compare without case; absent keys are ignored. NoSuchEntityError for an unknown entity. */
  async untagResource(type: TaggedType, id: string, keys: readonly string[]): Promise<void> {
    this.#write(() => {
      this.#requireEntity(type, id);
      const drop = this.#sql('DELETE FROM tags WHERE resource_type = ? AND resource_id = ? AND tag_key_lower = ?');
      for (const k of keys) drop.run(type, id, k.toLowerCase());
    });
  }

  /** By key, ignoring case; empty for an unknown entity. */
  async listTags(type: TaggedType, id: string): Promise<Tag[]> {
    const rows = this.#sql('SELECT tag_key, tag_value FROM tags WHERE resource_type = ? AND resource_id = ? ORDER BY tag_key_lower')
      .all(type, id) as TagRow[];
    return rows.map(toTag);
  }

  // ---------------------------------------------------------------- IAM: OpenID Connect providers

  /**
   * AlreadyExistsError for a second provider with the same URL (ignoring case) in the account,
   * or the same ARN; NoSuchEntityError for an unknown account.
   */
  async createOidcProvider(p: OidcProvider): Promise<void> {
    this.#write(() => {
      this.#requireAccount(p.accountId);
      try {
        this.#sql(`INSERT INTO oidc_providers (arn, account_id, url, url_lower, client_ids, thumbprints, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?)`)
          .run(p.arn, p.accountId, p.url, p.url.toLowerCase(), JSON.stringify(p.clientIds), JSON.stringify(p.thumbprints), p.createdAt);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Provider with url ${p.url} already exists.`);
        throw e;
      }
    });
  }

  async getOidcProvider(arn: string): Promise<OidcProvider | undefined> {
    const r = this.#sql(`SELECT ${OIDC_COLUMNS} FROM oidc_providers WHERE arn = ?`).get(arn) as OidcProviderRow | undefined;
    return r && toOidcProvider(r);
  }

  /** By ARN. */
  async listOidcProviders(accountId: string): Promise<OidcProvider[]> {
    const rows = this.#sql(`SELECT ${OIDC_COLUMNS} FROM oidc_providers WHERE account_id = ? ORDER BY arn`)
      .all(accountId) as OidcProviderRow[];
    return rows.map(toOidcProvider);
  }

  async deleteOidcProvider(arn: string): Promise<void> {
    this.#write(() => {
      const { changes } = this.#sql('DELETE FROM oidc_providers WHERE arn = ?').run(arn);
      if (changes === 0) throw new NoSuchEntityError(`OpenIDConnect Provider ${arn} not found.`);
    });
  }

  /** Changes only the lists `changes` names (an empty list is a change); NoSuchEntityError when absent. */
  async updateOidcProvider(
    arn: string,
    changes: { readonly clientIds?: readonly string[]; readonly thumbprints?: readonly string[] },
  ): Promise<void> {
    const json = (list: readonly string[] | undefined): string | null => (list === undefined ? null : JSON.stringify(list));
    this.#write(() => {
      const { changes: n } = this.#sql('UPDATE oidc_providers SET client_ids = COALESCE(?, client_ids), thumbprints = COALESCE(?, thumbprints) WHERE arn = ?')
        .run(json(changes.clientIds), json(changes.thumbprints), arn);
      if (n === 0) throw new NoSuchEntityError(`OpenIDConnect Provider ${arn} not found.`);
    });
  }

  // ---------------------------------------------------------------- helpers

  /**
   * Runs `fn` as one write transaction. BEGIN IMMEDIATE takes the write lock before the first
   * read, so the checks in `fn` hold until commit, and another connection waits (busy_timeout)
   * instead of failing when its snapshot goes stale.
   */
  #write<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  #count(sql: string, ...params: unknown[]): number {
    return this.#sql(sql).pluck().get(...params) as number;
  }

  #userRow(accountId: string, userName: string): UserRow | undefined {
    return this.#sql(`SELECT ${USER_COLUMNS} FROM users WHERE account_id = ? AND user_name_lower = ?`)
      .get(accountId, userName.toLowerCase()) as UserRow | undefined;
  }

  #requireUser(accountId: string, userName: string): UserRow {
    const u = this.#userRow(accountId, userName);
    if (u === undefined) throw new NoSuchEntityError(`The user with name ${userName} cannot be found.`);
    return u;
  }

  #requireOwner(owner: PolicyOwner): void {
    this.#requireEntity(owner.type, owner.id);
  }

  /** The user, group, role or managed policy with this unique id exists, else NoSuchEntityError. */
  #requireEntity(type: PolicyOwnerType | TaggedType, id: string): void {
    const { table, id: column } = ENTITY_TABLES[type];
    if (this.#count(`SELECT COUNT(*) FROM ${table} WHERE ${column} = ?`, id) === 0) {
      throw new NoSuchEntityError(`The ${type} with id ${id} cannot be found.`);
    }
  }

  #requireAccount(accountId: string): void {
    if (this.#count('SELECT COUNT(*) FROM accounts WHERE account_id = ?', accountId) === 0) {
      throw new NoSuchEntityError(`The account ${accountId} cannot be found.`);
    }
  }

  #groupRow(accountId: string, groupName: string): GroupRow | undefined {
    return this.#sql(`SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.account_id = ? AND g.group_name_lower = ?`)
      .get(accountId, groupName.toLowerCase()) as GroupRow | undefined;
  }

  #roleRow(accountId: string, roleName: string): RoleRow | undefined {
    return this.#sql(`SELECT ${ROLE_COLUMNS} FROM roles WHERE account_id = ? AND role_name_lower = ?`)
      .get(accountId, roleName.toLowerCase()) as RoleRow | undefined;
  }

  /**
   * What the authorizer needs about a user or a role, read in one transaction (one snapshot,
   * so a policy change half-seen is impossible). A user's include those of every group the
   * user is in: the user's inline policies first, then each group's (by group name); a managed
   * policy attached to the user and to a group, or to two groups, appears once.
   */
  #effectivePolicies(type: 'user' | 'role', id: string): PrincipalPolicies {
    return this.#db.transaction((): PrincipalPolicies => {
      const viaGroups = type === 'user';
      const managed = this.#sql(`SELECT p.arn, v.version_id, v.document FROM managed_policies p ${JOIN_DEFAULT_VERSION}
                  WHERE p.policy_id IN (
                    SELECT policy_id FROM policy_attachments WHERE owner_type = ? AND owner_id = ?
                    UNION
                    SELECT a.policy_id FROM group_members m
                      JOIN policy_attachments a ON a.owner_type = 'group' AND a.owner_id = m.group_id
                      WHERE ? AND m.user_id = ?)
                  ${POLICY_ORDER}`)
        .all(type, id, viaGroups ? 1 : 0, id) as DefaultVersionRow[];
      const groupInline = viaGroups
        ? (this.#sql(`SELECT i.policy_name, i.document FROM group_members m JOIN groups g ON g.group_id = m.group_id
                    JOIN inline_policies i ON i.owner_type = 'group' AND i.owner_id = m.group_id
                    WHERE m.user_id = ? ORDER BY g.group_name_lower, i.policy_name`)
          .all(id) as InlineRow[])
        : [];
      const { table, id: column } = ENTITY_TABLES[type];
      const boundary = this.#sql(`SELECT p.arn, v.version_id, v.document FROM ${table} o
                  JOIN managed_policies p ON p.arn = o.permissions_boundary ${JOIN_DEFAULT_VERSION}
                  WHERE o.${column} = ?`)
        .get(id) as DefaultVersionRow | undefined;
      return {
        inline: [...this.#inline({ type, id }), ...groupInline.map(toInline)],
        managed: managed.map(toDefaultVersion),
        boundary: boundary && toDefaultVersion(boundary),
      };
    })();
  }

  #insertKey(userId: string, k: Omit<AccessKeyWithSecret, 'lastUsed'>): void {
    try {
      this.#sql('INSERT INTO access_keys (access_key_id, user_id, status, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(k.accessKeyId, userId, k.status, this.#sealer.seal(k.secretAccessKey, k.accessKeyId), k.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`access key ${k.accessKeyId} already exists`);
      throw e;
    }
  }

  #policyRow(arn: string): PolicyRow | undefined {
    return this.#sql(`SELECT ${POLICY_COLUMNS} FROM managed_policies p WHERE p.arn = ?`).get(arn) as PolicyRow | undefined;
  }

  #requirePolicy(arn: string): PolicyRow {
    const p = this.#policyRow(arn);
    if (p === undefined) throw new NoSuchEntityError(`Policy ${arn} does not exist or is not attachable.`);
    return p;
  }

  #requireVersion(p: PolicyRow, versionId: string): void {
    if (this.#count('SELECT COUNT(*) FROM policy_versions WHERE policy_id = ? AND version_id = ?', p.policy_id, versionId) === 0) {
      throw new NoSuchEntityError(`Policy ${p.arn} version ${versionId} does not exist or is not attachable.`);
    }
  }

  #versionCount(policyId: string): number {
    return this.#count('SELECT COUNT(*) FROM policy_versions WHERE policy_id = ?', policyId);
  }

  #insertVersion(policyId: string, versionId: string, document: string, createdAt: number): void {
    this.#sql('INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES (?, ?, ?, ?)')
      .run(policyId, versionId, document, createdAt);
  }

  #setDefault(policyId: string, versionId: string): void {
    this.#sql('UPDATE managed_policies SET default_version_id = ? WHERE policy_id = ?').run(versionId, policyId);
  }

  /** A user, group or role is deleted only once it has no inline and no attached policies, as in IAM. */
  #refuseIfOwnsPolicies(owner: PolicyOwner): void {
    if (this.#inline(owner).length > 0) throw new DeleteConflictError('Cannot delete entity, must delete policies first.');
    if (this.#attachedCount(owner) > 0) throw new DeleteConflictError('Cannot delete entity, must detach all policies first.');
  }

  #attachedCount(owner: PolicyOwner): number {
    return this.#count('SELECT COUNT(*) FROM policy_attachments WHERE owner_type = ? AND owner_id = ?', owner.type, owner.id);
  }

  #inline(owner: PolicyOwner): InlinePolicy[] {
    const rows = this.#sql('SELECT policy_name, document FROM inline_policies WHERE owner_type = ? AND owner_id = ? ORDER BY policy_name')
      .all(owner.type, owner.id) as InlineRow[];
    return rows.map(toInline);
  }
}
