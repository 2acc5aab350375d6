/**
 * What the store tests share: accounts, scratch databases, entity makers, raw counts and the
 * race harness, for whichever store the file runs against. A test file runs against SQLite;
 * its twin under test/store/postgres/ calls `postgresSuite`, which switches every helper here
 * to PostgreSQL and then loads the same file, so one suite checks both stores.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { openToken, sealToken, type TokenKey } from '../../src/sts/token.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import type { ManagedPolicy, User } from '../../src/store/types.js';
import pg from 'pg';
import { type BackendKind, openLocation, splitLocation, type TestStore } from './storeOpen.js';

export type { TestStore } from './storeOpen.js';

let backend: BackendKind = 'sqlite';

/** The store this test file runs against. */
export function storeBackend(): BackendKind {
  return backend;
}

/** Where the PostgreSQL tests find a server (trust auth, a user that may create databases). */
export const TEST_PG_URL = process.env['PORTCULLIS_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432';

/** A describe that exists only for one store (schema upgrades, file modes…); never a skip. */
export function describeFor(kind: BackendKind, name: string, fn: () => void): void {
  if (backend === kind) describe(name, fn);
}

async function pgReachable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: `${TEST_PG_URL}/postgres`, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/**
 * Runs a store test file against PostgreSQL. Without a server it fails under CI=true (CI must
 * run this suite) and is reported as skipped elsewhere, never as passed.
 */
export async function postgresSuite(load: () => Promise<unknown>): Promise<void> {
  const problem = await pgReachable();
  if (problem !== undefined) {
    if (process.env['CI'] === 'true') {
      test('PostgreSQL is reachable (required under CI=true)', () => {
        throw new Error(`cannot reach PostgreSQL at ${TEST_PG_URL}: ${problem}`);
      });
    } else {
      test('PostgreSQL store suite', { skip: `no PostgreSQL at ${TEST_PG_URL} (${problem}); CI=true makes this a failure` }, () => undefined);
    }
    return;
  }
  backend = 'postgres';
  await load();
}

/** Runs `sql` on a short-lived connection to the server's `postgres` database (CREATE/DROP DATABASE, pg_terminate_backend). */
export async function onServer(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: `${TEST_PG_URL}/postgres`, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A database of its own for one test process: never shared with a concurrent run. */
export function uniqueDatabaseName(prefix: string): string {
  return `portcullis_t_${prefix.replace(/[^a-z0-9]/gi, '').toLowerCase()}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Creates a database for this test file, dropped after it; returns its URL. */
export function testDatabase(prefix: string): () => string {
  const name = uniqueDatabaseName(prefix);
  before(() => onServer(`CREATE DATABASE ${name}`));
  after(() => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  return () => `${TEST_PG_URL}/${name}`;
}

export const ACCOUNT = '123456789012';
export const OTHER_ACCOUNT = '210987654321';

/**
 * Scratch space for this test file, removed after it; each call of the result names a new, empty
 * store location in it: a file (SQLite) or a schema in the file's own database (PostgreSQL).
 */
export function databasePaths(prefix: string): () => string {
  if (backend === 'postgres') {
    const url = testDatabase(prefix);
    let n = 0;
    return () => `${url()}#s${++n}`;
  }
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

/** The store at `path`, as it is (opening it applies the migrations). */
export function openBare(path: string, sealer = new Sealer([randomBytes(32)])): Promise<TestStore> {
  return openLocation(backend, path, sealer);
}

/** A store at `path` with both test accounts. */
export async function openStoreAt(path: string, sealer = new Sealer([randomBytes(32)])): Promise<TestStore> {
  const s = await openBare(path, sealer);
  await s.createAccount({ accountId: ACCOUNT, name: 'test', createdAt: 1 });
  await s.createAccount({ accountId: OTHER_ACCOUNT, name: 'other', createdAt: 2 });
  return s;
}

export async function withUser(s: TestStore, name: string, accountId = ACCOUNT, path = '/'): Promise<User> {
  const u = user(name, accountId, path);
  await s.createUser(u);
  return u;
}

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

/**
 * A count read through a connection of its own (what the database holds, not what the store
 * says). `sql` takes `?` parameters, as SQLite does; they become `$n` for PostgreSQL.
 */
export async function rawCount(path: string, sql: string, ...params: unknown[]): Promise<number> {
  if (backend === 'postgres') {
    const { url, schema } = splitLocation(path);
    const c = new pg.Client({ connectionString: url, ...(schema === undefined ? {} : { options: `-c search_path=${schema}` }) });
    await c.connect();
    try {
      let i = 0;
      const r = await c.query<{ n: string }>(sql.replace(/\?/g, () => `$${++i}`).replace(/^SELECT COUNT\(\*\)/i, 'SELECT COUNT(*) AS n'), params);
      return Number(r.rows[0]?.n);
    } finally {
      await c.end();
    }
  }
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare(sql).pluck().get(...params) as number;
  } finally {
    raw.close();
  }
}

/**
 * Runs `workers` threads against the store at `path`, each with its own connection (its own
 * pool, for PostgreSQL), released
 * together at a gate. Each makes `job.attempts` calls of `attempt`, the source of an
 * `async (store, d, i) => ...` function (`d` is `job` plus `worker`, the thread's number). An
 * attempt ends as 'ok' or as the name of an error in `allowed`; anything else fails the test.
 */
export async function race(attempt: string, path: string, masterKey: Buffer, workers: number, job: Record<string, unknown>, allowed: readonly string[]): Promise<string[]> {
  const source = `
const { workerData: d, parentPort } = require('node:worker_threads');
(async () => {
  const { openLocation } = await import(d.openUrl);
  const { Sealer } = await import(d.sealUrl);
  const store = await openLocation(d.kind, d.path, new Sealer([Buffer.from(d.masterKey, 'hex')]));
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
        kind: backend,
        openUrl: new URL('./storeOpen.js', import.meta.url).href,
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

/** Seals a sample session token with `key` and opens it with `keys`: true when it opens. */
export function openSealToken(key: TokenKey, keys: readonly TokenKey[]): boolean {
  const now = Date.UTC(2026, 0, 1);
  const token = sealToken({
    accessKeyId: 'ASIAAAAABBBBCCCCDDDD', secretAccessKey: 'secret',
    principal: { type: 'user-session', accountId: ACCOUNT, userId: 'AIDAX', userName: 'u', userPath: '/' },
    issuedAt: now, expiresAt: now + 3600_000, sessionPolicies: [], tags: {}, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
  }, key);
  return openToken(token, keys) !== undefined;
}
