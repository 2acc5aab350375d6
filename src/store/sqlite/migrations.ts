/**
 * Versioned schema changes for SQLite, applied in order, each in its own transaction.
 *
 * `../postgres/migrations.ts` builds the same tables in PostgreSQL's dialect. The two files share
 * no SQL on purpose, not even the few statements that read the same in both (`meta`,
 * `policy_attachments`, `group_members`, some indexes): a migration is history that databases in
 * the field have already applied, so its text must never change, and a fragment shared by the two
 * engines could not be edited for one without rewriting the other's history. Each file reads as
 * the whole schema of its engine; a later change to the schema is a new migration in each.
 */
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
  {
    version: 3,
    // Groups, roles and tags. A membership holds both its group and its user (IAM refuses to
    // delete either while the membership exists, so RESTRICT, not CASCADE). Attachments and
    // inline policies still carry no foreign key (their owners live in three tables): the store
    // checks owners, and triggers refuse to delete an owner that still has policies, so no
    // policy is ever orphaned. Tags are dropped with their user, role or policy.
    //
    // Before this version no group or role existed, so any policy a version-2 store took for a
    // group or role id has no owner: it could never be listed or detached through IAM and would
    // hold its managed policy forever. Those rows are removed here.
    sql: `
      CREATE TABLE groups (
        group_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        group_name TEXT NOT NULL,
        group_name_lower TEXT NOT NULL,
        path TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (account_id, group_name_lower)
      );
      CREATE TABLE group_members (
        group_id TEXT NOT NULL REFERENCES groups(group_id) ON DELETE RESTRICT,
        user_id TEXT NOT NULL REFERENCES users(user_id) ON DELETE RESTRICT,
        PRIMARY KEY (group_id, user_id)
      );
      CREATE INDEX group_members_by_user ON group_members(user_id);
      CREATE TABLE roles (
        role_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        role_name TEXT NOT NULL,
        role_name_lower TEXT NOT NULL,
        path TEXT NOT NULL,
        assume_role_policy TEXT NOT NULL,
        description TEXT NOT NULL,
        max_session_duration INTEGER NOT NULL CHECK (max_session_duration BETWEEN 3600 AND 43200),
        permissions_boundary TEXT REFERENCES managed_policies(arn),
        created_at INTEGER NOT NULL,
        UNIQUE (account_id, role_name_lower)
      );
      CREATE INDEX roles_by_boundary ON roles(permissions_boundary);
      CREATE TABLE tags (
        resource_type TEXT NOT NULL CHECK (resource_type IN ('user', 'role', 'policy')),
        -- user_id, role_id or policy_id
        resource_id TEXT NOT NULL,
        tag_key TEXT NOT NULL,
        tag_key_lower TEXT NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (resource_type, resource_id, tag_key_lower)
      );

      DELETE FROM policy_attachments WHERE owner_type IN ('group', 'role');
      DELETE FROM inline_policies WHERE owner_type IN ('group', 'role');

      CREATE TRIGGER users_keep_policies BEFORE DELETE ON users
      WHEN EXISTS (SELECT 1 FROM policy_attachments WHERE owner_type = 'user' AND owner_id = OLD.user_id)
        OR EXISTS (SELECT 1 FROM inline_policies WHERE owner_type = 'user' AND owner_id = OLD.user_id)
      BEGIN SELECT RAISE(ABORT, 'user still has policies'); END;
      CREATE TRIGGER groups_keep_policies BEFORE DELETE ON groups
      WHEN EXISTS (SELECT 1 FROM policy_attachments WHERE owner_type = 'group' AND owner_id = OLD.group_id)
        OR EXISTS (SELECT 1 FROM inline_policies WHERE owner_type = 'group' AND owner_id = OLD.group_id)
      BEGIN SELECT RAISE(ABORT, 'group still has policies'); END;
      CREATE TRIGGER roles_keep_policies BEFORE DELETE ON roles
      WHEN EXISTS (SELECT 1 FROM policy_attachments WHERE owner_type = 'role' AND owner_id = OLD.role_id)
        OR EXISTS (SELECT 1 FROM inline_policies WHERE owner_type = 'role' AND owner_id = OLD.role_id)
      BEGIN SELECT RAISE(ABORT, 'role still has policies'); END;

      CREATE TRIGGER users_drop_tags AFTER DELETE ON users
      BEGIN DELETE FROM tags WHERE resource_type = 'user' AND resource_id = OLD.user_id; END;
      CREATE TRIGGER roles_drop_tags AFTER DELETE ON roles
      BEGIN DELETE FROM tags WHERE resource_type = 'role' AND resource_id = OLD.role_id; END;
      CREATE TRIGGER managed_policies_drop_tags AFTER DELETE ON managed_policies
      BEGIN DELETE FROM tags WHERE resource_type = 'policy' AND resource_id = OLD.policy_id; END;
    `,
  },
  {
    version: 4,
    // OpenID Connect identity providers. One per issuer URL per account, the URL compared
    // without case; client IDs and thumbprints are JSON arrays of strings. The unique key
    // (account_id first) also serves listing an account's providers.
    sql: `
      CREATE TABLE oidc_providers (
        arn TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        url TEXT NOT NULL,
        url_lower TEXT NOT NULL,
        client_ids TEXT NOT NULL CHECK (json_valid(client_ids) AND json_type(client_ids) = 'array'),
        thumbprints TEXT NOT NULL CHECK (json_valid(thumbprints) AND json_type(thumbprints) = 'array'),
        created_at INTEGER NOT NULL,
        UNIQUE (account_id, url_lower)
      );
    `,
  },
];
