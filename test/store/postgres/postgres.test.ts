/**
 * What only the PostgreSQL store has: migrations that several nodes start at once, secrets sealed
 * in every row, the change feed (LISTEN/NOTIFY) and what it does when its connection is lost,
 * compareAndSetMeta between connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { PG_MIGRATIONS } from '../../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../../src/store/postgres/postgresStore.js';
import { Sealer } from '../../../src/store/seal.js';
import type { StoreChange } from '../../../src/store/types.js';
import { ACCOUNT, databasePaths, doc, openStoreAt, policy, postgresSuite, withUser } from '../../helpers/storeFixtures.js';
import { splitLocation } from '../../helpers/storeOpen.js';

async function raw<T extends pg.QueryResultRow>(location: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const { url, schema } = splitLocation(location);
  const c = new pg.Client({ connectionString: url, ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }) });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

function open(location: string, sealer = new Sealer([randomBytes(32)])): Promise<PostgresStore> {
  const { url, schema } = splitLocation(location);
  return PostgresStore.open(url, sealer, { schema, max: 3 });
}

/** Resolves with the first change `pick` accepts, or rejects after `ms`. */
function nextChange(seen: StoreChange[], pick: (c: StoreChange) => boolean, ms = 2000): Promise<StoreChange> {
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      const hit = seen.find(pick);
      if (hit !== undefined) {
        clearInterval(poll);
        resolve(hit);
      } else if (Date.now() - start > ms) {
        clearInterval(poll);
        reject(new Error(`no matching change within ${ms} ms; saw ${JSON.stringify(seen)}`));
      }
    }, 10);
  });
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

await postgresSuite(async () => {
  const fresh = databasePaths('pg');

  describe('PostgresStore: migrations', () => {
    it('several nodes opening an empty database at once apply each migration exactly once', async () => {
      const location = fresh();
      const sealer = new Sealer([randomBytes(32)]);
      const stores = await Promise.all(Array.from({ length: 5 }, () => open(location, sealer)));
      try {
        for (const s of stores) assert.equal(await s.schemaVersion(), PostgresStore.latestVersion);
        const rows = await raw<{ version: number }>(location, 'SELECT version FROM schema_migrations ORDER BY version');
        assert.deepEqual(rows.map((r) => r.version), PG_MIGRATIONS.map((m) => m.version));
        // and they all work on the one schema
        await stores[0]!.createAccount({ accountId: ACCOUNT, name: 't', createdAt: 1 });
        assert.equal((await stores[4]!.getAccount(ACCOUNT))?.name, 't');
      } finally {
        for (const s of stores) await s.close();
      }
    });

    it('reopening applies nothing again and keeps the data', async () => {
      const location = fresh();
      const s1 = await open(location);
      await s1.setMeta('marker', 'kept');
      await s1.close();
      const before = await raw(location, 'SELECT version, applied_at FROM schema_migrations ORDER BY version');
      await new Promise((r) => setTimeout(r, 5));
      const s2 = await open(location);
      try {
        assert.equal(await s2.getMeta('marker'), 'kept');
      } finally {
        await s2.close();
      }
      assert.deepEqual(await raw(location, 'SELECT version, applied_at FROM schema_migrations ORDER BY version'), before);
    });

    it('close is idempotent; ping answers while open and fails after', async () => {
      const s = await open(fresh());
      await s.ping();
      await s.close();
      await s.close();
      await assert.rejects(s.ping());
    });
  });

  describe('PostgresStore: secrets at rest', () => {
    it('no row of any table holds a secret in the clear; sealed values are bound to their row', async () => {
      const location = fresh();
      const masterKey = randomBytes(32);
      const s = await openStoreAt(location, new Sealer([masterKey]));
      const secrets: string[] = [];
      try {
        await withUser(s, 'holder');
        for (const id of ['AKIAPGSECRETAAAAAAA1', 'AKIAPGSECRETAAAAAAA2']) {
          const secret = randomBytes(30).toString('base64');
          secrets.push(secret);
          await s.createAccessKey({ accessKeyId: id, accountId: ACCOUNT, userName: 'holder', status: 'Active', createdAt: 1, secretAccessKey: secret });
        }
        assert.equal((await s.getAccessKey('AKIAPGSECRETAAAAAAA1'))?.secretAccessKey, secrets[0]);
      } finally {
        await s.close();
      }
      const tables = await raw<{ table_name: string }>(location,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'");
      assert.ok(tables.length >= 10);
      for (const { table_name } of tables) {
        const dump = JSON.stringify(await raw(location, `SELECT * FROM "${table_name}"`));
        for (const secret of secrets) assert.ok(!dump.includes(secret), `a secret in the clear in ${table_name}`);
        assert.ok(!dump.includes(masterKey.toString('base64')) && !dump.includes(masterKey.toString('hex')), `the master key in ${table_name}`);
      }
      const sealed = await raw<{ access_key_id: string; secret_sealed: string }>(location, 'SELECT access_key_id, secret_sealed FROM access_keys ORDER BY access_key_id');
      assert.ok(sealed.every((r) => r.secret_sealed.startsWith('pcs1.')));

      // Moved to the other row, a sealed secret does not open.
      await raw(location, 'UPDATE access_keys SET secret_sealed = $1 WHERE access_key_id = $2', [sealed[0]!.secret_sealed, sealed[1]!.access_key_id]);
      const again = await open(location, new Sealer([masterKey]));
      try {
        await assert.rejects(again.getAccessKey(sealed[1]!.access_key_id));
        assert.equal((await again.getAccessKey(sealed[0]!.access_key_id))?.secretAccessKey, secrets[0]);
      } finally {
        await again.close();
      }
      // Under a new master key, with the old one still listed, old secrets open and new ones seal with the new key.
      const rotated = await open(location, new Sealer([randomBytes(32), masterKey]));
      try {
        assert.equal((await rotated.getAccessKey(sealed[0]!.access_key_id))?.secretAccessKey, secrets[0]);
      } finally {
        await rotated.close();
      }
      const wrong = await open(location, new Sealer([randomBytes(32)]));
      try {
        await assert.rejects(wrong.getAccessKey(sealed[0]!.access_key_id), /not loaded/);
      } finally {
        await wrong.close();
      }
    });
  });

  describe('PostgresStore: compareAndSetMeta', () => {
    it('sets only over the expected value, and exactly one of many racing connections wins', async () => {
      const location = fresh();
      const stores = await Promise.all(Array.from({ length: 4 }, () => open(location)));
      try {
        const [a] = stores;
        assert.equal(await a!.compareAndSetMeta('k', 'nope', 'x'), false, 'no value yet, so none matches');
        const wins = await Promise.all(stores.map((s, i) => s.compareAndSetMeta('k', undefined, `v${i}`)));
        assert.equal(wins.filter(Boolean).length, 1);
        const winner = await a!.getMeta('k');
        assert.equal(winner, `v${wins.indexOf(true)}`);
        const next = await Promise.all(stores.map((s, i) => s.compareAndSetMeta('k', winner, `w${i}`)));
        assert.equal(next.filter(Boolean).length, 1);
        assert.equal(await a!.getMeta('k'), `w${next.indexOf(true)}`);
      } finally {
        for (const s of stores) await s.close();
      }
    });
  });

  describe('PostgresStore: change feed', () => {
    it('tells every node what changed, only once committed, and never what did not matter', async () => {
      const location = fresh();
      const sealer = new Sealer([randomBytes(32)]);
      const writer = await openStoreAt(location, sealer);
      const reader = await open(location, sealer);
      const seen: StoreChange[] = [];
      const watch = reader.watchChanges((c) => seen.push(c), { reconnectMs: 50 });
      try {
        await until(() => watch.live, 3000, 'the feed to be live');
        await nextChange(seen, (c) => c.kind === 'all'); // on connect: forget whatever came before
        const u = await withUser(writer, 'watched');
        await writer.createAccessKey({ accessKeyId: 'AKIAPGWATCHAAAAAAAA1', accountId: ACCOUNT, userName: 'watched', status: 'Active', createdAt: 1, secretAccessKey: 'x'.repeat(40) });
        // A new key is announced too: a node may have remembered its id as unknown.
        assert.deepEqual(await nextChange(seen, (c) => c.kind === 'key'), { kind: 'key', accessKeyId: 'AKIAPGWATCHAAAAAAAA1' });
        seen.length = 0;

        await writer.recordLastUsed(new Map([['AKIAPGWATCHAAAAAAAA1', { at: 5, service: 'iam', region: 'us-east-1' }]]));
        await writer.setAccessKeyStatus('AKIAPGWATCHAAAAAAAA1', 'Inactive');
        const change = await nextChange(seen, (c) => c.kind === 'key');
        assert.deepEqual(change, { kind: 'key', accessKeyId: 'AKIAPGWATCHAAAAAAAA1' });
        assert.equal(seen.filter((c) => c.kind === 'key').length, 1, 'recording a use announces nothing');

        const p = await writer.createManagedPolicy(policy('Watched'), doc('w'));
        seen.length = 0;
        await writer.attachPolicy({ type: 'user', id: u.userId }, p.arn, 10);
        await nextChange(seen, (c) => c.kind === 'policies');
        seen.length = 0;
        await writer.createPolicyVersion(p.arn, doc('w2'), true, 5);
        await nextChange(seen, (c) => c.kind === 'policies');

        // A refused write (over its quota) rolls back, and so does its notice.
        seen.length = 0;
        await writer.tagResource('user', u.userId, [{ key: 'a', value: '1' }], 5);
        await nextChange(seen, (c) => c.kind === 'policies');
        seen.length = 0;
        await assert.rejects(writer.tagResource('user', u.userId, [{ key: 'b', value: '1' }, { key: 'c', value: '1' }], 2));
        await new Promise((r) => setTimeout(r, 300));
        assert.deepEqual(seen, [], 'nothing announced for a write that did not happen');

        await writer.detachPolicy({ type: 'user', id: u.userId }, p.arn);
        await writer.untagResource('user', u.userId, ['a']);
        await writer.deleteAccessKey('AKIAPGWATCHAAAAAAAA1');
        seen.length = 0;
        await writer.deleteUser(ACCOUNT, 'watched');
        assert.deepEqual(await nextChange(seen, (c) => c.kind === 'user'), { kind: 'user', userId: u.userId });
      } finally {
        await watch.close();
        await reader.close();
        await writer.close();
      }
    });

    it('a lost connection: not live, everything forgotten, then it reconnects and listens again', async () => {
      const location = fresh();
      const sealer = new Sealer([randomBytes(32)]);
      const writer = await openStoreAt(location, sealer);
      const reader = await open(location, sealer);
      const seen: StoreChange[] = [];
      const watch = reader.watchChanges((c) => seen.push(c), { reconnectMs: 100 });
      try {
        await until(() => watch.live, 3000, 'the feed to be live');
        seen.length = 0;
        // The server ends the listener's connection (as a restart or a failover would).
        const { url } = splitLocation(location);
        const killed = await raw<{ n: number }>(url, "SELECT COUNT(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'portcullis-listener' AND datname = current_database()");
        assert.equal(killed[0]?.n, 1);
        await until(() => !watch.live, 3000, 'the feed to notice');
        assert.ok(seen.some((c) => c.kind === 'all'), 'caches told to forget everything');
        await until(() => watch.live, 5000, 'the feed to reconnect');
        seen.length = 0;
        await withUser(writer, 'after');
        await writer.createAccessKey({ accessKeyId: 'AKIAPGAFTERAAAAAAAA1', accountId: ACCOUNT, userName: 'after', status: 'Active', createdAt: 1, secretAccessKey: 'y'.repeat(40) });
        await writer.setAccessKeyStatus('AKIAPGAFTERAAAAAAAA1', 'Inactive');
        await nextChange(seen, (c) => c.kind === 'key');
      } finally {
        await watch.close();
        await reader.close();
        await writer.close();
      }
      assert.equal(watch.live, false);
    });
  });
});
