/**
 * How this process's caches follow changes made elsewhere: by another node (the store's change
 * feed, PostgreSQL LISTEN/NOTIFY) or by a sibling worker process (relayed by the cluster
 * primary). With a live feed, cached credentials and policies may live `LIVE_TTL_MS`; without
 * one (SQLite, or the feed is down) they live `FALLBACK_TTL_MS`, which alone keeps SPEC §5's
 * promise that a deactivated key is refused everywhere within one second.
 */
import type { ChangeWatch, StoreChange } from '../store/types.js';
import type { Authorizer } from './authorizer.js';
import type { CredentialCache } from './credentials.js';

export const LIVE_TTL_MS = 30_000;
export const FALLBACK_TTL_MS = 1_000;

/** The cache lifetime now: long while notices arrive, short otherwise. */
export function cacheLifetime(watch: () => ChangeWatch | undefined): () => number {
  return () => (watch()?.live === true ? LIVE_TTL_MS : FALLBACK_TTL_MS);
}

export function applyChange(change: StoreChange, credentials: CredentialCache, authorizer: Authorizer): void {
  switch (change.kind) {
    case 'key':
      credentials.invalidate(change.accessKeyId);
      return;
    case 'policies':
      authorizer.invalidate();
      return;
    case 'user': // its keys (we do not index keys by user: such changes are rare) and its policies
    case 'all':
      credentials.clear();
      authorizer.invalidate();
      return;
  }
}

/** A change as it crosses the cluster IPC channel; anything else on that channel is ignored. */
export interface ChangeMessage {
  readonly portcullis: 'change';
  readonly change: StoreChange;
}

export function isChangeMessage(m: unknown): m is ChangeMessage {
  if (typeof m !== 'object' || m === null || (m as { portcullis?: unknown }).portcullis !== 'change') return false;
  const c = (m as { change?: unknown }).change;
  if (typeof c !== 'object' || c === null) return false;
  const kind = (c as { kind?: unknown }).kind;
  if (kind === 'key') return typeof (c as { accessKeyId?: unknown }).accessKeyId === 'string';
  if (kind === 'user') return typeof (c as { userId?: unknown }).userId === 'string';
  return kind === 'policies' || kind === 'all';
}
