/**
 * Retries with capped exponential backoff and full jitter, as AWS's SDKs do: the n-th retry
 * waits a random time in [0, min(cap, base * 2^n)).
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
import { NetworkError, ServiceError, Timeout } from './errors.js';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 3. */
  readonly maxAttempts?: number;
  readonly baseDelayMs?: number;
  readonly maxDelayMs?: number;
  /** [0, 1); injected in tests. */
  readonly random?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called before each wait, e.g. for progress output. */
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: Error }) => void;
}

/** AWS's throttling error codes (query, JSON and REST services). */
export const THROTTLING_CODES: ReadonlySet<string> = new Set([
  'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottledException', 'TooManyRequestsException',
  'ProvisionedThroughputExceededException', 'TransactionInProgressException', 'RequestLimitExceeded',
  'BandwidthLimitExceeded', 'LimitExceededException', 'RequestThrottled', 'SlowDown', 'PriorRequestNotComplete',
  'EC2ThrottledException',
]);

const TRANSIENT_NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Throttling, 5xx, timeouts and transient network failures; never TLS refusals or 4xx. */
export function isRetryable(e: unknown): boolean {
  if (e instanceof ServiceError) return e.status === 429 || e.status >= 500 || THROTTLING_CODES.has(e.awsCode);
  if (e instanceof NetworkError) return TRANSIENT_NETWORK.has(e.reason);
  return e instanceof Timeout;
}

/** The wait before retry `n` (0-based): full jitter under a capped exponential. */
export function backoffDelay(n: number, opts: RetryOptions = {}): number {
  const base = opts.baseDelayMs ?? 100;
  const cap = opts.maxDelayMs ?? 20_000;
  const random = opts.random ?? Math.random;
  return Math.floor(random() * Math.min(cap, base * 2 ** n));
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `fn` until it succeeds, fails with a non-retryable error, or the attempts are spent. */
export async function withRetries<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const max = Math.max(1, opts.maxAttempts ?? 3);
  const sleep = opts.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= max || !isRetryable(e)) throw e;
      const delayMs = backoffDelay(attempt - 1, opts);
      opts.onRetry?.({ attempt, delayMs, error: e as Error });
      await sleep(delayMs);
    }
  }
}
