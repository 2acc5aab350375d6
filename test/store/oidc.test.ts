/**
 * The store's OpenID Connect providers, on a real SQLite file (and, from test/store/postgres/, on
 * a real PostgreSQL database): migration 4 over a
 * version-3 database, each method and its errors, URLs unique per account regardless of case,
 * list order, updates that change only what they name, and what survives a reopen.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import { AlreadyExistsError, NoSuchEntityError, type OidcProvider } from '../../src/store/types.js';
import { ACCOUNT, OTHER_ACCOUNT, databaseAtVersion, databasePaths, describeFor, openBare, openStoreAt, rawCount, schemaOf, type TestStore } from '../helpers/storeFixtures.js';

const freshPath = databasePaths('oidc');

const THUMB_A = 'a'.repeat(40);
const THUMB_B = 'b'.repeat(40);

/** A provider for `https://HOSTPATH`, with its ARN as IAM forms it. */
function provider(hostPath: string, accountId = ACCOUNT, extra: Partial<OidcProvider> = {}): OidcProvider {
  return {
    accountId,
    arn: `arn:aws:iam::${accountId}:oidc-provider/${hostPath}`,
    url: `https://${hostPath}`,
    clientIds: ['sts.amazonaws.com'],
    thumbprints: [THUMB_A],
    createdAt: 5000,
    ...extra,
  };
}

function openStore(path = freshPath()): Promise<TestStore> {
  return openStoreAt(path);
}

// ---------------------------------------------------------------- migration

describeFor('sqlite', 'OIDC store: migration 4', () => {
  it('upgrades a version-3 database: its rows survive and providers work', async () => {
    assert.deepEqual(SQLITE_MIGRATIONS.map((m) => m.version).slice(0, 4), [1, 2, 3, 4]);
    const path = freshPath();

    // A database as version 3 left it, written without SqliteStore.
    const raw = databaseAtVersion(path, 3);
    raw.transaction(() => {
      raw.prepare('INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(ACCOUNT, 'test', 1);
      raw.prepare(`INSERT INTO roles (role_id, account_id, role_name, role_name_lower, path, assume_role_policy, description,
                     max_session_duration, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
        .run('AROALEGACY0000000000', ACCOUNT, 'Legacy', 'legacy', '/', '{}', 'old', 3600, 10);
    })();
    assert.equal(
      raw.prepare("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'oidc_providers'").pluck().get(),
      0,
      'version 3 has no providers table',
    );
    raw.close();

    const s = new SqliteStore(path, new Sealer([randomBytes(32)]));
    try {
      assert.equal(s.schemaVersion(), Math.max(...SQLITE_MIGRATIONS.map((m) => m.version)));
      assert.equal((await s.getAccount(ACCOUNT))?.name, 'test');
      assert.equal((await s.getRole(ACCOUNT, 'LEGACY'))?.roleId, 'AROALEGACY0000000000');
      assert.deepEqual(await s.listOidcProviders(ACCOUNT), []);
      const p = provider('token.example.com');
      await s.createOidcProvider(p);
      assert.deepEqual(await s.getOidcProvider(p.arn), p);
      await assert.rejects(s.createOidcProvider(provider('TOKEN.example.com')), AlreadyExistsError);
    } finally {
      await s.close();
    }

    const check = new Database(path, { readonly: true });
    try {
      assert.deepEqual(check.pragma('foreign_key_check'), []);
      assert.deepEqual(
        check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(),
        SQLITE_MIGRATIONS.map((m) => m.version),
      );
    } finally {
      check.close();
    }
  });

  it('a fresh database gets the same schema as an upgraded one; reopening does not re-run migration 4', async () => {
    const fresh = freshPath();
    await (await openStore(fresh)).close();
    const upgraded = freshPath();
    databaseAtVersion(upgraded, 3).close();
    await new SqliteStore(upgraded, new Sealer([randomBytes(32)])).close();
    assert.deepEqual(schemaOf(upgraded), schemaOf(fresh));

    // Reopen with a provider in place: the table is not recreated and the row survives.
    const s = new SqliteStore(fresh, new Sealer([randomBytes(32)]));
    const p = provider('keep.example.com');
    await s.createOidcProvider(p);
    await s.close();
    const again = new SqliteStore(fresh, new Sealer([randomBytes(32)]));
    try {
      assert.deepEqual(await again.getOidcProvider(p.arn), p);
    } finally {
      await again.close();
    }
    assert.equal(await rawCount(fresh, 'SELECT COUNT(*) FROM schema_migrations WHERE version = 4'), 1);
  });

  it('the schema itself refuses unknown accounts and lists that are not JSON arrays', async () => {
    const path = freshPath();
    await (await openStore(path)).close();
    const raw = new Database(path);
    raw.pragma('foreign_keys = ON');
    try {
      const insert = raw.prepare(`INSERT INTO oidc_providers (arn, account_id, url, url_lower, client_ids, thumbprints, created_at)
                                  VALUES (?, ?, 'https://x', 'https://x', ?, ?, 1)`);
      assert.throws(() => insert.run('arn:1', '999999999999', '[]', '[]'), /FOREIGN KEY/);
      assert.throws(() => insert.run('arn:2', ACCOUNT, 'not json', '[]'), /CHECK/);
      assert.throws(() => insert.run('arn:3', ACCOUNT, '[]', '{"a":1}'), /CHECK/);
      insert.run('arn:4', ACCOUNT, '[]', '[]');
    } finally {
      raw.close();
    }
  });
});

// ---------------------------------------------------------------- methods

describe('OIDC store: providers', () => {
  it('creates, gets and lists providers with their lists intact', async () => {
    const s = await openStore();
    try {
      const p = provider('auth.example.com/realms/main', ACCOUNT, { clientIds: ['a', 'b', 'c'], thumbprints: [THUMB_A, THUMB_B] });
      await s.createOidcProvider(p);
      assert.deepEqual(await s.getOidcProvider(p.arn), p);
      assert.deepEqual(await s.listOidcProviders(ACCOUNT), [p]);
      assert.equal(await s.getOidcProvider(`${p.arn}/other`), undefined);
      assert.equal(await s.getOidcProvider(p.arn.toUpperCase()), undefined, 'ARNs are looked up exactly');

      // Empty lists are kept as empty lists.
      const bare = provider('bare.example.com', ACCOUNT, { clientIds: [], thumbprints: [] });
      await s.createOidcProvider(bare);
      assert.deepEqual(await s.getOidcProvider(bare.arn), bare);
    } finally {
      await s.close();
    }
  });

  it('lists by ARN, per account', async () => {
    const s = await openStore();
    try {
      const c = provider('c.example.com');
      const a = provider('a.example.com');
      const b = provider('b.example.com/path');
      const elsewhere = provider('a.example.com', OTHER_ACCOUNT);
      for (const p of [c, a, elsewhere, b]) await s.createOidcProvider(p);
      assert.deepEqual((await s.listOidcProviders(ACCOUNT)).map((p) => p.arn), [a.arn, b.arn, c.arn]);
      assert.deepEqual(await s.listOidcProviders(OTHER_ACCOUNT), [elsewhere]);
      assert.deepEqual(await s.listOidcProviders('000000000000'), []);
    } finally {
      await s.close();
    }
  });

  it('refuses a second provider with the same URL in the account, regardless of case, and the same ARN', async () => {
    const path = freshPath();
    const s = await openStore(path);
    try {
      const p = provider('idp.example.com/x');
      await s.createOidcProvider(p);
      await assert.rejects(s.createOidcProvider({ ...p, clientIds: ['other'] }), AlreadyExistsError);
      // Same URL but for case, under a different ARN: still the same issuer.
      await assert.rejects(
        s.createOidcProvider({ ...provider('IDP.Example.com/X'), arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/distinct` }),
        AlreadyExistsError,
      );
      // Same ARN, different URL.
      await assert.rejects(s.createOidcProvider({ ...provider('elsewhere.example.com'), arn: p.arn }), AlreadyExistsError);
      // The same URL in another account is another provider.
      await s.createOidcProvider(provider('idp.example.com/x', OTHER_ACCOUNT));
      assert.deepEqual(await s.getOidcProvider(p.arn), p, 'the refused creates changed nothing');
      assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM oidc_providers'), 2);
    } finally {
      await s.close();
    }
  });

  it('refuses a provider for an unknown account', async () => {
    const path = freshPath();
    const s = await openStore(path);
    try {
      await assert.rejects(s.createOidcProvider(provider('x.example.com', '999999999999')), NoSuchEntityError);
      assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM oidc_providers'), 0);
    } finally {
      await s.close();
    }
  });

  it('deletes a provider; NoSuchEntityError for an unknown or already deleted one', async () => {
    const s = await openStore();
    try {
      const p = provider('gone.example.com');
      const kept = provider('kept.example.com');
      await s.createOidcProvider(p);
      await s.createOidcProvider(kept);
      await s.deleteOidcProvider(p.arn);
      assert.equal(await s.getOidcProvider(p.arn), undefined);
      assert.deepEqual(await s.listOidcProviders(ACCOUNT), [kept]);
      await assert.rejects(s.deleteOidcProvider(p.arn), NoSuchEntityError);
      await assert.rejects(s.deleteOidcProvider(`arn:aws:iam::${ACCOUNT}:oidc-provider/never.example.com`), NoSuchEntityError);
      // Its URL is free again.
      await s.createOidcProvider({ ...p, clientIds: ['again'] });
      assert.deepEqual((await s.getOidcProvider(p.arn))?.clientIds, ['again']);
    } finally {
      await s.close();
    }
  });

  it('updates only the lists it is given; NoSuchEntityError for an unknown provider', async () => {
    const path = freshPath();
    const s = await openStore(path);
    try {
      const p = provider('upd.example.com', ACCOUNT, { clientIds: ['one'], thumbprints: [THUMB_A] });
      const other = provider('other.example.com');
      await s.createOidcProvider(p);
      await s.createOidcProvider(other);

      await s.updateOidcProvider(p.arn, { clientIds: ['two', 'three'] });
      assert.deepEqual(await s.getOidcProvider(p.arn), { ...p, clientIds: ['two', 'three'] });

      await s.updateOidcProvider(p.arn, { thumbprints: [THUMB_B, THUMB_A] });
      assert.deepEqual(await s.getOidcProvider(p.arn), { ...p, clientIds: ['two', 'three'], thumbprints: [THUMB_B, THUMB_A] });

      await s.updateOidcProvider(p.arn, { clientIds: [], thumbprints: [THUMB_A] });
      assert.deepEqual(await s.getOidcProvider(p.arn), { ...p, clientIds: [], thumbprints: [THUMB_A] }, 'an empty list replaces');

      await s.updateOidcProvider(p.arn, {});
      assert.deepEqual(await s.getOidcProvider(p.arn), { ...p, clientIds: [], thumbprints: [THUMB_A] }, 'no change for an empty update');

      assert.deepEqual(await s.getOidcProvider(other.arn), other, 'other providers untouched');

      const missing = `arn:aws:iam::${ACCOUNT}:oidc-provider/missing.example.com`;
      await assert.rejects(s.updateOidcProvider(missing, { clientIds: ['x'] }), NoSuchEntityError);
      await assert.rejects(s.updateOidcProvider(missing, {}), NoSuchEntityError);
      assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM oidc_providers'), 2);
    } finally {
      await s.close();
    }
  });

  it('returned lists are the caller\'s own: changing them does not reach the store', async () => {
    const s = await openStore();
    try {
      const clientIds = ['a'];
      const p = provider('own.example.com', ACCOUNT, { clientIds });
      await s.createOidcProvider(p);
      clientIds.push('b');
      const got = await s.getOidcProvider(p.arn);
      assert.deepEqual(got?.clientIds, ['a']);
      (got?.clientIds as string[]).push('c');
      assert.deepEqual((await s.getOidcProvider(p.arn))?.clientIds, ['a']);
    } finally {
      await s.close();
    }
  });

  it('providers survive closing and reopening the file', async () => {
    const path = freshPath();
    const s = await openStore(path);
    const p = provider('durable.example.com', ACCOUNT, { clientIds: ['x', 'y'], thumbprints: [THUMB_B] });
    await s.createOidcProvider(p);
    await s.updateOidcProvider(p.arn, { clientIds: ['z'] });
    await s.close();
    const again = await openBare(path, new Sealer([randomBytes(32)]));
    try {
      assert.deepEqual(await again.listOidcProviders(ACCOUNT), [{ ...p, clientIds: ['z'] }]);
    } finally {
      await again.close();
    }
  });
});
