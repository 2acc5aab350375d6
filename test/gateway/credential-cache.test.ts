/**
 * The per-process credential cache and how it follows changes: how long entries live with and
 * without a live change feed, and that an answer read before a change was announced is never
 * kept after it (the race a long cache lifetime would otherwise make dangerous).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { applyChange, cacheLifetime, FALLBACK_TTL_MS, LIVE_TTL_MS } from '../../src/gateway/changes.js';
import { Authorizer } from '../../src/gateway/authorizer.js';
import { CredentialCache } from '../../src/gateway/credentials.js';
import type { AccessKeyStatus, AccessKeyWithSecret, ChangeWatch, Store, User } from '../../src/store/types.js';

const KEY_ID = 'AKIAEXAMPLEEXAMPLE01';
const USER: User = { accountId: '123456789012', userName: 'u', userId: 'AIDAEXAMPLE', path: '/', createdAt: 1 };

/** A store that answers getAccessKey with the status it holds now, counting reads; `gate` holds a read back until released. */
function fakeStore() {
  const state = { status: 'Active' as AccessKeyStatus, reads: 0, gate: undefined as Promise<void> | undefined };
  const store = {
    async getAccessKey(id: string): Promise<AccessKeyWithSecret | undefined> {
      state.reads++;
      const status = state.status; // read now, as a database would
      if (state.gate !== undefined) await state.gate;
      return { accessKeyId: id, accountId: USER.accountId, userName: USER.userName, status, createdAt: 1, lastUsed: undefined, secretAccessKey: 's'.repeat(40) };
    },
    async getUser(): Promise<User> {
      return USER;
    },
  } as unknown as Store;
  return { store, state };
}

async function status(cache: CredentialCache): Promise<string> {
  return (await cache.lookup(KEY_ID, undefined)).status;
}

describe('credential cache', () => {
  it('with a live feed entries live LIVE_TTL_MS; without one, FALLBACK_TTL_MS (one second)', async () => {
    const { store, state } = fakeStore();
    const clock = fixedClock(1_000_000);
    const watch = { live: true } as { live: boolean } & ChangeWatch;
    const cache = new CredentialCache(store, { clock, tokenKeys: () => [], ttlMs: cacheLifetime(() => watch) });
    assert.equal(await status(cache), 'found');
    clock.advance(LIVE_TTL_MS - 1);
    assert.equal(await status(cache), 'found');
    assert.equal(state.reads, 1, 'served from memory while the feed is live');
    watch.live = false;
    assert.equal(FALLBACK_TTL_MS, 1000);
    await status(cache);
    assert.equal(state.reads, 2, 'an old entry is not trusted once the feed is down');
    clock.advance(FALLBACK_TTL_MS - 1);
    await status(cache);
    assert.equal(state.reads, 2);
    clock.advance(1);
    await status(cache);
    assert.equal(state.reads, 3);
  });

  it('a change notice drops the key at once; `user` and `all` drop every key', async () => {
    const { store, state } = fakeStore();
    const clock = fixedClock(1_000_000);
    const cache = new CredentialCache(store, { clock, tokenKeys: () => [], ttlMs: LIVE_TTL_MS });
    const authorizer = new Authorizer(store, clock);
    assert.equal(await status(cache), 'found');
    state.status = 'Inactive';
    assert.equal(await status(cache), 'found', 'cached');
    applyChange({ kind: 'key', accessKeyId: 'AKIAOTHEROTHEROTHER1' }, cache, authorizer);
    assert.equal(await status(cache), 'found', 'another key changed');
    applyChange({ kind: 'key', accessKeyId: KEY_ID }, cache, authorizer);
    assert.equal(await status(cache), 'inactive');
    state.status = 'Active';
    applyChange({ kind: 'user', userId: USER.userId }, cache, authorizer);
    assert.equal(await status(cache), 'found');
    state.status = 'Inactive';
    applyChange({ kind: 'all' }, cache, authorizer);
    assert.equal(await status(cache), 'inactive');
  });

  it('a lookup that read the store before a change was announced is not remembered, nor shared with later lookups', async () => {
    const { store, state } = fakeStore();
    const clock = fixedClock(1_000_000);
    const cache = new CredentialCache(store, { clock, tokenKeys: () => [], ttlMs: LIVE_TTL_MS });
    let release!: () => void;
    state.gate = new Promise((r) => (release = r));
    const early = cache.lookup(KEY_ID, undefined); // reads 'Active', then waits
    state.status = 'Inactive'; // the change commits elsewhere…
    cache.invalidate(KEY_ID); // …and its notice arrives while the read is in flight
    state.gate = undefined;
    assert.equal(await status(cache), 'inactive', 'a lookup after the notice reads again');
    release();
    assert.equal((await early).status, 'found', 'the early lookup answers what it read');
    assert.equal(await status(cache), 'inactive', 'but its stale answer was not cached over the fresh one');
    assert.equal(state.reads, 2);
  });
});
