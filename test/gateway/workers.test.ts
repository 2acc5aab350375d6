/**
 * `--workers N`: one node as several processes on one listener, on the default SQLite store.
 * One ready line; connections spread over the workers (each counts its own metrics); one audit
 * file that every worker appends to, rotated by the primary without losing or breaking a line; a key deactivated through one worker is refused by every
 * worker at once (the primary relays the change); a worker that dies is replaced; SIGTERM stops
 * them all, every audit line written, and exits 0.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, UpdateAccessKeyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { gatewayFleet } from '../helpers/fleet.js';
import type { RunningGateway } from '../helpers/gateway.js';

type Creds = { accessKeyId: string; secretAccessKey: string };

/** A new TLS connection for every request, so the primary hands each to the next worker. */
function handler(gw: RunningGateway): NodeHttpHandler {
  return new NodeHttpHandler({ httpsAgent: new Agent({ ca: gw.caPem, keepAlive: false }) });
}

const iam = (gw: RunningGateway, c: Creds) => new IAMClient({ endpoint: gw.url, region: 'us-east-1', credentials: { ...c }, maxAttempts: 1, requestHandler: handler(gw) });
const sts = (gw: RunningGateway, c: Creds) => new STSClient({ endpoint: gw.url, region: 'us-east-1', credentials: { ...c }, maxAttempts: 1, requestHandler: handler(gw) });

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as Error).name;
  }
}

function auditText(gw: RunningGateway): string {
  const file = join(gw.dataDir, 'audit', 'audit.log');
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** GetCallerIdentity answers counted by the worker that serves this (new) connection. */
async function countedByOneWorker(gw: RunningGateway): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(`${gw.url}/_portcullis/metrics`, { ca: gw.caPem, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
  const m = /portcullis_requests_total\{service="sts",action="sts:GetCallerIdentity",status="200"\} (\d+)/.exec(text);
  return m === null ? 0 : Number(m[1]);
}

/** The process ids of the primary's workers. */
function workerPids(gw: RunningGateway): number[] {
  const pid = gw.proc.pid!;
  const out = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  return out === '' ? [] : out.split(/\s+/).map(Number);
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const fleet = gatewayFleet('workers');

describe('--workers 2 on SQLite', () => {
  let gw: RunningGateway;
  before(async () => {
    gw = await fleet.start({ env: { PORTCULLIS_WORKERS: '2' } });
  });
  after(async () => {
    if (gw !== undefined) assert.equal(await fleet.stop(gw), 0);
  });

  it('one ready line, two worker processes, connections served by both, one audit file for all', async () => {
    assert.equal(gw.stdout().match(/portcullis listening on/g)?.length, 1);
    assert.equal(workerPids(gw).length, 2);
    const ids: string[] = [];
    // An odd number, so the two workers' counts differ and both can be told apart.
    for (let i = 0; i < 13; i++) ids.push((await sts(gw, gw.admin).send(new GetCallerIdentityCommand({}))).$metadata.requestId!);
    // Each worker counts what it served: two different counts that add up to every request.
    const seen = new Set<number>();
    for (let i = 0; i < 8 && seen.size < 2; i++) seen.add(await countedByOneWorker(gw));
    const counts = [...seen];
    assert.equal(counts.length, 2, `counts seen: ${counts.join(', ')}`);
    assert.equal(counts[0]! + counts[1]!, 13);
    assert.ok(counts.every((n) => n >= 3), `requests per worker: ${counts.join(', ')}`);
    await new Promise((r) => setTimeout(r, 300)); // audit lines travel in 50 ms batches
    const audit = auditText(gw);
    for (const id of ids) assert.ok(audit.includes(id), `request ${id} audited`);
    assert.deepEqual(readdirSync(join(gw.dataDir, 'audit')), ['audit.log']);
  });

  it('a key deactivated through one worker is refused by every worker at once', async () => {
    await iam(gw, gw.admin).send(new CreateUserCommand({ UserName: 'walt' }));
    const key = (await iam(gw, gw.admin).send(new CreateAccessKeyCommand({ UserName: 'walt' }))).AccessKey!;
    const walt = { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    // Both workers look the key up (and keep it for up to a second).
    for (let i = 0; i < 6; i++) assert.equal(await outcome(sts(gw, walt).send(new GetCallerIdentityCommand({}))), 'ok');
    await iam(gw, gw.admin).send(new UpdateAccessKeyCommand({ UserName: 'walt', AccessKeyId: walt.accessKeyId, Status: 'Inactive' }));
    const after = [];
    for (let i = 0; i < 6; i++) after.push(await outcome(sts(gw, walt).send(new GetCallerIdentityCommand({}))));
    assert.deepEqual(after, Array(6).fill('InvalidClientTokenId'));
  });

  it('a worker that dies is replaced, and the node keeps serving', async () => {
    if (!existsSync(`/proc/${gw.proc.pid}`)) assert.fail(gw.stderr());
    const [victim] = workerPids(gw);
    process.kill(victim!, 'SIGKILL');
    await until(() => {
      const pids = workerPids(gw);
      return pids.length === 2 && !pids.includes(victim!);
    }, 10_000, 'a new worker');
    await new Promise((r) => setTimeout(r, 500)); // the new worker bootstraps and listens
    for (let i = 0; i < 6; i++) assert.equal(await outcome(sts(gw, gw.admin).send(new GetCallerIdentityCommand({}))), 'ok');
    assert.match(gw.stderr(), /worker died; starting another/);
  });

  it('SIGTERM stops every worker, writes every audit line, and exits 0', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await sts(gw, gw.admin).send(new GetCallerIdentityCommand({}))).$metadata.requestId!);
    const pids = workerPids(gw);
    const stopped = gw;
    const code = await fleet.stop(gw);
    gw = undefined as unknown as RunningGateway;
    assert.equal(code, 0);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), 'worker gone');
    const audit = auditText(stopped);
    for (const id of ids) assert.ok(audit.includes(id), `request ${id} audited before the exit`);
  });
});

describe('--workers 2: the shared audit file rotates', () => {
  const MAX = 4096;
  const KEEP = 30;

  it('both workers append to it, the primary rotates it, and every request has exactly one whole line', async () => {
    const conf = join(fleet.newDir(), 'portcullis.json');
    writeFileSync(conf, JSON.stringify({ audit: { maxFileBytes: MAX, keepFiles: KEEP } }));
    const gw = await fleet.start({ env: { PORTCULLIS_WORKERS: '2' }, args: ['--config', conf] });
    const ids: string[] = [];
    try {
      // Waves of concurrent calls, each on a new connection: both workers write in the same moments.
      for (let wave = 0; wave < 12; wave++) {
        const replies = await Promise.all(Array.from({ length: 6 }, () => sts(gw, gw.admin).send(new GetCallerIdentityCommand({}))));
        ids.push(...replies.map((r) => r.$metadata.requestId!));
        await new Promise((r) => setTimeout(r, 60)); // past a 50 ms batch
      }
    } finally {
      assert.equal(await fleet.stop(gw), 0);
    }
    const dir = join(gw.dataDir, 'audit');
    const names = readdirSync(dir).sort((a, b) => Number(b.split('.')[2] ?? 0) - Number(a.split('.')[2] ?? 0));
    assert.ok(names.length >= 4, `72 lines of ~450 bytes in 4 KiB files: several rotations, got ${names.join(', ')}`);
    assert.ok(!names.includes(`audit.log.${KEEP}`), 'no file was dropped: nothing was lost to keepFiles');
    const seen: string[] = [];
    for (const name of names) {
      const text = readFileSync(join(dir, name), 'utf8');
      assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, `${name} mode`);
      assert.ok(text.endsWith('\n'), `${name}: ends with a whole line`);
      for (const line of text.slice(0, -1).split('\n')) {
        const event = JSON.parse(line) as { requestId: string };
        seen.push(event.requestId);
      }
      // A rotated file passes the limit by at most what the writers appended before the rotation.
      if (name !== 'audit.log') assert.ok(statSync(join(dir, name)).size < 2 * MAX, `${name} is ${statSync(join(dir, name)).size} bytes`);
    }
    assert.equal(seen.length, ids.length, `${ids.length} requests, ${seen.length} lines`);
    assert.deepEqual([...seen].sort(), [...ids].sort(), 'every request once');
  });
});
