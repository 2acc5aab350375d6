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

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Cheap round trip for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;

  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;

  createAccount(account: Account): Promise<void>;
  getAccount(accountId: string): Promise<Account | undefined>;

  createUser(user: User): Promise<void>;
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

/** Thrown for a create that collides with an existing entity. */
export class AlreadyExistsError extends Error {
  override readonly name = 'AlreadyExistsError';
}
