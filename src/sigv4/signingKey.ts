import { createHmac } from 'node:crypto';
import { KEY_PREFIX_V4, TERMINATOR } from './constants.js';

export function hmac(key: string | Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request") */
export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(KEY_PREFIX_V4 + secret, date), region), service), TERMINATOR);
}

/**
 * A bounded least-recently-used map. Owned by whoever creates it (a verifier, a signer):
 * never a module-level cache. Map iteration order is insertion order, so the first key is
 * the least recently used one.
 */
export class Lru<K, V> {
  readonly #max: number;
  readonly #map = new Map<K, V>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`lru size must be a positive integer, got \`${max}\``);
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.#max) this.#map.delete(this.#map.keys().next().value as K);
  }

  clear(): void {
    this.#map.clear();
  }
}

interface CachedKey {
  readonly secret: string;
  readonly key: Buffer;
}

/**
 * Derived signing keys by access key and scope. A key is derived once per access key per
 * day, region and service. The entry remembers the secret it came from, so a changed secret
 * for the same access key ID never reuses a stale key.
 */
export class SigningKeyCache {
  readonly #lru: Lru<string, CachedKey>;

  constructor(max = 1024) {
    this.#lru = new Lru(max);
  }

  get size(): number {
    return this.#lru.size;
  }

  get(accessKeyId: string, secret: string, date: string, region: string, service: string): Buffer {
    const id = accessKeyId + '/' + date + '/' + region + '/' + service;
    const hit = this.#lru.get(id);
    if (hit !== undefined && hit.secret === secret) return hit.key;
    const key = deriveSigningKey(secret, date, region, service);
    this.#lru.set(id, { secret, key });
    return key;
  }
}
