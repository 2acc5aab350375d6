/**
 * The signing keys of each configured OpenID Connect issuer: read from a JWKS file or fetched
 * from a URL, kept for a while, re-read when an unknown key id shows up (key rotation).
 */
import { readFile } from 'node:fs/promises';
import type { Clock } from '../core/clock.js';
import type { Jwks } from '../sts/webIdentity.js';

const KEEP_MS = 5 * 60_000;

export class JwksSource {
  readonly #sources: Readonly<Record<string, string>>;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { at: number; jwks: Jwks }>();

  constructor(sources: Readonly<Record<string, string>>, clock: Clock) {
    this.#sources = sources;
    this.#clock = clock;
  }

  /** The keys of `issuer`, or undefined when it is not configured or its keys cannot be read. */
  async get(issuer: string, fresh = false): Promise<Jwks | undefined> {
    const source = Object.hasOwn(this.#sources, issuer) ? this.#sources[issuer] : undefined;
    if (source === undefined) return undefined;
    const hit = this.#cache.get(issuer);
    if (!fresh && hit !== undefined && this.#clock() - hit.at < KEEP_MS) return hit.jwks;
    try {
      const text = /^https?:\/\//.test(source)
        ? await (await fetch(source, { signal: AbortSignal.timeout(5000) })).text()
        : await readFile(source, 'utf8');
      const jwks = JSON.parse(text) as Jwks;
      if (!Array.isArray(jwks.keys)) return undefined;
      this.#cache.set(issuer, { at: this.#clock(), jwks });
      return jwks;
    } catch {
      return hit?.jwks;
    }
  }
}
