/** Session-token keys: kept sealed in the store, rotated on schedule, shared by every node. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/gateway/log.js';
import { TokenKeyRing } from '../../src/gateway/tokenKeys.js';
import { Sealer } from '../../src/store/seal.js';
import { SqliteStore } from '../../src/store/sqlite/sqliteStore.js';
import { openToken, sealToken, type SessionClaims } from '../../src/sts/token.js';

const HOUR = 3600_000;
const dir = mkdtempSync(join(tmpdir(), 'portcullis-token-keys-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const claims = (at: number): SessionClaims => ({
  accessKeyId: 'ASIAAAAABBBBCCCCDDDD', secretAccessKey: 'secret', principal: { type: 'user-session', accountId: '123456789012', userId: 'AIDAX', userName: 'u', userPath: '/' },
  issuedAt: at, expiresAt: at + HOUR, sessionPolicies: [], tags: {}, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
});

describe('session token key ring', () => {
  it('rotates on schedule, announces keys ahead of use, keeps old keys until their tokens end, then drops them', async () => {
    const path = join(dir, 'ring.db');
    const sealer = new Sealer([randomBytes(32)]);
    const store = new SqliteStore(path, sealer);
    const clock = fixedClock(Date.UTC(2026, 0, 1));
    const log = createLogger('error');
    const opts = { rotateEveryMs: 24 * HOUR, longestSessionMs: 36 * HOUR, announceMs: 5 * 60_000, refreshMs: 60_000 };
    const a = new TokenKeyRing(store, sealer, clock, log, opts);
    await a.refresh();
    const first = a.current();
    assert.equal(a.all().length, 1);
    const old = sealToken(claims(clock()), first);

    // Another node on the same store has the same keys: a token one seals, the other opens.
    const b = new TokenKeyRing(store, sealer, clock, log, opts);
    await b.refresh();
    assert.ok(openToken(old, b.all()));

    // Five minutes before a day is up, the next key is written but does not seal yet.
    clock.advance(24 * HOUR - 5 * 60_000);
    await a.refresh();
    assert.equal(a.all().length, 2);
    assert.equal(a.current().id, first.id, 'the new key waits its announcement time');
    await b.refresh();
    assert.equal(b.all().length, 2, 'the other node reads it within a refresh');
    clock.advance(5 * 60_000);
    assert.notEqual(a.current().id, first.id, 'then it seals');
    assert.ok(openToken(old, a.all()), 'and the old key still opens its tokens');
    const fresh = sealToken(claims(clock()), a.current());
    assert.ok(openToken(fresh, b.all()));

    // After the longest session the old key is gone, and its tokens with it.
    clock.advance(36 * HOUR + 1);
    await a.refresh();
    assert.ok(!a.all().some((k) => k.id === first.id));
    assert.equal(openToken(old, a.all()), undefined);
    await store.close();

    // The keys are sealed in the store: the database file never shows them.
    const raw = Buffer.concat([readFileSync(path), ...['-wal'].map((s) => { try { return readFileSync(path + s); } catch { return Buffer.alloc(0); } })]);
    for (const k of [first, ...a.all()]) assert.ok(!raw.includes(k.key.toString('base64')), 'a token key in the clear');
  });
});
