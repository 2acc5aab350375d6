/**
 * Opens a test store at a location: a file path for SQLite, or `URL#SCHEMA` for PostgreSQL
 * (each test store gets a schema of its own in the test file's database). Free of node:test,
 * so worker threads can import it.
 */
import { PostgresStore } from '../../src/store/postgres/postgresStore.js';
import type { Sealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import type { Store } from '../../src/store/types.js';

export type BackendKind = 'sqlite' | 'postgres';

/** What the store tests call: the contract, with the groups quota both stores take as an option. */
export type TestStore = Store & {
  addUserToGroup(groupId: string, userId: string, maxGroupsPerUser?: number): Promise<void>;
};

export function splitLocation(location: string): { url: string; schema: string | undefined } {
  const hash = location.lastIndexOf('#');
  return hash < 0 ? { url: location, schema: undefined } : { url: location.slice(0, hash), schema: location.slice(hash + 1) };
}

export async function openLocation(kind: BackendKind, location: string, sealer: Sealer): Promise<TestStore> {
  if (kind === 'sqlite') return new SqliteStore(location, sealer);
  const { url, schema } = splitLocation(location);
  return PostgresStore.open(url, sealer, { schema, max: 4 });
}
