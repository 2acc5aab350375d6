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
  {
    version: 2,
    // IAM policies. Owners (users, groups, roles) live in different tables, so owner ids carry
    // no foreign key; the store checks them. A policy's default version must exist: checked at
    // commit, since a new policy and its v1 are inserted in the same transaction.
    sql: `
      CREATE TABLE managed_policies (
        policy_id TEXT PRIMARY KEY,
        -- 'aws' for AWS-managed policies, which belong to no account: no foreign key to accounts
        account_id TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        policy_name_lower TEXT NOT NULL,
        path TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        default_version_id TEXT NOT NULL,
        -- the number of the next version: ids are never reused, even after a delete
        next_version INTEGER NOT NULL CHECK (next_version > 1),
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (account_id, policy_name_lower),
        FOREIGN KEY (policy_id, default_version_id) REFERENCES policy_versions(policy_id, version_id)
          DEFERRABLE INITIALLY DEFERRED
      );
      CREATE TABLE policy_versions (
        policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id) ON DELETE CASCADE,
        version_id TEXT NOT NULL,
        document TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (policy_id, version_id)
      );
      CREATE TABLE policy_attachments (
        owner_type TEXT NOT NULL CHECK (owner_type IN ('user', 'group', 'role')),
        owner_id TEXT NOT NULL,
        policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id),
        PRIMARY KEY (owner_type, owner_id, policy_id)
      );
      CREATE INDEX policy_attachments_by_policy ON policy_attachments(policy_id);
      CREATE TABLE inline_policies (
        owner_type TEXT NOT NULL CHECK (owner_type IN ('user', 'group', 'role')),
        owner_id TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (owner_type, owner_id, policy_name)
      );
      ALTER TABLE users ADD COLUMN permissions_boundary TEXT REFERENCES managed_policies(arn);
      CREATE INDEX users_by_boundary ON users(permissions_boundary);
    `,
  },
];
