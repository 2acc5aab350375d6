/**
 * The store's IAM side, on a real SQLite file (and, from test/store/postgres/, on a real
 * PostgreSQL database): migration 2 over a version-1 SQLite database,
 * users and keys with their quotas and conflicts, managed policies and their versions,
 * attachments, inline policies, permissions boundaries, what the authorizer reads, and that
 * quotas hold when requests race, in one process and across connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import {
  ACCOUNT, OTHER_ACCOUNT, databaseAtVersion, databasePaths, describeFor, doc, openBare, openStoreAt, policy, race, rawCount, type TestStore, user, withUser,
} from '../helpers/storeFixtures.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import {
  AlreadyExistsError, DeleteConflictError, LimitExceededError, NoSuchEntityError, type AccessKeyWithSecret, type ManagedPolicy,
  type PolicyOwner, type User,
} from '../../src/store/types.js';

const freshPath = databasePaths('iam');
const openStore = (path = freshPath(), sealer?: Sealer): Promise<TestStore> => openStoreAt(path, sealer);

function keyId(suffix: string): string {
  return ('AKIA' + suffix.toUpperCase() + 'Q'.repeat(16)).slice(0, 20);
}

function key(accessKeyId: string, userName: string, accountId = ACCOUNT): Omit<AccessKeyWithSecret, 'lastUsed'> {
  return { accessKeyId, accountId, userName, status: 'Active', createdAt: 2000, secretAccessKey: randomBytes(30).toString('base64') };
}

/** A distinct, valid policy document. */
const asOwner = (u: User): PolicyOwner => ({ type: 'user', id: u.userId });

describeFor('sqlite', 'IAM store: migration 2', () => {
  it('upgrades a version-1 database: its users and keys survive and the new tables work', async () => {
    assert.equal(SQLITE_MIGRATIONS[0]?.version, 1);
    assert.ok(SQLITE_MIGRATIONS.some((m) => m.version === 2));
    const path = freshPath();
    const sealer = new Sealer([randomBytes(32)]);
    const old = user('Legacy', ACCOUNT, '/old/');
    const oldKey = key(keyId('LEGACY'), 'Legacy');

    // A database as version 1 left it, written without SqliteStore.
    const raw = databaseAtVersion(path, 1);
    raw.prepare('INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(ACCOUNT, 'test', 1);
    raw.prepare('INSERT INTO users (account_id, user_name, user_name_lower, user_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(old.accountId, old.userName, 'legacy', old.userId, old.path, old.createdAt);
    raw.prepare('INSERT INTO access_keys (access_key_id, user_id, status, secret_sealed, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(oldKey.accessKeyId, old.userId, 'Active', sealer.seal(oldKey.secretAccessKey, oldKey.accessKeyId), oldKey.createdAt);
    raw.close();

    const s = new SqliteStore(path, sealer);
    try {
      assert.equal(s.schemaVersion(), SQLITE_MIGRATIONS.at(-1)!.version, 'every migration after 1 applied');
      assert.deepEqual(await s.getUser(ACCOUNT, 'legacy'), old);
      assert.deepEqual(await s.getAccessKey(oldKey.accessKeyId), { ...oldKey, lastUsed: undefined });
      assert.equal(await s.getUserBoundary(old.userId), undefined, 'an existing user starts without a boundary');
      assert.deepEqual(await s.listUsers(ACCOUNT, '/'), [old]);

      const p = await s.createManagedPolicy(policy('Legacy-Read'), doc('read'));
      await s.attachPolicy(asOwner(old), p.arn, 10);
      await s.putInlinePolicy(asOwner(old), 'inline', doc('inline'));
      await s.setUserBoundary(old.userId, p.arn);
      assert.deepEqual(await s.principalPolicies(old.userId), {
        inline: [{ policyName: 'inline', document: doc('inline') }],
        managed: [{ arn: p.arn, versionId: 'v1', document: doc('read') }],
        boundary: { arn: p.arn, versionId: 'v1', document: doc('read') },
      });
      await assert.rejects(s.deleteUser(ACCOUNT, 'Legacy'), DeleteConflictError, 'the old key still holds the user');
    } finally {
      await s.close();
    }

    const check = new Database(path, { readonly: true });
    try {
      assert.deepEqual(check.pragma('foreign_key_check'), [], 'no dangling references after the upgrade');
      const columns = (check.pragma('table_info(users)') as { name: string }[]).map((c) => c.name);
      assert.ok(columns.includes('permissions_boundary'));
      assert.deepEqual(
        check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(),
        SQLITE_MIGRATIONS.map((m) => m.version),
      );
    } finally {
      check.close();
    }
  });

  it('the schema itself keeps defaults and boundaries pointing at what exists', async () => {
    const path = freshPath();
    const s = await openStore(path);
    const p = await s.createManagedPolicy(policy('Guarded'), doc('g'));
    const u = await withUser(s, 'guarded');
    await s.close();
    const raw = new Database(path);
    raw.pragma('foreign_keys = ON');
    try {
      assert.throws(() => raw.prepare('DELETE FROM policy_versions WHERE version_id = ?').run('v1'), /FOREIGN KEY/);
      assert.throws(() => raw.prepare('UPDATE managed_policies SET default_version_id = ? WHERE arn = ?').run('v9', p.arn), /FOREIGN KEY/);
      assert.throws(() => raw.prepare('UPDATE users SET permissions_boundary = ? WHERE user_id = ?').run(`${p.arn}-none`, u.userId), /FOREIGN KEY/);
      raw.prepare('UPDATE users SET permissions_boundary = ? WHERE user_id = ?').run(p.arn, u.userId);
      assert.throws(() => raw.prepare('DELETE FROM managed_policies WHERE arn = ?').run(p.arn), /FOREIGN KEY/, 'a boundary holds its policy');
    } finally {
      raw.close();
    }
  });
});

describe('IAM store: users and access keys', () => {
  let s: TestStore;
  let path: string;
  before(async () => {
    path = freshPath();
    s = await openStore(path);
  });
  after(async () => {
    await s.close();
  });

  it('listUsers: by account and path prefix (case-sensitive, no wildcards), ordered by name', async () => {
    const zed = await withUser(s, 'zed', ACCOUNT, '/ops/');
    const amy = await withUser(s, 'Amy', ACCOUNT, '/ops/eu/');
    const bob = await withUser(s, 'bob', ACCOUNT, '/');
    const odd = await withUser(s, 'odd', ACCOUNT, '/o_s/');
    const upper = await withUser(s, 'upper', ACCOUNT, '/OPS/');
    await withUser(s, 'elsewhere', OTHER_ACCOUNT, '/ops/');
    assert.deepEqual(await s.listUsers(ACCOUNT, '/'), [amy, bob, odd, upper, zed]);
    assert.deepEqual(await s.listUsers(ACCOUNT, '/ops/'), [amy, zed]);
    assert.deepEqual(await s.listUsers(ACCOUNT, '/ops/eu/'), [amy]);
    assert.deepEqual(await s.listUsers(ACCOUNT, '/OPS/'), [upper]);
    assert.deepEqual(await s.listUsers(ACCOUNT, '/o_s/'), [odd], '_ is a character, not a wildcard');
    assert.deepEqual(await s.listUsers(ACCOUNT, '/o%'), [], '% is a character, not a wildcard');
    assert.deepEqual(await s.listUsers('999999999999', '/'), []);
  });

  it('createAccessKeyLimited: up to the limit, then LimitExceededError; deleting frees a slot', async () => {
    const u = await withUser(s, 'keyed');
    await s.createAccessKeyLimited(key(keyId('KEYED1'), 'keyed'), 2);
    await s.createAccessKeyLimited(key(keyId('KEYED2'), 'KEYED'), 2);
    await assert.rejects(s.createAccessKeyLimited(key(keyId('KEYED3'), 'keyed'), 2), LimitExceededError);
    assert.equal(await s.getAccessKey(keyId('KEYED3')), undefined);
    assert.equal((await s.listAccessKeys(ACCOUNT, 'keyed')).length, 2);

    await s.deleteAccessKey(keyId('KEYED1'));
    assert.equal(await s.getAccessKey(keyId('KEYED1')), undefined);
    const third = key(keyId('KEYED3'), 'keyed');
    await s.createAccessKeyLimited(third, 2);
    assert.equal((await s.getAccessKey(third.accessKeyId))?.secretAccessKey, third.secretAccessKey, 'sealed and opened like any key');
    assert.deepEqual((await s.listAccessKeys(ACCOUNT, 'keyed')).map((k) => k.accessKeyId).sort(), [keyId('KEYED2'), keyId('KEYED3')]);
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM access_keys WHERE user_id = ?', u.userId), 2);
  });

  it('createAccessKeyLimited: an unknown user is NoSuchEntityError, a taken key id AlreadyExistsError', async () => {
    await assert.rejects(s.createAccessKeyLimited(key(keyId('NOBODY'), 'nobody'), 2), NoSuchEntityError);
    await assert.rejects(s.createAccessKeyLimited(key(keyId('NOBODY'), 'keyed', OTHER_ACCOUNT), 2), NoSuchEntityError, 'users belong to an account');
    await withUser(s, 'dup');
    await withUser(s, 'dup2');
    const k = key(keyId('DUPKEY'), 'dup');
    await s.createAccessKeyLimited(k, 2);
    await assert.rejects(s.createAccessKeyLimited({ ...key(keyId('DUPKEY'), 'dup2') }, 2), AlreadyExistsError);
    assert.equal((await s.getAccessKey(k.accessKeyId))?.userName, 'dup', 'the first key stays');
    assert.deepEqual(await s.listAccessKeys(ACCOUNT, 'dup2'), []);
  });

  it('deleteAccessKey: an unknown key is NoSuchEntityError', async () => {
    await assert.rejects(s.deleteAccessKey(keyId('NEVER')), NoSuchEntityError);
  });

  it('deleteUser: NoSuchEntityError when absent; DeleteConflictError while keys, inline or attached policies remain', async () => {
    await assert.rejects(s.deleteUser(ACCOUNT, 'ghost'), NoSuchEntityError);
    const u = await withUser(s, 'Leaving');
    const p = await s.createManagedPolicy(policy('LeavingPolicy'), doc('l'));
    await s.createAccessKeyLimited(key(keyId('LEAVING'), 'Leaving'), 2);
    await s.putInlinePolicy(asOwner(u), 'inline', doc('i'));
    await s.attachPolicy(asOwner(u), p.arn, 10);

    await assert.rejects(s.deleteUser(ACCOUNT, 'leaving'), DeleteConflictError, 'keys remain');
    await s.deleteAccessKey(keyId('LEAVING'));
    await assert.rejects(s.deleteUser(ACCOUNT, 'leaving'), DeleteConflictError, 'an inline policy remains');
    await s.deleteInlinePolicy(asOwner(u), 'inline');
    await assert.rejects(s.deleteUser(ACCOUNT, 'leaving'), DeleteConflictError, 'an attached policy remains');
    assert.deepEqual(await s.getUser(ACCOUNT, 'Leaving'), u, 'refused deletes changed nothing');
    await s.detachPolicy(asOwner(u), p.arn);

    await s.setUserBoundary(u.userId, p.arn); // a boundary does not hold a user
    await s.deleteUser(ACCOUNT, 'LEAVING');
    assert.equal(await s.getUser(ACCOUNT, 'Leaving'), undefined);
    assert.equal(await s.getUserById(u.userId), undefined);
    await assert.rejects(s.deleteUser(ACCOUNT, 'Leaving'), NoSuchEntityError);
    await s.deleteManagedPolicy(p.arn); // nothing refers to it any more
    // The name is free again.
    await withUser(s, 'leaving');
  });

  it('deleteUser: only the named account\'s user', async () => {
    await withUser(s, 'twin', ACCOUNT);
    await withUser(s, 'twin', OTHER_ACCOUNT);
    await s.deleteUser(OTHER_ACCOUNT, 'twin');
    assert.equal(await s.getUser(OTHER_ACCOUNT, 'twin'), undefined);
    assert.ok(await s.getUser(ACCOUNT, 'twin'));
  });

  it('boundaries: set, read, replace, clear; unknown policy or user is NoSuchEntityError', async () => {
    const u = await withUser(s, 'bounded');
    const a = await s.createManagedPolicy(policy('BoundA'), doc('a'));
    const b = await s.createManagedPolicy(policy('BoundB'), doc('b'));
    assert.equal(await s.getUserBoundary(u.userId), undefined);
    await s.setUserBoundary(u.userId, a.arn);
    assert.equal(await s.getUserBoundary(u.userId), a.arn);
    await s.setUserBoundary(u.userId, b.arn);
    assert.equal(await s.getUserBoundary(u.userId), b.arn);
    await assert.rejects(s.setUserBoundary(u.userId, `arn:aws:iam::${ACCOUNT}:policy/Nope`), NoSuchEntityError);
    assert.equal(await s.getUserBoundary(u.userId), b.arn, 'a refused change changed nothing');
    await s.setUserBoundary(u.userId, undefined);
    assert.equal(await s.getUserBoundary(u.userId), undefined);
    await s.setUserBoundary(u.userId, undefined); // clearing twice is fine
    await assert.rejects(s.setUserBoundary('AIDANOSUCHUSER0000000', a.arn), NoSuchEntityError);
    assert.equal(await s.getUserBoundary('AIDANOSUCHUSER0000000'), undefined);
    assert.equal((await s.getManagedPolicy(a.arn))?.attachmentCount, 0, 'a boundary is not an attachment');
  });
});

describe('IAM store: managed policies and versions', () => {
  let s: TestStore;
  let path: string;
  before(async () => {
    path = freshPath();
    s = await openStore(path);
  });
  after(async () => {
    await s.close();
  });

  it('createManagedPolicy: v1 is the default; get returns the same', async () => {
    const input = policy('Readers', ACCOUNT, '/team/');
    const created = await s.createManagedPolicy(input, doc('r1'));
    const expected: ManagedPolicy = { ...input, defaultVersionId: 'v1', attachmentCount: 0, updatedAt: input.createdAt };
    assert.deepEqual(created, expected);
    assert.deepEqual(await s.getManagedPolicy(input.arn), expected);
    assert.deepEqual(await s.listPolicyVersions(input.arn), [{ versionId: 'v1', document: doc('r1'), isDefault: true, createdAt: input.createdAt }]);
    assert.equal(await s.getManagedPolicy(`arn:aws:iam::${ACCOUNT}:policy/Nope`), undefined);
  });

  it('createManagedPolicy: names are unique per account whatever the case or path; ARNs and ids are unique', async () => {
    const first = await s.createManagedPolicy(policy('Unique'), doc('u'));
    for (const [name, path] of [['Unique', '/'], ['unique', '/'], ['UNIQUE', '/elsewhere/']] as const) {
      await assert.rejects(s.createManagedPolicy(policy(name, ACCOUNT, path), doc('x')), AlreadyExistsError, `${path}${name}`);
    }
    await assert.rejects(s.createManagedPolicy({ ...policy('Other'), arn: first.arn }, doc('x')), AlreadyExistsError, 'same ARN');
    await assert.rejects(s.createManagedPolicy({ ...policy('Other2'), policyId: first.policyId }, doc('x')), AlreadyExistsError, 'same id');
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM managed_policies WHERE policy_name_lower IN (?, ?, ?)', 'unique', 'other', 'other2'), 1);
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM policy_versions WHERE policy_id = ?', first.policyId), 1, 'no stray version from the refused creates');
    assert.deepEqual((await s.listPolicyVersions(first.arn)).map((v) => v.document), [doc('u')]);
    // Another account, and AWS, may use the name.
    await s.createManagedPolicy(policy('Unique', OTHER_ACCOUNT), doc('o'));
    await s.createManagedPolicy(policy('Unique', 'aws'), doc('a'));
  });

  it('listManagedPolicies: scope, onlyAttached, path prefix, ordered by name', async () => {
    const local = await openBare(freshPath(), new Sealer([randomBytes(32)]));
    try {
      await local.createAccount({ accountId: ACCOUNT, name: 't', createdAt: 1 });
      await local.createAccount({ accountId: OTHER_ACCOUNT, name: 'o', createdAt: 1 });
      const u = await withUser(local, 'lister');
      const zLocal = await local.createManagedPolicy(policy('zeta', ACCOUNT, '/app/'), doc('z'));
      const bLocal = await local.createManagedPolicy(policy('Beta', ACCOUNT), doc('b'));
      const aAws = await local.createManagedPolicy(policy('alpha', 'aws', '/service-role/'), doc('a'));
      const cAws = await local.createManagedPolicy(policy('Charlie', 'aws'), doc('c'));
      await local.createManagedPolicy(policy('Delta', OTHER_ACCOUNT), doc('d'));
      await local.attachPolicy(asOwner(u), zLocal.arn, 10);
      await local.attachPolicy(asOwner(u), cAws.arn, 10);
      const arns = async (scope: 'All' | 'AWS' | 'Local', onlyAttached: boolean, prefix = '/') =>
        (await local.listManagedPolicies(ACCOUNT, scope, onlyAttached, prefix)).map((p) => p.arn);

      assert.deepEqual(await arns('All', false), [aAws.arn, bLocal.arn, cAws.arn, zLocal.arn]);
      assert.deepEqual(await arns('AWS', false), [aAws.arn, cAws.arn]);
      assert.deepEqual(await arns('Local', false), [bLocal.arn, zLocal.arn]);
      assert.deepEqual(await arns('All', true), [cAws.arn, zLocal.arn]);
      assert.deepEqual(await arns('AWS', true), [cAws.arn]);
      assert.deepEqual(await arns('Local', true), [zLocal.arn]);
      assert.deepEqual(await arns('All', false, '/app/'), [zLocal.arn]);
      assert.deepEqual(await arns('All', false, '/service-role/'), [aAws.arn]);
      assert.deepEqual(await arns('Local', false, '/service-role/'), []);
      assert.deepEqual(await arns('Local', false, '/APP/'), [], 'path prefixes are case-sensitive');
      const listed = await local.listManagedPolicies(ACCOUNT, 'All', true, '/');
      assert.deepEqual(listed.map((p) => p.attachmentCount), [1, 1]);
      assert.deepEqual(listed[1], { ...zLocal, attachmentCount: 1 });
    } finally {
      await local.close();
    }
  });

  it('createPolicyVersion: v2, v3… optionally the default; ids are never reused; updatedAt moves', async () => {
    const p = await s.createManagedPolicy(policy('Versioned'), doc('v1'));
    const start = Date.now();
    const v2 = await s.createPolicyVersion(p.arn, doc('v2'), false, 5);
    assert.equal(v2.versionId, 'v2');
    assert.equal(v2.isDefault, false);
    assert.equal(v2.document, doc('v2'));
    assert.ok(v2.createdAt >= start && v2.createdAt <= Date.now());
    assert.equal((await s.getManagedPolicy(p.arn))?.defaultVersionId, 'v1');
    assert.equal((await s.getManagedPolicy(p.arn))?.updatedAt, v2.createdAt, 'updatedAt is the latest version\'s creation');

    const v3 = await s.createPolicyVersion(p.arn, doc('v3'), true, 5);
    assert.deepEqual([v3.versionId, v3.isDefault], ['v3', true]);
    assert.equal((await s.getManagedPolicy(p.arn))?.defaultVersionId, 'v3');
    assert.deepEqual(await s.getPolicyVersion(p.arn, 'v1'), { versionId: 'v1', document: doc('v1'), isDefault: false, createdAt: 1000 });
    assert.deepEqual(await s.getPolicyVersion(p.arn, 'v3'), v3);

    await s.deletePolicyVersion(p.arn, 'v2');
    assert.equal(await s.getPolicyVersion(p.arn, 'v2'), undefined);
    const v4 = await s.createPolicyVersion(p.arn, doc('v4'), false, 5);
    assert.equal(v4.versionId, 'v4', 'a deleted id is not handed out again');
    await s.deletePolicyVersion(p.arn, 'v4');
    assert.equal((await s.createPolicyVersion(p.arn, doc('v5'), false, 5)).versionId, 'v5');
    assert.deepEqual((await s.listPolicyVersions(p.arn)).map((v) => [v.versionId, v.isDefault]), [['v5', false], ['v3', true], ['v1', false]]);
  });

  it('createPolicyVersion: LimitExceededError at maxVersions; NoSuchEntityError for an unknown policy', async () => {
    const p = await s.createManagedPolicy(policy('Full'), doc('1'));
    for (let i = 2; i <= 5; i++) await s.createPolicyVersion(p.arn, doc(String(i)), false, 5);
    await assert.rejects(s.createPolicyVersion(p.arn, doc('6'), true, 5), LimitExceededError);
    assert.equal((await s.listPolicyVersions(p.arn)).length, 5);
    assert.equal((await s.getManagedPolicy(p.arn))?.defaultVersionId, 'v1', 'the refused version did not become the default');
    await s.deletePolicyVersion(p.arn, 'v2');
    assert.equal((await s.createPolicyVersion(p.arn, doc('6'), false, 5)).versionId, 'v6', 'the counter did not move on the refusal');
    await assert.rejects(s.createPolicyVersion(`arn:aws:iam::${ACCOUNT}:policy/Nope`, doc('x'), false, 5), NoSuchEntityError);
  });

  it('listPolicyVersions: newest first by number (v10 before v9), empty for an unknown policy', async () => {
    const p = await s.createManagedPolicy(policy('Many'), doc('1'));
    for (let i = 2; i <= 11; i++) await s.createPolicyVersion(p.arn, doc(String(i)), false, 20);
    assert.deepEqual(
      (await s.listPolicyVersions(p.arn)).map((v) => v.versionId),
      ['v11', 'v10', 'v9', 'v8', 'v7', 'v6', 'v5', 'v4', 'v3', 'v2', 'v1'],
    );
    assert.deepEqual(await s.listPolicyVersions(`arn:aws:iam::${ACCOUNT}:policy/Nope`), []);
  });

  it('getPolicyVersion: undefined for an unknown version or policy', async () => {
    const p = await s.createManagedPolicy(policy('Lookup'), doc('1'));
    assert.equal(await s.getPolicyVersion(p.arn, 'v2'), undefined);
    assert.equal(await s.getPolicyVersion(p.arn, 'V1'), undefined, 'version ids are exact');
    assert.equal(await s.getPolicyVersion(`arn:aws:iam::${ACCOUNT}:policy/Nope`, 'v1'), undefined);
  });

  it('setDefaultPolicyVersion: switches; NoSuchEntityError for an unknown version or policy', async () => {
    const p = await s.createManagedPolicy(policy('Switch'), doc('1'));
    await s.createPolicyVersion(p.arn, doc('2'), false, 5);
    await s.setDefaultPolicyVersion(p.arn, 'v2');
    assert.equal((await s.getManagedPolicy(p.arn))?.defaultVersionId, 'v2');
    assert.deepEqual((await s.listPolicyVersions(p.arn)).map((v) => v.isDefault), [true, false]);
    await s.setDefaultPolicyVersion(p.arn, 'v2'); // already the default: fine
    await assert.rejects(s.setDefaultPolicyVersion(p.arn, 'v3'), NoSuchEntityError);
    await assert.rejects(s.setDefaultPolicyVersion(`arn:aws:iam::${ACCOUNT}:policy/Nope`, 'v1'), NoSuchEntityError);
    assert.equal((await s.getManagedPolicy(p.arn))?.defaultVersionId, 'v2');
  });

  it('deletePolicyVersion: DeleteConflictError for the default, NoSuchEntityError for an unknown version or policy', async () => {
    const p = await s.createManagedPolicy(policy('Prune'), doc('1'));
    await s.createPolicyVersion(p.arn, doc('2'), true, 5);
    await assert.rejects(s.deletePolicyVersion(p.arn, 'v2'), DeleteConflictError);
    await assert.rejects(s.deletePolicyVersion(p.arn, 'v7'), NoSuchEntityError);
    await assert.rejects(s.deletePolicyVersion(`arn:aws:iam::${ACCOUNT}:policy/Nope`, 'v1'), NoSuchEntityError);
    await s.deletePolicyVersion(p.arn, 'v1');
    assert.deepEqual((await s.listPolicyVersions(p.arn)).map((v) => v.versionId), ['v2']);
    await assert.rejects(s.deletePolicyVersion(p.arn, 'v1'), NoSuchEntityError, 'gone');
  });

  it('deleteManagedPolicy: refused while attached, a boundary or with other versions; then gone with its version', async () => {
    const u = await withUser(s, 'holder');
    const p = await s.createManagedPolicy(policy('Doomed'), doc('1'));
    await assert.rejects(s.deleteManagedPolicy(`arn:aws:iam::${ACCOUNT}:policy/Nope`), NoSuchEntityError);

    await withRole(s, 'AROAROLE0000000000000');
    await s.attachPolicy({ type: 'role', id: 'AROAROLE0000000000000' }, p.arn, 10);
    await assert.rejects(s.deleteManagedPolicy(p.arn), DeleteConflictError, 'attached to a role');
    await s.detachPolicy({ type: 'role', id: 'AROAROLE0000000000000' }, p.arn);

    await s.setUserBoundary(u.userId, p.arn);
    await assert.rejects(s.deleteManagedPolicy(p.arn), DeleteConflictError, 'a permissions boundary');
    await s.setUserBoundary(u.userId, undefined);

    await s.createPolicyVersion(p.arn, doc('2'), true, 5);
    await assert.rejects(s.deleteManagedPolicy(p.arn), DeleteConflictError, 'a version besides the default');
    assert.ok(await s.getManagedPolicy(p.arn), 'refused deletes changed nothing');
    await s.deletePolicyVersion(p.arn, 'v1');

    await s.deleteManagedPolicy(p.arn);
    assert.equal(await s.getManagedPolicy(p.arn), undefined);
    assert.deepEqual(await s.listPolicyVersions(p.arn), []);
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM policy_versions WHERE policy_id = ?', p.policyId), 0);
    await assert.rejects(s.deleteManagedPolicy(p.arn), NoSuchEntityError);
    // The name is free again.
    await s.createManagedPolicy(policy('doomed'), doc('again'));
  });
});

describe('IAM store: attachments and inline policies', () => {
  let s: TestStore;
  before(async () => {
    s = await openStore();
  });
  after(async () => {
    await s.close();
  });

  it('attachPolicy: idempotent; counted; listed by name; detach', async () => {
    const u = await withUser(s, 'attacher');
    const other = await withUser(s, 'other');
    const b = await s.createManagedPolicy(policy('Bravo'), doc('b'));
    const a = await s.createManagedPolicy(policy('alpha'), doc('a'));
    const aws = await s.createManagedPolicy(policy('AwsCharlie', 'aws'), doc('c'));
    await s.attachPolicy(asOwner(u), b.arn, 10);
    await s.attachPolicy(asOwner(u), b.arn, 10);
    await s.attachPolicy(asOwner(u), aws.arn, 10);
    await s.attachPolicy(asOwner(u), a.arn, 10);
    await s.attachPolicy(asOwner(other), b.arn, 10);
    assert.deepEqual((await s.listAttachedPolicies(asOwner(u))).map((p) => p.policyName), ['alpha', 'AwsCharlie', 'Bravo']);
    assert.equal((await s.getManagedPolicy(b.arn))?.attachmentCount, 2, 'attaching twice counts once');
    assert.deepEqual((await s.listAttachedPolicies(asOwner(u)))[2], { ...b, attachmentCount: 2 });

    await s.detachPolicy(asOwner(u), b.arn);
    assert.equal((await s.getManagedPolicy(b.arn))?.attachmentCount, 1);
    await assert.rejects(s.detachPolicy(asOwner(u), b.arn), NoSuchEntityError, 'no longer attached');
    await assert.rejects(s.detachPolicy(asOwner(u), `arn:aws:iam::${ACCOUNT}:policy/Nope`), NoSuchEntityError, 'no such policy');
    assert.deepEqual((await s.listAttachedPolicies(asOwner(other))).map((p) => p.arn), [b.arn]);
    assert.deepEqual(await s.listAttachedPolicies({ type: 'group', id: u.userId }), [], 'owners are typed');
  });

  it('attachPolicy: NoSuchEntityError for an unknown policy or user', async () => {
    const u = await withUser(s, 'attacher2');
    const p = await s.createManagedPolicy(policy('Known'), doc('k'));
    await assert.rejects(s.attachPolicy(asOwner(u), `arn:aws:iam::${ACCOUNT}:policy/Nope`, 10), NoSuchEntityError);
    await assert.rejects(s.attachPolicy({ type: 'user', id: 'AIDANOSUCHUSER0000000' }, p.arn, 10), NoSuchEntityError);
    assert.equal((await s.getManagedPolicy(p.arn))?.attachmentCount, 0);
  });

  it('attachPolicy: at most maxAttached distinct policies per owner; re-attaching at the limit is fine', async () => {
    const u = await withUser(s, 'limited');
    const ps: ManagedPolicy[] = [];
    for (let i = 0; i < 4; i++) ps.push(await s.createManagedPolicy(policy(`Limit${i}`), doc(String(i))));
    for (const p of ps.slice(0, 3)) await s.attachPolicy(asOwner(u), p.arn, 3);
    await s.attachPolicy(asOwner(u), ps[0]!.arn, 3);
    await assert.rejects(s.attachPolicy(asOwner(u), ps[3]!.arn, 3), LimitExceededError);
    assert.equal((await s.listAttachedPolicies(asOwner(u))).length, 3);
    // The quota is per owner.
    await withGroup(s, 'AGPAGROUP000000000000');
    await s.attachPolicy({ type: 'group', id: 'AGPAGROUP000000000000' }, ps[3]!.arn, 3);
    await s.detachPolicy(asOwner(u), ps[1]!.arn);
    await s.attachPolicy(asOwner(u), ps[3]!.arn, 3);
  });

  it('inline policies: put, replace, get, list by name, delete', async () => {
    const u = await withUser(s, 'inliner');
    const owner = asOwner(u);
    await s.putInlinePolicy(owner, 'zz', doc('z'));
    await s.putInlinePolicy(owner, 'aa', doc('a1'));
    await s.putInlinePolicy(owner, 'aa', doc('a2'));
    await s.putInlinePolicy(owner, 'AA', doc('A'));
    assert.deepEqual(await s.getInlinePolicy(owner, 'aa'), { policyName: 'aa', document: doc('a2') }, 'replaced');
    assert.deepEqual(await s.listInlinePolicies(owner), [
      { policyName: 'AA', document: doc('A') },
      { policyName: 'aa', document: doc('a2') },
      { policyName: 'zz', document: doc('z') },
    ]);
    assert.equal(await s.getInlinePolicy(owner, 'nope'), undefined);
    assert.equal(await s.getInlinePolicy({ type: 'role', id: u.userId }, 'aa'), undefined, 'owners are typed');

    await s.deleteInlinePolicy(owner, 'aa');
    assert.equal(await s.getInlinePolicy(owner, 'aa'), undefined);
    await assert.rejects(s.deleteInlinePolicy(owner, 'aa'), NoSuchEntityError);
    await assert.rejects(s.deleteInlinePolicy({ type: 'role', id: 'AROANONE000000000000' }, 'zz'), NoSuchEntityError);
    assert.deepEqual((await s.listInlinePolicies(owner)).map((p) => p.policyName), ['AA', 'zz']);
  });

  it('inline policies: NoSuchEntityError for an unknown user, group or role', async () => {
    await assert.rejects(s.putInlinePolicy({ type: 'user', id: 'AIDANOSUCHUSER0000000' }, 'p', doc('p')), NoSuchEntityError);
    assert.deepEqual(await s.listInlinePolicies({ type: 'user', id: 'AIDANOSUCHUSER0000000' }), []);
    await assert.rejects(s.putInlinePolicy({ type: 'role', id: 'AROAROLE000000000000' }, 'p', doc('p')), NoSuchEntityError);
    await assert.rejects(s.putInlinePolicy({ type: 'group', id: 'AGPANOSUCHGROUP000000' }, 'p', doc('p')), NoSuchEntityError);
    await withRole(s, 'AROAROLE000000000000');
    await s.putInlinePolicy({ type: 'role', id: 'AROAROLE000000000000' }, 'p', doc('p'));
    assert.equal((await s.getInlinePolicy({ type: 'role', id: 'AROAROLE000000000000' }, 'p'))?.document, doc('p'));
  });
});

/** A role or group with a given id, for attachments and inline policies to belong to. */
async function withRole(s: TestStore, roleId: string): Promise<void> {
  await s.createRole({ accountId: ACCOUNT, roleName: `role-${roleId}`, roleId, path: '/', assumeRolePolicyDocument: '{}', description: '', maxSessionDuration: 3600, createdAt: 1 });
}
async function withGroup(s: TestStore, groupId: string): Promise<void> {
  await s.createGroup({ accountId: ACCOUNT, groupName: `group-${groupId}`, groupId, path: '/', createdAt: 1 });
}

describe('IAM store: principalPolicies', () => {
  let s: TestStore;
  before(async () => {
    s = await openStore();
  });
  after(async () => {
    await s.close();
  });

  it('inline and attached policies and the boundary, each managed one at its default version only', async () => {
    const u = await withUser(s, 'principal');
    const bystander = await withUser(s, 'bystander');
    const read = await s.createManagedPolicy(policy('Read'), doc('read-v1'));
    await s.createPolicyVersion(read.arn, doc('read-v2'), false, 5); // not the default
    await s.createPolicyVersion(read.arn, doc('read-v3'), true, 5);
    const admin = await s.createManagedPolicy(policy('Admin', 'aws'), doc('admin-v1'));
    await s.createPolicyVersion(admin.arn, doc('admin-v2'), false, 5);
    const fence = await s.createManagedPolicy(policy('Fence'), doc('fence-v1'));
    await s.createPolicyVersion(fence.arn, doc('fence-v2'), true, 5);
    const unrelated = await s.createManagedPolicy(policy('Unrelated'), doc('nope'));

    await s.attachPolicy(asOwner(u), read.arn, 10);
    await s.attachPolicy(asOwner(u), admin.arn, 10);
    await s.attachPolicy(asOwner(bystander), unrelated.arn, 10);
    await withRole(s, u.userId);
    await s.attachPolicy({ type: 'role', id: u.userId }, unrelated.arn, 10); // same id, another kind of owner
    await s.putInlinePolicy(asOwner(u), 'b-inline', doc('b'));
    await s.putInlinePolicy(asOwner(u), 'a-inline', doc('a'));
    await s.putInlinePolicy(asOwner(bystander), 'theirs', doc('theirs'));
    await s.setUserBoundary(u.userId, fence.arn);

    assert.deepEqual(await s.principalPolicies(u.userId), {
      inline: [{ policyName: 'a-inline', document: doc('a') }, { policyName: 'b-inline', document: doc('b') }],
      managed: [
        { arn: admin.arn, versionId: 'v1', document: doc('admin-v1') },
        { arn: read.arn, versionId: 'v3', document: doc('read-v3') },
      ],
      boundary: { arn: fence.arn, versionId: 'v2', document: doc('fence-v2') },
    });

    await s.setDefaultPolicyVersion(read.arn, 'v2');
    await s.setDefaultPolicyVersion(admin.arn, 'v2');
    await s.setDefaultPolicyVersion(fence.arn, 'v1');
    await s.setUserBoundary(bystander.userId, fence.arn);
    const switched = await s.principalPolicies(u.userId);
    assert.deepEqual(switched.managed.map((m) => [m.versionId, m.document]), [['v2', doc('admin-v2')], ['v2', doc('read-v2')]]);
    assert.deepEqual(switched.boundary, { arn: fence.arn, versionId: 'v1', document: doc('fence-v1') });

    await s.setUserBoundary(u.userId, undefined);
    assert.equal((await s.principalPolicies(u.userId)).boundary, undefined);
  });

  it('empty for a user without policies, and for an unknown user', async () => {
    const u = await withUser(s, 'bare');
    const empty = { inline: [], managed: [], boundary: undefined };
    assert.deepEqual(await s.principalPolicies(u.userId), empty);
    assert.deepEqual(await s.principalPolicies('AIDANOSUCHUSER0000000'), empty);
  });
});

// ---------------------------------------------------------------- races

/** The calls the racing workers make (see `race`). */
const IAM_ATTEMPT = `async (store, d, i) => {
  if (d.op === 'key') {
    const id = ('AKIAW' + d.worker + 'X' + i + 'Q'.repeat(20)).slice(0, 20);
    await store.createAccessKeyLimited({ accessKeyId: id, accountId: '${ACCOUNT}', userName: d.userName, status: 'Active', createdAt: 1, secretAccessKey: 's' + i }, d.limit);
  } else if (d.op === 'version') {
    await store.createPolicyVersion(d.arn, 'doc ' + d.worker + '/' + i, i % 2 === 0, d.limit);
  } else {
    await store.attachPolicy({ type: 'user', id: d.userId }, d.arns[(i + d.worker) % d.arns.length], d.limit);
  }
}`;

describe('IAM store: quotas hold when requests race', () => {
  it('in one process: concurrent calls never pass a quota', async () => {
    const s = await openStore();
    try {
      await withUser(s, 'racer');
      const keys = await Promise.allSettled(
        Array.from({ length: 20 }, (_, i) => s.createAccessKeyLimited(key(keyId(`RACE${String(i).padStart(2, '0')}`), 'racer'), 2)),
      );
      assert.equal(keys.filter((r) => r.status === 'fulfilled').length, 2);
      assert.ok(keys.every((r) => r.status === 'fulfilled' || r.reason instanceof LimitExceededError));
      assert.equal((await s.listAccessKeys(ACCOUNT, 'racer')).length, 2);

      const p = await s.createManagedPolicy(policy('Raced'), doc('1'));
      const versions = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => s.createPolicyVersion(p.arn, doc(`r${i}`), i % 2 === 0, 5)));
      assert.equal(versions.filter((r) => r.status === 'fulfilled').length, 4);
      const ids = (await s.listPolicyVersions(p.arn)).map((v) => v.versionId);
      assert.deepEqual(ids, ['v5', 'v4', 'v3', 'v2', 'v1']);
    } finally {
      await s.close();
    }
  });

  it('across connections (worker threads): keys, versions and attachments stay within their quotas', async () => {
    const path = freshPath();
    const masterKey = randomBytes(32);
    const s = await openStore(path, new Sealer([masterKey]));
    const u = await withUser(s, 'threaded');
    const p = await s.createManagedPolicy(policy('Threaded'), doc('1'));
    const arns: string[] = [];
    for (let i = 0; i < 12; i++) arns.push((await s.createManagedPolicy(policy(`Attach${i}`), doc(String(i)))).arn);
    await s.close(); // the workers are the only writers

    const keys = await race(IAM_ATTEMPT, path, masterKey, 6, { op: 'key', userName: 'threaded', limit: 2, attempts: 4 }, ['LimitExceededError']);
    assert.equal(keys.filter((o) => o === 'ok').length, 2, keys.join(','));
    const versions = await race(IAM_ATTEMPT, path, masterKey, 6, { op: 'version', arn: p.arn, limit: 5, attempts: 4 }, ['LimitExceededError']);
    assert.equal(versions.filter((o) => o === 'ok').length, 4, versions.join(','));
    const attachments = await race(IAM_ATTEMPT, path, masterKey, 6, { op: 'attach', userId: u.userId, arns, limit: 5, attempts: 12 }, ['LimitExceededError']);
    assert.equal(attachments.filter((o) => o === 'LimitExceededError').length > 0, true);

    const check = await openBare(path, new Sealer([masterKey]));
    try {
      assert.equal((await check.listAccessKeys(ACCOUNT, 'threaded')).length, 2);
      const ids = (await check.listPolicyVersions(p.arn)).map((v) => v.versionId);
      assert.deepEqual(ids, ['v5', 'v4', 'v3', 'v2', 'v1'], 'five versions, numbered without gaps or repeats');
      const defaultId = (await check.getManagedPolicy(p.arn))?.defaultVersionId;
      assert.ok(defaultId !== undefined && ids.includes(defaultId));
      assert.equal((await check.listAttachedPolicies({ type: 'user', id: u.userId })).length, 5);
    } finally {
      await check.close();
    }
  });
});
