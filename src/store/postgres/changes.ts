/**
 * One node's ear on `LISTEN portcullis_changes`: a connection of its own (outside the pool,
 * since a pooled connection would be handed to other queries), reconnected when it drops, and
 * checked every `heartbeatMs` so that a silently dead connection is noticed too.
 *
 * Whenever the feed goes down or comes back it reports `all`: notices may have been missed, so
 * caches forget everything; while it is down, `live` is false and caches fall back to their
 * short lifetime.
 * https://www.postgresql.org/docs/15/sql-notify.html
 */
import pg from 'pg';
import type { ChangeWatch, StoreChange } from '../types.js';
import { quoteIdent } from './pool.js';

export const CHANGES_CHANNEL = 'portcullis_changes';

export function parseChange(payload: string | undefined): StoreChange {
  if (payload?.startsWith('key:')) return { kind: 'key', accessKeyId: payload.slice(4) };
  if (payload?.startsWith('user:')) return { kind: 'user', userId: payload.slice(5) };
  if (payload === 'policies') return { kind: 'policies' };
  return { kind: 'all' };
}

export class ChangeListener implements ChangeWatch {
  readonly #url: string;
  readonly #schema: string | undefined;
  readonly #onChange: (c: StoreChange) => void;
  readonly #reconnectMs: number;
  readonly #heartbeatMs: number;
  #client: pg.Client | undefined;
  #live = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  #heartbeat: NodeJS.Timeout | undefined;

  constructor(url: string, schema: string | undefined, onChange: (c: StoreChange) => void, reconnectMs: number, heartbeatMs = 1000) {
    this.#url = url;
    this.#schema = schema;
    this.#onChange = onChange;
    this.#reconnectMs = reconnectMs;
    this.#heartbeatMs = heartbeatMs;
  }

  get live(): boolean {
    return this.#live;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: 'portcullis-listener',
      connectionTimeoutMillis: 5000,
      query_timeout: 5000,
      keepAlive: true,
      ...(this.#schema === undefined ? {} : { options: `-c search_path=${quoteIdent(this.#schema)}` }),
    });
    this.#client = client;
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (n) => {
      if (n.channel === CHANGES_CHANNEL) this.#emit(parseChange(n.payload));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch {
      this.#lost(client);
      return;
    }
    if (this.#closed || this.#client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#live = true;
    this.#emit({ kind: 'all' }); // whatever happened while we were not listening
    this.#heartbeat = setInterval(() => {
      client.query('SELECT 1').catch(() => this.#lost(client));
    }, this.#heartbeatMs);
    this.#heartbeat.unref();
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return; // an old connection's late event
    this.#client = undefined;
    clearInterval(this.#heartbeat);
    const wasLive = this.#live;
    this.#live = false;
    client.end().catch(() => undefined);
    if (wasLive) this.#emit({ kind: 'all' });
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#connect(), this.#reconnectMs);
    this.#timer.unref();
  }

  #emit(c: StoreChange): void {
    try {
      this.#onChange(c);
    } catch {
      // a listener's failure must not stop the feed
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#live = false;
    clearTimeout(this.#timer);
    clearInterval(this.#heartbeat);
    const client = this.#client;
    this.#client = undefined;
    if (client !== undefined) await client.end().catch(() => undefined);
  }
}
