import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fixedClock, isoMillis, isoSeconds } from '../../src/core/clock.js';

describe('clock', () => {
  it('isoSeconds: ISO 8601 in UTC to the whole second, as AWS writes times', () => {
    assert.equal(isoSeconds(0), '1970-01-01T00:00:00Z');
    assert.equal(isoSeconds(1_733_587_200_999), '2024-12-07T16:00:00Z');
    fc.assert(fc.property(fc.integer({ min: -62_135_596_800_000, max: 253_402_300_799_999 }), (ms) => {
      const s = isoSeconds(ms);
      assert.match(s, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.equal(Date.parse(s), Math.floor(ms / 1000) * 1000);
    }));
  });

  it('isoMillis and isoSeconds write what Date#toISOString writes, whichever second came before', () => {
    assert.equal(isoMillis(1_733_587_200_007), '2024-12-07T16:00:00.007Z');
    assert.equal(isoMillis(1_733_587_200_070.9), '2024-12-07T16:00:00.070Z');
    assert.equal(isoMillis(-1), '1969-12-31T23:59:59.999Z');
    // Pairs in the same second and in different ones: the remembered second never leaks.
    const ms = fc.double({ min: -62_135_596_800_000, max: 253_402_300_799_999, noNaN: true });
    fc.assert(fc.property(ms, fc.integer({ min: -2500, max: 2500 }), (a, d) => {
      for (const t of [a, a + d, a]) {
        assert.equal(isoMillis(t), new Date(t).toISOString());
        assert.equal(isoSeconds(t), `${new Date(t).toISOString().slice(0, -5)}Z`);
      }
    }));
  });

  it('fixedClock stands still until set or advanced', () => {
    const c = fixedClock(1000);
    assert.equal(c(), 1000);
    c.advance(500);
    assert.equal(c(), 1500);
    c.set(7);
    assert.equal(c(), 7);
  });
});
