/**
 * The connection pool and transactions for the PostgreSQL store.
 *
 * Isolation: every write that checks something before it changes something (a quota, a
 * conflict, an owner's existence) runs SERIALIZABLE and is retried when PostgreSQL reports a
 * serialization failure or a deadlock. We chose this over row locks on the owning entity
 * (SELECT … FOR UPDATE on the user before counting its keys) because SERIALIZABLE proves every
 * such invariant at once, including ones that span several owners (a user's groups, a policy's
 * attachments and boundaries), where a missing lock would go unnoticed; the price is a retry
 * under contention, which IAM mutations (rare, small) can afford.
 * https://www.postgresql.org/docs/15/transaction-iso.html#XACT-SERIALIZABLE
 */
import pg from 'pg';

/** A pool or one of its clients: what a query runs on. */
export type Queryable = pg.Pool | pg.PoolClient;

/** BIGINT (times in ms, counts) as numbers: every value we keep fits in 2^53. */
const INT8_OID = 20;
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format ?? 'text')) as pg.CustomTypesConfig['getTypeParser'],
};

export interface PoolOptions {
  /** A schema other than the user's default (`search_path`); created when missing. */
  readonly schema?: string | undefined;
  /** Connections in the pool. */
  readonly max?: number | undefined;
  readonly connectionTimeoutMs?: number | undefined;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function createPool(url: string, opts: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: opts.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'portcullis',
    types,
    ...(opts.schema === undefined ? {} : { options: `-c search_path=${quoteIdent(opts.schema)}` }),
  });
  // An idle client that loses its server (restart, failover) emits here; the pool drops it and
  // the next query opens a new one. Without a listener the process would crash.
  pool.on('error', () => undefined);
  return pool;
}

/** The SQLSTATE of a PostgreSQL error, or ''. */
export function sqlState(e: unknown): string {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string' ? (e as { code: string }).code : '';
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization_failure, deadlock_detected

/** How many times a write is tried before its serialization failure reaches the caller. */
const MAX_ATTEMPTS = 30;

/**
 * Runs `fn` in one transaction at `isolation`; retries the whole of it (with jittered
 * back-off) when PostgreSQL says it could not be serialized. `fn` must have no effect outside
 * the database, since it may run more than once.
 */
export async function transaction<T>(
  pool: pg.Pool,
  isolation: 'SERIALIZABLE' | 'REPEATABLE READ READ ONLY',
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const c = await pool.connect();
    let broken: Error | undefined;
    // A checked-out client has no pool listener: a server that ends the session between two
    // queries (restart, pg_terminate_backend) would emit an unhandled 'error' and kill the
    // process. Held here, the error makes the next query fail and the client is dropped.
    const lost = (e: Error) => (broken = e);
    c.on('error', lost);
    try {
      await c.query(`BEGIN ISOLATION LEVEL ${isolation}`);
      const result = await fn(c);
      await c.query('COMMIT');
      return result;
    } catch (e) {
      try {
        await c.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error; // the connection is unusable: drop it from the pool
      }
      if (!RETRYABLE.has(sqlState(e)) || attempt >= MAX_ATTEMPTS) throw e;
    } finally {
      c.off('error', lost);
      c.release(broken);
    }
    await new Promise((r) => setTimeout(r, Math.random() * Math.min(200, 2 ** attempt)));
  }
}
