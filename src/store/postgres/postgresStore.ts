/**
 * The shared store: one PostgreSQL database for several nodes. Same contract, same schema and
 * same answers as the SQLite store; secrets sealed by the same `Sealer` before they are written.
 *
 * Reads that are one statement run on the pool at READ COMMITTED. Writes that check before they
 * change run SERIALIZABLE with retry (`pool.ts` says why); what the authorizer reads in several
 * statements runs in one REPEATABLE READ snapshot.
 */
import type pg from 'pg';
import { Sealer } from '../seal.js';
import {
  type AccessKey, type AccessKeyStatus, type AccessKeyWithSecret, type Account, AlreadyExistsError, type ChangeWatch,
  type CreateExtras, DeleteConflictError, type Group, type InlinePolicy, type LastUse, type ManagedPolicy,
  NoSuchEntityError, type OidcProvider, type PolicyOwner, type PolicyOwnerType, type PolicyVersion, type PrincipalPolicies, type Role,
  type Store, type StoreChange, type Tag, type TaggedType, type User,
} from '../types.js';
import {
  type AccountRow, attachmentQuota, checkInlinePoliciesSize, type DefaultVersionRow, ENTITY_TABLES, GROUP_COLUMNS, GROUPS_PER_USER,
  type GroupRow, type InlineRow, JOIN_DEFAULT_VERSION, KEY_COLUMNS, type KeyRow, OIDC_COLUMNS, type OidcProviderRow, POLICY_COLUMNS,
  POLICY_ORDER, type PolicyRow, quotaExceeded, ROLE_COLUMNS, type RoleRow, TAGS_PER_ENTITY, tagQuota, type TagRow, toAccount,
  toDefaultVersion, toGroup, toInline, toKey, toOidcProvider, toPolicy, toRole, toTag, toUser, USER_COLUMNS, type UserRow,
  VERSION_COLUMNS,
} from '../rows.js';
import { ChangeListener } from './changes.js';
import { migrate } from './migrate.js';
import { createPool, type PoolOptions, type Queryable, sqlState, transaction } from './pool.js';
import { PG_MIGRATIONS } from './migrations.js';

export { GROUPS_PER_USER } from '../rows.js';

/** `is_default` (VERSION_COLUMNS) comes back a boolean, as PostgreSQL has the type. */
interface VersionRow {
  version_id: string;
  document: string;
  is_default: boolean;
  created_at: number;
}

function toVersion(r: VersionRow): PolicyVersion {
  return { versionId: r.version_id, document: r.document, isDefault: r.is_default, createdAt: r.created_at };
}

/** Only a duplicate key is a collision; foreign-key and check failures are other errors. */
function isUniqueViolation(e: unknown): boolean {
  return sqlState(e) === '23505';
}

async function rows<T extends pg.QueryResultRow>(q: Queryable, sql: string, params: readonly unknown[] = []): Promise<T[]> {
  return (await q.query<T>(sql, params as unknown[])).rows;
}

async function row<T extends pg.QueryResultRow>(q: Queryable, sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
  return (await q.query<T>(sql, params as unknown[])).rows[0];
}

async function count(q: Queryable, sql: string, params: readonly unknown[] = []): Promise<number> {
  const r = (await q.query<{ n: number }>(sql, params as unknown[])).rows[0];
  return Number(r?.n ?? 0);
}

async function changed(q: Queryable, sql: string, params: readonly unknown[] = []): Promise<number> {
  return (await q.query(sql, params as unknown[])).rowCount ?? 0;
}

export interface PostgresStoreOptions extends PoolOptions {
  /** Run the migrations at open (default true). */
  readonly migrate?: boolean;
}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly #sealer: Sealer;
  readonly #url: string;
  readonly #opts: PostgresStoreOptions;
  readonly #listeners = new Set<ChangeListener>();
  #closed = false;

  private constructor(url: string, pool: pg.Pool, sealer: Sealer, opts: PostgresStoreOptions) {
    this.#url = url;
    this.#pool = pool;
    this.#sealer = sealer;
    this.#opts = opts;
  }

  /** Connects, applies what migrations are missing (one node at a time), and is ready. */
  static async open(url: string, sealer: Sealer, opts: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = createPool(url, opts);
    try {
      if (opts.migrate !== false) await migrate(pool, opts.schema);
    } catch (e) {
      await pool.end();
      throw e;
    }
    return new PostgresStore(url, pool, sealer, opts);
  }

  /** The schema version, for tests and diagnostics. */
  async schemaVersion(): Promise<number> {
    return count(this.#pool, 'SELECT COALESCE(MAX(version), 0) AS n FROM schema_migrations');
  }

  /** The latest version this code knows. */
  static get latestVersion(): number {
    return PG_MIGRATIONS.at(-1)!.version;
  }

  async ping(): Promise<void> {
    await this.#pool.query('SELECT 1');
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const l of this.#listeners) await l.close();
    this.#listeners.clear();
    await this.#pool.end();
  }

  /** Change notices from every node (LISTEN portcullis_changes), on a connection of their own. */
  watchChanges(onChange: (c: StoreChange) => void, opts: { readonly reconnectMs?: number } = {}): ChangeWatch {
    const l = new ChangeListener(this.#url, this.#opts.schema, onChange, opts.reconnectMs ?? 500);
    this.#listeners.add(l);
    l.start();
    return l;
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await row<{ value: string }>(this.#pool, 'SELECT value FROM meta WHERE key = $1', [key]))?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value', [key, value]);
  }

  async compareAndSetMeta(key: string, expected: string | undefined, value: string): Promise<boolean> {
    // One statement each way, atomic on its own: the insert loses to a concurrent insert (no
    // row added), the update to a concurrent update (the old value no longer matches).
    const n = expected === undefined
      ? await changed(this.#pool, 'INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, value])
      : await changed(this.#pool, 'UPDATE meta SET value = $3 WHERE key = $1 AND value = $2', [key, expected, value]);
    return n === 1;
  }

  async resealSecrets(): Promise<number> {
    const current = this.#sealer.currentKeyId;
    return this.#write(async (c) => {
      let n = 0;
      for (const k of await rows<{ id: string; sealed: string }>(c, 'SELECT access_key_id AS id, secret_sealed AS sealed FROM access_keys')) {
        if (Sealer.keyIdOf(k.sealed) === current) continue;
        await c.query('UPDATE access_keys SET secret_sealed = $1 WHERE access_key_id = $2', [this.#sealer.reseal(k.sealed, k.id), k.id]);
        n++;
      }
      for (const m of await rows<{ key: string; value: string }>(c, "SELECT key, value FROM meta WHERE starts_with(value, 'pcs1.')")) {
        const id = Sealer.keyIdOf(m.value);
        if (id === undefined || id === current) continue;
        await c.query('UPDATE meta SET value = $1 WHERE key = $2', [this.#sealer.reseal(m.value, m.key), m.key]);
        n++;
      }
      return n;
    });
  }

  async createAccount(a: Account): Promise<void> {
    try {
      await this.#pool.query('INSERT INTO accounts (account_id, name, created_at) VALUES ($1, $2, $3)', [a.accountId, a.name, a.createdAt]);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`account ${a.accountId} already exists`);
      throw e;
    }
  }

  async getAccount(accountId: string): Promise<Account | undefined> {
    const r = await row<AccountRow>(this.#pool, 'SELECT account_id, name, created_at FROM accounts WHERE account_id = $1', [accountId]);
    return r && toAccount(r);
  }

  async createUser(u: User, extras: CreateExtras = {}): Promise<void> {
    await this.#write(async (c) => {
      try {
        await c.query('INSERT INTO users (account_id, user_name, user_name_lower, user_id, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [u.accountId, u.userName, u.userName.toLowerCase(), u.userId, u.path, u.createdAt]);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`User with name ${u.userName} already exists.`);
        throw e;
      }
      await this.#extras(c, 'user', u.userId, extras);
    });
  }

  async #extras(c: Queryable, type: 'user' | 'role', id: string, extras: CreateExtras): Promise<void> {
    if (extras.boundary !== undefined) await this.#setBoundary(c, type, id, extras.boundary);
    if (extras.tags !== undefined && extras.tags.length > 0) await this.#putTags(c, type, id, extras.tags, extras.maxTags ?? TAGS_PER_ENTITY);
  }

  async #setBoundary(c: Queryable, type: 'user' | 'role', id: string, policyArn: string | undefined): Promise<void> {
    if (policyArn !== undefined) await this.#requirePolicy(c, policyArn);
    const sql = type === 'user' ? 'UPDATE users SET permissions_boundary = $1 WHERE user_id = $2' : 'UPDATE roles SET permissions_boundary = $1 WHERE role_id = $2';
    if ((await changed(c, sql, [policyArn ?? null, id])) === 0) throw new NoSuchEntityError(`The ${type} with id ${id} cannot be found.`);
  }

  async getUser(accountId: string, userName: string): Promise<User | undefined> {
    const r = await this.#userRow(this.#pool, accountId, userName);
    return r && toUser(r);
  }

  async getUserById(userId: string): Promise<User | undefined> {
    const r = await row<UserRow>(this.#pool, `SELECT ${USER_COLUMNS} FROM users WHERE user_id = $1`, [userId]);
    return r && toUser(r);
  }

  async createAccessKey(k: Omit<AccessKeyWithSecret, 'lastUsed'>): Promise<void> {
    await this.#write(async (c) => this.#insertKey(c, (await this.#requireUser(c, k.accountId, k.userName)).user_id, k));
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyWithSecret | undefined> {
    const r = await row<KeyRow>(this.#pool,
      `SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = $1`, [accessKeyId]);
    if (r === undefined) return undefined;
    return { ...toKey(r), secretAccessKey: this.#sealer.open(r.secret_sealed, r.access_key_id) };
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKey[]> {
    const rs = await rows<KeyRow>(this.#pool,
      `SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id
       WHERE u.account_id = $1 AND u.user_name_lower = $2 ORDER BY k.created_at, k.access_key_id`,
      [accountId, userName.toLowerCase()]);
    return rs.map(toKey);
  }

  async setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    await this.#pool.query('UPDATE access_keys SET status = $1 WHERE access_key_id = $2', [status, accessKeyId]);
  }

  async recordLastUsed(uses: ReadonlyMap<string, LastUse>): Promise<void> {
    if (uses.size === 0) return;
    // One statement for the whole batch; each key keeps the later of its stored and new use.
    const ids: string[] = [];
    const ats: number[] = [];
    const services: string[] = [];
    const regions: string[] = [];
    for (const [id, u] of uses) {
      ids.push(id);
      ats.push(u.at);
      services.push(u.service);
      regions.push(u.region);
    }
    await this.#pool.query(
      `UPDATE access_keys k SET last_used_at = x.at, last_used_service = x.service, last_used_region = x.region
       FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) AS x(id, at, service, region)
       WHERE k.access_key_id = x.id AND (k.last_used_at IS NULL OR k.last_used_at < x.at)`,
      [ids, ats, services, regions]);
  }

  // ---------------------------------------------------------------- IAM: users and keys

  async listUsers(accountId: string, pathPrefix: string): Promise<User[]> {
    const rs = await rows<UserRow>(this.#pool,
      `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 AND starts_with(path, $2) ORDER BY user_name_lower`, [accountId, pathPrefix]);
    return rs.map(toUser);
  }

  async deleteUser(accountId: string, userName: string): Promise<void> {
    await this.#write(async (c) => {
      const u = await this.#requireUser(c, accountId, userName);
      if ((await count(c, 'SELECT COUNT(*) AS n FROM access_keys WHERE user_id = $1', [u.user_id])) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must delete access keys first.');
      }
      await this.#refuseIfOwnsPolicies(c, { type: 'user', id: u.user_id });
      if ((await count(c, 'SELECT COUNT(*) AS n FROM group_members WHERE user_id = $1', [u.user_id])) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must remove user from all groups first.');
      }
      await c.query('DELETE FROM users WHERE user_id = $1', [u.user_id]); // and its tags, by trigger
    });
  }

  async getUserBoundary(userId: string): Promise<string | undefined> {
    const r = await row<{ b: string | null }>(this.#pool, 'SELECT permissions_boundary AS b FROM users WHERE user_id = $1', [userId]);
    return r?.b ?? undefined;
  }

  async setUserBoundary(userId: string, policyArn: string | undefined): Promise<void> {
    await this.#write((c) => this.#setBoundary(c, 'user', userId, policyArn));
  }

  async createAccessKeyLimited(k: Omit<AccessKeyWithSecret, 'lastUsed'>, maxPerUser: number): Promise<void> {
    await this.#write(async (c) => {
      const u = await this.#requireUser(c, k.accountId, k.userName);
      if ((await count(c, 'SELECT COUNT(*) AS n FROM access_keys WHERE user_id = $1', [u.user_id])) >= maxPerUser) {
        throw quotaExceeded('AccessKeysPerUser', maxPerUser);
      }
      await this.#insertKey(c, u.user_id, k);
    });
  }

  async deleteAccessKey(accessKeyId: string): Promise<void> {
    if ((await changed(this.#pool, 'DELETE FROM access_keys WHERE access_key_id = $1', [accessKeyId])) === 0) {
      throw new NoSuchEntityError(`The Access Key with id ${accessKeyId} cannot be found.`);
    }
  }

  // ---------------------------------------------------------------- IAM: managed policies

  async createManagedPolicy(
    policy: Omit<ManagedPolicy, 'defaultVersionId' | 'attachmentCount' | 'updatedAt'>,
    document: string,
  ): Promise<ManagedPolicy> {
    return this.#write(async (c) => {
      try {
        await c.query(`INSERT INTO managed_policies (policy_id, account_id, policy_name, policy_name_lower, path, arn, description,
                         default_version_id, next_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'v1', 2, $8, $8)`,
        [policy.policyId, policy.accountId, policy.policyName, policy.policyName.toLowerCase(), policy.path, policy.arn, policy.description, policy.createdAt]);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`A policy called ${policy.policyName} already exists. Duplicate names are not allowed.`);
        throw e;
      }
      await this.#insertVersion(c, policy.policyId, 'v1', document, policy.createdAt);
      return toPolicy(await this.#requirePolicy(c, policy.arn));
    });
  }

  async getManagedPolicy(arn: string): Promise<ManagedPolicy | undefined> {
    const r = await this.#policyRow(this.#pool, arn);
    return r && toPolicy(r);
  }

  async listManagedPolicies(accountId: string, scope: 'All' | 'AWS' | 'Local', onlyAttached: boolean, pathPrefix: string): Promise<ManagedPolicy[]> {
    const accounts = { All: ['aws', accountId], AWS: ['aws'], Local: [accountId] }[scope];
    const rs = await rows<PolicyRow>(this.#pool,
      `SELECT ${POLICY_COLUMNS} FROM managed_policies p
       WHERE p.account_id = ANY($1::text[]) AND starts_with(p.path, $2)
         AND (NOT $3 OR EXISTS (SELECT 1 FROM policy_attachments a WHERE a.policy_id = p.policy_id))
       ${POLICY_ORDER}`,
      [accounts, pathPrefix, onlyAttached]);
    return rs.map(toPolicy);
  }

  async deleteManagedPolicy(arn: string): Promise<void> {
    await this.#write(async (c) => {
      const p = await this.#requirePolicy(c, arn);
      if (p.attachment_count > 0) throw new DeleteConflictError('Cannot delete a policy attached to entities.');
      if ((await count(c, 'SELECT (SELECT COUNT(*) FROM users WHERE permissions_boundary = $1) + (SELECT COUNT(*) FROM roles WHERE permissions_boundary = $1) AS n', [arn])) > 0) {
        throw new DeleteConflictError('Cannot delete a policy used as a permissions boundary.');
      }
      if ((await this.#versionCount(c, p.policy_id)) > 1) {
        throw new DeleteConflictError('This policy has more than one version. Before you delete a policy, you must delete the policy\'s versions. The default version is deleted with the policy.');
      }
      await c.query('DELETE FROM managed_policies WHERE policy_id = $1', [p.policy_id]); // its version by cascade, its tags by trigger
    });
  }

  async createPolicyVersion(arn: string, document: string, setAsDefault: boolean, maxVersions: number): Promise<PolicyVersion> {
    return this.#write(async (c) => {
      const p = await this.#requirePolicy(c, arn);
      if ((await this.#versionCount(c, p.policy_id)) >= maxVersions) throw quotaExceeded('PolicyVersionsPerPolicy', maxVersions);
      const versionId = `v${p.next_version}`;
      const now = Date.now();
      await this.#insertVersion(c, p.policy_id, versionId, document, now);
      await c.query('UPDATE managed_policies SET next_version = next_version + 1, updated_at = $1 WHERE policy_id = $2', [now, p.policy_id]);
      if (setAsDefault) await this.#setDefault(c, p.policy_id, versionId);
      return { versionId, document, isDefault: setAsDefault, createdAt: now };
    });
  }

  async getPolicyVersion(arn: string, versionId: string): Promise<PolicyVersion | undefined> {
    const r = await row<VersionRow>(this.#pool,
      `SELECT ${VERSION_COLUMNS} FROM policy_versions v JOIN managed_policies p ON p.policy_id = v.policy_id
       WHERE p.arn = $1 AND v.version_id = $2`, [arn, versionId]);
    return r && toVersion(r);
  }

  async listPolicyVersions(arn: string): Promise<PolicyVersion[]> {
    const rs = await rows<VersionRow>(this.#pool,
      `SELECT ${VERSION_COLUMNS} FROM policy_versions v JOIN managed_policies p ON p.policy_id = v.policy_id
       WHERE p.arn = $1 ORDER BY substr(v.version_id, 2)::integer DESC`, [arn]);
    return rs.map(toVersion);
  }

  async setDefaultPolicyVersion(arn: string, versionId: string): Promise<void> {
    await this.#write(async (c) => {
      const p = await this.#requirePolicy(c, arn);
      await this.#requireVersion(c, p, versionId);
      await this.#setDefault(c, p.policy_id, versionId);
    });
  }

  async deletePolicyVersion(arn: string, versionId: string): Promise<void> {
    await this.#write(async (c) => {
      const p = await this.#requirePolicy(c, arn);
      await this.#requireVersion(c, p, versionId);
      if (p.default_version_id === versionId) throw new DeleteConflictError('Cannot delete the default version of a policy.');
      await c.query('DELETE FROM policy_versions WHERE policy_id = $1 AND version_id = $2', [p.policy_id, versionId]);
    });
  }

  // ---------------------------------------------------------------- IAM: attachments and inline policies

  async attachPolicy(owner: PolicyOwner, arn: string, maxAttached: number): Promise<void> {
    await this.#write(async (c) => {
      const p = await this.#requirePolicy(c, arn);
      await this.#requireEntity(c, owner.type, owner.id);
      const attached = await count(c, 'SELECT COUNT(*) AS n FROM policy_attachments WHERE owner_type = $1 AND owner_id = $2 AND policy_id = $3',
        [owner.type, owner.id, p.policy_id]);
      if (attached > 0) return;
      if ((await this.#attachedCount(c, owner)) >= maxAttached) throw quotaExceeded(attachmentQuota(owner), maxAttached);
      await c.query('INSERT INTO policy_attachments (owner_type, owner_id, policy_id) VALUES ($1, $2, $3)', [owner.type, owner.id, p.policy_id]);
    });
  }

  async detachPolicy(owner: PolicyOwner, arn: string): Promise<void> {
    const n = await changed(this.#pool,
      `DELETE FROM policy_attachments WHERE owner_type = $1 AND owner_id = $2
       AND policy_id = (SELECT policy_id FROM managed_policies WHERE arn = $3)`, [owner.type, owner.id, arn]);
    if (n === 0) throw new NoSuchEntityError(`Policy ${arn} was not found.`);
  }

  async listAttachedPolicies(owner: PolicyOwner): Promise<ManagedPolicy[]> {
    const rs = await rows<PolicyRow>(this.#pool,
      `SELECT ${POLICY_COLUMNS} FROM policy_attachments x JOIN managed_policies p ON p.policy_id = x.policy_id
       WHERE x.owner_type = $1 AND x.owner_id = $2 ${POLICY_ORDER}`, [owner.type, owner.id]);
    return rs.map(toPolicy);
  }

  async putInlinePolicy(owner: PolicyOwner, policyName: string, document: string, maxTotalSize?: number): Promise<void> {
    await this.#write(async (c) => {
      await this.#requireEntity(c, owner.type, owner.id);
      await c.query(`INSERT INTO inline_policies (owner_type, owner_id, policy_name, document) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (owner_type, owner_id, policy_name) DO UPDATE SET document = excluded.document`,
      [owner.type, owner.id, policyName, document]);
      // Summed after the change, inside the transaction: two racing puts cannot pass the quota.
      if (maxTotalSize !== undefined) checkInlinePoliciesSize(owner, await this.#inline(c, owner), maxTotalSize);
    });
  }

  async getInlinePolicy(owner: PolicyOwner, policyName: string): Promise<InlinePolicy | undefined> {
    const r = await row<InlineRow>(this.#pool,
      'SELECT policy_name, document FROM inline_policies WHERE owner_type = $1 AND owner_id = $2 AND policy_name = $3', [owner.type, owner.id, policyName]);
    return r && toInline(r);
  }

  async listInlinePolicies(owner: PolicyOwner): Promise<InlinePolicy[]> {
    return this.#inline(this.#pool, owner);
  }

  async deleteInlinePolicy(owner: PolicyOwner, policyName: string): Promise<void> {
    const n = await changed(this.#pool, 'DELETE FROM inline_policies WHERE owner_type = $1 AND owner_id = $2 AND policy_name = $3',
      [owner.type, owner.id, policyName]);
    if (n === 0) throw new NoSuchEntityError(`The ${owner.type} policy with name ${policyName} cannot be found.`);
  }

  async principalPolicies(userId: string): Promise<PrincipalPolicies> {
    return this.#effectivePolicies('user', userId);
  }

  // ---------------------------------------------------------------- IAM: groups

  async createGroup(g: Group): Promise<void> {
    await this.#write(async (c) => {
      await this.#requireAccount(c, g.accountId);
      try {
        await c.query('INSERT INTO groups (group_id, account_id, group_name, group_name_lower, path, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [g.groupId, g.accountId, g.groupName, g.groupName.toLowerCase(), g.path, g.createdAt]);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Group with name ${g.groupName} already exists.`);
        throw e;
      }
    });
  }

  async getGroup(accountId: string, groupName: string): Promise<Group | undefined> {
    const r = await this.#groupRow(this.#pool, accountId, groupName);
    return r && toGroup(r);
  }

  async listGroups(accountId: string, pathPrefix: string): Promise<Group[]> {
    const rs = await rows<GroupRow>(this.#pool,
      `SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.account_id = $1 AND starts_with(g.path, $2) ORDER BY g.group_name_lower`, [accountId, pathPrefix]);
    return rs.map(toGroup);
  }

  async deleteGroup(accountId: string, groupName: string): Promise<void> {
    await this.#write(async (c) => {
      const g = await this.#groupRow(c, accountId, groupName);
      if (g === undefined) throw new NoSuchEntityError(`The group with name ${groupName} cannot be found.`);
      if ((await count(c, 'SELECT COUNT(*) AS n FROM group_members WHERE group_id = $1', [g.group_id])) > 0) {
        throw new DeleteConflictError('Cannot delete entity, must remove users from group first.');
      }
      await this.#refuseIfOwnsPolicies(c, { type: 'group', id: g.group_id });
      await c.query('DELETE FROM groups WHERE group_id = $1', [g.group_id]);
    });
  }

  async addUserToGroup(groupId: string, userId: string, maxGroupsPerUser = GROUPS_PER_USER): Promise<void> {
    await this.#write(async (c) => {
      const groupAccount = (await row<{ a: string }>(c, 'SELECT account_id AS a FROM groups WHERE group_id = $1', [groupId]))?.a;
      if (groupAccount === undefined) throw new NoSuchEntityError(`The group with id ${groupId} cannot be found.`);
      const userAccount = (await row<{ a: string }>(c, 'SELECT account_id AS a FROM users WHERE user_id = $1', [userId]))?.a;
      if (userAccount !== groupAccount) throw new NoSuchEntityError(`The user with id ${userId} cannot be found.`);
      if ((await count(c, 'SELECT COUNT(*) AS n FROM group_members WHERE group_id = $1 AND user_id = $2', [groupId, userId])) > 0) return;
      if ((await count(c, 'SELECT COUNT(*) AS n FROM group_members WHERE user_id = $1', [userId])) >= maxGroupsPerUser) {
        throw quotaExceeded('GroupsPerUser', maxGroupsPerUser);
      }
      await c.query('INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)', [groupId, userId]);
    });
  }

  async removeUserFromGroup(groupId: string, userId: string): Promise<void> {
    if ((await changed(this.#pool, 'DELETE FROM group_members WHERE group_id = $1 AND user_id = $2', [groupId, userId])) === 0) {
      throw new NoSuchEntityError(`The user with id ${userId} is not in the group with id ${groupId}.`);
    }
  }

  async listGroupsForUser(userId: string): Promise<Group[]> {
    const rs = await rows<GroupRow>(this.#pool,
      `SELECT ${GROUP_COLUMNS} FROM group_members m JOIN groups g ON g.group_id = m.group_id
       WHERE m.user_id = $1 ORDER BY g.group_name_lower`, [userId]);
    return rs.map(toGroup);
  }

  async listUsersInGroup(groupId: string): Promise<User[]> {
    const rs = await rows<UserRow>(this.#pool,
      `SELECT u.account_id, u.user_name, u.user_id, u.path, u.created_at FROM group_members m JOIN users u ON u.user_id = m.user_id
       WHERE m.group_id = $1 ORDER BY u.user_name_lower`, [groupId]);
    return rs.map(toUser);
  }

  // ---------------------------------------------------------------- IAM: roles

  async createRole(r: Role, extras: CreateExtras = {}): Promise<void> {
    await this.#write(async (c) => {
      await this.#requireAccount(c, r.accountId);
      try {
        await c.query(`INSERT INTO roles (role_id, account_id, role_name, role_name_lower, path, assume_role_policy, description,
                         max_session_duration, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [r.roleId, r.accountId, r.roleName, r.roleName.toLowerCase(), r.path, r.assumeRolePolicyDocument, r.description, r.maxSessionDuration, r.createdAt]);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Role with name ${r.roleName} already exists.`);
        throw e;
      }
      await this.#extras(c, 'role', r.roleId, extras);
    });
  }

  async getRole(accountId: string, roleName: string): Promise<Role | undefined> {
    const r = await this.#roleRow(this.#pool, accountId, roleName);
    return r && toRole(r);
  }

  async getRoleById(roleId: string): Promise<Role | undefined> {
    const r = await row<RoleRow>(this.#pool, `SELECT ${ROLE_COLUMNS} FROM roles WHERE role_id = $1`, [roleId]);
    return r && toRole(r);
  }

  async listRoles(accountId: string, pathPrefix: string): Promise<Role[]> {
    const rs = await rows<RoleRow>(this.#pool,
      `SELECT ${ROLE_COLUMNS} FROM roles WHERE account_id = $1 AND starts_with(path, $2) ORDER BY role_name_lower`, [accountId, pathPrefix]);
    return rs.map(toRole);
  }

  async deleteRole(accountId: string, roleName: string): Promise<void> {
    await this.#write(async (c) => {
      const r = await this.#roleRow(c, accountId, roleName);
      if (r === undefined) throw new NoSuchEntityError(`The role with name ${roleName} cannot be found.`);
      await this.#refuseIfOwnsPolicies(c, { type: 'role', id: r.role_id });
      await c.query('DELETE FROM roles WHERE role_id = $1', [r.role_id]); // and its tags, by trigger
    });
  }

  async updateRole(
    roleId: string,
    changes: { readonly description?: string; readonly maxSessionDuration?: number; readonly assumeRolePolicyDocument?: string },
  ): Promise<void> {
    const n = await changed(this.#pool,
      `UPDATE roles SET description = COALESCE($1, description), max_session_duration = COALESCE($2, max_session_duration),
         assume_role_policy = COALESCE($3, assume_role_policy) WHERE role_id = $4`,
      [changes.description ?? null, changes.maxSessionDuration ?? null, changes.assumeRolePolicyDocument ?? null, roleId]);
    if (n === 0) throw new NoSuchEntityError(`The role with id ${roleId} cannot be found.`);
  }

  async getRoleBoundary(roleId: string): Promise<string | undefined> {
    const r = await row<{ b: string | null }>(this.#pool, 'SELECT permissions_boundary AS b FROM roles WHERE role_id = $1', [roleId]);
    return r?.b ?? undefined;
  }

  async setRoleBoundary(roleId: string, policyArn: string | undefined): Promise<void> {
    await this.#write((c) => this.#setBoundary(c, 'role', roleId, policyArn));
  }

  async rolePolicies(roleId: string): Promise<PrincipalPolicies> {
    return this.#effectivePolicies('role', roleId);
  }

  // ---------------------------------------------------------------- IAM: tags

  async tagResource(type: TaggedType, id: string, tags: readonly Tag[], maxTags: number): Promise<void> {
    await this.#write((c) => this.#putTags(c, type, id, tags, maxTags));
  }

  async #putTags(c: Queryable, type: TaggedType, id: string, tags: readonly Tag[], maxTags: number): Promise<void> {
    await this.#requireEntity(c, type, id);
    for (const t of tags) {
      await c.query(`INSERT INTO tags (resource_type, resource_id, tag_key, tag_key_lower, tag_value) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (resource_type, resource_id, tag_key_lower)
                     DO UPDATE SET tag_key = excluded.tag_key, tag_value = excluded.tag_value`,
      [type, id, t.key, t.key.toLowerCase(), t.value]);
    }
    // Counted after the change, inside the transaction: a refusal rolls every tag of the call back.
    if ((await count(c, 'SELECT COUNT(*) AS n FROM tags WHERE resource_type = $1 AND resource_id = $2', [type, id])) > maxTags) {
      throw quotaExceeded(tagQuota(type), maxTags);
    }
  }

  async untagResource(type: TaggedType, id: string, keys: readonly string[]): Promise<void> {
    await this.#write(async (c) => {
      await this.#requireEntity(c, type, id);
      for (const k of keys) await c.query('DELETE FROM tags WHERE resource_type = $1 AND resource_id = $2 AND tag_key_lower = $3', [type, id, k.toLowerCase()]);
    });
  }

  async listTags(type: TaggedType, id: string): Promise<Tag[]> {
    const rs = await rows<TagRow>(this.#pool,
      'SELECT tag_key, tag_value FROM tags WHERE resource_type = $1 AND resource_id = $2 ORDER BY tag_key_lower', [type, id]);
    return rs.map(toTag);
  }

  // ---------------------------------------------------------------- IAM: OpenID Connect providers

  async createOidcProvider(p: OidcProvider): Promise<void> {
    await this.#write(async (c) => {
      await this.#requireAccount(c, p.accountId);
      try {
        await c.query(`INSERT INTO oidc_providers (arn, account_id, url, url_lower, client_ids, thumbprints, created_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [p.arn, p.accountId, p.url, p.url.toLowerCase(), JSON.stringify(p.clientIds), JSON.stringify(p.thumbprints), p.createdAt]);
      } catch (e) {
        if (isUniqueViolation(e)) throw new AlreadyExistsError(`Provider with url ${p.url} already exists.`);
        throw e;
      }
    });
  }

  async getOidcProvider(arn: string): Promise<OidcProvider | undefined> {
    const r = await row<OidcProviderRow>(this.#pool, `SELECT ${OIDC_COLUMNS} FROM oidc_providers WHERE arn = $1`, [arn]);
    return r && toOidcProvider(r);
  }

  async listOidcProviders(accountId: string): Promise<OidcProvider[]> {
    const rs = await rows<OidcProviderRow>(this.#pool, `SELECT ${OIDC_COLUMNS} FROM oidc_providers WHERE account_id = $1 ORDER BY arn`, [accountId]);
    return rs.map(toOidcProvider);
  }

  async deleteOidcProvider(arn: string): Promise<void> {
    if ((await changed(this.#pool, 'DELETE FROM oidc_providers WHERE arn = $1', [arn])) === 0) {
      throw new NoSuchEntityError(`OpenIDConnect Provider ${arn} not found.`);
    }
  }

  async updateOidcProvider(
    arn: string,
    changes: { readonly clientIds?: readonly string[]; readonly thumbprints?: readonly string[] },
  ): Promise<void> {
    const json = (list: readonly string[] | undefined): string | null => (list === undefined ? null : JSON.stringify(list));
    const n = await changed(this.#pool,
      'UPDATE oidc_providers SET client_ids = COALESCE($1, client_ids), thumbprints = COALESCE($2, thumbprints) WHERE arn = $3',
      [json(changes.clientIds), json(changes.thumbprints), arn]);
    if (n === 0) throw new NoSuchEntityError(`OpenIDConnect Provider ${arn} not found.`);
  }

  // ---------------------------------------------------------------- helpers

  #write<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    return transaction(this.#pool, 'SERIALIZABLE', fn);
  }

  async #userRow(q: Queryable, accountId: string, userName: string): Promise<UserRow | undefined> {
    return row<UserRow>(q, `SELECT ${USER_COLUMNS} FROM users WHERE account_id = $1 AND user_name_lower = $2`, [accountId, userName.toLowerCase()]);
  }

  async #requireUser(q: Queryable, accountId: string, userName: string): Promise<UserRow> {
    const u = await this.#userRow(q, accountId, userName);
    if (u === undefined) throw new NoSuchEntityError(`The user with name ${userName} cannot be found.`);
    return u;
  }

  async #requireEntity(q: Queryable, type: PolicyOwnerType | TaggedType, id: string): Promise<void> {
    const { table, id: column } = ENTITY_TABLES[type];
    if ((await count(q, `SELECT COUNT(*) AS n FROM ${table} WHERE ${column} = $1`, [id])) === 0) {
      throw new NoSuchEntityError(`The ${type} with id ${id} cannot be found.`);
    }
  }

  async #requireAccount(q: Queryable, accountId: string): Promise<void> {
    if ((await count(q, 'SELECT COUNT(*) AS n FROM accounts WHERE account_id = $1', [accountId])) === 0) {
      throw new NoSuchEntityError(`The account ${accountId} cannot be found.`);
    }
  }

  #groupRow(q: Queryable, accountId: string, groupName: string): Promise<GroupRow | undefined> {
    return row<GroupRow>(q, `SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.account_id = $1 AND g.group_name_lower = $2`, [accountId, groupName.toLowerCase()]);
  }

  #roleRow(q: Queryable, accountId: string, roleName: string): Promise<RoleRow | undefined> {
    return row<RoleRow>(q, `SELECT ${ROLE_COLUMNS} FROM roles WHERE account_id = $1 AND role_name_lower = $2`, [accountId, roleName.toLowerCase()]);
  }

  /** As the SQLite store's: one snapshot, the user's inline policies first, then each group's by group name. */
  #effectivePolicies(type: 'user' | 'role', id: string): Promise<PrincipalPolicies> {
    return transaction(this.#pool, 'REPEATABLE READ READ ONLY', async (c) => {
      const viaGroups = type === 'user';
      const managed = await rows<DefaultVersionRow>(c,
        `SELECT p.arn, v.version_id, v.document FROM managed_policies p ${JOIN_DEFAULT_VERSION}
         WHERE p.policy_id IN (
           SELECT policy_id FROM policy_attachments WHERE owner_type = $1 AND owner_id = $2
           UNION
           SELECT a.policy_id FROM group_members m
             JOIN policy_attachments a ON a.owner_type = 'group' AND a.owner_id = m.group_id
             WHERE $3 AND m.user_id = $2)
         ${POLICY_ORDER}`, [type, id, viaGroups]);
      const groupInline = viaGroups
        ? await rows<InlineRow>(c,
          `SELECT i.policy_name, i.document FROM group_members m JOIN groups g ON g.group_id = m.group_id
           JOIN inline_policies i ON i.owner_type = 'group' AND i.owner_id = m.group_id
           WHERE m.user_id = $1 ORDER BY g.group_name_lower, i.policy_name`, [id])
        : [];
      const { table, id: column } = ENTITY_TABLES[type];
      const boundary = await row<DefaultVersionRow>(c,
        `SELECT p.arn, v.version_id, v.document FROM ${table} o
         JOIN managed_policies p ON p.arn = o.permissions_boundary ${JOIN_DEFAULT_VERSION}
         WHERE o.${column} = $1`, [id]);
      return {
        inline: [...(await this.#inline(c, { type, id })), ...groupInline.map(toInline)],
        managed: managed.map(toDefaultVersion),
        boundary: boundary && toDefaultVersion(boundary),
      };
    });
  }

  async #insertKey(q: Queryable, userId: string, k: Omit<AccessKeyWithSecret, 'lastUsed'>): Promise<void> {
    try {
      await q.query('INSERT INTO access_keys (access_key_id, user_id, status, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5)',
        [k.accessKeyId, userId, k.status, this.#sealer.seal(k.secretAccessKey, k.accessKeyId), k.createdAt]);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`access key ${k.accessKeyId} already exists`);
      throw e;
    }
  }

  #policyRow(q: Queryable, arn: string): Promise<PolicyRow | undefined> {
    return row<PolicyRow>(q, `SELECT ${POLICY_COLUMNS} FROM managed_policies p WHERE p.arn = $1`, [arn]);
  }

  async #requirePolicy(q: Queryable, arn: string): Promise<PolicyRow> {
    const p = await this.#policyRow(q, arn);
    if (p === undefined) throw new NoSuchEntityError(`Policy ${arn} does not exist or is not attachable.`);
    return p;
  }

  async #requireVersion(q: Queryable, p: PolicyRow, versionId: string): Promise<void> {
    if ((await count(q, 'SELECT COUNT(*) AS n FROM policy_versions WHERE policy_id = $1 AND version_id = $2', [p.policy_id, versionId])) === 0) {
      throw new NoSuchEntityError(`Policy ${p.arn} version ${versionId} does not exist or is not attachable.`);
    }
  }

  #versionCount(q: Queryable, policyId: string): Promise<number> {
    return count(q, 'SELECT COUNT(*) AS n FROM policy_versions WHERE policy_id = $1', [policyId]);
  }

  async #insertVersion(q: Queryable, policyId: string, versionId: string, document: string, createdAt: number): Promise<void> {
    await q.query('INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES ($1, $2, $3, $4)', [policyId, versionId, document, createdAt]);
  }

  async #setDefault(q: Queryable, policyId: string, versionId: string): Promise<void> {
    await q.query('UPDATE managed_policies SET default_version_id = $1 WHERE policy_id = $2', [versionId, policyId]);
  }

  /** A user, group or role is deleted only once it has no inline and no attached policies, as in IAM. */
  async #refuseIfOwnsPolicies(q: Queryable, owner: PolicyOwner): Promise<void> {
    if ((await this.#inline(q, owner)).length > 0) throw new DeleteConflictError('Cannot delete entity, must delete policies first.');
    if ((await this.#attachedCount(q, owner)) > 0) throw new DeleteConflictError('Cannot delete entity, must detach all policies first.');
  }

  #attachedCount(q: Queryable, owner: PolicyOwner): Promise<number> {
    return count(q, 'SELECT COUNT(*) AS n FROM policy_attachments WHERE owner_type = $1 AND owner_id = $2', [owner.type, owner.id]);
  }

  async #inline(q: Queryable, owner: PolicyOwner): Promise<InlinePolicy[]> {
    const rs = await rows<InlineRow>(q,
      'SELECT policy_name, document FROM inline_policies WHERE owner_type = $1 AND owner_id = $2 ORDER BY policy_name', [owner.type, owner.id]);
    return rs.map(toInline);
  }
}
