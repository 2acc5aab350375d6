/**
 * Durability and secrecy of what the gateway keeps: users and keys survive restarts and crashes
 * (kill -9), the database stays usable, and neither the database nor any log holds a secret
 * access key, a signature or a session token.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import Database from 'better-sqlite3';
import { newAccessKeyId, newSecretAccessKey, newUserId } from '../../src/core/ids.js';
import { Sealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { presignedGetCallerIdentity, sdkError, send, signedGetCallerIdentity, stsClient, type Creds } from '../helpers/sdk.js';

const { newDir, start, stop, kill9 } = gatewayFleet('durability');

function newMasterKey(): string {
  return randomBytes(32).toString('base64');
}

function dbPath(dataDir: string): string {
  return join(dataDir, 'portcullis.db');
}

function openStore(dataDir: string, masterKey: string): SqliteStore {
  return new SqliteStore(dbPath(dataDir), new Sealer([Buffer.from(masterKey, 'base64')]));
}

async function callerIdentity(gw: RunningGateway, creds: Creds) {
  const client = stsClient(gw.url, gw.caPem, creds);
  try {
    return await client.send(new GetCallerIdentityCommand({}));
  } finally {
    client.destroy();
  }
}

function integrityCheck(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('busy_timeout = 5000');
    assert.deepEqual(db.pragma('integrity_check', { simple: false }), [{ integrity_check: 'ok' }]);
    assert.deepEqual(db.pragma('foreign_key_check'), [], 'no dangling references');
  } finally {
    db.close();
  }
}

interface MadeKey {
  readonly userName: string;
  readonly userId: string;
  readonly path: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly status: 'Active' | 'Inactive';
}

/** Creates users (several keys each, some inactive) in the bootstrap account, through the store. */
async function makeUsers(dataDir: string, masterKey: string, specs: readonly { name: string; path: string; keys: readonly ('Active' | 'Inactive')[] }[]): Promise<{ accountId: string; keys: MadeKey[] }> {
  const store = openStore(dataDir, masterKey);
  try {
    const accountId = await store.getMeta('bootstrap.account');
    assert.ok(accountId, 'the gateway recorded its account');
    const keys: MadeKey[] = [];
    for (const spec of specs) {
      const userId = newUserId();
      await store.createUser({ accountId, userName: spec.name, userId, path: spec.path, createdAt: Date.now() });
      for (const status of spec.keys) {
        const k = { accessKeyId: newAccessKeyId(accountId), secretAccessKey: newSecretAccessKey() };
        await store.createAccessKey({ ...k, accountId, userName: spec.name, status, createdAt: Date.now() });
        keys.push({ userName: spec.name, userId, path: spec.path, status, ...k });
      }
    }
    return { accountId, keys };
  } finally {
    await store.close();
  }
}

describe('durability', () => {
  it('a restart keeps every user and key', async () => {
    const dir = newDir();
    const masterKey = newMasterKey();
    const env = { PORTCULLIS_MASTER_KEY: masterKey };

    const gw1 = await start({ dataDir: dir, env });
    const admin = gw1.admin;
    const adminId = await callerIdentity(gw1, admin);
    assert.equal(await stop(gw1), 0);

    const { accountId, keys } = await makeUsers(dir, masterKey, [
      { name: 'alice', path: '/', keys: ['Active', 'Active'] },
      { name: 'Bob', path: '/engineering/', keys: ['Active'] },
      { name: 'carol.d', path: '/a/b/', keys: ['Active', 'Inactive'] },
      { name: 'dave+ops', path: '/', keys: ['Inactive'] },
      { name: 'erin_e', path: '/x/', keys: ['Active'] },
    ]);
    assert.equal(accountId, adminId.Account);

    const checkAll = async (gw: RunningGateway, round: string) => {
      const me = await callerIdentity(gw, admin);
      assert.equal(me.Arn, adminId.Arn, `${round}: admin`);
      for (const k of keys) {
        const creds = { accessKeyId: k.accessKeyId, secretAccessKey: k.secretAccessKey };
        if (k.status === 'Active') {
          const id = await callerIdentity(gw, creds);
          assert.equal(id.Arn, `arn:aws:iam::${accountId}:user${k.path}${k.userName}`, `${round}: ${k.userName}`);
          assert.equal(id.UserId, k.userId);
          assert.equal(id.Account, accountId);
        } else {
          const client = stsClient(gw.url, gw.caPem, creds);
          const e = await sdkError(client.send(new GetCallerIdentityCommand({})));
          client.destroy();
          assert.equal(e.name, 'InvalidClientTokenId', `${round}: inactive key of ${k.userName} is refused`);
          assert.equal(e.$metadata.httpStatusCode, 403);
        }
      }
      // a wrong secret for a stored key is refused
      const k0 = keys[0]!;
      const client = stsClient(gw.url, gw.caPem, { accessKeyId: k0.accessKeyId, secretAccessKey: newSecretAccessKey() });
      const e = await sdkError(client.send(new GetCallerIdentityCommand({})));
      client.destroy();
      assert.equal(e.name, 'SignatureDoesNotMatch');
    };

    const gw2 = await start({ dataDir: dir, env });
    await checkAll(gw2, 'after the first restart');
    assert.equal(await stop(gw2), 0);

    const gw3 = await start({ dataDir: dir, env });
    await checkAll(gw3, 'after the second restart');
    assert.equal(await stop(gw3), 0);
    integrityCheck(dbPath(dir));
  });

  it('a kill -9 during writes loses nothing that was acknowledged and leaves the database usable', async () => {
    const dir = newDir();
    const masterKey = newMasterKey();
    const db = dbPath(dir);
    const accountId = '314159265358';
    const script = join(dir, 'writer.mjs');
    const url = (p: string) => pathToFileURL(join(REPO_ROOT, p)).href;
    writeFileSync(
      script,
      `import { randomBytes } from 'node:crypto';
import { SqliteStore } from ${JSON.stringify(url('dist/src/store/sqlite/sqliteStore.js'))};
import { Sealer } from ${JSON.stringify(url('dist/src/store/seal.js'))};
const [dbPath, accountId] = process.argv.slice(2);
const store = new SqliteStore(dbPath, new Sealer([Buffer.from(process.env.PORTCULLIS_MASTER_KEY, 'base64')]));
if ((await store.getAccount(accountId)) === undefined) await store.createAccount({ accountId, name: 'crash', createdAt: Date.now() });
const b32 = (n) => Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b & 31]).join('');
for (let i = 0; ; i++) {
  const userName = 'crash-' + process.pid + '-' + i;
  await store.createUser({ accountId, userName, userId: 'AIDA' + b32(17), path: '/crash/', createdAt: Date.now() });
  const accessKeyId = 'AKIA' + b32(16);
  const secretAccessKey = randomBytes(30).toString('base64');
  await store.createAccessKey({ accessKeyId, accountId, userName, status: 'Active', createdAt: Date.now(), secretAccessKey });
  process.stdout.write(accessKeyId + ' ' + secretAccessKey + ' ' + userName + '\\n');
}
`,
    );

    const runWriter = () =>
      new Promise<{ acked: { accessKeyId: string; secret: string; userName: string }[]; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
        const proc = spawn(process.execPath, [script, db, accountId], { env: { ...process.env, PORTCULLIS_MASTER_KEY: masterKey }, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        let killed = false;
        const timer = setTimeout(() => {
          proc.kill('SIGKILL');
          reject(new Error(`the writer did not acknowledge 200 writes in time:\n${err}`));
        }, 20_000);
        proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
        proc.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (!killed && out.split('\n').length > 200) {
            killed = true;
            proc.kill('SIGKILL'); // mid-loop: most likely inside the next write
          }
        });
        proc.once('close', (_code, signal) => {
          clearTimeout(timer);
          // only whole lines were acknowledged
          const lines = out.split('\n');
          lines.pop();
          const acked = lines.map((l) => {
            const [accessKeyId, secret, userName] = l.split(' ');
            return { accessKeyId: accessKeyId!, secret: secret!, userName: userName! };
          });
          resolve({ acked, signal, stderr: err });
        });
      });

    const all: { accessKeyId: string; secret: string; userName: string }[] = [];
    for (let round = 1; round <= 2; round++) {
      // the second round starts on the crashed file: recovery, then more writes, then another crash
      const { acked, signal, stderr } = await runWriter();
      assert.equal(signal, 'SIGKILL', `round ${round}: the writer was killed, not crashed (${stderr})`);
      assert.ok(acked.length >= 200, `round ${round}: ${acked.length} acknowledged writes`);
      all.push(...acked);
    }

    integrityCheck(db);
    const store = new SqliteStore(db, new Sealer([Buffer.from(masterKey, 'base64')]));
    try {
      for (const a of all) {
        const k = await store.getAccessKey(a.accessKeyId);
        assert.ok(k, `acknowledged key ${a.accessKeyId} is present`);
        assert.equal(k.secretAccessKey, a.secret, `the secret of ${a.accessKeyId}`);
        assert.equal(k.userName, a.userName);
        assert.equal(k.status, 'Active');
        assert.ok(await store.getUser(accountId, a.userName), `user ${a.userName} is present`);
      }
      const raw = new Database(db, { readonly: true });
      const count = raw.prepare("SELECT COUNT(*) FROM access_keys k JOIN users u ON u.user_id = k.user_id WHERE u.path = '/crash/'").pluck().get() as number;
      raw.close();
      assert.ok(count >= all.length && count <= all.length + 2, `${count} keys stored for ${all.length} acknowledged`);

      // and it takes new writes
      await store.createUser({ accountId, userName: 'after-crash', userId: newUserId(), path: '/', createdAt: Date.now() });
      const fresh = { accessKeyId: newAccessKeyId(accountId), secretAccessKey: newSecretAccessKey() };
      await store.createAccessKey({ ...fresh, accountId, userName: 'after-crash', status: 'Active', createdAt: Date.now() });
      assert.equal((await store.getAccessKey(fresh.accessKeyId))?.secretAccessKey, fresh.secretAccessKey);
      await store.setAccessKeyStatus(all[0]!.accessKeyId, 'Inactive');
      assert.equal((await store.getAccessKey(all[0]!.accessKeyId))?.status, 'Inactive');
    } finally {
      await store.close();
    }
    integrityCheck(db);
  });

  it('a gateway killed with SIGKILL while serving restarts on the same dir and serves', async () => {
    const dir = newDir();
    const masterKey = newMasterKey();
    const env = { PORTCULLIS_MASTER_KEY: masterKey };
    // flush last-use often, so the store is being written to when the kill lands
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ lastUsedFlushMs: 100 }));

    const gw1 = await start({ dataDir: dir, env, args: ['--config', config] });
    const admin = gw1.admin;
    const adminArn = (await callerIdentity(gw1, admin)).Arn;

    let ok = 0;
    let stopped = false;
    const client = stsClient(gw1.url, gw1.caPem, admin);
    const workers = Array.from({ length: 8 }, async () => {
      while (!stopped) {
        try {
          await client.send(new GetCallerIdentityCommand({}));
          ok++;
        } catch {
          // the kill cuts requests off; that is expected
          if (stopped) return;
        }
      }
    });
    const t0 = Date.now();
    while (ok < 50 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ok >= 50, `the gateway served under load before the kill (${ok})`);
    await new Promise((r) => setTimeout(r, 150)); // at least one last-use flush under load
    await kill9(gw1);
    stopped = true;
    await Promise.all(workers);
    client.destroy();

    const gw2 = await start({ dataDir: dir, env, args: ['--config', config] });
    try {
      assert.deepEqual(gw2.admin, admin, 'the same credentials');
      assert.equal((await callerIdentity(gw2, admin)).Arn, adminArn);
      const r = await send(gw2.url, gw2.caPem, 'GET', '/_portcullis/health/ready', {});
      assert.equal(r.status, 200, r.body);
    } finally {
      assert.equal(await stop(gw2), 0);
    }
    integrityCheck(dbPath(dir));
    // the last use recorded before the crash survived it
    const store = openStore(dir, masterKey);
    try {
      const k = await store.getAccessKey(admin.accessKeyId);
      assert.ok(k?.lastUsed, 'the admin key has a last use');
      assert.ok(k.lastUsed.at >= t0 - 60_000);
    } finally {
      await store.close();
    }
  });
});

/** Every file under `dir`, recursively, except the ones named in `skip`. */
function filesUnder(dir: string, skip: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (skip.has(p)) continue;
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, skip));
    else out.push(p);
  }
  return out;
}

describe('secrecy', () => {
  it('the database file and the logs contain no secret access key, signature or session token', async () => {
    const dir = newDir();
    const masterKey = newMasterKey();
    const env = { PORTCULLIS_MASTER_KEY: masterKey };
    // the most talkative log level, and last-use writes to the database
    const config = join(newDir(), 'config.json');
    writeFileSync(config, JSON.stringify({ log: { level: 'debug' }, lastUsedFlushMs: 100 }));

    const gw1 = await start({ dataDir: dir, env, args: ['--config', config] });
    const admin = gw1.admin;
    await callerIdentity(gw1, admin);
    assert.equal(await stop(gw1), 0);
    const { keys } = await makeUsers(dir, masterKey, [
      { name: 'sam', path: '/', keys: ['Active', 'Inactive'] },
      { name: 'tess', path: '/ops/', keys: ['Active'] },
    ]);

    const gw = await start({ dataDir: dir, env, args: ['--config', config] });
    const forbidden = new Map<string, string>(); // value -> what it is
    forbidden.set(admin.secretAccessKey, 'the admin secret');
    for (const k of keys) forbidden.set(k.secretAccessKey, `the secret of ${k.accessKeyId}`);
    let requests = 0;
    const watch = (headers: Record<string, string>) => {
      requests++;
      const auth = headers['authorization'] ?? '';
      const sig = /Signature=([0-9a-f]+)/.exec(auth)?.[1];
      if (sig) forbidden.set(sig, 'a signature the client sent');
      const token = headers['x-amz-security-token'];
      if (token) forbidden.set(token, 'a session token the client sent');
    };
    const call = async (creds: Creds) => {
      const client = stsClient(gw.url, gw.caPem, creds, { onRequest: watch });
      try {
        return await client.send(new GetCallerIdentityCommand({}));
      } finally {
        client.destroy();
      }
    };

    try {
      // good requests
      await call(admin);
      for (const k of keys.filter((k) => k.status === 'Active')) await call(k);
      // bad: a wrong secret, an inactive key, a session token, an unknown key
      const wrongSecret = newSecretAccessKey();
      forbidden.set(wrongSecret, 'a wrong secret');
      assert.equal((await sdkError(call({ accessKeyId: admin.accessKeyId, secretAccessKey: wrongSecret }))).name, 'SignatureDoesNotMatch');
      assert.equal((await sdkError(call({ accessKeyId: keys[0]!.accessKeyId, secretAccessKey: wrongSecret }))).name, 'SignatureDoesNotMatch');
      const inactive = keys.find((k) => k.status === 'Inactive')!;
      assert.equal((await sdkError(call(inactive))).name, 'InvalidClientTokenId');
      const token = 'IQoJb3JpZ2luX2VjE' + randomBytes(48).toString('base64');
      await sdkError(call({ ...admin, sessionToken: token }));
      assert.ok(forbidden.has(token), 'the token was seen on the wire');
      await sdkError(call({ accessKeyId: newAccessKeyId('123456789012'), secretAccessKey: wrongSecret }));

      // a wrong-secret request whose correct signature we know too (same time, same bytes):
      // the gateway computes the correct one to compare; it must not show up either
      const when = new Date();
      const bad = await signedGetCallerIdentity(gw.url, { accessKeyId: admin.accessKeyId, secretAccessKey: wrongSecret }, { signingDate: when });
      const good = await signedGetCallerIdentity(gw.url, admin, { signingDate: when });
      assert.notEqual(bad.signature, good.signature);
      forbidden.set(bad.signature, 'the signature of a wrong-secret request');
      forbidden.set(good.signature, 'the signature the gateway expected');
      const rBad = await send(gw.url, gw.caPem, bad.method, bad.path, bad.headers, bad.body);
      assert.equal(rBad.status, 403);
      assert.match(rBad.body, /SignatureDoesNotMatch/);
      for (const v of forbidden.keys()) assert.ok(!rBad.body.includes(v), 'the error response holds no secret or signature');

      // presigned: good, and with a session token in the query
      const pre = await presignedGetCallerIdentity(gw.url, admin);
      forbidden.set(pre.signature, 'a presigned signature');
      assert.equal((await send(gw.url, gw.caPem, 'GET', pre.path, {})).status, 200);
      const token2 = 'FwoGZXIvYXdzE' + randomBytes(48).toString('base64');
      const preTok = await presignedGetCallerIdentity(gw.url, { ...admin, sessionToken: token2 });
      forbidden.set(preTok.signature, 'a presigned signature with a token');
      forbidden.set(token2, 'a session token in a presigned URL');
      assert.equal((await send(gw.url, gw.caPem, 'GET', preTok.path, {})).status, 403);

      // malformed: a Signature= value in a broken Authorization header
      const junkSig = randomBytes(32).toString('hex');
      forbidden.set(junkSig, 'a signature in a malformed header');
      const rJunk = await send(gw.url, gw.caPem, 'POST', '/', {
        authorization: `AWS4-HMAC-SHA256 Credential=${admin.accessKeyId}/garbage, SignedHeaders=host, Signature=${junkSig}`,
        'content-type': 'application/x-www-form-urlencoded',
      }, 'Action=GetCallerIdentity&Version=2011-06-15');
      assert.ok(rJunk.status >= 400 && rJunk.status < 500, `malformed request: ${rJunk.status}`);
      requests += 4;

      await new Promise((r) => setTimeout(r, 300)); // a last-use flush
    } finally {
      assert.equal(await stop(gw), 0);
    }

    // the scan must see what it scans: the audit trail exists and names the keys
    const files = filesUnder(dir, new Set([join(dir, 'credentials')]));
    const names = files.map((f) => f.slice(dir.length + 1));
    assert.ok(names.includes('portcullis.db'), `files: ${names.join(', ')}`);
    const auditFiles = files.filter((f) => f.includes(`${join(dir, 'audit')}`));
    assert.ok(auditFiles.length > 0, `an audit log exists: ${names.join(', ')}`);
    const audit = auditFiles.map((f) => readFileSync(f, 'utf8')).join('');
    assert.ok(audit.split('\n').filter((l) => l !== '').length >= requests, `one audit event per request (${requests})`);
    assert.ok(audit.includes(admin.accessKeyId), 'the audit log names access key ids');
    assert.ok(audit.includes('SignatureDoesNotMatch'), 'the audit log records the wrong-secret requests');
    const stderr = gw.stderr() + gw1.stderr();
    assert.ok(stderr.length > 0);

    const sources: [string, Buffer][] = [...files.map((f) => [f.slice(dir.length + 1), readFileSync(f)] as [string, Buffer]), ['gateway stderr', Buffer.from(stderr)]];
    const leaks: string[] = [];
    for (const [name, bytes] of sources) {
      for (const [value, what] of forbidden) {
        if (bytes.indexOf(value) !== -1) leaks.push(`${name} contains ${what}`);
        // also URL-encoded, as a logged URL would carry it
        const enc = encodeURIComponent(value);
        if (enc !== value && bytes.indexOf(enc) !== -1) leaks.push(`${name} contains ${what} (URL-encoded)`);
      }
    }
    assert.deepEqual(leaks, []);
    // no Signature= / X-Amz-Signature= value of any kind in the logs
    for (const [name, text] of [['audit', audit], ['stderr', stderr]] as const) {
      assert.doesNotMatch(text, /Signature=[0-9a-f]{16,}/i, `${name} holds a Signature= value`);
      assert.doesNotMatch(text, /X-Amz-Security-Token=[^&\s"]+/i, `${name} holds a session token`);
    }
  });
});
