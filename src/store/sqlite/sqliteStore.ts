/**
 * The embedded store: one SQLite file in the data dir, WAL journal, synchronous=FULL so an
 * acknowledged write survives a crash, versioned migrations.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync } from 'node:fs';
import type { Sealer } from '../seal.js';
import {
  type AccessKey, type AccessKeyStatus, type AccessKeyWithSecret, type Account, AlreadyExistsError, type LastUse,
  type Store, type User,
} from '../types.js';
import { SQLITE_MIGRATIONS } from './migrations.js';

interface KeyRow {
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

interface UserRow {
  account_id: string;
  user_name: string;
  user_id: string;
  path: string;
  created_at: number;
}

const KEY_COLUMNS = `k.access_key_id, u.account_id, u.user_name, k.status, k.secret_sealed, k.created_at,
  k.last_used_at, k.last_used_service, k.last_used_region`;

function toUser(r: UserRow): User {
  return { accountId: r.account_id, userName: r.user_name, userId: r.user_id, path: r.path, createdAt: r.created_at };
}

function toKey(r: KeyRow): AccessKey {
  return {
    accessKeyId: r.access_key_id,
    accountId: r.account_id,
    userName: r.user_name,
    status: r.status,
    createdAt: r.created_at,
    lastUsed: r.last_used_at === null ? undefined : { at: r.last_used_at, service: r.last_used_service ?? '', region: r.last_used_region ?? '' },
  };
}

/** Only a duplicate key is a collision; foreign-key and check failures are other errors. */
function isUniqueViolation(e: unknown): boolean {
  const code = typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : '';
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly #db: Database.Database;
  readonly #sealer: Sealer;

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
    return (this.#db.prepare('SELECT MAX(version) FROM schema_migrations').pluck().get() as number | null) ?? 0;
  }

  async ping(): Promise<void> {
    this.#db.prepare('SELECT 1').get();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }

  async getMeta(key: string): Promise<string | undefined> {
    return this.#db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get(key) as string | undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.#db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  async createAccount(a: Account): Promise<void> {
    try {
      this.#db.prepare('INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(a.accountId, a.name, a.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`account ${a.accountId} already exists`);
      throw e;
    }
  }

  async getAccount(accountId: string): Promise<Account | undefined> {
    const r = this.#db.prepare('SELECT account_id, name, created_at FROM accounts WHERE account_id = ?').get(accountId) as
      | { account_id: string; name: string; created_at: number }
      | undefined;
    return r && { accountId: r.account_id, name: r.name, createdAt: r.created_at };
  }

  async createUser(u: User): Promise<void> {
    try {
      this.#db
        .prepare('INSERT INTO users (account_id, user_name, user_name_lower, user_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(u.accountId, u.userName, u.userName.toLowerCase(), u.userId, u.path, u.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`User with name ${u.userName} already exists.`);
      throw e;
    }
  }

  async getUser(accountId: string, userName: string): Promise<User | undefined> {
    const r = this.#db
      .prepare('SELECT account_id, user_name, user_id, path, created_at FROM users WHERE account_id = ? AND user_name_lower = ?')
      .get(accountId, userName.toLowerCase()) as UserRow | undefined;
    return r && toUser(r);
  }

  async getUserById(userId: string): Promise<User | undefined> {
    const r = this.#db.prepare('SELECT account_id, user_name, user_id, path, created_at FROM users WHERE user_id = ?').get(userId) as UserRow | undefined;
    return r && toUser(r);
  }

  async createAccessKey(k: Omit<AccessKeyWithSecret, 'lastUsed'>): Promise<void> {
    const user = await this.getUser(k.accountId, k.userName);
    if (user === undefined) throw new Error(`no user ${k.userName} in account ${k.accountId}`);
    try {
      this.#db
        .prepare('INSERT INTO access_keys (access_key_id, user_id, status, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(k.accessKeyId, user.userId, k.status, this.#sealer.seal(k.secretAccessKey, k.accessKeyId), k.createdAt);
    } catch (e) {
      if (isUniqueViolation(e)) throw new AlreadyExistsError(`access key ${k.accessKeyId} already exists`);
      throw e;
    }
  }

  async getAccessKey(accessKeyId: string): Promise<AccessKeyWithSecret | undefined> {
    const r = this.#db
      .prepare(`SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE k.access_key_id = ?`)
      .get(accessKeyId) as KeyRow | undefined;
    if (r === undefined) return undefined;
    return { ...toKey(r), secretAccessKey: this.#sealer.open(r.secret_sealed, r.access_key_id) };
  }

  async listAccessKeys(accountId: string, userName: string): Promise<AccessKey[]> {
    const rows = this.#db
      .prepare(`SELECT ${KEY_COLUMNS} FROM access_keys k JOIN users u ON u.user_id = k.user_id
                WHERE u.account_id = ? AND u.user_name_lower = ? ORDER BY k.created_at, k.access_key_id`)
      .all(accountId, userName.toLowerCase()) as KeyRow[];
    return rows.map(toKey);
  }

  async setAccessKeyStatus(accessKeyId: string, status: AccessKeyStatus): Promise<void> {
    this.#db.prepare('UPDATE access_keys SET status = ? WHERE access_key_id = ?').run(status, accessKeyId);
  }

  async recordLastUsed(uses: ReadonlyMap<string, LastUse>): Promise<void> {
    const stmt = this.#db.prepare(
      `UPDATE access_keys SET last_used_at = ?, last_used_service = ?, last_used_region = ?
       WHERE access_key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
    );
    this.#db.transaction(() => {
      for (const [id, u] of uses) stmt.run(u.at, u.service, u.region, id, u.at);
    })();
  }
}
