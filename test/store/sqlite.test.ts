/**
 * The embedded store on a real SQLite file: migrations, durability settings, CRUD, uniqueness,
 * secrets sealed at rest, last-use bookkeeping, file permissions. The store basics (CRUD,
 * uniqueness, last use) also run against PostgreSQL, from test/store/postgres/basics.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import { AlreadyExistsError, type AccessKeyWithSecret, type User } from '../../src/store/types.js';
import { ACCOUNT, OTHER_ACCOUNT, databasePaths, describeFor, openBare, type TestStore } from '../helpers/storeFixtures.js';

const freshPath = databasePaths('sqlite');

function secret(): string {
  return randomBytes(30).toString('base64');
}

function keyId(suffix: string): string {
  return ('AKIA' + suffix.toUpperCase() + 'Q'.repeat(16)).slice(0, 20);
}

function user(userName: string, accountId = ACCOUNT, path = '/'): User {
  return { accountId, userName, userId: 'AIDA' + randomBytes(12).toString('hex').toUpperCase().slice(0, 17), path, createdAt: Date.now() };
}

function key(accessKeyId: string, userName: string, createdAt = Date.now(), accountId = ACCOUNT): Omit<AccessKeyWithSecret, 'lastUsed'> {
  return { accessKeyId, accountId, userName, status: 'Active', createdAt, secretAccessKey: secret() };
}

async function withAccount(path: string, sealer = new Sealer([randomBytes(32)])): Promise<SqliteStore> {
  const s = new SqliteStore(path, sealer);
  await s.createAccount({ accountId: ACCOUNT, name: 'test', createdAt: 1 });
  return s;
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

describeFor('sqlite', 'SqliteStore: schema and file', () => {
  it('applies migrations once; reopening does not re-run them and keeps the data', async () => {
    const path = freshPath();
    const sealer = new Sealer([randomBytes(32)]);
    const s1 = new SqliteStore(path, sealer);
    const latest = Math.max(...SQLITE_MIGRATIONS.map((m) => m.version));
    assert.equal(s1.schemaVersion(), latest);
    await s1.setMeta('marker', 'kept');
    await s1.close();

    const raw = new Database(path, { readonly: true });
    const rows1 = raw.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all();
    raw.close();
    assert.equal(rows1.length, SQLITE_MIGRATIONS.length);

    await new Promise((r) => setTimeout(r, 5)); // a re-run would carry a later applied_at
    const s2 = new SqliteStore(path, sealer);
    assert.equal(s2.schemaVersion(), latest);
    assert.equal(await s2.getMeta('marker'), 'kept');
    await s2.close();
    const s3 = new SqliteStore(path, sealer); // and a third time, to be sure
    await s3.close();

    const raw2 = new Database(path, { readonly: true });
    const rows2 = raw2.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all();
    raw2.close();
    assert.deepEqual(rows2, rows1, 'schema_migrations is unchanged by reopening');
  });

  it('runs in WAL mode with synchronous=FULL', async () => {
    const path = freshPath();
    // Watch which connection the store opens, to ask *it* about its per-connection settings.
    const opened: Database.Database[] = [];
    const original = Database.prototype.pragma;
    Database.prototype.pragma = function (this: Database.Database, ...args: Parameters<typeof original>) {
      if (!opened.includes(this)) opened.push(this);
      return original.apply(this, args);
    } as typeof original;
    let s: SqliteStore;
    try {
      s = await withAccount(path);
    } finally {
      Database.prototype.pragma = original;
    }
    try {
      assert.equal(opened.length, 1, 'the store opened one connection');
      const db = opened[0]!;
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL (2)');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);

      // And as another connection sees the file.
      const other = new Database(path);
      try {
        assert.equal(other.pragma('journal_mode', { simple: true }), 'wal');
      } finally {
        other.close();
      }
    } finally {
      await s.close();
    }
  });

  it('creates the database file, and its WAL, with mode 0600', async () => {
    const path = freshPath();
    const s = await withAccount(path);
    try {
      await s.createUser(user('alice'));
      assert.equal(mode(path), 0o600);
      assert.ok(existsSync(`${path}-wal`), 'a WAL file exists while the store is open');
      assert.equal(mode(`${path}-wal`), 0o600);
      if (existsSync(`${path}-shm`)) assert.equal(mode(`${path}-shm`), 0o600);
    } finally {
      await s.close();
    }
    assert.equal(mode(path), 0o600);
  });

  it('answers ping, and close is idempotent', async () => {
    const s = new SqliteStore(freshPath(), new Sealer([randomBytes(32)]));
    await s.ping();
    assert.equal(s.kind, 'sqlite');
    await s.close();
    await s.close();
    await assert.rejects(s.ping());
  });
});

// The store contract's basics: this part runs against PostgreSQL too (test/store/postgres/basics.test.ts).
describe('store basics: meta, accounts, users, access keys, last use', () => {
  let s: TestStore;
  before(async () => {
    s = await openBare(freshPath());
    await s.createAccount({ accountId: ACCOUNT, name: 'test', createdAt: 1 });
    await s.createAccount({ accountId: OTHER_ACCOUNT, name: 'other', createdAt: 2 });
  });
  after(async () => {
    await s.close();
  });

  it('meta: get, set, overwrite', async () => {
    assert.equal(await s.getMeta('nope'), undefined);
    await s.setMeta('k', 'v1');
    assert.equal(await s.getMeta('k'), 'v1');
    await s.setMeta('k', 'v2');
    assert.equal(await s.getMeta('k'), 'v2');
  });

  it('accounts: create, get, duplicate', async () => {
    assert.deepEqual(await s.getAccount(ACCOUNT), { accountId: ACCOUNT, name: 'test', createdAt: 1 });
    assert.equal(await s.getAccount('999999999999'), undefined);
    await assert.rejects(s.createAccount({ accountId: ACCOUNT, name: 'again', createdAt: 3 }), AlreadyExistsError);
    assert.equal((await s.getAccount(ACCOUNT))?.name, 'test', 'the failed create changed nothing');
  });

  it('users: create, get by name (any case) and by id', async () => {
    const u = user('Alice', ACCOUNT, '/team/');
    await s.createUser(u);
    assert.deepEqual(await s.getUser(ACCOUNT, 'Alice'), u);
    assert.deepEqual(await s.getUser(ACCOUNT, 'alice'), u, 'lookup ignores case');
    assert.deepEqual(await s.getUser(ACCOUNT, 'ALICE'), u);
    assert.deepEqual(await s.getUserById(u.userId), u);
    assert.equal(await s.getUser(OTHER_ACCOUNT, 'Alice'), undefined, 'users belong to an account');
    assert.equal(await s.getUser(ACCOUNT, 'bob'), undefined);
    assert.equal(await s.getUserById('AIDANOSUCHUSER000000'), undefined);
  });

  it('users: names are unique per account regardless of case', async () => {
    await s.createUser(user('Carol'));
    for (const name of ['Carol', 'carol', 'CAROL', 'cArOl']) {
      await assert.rejects(
        s.createUser(user(name)),
        (e: unknown) => {
          assert.ok(e instanceof AlreadyExistsError, `got ${String(e)}`);
          assert.equal(e.name, 'AlreadyExistsError');
          return true;
        },
        `creating ${name} after Carol`,
      );
    }
    assert.equal((await s.getUser(ACCOUNT, 'carol'))?.userName, 'Carol', 'the original stays');
    // The same name in another account is another user.
    await s.createUser(user('carol', OTHER_ACCOUNT));
    assert.equal((await s.getUser(OTHER_ACCOUNT, 'CAROL'))?.userName, 'carol');
    // A user id is unique too.
    const dupId = { ...user('Dave'), userId: (await s.getUser(ACCOUNT, 'carol'))!.userId };
    await assert.rejects(s.createUser(dupId), AlreadyExistsError);
    assert.equal(await s.getUser(ACCOUNT, 'Dave'), undefined);
  });

  it('users: a user in an account that does not exist is refused', async () => {
    // Refused, but not as a name collision: AlreadyExistsError is for "an existing entity"
    // (it becomes IAM's EntityAlreadyExists), and no user named ghost exists anywhere.
    await assert.rejects(s.createUser(user('ghost', '555555555555')), (e: unknown) => {
      assert.ok(!(e instanceof AlreadyExistsError), `a missing account is not a name collision: ${String(e)}`);
      return true;
    });
    assert.equal(await s.getUser('555555555555', 'ghost'), undefined);
  });

  it('access keys: create and read back with the secret in the clear', async () => {
    await s.createUser(user('erin'));
    const k = key(keyId('ERIN1'), 'erin', 1000);
    await s.createAccessKey(k);
    const got = await s.getAccessKey(k.accessKeyId);
    assert.deepEqual(got, { ...k, lastUsed: undefined });
    assert.equal(await s.getAccessKey(keyId('NOSUCH')), undefined);
    // through a case-different user name, the key lands on the same user
    const k2 = key(keyId('ERIN2'), 'ERIN', 1001);
    await s.createAccessKey(k2);
    assert.equal((await s.getAccessKey(k2.accessKeyId))?.userName, 'erin');
    assert.equal((await s.getAccessKey(k2.accessKeyId))?.secretAccessKey, k2.secretAccessKey);
  });

  it('access keys: duplicates and keys of unknown users are refused', async () => {
    await s.createUser(user('frank'));
    const k = key(keyId('FRANK1'), 'frank');
    await s.createAccessKey(k);
    await assert.rejects(s.createAccessKey({ ...k, secretAccessKey: secret() }), AlreadyExistsError);
    assert.equal((await s.getAccessKey(k.accessKeyId))?.secretAccessKey, k.secretAccessKey, 'the first secret stays');
    await assert.rejects(s.createAccessKey(key(keyId('NOUSER1'), 'nobody')));
    assert.equal(await s.getAccessKey(keyId('NOUSER1')), undefined);
  });

  it('access keys: status changes', async () => {
    await s.createUser(user('gina'));
    const k = key(keyId('GINA1'), 'gina');
    await s.createAccessKey(k);
    await s.setAccessKeyStatus(k.accessKeyId, 'Inactive');
    assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Inactive');
    assert.equal((await s.listAccessKeys(ACCOUNT, 'gina'))[0]?.status, 'Inactive');
    await s.setAccessKeyStatus(k.accessKeyId, 'Active');
    assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Active');
    assert.equal((await s.getAccessKey(k.accessKeyId))?.secretAccessKey, k.secretAccessKey);
    await assert.rejects(s.setAccessKeyStatus(k.accessKeyId, 'Deleted' as 'Active'), 'only Active and Inactive are statuses');
    assert.equal((await s.getAccessKey(k.accessKeyId))?.status, 'Active');
  });

  it('access keys: listed in creation order (then by id), per user, without secrets', async () => {
    await s.createUser(user('Hank'));
    await s.createUser(user('ivy'));
    const k300 = key(keyId('HANK300'), 'Hank', 300);
    const k100 = key(keyId('HANK100'), 'Hank', 100);
    const k200b = key(keyId('HANK200B'), 'Hank', 200);
    const k200a = key(keyId('HANK200A'), 'Hank', 200);
    for (const k of [k300, k100, k200b, k200a]) await s.createAccessKey(k);
    await s.createAccessKey(key(keyId('IVY1'), 'ivy', 50));

    const listed = await s.listAccessKeys(ACCOUNT, 'hank');
    assert.deepEqual(listed.map((k) => k.accessKeyId), [k100, k200a, k200b, k300].map((k) => k.accessKeyId));
    for (const k of listed) {
      assert.equal(k.userName, 'Hank');
      assert.equal(k.accountId, ACCOUNT);
      assert.ok(!('secretAccessKey' in k), 'a listing carries no secret');
      assert.ok(!JSON.stringify(k).includes(k300.secretAccessKey));
    }
    assert.deepEqual(await s.listAccessKeys(ACCOUNT, 'nobody'), []);
    assert.deepEqual(await s.listAccessKeys(OTHER_ACCOUNT, 'Hank'), []);
  });

  it('last use: keeps the latest and ignores older ones', async () => {
    await s.createUser(user('jack'));
    const a = key(keyId('JACKA'), 'jack', 1);
    const b = key(keyId('JACKB'), 'jack', 2);
    await s.createAccessKey(a);
    await s.createAccessKey(b);

    await s.recordLastUsed(new Map([
      [a.accessKeyId, { at: 2000, service: 'sts', region: 'us-east-1' }],
      [b.accessKeyId, { at: 5000, service: 'iam', region: 'us-west-2' }],
      [keyId('JACKNONE'), { at: 9000, service: 'sts', region: 'us-east-1' }], // unknown: ignored
    ]));
    assert.deepEqual((await s.getAccessKey(a.accessKeyId))?.lastUsed, { at: 2000, service: 'sts', region: 'us-east-1' });
    assert.deepEqual((await s.getAccessKey(b.accessKeyId))?.lastUsed, { at: 5000, service: 'iam', region: 'us-west-2' });

    // older: ignored, whole (service and region too)
    await s.recordLastUsed(new Map([[a.accessKeyId, { at: 1000, service: 'iam', region: 'eu-west-1' }]]));
    assert.deepEqual((await s.getAccessKey(a.accessKeyId))?.lastUsed, { at: 2000, service: 'sts', region: 'us-east-1' });
    // newer: taken
    await s.recordLastUsed(new Map([
      [a.accessKeyId, { at: 3000, service: 'iam', region: 'eu-west-1' }],
      [b.accessKeyId, { at: 4999, service: 'sts', region: 'us-east-1' }],
    ]));
    assert.deepEqual((await s.getAccessKey(a.accessKeyId))?.lastUsed, { at: 3000, service: 'iam', region: 'eu-west-1' });
    assert.deepEqual((await s.getAccessKey(b.accessKeyId))?.lastUsed, { at: 5000, service: 'iam', region: 'us-west-2' }, 'b kept its later use');
    assert.deepEqual(
      (await s.listAccessKeys(ACCOUNT, 'jack')).map((k) => k.lastUsed?.at),
      [3000, 5000],
    );
    // an empty batch is fine
    await s.recordLastUsed(new Map());
  });
});

describeFor('sqlite', 'SqliteStore: secrets at rest', () => {
  it('the database and WAL bytes never contain a secret, open or closed', async () => {
    const path = freshPath();
    const s = await withAccount(path);
    const secrets: string[] = [];
    for (let i = 0; i < 20; i++) {
      await s.createUser(user(`u${i}`));
      const k = key(keyId(`RAW${i}`), `u${i}`);
      await s.createAccessKey(k);
      secrets.push(k.secretAccessKey);
    }
    const scan = (when: string) => {
      const files = [path, `${path}-wal`, `${path}-shm`].filter((f) => existsSync(f));
      const blob = Buffer.concat(files.map((f) => readFileSync(f)));
      assert.ok(blob.length > 0);
      for (const sec of secrets) {
        assert.equal(blob.indexOf(sec), -1, `${when}: a secret is in the database files`);
        assert.equal(blob.indexOf(Buffer.from(sec, 'utf16le')), -1, `${when}: a secret (UTF-16) is in the database files`);
        // the middle 16 characters, in case of a split or prefix
        assert.equal(blob.indexOf(sec.slice(12, 28)), -1, `${when}: part of a secret is in the database files`);
      }
      // the key ids are there, so the scan does see the rows
      assert.notEqual(blob.indexOf(keyId('RAW0')), -1, `${when}: the scan sees the rows`);
    };
    scan('while open');
    for (let i = 0; i < 20; i++) assert.equal((await s.getAccessKey(keyId(`RAW${i}`)))?.secretAccessKey, secrets[i]);
    await s.close();
    scan('after close');
  });

  it('a sealed secret moved to another row does not open there', async () => {
    const path = freshPath();
    const s = await withAccount(path);
    await s.createUser(user('kim'));
    const a = key(keyId('KIMA'), 'kim');
    const b = key(keyId('KIMB'), 'kim');
    await s.createAccessKey(a);
    await s.createAccessKey(b);
    const raw = new Database(path);
    raw.pragma('busy_timeout = 5000');
    try {
      const sealedA = raw.prepare('SELECT secret_sealed FROM access_keys WHERE access_key_id = ?').pluck().get(a.accessKeyId) as string;
      raw.prepare('UPDATE access_keys SET secret_sealed = ? WHERE access_key_id = ?').run(sealedA, b.accessKeyId);
    } finally {
      raw.close();
    }
    await assert.rejects(s.getAccessKey(b.accessKeyId), 'b must not open with a\'s sealed secret');
    assert.equal((await s.getAccessKey(a.accessKeyId))?.secretAccessKey, a.secretAccessKey);
    await s.close();
  });

  it('opens with the right master key only, and through rotation', async () => {
    const path = freshPath();
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const s = await withAccount(path, new Sealer([k1]));
    await s.createUser(user('lee'));
    const a = key(keyId('LEEA'), 'lee');
    await s.createAccessKey(a);
    await s.close();

    const wrong = new SqliteStore(path, new Sealer([k2]));
    await assert.rejects(wrong.getAccessKey(a.accessKeyId), /not loaded/);
    await wrong.close();

    const rotated = new SqliteStore(path, new Sealer([k2, k1]));
    assert.equal((await rotated.getAccessKey(a.accessKeyId))?.secretAccessKey, a.secretAccessKey);
    const b = key(keyId('LEEB'), 'lee');
    await rotated.createAccessKey(b);
    await rotated.close();

    const onlyNew = new SqliteStore(path, new Sealer([k2]));
    assert.equal((await onlyNew.getAccessKey(b.accessKeyId))?.secretAccessKey, b.secretAccessKey, 'new keys are sealed with the first master key');
    await onlyNew.close();
  });
});
