/**
 * Requests per second of one node with 1 and 2 worker processes, on the SQLite store and on the
 * PostgreSQL store, in one run. The request is sts:GetAccessKeyInfo signed by the administrator:
 * it is authenticated (credential lookup) and authorized (the principal's policies) on every
 * call, and both answers come from the per-process caches, so the store's speed should barely
 * show; the figures say whether it does.
 *
 * Load comes from wrk over keep-alive TLS, targets alternating round by round. PostgreSQL rows
 * are skipped when no server answers at PORTCULLIS_BENCH_PG_URL (default 127.0.0.1:5432);
 * each run uses a database of its own, dropped afterwards. BENCH_QUICK=1 makes it a smoke run.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Signer } from '../src/sigv4/sign.js';
import { startGateway, type RunningGateway } from '../test/helpers/gateway.js';

const PG_URL = process.env['PORTCULLIS_BENCH_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

function wrkRps(url: string, script: string, seconds: number): number {
  const out = execFileSync('wrk', ['-t1', '-c32', `-d${seconds}s`, '-s', script, url], { encoding: 'utf8', timeout: (seconds + 30) * 1000 });
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (!Number.isFinite(rps)) throw new Error(`could not read wrk's output:\n${out}`);
  if (non2xx > 0) throw new Error(`the gateway refused ${non2xx} benchmark requests`);
  return rps;
}

async function onServer(sql: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: `${PG_URL}/postgres`, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query(sql);
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

interface Target {
  readonly name: string;
  readonly gw: RunningGateway;
  readonly script: string;
}

export async function benchWorkers(): Promise<void> {
  if (spawnSync('wrk', ['--version']).error) {
    console.log('workers: skipped, wrk is not installed (apt-get install wrk)');
    return;
  }
  const quick = process.env['BENCH_QUICK'] === '1';
  const seconds = quick ? 1 : 3;
  const rounds = quick ? 1 : 3;
  const work = mkdtempSync(join(tmpdir(), 'portcullis-bench-workers-'));
  const database = `portcullis_bench_${process.pid}_${randomBytes(3).toString('hex')}`;
  const havePg = await onServer(`CREATE DATABASE ${database}`);
  const targets: Target[] = [];
  try {
    const masterKey = randomBytes(32).toString('base64');
    const stores: { label: string; args: string[] }[] = [{ label: 'sqlite', args: [] }];
    if (havePg) stores.push({ label: 'postgres', args: ['--store', `${PG_URL}/${database}`] });
    else console.log(`workers: PostgreSQL rows skipped, no server at ${PG_URL}`);
    for (const store of stores) {
      // Both worker counts share one data dir and store, one after the other.
      const dataDir = join(work, store.label);
      for (const workers of [1, 2]) {
        const gw = await startGateway({ dataDir, args: store.args, env: { PORTCULLIS_MASTER_KEY: masterKey, PORTCULLIS_WORKERS: String(workers) } });
        const url = new URL(gw.url);
        const body = `Action=GetAccessKeyInfo&Version=2011-06-15&AccessKeyId=${gw.admin.accessKeyId}`;
        const signed = new Signer().sign(
          { method: 'POST', path: '/', headers: { host: url.host, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body },
          { credentials: gw.admin, region: 'us-east-1', service: 'sts' },
        );
        const lines = ['wrk.method = "POST"', `wrk.body = ${JSON.stringify(body)}`];
        for (const [k, v] of Object.entries(signed.headers)) if (k !== 'host') lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
        const script = join(work, `${store.label}-${workers}.lua`);
        writeFileSync(script, lines.join('\n') + '\n');
        targets.push({ name: `${store.label}, ${workers} worker${workers > 1 ? 's' : ''}`, gw, script });
      }
    }
    for (const t of targets) wrkRps(`${t.gw.url}/`, t.script, 1); // warm up
    const samples = targets.map(() => [] as number[]);
    for (let r = 0; r < rounds; r++) targets.forEach((t, i) => samples[i]!.push(wrkRps(`${t.gw.url}/`, t.script, seconds)));
    const medians = samples.map((s) => s.sort((a, b) => a - b)[Math.floor(s.length / 2)]!);
    const base = medians[0]!;
    console.log(`workers: signed, authorized GetAccessKeyInfo requests/s (wrk, 32 keep-alive TLS connections, ${rounds}x${seconds}s)`);
    targets.forEach((t, i) => {
      console.log(`  ${t.name.padEnd(22)} ${Math.round(medians[i]!).toLocaleString('en-US').padStart(10)} /s   ${(medians[i]! / base).toFixed(2)} of sqlite, 1 worker`);
    });
  } finally {
    for (const t of targets) await t.gw.stop();
    rmSync(work, { recursive: true, force: true });
    if (havePg) await onServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}
