/** What the store tests share: accounts, a scratch folder for databases, and entity makers. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
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
export function rawCount(path: string, sql: string, ...params: unknown[]): number {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare(sql).pluck().get(...params) as number;
  } finally {
    raw.close();
  }
}
