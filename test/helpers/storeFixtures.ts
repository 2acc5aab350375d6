/** What the store tests share: accounts, a scratch folder for databases, and entity makers. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import type { ManagedPolicy, User } from '../../src/store/types.js';

export const ACCOUNT = '123456789012';
export const OTHER_ACCOUNT = '210987654321';

/** A scratch folder for this test file, removed after it; each call of the result names a new database in it. */
export function databasePaths(prefix: string): () => string {
  let root = '';
  before(() => {
    root = mkdtempSync(join(tmpdir(), `portcullis-${prefix}-store-`));
  });
  after(() => {
    rmSync(root, { recursive: true, force: true });
  });
  let n = 0;
  return () => join(root, `${prefix}-${++n}.db`);
}

export function hex(chars: number): string {
  return randomBytes(chars).toString('hex').toUpperCase().slice(0, chars);
}

export function user(userName: string, accountId = ACCOUNT, path = '/'): User {
  return { accountId, userName, userId: 'AIDA' + hex(17), path, createdAt: 1000 };
}

export type NewPolicy = Omit<ManagedPolicy, 'defaultVersionId' | 'attachmentCount' | 'updatedAt'>;

export function policy(policyName: string, accountId = ACCOUNT, path = '/'): NewPolicy {
  return {
    accountId,
    policyName,
    policyId: 'ANPA' + hex(17),
    path,
    arn: `arn:aws:iam::${accountId}:policy${path}${policyName}`,
    description: `about ${policyName}`,
    createdAt: 1000,
  };
}

export function doc(sid: string): string {
  return JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: sid, Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }] });
}

/** A store at `path` with both test accounts. */
export async function openStoreAt(path: string, sealer = new Sealer([randomBytes(32)])): Promise<SqliteStore> {
  const s = new SqliteStore(path, sealer);
  await s.createAccount({ accountId: ACCOUNT, name: 'test', createdAt: 1 });
  await s.createAccount({ accountId: OTHER_ACCOUNT, name: 'other', createdAt: 2 });
  return s;
}

export async function withUser(s: SqliteStore, name: string, accountId = ACCOUNT, path = '/'): Promise<User> {
  const u = user(name, accountId, path);
  await s.createUser(u);
  return u;
}

/** A count read through a connection of its own (what the database holds, not what the store says). */
/** A database at `path` as migration `version` left it, written without SqliteStore; the caller closes it. */
export function databaseAtVersion(path: string, version: number): Database.Database {
  const raw = new Database(path);
  raw.pragma('foreign_keys = ON');
  raw.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)');
  for (const m of SQLITE_MIGRATIONS.filter((m) => m.version <= version)) {
    raw.transaction(() => {
      raw.exec(m.sql);
      raw.prepare('INSERT INTO schema_migrations (version, applied_at) VALUES (?, 1)').run(m.version);
    })();
  }
  return raw;
}

/** The definitions of every table, index and trigger in the database at `path`. */
export function schemaOf(path: string): unknown {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare('SELECT type, name, sql FROM sqlite_master ORDER BY type, name').all();
  } finally {
    db.close();
  }
}

export function rawCount(path: string, sql: string, ...params: unknown[]): number {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare(sql).pluck().get(...params) as number;
  } finally {
    raw.close();
  }
}

/**
 * Runs `workers` threads against the store at `path`, each with its own connection, released
 * together at a gate. Each makes `job.attempts` calls of `attempt`, the source of an
 * `async (store, d, i) => ...` function (`d` is `job` plus `worker`, the thread's number). An
 * attempt ends as 'ok' or as the name of an error in `allowed`; anything else fails the test.
 */
export async function race(attempt: string, path: string, masterKey: Buffer, workers: number, job: Record<string, unknown>, allowed: readonly string[]): Promise<string[]> {
  const source = `
const { workerData: d, parentPort } = require('node:worker_threads');
(async () => {
  const { SqliteStore } = await import(d.storeUrl);
  const { Sealer } = await import(d.sealUrl);
  const store = new SqliteStore(d.path, new Sealer([Buffer.from(d.masterKey, 'hex')]));
  const attempt = ${attempt};
  const gate = new Int32Array(d.gate);
  Atomics.add(gate, 1, 1);
  Atomics.wait(gate, 0, 0);
  const outcomes = [];
  for (let i = 0; i < d.attempts; i++) {
    try {
      await attempt(store, d, i);
      outcomes.push('ok');
    } catch (e) {
      outcomes.push(e && d.allowed.includes(e.name) ? e.name : String(e && e.stack || e));
    }
  }
  await store.close();
  parentPort.postMessage(outcomes);
})().catch((e) => parentPort.postMessage(['crashed: ' + (e && e.stack || e)]));
`;
  const gate = new SharedArrayBuffer(8);
  const flags = new Int32Array(gate);
  const results = Array.from({ length: workers }, (_, w) => {
    const worker = new Worker(source, {
      eval: true,
      workerData: {
        ...job,
        worker: w,
        allowed,
        path,
        masterKey: masterKey.toString('hex'),
        gate,
        storeUrl: new URL('../../src/store/sqlite/sqliteStore.js', import.meta.url).href,
        sealUrl: new URL('../../src/store/seal.js', import.meta.url).href,
      },
    });
    return new Promise<string[]>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
  });
  while (Atomics.load(flags, 1) < workers) await new Promise((r) => setTimeout(r, 5));
  Atomics.store(flags, 0, 1);
  Atomics.notify(flags, 0);
  const outcomes = (await Promise.all(results)).flat();
  for (const o of outcomes) assert.ok(o === 'ok' || allowed.includes(o), `unexpected outcome: ${o}`);
  return outcomes;
}
