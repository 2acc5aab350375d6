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
import { openSealToken, databasePaths, openBare } from '../helpers/storeFixtures.js';

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
