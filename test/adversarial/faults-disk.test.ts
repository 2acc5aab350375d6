/**
 * A full disk and a read-only data dir (issue 9, "Faults"): clear errors in the AWS shape, reads
 * keep working, the process lives, no audit event is lost, and nothing is corrupt once the disk
 * is back. The disk is a small tmpfs; the read-only dir a read-only bind mount. Both need
 * mount(2) (root with CAP_SYS_ADMIN): where it is not permitted, these tests are skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { auditEvents, errorCode, signedQuery, until } from './abuse-helpers.js';

const mounted: string[] = [];
after(() => {
  for (const m of mounted.reverse()) spawnSync('umount', ['-l', m]);
});

function sh(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

const probe = gatewayFleet('faults-probe').newDir();
const canMount = sh('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe]) && sh('umount', [probe]);
const skip = canMount ? false : 'mount(2) is not permitted here (needs root with CAP_SYS_ADMIN)';

function integrity(db: string): void {
  const d = new Database(db, { readonly: true });
  try {
    assert.deepEqual(d.pragma('integrity_check', { simple: false }), [{ integrity_check: 'ok' }]);
    assert.deepEqual(d.pragma('foreign_key_check'), []);
  } finally {
    d.close();
  }
}

function userNames(db: string): string[] {
  const d = new Database(db, { readonly: true });
  try {
    return (d.prepare('SELECT user_name FROM users ORDER BY user_name').pluck().all() as string[]);
  } finally {
    d.close();
  }
}

/** Fills the file system holding `dir` with a file until it is full. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
}

const createUser = (name: string) => `Action=CreateUser&Version=2010-05-08&UserName=${name}&Tags.member.1.Key=k&Tags.member.1.Value=${name}`;
const LIST_USERS = 'Action=ListUsers&Version=2010-05-08';

const diskFleet = gatewayFleet('faults-disk');
const fleetStart = (o: { dataDir: string }) => diskFleet.start(o);

describe('a full disk', { skip }, () => {
  const fleet = diskFleet;

  it('writes fail with InternalFailure, reads are served, the process lives, and once space returns writes work, every audit event is written and nothing is corrupt', { timeout: 180_000 }, async () => {
    const mnt = fleet.newDir();
    assert.ok(sh('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]), 'mount a 16 MiB tmpfs');
    mounted.push(mnt);
    try {
      await fullDisk(mnt);
    } finally {
      sh('umount', ['-l', mnt]);
      mounted.pop();
    }
  });
});

/** The full-disk scenario on the tmpfs at `mnt`. */
async function fullDisk(mnt: string): Promise<void> {
  const fleet = { start: (o: { dataDir: string }) => fleetStart(o), stop: (gw: RunningGateway) => gw.stop() };
  const dir = join(mnt, 'data');
  mkdirSync(dir);
  const gw = await fleet.start({ dataDir: dir });
  const db = join(dir, 'portcullis.db');
  assert.equal((await signedQuery(gw, gw.admin, { service: 'iam', body: createUser('before') })).status, 200);

  const filler = join(mnt, 'filler');
  fill(filler);
  const outage: string[] = [];
  for (let i = 0; i < 5; i++) {
    const w = await signedQuery(gw, gw.admin, { service: 'iam', body: createUser(`full${i}`) });
    assert.equal(w.status, 500, `a write on a full disk: ${w.body}`);
    assert.equal(errorCode(w.body), 'InternalFailure');
    assert.match(w.body, /^<ErrorResponse xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"><Error><Type>Receiver<\/Type>/);
    assert.doesNotMatch(w.body, /SQLITE|disk|\/tmp\//, 'no internals in the body');
    outage.push(String(w.headers['x-amzn-requestid']));
    const r = await signedQuery(gw, gw.admin);
    assert.equal(r.status, 200, `a read on a full disk: ${r.body}`);
    outage.push(String(r.headers['x-amzn-requestid']));
    const l = await signedQuery(gw, gw.admin, { service: 'iam', body: LIST_USERS });
    assert.equal(l.status, 200, l.body);
    assert.match(l.body, /<UserName>before<\/UserName>/);
    outage.push(String(l.headers['x-amzn-requestid']));
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(gw.proc.exitCode, null, `the gateway lives on a full disk\n${gw.stderr().slice(-2000)}`);
  await until(() => /cannot write the audit log/.test(gw.stderr()), 10_000, 'the audit failure to be logged');
  assert.match(gw.stderr(), /"code":"SQLITE_FULL"/, 'the log names the cause');

  rmSync(filler);
  const w = await signedQuery(gw, gw.admin, { service: 'iam', body: createUser('after') });
  assert.equal(w.status, 200, `writes work once space returns: ${w.body}`);
  await until(() => /the audit log is written again/.test(gw.stderr()), 15_000, 'the audit log to recover');
  const ids = new Set(auditEvents(dir).map((e) => e.requestId));
  for (const id of outage) assert.ok(ids.has(id), `the audit event of ${id}, made while the disk was full, was written`);

  assert.equal(await fleet.stop(gw), 0, 'a clean stop');
  integrity(db);
  const names = userNames(db);
  for (const n of ['before', 'after']) assert.ok(names.includes(n), n);
  assert.deepEqual(names.filter((n) => n.startsWith('full')), [], 'no write that was refused left anything behind');
}

describe('a read-only data dir', { skip }, () => {
  const fleet = gatewayFleet('faults-ro');

  it('at start: refused with a clear message; the data stays intact and serves again once writable', { timeout: 120_000 }, async () => {
    const dir = fleet.newDir();
    const gw = await fleet.start({ dataDir: dir });
    assert.equal((await signedQuery(gw, gw.admin, { service: 'iam', body: createUser('kept') })).status, 200);
    assert.equal(await fleet.stop(gw), 0);
    assert.ok(sh('mount', ['--bind', dir, dir]) && sh('mount', ['-o', 'remount,ro,bind', dir]), 'read-only bind mount');
    mounted.push(dir);
    await assert.rejects(fleet.start({ dataDir: dir }), (e: Error) => {
      assert.match(e.message, /exited with 2/);
      assert.match(e.message, /portcullis: the data dir `[^`]+` is not writable \(EROFS\)/);
      assert.doesNotMatch(e.message, /at .*\.js:\d+/, 'no stack trace');
      return true;
    });
    assert.ok(sh('umount', [dir]));
    mounted.pop();
    integrity(join(dir, 'portcullis.db'));
    const again = await fleet.start({ dataDir: dir });
    const l = await signedQuery(again, again.admin, { service: 'iam', body: LIST_USERS });
    assert.match(l.body, /<UserName>kept<\/UserName>/);
  });
});
