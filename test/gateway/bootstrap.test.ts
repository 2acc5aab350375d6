/**
 * First start and restarts of the real gateway process (SPEC §4): what it creates in the data
 * dir and with which modes, the ready line, reuse on a second start, the master key from the
 * environment, refusing a wrong master key, graceful SIGTERM, bad flags.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { GetCallerIdentityCommand, GetSessionTokenCommand } from '@aws-sdk/client-sts';
import { fromIni } from '@aws-sdk/credential-provider-ini';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { openRequest, send, signedGetCallerIdentity, stsClient } from '../helpers/sdk.js';

const MAIN = join(REPO_ROOT, 'dist/src/cli/main.js');

const { newDir, start, stop, release } = gatewayFleet('bootstrap');

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

function masterKeyB64(): string {
  return randomBytes(32).toString('base64');
}

async function callerIdentity(gw: RunningGateway, creds = gw.admin) {
  const client = stsClient(gw.url, gw.caPem, creds);
  try {
    return await client.send(new GetCallerIdentityCommand({}));
  } finally {
    client.destroy();
  }
}

/**
 * Runs `portcullis serve …` to completion (for starts that must fail), with a time limit. A start
 * that gets as far as the ready line is stopped with SIGTERM and reported (stdout shows it).
 */
function runToExit(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [MAIN, 'serve', ...args], { env: { ...process.env, PORTCULLIS_MASTER_KEY: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // It is serving: that answers the question; stop it rather than wait.
      if (/portcullis listening on /.test(stdout)) proc.kill('SIGTERM');
    });
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the process did not exit within ${timeoutMs} ms; stdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    proc.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('first start', () => {
  it('creates the data dir, master key, credentials, certificate and database, with private modes', async () => {
    const parent = newDir();
    const dir = join(parent, 'data'); // does not exist yet: the gateway creates it
    const gw = await start({ dataDir: dir });
    try {
      assert.equal(mode(dir), 0o700, 'the data dir is 0700');
      const key = join(dir, 'master.key');
      assert.ok(existsSync(key));
      assert.equal(mode(key), 0o600, 'master.key is 0600');
      assert.equal(Buffer.from(readFileSync(key, 'utf8').trim(), 'base64').length, 32, 'master.key holds 32 bytes in base64');

      const creds = join(dir, 'credentials');
      assert.equal(mode(creds), 0o600, 'credentials is 0600');
      const text = readFileSync(creds, 'utf8');
      assert.match(text, /^\[portcullis\]\naws_access_key_id = AKIA[A-Z2-7]{16}\naws_secret_access_key = [A-Za-z0-9+/]{40}\n$/);

      const db = join(dir, 'portcullis.db');
      assert.ok(existsSync(db), 'the database is in the data dir');
      assert.equal(mode(db), 0o600, 'the database is 0600');
      for (const side of [`${db}-wal`, `${db}-shm`]) if (existsSync(side)) assert.equal(mode(side), 0o600, `${side} is 0600`);

      const tls = join(dir, 'tls');
      assert.equal(mode(tls), 0o700);
      const pem = readFileSync(join(tls, 'cert.pem'), 'utf8');
      assert.match(pem, /^-----BEGIN CERTIFICATE-----\n/);
      assert.equal(pem, gw.caPem);
      assert.doesNotMatch(pem, /PRIVATE KEY/, 'the CA bundle holds no private key');
      for (const f of readdirSync(tls)) {
        if (/PRIVATE KEY/.test(readFileSync(join(tls, f), 'utf8'))) assert.equal(mode(join(tls, f)), 0o600, `private key file tls/${f} is 0600`);
      }
      const audit = join(dir, 'audit');
      if (existsSync(audit)) {
        assert.equal(mode(audit), 0o700);
        for (const f of readdirSync(audit)) assert.equal(mode(join(audit, f)), 0o600, `audit/${f} is 0600`);
      }

      // The credentials file works as the AWS SDK reads it (profile [portcullis]).
      const fromFile = await fromIni({ profile: 'portcullis', filepath: creds, configFilepath: join(parent, 'no-config') })();
      assert.equal(fromFile.accessKeyId, gw.admin.accessKeyId);
      assert.equal(fromFile.secretAccessKey, gw.admin.secretAccessKey);
      const id = await callerIdentity(gw, { accessKeyId: fromFile.accessKeyId, secretAccessKey: fromFile.secretAccessKey });
      assert.match(id.Arn ?? '', /^arn:aws:iam::\d{12}:user\/admin$/);
      assert.equal(id.Account, id.Arn!.split(':')[4]);

      // the audit trail now exists, private too
      assert.equal(mode(join(dir, 'audit')), 0o700);
      for (const f of readdirSync(join(dir, 'audit'))) assert.equal(mode(join(dir, 'audit', f)), 0o600, `audit/${f} is 0600`);
    } finally {
      assert.equal(await stop(gw), 0);
    }
  });

  it('prints exactly one ready line: `portcullis listening on https://127.0.0.1:PORT`', async () => {
    const dir = newDir();
    const proc = spawn(process.execPath, [MAIN, 'serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], {
      env: { ...process.env, PORTCULLIS_MASTER_KEY: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line:\n${stderr}`)), 20_000);
        proc.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('\n')) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((c) => reject(new Error(`exited with ${c}:\n${stderr}`)));
      });
      const m = /^portcullis listening on https:\/\/127\.0\.0\.1:(\d{1,5})\n$/.exec(stdout);
      assert.ok(m, `ready line: ${JSON.stringify(stdout)}`);
      const port = Number(m[1]);
      assert.ok(port > 0 && port < 65536, 'port 0 was replaced by the real port');
      // the line is printed when requests are taken
      const r = await send(`https://127.0.0.1:${port}`, readFileSync(join(dir, 'tls', 'cert.pem'), 'utf8'), 'GET', '/_portcullis/health/live', {});
      assert.equal(r.status, 200);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(stdout.split('\n').length, 2, `nothing else on stdout: ${JSON.stringify(stdout)}`);
    } finally {
      proc.kill('SIGTERM');
      assert.equal(await exited, 0);
    }
    assert.equal(stdout.split('\n').filter((l) => l !== '').length, 1, `one line on stdout in all: ${JSON.stringify(stdout)}`);
  });
});

describe('restart', () => {
  it('a second start on the same dir reuses account, admin user, key, certificate and credentials', async () => {
    const dir = newDir();
    const gw1 = await start({ dataDir: dir });
    const creds1 = readFileSync(join(dir, 'credentials'), 'utf8');
    const masterKey1 = readFileSync(join(dir, 'master.key'), 'utf8');
    const id1 = await callerIdentity(gw1);
    assert.equal(await stop(gw1), 0);

    const gw2 = await start({ dataDir: dir });
    try {
      assert.equal(readFileSync(join(dir, 'credentials'), 'utf8'), creds1, 'the credentials file is unchanged');
      assert.equal(readFileSync(join(dir, 'master.key'), 'utf8'), masterKey1, 'the master key is unchanged');
      assert.deepEqual(gw2.admin, gw1.admin);
      assert.equal(gw2.caPem, gw1.caPem, 'the certificate is reused');
      const id2 = await callerIdentity(gw2);
      assert.equal(id2.Account, id1.Account);
      assert.equal(id2.Arn, id1.Arn);
      assert.equal(id2.UserId, id1.UserId);
    } finally {
      assert.equal(await stop(gw2), 0);
    }
  });

  it('takes the master key from PORTCULLIS_MASTER_KEY instead of a file', async () => {
    const dir = newDir();
    const env = { PORTCULLIS_MASTER_KEY: masterKeyB64() };
    const gw1 = await start({ dataDir: dir, env });
    const id1 = await callerIdentity(gw1);
    assert.equal(await stop(gw1), 0);
    assert.ok(!existsSync(join(dir, 'master.key')), 'no master.key is written when the key comes from the environment');

    const gw2 = await start({ dataDir: dir, env });
    try {
      assert.ok(!existsSync(join(dir, 'master.key')));
      const id2 = await callerIdentity(gw2);
      assert.equal(id2.Arn, id1.Arn);
    } finally {
      assert.equal(await stop(gw2), 0);
    }
  });

  it('accepts a rotated key list (new key first, old key after) on restart', async () => {
    const dir = newDir();
    const oldKey = masterKeyB64();
    const gw1 = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: oldKey } });
    const id1 = await callerIdentity(gw1);
    assert.equal(await stop(gw1), 0);
    const gw2 = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: `${masterKeyB64()},${oldKey}` } });
    try {
      assert.equal((await callerIdentity(gw2)).Arn, id1.Arn);
    } finally {
      assert.equal(await stop(gw2), 0);
    }
  });

  it('`portcullis reseal` moves every secret to the new key, after which the old one can be dropped; sessions survive', async () => {
    const dir = newDir();
    const oldKey = masterKeyB64();
    const newKey = masterKeyB64();
    const gw1 = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: oldKey } });
    const session = (await stsClient(gw1.url, gw1.caPem, gw1.admin).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials!;
    const temp = { accessKeyId: session.AccessKeyId!, secretAccessKey: session.SecretAccessKey!, sessionToken: session.SessionToken! };
    assert.equal(await stop(gw1), 0);

    const run = (env: Record<string, string>) => new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const proc = spawn(process.execPath, [MAIN, 'reseal', '--data-dir', dir], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      proc.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
    const r = await run({ PORTCULLIS_MASTER_KEY: `${newKey},${oldKey}` });
    assert.equal(r.code, 0, r.stderr);
    // the administrator's secret, the session-token keys, the identity key
    assert.match(r.stdout, /^resealed 3 secrets; every secret is now sealed under master key [0-9a-f]{12}\n$/);
    assert.ok(!r.stdout.includes(newKey) && !r.stderr.includes(newKey) && !r.stdout.includes(oldKey), 'no master key in the output');

    const gw2 = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: newKey } });
    try {
      assert.match((await callerIdentity(gw2)).Arn!, /:user\/admin$/);
      assert.match((await callerIdentity(gw2, temp)).Arn!, /:user\/admin$/, 'a session from before the rotation still works');
    } finally {
      assert.equal(await stop(gw2), 0);
    }
  });

  it('refuses to start with a master key that cannot open the stored secrets', async () => {
    const dir = newDir();
    const gw1 = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: masterKeyB64() } });
    await callerIdentity(gw1); // it worked with its own key
    assert.equal(await stop(gw1), 0);

    const r = await runToExit(['--data-dir', dir, '--listen', '127.0.0.1:0'], { PORTCULLIS_MASTER_KEY: masterKeyB64() });
    assert.doesNotMatch(r.stdout, /portcullis listening on/, `it must not serve with the wrong key; stderr:\n${r.stderr}`);
    assert.notEqual(r.code, 0, 'a non-zero exit');
    assert.notEqual(r.code, null, `it exits by itself (signal ${r.signal})`);
    assert.ok(r.stderr.length > 0, 'and says why on stderr');
  });

  it('refuses to start when master.key was replaced by another key', async () => {
    const dir = newDir();
    const gw1 = await start({ dataDir: dir });
    await callerIdentity(gw1); // it worked with its own key
    assert.equal(await stop(gw1), 0);
    writeFileSync(join(dir, 'master.key'), masterKeyB64() + '\n', { mode: 0o600 });

    const r = await runToExit(['--data-dir', dir, '--listen', '127.0.0.1:0']);
    assert.doesNotMatch(r.stdout, /portcullis listening on/, `it must not serve with the wrong key; stderr:\n${r.stderr}`);
    assert.notEqual(r.code, 0);
    assert.notEqual(r.code, null);
  });

  it('refuses a malformed PORTCULLIS_MASTER_KEY with a non-zero exit and no key material in the message', async () => {
    const dir = newDir();
    const bad = randomBytes(16).toString('base64');
    const r = await runToExit(['--data-dir', dir, '--listen', '127.0.0.1:0'], { PORTCULLIS_MASTER_KEY: bad });
    assert.notEqual(r.code, 0);
    assert.notEqual(r.code, null);
    assert.doesNotMatch(r.stdout, /listening/);
    assert.match(r.stderr, /PORTCULLIS_MASTER_KEY/);
    assert.ok(!r.stderr.includes(bad), 'the key is not echoed');
  });
});

describe('shutdown', () => {
  it('SIGTERM lets an in-flight request finish with 200, then exits 0', async () => {
    const dir = newDir();
    const gw = await start({ dataDir: dir });
    const exited = new Promise<number | null>((r) => gw.proc.once('exit', (c) => r(c)));
    let exitCode: number | null | undefined;
    void exited.then((c) => (exitCode = c));

    const signed = await signedGetCallerIdentity(gw.url, gw.admin);
    const half = Math.floor(signed.body.length / 2);
    const { req, response } = openRequest(gw.url, gw.caPem, signed.method, signed.path, signed.headers);
    const connected = new Promise<void>((resolve) => req.once('socket', (s: TLSSocket) => s.once('secureConnect', () => resolve())));
    req.write(signed.body.slice(0, half));
    // let the request reach the server (connection, TLS, headers, half the body)
    await connected;
    await new Promise((r) => setTimeout(r, 300));

    release(gw);
    gw.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(exitCode, undefined, 'the process waits for the in-flight request');

    // a new connection is no longer accepted
    await assert.rejects(send(gw.url, gw.caPem, 'GET', '/_portcullis/health/live', {}), 'no new connections while stopping');

    req.end(signed.body.slice(half));
    const res = await response;
    assert.equal(res.status, 200, `in-flight request answered: ${res.body}`);
    assert.match(res.body, /<Arn>arn:aws:iam::\d{12}:user\/admin<\/Arn>/);
    assert.equal(await exited, 0, 'exit 0 after SIGTERM');
  });

  it('SIGINT exits 0 too', async () => {
    const dir = newDir();
    const gw = await start({ dataDir: dir });
    await callerIdentity(gw); // well after the ready line (see the next test for right at it)
    release(gw);
    const exited = new Promise<number | null>((r) => gw.proc.once('exit', (c) => r(c)));
    gw.proc.kill('SIGINT');
    assert.equal(await exited, 0);
  });

  it('SIGTERM right after the ready line still shuts down gracefully (exit 0)', async () => {
    // A supervisor may signal as soon as it sees the ready line; the handlers must be in place
    // by then. Several tries, since the window is narrow.
    const dir = newDir();
    const first = await start({ dataDir: dir }); // first start done: the rest are quick restarts
    await callerIdentity(first);
    assert.equal(await stop(first), 0);
    const outcomes: string[] = [];
    for (let i = 0; i < 15; i++) {
      const proc = spawn(process.execPath, [MAIN, 'serve', '--data-dir', dir, '--listen', '127.0.0.1:0'], {
        env: { ...process.env, PORTCULLIS_MASTER_KEY: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const outcome = await new Promise<string>((resolve) => {
        const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
        proc.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('portcullis listening on ')) proc.kill('SIGTERM');
        });
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          resolve(signal === null ? `exit ${code}` : `killed by ${signal}`);
        });
      });
      outcomes.push(outcome);
    }
    assert.deepEqual(outcomes.filter((o) => o !== 'exit 0'), [], `outcomes of SIGTERM at the ready line: ${outcomes.join(', ')}`);
  });
});

describe('bad flags', () => {
  for (const [name, args] of [
    ['--min-tls 1.1', ['--min-tls', '1.1']],
    ['--min-tls=1.0', ['--min-tls=1.0']],
    ['--listen nonsense', ['--listen', 'nonsense']],
    ['--listen 127.0.0.1:99999', ['--listen', '127.0.0.1:99999']],
    ['--store mysql://x', ['--store', 'mysql://x']],
    ['--workers many', ['--workers', 'many']],
    ['--database-url sqlite:x', ['--database-url', 'sqlite:x']],
    ['an unknown flag', ['--no-such-flag', 'x']],
    ['a flag without its value', ['--min-tls']],
  ] as const) {
    it(`${name}: exit 2, a message on stderr, nothing created`, async () => {
      const parent = newDir();
      const dir = join(parent, 'data');
      const r = await runToExit(['--data-dir', dir, '--listen', '127.0.0.1:0', ...args]);
      assert.equal(r.code, 2, `exit code (stderr: ${r.stderr})`);
      assert.match(r.stderr, /\S/, 'a message on stderr');
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal(r.stdout, '');
      assert.ok(!existsSync(dir), 'the data dir is not created on a config error');
    });
  }

  it('a PostgreSQL store that does not answer: exit 1, says why, never the password, and does not serve', async () => {
    const r = await runToExit(['--data-dir', join(newDir(), 'd'), '--listen', '127.0.0.1:0', '--workers', '1', '--database-url', 'postgres://app:hunter2secret@127.0.0.1:1/portcullis']);
    assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
    assert.match(r.stderr, /could not start/);
    assert.match(r.stderr, /ECONNREFUSED/);
    assert.ok(!r.stderr.includes('hunter2secret') && !r.stdout.includes('hunter2secret'), 'the password stays out of the output');
    assert.doesNotMatch(r.stdout, /listening/);
  });

  it('the messages name the offending flag', async () => {
    const a = await runToExit(['--data-dir', join(newDir(), 'd'), '--min-tls', '1.1']);
    assert.match(a.stderr, /min-tls|minVersion/);
    const b = await runToExit(['--data-dir', join(newDir(), 'd'), '--listen', 'nonsense']);
    assert.match(b.stderr, /listen/);
    assert.match(b.stderr, /nonsense/);
  });
});
