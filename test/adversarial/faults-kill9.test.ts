/**
 * kill -9 in a loop during IAM writes (issue 9, "Faults"). Each round starts the gateway on the
 * same data dir, sends IAM writes through the API from four concurrent clients (a user with two
 * tags, a managed policy, its attachment, an inline policy, an access key), and kills the process
 * with SIGKILL at a random moment. After each kill: the SQLite integrity and foreign-key checks
 * pass, every acknowledged write is there, nothing is half made (every user has both its tags,
 * every policy its default version), counts are what was acknowledged (plus at most the writes in
 * flight), and acknowledged keys sign requests after the restart.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { signedQuery } from './abuse-helpers.js';

const ROUNDS = Number(process.env['PORTCULLIS_KILL9_ROUNDS'] ?? 10);
const CLIENTS = 4;
const V = 'Version=2010-05-08';
const DOC = encodeURIComponent(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:GetCallerIdentity', Resource: '*' }] }));

interface Acked {
  users: Set<string>;
  policies: Set<string>;
  attached: Set<string>;
  inline: Set<string>;
  keys: Map<string, { secret: string; user: string }>;
}

function field(body: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]+)</${name}>`).exec(body)?.[1];
}

/** One client's chain of writes, until the gateway dies; every 200 is recorded as acknowledged. */
async function writer(gw: RunningGateway, prefix: string, acked: Acked, inflight: { n: number }): Promise<void> {
  const iam = async (body: string): Promise<string | undefined> => {
    inflight.n++;
    try {
      const r = await signedQuery(gw, gw.admin, { service: 'iam', body: `${body}&${V}`, timeoutMs: 20_000 });
      if (r.status !== 200) throw new Error(`unexpected ${r.status}: ${r.body}`);
      return r.body;
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('unexpected')) throw e;
      return undefined; // the connection died with the process: not acknowledged
    } finally {
      inflight.n--;
    }
  };
  for (let i = 0; ; i++) {
    const user = `${prefix}-u${i}`;
    if ((await iam(`Action=CreateUser&UserName=${user}&Tags.member.1.Key=team&Tags.member.1.Value=a&Tags.member.2.Key=n&Tags.member.2.Value=${i}`)) === undefined) return;
    acked.users.add(user);
    const policy = `${prefix}-p${i}`;
    const created = await iam(`Action=CreatePolicy&PolicyName=${policy}&PolicyDocument=${DOC}`);
    if (created === undefined) return;
    acked.policies.add(policy);
    const arn = field(created, 'Arn')!;
    if ((await iam(`Action=AttachUserPolicy&UserName=${user}&PolicyArn=${encodeURIComponent(arn)}`)) === undefined) return;
    acked.attached.add(`${user} ${policy}`);
    if ((await iam(`Action=PutUserPolicy&UserName=${user}&PolicyName=inline&PolicyDocument=${DOC}`)) === undefined) return;
    acked.inline.add(user);
    const key = await iam(`Action=CreateAccessKey&UserName=${user}`);
    if (key === undefined) return;
    acked.keys.set(field(key, 'AccessKeyId')!, { secret: field(key, 'SecretAccessKey')!, user });
  }
}

function check(db: string, acked: Acked, slack: number): void {
  const d = new Database(db, { readonly: true });
  try {
    assert.deepEqual(d.pragma('integrity_check', { simple: false }), [{ integrity_check: 'ok' }]);
    assert.deepEqual(d.pragma('foreign_key_check'), [], 'no dangling references');
    const q = <T>(sql: string, ...args: unknown[]) => d.prepare(sql).all(...args) as T[];
    const users = new Set(q<{ user_name: string }>("SELECT user_name FROM users WHERE user_name LIKE 'w%'").map((r) => r.user_name));
    for (const u of acked.users) assert.ok(users.has(u), `acknowledged user ${u} is there`);
    assert.ok(users.size <= acked.users.size + slack, `${users.size} users for ${acked.users.size} acknowledged`);
    // No half-made user: both tags came with it, in one transaction.
    for (const r of q<{ user_name: string; n: number }>("SELECT u.user_name, (SELECT COUNT(*) FROM tags t WHERE t.resource_type = 'user' AND t.resource_id = u.user_id) AS n FROM users u WHERE u.user_name LIKE 'w%'")) {
      assert.equal(r.n, 2, `user ${r.user_name} has both its tags`);
    }
    const policies = new Set(q<{ policy_name: string }>("SELECT policy_name FROM managed_policies WHERE policy_name LIKE 'w%'").map((r) => r.policy_name));
    for (const p of acked.policies) assert.ok(policies.has(p), `acknowledged policy ${p} is there`);
    assert.ok(policies.size <= acked.policies.size + slack);
    // No policy without its default version.
    const orphans = q<{ policy_name: string }>('SELECT policy_name FROM managed_policies p WHERE NOT EXISTS (SELECT 1 FROM policy_versions v WHERE v.policy_id = p.policy_id AND v.version_id = p.default_version_id)');
    assert.deepEqual(orphans, [], 'every policy has its default version');
    const attached = new Set(q<{ a: string }>("SELECT u.user_name || ' ' || p.policy_name AS a FROM policy_attachments x JOIN users u ON x.owner_type = 'user' AND u.user_id = x.owner_id JOIN managed_policies p ON p.policy_id = x.policy_id").map((r) => r.a));
    for (const a of acked.attached) assert.ok(attached.has(a), `acknowledged attachment ${a} is there`);
    const inline = new Set(q<{ user_name: string }>("SELECT u.user_name FROM inline_policies i JOIN users u ON i.owner_type = 'user' AND u.user_id = i.owner_id").map((r) => r.user_name));
    for (const u of acked.inline) assert.ok(inline.has(u), `acknowledged inline policy of ${u} is there`);
    const keys = new Set(q<{ access_key_id: string }>('SELECT access_key_id FROM access_keys').map((r) => r.access_key_id));
    for (const k of acked.keys.keys()) assert.ok(keys.has(k), `acknowledged key ${k} is there`);
  } finally {
    d.close();
  }
}

describe('kill -9 in a loop during IAM writes', () => {
  const fleet = gatewayFleet('faults-kill9');

  it(`${ROUNDS} rounds: no acknowledged write lost, nothing half made, the database intact`, { timeout: 60_000 + ROUNDS * 30_000 }, async () => {
    const dir = fleet.newDir();
    const db = join(dir, 'portcullis.db');
    const acked: Acked = { users: new Set(), policies: new Set(), attached: new Set(), inline: new Set(), keys: new Map() };
    let acknowledgedAtKill = 0;
    // Each client has at most one write in flight when the process dies: it may or may not have committed.
    let slack = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const gw = await fleet.start({ dataDir: dir, timeoutMs: 60_000 });
      // Acknowledged keys from earlier rounds sign requests after the restart.
      for (const [id, k] of [...acked.keys].slice(-3)) {
        const r = await signedQuery(gw, { accessKeyId: id, secretAccessKey: k.secret });
        assert.equal(r.status, 200, `key ${id} of ${k.user} works after the restart: ${r.body}`);
      }
      const inflight = { n: 0 };
      const writers = Array.from({ length: CLIENTS }, (_, c) => writer(gw, `w${round}c${c}`, acked, inflight));
      await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1200)));
      slack += CLIENTS;
      await fleet.kill9(gw);
      await Promise.all(writers);
      check(db, acked, slack);
      acknowledgedAtKill = acked.users.size;
    }
    assert.ok(acknowledgedAtKill >= ROUNDS, `writes were acknowledged (${acknowledgedAtKill} users)`);
    // And it serves and writes after the last kill.
    const gw = await fleet.start({ dataDir: dir, timeoutMs: 60_000 });
    const r = await signedQuery(gw, gw.admin, { service: 'iam', body: `Action=CreateUser&UserName=final&${V}` });
    assert.equal(r.status, 200, r.body);
  });
});
