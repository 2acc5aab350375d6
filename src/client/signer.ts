/**
 * Signs requests with credentials from a provider, on the SigV4 engine of `src/sigv4`.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { ALGORITHM_V4, ALGORITHM_V4A, type Algorithm } from '../sigv4/constants.js';
import { Signer, type PresignedRequest, type SignedRequest } from '../sigv4/sign.js';
import type { CredentialProvider, Credentials } from './credentials.js';

export interface RequestSignerOptions {
  readonly credentials: CredentialProvider;
  readonly region: string;
  readonly service: string;
  readonly clock?: Clock;
  /** SigV4a (ECDSA P-256): a signature good for every region in `regionSet` (default `['*']`). */
  readonly sigv4a?: boolean;
  readonly regionSet?: readonly string[];
}

export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Uint8Array;
}

export class RequestSigner {
  readonly #signer: Signer;
  readonly #opts: RequestSignerOptions;

  constructor(opts: RequestSignerOptions) {
    this.#opts = opts;
    this.#signer = new Signer({ clock: opts.clock ?? systemClock });
  }

  get region(): string {
    return this.#opts.region;
  }

  get service(): string {
    return this.#opts.service;
  }

  credentials(): Promise<Credentials> {
    return this.#opts.credentials();
  }

  #algorithm(): { algorithm: Algorithm; regionSet?: readonly string[] } {
    return this.#opts.sigv4a ? { algorithm: ALGORITHM_V4A, regionSet: this.#opts.regionSet ?? ['*'] } : { algorithm: ALGORITHM_V4 };
  }

  /** The request's headers with `host`, the date, the token and `Authorization` added. */
  async sign(req: OutgoingRequest, extra: { unsignedPayload?: boolean } = {}): Promise<SignedRequest> {
    const creds = await this.#opts.credentials();
    return this.#signer.sign(
      { method: req.method, path: req.url.pathname || '/', query: req.url.search.slice(1), headers: withHost(req), ...(req.body !== undefined ? { body: req.body } : {}) },
      { credentials: creds, region: this.#opts.region, service: this.#opts.service, ...this.#algorithm(), ...(extra.unsignedPayload ? { payloadHash: 'UNSIGNED-PAYLOAD' } : {}) },
    );
  }

  /** A presigned URL valid for `expiresIn` seconds (at most 7 days). */
  async presign(req: Omit<OutgoingRequest, 'body'>, expiresIn: number): Promise<PresignedRequest & { url: URL }> {
    const creds = await this.#opts.credentials();
    const p = this.#signer.presign(
      { method: req.method, path: req.url.pathname || '/', query: req.url.search.slice(1), headers: withHost(req) },
      { credentials: creds, region: this.#opts.region, service: this.#opts.service, ...this.#algorithm(), expiresIn },
    );
    return { ...p, url: new URL(`${req.url.origin}${p.target}`) };
  }
}

function withHost(req: Pick<OutgoingRequest, 'url' | 'headers'>): Record<string, string | readonly string[]> {
  const has = Object.keys(req.headers).some((k) => k.toLowerCase() === 'host');
  return has ? { ...req.headers } : { host: req.url.host, ...req.headers };
}
