/** Versioned schema changes for SQLite, applied in order, each in its own transaction. */
export const SQLITE_MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE users (
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        user_name TEXT NOT NULL,
        user_name_lower TEXT NOT NULL,
        user_id TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (account_id, user_name_lower)
      );
      CREATE TABLE access_keys (
        access_key_id TEXT PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
        secret_sealed TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_used_at INTEGER,
        last_used_service TEXT,
        last_used_region TEXT
      );
      CREATE INDEX access_keys_by_user ON access_keys(user_id);
    `,
  },
];
