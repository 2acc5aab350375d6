/**
 * Applies the PostgreSQL migrations. Several nodes may start at once against one database:
 * each takes the same session advisory lock first, so one applies what is missing while the
 * others wait, then find nothing left to do.
 * https://www.postgresql.org/docs/15/explicit-locking.html#ADVISORY-LOCKS
 */
import type pg from 'pg';
import { PG_MIGRATIONS } from './migrations.js';
import { quoteIdent } from './pool.js';

/** The advisory lock key: a fixed number, salted by the schema so two schemas do not wait on each other. */
const LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended('portcullis.migrate.' || current_schema(), 0))";
const UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended('portcullis.migrate.' || current_schema(), 0))";

export async function migrate(pool: pg.Pool, schema: string | undefined): Promise<void> {
  const c = await pool.connect();
  let broken: Error | undefined;
  const lost = (e: Error) => (broken = e); // see transaction() in pool.ts
  c.on('error', lost);
  try {
    // IF NOT EXISTS still races when two nodes create the same schema: serialize that on a
    // lock of its own, before the schema (and so current_schema()) exists.
    if (schema !== undefined) {
      await c.query("SELECT pg_advisory_lock(hashtextextended('portcullis.schema', 0))");
      try {
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(schema)}`);
      } finally {
        await c.query("SELECT pg_advisory_unlock(hashtextextended('portcullis.schema', 0))");
      }
    }
    await c.query(LOCK_SQL);
    try {
      await c.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const done = new Set((await c.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
      for (const m of PG_MIGRATIONS) {
        if (done.has(m.version)) continue;
        await c.query('BEGIN');
        try {
          await c.query(m.sql);
          await c.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [m.version, Date.now()]);
          await c.query('COMMIT');
        } catch (e) {
          await c.query('ROLLBACK');
          throw e;
        }
      }
    } finally {
      await c.query(UNLOCK_SQL);
    }
  } catch (e) {
    broken = e as Error;
    throw e;
  } finally {
    // A session lock dies with its connection; on any failure the connection is dropped, so no
    // lock can outlive a failed migration.
    c.off('error', lost);
    c.release(broken);
  }
}
