import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { fixedClock, isoSeconds } from '../../src/core/clock.js';

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

  it('fixedClock stands still until set or advanced', () => {
    const c = fixedClock(1000);
    assert.equal(c(), 1000);
    c.advance(500);
    assert.equal(c(), 1500);
    c.set(7);
    assert.equal(c(), 7);
  });
});
