/**
 * The store's groups, roles and tags, on a real SQLite file (and, from test/store/postgres/, on a
 * real PostgreSQL database): migration 3 over a
 * version-2 database, each method and its errors, group membership in what the authorizer
 * reads, delete conflicts, names and tag keys without case, the tag quota, tags dropped with
 * their entity, and quotas that hold when requests race, in one process and across connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import {
  ACCOUNT, OTHER_ACCOUNT, databaseAtVersion, databasePaths, describeFor, doc, hex, openBare, openStoreAt, policy, race, rawCount, schemaOf, storeBackend,
  type TestStore, user, withUser,
} from '../helpers/storeFixtures.js';
import { GROUPS_PER_USER, SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import {
  AlreadyExistsError, DeleteConflictError, LimitExceededError, NoSuchEntityError, type Group, type ManagedPolicy, type PolicyOwner,
  type Role, type User,
} from '../../src/store/types.js';

const freshPath = databasePaths('entities');
const openStore = (path = freshPath(), sealer?: Sealer): Promise<TestStore> => openStoreAt(path, sealer);

function group(groupName: string, accountId = ACCOUNT, path = '/'): Group {
  return { accountId, groupName, groupId: 'AGPA' + hex(17), path, createdAt: 1100 };
}

const TRUST = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'sts:AssumeRole' }],
});

function role(roleName: string, accountId = ACCOUNT, path = '/'): Role {
  return {
    accountId,
    roleName,
    roleId: 'AROA' + hex(17),
    path,
    assumeRolePolicyDocument: TRUST,
    description: `the ${roleName} role`,
    maxSessionDuration: 3600,
    createdAt: 1200,
  };
}

/** A distinct, valid policy document. */
const ofUser = (u: User): PolicyOwner => ({ type: 'user', id: u.userId });
const ofGroup = (g: Group): PolicyOwner => ({ type: 'group', id: g.groupId });
const ofRole = (r: Role): PolicyOwner => ({ type: 'role', id: r.roleId });

const EMPTY = { inline: [], managed: [], boundary: undefined };

async function withGroup(s: TestStore, name: string, accountId = ACCOUNT, path = '/'): Promise<Group> {
  const g = group(name, accountId, path);
  await s.createGroup(g);
  return g;
}

async function withRole(s: TestStore, name: string, accountId = ACCOUNT, path = '/'): Promise<Role> {
  const r = role(name, accountId, path);
  await s.createRole(r);
  return r;
}

// ---------------------------------------------------------------- migration and schema

describeFor('sqlite', 'entity store: migration 3', () => {
  it('upgrades a version-2 database: its users and policies survive and the new tables work', async () => {
    assert.deepEqual(SQLITE_MIGRATIONS.slice(0, 3).map((m) => m.version), [1, 2, 3]);
    const path = freshPath();
    const sealer = new Sealer([randomBytes(32)]);
    const old = user('Legacy', ACCOUNT, '/old/');
    const oldPolicy = policy('LegacyRead');

    // A database as version 2 left it, written without SqliteStore.
    const raw = databaseAtVersion(path, 2);
    raw.transaction(() => {
      raw.prepare('INSERT INTO accounts (account_id, name, created_at) VALUES (?, ?, ?)').run(ACCOUNT, 'test', 1);
      raw.prepare('INSERT INTO users (account_id, user_name, user_name_lower, user_id, path, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(old.accountId, old.userName, 'legacy', old.userId, old.path, old.createdAt);
      raw.prepare(`INSERT INTO managed_policies (policy_id, account_id, policy_name, policy_name_lower, path, arn, description,
                     default_version_id, next_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'v1', 2, ?, ?)`)
        .run(oldPolicy.policyId, ACCOUNT, oldPolicy.policyName, 'legacyread', '/', oldPolicy.arn, oldPolicy.description, 1000, 1000);
      raw.prepare('INSERT INTO policy_versions (policy_id, version_id, document, created_at) VALUES (?, ?, ?, ?)')
        .run(oldPolicy.policyId, 'v1', doc('legacy'), 1000);
      raw.prepare("INSERT INTO policy_attachments (owner_type, owner_id, policy_id) VALUES ('user', ?, ?)").run(old.userId, oldPolicy.policyId);
      raw.prepare("INSERT INTO inline_policies (owner_type, owner_id, policy_name, document) VALUES ('user', ?, 'mine', ?)").run(old.userId, doc('mine'));
      raw.prepare('UPDATE users SET permissions_boundary = ? WHERE user_id = ?').run(oldPolicy.arn, old.userId);
      // Version 2 took group and role ids as given: these have no owner and can never be reached.
      raw.prepare("INSERT INTO policy_attachments (owner_type, owner_id, policy_id) VALUES ('role', 'AROAGHOST00000000000', ?)").run(oldPolicy.policyId);
      raw.prepare("INSERT INTO inline_policies (owner_type, owner_id, policy_name, document) VALUES ('group', 'AGPAGHOST00000000000', 'g', ?)").run(doc('g'));
    })();
    raw.close();

    const s = new SqliteStore(path, sealer);
    try {
      assert.equal(s.schemaVersion(), Math.max(...SQLITE_MIGRATIONS.map((m) => m.version)));
      assert.deepEqual(await s.getUser(ACCOUNT, 'LEGACY'), old);
      const p = await s.getManagedPolicy(oldPolicy.arn);
      assert.deepEqual(p, { ...oldPolicy, defaultVersionId: 'v1', attachmentCount: 1, updatedAt: 1000 }, 'the ownerless role attachment is gone');
      assert.deepEqual(await s.principalPolicies(old.userId), {
        inline: [{ policyName: 'mine', document: doc('mine') }],
        managed: [{ arn: oldPolicy.arn, versionId: 'v1', document: doc('legacy') }],
        boundary: { arn: oldPolicy.arn, versionId: 'v1', document: doc('legacy') },
      });
      assert.deepEqual(await s.listInlinePolicies({ type: 'group', id: 'AGPAGHOST00000000000' }), []);
      assert.deepEqual(await s.listTags('user', old.userId), []);

      // The new tables work with the old rows.
      const g = await withGroup(s, 'Veterans');
      await s.addUserToGroup(g.groupId, old.userId);
      await s.putInlinePolicy(ofGroup(g), 'group-inline', doc('gi'));
      const r = await withRole(s, 'Legacy-Role');
      await s.attachPolicy(ofRole(r), oldPolicy.arn, 10);
      await s.setRoleBoundary(r.roleId, oldPolicy.arn);
      await s.tagResource('user', old.userId, [{ key: 'team', value: 'core' }], 50);
      await s.tagResource('policy', oldPolicy.policyId, [{ key: 'since', value: 'v2' }], 50);
      assert.deepEqual(await s.listGroupsForUser(old.userId), [g]);
      assert.deepEqual((await s.principalPolicies(old.userId)).inline.map((i) => i.policyName), ['mine', 'group-inline']);
      assert.deepEqual((await s.rolePolicies(r.roleId)).managed.map((m) => m.arn), [oldPolicy.arn]);
      assert.equal((await s.getManagedPolicy(oldPolicy.arn))?.attachmentCount, 2);
      assert.deepEqual(await s.listTags('user', old.userId), [{ key: 'team', value: 'core' }]);
      await assert.rejects(s.deleteUser(ACCOUNT, 'Legacy'), DeleteConflictError);
    } finally {
      await s.close();
    }

    const check = new Database(path, { readonly: true });
    try {
      assert.deepEqual(check.pragma('foreign_key_check'), [], 'no dangling references after the upgrade');
      assert.deepEqual(check.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all(), SQLITE_MIGRATIONS.map((m) => m.version));
      const tables = check.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
      for (const t of ['groups', 'group_members', 'roles', 'tags']) assert.ok(tables.includes(t), t);
    } finally {
      check.close();
    }
  });

  it('a fresh database gets the same schema as an upgraded one', async () => {
    const fresh = freshPath();
    await (await openStore(fresh)).close();
    const upgraded = freshPath();
    databaseAtVersion(upgraded, 2).close();
    await new SqliteStore(upgraded, new Sealer([randomBytes(32)])).close();
    assert.deepEqual(schemaOf(upgraded), schemaOf(fresh));
  });

  it('the schema itself refuses orphans: memberships, owners with policies, role boundaries, session durations', async () => {
    const path = freshPath();
    const s = await openStore(path);
    const u = await withUser(s, 'member');
    const g = await withGroup(s, 'members');
    const r = await withRole(s, 'holder');
    const p = await s.createManagedPolicy(policy('Held'), doc('h'));
    await s.addUserToGroup(g.groupId, u.userId);
    await s.attachPolicy(ofRole(r), p.arn, 10);
    const bare = await withGroup(s, 'bare');
    await s.putInlinePolicy(ofGroup(bare), 'inline', doc('i'));
    const tagged = await withUser(s, 'tagged');
    await s.putInlinePolicy(ofUser(tagged), 'inline', doc('i'));
    await s.close();

    const raw = new Database(path);
    raw.pragma('foreign_keys = ON');
    try {
      assert.throws(() => raw.prepare('DELETE FROM groups WHERE group_id = ?').run(g.groupId), /FOREIGN KEY/, 'a member holds its group');
      assert.throws(() => raw.prepare('DELETE FROM users WHERE user_id = ?').run(u.userId), /FOREIGN KEY/, 'a membership holds its user');
      assert.throws(() => raw.prepare('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)').run('AGPANONE', u.userId), /FOREIGN KEY/);
      assert.throws(() => raw.prepare('INSERT INTO group_members (group_id, user_id) VALUES (?, ?)').run(g.groupId, 'AIDANONE'), /FOREIGN KEY/);
      assert.throws(() => raw.prepare('DELETE FROM roles WHERE role_id = ?').run(r.roleId), /role still has policies/);
      assert.throws(() => raw.prepare('DELETE FROM groups WHERE group_id = ?').run(bare.groupId), /group still has policies/);
      assert.throws(() => raw.prepare('DELETE FROM users WHERE user_id = ?').run(tagged.userId), /user still has policies/);
      assert.throws(() => raw.prepare('UPDATE roles SET permissions_boundary = ? WHERE role_id = ?').run(`${p.arn}-none`, r.roleId), /FOREIGN KEY/);
      assert.throws(() => raw.prepare('UPDATE roles SET max_session_duration = 3599 WHERE role_id = ?').run(r.roleId), /CHECK/);
      assert.throws(() => raw.prepare('UPDATE roles SET max_session_duration = 43201 WHERE role_id = ?').run(r.roleId), /CHECK/);
      assert.throws(() => raw.prepare("INSERT INTO tags VALUES ('group', 'x', 'k', 'k', 'v')").run(), /CHECK/, 'groups take no tags');
      assert.deepEqual(raw.pragma('foreign_key_check'), []);
    } finally {
      raw.close();
    }
  });
});

// ---------------------------------------------------------------- groups

describe('entity store: groups', () => {
  let s: TestStore;
  let path: string;
  before(async () => {
    path = freshPath();
    s = await openStore(path);
  });
  after(async () => {
    await s.close();
  });

  it('createGroup and getGroup: names without case, unique per account; ids unique; unknown account refused', async () => {
    const g = await withGroup(s, 'Admins', ACCOUNT, '/ops/');
    assert.deepEqual(await s.getGroup(ACCOUNT, 'Admins'), g);
    assert.deepEqual(await s.getGroup(ACCOUNT, 'admins'), g);
    assert.deepEqual(await s.getGroup(ACCOUNT, 'ADMINS'), g);
    assert.equal(await s.getGroup(OTHER_ACCOUNT, 'Admins'), undefined);
    assert.equal(await s.getGroup(ACCOUNT, 'Admin'), undefined);
    for (const [name, p] of [['Admins', '/ops/'], ['admins', '/'], ['ADMINS', '/elsewhere/']] as const) {
      await assert.rejects(s.createGroup(group(name, ACCOUNT, p)), AlreadyExistsError, `${p}${name}`);
    }
    await assert.rejects(s.createGroup({ ...group('Other'), groupId: g.groupId }), AlreadyExistsError, 'same id');
    await assert.rejects(s.createGroup(group('ghosts', '555555555555')), NoSuchEntityError, 'an unknown account is not a name collision');
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM groups WHERE group_name_lower IN (?, ?, ?)', 'admins', 'other', 'ghosts'), 1);
    await withGroup(s, 'admins', OTHER_ACCOUNT); // another account may use the name
  });

  it('listGroups: by account and path prefix (case-sensitive, no wildcards), ordered by name without case', async () => {
    const local = await openStore();
    try {
      const zed = await withGroup(local, 'zed', ACCOUNT, '/ops/');
      const amy = await withGroup(local, 'Amy', ACCOUNT, '/ops/eu/');
      const bob = await withGroup(local, 'bob', ACCOUNT, '/');
      const odd = await withGroup(local, 'odd', ACCOUNT, '/o_s/');
      await withGroup(local, 'elsewhere', OTHER_ACCOUNT, '/ops/');
      assert.deepEqual(await local.listGroups(ACCOUNT, '/'), [amy, bob, odd, zed]);
      assert.deepEqual(await local.listGroups(ACCOUNT, '/ops/'), [amy, zed]);
      assert.deepEqual(await local.listGroups(ACCOUNT, '/OPS/'), []);
      assert.deepEqual(await local.listGroups(ACCOUNT, '/o_s/'), [odd]);
      assert.deepEqual(await local.listGroups(ACCOUNT, '/o%'), []);
      assert.deepEqual(await local.listGroups('999999999999', '/'), []);
    } finally {
      await local.close();
    }
  });

  it('addUserToGroup: idempotent; listed both ways, ordered by name', async () => {
    const g = await withGroup(s, 'Crew');
    const h = await withGroup(s, 'band');
    const zoe = await withUser(s, 'zoe');
    const al = await withUser(s, 'Al');
    await s.addUserToGroup(g.groupId, zoe.userId);
    await s.addUserToGroup(g.groupId, zoe.userId);
    await s.addUserToGroup(g.groupId, al.userId);
    await s.addUserToGroup(h.groupId, zoe.userId);
    assert.deepEqual(await s.listUsersInGroup(g.groupId), [al, zoe]);
    assert.deepEqual(await s.listUsersInGroup(h.groupId), [zoe]);
    assert.deepEqual(await s.listGroupsForUser(zoe.userId), [h, g]);
    assert.deepEqual(await s.listGroupsForUser(al.userId), [g]);
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM group_members WHERE user_id = ?', zoe.userId), 2, 'adding twice stores once');
    assert.deepEqual(await s.listGroupsForUser('AIDANOSUCHUSER0000000'), []);
    assert.deepEqual(await s.listUsersInGroup('AGPANOSUCHGROUP000000'), []);
  });

  it('addUserToGroup: NoSuchEntityError for an unknown user or group, or a user of another account', async () => {
    const g = await withGroup(s, 'Strict');
    const u = await withUser(s, 'strict-member');
    const foreign = await withUser(s, 'foreigner', OTHER_ACCOUNT);
    await assert.rejects(s.addUserToGroup('AGPANOSUCHGROUP000000', u.userId), NoSuchEntityError);
    await assert.rejects(s.addUserToGroup(g.groupId, 'AIDANOSUCHUSER0000000'), NoSuchEntityError);
    await assert.rejects(s.addUserToGroup(g.groupId, foreign.userId), NoSuchEntityError);
    assert.deepEqual(await s.listUsersInGroup(g.groupId), []);
  });

  it('addUserToGroup: at most maxGroupsPerUser groups (IAM\'s 10 by default); re-adding at the limit is fine', async () => {
    const u = await withUser(s, 'joiner');
    const gs: Group[] = [];
    for (let i = 0; i < GROUPS_PER_USER + 1; i++) gs.push(await withGroup(s, `join-${String(i).padStart(2, '0')}`));
    for (const g of gs.slice(0, 3)) await s.addUserToGroup(g.groupId, u.userId, 3);
    await s.addUserToGroup(gs[0]!.groupId, u.userId, 3);
    await assert.rejects(s.addUserToGroup(gs[3]!.groupId, u.userId, 3), (e: unknown) => {
      assert.ok(e instanceof LimitExceededError);
      assert.match(e.message, /GroupsPerUser: 3/);
      return true;
    });
    assert.equal((await s.listGroupsForUser(u.userId)).length, 3);
    // The default is IAM's.
    for (const g of gs.slice(3, GROUPS_PER_USER)) await s.addUserToGroup(g.groupId, u.userId);
    await assert.rejects(s.addUserToGroup(gs[GROUPS_PER_USER]!.groupId, u.userId), LimitExceededError);
    assert.equal((await s.listGroupsForUser(u.userId)).length, GROUPS_PER_USER);
    // The quota is per user: the group itself takes more members.
    const other = await withUser(s, 'joiner2');
    await s.addUserToGroup(gs[GROUPS_PER_USER]!.groupId, other.userId);
    await s.removeUserFromGroup(gs[0]!.groupId, u.userId);
    await s.addUserToGroup(gs[GROUPS_PER_USER]!.groupId, u.userId);
  });

  it('removeUserFromGroup: NoSuchEntityError when not a member, or for an unknown user or group', async () => {
    const g = await withGroup(s, 'Leavers');
    const u = await withUser(s, 'leaver');
    const stay = await withUser(s, 'stayer');
    await s.addUserToGroup(g.groupId, u.userId);
    await s.addUserToGroup(g.groupId, stay.userId);
    await s.removeUserFromGroup(g.groupId, u.userId);
    assert.deepEqual(await s.listUsersInGroup(g.groupId), [stay]);
    assert.deepEqual(await s.listGroupsForUser(u.userId), []);
    await assert.rejects(s.removeUserFromGroup(g.groupId, u.userId), NoSuchEntityError, 'no longer a member');
    await assert.rejects(s.removeUserFromGroup('AGPANOSUCHGROUP000000', stay.userId), NoSuchEntityError);
    await assert.rejects(s.removeUserFromGroup(g.groupId, 'AIDANOSUCHUSER0000000'), NoSuchEntityError);
  });

  it('deleteGroup: NoSuchEntityError when absent; DeleteConflictError while members, inline or attached policies remain', async () => {
    await assert.rejects(s.deleteGroup(ACCOUNT, 'ghosts'), NoSuchEntityError);
    const g = await withGroup(s, 'Doomed');
    const u = await withUser(s, 'doomed-member');
    const p = await s.createManagedPolicy(policy('DoomedGroupPolicy'), doc('d'));
    await s.addUserToGroup(g.groupId, u.userId);
    await s.putInlinePolicy(ofGroup(g), 'inline', doc('i'));
    await s.attachPolicy(ofGroup(g), p.arn, 10);
    await s.tagResource('user', u.userId, [{ key: 'k', value: 'v' }], 50);

    await assert.rejects(s.deleteGroup(ACCOUNT, 'doomed'), DeleteConflictError, 'a member remains');
    await s.removeUserFromGroup(g.groupId, u.userId);
    await assert.rejects(s.deleteGroup(ACCOUNT, 'doomed'), DeleteConflictError, 'an inline policy remains');
    await s.deleteInlinePolicy(ofGroup(g), 'inline');
    await assert.rejects(s.deleteGroup(ACCOUNT, 'doomed'), DeleteConflictError, 'an attached policy remains');
    assert.deepEqual(await s.getGroup(ACCOUNT, 'Doomed'), g, 'refused deletes changed nothing');
    await s.detachPolicy(ofGroup(g), p.arn);

    await assert.rejects(s.deleteGroup(OTHER_ACCOUNT, 'Doomed'), NoSuchEntityError, 'groups belong to an account');
    await s.deleteGroup(ACCOUNT, 'DOOMED');
    assert.equal(await s.getGroup(ACCOUNT, 'Doomed'), undefined);
    await assert.rejects(s.deleteGroup(ACCOUNT, 'Doomed'), NoSuchEntityError);
    await assert.rejects(s.addUserToGroup(g.groupId, u.userId), NoSuchEntityError, 'a deleted group takes no members');
    await assert.rejects(s.attachPolicy(ofGroup(g), p.arn, 10), NoSuchEntityError, 'nor policies');
    assert.deepEqual(await s.listTags('user', u.userId), [{ key: 'k', value: 'v' }], 'the member is untouched');
    await s.deleteManagedPolicy(p.arn); // nothing refers to it any more
    await withGroup(s, 'doomed'); // the name is free again
  });

  it('deleteUser: DeleteConflictError while the user is in a group', async () => {
    const g = await withGroup(s, 'Holding');
    const u = await withUser(s, 'Held');
    await s.addUserToGroup(g.groupId, u.userId);
    await assert.rejects(s.deleteUser(ACCOUNT, 'held'), (e: unknown) => {
      assert.ok(e instanceof DeleteConflictError);
      assert.match(e.message, /group/);
      return true;
    });
    assert.deepEqual(await s.getUser(ACCOUNT, 'Held'), u);
    await s.removeUserFromGroup(g.groupId, u.userId);
    await s.deleteUser(ACCOUNT, 'held');
    assert.deepEqual(await s.listUsersInGroup(g.groupId), []);
    assert.equal(await s.getUserById(u.userId), undefined);
  });
});

// ---------------------------------------------------------------- group and role policies

describe('entity store: policies of groups and roles', () => {
  let s: TestStore;
  before(async () => {
    s = await openStore();
  });
  after(async () => {
    await s.close();
  });

  it('attachPolicy and putInlinePolicy: NoSuchEntityError for an unknown group or role; nothing is stored', async () => {
    const p = await s.createManagedPolicy(policy('Owned'), doc('o'));
    const u = await withUser(s, 'not-a-group');
    for (const owner of [
      { type: 'group', id: 'AGPANOSUCHGROUP000000' },
      { type: 'role', id: 'AROANOSUCHROLE0000000' },
      { type: 'group', id: u.userId }, // a user's id is no group's
      { type: 'role', id: u.userId },
    ] as const) {
      await assert.rejects(s.attachPolicy(owner, p.arn, 10), NoSuchEntityError, `${owner.type} ${owner.id}`);
      await assert.rejects(s.putInlinePolicy(owner, 'p', doc('p')), NoSuchEntityError, `${owner.type} ${owner.id}`);
      assert.deepEqual(await s.listAttachedPolicies(owner), []);
      assert.deepEqual(await s.listInlinePolicies(owner), []);
    }
    assert.equal((await s.getManagedPolicy(p.arn))?.attachmentCount, 0);
  });

  it('attachments and inline policies of groups and roles: counted, listed, quota per owner, detached, deleted', async () => {
    const g = await withGroup(s, 'Attached');
    const r = await withRole(s, 'Attached');
    const ps: ManagedPolicy[] = [];
    for (let i = 0; i < 3; i++) ps.push(await s.createManagedPolicy(policy(`GR${i}`), doc(String(i))));
    await s.attachPolicy(ofGroup(g), ps[0]!.arn, 2);
    await s.attachPolicy(ofGroup(g), ps[0]!.arn, 2);
    await s.attachPolicy(ofGroup(g), ps[1]!.arn, 2);
    await assert.rejects(s.attachPolicy(ofGroup(g), ps[2]!.arn, 2), /PoliciesPerGroup: 2/);
    await s.attachPolicy(ofRole(r), ps[0]!.arn, 2);
    await s.attachPolicy(ofRole(r), ps[2]!.arn, 2);
    await assert.rejects(s.attachPolicy(ofRole(r), ps[1]!.arn, 2), /PoliciesPerRole: 2/);
    assert.equal((await s.getManagedPolicy(ps[0]!.arn))?.attachmentCount, 2);
    assert.deepEqual((await s.listAttachedPolicies(ofGroup(g))).map((p) => p.policyName), ['GR0', 'GR1']);
    assert.deepEqual((await s.listAttachedPolicies(ofRole(r))).map((p) => p.policyName), ['GR0', 'GR2']);
    await assert.rejects(s.deleteManagedPolicy(ps[0]!.arn), DeleteConflictError, 'attached to a group and a role');

    await s.putInlinePolicy(ofGroup(g), 'gp', doc('g1'));
    await s.putInlinePolicy(ofGroup(g), 'gp', doc('g2'));
    await s.putInlinePolicy(ofRole(r), 'rp', doc('r'));
    assert.deepEqual(await s.listInlinePolicies(ofGroup(g)), [{ policyName: 'gp', document: doc('g2') }]);
    assert.deepEqual(await s.getInlinePolicy(ofRole(r), 'rp'), { policyName: 'rp', document: doc('r') });
    assert.equal(await s.getInlinePolicy({ type: 'role', id: g.groupId }, 'gp'), undefined, 'owners are typed');

    await s.detachPolicy(ofGroup(g), ps[0]!.arn);
    await s.detachPolicy(ofRole(r), ps[0]!.arn);
    await s.deleteInlinePolicy(ofRole(r), 'rp');
    await assert.rejects(s.deleteInlinePolicy(ofRole(r), 'rp'), NoSuchEntityError);
    assert.equal((await s.getManagedPolicy(ps[0]!.arn))?.attachmentCount, 0);
    await s.deleteManagedPolicy(ps[0]!.arn);
  });

  it('principalPolicies: the user\'s own policies, then those of every group the user is in', async () => {
    const u = await withUser(s, 'grouped');
    const bystander = await withUser(s, 'bystander');
    const devs = await withGroup(s, 'devs');
    const admins = await withGroup(s, 'Admins');
    const outsiders = await withGroup(s, 'outsiders');
    const own = await s.createManagedPolicy(policy('Own'), doc('own'));
    const dev = await s.createManagedPolicy(policy('Dev'), doc('dev-v1'));
    await s.createPolicyVersion(dev.arn, doc('dev-v2'), true, 5);
    const admin = await s.createManagedPolicy(policy('Admin', 'aws'), doc('admin'));
    const outside = await s.createManagedPolicy(policy('Outside'), doc('outside'));
    const fence = await s.createManagedPolicy(policy('Fence'), doc('fence'));

    await s.attachPolicy(ofUser(u), own.arn, 10);
    await s.putInlinePolicy(ofUser(u), 'mine', doc('mine'));
    await s.attachPolicy(ofGroup(devs), dev.arn, 10);
    await s.putInlinePolicy(ofGroup(devs), 'dev-inline', doc('dev-inline'));
    await s.putInlinePolicy(ofGroup(devs), 'mine', doc('devs-mine')); // the same name as the user's: another policy
    await s.attachPolicy(ofGroup(admins), admin.arn, 10);
    await s.putInlinePolicy(ofGroup(admins), 'admin-inline', doc('admin-inline'));
    await s.attachPolicy(ofGroup(outsiders), outside.arn, 10);
    await s.putInlinePolicy(ofGroup(outsiders), 'outside-inline', doc('outside-inline'));
    await s.setUserBoundary(u.userId, fence.arn);

    assert.deepEqual(await s.principalPolicies(u.userId), {
      inline: [{ policyName: 'mine', document: doc('mine') }],
      managed: [{ arn: own.arn, versionId: 'v1', document: doc('own') }],
      boundary: { arn: fence.arn, versionId: 'v1', document: doc('fence') },
    }, 'groups count only once the user is in them');

    await s.addUserToGroup(devs.groupId, u.userId);
    await s.addUserToGroup(admins.groupId, u.userId);
    await s.addUserToGroup(outsiders.groupId, bystander.userId);
    assert.deepEqual(await s.principalPolicies(u.userId), {
      inline: [
        { policyName: 'mine', document: doc('mine') },
        { policyName: 'admin-inline', document: doc('admin-inline') },
        { policyName: 'dev-inline', document: doc('dev-inline') },
        { policyName: 'mine', document: doc('devs-mine') },
      ],
      managed: [
        { arn: admin.arn, versionId: 'v1', document: doc('admin') },
        { arn: dev.arn, versionId: 'v2', document: doc('dev-v2') },
        { arn: own.arn, versionId: 'v1', document: doc('own') },
      ],
      boundary: { arn: fence.arn, versionId: 'v1', document: doc('fence') },
    });

    // A group's policy changes reach its members.
    await s.setDefaultPolicyVersion(dev.arn, 'v1');
    await s.deleteInlinePolicy(ofGroup(admins), 'admin-inline');
    const changed = await s.principalPolicies(u.userId);
    assert.deepEqual(changed.managed.find((m) => m.arn === dev.arn), { arn: dev.arn, versionId: 'v1', document: doc('dev-v1') });
    assert.deepEqual(changed.inline.map((i) => i.policyName), ['mine', 'dev-inline', 'mine']);

    // Leaving a group takes its policies away.
    await s.removeUserFromGroup(devs.groupId, u.userId);
    const left = await s.principalPolicies(u.userId);
    assert.deepEqual(left.inline, [{ policyName: 'mine', document: doc('mine') }]);
    assert.deepEqual(left.managed.map((m) => m.arn), [admin.arn, own.arn]);

    assert.deepEqual(await s.principalPolicies(bystander.userId), {
      inline: [{ policyName: 'outside-inline', document: doc('outside-inline') }],
      managed: [{ arn: outside.arn, versionId: 'v1', document: doc('outside') }],
      boundary: undefined,
    });
  });

  it('principalPolicies: a managed policy attached to the user and to groups appears once', async () => {
    const u = await withUser(s, 'deduped');
    const a = await withGroup(s, 'dedupe-a');
    const b = await withGroup(s, 'dedupe-b');
    const shared = await s.createManagedPolicy(policy('Shared'), doc('shared'));
    const groupsOnly = await s.createManagedPolicy(policy('GroupsOnly'), doc('groups-only'));
    await s.attachPolicy(ofUser(u), shared.arn, 10);
    await s.attachPolicy(ofGroup(a), shared.arn, 10);
    await s.attachPolicy(ofGroup(b), shared.arn, 10);
    await s.attachPolicy(ofGroup(a), groupsOnly.arn, 10);
    await s.attachPolicy(ofGroup(b), groupsOnly.arn, 10);
    await s.addUserToGroup(a.groupId, u.userId);
    await s.addUserToGroup(b.groupId, u.userId);
    assert.deepEqual((await s.principalPolicies(u.userId)).managed, [
      { arn: groupsOnly.arn, versionId: 'v1', document: doc('groups-only') },
      { arn: shared.arn, versionId: 'v1', document: doc('shared') },
    ]);
    assert.equal((await s.getManagedPolicy(shared.arn))?.attachmentCount, 3, 'each attachment still counts');
    await s.detachPolicy(ofUser(u), shared.arn);
    await s.detachPolicy(ofGroup(a), shared.arn);
    assert.deepEqual((await s.principalPolicies(u.userId)).managed.map((m) => m.arn), [groupsOnly.arn, shared.arn], 'still through b');
  });

  it('principalPolicies: a role or group sharing the user\'s id adds nothing; unknown user is empty', async () => {
    const u = await withUser(s, 'id-sharer');
    const p = await s.createManagedPolicy(policy('Impostor'), doc('impostor'));
    const r = await s.createRole({ ...role('impostor'), roleId: u.userId }).then(() => s.getRoleById(u.userId));
    assert.ok(r);
    await s.attachPolicy(ofRole(r), p.arn, 10);
    await s.putInlinePolicy(ofRole(r), 'impostor', doc('impostor'));
    assert.deepEqual(await s.principalPolicies(u.userId), EMPTY);
    assert.deepEqual(await s.principalPolicies('AIDANOSUCHUSER0000000'), EMPTY);
  });

  it('rolePolicies: inline, attached at their default version, and the boundary', async () => {
    const r = await withRole(s, 'Worker');
    const other = await withRole(s, 'Other');
    const read = await s.createManagedPolicy(policy('RoleRead'), doc('read-v1'));
    await s.createPolicyVersion(read.arn, doc('read-v2'), true, 5);
    const aws = await s.createManagedPolicy(policy('RoleAws', 'aws'), doc('aws'));
    const fence = await s.createManagedPolicy(policy('RoleFence'), doc('fence'));
    await s.attachPolicy(ofRole(r), read.arn, 10);
    await s.attachPolicy(ofRole(r), aws.arn, 10);
    await s.attachPolicy(ofRole(other), fence.arn, 10);
    await s.putInlinePolicy(ofRole(r), 'b', doc('b'));
    await s.putInlinePolicy(ofRole(r), 'a', doc('a'));
    assert.deepEqual(await s.rolePolicies(r.roleId), {
      inline: [{ policyName: 'a', document: doc('a') }, { policyName: 'b', document: doc('b') }],
      managed: [
        { arn: aws.arn, versionId: 'v1', document: doc('aws') },
        { arn: read.arn, versionId: 'v2', document: doc('read-v2') },
      ],
      boundary: undefined,
    });
    await s.setRoleBoundary(r.roleId, fence.arn);
    assert.deepEqual((await s.rolePolicies(r.roleId)).boundary, { arn: fence.arn, versionId: 'v1', document: doc('fence') });
    // Group membership is for users only: a group holding the role's id in its table adds nothing.
    const g = await withGroup(s, 'role-group');
    await s.attachPolicy(ofGroup(g), fence.arn, 10);
    assert.equal((await s.rolePolicies(r.roleId)).managed.length, 2);
    assert.deepEqual(await s.rolePolicies('AROANOSUCHROLE0000000'), EMPTY);
  });
});

// ---------------------------------------------------------------- roles

describe('entity store: roles', () => {
  let s: TestStore;
  let path: string;
  before(async () => {
    path = freshPath();
    s = await openStore(path);
  });
  after(async () => {
    await s.close();
  });

  it('createRole, getRole (without case), getRoleById; names unique per account; unknown account refused', async () => {
    const r = await withRole(s, 'Deployer', ACCOUNT, '/ci/');
    assert.deepEqual(await s.getRole(ACCOUNT, 'Deployer'), r);
    assert.deepEqual(await s.getRole(ACCOUNT, 'deployer'), r);
    assert.deepEqual(await s.getRoleById(r.roleId), r);
    assert.equal(await s.getRole(OTHER_ACCOUNT, 'Deployer'), undefined);
    assert.equal(await s.getRoleById('AROANOSUCHROLE0000000'), undefined);
    await assert.rejects(s.createRole(role('DEPLOYER', ACCOUNT, '/other/')), AlreadyExistsError);
    await assert.rejects(s.createRole({ ...role('Other'), roleId: r.roleId }), AlreadyExistsError, 'same id');
    await assert.rejects(s.createRole(role('ghost', '555555555555')), NoSuchEntityError);
    assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM roles'), 1);
    await withRole(s, 'deployer', OTHER_ACCOUNT);
  });

  it('listRoles: by account and path prefix, ordered by name without case', async () => {
    const local = await openStore();
    try {
      const b = await withRole(local, 'beta', ACCOUNT, '/service-role/');
      const a = await withRole(local, 'Alpha', ACCOUNT, '/');
      const c = await withRole(local, 'charlie', ACCOUNT, '/service-role/x/');
      await withRole(local, 'delta', OTHER_ACCOUNT);
      assert.deepEqual(await local.listRoles(ACCOUNT, '/'), [a, b, c]);
      assert.deepEqual(await local.listRoles(ACCOUNT, '/service-role/'), [b, c]);
      assert.deepEqual(await local.listRoles(ACCOUNT, '/service-role/x/'), [c]);
      assert.deepEqual(await local.listRoles(ACCOUNT, '/Service-Role/'), []);
      assert.deepEqual(await local.listRoles('999999999999', '/'), []);
    } finally {
      await local.close();
    }
  });

  it('updateRole: changes only what is given; NoSuchEntityError for an unknown role', async () => {
    const r = await withRole(s, 'Updatable');
    await s.updateRole(r.roleId, { description: 'new words' });
    assert.deepEqual(await s.getRoleById(r.roleId), { ...r, description: 'new words' });
    await s.updateRole(r.roleId, { maxSessionDuration: 7200 });
    assert.deepEqual(await s.getRoleById(r.roleId), { ...r, description: 'new words', maxSessionDuration: 7200 });
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] });
    await s.updateRole(r.roleId, { assumeRolePolicyDocument: trust, description: '' });
    assert.deepEqual(await s.getRoleById(r.roleId), { ...r, description: '', maxSessionDuration: 7200, assumeRolePolicyDocument: trust }, 'an empty description is a change');
    await s.updateRole(r.roleId, {});
    assert.equal((await s.getRoleById(r.roleId))?.maxSessionDuration, 7200);
    await assert.rejects(s.updateRole('AROANOSUCHROLE0000000', { description: 'x' }), NoSuchEntityError);
    await assert.rejects(s.updateRole('AROANOSUCHROLE0000000', {}), NoSuchEntityError);
  });

  it('role boundaries: set, read, replace, clear; hold their policy; NoSuchEntityError for unknown policy or role', async () => {
    const r = await withRole(s, 'Bounded');
    const a = await s.createManagedPolicy(policy('RoleBoundA'), doc('a'));
    const b = await s.createManagedPolicy(policy('RoleBoundB'), doc('b'));
    assert.equal(await s.getRoleBoundary(r.roleId), undefined);
    await s.setRoleBoundary(r.roleId, a.arn);
    assert.equal(await s.getRoleBoundary(r.roleId), a.arn);
    await s.setRoleBoundary(r.roleId, b.arn);
    assert.equal(await s.getRoleBoundary(r.roleId), b.arn);
    await assert.rejects(s.setRoleBoundary(r.roleId, `arn:aws:iam::${ACCOUNT}:policy/Nope`), NoSuchEntityError);
    assert.equal(await s.getRoleBoundary(r.roleId), b.arn);
    await assert.rejects(s.deleteManagedPolicy(b.arn), DeleteConflictError, 'a role\'s boundary');
    await s.setRoleBoundary(r.roleId, undefined);
    assert.equal(await s.getRoleBoundary(r.roleId), undefined);
    await s.setRoleBoundary(r.roleId, undefined);
    await s.deleteManagedPolicy(b.arn);
    await assert.rejects(s.setRoleBoundary('AROANOSUCHROLE0000000', a.arn), NoSuchEntityError);
    assert.equal(await s.getRoleBoundary('AROANOSUCHROLE0000000'), undefined);
    assert.equal((await s.getManagedPolicy(a.arn))?.attachmentCount, 0, 'a boundary is not an attachment');
    assert.deepEqual(await s.getRoleById(r.roleId), r, 'the boundary is not part of Role');
  });

  it('deleteRole: NoSuchEntityError when absent; DeleteConflictError while inline or attached policies remain', async () => {
    await assert.rejects(s.deleteRole(ACCOUNT, 'ghost'), NoSuchEntityError);
    const r = await withRole(s, 'Leaving');
    const p = await s.createManagedPolicy(policy('LeavingRolePolicy'), doc('l'));
    await s.putInlinePolicy(ofRole(r), 'inline', doc('i'));
    await s.attachPolicy(ofRole(r), p.arn, 10);
    await assert.rejects(s.deleteRole(ACCOUNT, 'leaving'), DeleteConflictError, 'an inline policy remains');
    await s.deleteInlinePolicy(ofRole(r), 'inline');
    await assert.rejects(s.deleteRole(ACCOUNT, 'leaving'), DeleteConflictError, 'an attached policy remains');
    assert.deepEqual(await s.getRole(ACCOUNT, 'Leaving'), r);
    await s.detachPolicy(ofRole(r), p.arn);
    await s.setRoleBoundary(r.roleId, p.arn); // a boundary does not hold a role
    await assert.rejects(s.deleteRole(OTHER_ACCOUNT, 'Leaving'), NoSuchEntityError);
    await s.deleteRole(ACCOUNT, 'LEAVING');
    assert.equal(await s.getRole(ACCOUNT, 'Leaving'), undefined);
    assert.equal(await s.getRoleById(r.roleId), undefined);
    await assert.rejects(s.deleteRole(ACCOUNT, 'Leaving'), NoSuchEntityError);
    await assert.rejects(s.putInlinePolicy(ofRole(r), 'late', doc('late')), NoSuchEntityError);
    await s.deleteManagedPolicy(p.arn); // the boundary went with the role
    await withRole(s, 'leaving');
  });
});

// ---------------------------------------------------------------- tags

describe('entity store: tags', () => {
  let s: TestStore;
  let path: string;
  before(async () => {
    path = freshPath();
    s = await openStore(path);
  });
  after(async () => {
    await s.close();
  });

  it('tag, replace, list by key, untag; on users, roles and policies (by policy id)', async () => {
    const u = await withUser(s, 'tagged');
    const r = await withRole(s, 'tagged');
    const p = await s.createManagedPolicy(policy('Tagged'), doc('t'));
    for (const [type, id] of [['user', u.userId], ['role', r.roleId], ['policy', p.policyId]] as const) {
      await s.tagResource(type, id, [{ key: 'team', value: 'core' }, { key: 'Env', value: 'prod' }], 50);
      await s.tagResource(type, id, [{ key: 'team', value: 'edge' }, { key: 'cost', value: '' }], 50);
      assert.deepEqual(await s.listTags(type, id), [
        { key: 'cost', value: '' },
        { key: 'Env', value: 'prod' },
        { key: 'team', value: 'edge' },
      ], type);
      await s.untagResource(type, id, ['cost', 'never-there']);
      assert.deepEqual(await s.listTags(type, id), [{ key: 'Env', value: 'prod' }, { key: 'team', value: 'edge' }], type);
      await s.tagResource(type, id, [], 50); // nothing to add is fine
      await s.untagResource(type, id, []);
    }
    assert.deepEqual(await s.listTags('policy', p.arn), [], 'policies are tagged by id, not ARN');
    assert.deepEqual(await s.listTags('role', u.userId), [], 'types are separate');
  });

  it('keys compare without case: a key differing only by case replaces the tag, spelling and value', async () => {
    const u = await withUser(s, 'cased');
    await s.tagResource('user', u.userId, [{ key: 'CostCenter', value: '1' }, { key: 'owner', value: 'ann' }], 50);
    await s.tagResource('user', u.userId, [{ key: 'costcenter', value: '2' }], 50);
    assert.deepEqual(await s.listTags('user', u.userId), [{ key: 'costcenter', value: '2' }, { key: 'owner', value: 'ann' }]);
    await s.tagResource('user', u.userId, [{ key: 'OWNER', value: 'bob' }, { key: 'Owner', value: 'cat' }], 50);
    assert.deepEqual(await s.listTags('user', u.userId), [{ key: 'costcenter', value: '2' }, { key: 'Owner', value: 'cat' }], 'the later of two wins');
    await s.untagResource('user', u.userId, ['COSTCENTER']);
    assert.deepEqual(await s.listTags('user', u.userId), [{ key: 'Owner', value: 'cat' }]);
    assert.equal(await rawCount(path, "SELECT COUNT(*) FROM tags WHERE resource_type = 'user' AND resource_id = ?", u.userId), 1);
  });

  it('at most maxTags distinct keys; a refused call changes nothing; replacing at the limit is fine', async () => {
    const u = await withUser(s, 'full');
    await s.tagResource('user', u.userId, [{ key: 'a', value: '1' }, { key: 'b', value: '1' }], 3);
    const before = await s.listTags('user', u.userId);
    await assert.rejects(
      s.tagResource('user', u.userId, [{ key: 'A', value: '2' }, { key: 'c', value: '2' }, { key: 'd', value: '2' }], 3),
      (e: unknown) => {
        assert.ok(e instanceof LimitExceededError);
        assert.match(e.message, /TagsPerUser: 3/);
        return true;
      },
    );
    assert.deepEqual(await s.listTags('user', u.userId), before, 'not even the replacement of a went through');
    await s.tagResource('user', u.userId, [{ key: 'c', value: '3' }], 3);
    await s.tagResource('user', u.userId, [{ key: 'A', value: '3' }, { key: 'B', value: '3' }, { key: 'C', value: '4' }], 3);
    assert.deepEqual(await s.listTags('user', u.userId), [{ key: 'A', value: '3' }, { key: 'B', value: '3' }, { key: 'C', value: '4' }]);
    await assert.rejects(s.tagResource('user', u.userId, [{ key: 'd', value: '1' }], 3), LimitExceededError);
    await s.untagResource('user', u.userId, ['b']);
    await s.tagResource('user', u.userId, [{ key: 'd', value: '1' }], 3);
    // The quota is per entity: another user, or a role, starts from nothing.
    const v = await withUser(s, 'full2');
    await s.tagResource('user', v.userId, [{ key: 'a', value: '1' }, { key: 'b', value: '1' }, { key: 'c', value: '1' }], 3);
    const r = await withRole(s, 'full');
    await assert.rejects(s.tagResource('role', r.roleId, [1, 2, 3, 4].map((i) => ({ key: `k${i}`, value: '' })), 3), /TagsPerRole: 3/);
    await assert.rejects(s.tagResource('policy', (await s.createManagedPolicy(policy('Full'), doc('f'))).policyId, [1, 2].map((i) => ({ key: `k${i}`, value: '' })), 1), /TagsPerPolicy: 1/);
  });

  it('NoSuchEntityError tagging or untagging an unknown entity; listing one is empty', async () => {
    for (const [type, id] of [['user', 'AIDANOSUCHUSER0000000'], ['role', 'AROANOSUCHROLE0000000'], ['policy', 'ANPANOSUCHPOLICY00000']] as const) {
      await assert.rejects(s.tagResource(type, id, [{ key: 'k', value: 'v' }], 50), NoSuchEntityError, type);
      await assert.rejects(s.untagResource(type, id, ['k']), NoSuchEntityError, type);
      assert.deepEqual(await s.listTags(type, id), []);
    }
    const g = await withGroup(s, 'untaggable');
    await assert.rejects(s.tagResource('user', g.groupId, [{ key: 'k', value: 'v' }], 50), NoSuchEntityError, 'a group is no user');
    assert.equal(await rawCount(path, "SELECT COUNT(*) FROM tags WHERE resource_id LIKE '%NOSUCH%' OR resource_id = ?", g.groupId), 0);
  });

  it('tags go with their user, role or policy, and no one else\'s', async () => {
    const u = await withUser(s, 'short-lived');
    const keep = await withUser(s, 'long-lived');
    const r = await withRole(s, 'short-lived');
    const p = await s.createManagedPolicy(policy('ShortLived'), doc('s'));
    const tags = [{ key: 'k1', value: 'v1' }, { key: 'k2', value: 'v2' }];
    await s.tagResource('user', u.userId, tags, 50);
    await s.tagResource('user', keep.userId, tags, 50);
    await s.tagResource('role', r.roleId, tags, 50);
    await s.tagResource('policy', p.policyId, tags, 50);

    await s.deleteUser(ACCOUNT, 'short-lived');
    await s.deleteRole(ACCOUNT, 'short-lived');
    await s.deleteManagedPolicy(p.arn);
    for (const id of [u.userId, r.roleId, p.policyId]) {
      assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM tags WHERE resource_id = ?', id), 0, id);
    }
    assert.deepEqual(await s.listTags('user', keep.userId), tags);

    // A new entity of the same name starts untagged.
    const again = await withUser(s, 'short-lived');
    assert.deepEqual(await s.listTags('user', again.userId), []);
  });

  it('a refused delete keeps the tags', async () => {
    const r = await withRole(s, 'kept');
    await s.tagResource('role', r.roleId, [{ key: 'k', value: 'v' }], 50);
    await s.putInlinePolicy(ofRole(r), 'p', doc('p'));
    await assert.rejects(s.deleteRole(ACCOUNT, 'kept'), DeleteConflictError);
    assert.deepEqual(await s.listTags('role', r.roleId), [{ key: 'k', value: 'v' }]);
  });
});

// ---------------------------------------------------------------- races

/** The calls the racing workers make (see `race`). */
const ENTITY_ATTEMPT = `async (store, d, i) => {
  if (d.op === 'join') {
    await store.addUserToGroup(d.groupIds[(i + d.worker) % d.groupIds.length], d.userId, d.limit);
  } else if (d.op === 'tag') {
    const key = i === 0 ? ['owner', 'OWNER', 'Owner'][d.worker % 3] : 'w' + d.worker + '-' + i;
    await store.tagResource('user', d.userId, [{ key, value: String(d.worker) }], d.limit);
  } else if (d.op === 'churn') {
    // Half the workers add members, the others try to delete the group.
    if (d.worker % 2 === 0) await store.addUserToGroup(d.groupId, d.userIds[i % d.userIds.length]);
    else await store.deleteGroup('${ACCOUNT}', d.groupName);
  }
}`;

describe('entity store: quotas hold when requests race', () => {
  it('in one process: concurrent addUserToGroup and tagResource never pass a quota', async () => {
    const s = await openStore();
    try {
      const u = await withUser(s, 'racer');
      const gs: Group[] = [];
      for (let i = 0; i < 8; i++) gs.push(await withGroup(s, `race-${i}`));
      const joins = await Promise.allSettled(gs.flatMap((g) => [s.addUserToGroup(g.groupId, u.userId, 3), s.addUserToGroup(g.groupId, u.userId, 3)]));
      assert.ok(joins.every((r) => r.status === 'fulfilled' || r.reason instanceof LimitExceededError));
      assert.equal((await s.listGroupsForUser(u.userId)).length, 3);

      const tags = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => s.tagResource('user', u.userId, [{ key: `k${i}`, value: String(i) }], 5)));
      assert.equal(tags.filter((r) => r.status === 'fulfilled').length, 5);
      assert.ok(tags.every((r) => r.status === 'fulfilled' || r.reason instanceof LimitExceededError));
      assert.equal((await s.listTags('user', u.userId)).length, 5);
    } finally {
      await s.close();
    }
  });

  it('across connections (worker threads): memberships and tags stay within their quotas; a deleted group keeps no member', async () => {
    const path = freshPath();
    const masterKey = randomBytes(32);
    const s = await openStore(path, new Sealer([masterKey]));
    const u = await withUser(s, 'threaded');
    const groupIds: string[] = [];
    for (let i = 0; i < 12; i++) groupIds.push((await withGroup(s, `threaded-${i}`)).groupId);
    const churned = await withGroup(s, 'churned');
    const churners: string[] = [];
    for (let i = 0; i < 4; i++) churners.push((await withUser(s, `churner-${i}`)).userId);
    await s.close(); // the workers are the only writers

    const joins = await race(ENTITY_ATTEMPT, path, masterKey, 6, { op: 'join', userId: u.userId, groupIds, limit: 5, attempts: 12 }, ['LimitExceededError']);
    assert.ok(joins.includes('LimitExceededError'), joins.join(','));
    const tags = await race(ENTITY_ATTEMPT, path, masterKey, 6, { op: 'tag', userId: u.userId, limit: 10, attempts: 5 }, ['LimitExceededError']);
    assert.ok(tags.includes('LimitExceededError'), tags.join(','));
    await race(ENTITY_ATTEMPT, path, masterKey, 6, { op: 'churn', groupId: churned.groupId, groupName: churned.groupName, userIds: churners, attempts: 6 },
      ['DeleteConflictError', 'NoSuchEntityError']);

    const check = await openBare(path, new Sealer([masterKey]));
    try {
      assert.equal((await check.listGroupsForUser(u.userId)).length, 5);
      const final = await check.listTags('user', u.userId);
      assert.equal(final.length, 10);
      assert.equal(new Set(final.map((t) => t.key.toLowerCase())).size, 10);
      assert.ok(final.filter((t) => t.key.toLowerCase() === 'owner').length <= 1);
      const members = await check.listUsersInGroup(churned.groupId);
      if ((await check.getGroup(ACCOUNT, 'churned')) === undefined) assert.deepEqual(members, [], 'a deleted group has no members');
      else assert.ok(members.length > 0, 'the group survived only because it had members');
    } finally {
      await check.close();
    }
    // PostgreSQL checks every foreign key at each statement; SQLite is asked.
    if (storeBackend() === 'sqlite') assert.equal(await rawCount(path, 'SELECT COUNT(*) FROM pragma_foreign_key_check'), 0);
  });
});
