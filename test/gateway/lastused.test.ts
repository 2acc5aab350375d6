/**
 * Access-key last use (SPEC §2, IAM "last used"): remembered in memory and written in batches,
 * so a request never costs a database write; flushed on a timer and on SIGTERM.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import Database from 'better-sqlite3';
import { Sealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import type { LastUse } from '../../src/store/types.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { stsClient } from '../helpers/sdk.js';

const { newDir, start, stop } = gatewayFleet('lastused');

async function startWith(flushMs: number): Promise<{ gw: RunningGateway; masterKey: string }> {
  const dir = newDir();
  const masterKey = randomBytes(32).toString('base64');
  const config = join(newDir(), 'portcullis.json');
  writeFileSync(config, JSON.stringify({ lastUsedFlushMs: flushMs }));
  const gw = await start({ dataDir: dir, env: { PORTCULLIS_MASTER_KEY: masterKey }, args: ['--config', config] });
  return { gw, masterKey };
}

/** Reads a key's last use through a store of our own on the gateway's database. */
async function lastUsed(gw: RunningGateway, masterKey: string, accessKeyId: string): Promise<LastUse | undefined> {
  const store = new SqliteStore(join(gw.dataDir, 'portcullis.db'), new Sealer([Buffer.from(masterKey, 'base64')]));
  try {
    const k = await store.getAccessKey(accessKeyId);
    assert.ok(k, 'the key is in the store');
    return k.lastUsed;
  } finally {
    await store.close();
  }
}

async function call(gw: RunningGateway): Promise<void> {
  const client = stsClient(gw.url, gw.caPem, gw.admin);
  try {
    await client.send(new GetCallerIdentityCommand({}));
  } finally {
    client.destroy();
  }
}

describe('access key last use', () => {
  it('is written within about a second with lastUsedFlushMs=200: time, service sts, region us-east-1', async () => {
    const { gw, masterKey } = await startWith(200);
    try {
      assert.equal(await lastUsed(gw, masterKey, gw.admin.accessKeyId), undefined, 'no use before the first request');
      const before = Date.now();
      await call(gw);
      const afterCall = Date.now();
      let use: LastUse | undefined;
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline) {
        use = await lastUsed(gw, masterKey, gw.admin.accessKeyId);
        if (use !== undefined) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(use, 'last use recorded within 1 s');
      assert.equal(use.service, 'sts');
      assert.equal(use.region, 'us-east-1');
      assert.ok(use.at >= before && use.at <= afterCall, `time of use ${use.at} is the request's (${before}..${afterCall})`);

      // a later request moves it forward
      await new Promise((r) => setTimeout(r, 20));
      const before2 = Date.now();
      await call(gw);
      let use2: LastUse | undefined;
      const deadline2 = Date.now() + 1000;
      while (Date.now() < deadline2) {
        use2 = await lastUsed(gw, masterKey, gw.admin.accessKeyId);
        if (use2 !== undefined && use2.at > use.at) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(use2 && use2.at > use.at, 'the later use replaces the earlier one');
      assert.ok(use2.at >= before2);
    } finally {
      assert.equal(await stop(gw), 0);
    }
  });

  it('costs no database write per request, and the latest use is flushed on SIGTERM', async () => {
    // a flush interval far longer than the test: only the shutdown flush can write
    const { gw, masterKey } = await startWith(600_000);
    const db = join(gw.dataDir, 'portcullis.db');
    const watcher = new Database(db, { readonly: true });
    try {
      // PRAGMA data_version changes when another connection commits to the file.
      const version = () => watcher.pragma('data_version', { simple: true }) as number;
      const v0 = version();
      let lastStart = 0;
      for (let i = 0; i < 10; i++) {
        if (i === 9) await new Promise((r) => setTimeout(r, 300)); // the last use stands apart
        lastStart = Date.now();
        await call(gw);
      }
      const lastEnd = Date.now();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(version(), v0, 'ten requests committed nothing to the database');
      assert.equal(await lastUsed(gw, masterKey, gw.admin.accessKeyId), undefined, 'not yet written');

      assert.equal(await stop(gw), 0);
      assert.notEqual(version(), v0, 'the shutdown wrote');
      const use = await lastUsed(gw, masterKey, gw.admin.accessKeyId);
      assert.ok(use, 'the use was flushed on SIGTERM');
      assert.equal(use.service, 'sts');
      assert.equal(use.region, 'us-east-1');
      assert.ok(use.at >= lastStart && use.at <= lastEnd, `the latest use (${use.at}) is the last request's (${lastStart}..${lastEnd})`);
    } finally {
      watcher.close();
    }
  });
});
