/**
 * Meta values and compareAndSetMeta, on which nodes agree about shared state (the bootstrap
 * account and administrator key, the session-token keys): one winner among racing writers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/gateway/log.js';
import { TokenKeyRing } from '../../src/gateway/tokenKeys.js';
import { Sealer } from '../../src/store/seal.js';
import { ACCOUNT, databasePaths, openBare, openSealToken, openStoreAt, withUser } from '../helpers/storeFixtures.js';

const freshPath = databasePaths('meta');

describe('store meta: compareAndSetMeta', () => {
  it('sets when absent or when the value is the expected one, else leaves it', async () => {
    const s = await openBare(freshPath());
    try {
      assert.equal(await s.compareAndSetMeta('k', 'x', 'y'), false, 'absent is not "x"');
      assert.equal(await s.getMeta('k'), undefined);
      assert.equal(await s.compareAndSetMeta('k', undefined, 'a'), true);
      assert.equal(await s.compareAndSetMeta('k', undefined, 'b'), false, 'present is not absent');
      assert.equal(await s.compareAndSetMeta('k', 'z', 'b'), false);
      assert.equal(await s.getMeta('k'), 'a');
      assert.equal(await s.compareAndSetMeta('k', 'a', 'b'), true);
      assert.equal(await s.getMeta('k'), 'b');
    } finally {
      await s.close();
    }
  });

  it('session-token key rings starting together on one store agree on one key; a token one seals, every other opens', async () => {
    const path = freshPath();
    const masterKey = randomBytes(32);
    const clock = fixedClock(Date.UTC(2026, 0, 1));
    const stores = await Promise.all(Array.from({ length: 4 }, () => openBare(path, new Sealer([masterKey]))));
    try {
      const rings = stores.map((s) => new TokenKeyRing(s, new Sealer([masterKey]), clock, createLogger('error')));
      await Promise.all(rings.map((r) => r.refresh()));
      const ids = new Set(rings.map((r) => r.current().id));
      assert.equal(ids.size, 1, 'one key for all');
      assert.ok(rings.every((r) => r.all().length === 1));
      for (const r of rings) assert.ok(openSealToken(rings[0]!.current(), r.all()));

      // At rotation time they race again, and again agree.
      clock.advance(24 * 3600_000);
      await Promise.all(rings.map((r) => r.refresh()));
      const lists = rings.map((r) => r.all().map((k) => k.id).join(','));
      assert.equal(new Set(lists).size, 1, lists.join(' | '));
      assert.equal(rings[0]!.all().length, 2);
    } finally {
      for (const s of stores) await s.close();
    }
  });
});

describe('store: resealSecrets (master key rotation)', () => {
  it('re-seals access-key secrets and sealed meta values under the current key; then the old key can go', async () => {
    const path = freshPath();
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const clock = fixedClock(Date.UTC(2026, 0, 1));
    const before = await openStoreAt(path, new Sealer([oldKey]));
    const secret = randomBytes(30).toString('base64');
    let tokenKey;
    try {
      await withUser(before, 'rotor');
      await before.createAccessKey({ accessKeyId: 'AKIAROTATEAAAAAAAAA1', accountId: ACCOUNT, userName: 'rotor', status: 'Active', createdAt: 1, secretAccessKey: secret });
      const ring = new TokenKeyRing(before, new Sealer([oldKey]), clock, createLogger('error'));
      await ring.refresh();
      tokenKey = ring.current();
      await before.setMeta('plain', 'not sealed');
    } finally {
      await before.close();
    }

    const both = new Sealer([newKey, oldKey]);
    const during = await openBare(path, both);
    try {
      assert.equal(await during.resealSecrets(), 2, 'one access key and the token keys');
      assert.equal(await during.resealSecrets(), 0, 'nothing left under the old key');
      assert.equal(await during.getMeta('plain'), 'not sealed', 'plain meta values are left alone');
    } finally {
      await during.close();
    }

    const after = await openBare(path, new Sealer([newKey]));
    try {
      assert.equal((await after.getAccessKey('AKIAROTATEAAAAAAAAA1'))?.secretAccessKey, secret);
      const ring = new TokenKeyRing(after, new Sealer([newKey]), clock, createLogger('error'));
      await ring.refresh();
      assert.equal(ring.current().id, tokenKey.id, 'the same session-token key, now under the new master key');
      assert.ok(openSealToken(tokenKey, ring.all()));
    } finally {
      await after.close();
    }
    const stale = await openBare(path, new Sealer([oldKey]));
    try {
      await assert.rejects(stale.getAccessKey('AKIAROTATEAAAAAAAAA1'), /not loaded/, 'the old key alone opens nothing now');
    } finally {
      await stale.close();
    }
  });
});
