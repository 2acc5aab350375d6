/**
 * `npm run soak [-- --seconds N] [--store postgres://…] [--faults]`: mixed load against one gateway
 * process for a bounded time, then checks: no unexpected answer, resident memory and open file
 * descriptors of the gateway within a bound of their start, repeated failed signatures
 * throttled, and one audit event for every request made. Prints its figures; exits non-zero on
 * any failure.
 *
 * Kinds: GetCallerIdentity (header-signed), the same presigned (GET), AssumeRole and calls with
 * its temporary credentials, IAM reads (ListUsers, GetUser), IAM writes (CreateUser + tags,
 * DeleteUser), and failures (a wrong secret from another source address, throttled after a few).
 *
 * `--faults` then runs the fault tests at length (test/adversarial/faults-*.test.js: 20 kill -9
 * rounds, and a real PostgreSQL cluster restart with pg_ctlcluster): only where nothing else
 * uses the local PostgreSQL server.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Signer } from '../src/sigv4/sign.js';
import { startGateway, type RunningGateway } from '../test/helpers/gateway.js';
import type { Creds, Reply } from '../test/helpers/signedRequest.js';
import { auditEvents, badSecret, errorCode, openFds, rssKiB, send, signedQuery } from '../test/adversarial/abuse-helpers.js';

interface Options {
  seconds: number;
  store: string | undefined;
  faults: boolean;
  clients: number;
  /** Allowed growth of the gateway's RSS from after warm-up to the end, MiB. */
  rssGrowthMiB: number;
  fdGrowth: number;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { seconds: 60, store: undefined, faults: false, clients: 4, rssGrowthMiB: 64, fdGrowth: 32 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--seconds') o.seconds = Number(next());
    else if (a === '--store') o.store = next();
    else if (a === '--faults') o.faults = true;
    else if (a === '--clients') o.clients = Number(next());
    else if (a === '--rss-growth-mib') o.rssGrowthMiB = Number(next());
    else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isFinite(o.seconds) || o.seconds <= 0 || o.seconds > 24 * 3600) throw new Error('--seconds must be 1..86400');
  if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > 64) throw new Error('--clients must be 1..64');
  return o;
}

const V_IAM = 'Version=2010-05-08';
const signer = new Signer();
const ATTACKER = '127.0.0.77';
/** Throttling settings for the soak: a few failures, short blocks, so both outcomes are seen. */
const AUTH_FAILURES = { perSourceKey: 5, perSource: 50, perKey: 1000, windowMs: 10_000, blockMs: 2_000, maxTracked: 10_000 };

type Kind = 'GetCallerIdentity' | 'Presigned' | 'AssumeRole' | 'TempCredentials' | 'IamRead' | 'IamWrite' | 'BadSignature';

interface Stats {
  count: Map<Kind, number>;
  throttled: number;
  unexpected: string[];
  requestIds: string[];
  latencyMs: number[];
}

function field(body: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]+)</${name}>`).exec(body)?.[1];
}

function presignedPath(gw: RunningGateway, creds: Creds): string {
  const host = new URL(gw.url).host;
  const p = signer.presign(
    { method: 'GET', path: '/', query: 'Action=GetCallerIdentity&Version=2011-06-15', headers: { host } },
    { credentials: creds, region: 'us-east-1', service: 'sts', expiresIn: 300 },
  );
  return p.target;
}

async function setUp(gw: RunningGateway): Promise<{ roleArn: string }> {
  const accountId = field((await signedQuery(gw, gw.admin)).body, 'Account')!;
  const trust = encodeURIComponent(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: 'sts:AssumeRole' }] }));
  const r = await signedQuery(gw, gw.admin, { service: 'iam', body: `Action=CreateRole&RoleName=soak&AssumeRolePolicyDocument=${trust}&${V_IAM}` });
  if (r.status !== 200) throw new Error(`CreateRole: ${r.status} ${r.body}`);
  return { roleArn: field(r.body, 'Arn')! };
}

async function client(gw: RunningGateway, id: number, roleArn: string, until: number, stats: Stats): Promise<void> {
  let temp: Creds | undefined;
  const kinds: Kind[] = ['GetCallerIdentity', 'Presigned', 'AssumeRole', 'TempCredentials', 'IamRead', 'IamWrite', 'BadSignature'];
  for (let i = 0; Date.now() < until; i++) {
    const kind = kinds[(i + id) % kinds.length]!;
    const started = Date.now();
    let r: Reply;
    let ok: (r: Reply) => boolean = (x) => x.status === 200;
    try {
      switch (kind) {
        case 'GetCallerIdentity':
          r = await signedQuery(gw, gw.admin);
          break;
        case 'Presigned':
          r = await send(gw, { method: 'GET', path: presignedPath(gw, gw.admin) });
          break;
        case 'AssumeRole':
          r = await signedQuery(gw, gw.admin, { body: `Action=AssumeRole&RoleArn=${encodeURIComponent(roleArn)}&RoleSessionName=soak${id}&Version=2011-06-15` });
          if (r.status === 200) temp = { accessKeyId: field(r.body, 'AccessKeyId')!, secretAccessKey: field(r.body, 'SecretAccessKey')!, sessionToken: field(r.body, 'SessionToken')! };
          break;
        case 'TempCredentials':
          if (temp === undefined) continue;
          r = await signedQuery(gw, temp);
          break;
        case 'IamRead':
          r = await signedQuery(gw, gw.admin, { service: 'iam', body: i % 2 === 0 ? `Action=ListUsers&${V_IAM}` : `Action=GetUser&UserName=admin&${V_IAM}` });
          break;
        case 'IamWrite': {
          const name = `soak-${id}-${i}`;
          r = await signedQuery(gw, gw.admin, { service: 'iam', body: `Action=CreateUser&UserName=${name}&Tags.member.1.Key=soak&Tags.member.1.Value=${id}&${V_IAM}` });
          if (r.status === 200) {
            stats.requestIds.push(String(r.headers['x-amzn-requestid']));
            r = await signedQuery(gw, gw.admin, { service: 'iam', body: `Action=DeleteUser&UserName=${name}&${V_IAM}` });
          }
          break;
        }
        case 'BadSignature':
          r = await signedQuery(gw, badSecret(gw.admin), { source: ATTACKER });
          ok = (x) => (x.status === 403 && errorCode(x.body) === 'SignatureDoesNotMatch') || (x.status === 400 && errorCode(x.body) === 'Throttling');
          if (errorCode(r.body) === 'Throttling') stats.throttled++;
          break;
      }
    } catch (e) {
      stats.unexpected.push(`${kind}: no answer: ${(e as Error).message}`);
      continue;
    }
    stats.latencyMs.push(Date.now() - started);
    stats.count.set(kind, (stats.count.get(kind) ?? 0) + 1);
    stats.requestIds.push(String(r.headers['x-amzn-requestid']));
    if (!ok(r)) stats.unexpected.push(`${kind}: ${r.status} ${r.body.slice(0, 300)}`);
  }
}

function mib(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const conf = mkdtempSync(join(tmpdir(), 'portcullis-soak-conf-'));
  const config = join(conf, 'portcullis.json');
  writeFileSync(config, JSON.stringify({ limits: { authFailures: AUTH_FAILURES } }));
  const gw = await startGateway({ args: ['--config', config, ...(o.store ? ['--store', o.store] : [])], timeoutMs: 60_000 });
  const failures: string[] = [];
  try {
    const pid = gw.proc.pid!;
    const { roleArn } = await setUp(gw);
    const stats: Stats = { count: new Map(), throttled: 0, unexpected: [], requestIds: [], latencyMs: [] };
    // Warm-up: caches, JIT, TLS session state; memory is measured from its end.
    await Promise.all(Array.from({ length: o.clients }, (_, c) => client(gw, c, roleArn, Date.now() + Math.min(5_000, o.seconds * 100), stats)));
    const start = { rss: rssKiB(pid), fds: openFds(pid), at: Date.now() };
    let peakRss = start.rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssKiB(pid))), 1000);
    await Promise.all(Array.from({ length: o.clients }, (_, c) => client(gw, c, roleArn, start.at + o.seconds * 1000, stats)));
    clearInterval(sampler);
    const end = { rss: rssKiB(pid), fds: openFds(pid) };
    const metrics = (await send(gw, { method: 'GET', path: '/_portcullis/metrics' })).body;
    const throttledMetric = [...metrics.matchAll(/^portcullis_auth_throttled_total\{scope="([^"]+)"\} (\d+)$/gm)].map((m) => `${m[1]}=${m[2]}`).join(' ');
    const code = await gw.stop();
    if (code !== 0) failures.push(`the gateway exited with ${code} on SIGTERM`);

    // Every request made has its audit event (the file is flushed at shutdown).
    const audited = new Map<string, number>();
    for (const e of auditEvents(gw.dataDir)) audited.set(e.requestId, (audited.get(e.requestId) ?? 0) + 1);
    const missing = stats.requestIds.filter((id) => audited.get(id) !== 1);

    const total = [...stats.count.values()].reduce((a, b) => a + b, 0);
    const sorted = [...stats.latencyMs].sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    console.log(`soak: ${o.seconds} s, ${o.clients} clients, store ${o.store ? 'postgres' : 'sqlite'}`);
    for (const [kind, n] of [...stats.count].sort()) console.log(`  ${kind.padEnd(18)} ${n}`);
    console.log(`  ${'total'.padEnd(18)} ${total} (${(total / o.seconds).toFixed(0)}/s), latency p50 ${p(0.5)} ms, p99 ${p(0.99)} ms`);
    console.log(`  throttled attempts ${stats.throttled} (metric: ${throttledMetric || 'none'})`);
    console.log(`  errors (unexpected answers) ${stats.unexpected.length}`);
    console.log(`  gateway RSS start ${mib(start.rss)}, end ${mib(end.rss)}, peak ${mib(peakRss)}; open fds start ${start.fds}, end ${end.fds}`);
    console.log(`  audit events: ${stats.requestIds.length} requests, ${stats.requestIds.length - missing.length} audited exactly once`);

    if (stats.unexpected.length > 0) failures.push(`${stats.unexpected.length} unexpected answers, e.g.\n    ${stats.unexpected.slice(0, 5).join('\n    ')}`);
    if (end.rss - start.rss > o.rssGrowthMiB * 1024) failures.push(`RSS grew by ${mib(end.rss - start.rss)} (bound ${o.rssGrowthMiB} MiB)`);
    if (end.fds - start.fds > o.fdGrowth) failures.push(`open fds grew by ${end.fds - start.fds} (bound ${o.fdGrowth})`);
    if (missing.length > 0) failures.push(`${missing.length} requests without exactly one audit event, e.g. ${missing.slice(0, 3).join(', ')}`);
    if (stats.throttled === 0) failures.push('no failed-signature attempt was throttled');
    for (const k of ['GetCallerIdentity', 'Presigned', 'AssumeRole', 'TempCredentials', 'IamRead', 'IamWrite', 'BadSignature'] as const) {
      if ((stats.count.get(k) ?? 0) === 0) failures.push(`no ${k} request was made`);
    }
  } finally {
    if (gw.proc.exitCode === null) await gw.kill9();
    rmSync(gw.dataDir, { recursive: true, force: true });
    rmSync(conf, { recursive: true, force: true });
  }

  if (o.faults) {
    console.log('soak: fault tests at length (20 kill -9 rounds, a PostgreSQL cluster restart)');
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', 'dist/test/adversarial/faults-kill9.test.js', 'dist/test/adversarial/faults-disk.test.js', 'dist/test/adversarial/faults-postgres.test.js'], {
      stdio: 'inherit',
      env: { ...process.env, PORTCULLIS_KILL9_ROUNDS: '20', PORTCULLIS_PG_RESTART: '1' },
    });
    if (r.status !== 0) failures.push('the fault tests failed');
  }

  for (const f of failures) console.error(`soak: FAIL: ${f}`);
  console.log(failures.length === 0 ? 'soak: ok' : `soak: ${failures.length} failure(s)`);
  return failures.length === 0 ? 0 : 1;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error('soak: could not run:', e);
  return 2;
});
