/**
 * storeUnavailable: which real failures of the stores mean "out of reach for now" (answered
 * ServiceUnavailable) and which do not (InternalFailure). Every error here is raised by a real
 * PostgreSQL server, the real pg client or a real SQLite file, not built by hand.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import pg from 'pg';
import { storeUnavailable } from '../../src/store/unavailable.js';
import { onServer, postgresSuite, testDatabase } from '../helpers/storeFixtures.js';

async function caught(f: () => unknown): Promise<unknown> {
  try {
    await f();
  } catch (e) {
    return e;
  }
  assert.fail('expected a failure');
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return assert.fail('expected a failure');
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('storeUnavailable, SQLite', () => {
  it('a database locked by another connection past the busy timeout is unavailable; a constraint, a syntax error and a read-only file are not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-unavailable-'));
    try {
      const file = join(dir, 'x.db');
      const a = new Database(file);
      a.exec('CREATE TABLE t (k TEXT PRIMARY KEY)');
      const b = new Database(file, { timeout: 0 });
      a.exec('BEGIN EXCLUSIVE');
      const busy = thrown(() => b.prepare("INSERT INTO t VALUES ('x')").run());
      a.exec('COMMIT');
      assert.match((busy as { code?: string }).code ?? '', /^SQLITE_BUSY/);
      assert.equal(storeUnavailable(busy), true);

      a.prepare("INSERT INTO t VALUES ('y')").run();
      const constraint = thrown(() => a.prepare("INSERT INTO t VALUES ('y')").run());
      assert.match((constraint as { code?: string }).code ?? '', /^SQLITE_CONSTRAINT/);
      assert.equal(storeUnavailable(constraint), false);

      assert.equal(storeUnavailable(thrown(() => a.exec('SELEC 1'))), false);

      const ro = new Database(file, { readonly: true });
      const readonly = thrown(() => ro.prepare("INSERT INTO t VALUES ('z')").run());
      assert.match((readonly as { code?: string }).code ?? '', /^SQLITE_READONLY/);
      assert.equal(storeUnavailable(readonly), false);
      for (const d of [a, b, ro]) d.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('what is not an error of a store is not unavailable', () => {
    assert.equal(storeUnavailable(new TypeError("Cannot read properties of undefined (reading 'x')")), false);
    assert.equal(storeUnavailable('ECONNREFUSED'), false);
    assert.equal(storeUnavailable(undefined), false);
    assert.equal(storeUnavailable({ code: 'ECONNREFUSED', message: 'not an Error' }), false);
  });
});

describe('storeUnavailable, the pg client', () => {
  it('a refused connection is unavailable', async () => {
    const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${await closedPort()}/x`, connectionTimeoutMillis: 5000 });
    const e = await caught(() => c.connect());
    assert.equal((e as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(storeUnavailable(e), true);
  });

  it('a host name whose every address refuses (one error per address) is unavailable', async () => {
    // What net.connect gives when it tries each address of a name in turn; built from real refusals.
    const port = await closedPort();
    const refusals = await Promise.all(['127.0.0.1', '127.0.0.2'].map((host) => caught(() => new pg.Client({ connectionString: `postgres://postgres@${host}:${port}/x` }).connect())));
    assert.equal(storeUnavailable(new AggregateError(refusals, '')), true);
    assert.equal(storeUnavailable(new AggregateError([new TypeError('x')], '')), false);
  });

  it('a server that never answers the connection is unavailable (the client gives up)', async () => {
    // A listener that accepts and says nothing: the pg client times out on its own.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${(silent.address() as { port: number }).port}/x`, connectionTimeoutMillis: 300 });
      pool.on('error', () => undefined);
      const e = await caught(() => pool.query('SELECT 1'));
      assert.equal(storeUnavailable(e), true, String(e));
      await pool.end();
    } finally {
      silent.close();
    }
  });
});

await postgresSuite(async () => {
  describe('storeUnavailable, a real PostgreSQL server', () => {
    const database = testDatabase('unavailable');

    it('a session the server ends (57P01) and a database that takes no connections are unavailable', async () => {
      const url = database();
      const name = new URL(url).pathname.slice(1);
      const c = new pg.Client({ connectionString: url });
      c.on('error', () => undefined);
      await c.connect();
      const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const ended = caught(() => c.query('SELECT pg_sleep(10)'));
      await new Promise((r) => setTimeout(r, 200));
      await onServer(`SELECT pg_terminate_backend(${pid})`);
      const e = await ended;
      assert.equal(storeUnavailable(e), true, `${(e as { code?: string }).code} ${String(e)}`);
      await c.end().catch(() => undefined);

      await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      try {
        const refused = await caught(() => new pg.Client({ connectionString: url }).connect());
        assert.equal((refused as { code?: string }).code, '55000');
        assert.equal(storeUnavailable(refused), true, String(refused));
      } finally {
        await onServer(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      }
    });

    it('errors of the request itself are not: a syntax error, a unique violation, a missing table, a serialization failure', async () => {
      const c = new pg.Client({ connectionString: database() });
      await c.connect();
      try {
        await c.query('CREATE TABLE u (k TEXT PRIMARY KEY)');
        await c.query("INSERT INTO u VALUES ('a')");
        for (const sql of ['SELEC 1', "INSERT INTO u VALUES ('a')", 'SELECT * FROM nowhere']) {
          const e = await caught(() => c.query(sql));
          assert.equal(storeUnavailable(e), false, `${sql}: ${String(e)}`);
        }
        const other = new pg.Client({ connectionString: database() });
        await other.connect();
        try {
          // Two SERIALIZABLE transactions that each read what the other writes: one must fail with 40001.
          await c.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
          await other.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
          await c.query('SELECT count(*) FROM u');
          await other.query('SELECT count(*) FROM u');
          await c.query("INSERT INTO u VALUES ('b')");
          await other.query("INSERT INTO u VALUES ('c')");
          await c.query('COMMIT');
          const e = await caught(() => other.query('COMMIT'));
          assert.equal((e as { code?: string }).code, '40001');
          assert.equal(storeUnavailable(e), false);
        } finally {
          await other.query('ROLLBACK').catch(() => undefined);
          await other.end();
        }
      } finally {
        await c.end();
      }
    });
  });
});
