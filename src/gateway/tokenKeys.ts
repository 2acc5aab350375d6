/**
 * The keys that seal session tokens: random keys kept in the store, sealed under the master key,
 * rotated on a schedule. Every node holds them all in memory (a token never costs a database
 * read), re-reads them every minute, and uses a new key only once it has been in the store long
 * enough for every node to have it.
 *
 * A key seals new tokens from `activeAt` until the next key is active, and opens tokens until
 * `retireAt`, past the longest session a key can have sealed. Then it is dropped.
 *
 * Nodes that share a store (PostgreSQL) share the keys (SPEC §5): a node adds a key only with
 * compareAndSetMeta over the list it read, so when two nodes rotate at once one wins and the
 * other adopts the winner's list, and no node ever seals with a key the others lack.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Sealer } from '../store/seal.js';
import type { Store } from '../store/types.js';
import type { TokenKey } from '../sts/token.js';
import { errorFields, type Logger } from './log.js';

const META_KEY = 'sts.tokenKeys';

interface StoredKey {
  readonly id: string;
  readonly key: string; // base64
  readonly activeAt: number;
  readonly retireAt: number;
}

export interface TokenKeyRingOptions {
  /** How long a key seals new tokens. */
  readonly rotateEveryMs?: number;
  /** The longest session (GetSessionToken, 36 h): a key opens tokens this long after it stops sealing. */
  readonly longestSessionMs?: number;
  /** A new key waits this long before sealing, so every node has read it. */
  readonly announceMs?: number;
  /** How often nodes re-read the keys. */
  readonly refreshMs?: number;
}

export class TokenKeyRing {
  readonly #store: Store;
  readonly #sealer: Sealer;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #rotateEveryMs: number;
  readonly #longestSessionMs: number;
  readonly #announceMs: number;
  readonly #refreshMs: number;
  #keys: StoredKey[] = [];
  #open: TokenKey[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(store: Store, sealer: Sealer, clock: Clock, log: Logger, opts: TokenKeyRingOptions = {}) {
    this.#store = store;
    this.#sealer = sealer;
    this.#clock = clock;
    this.#log = log;
    this.#rotateEveryMs = opts.rotateEveryMs ?? 24 * 3600_000;
    this.#longestSessionMs = opts.longestSessionMs ?? 36 * 3600_000;
    this.#announceMs = opts.announceMs ?? 5 * 60_000;
    this.#refreshMs = opts.refreshMs ?? 60_000;
  }

  /** Loads the keys, making the first or the next one when it is time. Then keeps them fresh. */
  async start(): Promise<void> {
    await this.refresh();
    this.#timer = setInterval(() => void this.refresh().catch((e: unknown) => this.#log.warn('could not refresh session token keys', errorFields(e))), this.#refreshMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The key that seals new tokens now. */
  current(): TokenKey {
    const now = this.#clock();
    const active = this.#keys.filter((k) => k.activeAt <= now).sort((a, b) => b.activeAt - a.activeAt)[0] ?? this.#keys[0];
    return this.#open.find((k) => k.id === active!.id)!;
  }

  /** Every key that may still open a token. */
  all(): readonly TokenKey[] {
    return this.#open;
  }

  async refresh(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const sealed = await this.#store.getMeta(META_KEY);
      if (await this.#refreshFrom(sealed)) return;
      // Another node changed the list between our read and our write: read theirs.
      if (attempt >= 10) throw new Error('session token keys keep changing under this node; not rotating now');
    }
  }

  /** False when the list in the store is no longer `sealed`. */
  async #refreshFrom(sealed: string | undefined): Promise<boolean> {
    const now = this.#clock();
    let keys = this.#decode(sealed);
    const newest = keys.reduce((m, k) => Math.max(m, k.activeAt), -Infinity);
    // The first key is usable at once (no other node can have sealed anything yet); later keys
    // are announced ahead of their use.
    if (keys.length === 0 || newest + this.#rotateEveryMs - this.#announceMs <= now) {
      const activeAt = keys.length === 0 ? now : Math.max(now + this.#announceMs, newest + this.#rotateEveryMs);
      keys = [...keys, { id: randomBytes(6).toString('hex'), key: randomBytes(32).toString('base64'), activeAt, retireAt: Infinity }];
      // The key before the new one stops sealing at activeAt, and opens its tokens until they end.
      keys = keys.map((k, i) => (i === keys.length - 2 ? { ...k, retireAt: activeAt + this.#longestSessionMs } : k));
      keys = keys.filter((k) => k.retireAt > now);
      const next = this.#sealer.seal(JSON.stringify(keys.map((k) => ({ ...k, retireAt: Number.isFinite(k.retireAt) ? k.retireAt : null }))), META_KEY);
      if (!(await this.#store.compareAndSetMeta(META_KEY, sealed, next))) return false;
    }
    this.#keys = keys.filter((k) => k.retireAt > now);
    this.#open = this.#keys.map((k) => ({ id: k.id, key: Buffer.from(k.key, 'base64') }));
    return true;
  }

  #decode(sealed: string | undefined): StoredKey[] {
    if (sealed === undefined) return [];
    const list = JSON.parse(this.#sealer.open(sealed, META_KEY)) as Array<Omit<StoredKey, 'retireAt'> & { retireAt: number | null }>;
    return list.map((k) => ({ ...k, retireAt: k.retireAt ?? Infinity }));
  }
}
