/**
 * Two gateway processes (two nodes, two data dirs, one master key) on one PostgreSQL database,
 * driven by the AWS SDK: they start together and agree on one account; what one node changes
 * the other honours (a new user at once; a deactivated key and a changed policy within a second,
 * through LISTEN/NOTIFY, although caches may otherwise keep entries for 30 s); temporary
 * credentials from one work on the other; IAM quotas hold when both nodes are written at once;
 * and killing one node under load leaves the other serving without an error.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateAccessKeyCommand, CreatePolicyCommand, CreatePolicyVersionCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand,
  DeleteUserPolicyCommand, IAMClient,
  IAMServiceException, ListPolicyVersionsCommand, ListUsersCommand, PutUserPolicyCommand, UpdateAccessKeyCommand,
} from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, GetSessionTokenCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import pg from 'pg';
import { gatewayFleet } from '../helpers/fleet.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { postgresSuite, testDatabase } from '../helpers/storeFixtures.js';

/** The SDK annotates the credentials object it is given: each client gets a copy. */
type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

function handler(gw: RunningGateway): NodeHttpHandler {
  return new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem, keepAlive: true }) });
}

function iam(gw: RunningGateway, credentials: Creds): IAMClient {
  return new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1, requestHandler: handler(gw) });
}

function sts(gw: RunningGateway, credentials: Creds): STSClient {
  return new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: { ...credentials }, maxAttempts: 1, requestHandler: handler(gw) });
}

/** The error name of a failed call, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof IAMServiceException || (e instanceof Error && '$metadata' in e) ? e.name : `network: ${String(e)}`;
  }
}

/** Polls `probe` until it answers `want`; the time it took, in ms. */
async function timeUntil(probe: () => Promise<string>, want: string, limitMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    const got = await probe();
    if (got === want) return Date.now() - start;
    if (Date.now() - start > limitMs) assert.fail(`still \`${got}\` after ${limitMs} ms, expected \`${want}\``);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const doc = (statements: object[]) => JSON.stringify({ Version: '2012-10-17', Statement: statements });

await postgresSuite(async () => {
  const database = testDatabase('fleet');
  const fleet = gatewayFleet('pg-fleet');

  describe('two nodes on one PostgreSQL database', () => {
    let a: RunningGateway;
    let b: RunningGateway;
    let account: string;
    before(async () => {
      const masterKey = randomBytes(32).toString('base64');
      const node = () => fleet.start({ dataDir: fleet.newDir(), args: ['--store', database()], env: { PORTCULLIS_MASTER_KEY: masterKey } });
      // Started together on an empty database: they race through migrations and bootstrap.
      [a, b] = await Promise.all([node(), node()]);
      account = (await sts(a, a.admin).send(new GetCallerIdentityCommand({}))).Account!;
    });
    after(async () => {
      if (b !== undefined) assert.equal(await fleet.stop(b), 0, 'B stops cleanly');
    });

    it('agree on one account and one administrator, whichever started first', async () => {
      assert.deepEqual(b.admin, a.admin);
      assert.equal(readFileSync(join(a.dataDir, 'credentials'), 'utf8'), readFileSync(join(b.dataDir, 'credentials'), 'utf8'));
      const viaB = await sts(b, a.admin).send(new GetCallerIdentityCommand({}));
      assert.equal(viaB.Account, account);
      assert.equal(viaB.Arn, `arn:aws:iam::${account}:user/admin`);
      // One identity key for upstream services, whichever node forwards.
      assert.equal(readFileSync(join(a.dataDir, 'identity.key'), 'utf8'), readFileSync(join(b.dataDir, 'identity.key'), 'utf8'));
      // Neither node has the master key on disk: it came from the environment.
      assert.throws(() => readFileSync(join(a.dataDir, 'master.key')));
    });

    it('a user created on A works on B at once; a policy changed on A holds on B within a second', async () => {
      await iam(a, a.admin).send(new CreateUserCommand({ UserName: 'carol' }));
      const key = (await iam(a, a.admin).send(new CreateAccessKeyCommand({ UserName: 'carol' }))).AccessKey!;
      const carol = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      const me = await sts(b, carol).send(new GetCallerIdentityCommand({}));
      assert.equal(me.Arn, `arn:aws:iam::${account}:user/carol`);

      const listOnB = () => outcome(iam(b, carol).send(new ListUsersCommand({})));
      assert.equal(await listOnB(), 'AccessDenied', 'no policy yet (and B now caches that)');
      await iam(a, a.admin).send(new PutUserPolicyCommand({ UserName: 'carol', PolicyName: 'list', PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:ListUsers', Resource: '*' }]) }));
      const granted = await timeUntil(listOnB, 'ok', 3000);
      assert.ok(granted < 1000, `granted on B after ${granted} ms`);
      await iam(a, a.admin).send(new DeleteUserPolicyCommand({ UserName: 'carol', PolicyName: 'list' }));
      const revoked = await timeUntil(listOnB, 'AccessDenied', 3000);
      assert.ok(revoked < 1000, `revoked on B after ${revoked} ms`);
    });

    it('a key deactivated on A is refused on B within one second', async () => {
      await iam(a, a.admin).send(new CreateUserCommand({ UserName: 'dave' }));
      const key = (await iam(a, a.admin).send(new CreateAccessKeyCommand({ UserName: 'dave' }))).AccessKey!;
      const dave = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      const probe = () => outcome(sts(b, dave).send(new GetCallerIdentityCommand({})));
      assert.equal(await probe(), 'ok', 'B has the key in its cache');
      await iam(a, a.admin).send(new UpdateAccessKeyCommand({ UserName: 'dave', AccessKeyId: dave.accessKeyId, Status: 'Inactive' }));
      const refused = await timeUntil(probe, 'InvalidClientTokenId', 3000);
      assert.ok(refused < 1000, `refused on B after ${refused} ms`);
      await iam(b, b.admin).send(new UpdateAccessKeyCommand({ UserName: 'dave', AccessKeyId: dave.accessKeyId, Status: 'Active' }));
      const back = await timeUntil(() => outcome(sts(a, dave).send(new GetCallerIdentityCommand({}))), 'ok', 3000);
      assert.ok(back < 1000, `active again on A after ${back} ms`);
    });

    it('a user deleted on A (its key first, as IAM requires) is refused on B within one second', async () => {
      await iam(a, a.admin).send(new CreateUserCommand({ UserName: 'frank' }));
      const key = (await iam(a, a.admin).send(new CreateAccessKeyCommand({ UserName: 'frank' }))).AccessKey!;
      const frank = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      const probe = () => outcome(sts(b, frank).send(new GetCallerIdentityCommand({})));
      assert.equal(await probe(), 'ok');
      await iam(a, a.admin).send(new DeleteAccessKeyCommand({ UserName: 'frank', AccessKeyId: frank.accessKeyId }));
      await iam(a, a.admin).send(new DeleteUserCommand({ UserName: 'frank' }));
      const refused = await timeUntil(probe, 'InvalidClientTokenId', 3000);
      assert.ok(refused < 1000, `refused on B after ${refused} ms`);
    });

    it('with the notification connections cut, a key deactivated on A is still refused on B within one second', async () => {
      await iam(a, a.admin).send(new CreateUserCommand({ UserName: 'gina' }));
      const key = (await iam(a, a.admin).send(new CreateAccessKeyCommand({ UserName: 'gina' }))).AccessKey!;
      const gina = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
      const probe = () => outcome(sts(b, gina).send(new GetCallerIdentityCommand({})));
      assert.equal(await probe(), 'ok', 'B caches the key (for 30 s while its feed is live)');
      // The server drops every node's LISTEN connection, as a restart or a failover would.
      const admin = new pg.Client({ connectionString: database() });
      await admin.connect();
      try {
        const killed = await admin.query<{ n: number }>(
          "SELECT COUNT(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = 'portcullis-listener' AND datname = current_database()");
        assert.equal(killed.rows[0]?.n, 2, 'one listener per node');
      } finally {
        await admin.end();
      }
      await iam(a, a.admin).send(new UpdateAccessKeyCommand({ UserName: 'gina', AccessKeyId: gina.accessKeyId, Status: 'Inactive' }));
      const refused = await timeUntil(probe, 'InvalidClientTokenId', 3000);
      assert.ok(refused < 1000, `refused on B after ${refused} ms`);
      // And the feeds come back: a later change is again seen at once.
      await new Promise((r) => setTimeout(r, 1500));
      assert.match(b.stderr(), /change feed lost/);
      assert.equal(b.stderr().match(/change feed live/g)?.length, 2, 'live at start, and again after the reconnect');
      await iam(a, a.admin).send(new UpdateAccessKeyCommand({ UserName: 'gina', AccessKeyId: gina.accessKeyId, Status: 'Active' }));
      const back = await timeUntil(probe, 'ok', 3000);
      assert.ok(back < 1000, `active again on B after ${back} ms`);
    });

    it('temporary credentials from A work on B', async () => {
      const session = (await sts(a, a.admin).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!;
      const temp = { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! };
      const me = await sts(b, temp).send(new GetCallerIdentityCommand({}));
      assert.equal(me.Arn, `arn:aws:iam::${account}:user/admin`);
      const users = await iam(b, temp).send(new ListUsersCommand({}));
      assert.ok(users.Users?.some((u) => u.UserName === 'admin'));
    });

    it('IAM quotas hold when both nodes are written at once: 2 keys per user, 5 versions per policy', async () => {
      await iam(a, a.admin).send(new CreateUserCommand({ UserName: 'erin' }));
      const keyCalls = [a, b, a, b, a, b, a, b].map((gw) => outcome(iam(gw, gw.admin).send(new CreateAccessKeyCommand({ UserName: 'erin' }))));
      const keys = await Promise.all(keyCalls);
      assert.equal(keys.filter((o) => o === 'ok').length, 2, keys.join(','));
      assert.ok(keys.every((o) => o === 'ok' || o === 'LimitExceededException'), keys.join(','));

      const policy = (await iam(b, b.admin).send(new CreatePolicyCommand({ PolicyName: 'Raced', PolicyDocument: doc([{ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }]) }))).Policy!;
      const versionCalls = Array.from({ length: 10 }, (_, i) => {
        const gw = i % 2 === 0 ? a : b;
        return outcome(iam(gw, gw.admin).send(new CreatePolicyVersionCommand({
          PolicyArn: policy.Arn, SetAsDefault: i % 3 === 0, PolicyDocument: doc([{ Sid: `v${i}`, Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }]),
        })));
      });
      const versions = await Promise.all(versionCalls);
      assert.equal(versions.filter((o) => o === 'ok').length, 4, versions.join(','));
      assert.ok(versions.every((o) => o === 'ok' || o === 'LimitExceededException'), versions.join(','));
      const listed = (await iam(a, a.admin).send(new ListPolicyVersionsCommand({ PolicyArn: policy.Arn }))).Versions!;
      assert.deepEqual(listed.map((v) => v.VersionId), ['v5', 'v4', 'v3', 'v2', 'v1']);
      assert.equal(listed.filter((v) => v.IsDefaultVersion).length, 1);
    });

    it('killing A (SIGKILL) under load leaves B serving without one error', async () => {
      const clients = { a: sts(a, a.admin), b: sts(b, b.admin) };
      const bOutcomes: string[] = [];
      let stop = false;
      const loop = async (which: 'a' | 'b') => {
        while (!stop) {
          const o = await outcome(clients[which].send(new GetCallerIdentityCommand({})));
          if (which === 'b') bOutcomes.push(o);
        }
      };
      const loops = [loop('a'), loop('a'), loop('b'), loop('b'), loop('b')];
      await new Promise((r) => setTimeout(r, 400));
      const before = bOutcomes.length;
      await fleet.kill9(a);
      await new Promise((r) => setTimeout(r, 800));
      // B still writes to the database A held connections to.
      await iam(b, b.admin).send(new CreateUserCommand({ UserName: 'after-the-crash' }));
      stop = true;
      await Promise.all(loops);
      assert.ok(before > 0 && bOutcomes.length > before + 5, `B served ${before} before and ${bOutcomes.length - before} after the kill`);
      const failures = bOutcomes.filter((o) => o !== 'ok');
      assert.deepEqual(failures, [], 'B answered every request');
      assert.equal((await sts(b, a.admin).send(new GetCallerIdentityCommand({}))).Account, account);
    });
  });
});
