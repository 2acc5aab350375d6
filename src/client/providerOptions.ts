/** What every credential provider may be given: the environment, a clock, where STS is. */
import type { Clock } from '../core/clock.js';
import { CredentialsInvalid } from './errors.js';
import type { ClientConfig } from './query.js';
import type { Env } from './sharedFiles.js';

export interface ProviderOptions {
  /** Default `process.env`. */
  readonly env?: Env;
  readonly clock?: Clock;
  /** Where STS is, for roles and web identity (endpoint, region, agent, retries). */
  readonly sts?: Omit<ClientConfig, 'credentials'>;
}

/** `opts.env`, else the process environment. */
export function envOf(opts: ProviderOptions): Env {
  return opts.env ?? process.env;
}

/** The default role session name. */
export function sessionName(clock: Clock): string {
  return `portcullis-${clock()}`;
}

/** A profile's `duration_seconds`, checked. */
export function durationOf(v: string | undefined, where: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 900 || n > 43_200) throw new CredentialsInvalid(`${where}: duration_seconds must be an integer from 900 to 43200`);
  return n;
}
