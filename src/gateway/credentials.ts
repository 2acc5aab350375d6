/**
 * The credential lookup the verifier calls. Answers from memory for up to `ttlMs` (one second
 * by default: SPEC §5 wants a deactivated key refused everywhere within a second), and shares
 * one store round trip among concurrent requests for the same key.
 */
import type { Clock } from '../core/clock.js';
import { type Principal, userArn } from '../core/principal.js';
import type { CredentialLookupResult } from '../sigv4/verify.js';
import type { Store } from '../store/types.js';

type Result = CredentialLookupResult<Principal>;

interface Entry {
  readonly at: number;
  readonly result: Result;
}

export class CredentialCache {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Result>>();

  constructor(store: Store, opts: { clock: Clock; ttlMs?: number; max?: number }) {
    this.#store = store;
    this.#clock = opts.clock;
    this.#ttlMs = opts.ttlMs ?? 1000;
    this.#max = opts.max ?? 10_000;
  }

  /** Forget one key at once (after this node changed it). */
  invalidate(accessKeyId: string): void {
    this.#entries.delete(accessKeyId);
  }

  readonly lookup = (accessKeyId: string, sessionToken: string | undefined): Result | Promise<Result> => {
    if (sessionToken !== undefined) {
      // Temporary credentials arrive with STS; until then no token is valid.
      return { status: 'invalidToken' };
    }
    const hit = this.#entries.get(accessKeyId);
    if (hit !== undefined && this.#clock() - hit.at < this.#ttlMs) return hit.result;
    let pending = this.#inflight.get(accessKeyId);
    if (pending === undefined) {
      pending = this.#fetch(accessKeyId).finally(() => this.#inflight.delete(accessKeyId));
      this.#inflight.set(accessKeyId, pending);
    }
    return pending;
  };

  async #fetch(accessKeyId: string): Promise<Result> {
    const result = await this.#resolve(accessKeyId);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(accessKeyId, { at: this.#clock(), result });
    return result;
  }

  async #resolve(accessKeyId: string): Promise<Result> {
    // Only well-formed key IDs reach the store.
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) return { status: 'unknown' };
    const key = await this.#store.getAccessKey(accessKeyId);
    if (key === undefined) return { status: 'unknown' };
    if (key.status !== 'Active') return { status: 'inactive' };
    const user = await this.#store.getUser(key.accountId, key.userName);
    if (user === undefined) return { status: 'unknown' };
    const principal: Principal = {
      type: 'user',
      accountId: user.accountId,
      userName: user.userName,
      userId: user.userId,
      path: user.path,
      arn: userArn(user.accountId, user.path, user.userName),
    };
    return { status: 'found', secretAccessKey: key.secretAccessKey, principal };
  }
}
