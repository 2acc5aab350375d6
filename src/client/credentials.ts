/**
 * Credentials and providers, with the conventions of AWS's SDKs: a provider is an async
 * function; a chain asks each link in turn and moves on only when a link says it has nothing
 * (`CredentialsNotFound`); a memoized provider keeps what it got, refreshes it ahead of its
 * expiry and shares one refresh among concurrent callers.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { ClientError, CredentialsNotFound } from './errors.js';

export interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
  /** Epoch ms; absent for long-term keys. */
  readonly expiration?: number | undefined;
  /** Where they came from, for `doctor` and messages: `env`, `profile:NAME`, `process`, … Never a secret. */
  readonly source?: string | undefined;
}

export type CredentialProvider = () => Promise<Credentials>;

/** Asks each provider in order; the first that has credentials wins. */
export function chain(...providers: readonly CredentialProvider[]): CredentialProvider {
  return async () => {
    const tried: string[] = [];
    for (const p of providers) {
      try {
        return await p();
      } catch (e) {
        if (e instanceof CredentialsNotFound) {
          tried.push(e.message);
          continue;
        }
        throw e;
      }
    }
    throw new CredentialsNotFound(
      `no credentials found. Tried, in order:\n${tried.map((t) => `  - ${t}`).join('\n')}\n` +
        'Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with --profile or AWS_PROFILE.',
      { tried },
    );
  };
}

export interface MemoizeOptions {
  readonly clock?: Clock;
  /** Refresh this long before the expiry (default 5 minutes, as AWS's SDKs do). */
  readonly refreshBeforeMs?: number;
}

export interface MemoizedProvider extends CredentialProvider {
  /** Drops what is kept; the next call asks the source again. */
  invalidate(): void;
}

/**
 * Keeps the credentials until `refreshBeforeMs` before they expire. Concurrent callers share one
 * refresh in flight. If a refresh fails while the kept credentials are still valid, those are
 * returned (the next call tries again); once they have expired, the failure is thrown.
 */
export function memoize(provider: CredentialProvider, opts: MemoizeOptions = {}): MemoizedProvider {
  const clock = opts.clock ?? systemClock;
  const window = opts.refreshBeforeMs ?? 5 * 60_000;
  let current: Credentials | undefined;
  let inflight: Promise<Credentials> | undefined;

  const fresh = (c: Credentials) => c.expiration === undefined || c.expiration - clock() > window;
  const valid = (c: Credentials) => c.expiration === undefined || c.expiration > clock();

  const refresh = (): Promise<Credentials> => {
    inflight ??= (async () => {
      try {
        const got = await provider();
        current = got;
        return got;
      } catch (e) {
        if (current !== undefined && valid(current) && !(e instanceof ClientError && e.code === 'CredentialsNotFound')) return current;
        throw e;
      } finally {
        inflight = undefined;
      }
    })();
    return inflight;
  };

  const memoized = (async () => {
    if (current !== undefined && fresh(current)) return current;
    return refresh();
  }) as MemoizedProvider;
  memoized.invalidate = () => {
    current = undefined;
  };
  return memoized;
}

/** A provider that always answers the same credentials. */
export function staticCredentials(c: Credentials): CredentialProvider {
  return () => Promise.resolve(c);
}
