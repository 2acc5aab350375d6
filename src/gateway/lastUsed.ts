/**
 * Access-key last use, remembered in memory and written to the store in one batch every
 * `flushMs`, so a request never waits on a database write for it.
 */
import type { LastUse, Store } from '../store/types.js';
import type { Logger } from './log.js';
import { errorFields } from './log.js';

export class LastUsedTracker {
  readonly #store: Store;
  readonly #log: Logger;
  #pending = new Map<string, LastUse>();
  #timer: NodeJS.Timeout | undefined;

  constructor(store: Store, log: Logger, flushMs: number) {
    this.#store = store;
    this.#log = log;
    this.#timer = setInterval(() => void this.flush(), flushMs);
    this.#timer.unref();
  }

  record(accessKeyId: string, use: LastUse): void {
    this.#pending.set(accessKeyId, use);
  }

  async flush(): Promise<void> {
    if (this.#pending.size === 0) return;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      await this.#store.recordLastUsed(batch);
    } catch (e) {
      this.#log.warn('could not record access key last use', errorFields(e));
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
