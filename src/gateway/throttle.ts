/**
 * Throttling of repeated failed signatures (online guessing of secrets, key-id enumeration).
 *
 * Three counters, each a fixed window in a bounded LRU map:
 * - per (source, access key id): strict. The attacker's own pair is blocked after
 *   `perSourceKey` failures in `windowMs`, for `blockMs`.
 * - per source (any key): blocks one source that tries many keys (`perSource`).
 * - per access key id (any source): loose, and it never blocks a source that has not failed
 *   for that key itself. Once a key has had `perKey` failures in the window, every source with
 *   at least one failure for it in the window is refused until the key's failures stop; a
 *   source that signs correctly (the owner) is never refused by it. A distributed guesser gets
 *   about one guess per source per window, and cannot lock the owner out.
 *
 * Every block ends: after `blockMs` (pair, source) or once the key's window passes. Throttled
 * attempts are not counted as failures, so retrying while blocked does not extend a block.
 * Failures are those of the signature and of the key id (SignatureDoesNotMatch,
 * InvalidClientTokenId); expired requests and tokens are the owner's clock, not a guess.
 *
 * Sources are IP addresses; IPv6 ones are taken per /64, since one host gets a whole /64.
 * Memory: at most `maxTracked` entries per counter (about 150 bytes each), least recently
 * used first out. An attacker who floods the map evicts their own entries as well, and needs
 * `maxTracked / perSource` sources to do it within a window.
 */
import type { Server, Socket } from 'node:net';
import type { AuthFailureLimits } from '../config/schema.js';
import type { Clock } from '../core/clock.js';

export type ThrottleScope = 'source-key' | 'source' | 'key';

interface Entry {
  start: number;
  count: number;
  blockedUntil: number;
}

/** A fixed-window failure counter per key in a Map kept in LRU order, bounded in size. */
class WindowCounter {
  readonly #entries = new Map<string, Entry>();
  constructor(readonly limits: { threshold: number; windowMs: number; blockMs: number; max: number }) {}

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry (its window not yet over, or still blocked), or undefined. */
  peek(key: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    if (now - e.start >= this.limits.windowMs && now >= e.blockedUntil) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  blocked(key: string, now: number): boolean {
    const e = this.peek(key, now);
    return e !== undefined && now < e.blockedUntil;
  }

  /** Counts one failure; returns the entry after it. */
  fail(key: string, now: number): Entry {
    let e = this.peek(key, now);
    if (e !== undefined) this.#entries.delete(key); // re-inserted below: most recent last
    if (e === undefined || now - e.start >= this.limits.windowMs) e = { start: now, count: 0, blockedUntil: e?.blockedUntil ?? 0 };
    e.count++;
    if (e.count >= this.limits.threshold) e.blockedUntil = Math.max(e.blockedUntil, now + this.limits.blockMs);
    this.#entries.set(key, e);
    // INVARIANT: at most `max` entries; the least recently failed go first.
    while (this.#entries.size > this.limits.max) this.#entries.delete(this.#entries.keys().next().value!);
    return e;
  }
}

/** Where a request comes from, for counting: the IP address, IPv6 cut to its /64. */
export function sourceOf(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('::', 2) as [string?, string?];
  const left = head === '' ? [] : head.split(':');
  const right = ip.includes('::') ? (tail === '' ? [] : tail.split(':')) : [];
  const groups = ip.includes('::') ? [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((g) => g.toLowerCase().replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** Error codes that count as a failed guess. */
const GUESS_FAILURES: ReadonlySet<string> = new Set(['SignatureDoesNotMatch', 'InvalidClientTokenId', 'InvalidToken']);

export class AuthThrottle {
  readonly #pair: WindowCounter;
  readonly #source: WindowCounter;
  readonly #key: WindowCounter;
  readonly #clock: Clock;

  constructor(limits: AuthFailureLimits, clock: Clock) {
    const { windowMs, blockMs, maxTracked: max } = limits;
    this.#pair = new WindowCounter({ threshold: limits.perSourceKey, windowMs, blockMs, max });
    this.#source = new WindowCounter({ threshold: limits.perSource, windowMs, blockMs, max });
    // The key's "block" lasts as long as its window: it ends when failures for it stop.
    this.#key = new WindowCounter({ threshold: limits.perKey, windowMs, blockMs: windowMs, max });
    this.#clock = clock;
  }

  /** Why a request from `ip` for `accessKeyId` is refused before its signature is looked at, if it is. */
  check(ip: string, accessKeyId: string): ThrottleScope | undefined {
    const now = this.#clock();
    const source = sourceOf(ip);
    const pair = `${source} ${accessKeyId}`;
    if (this.#pair.blocked(pair, now)) return 'source-key';
    if (this.#source.blocked(source, now)) return 'source';
    // The loose rule: only sources that have failed for this key themselves.
    if (this.#key.blocked(accessKeyId, now) && this.#pair.peek(pair, now) !== undefined) return 'key';
    return undefined;
  }

  /** Counts a refused request if its error is a failed guess; returns whether it counted. */
  failed(ip: string, accessKeyId: string, code: string): boolean {
    if (!GUESS_FAILURES.has(code)) return false;
    const now = this.#clock();
    const source = sourceOf(ip);
    this.#pair.fail(`${source} ${accessKeyId}`, now);
    this.#source.fail(source, now);
    this.#key.fail(accessKeyId, now);
    return true;
  }

  /** Entries held, for tests and metrics. */
  get tracked(): { pairs: number; sources: number; keys: number } {
    return { pairs: this.#pair.size, sources: this.#source.size, keys: this.#key.size };
  }
}

/**
 * At most `max` connections from one source at once (limits.maxConnectionsPerSource): one client
 * cannot take every slot of maxConnections and starve the others. The map holds only sources
 * with open connections, so it is bounded by maxConnections.
 */
export function limitPerSource(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: Socket) => {
    const source = sourceOf(socket.remoteAddress ?? '');
    const n = (open.get(source) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    open.set(source, n);
    socket.once('close', () => {
      const left = (open.get(source) ?? 1) - 1;
      if (left <= 0) open.delete(source);
      else open.set(source, left);
    });
  });
}
