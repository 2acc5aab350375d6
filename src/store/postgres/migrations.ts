/**
 * Versioned schema changes for PostgreSQL, applied in order, each in its own transaction, by
 * whichever node takes the migration advisory lock first (see `migrate.ts`).
 *
 * The schema mirrors the SQLite one (`../sqlite/migrations.ts`) table for table, so both stores
 * answer the contract identically. Where the two engines differ:
 * - times are BIGINT (milliseconds since the epoch);
 * - the columns that order lists are `COLLATE "C"` (byte order, as SQLite compares), so a list
 *   does not change order with the database's locale;
 * - triggers are functions; the policy default-version key is added after both tables exist.
 * The two files share no SQL, on purpose (`../sqlite/migrations.ts` says why).
 */
export const PG_MIGRATIONS: readonly { readonly version: number; readonly sql: string }[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE accounts (
        account_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE users (
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        user_name TEXT NOT NULL,
        user_name_lower TEXT COLLATE "C" NOT NULL,
        user_id TEXT NOT NULL UNIQUE,
        path TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        permissions_boundary TEXT,
        PRIMARY KEY (account_id, user_name_lower)
      );
      CREATE TABLE access_keys (
        access_key_id TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT NOT NULL REFERENCES users(user_id),
        status TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
        secret_sealed TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_used_at BIGINT,
        last_used_service TEXT,
        last_used_region TEXT
      );
      CREATE INDEX access_keys_by_user ON access_keys(user_id);

      CREATE TABLE managed_policies (
        policy_id TEXT PRIMARY KEY,
        -- 'aws' for AWS-managed policies, which belong to no account: no foreign key to accounts
        account_id TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        policy_name_lower TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        arn TEXT COLLATE "C" NOT NULL UNIQUE,
        description TEXT NOT NULL,
        default_version_id TEXT NOT NULL,
        -- the number of the next version: ids are never reused, even after a delete
        next_version INTEGER NOT NULL CHECK (next_version > 1),
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        UNIQUE (account_id, policy_name_lower)
      );
      CREATE TABLE policy_versions (
        policy_id TEXT NOT NULL REFERENCES managed_policies(policy_id) ON DELETE CASCADE,
        version_id TEXT NOT NULL,
        document TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (policy_id, version_id)
      );
      -- A policy's default version must exist: checked at commit, since a new policy and its v1
      -- are inserted in the same transaction.
      ALTER TABLE managed_policies ADD CONSTRAINT managed_policies_default_version
        FOREIGN KEY (policy_id, default_version_id) REFERENCES policy_versions(policy_id, version_id)
        DEFERRABLE INITIALLY DEFERRED;
      ALTER TABLE users ADD CONSTRAINT users_permissions_boundary
        FOREIGN KEY (permissions_boundary) REFERENCES managed_policies(arn);
      CREATE INDEX users_by_boundary ON users(permissions_boundary);

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
        policy_name TEXT COLLATE "C" NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (owner_type, owner_id, policy_name)
      );

      CREATE TABLE groups (
        group_id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        group_name TEXT NOT NULL,
        group_name_lower TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
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
        role_name_lower TEXT COLLATE "C" NOT NULL,
        path TEXT COLLATE "C" NOT NULL,
        assume_role_policy TEXT NOT NULL,
        description TEXT NOT NULL,
        max_session_duration INTEGER NOT NULL CHECK (max_session_duration BETWEEN 3600 AND 43200),
        permissions_boundary TEXT REFERENCES managed_policies(arn),
        created_at BIGINT NOT NULL,
        UNIQUE (account_id, role_name_lower)
      );
      CREATE INDEX roles_by_boundary ON roles(permissions_boundary);
      CREATE TABLE tags (
        resource_type TEXT NOT NULL CHECK (resource_type IN ('user', 'role', 'policy')),
        -- user_id, role_id or policy_id
        resource_id TEXT NOT NULL,
        tag_key TEXT NOT NULL,
        tag_key_lower TEXT COLLATE "C" NOT NULL,
        tag_value TEXT NOT NULL,
        PRIMARY KEY (resource_type, resource_id, tag_key_lower)
      );

      -- No owner of policies is deleted while it still has some (attachments and inline policies
      -- carry no foreign key: their owners live in three tables).
      CREATE FUNCTION portcullis_keep_policies() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE id TEXT := to_jsonb(OLD) ->> TG_ARGV[1];
      BEGIN
        IF EXISTS (SELECT 1 FROM policy_attachments WHERE owner_type = TG_ARGV[0] AND owner_id = id)
          OR EXISTS (SELECT 1 FROM inline_policies WHERE owner_type = TG_ARGV[0] AND owner_id = id)
        THEN RAISE EXCEPTION '% still has policies', TG_ARGV[0] USING ERRCODE = 'restrict_violation'; END IF;
        RETURN OLD;
      END $$;
      CREATE TRIGGER users_keep_policies BEFORE DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION portcullis_keep_policies('user', 'user_id');
      CREATE TRIGGER groups_keep_policies BEFORE DELETE ON groups
        FOR EACH ROW EXECUTE FUNCTION portcullis_keep_policies('group', 'group_id');
      CREATE TRIGGER roles_keep_policies BEFORE DELETE ON roles
        FOR EACH ROW EXECUTE FUNCTION portcullis_keep_policies('role', 'role_id');

      -- Tags are dropped with their user, role or policy.
      CREATE FUNCTION portcullis_drop_tags() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM tags WHERE resource_type = TG_ARGV[0] AND resource_id = to_jsonb(OLD) ->> TG_ARGV[1];
        RETURN NULL;
      END $$;
      CREATE TRIGGER users_drop_tags AFTER DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION portcullis_drop_tags('user', 'user_id');
      CREATE TRIGGER roles_drop_tags AFTER DELETE ON roles
        FOR EACH ROW EXECUTE FUNCTION portcullis_drop_tags('role', 'role_id');
      CREATE TRIGGER managed_policies_drop_tags AFTER DELETE ON managed_policies
        FOR EACH ROW EXECUTE FUNCTION portcullis_drop_tags('policy', 'policy_id');

      -- One provider per issuer URL per account, compared without case; the lists are JSON arrays.
      CREATE TABLE oidc_providers (
        arn TEXT COLLATE "C" PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(account_id),
        url TEXT NOT NULL,
        url_lower TEXT NOT NULL,
        client_ids TEXT NOT NULL CHECK (json_typeof(client_ids::json) = 'array'),
        thumbprints TEXT NOT NULL CHECK (json_typeof(thumbprints::json) = 'array'),
        created_at BIGINT NOT NULL,
        UNIQUE (account_id, url_lower)
      );
    `,
  },
  {
    version: 2,
    // Change notices for the other nodes' caches (LISTEN portcullis_changes). A trigger sends
    // one for every change that can alter what a credential lookup or an authorization answers,
    // in the transaction that makes the change: PostgreSQL delivers it only if and when that
    // transaction commits. The payload names what changed, never a secret:
    //   key:<access key id>   one access key (creation: a node may remember it as unknown;
    //                         status; deletion)
    //   user:<user id>        a user (deletion: its keys go with it)
    //   policies              anything a principal's policies are read from
    sql: `
      CREATE FUNCTION portcullis_notify_key() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('portcullis_changes', 'key:' || COALESCE(NEW.access_key_id, OLD.access_key_id));
        RETURN NULL;
      END $$;
      CREATE TRIGGER access_keys_notify AFTER INSERT OR UPDATE OF status OR DELETE ON access_keys
        FOR EACH ROW EXECUTE FUNCTION portcullis_notify_key();

      CREATE FUNCTION portcullis_notify_user() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('portcullis_changes', 'user:' || OLD.user_id);
        RETURN NULL;
      END $$;
      CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users
        FOR EACH ROW EXECUTE FUNCTION portcullis_notify_user();

      CREATE FUNCTION portcullis_notify_policies() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('portcullis_changes', 'policies');
        RETURN NULL;
      END $$;
      CREATE TRIGGER managed_policies_notify AFTER UPDATE OR DELETE ON managed_policies
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER policy_versions_notify AFTER UPDATE OR DELETE ON policy_versions
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER policy_attachments_notify AFTER INSERT OR UPDATE OR DELETE ON policy_attachments
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER inline_policies_notify AFTER INSERT OR UPDATE OR DELETE ON inline_policies
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER group_members_notify AFTER INSERT OR UPDATE OR DELETE ON group_members
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER roles_notify AFTER UPDATE OR DELETE ON roles
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER tags_notify AFTER INSERT OR UPDATE OR DELETE ON tags
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
      CREATE TRIGGER users_boundary_notify AFTER UPDATE OF permissions_boundary ON users
        FOR EACH STATEMENT EXECUTE FUNCTION portcullis_notify_policies();
    `,
  },
];
