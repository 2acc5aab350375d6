/**
 * One HTTPS exchange through a `PolicyAgent`: the whole body in, the whole answer out. Failures
 * become `TlsRefused`, `NetworkError` or `Timeout`. Only `https:` URLs: SPEC §1.1 is TLS only.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { NetworkError, Timeout } from './errors.js';
import type { PolicyAgent } from './tlsAgent.js';
import { tlsFailure } from './tlsAgent.js';

export interface HttpRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body?: string | Uint8Array;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface SendOptions {
  readonly agent: PolicyAgent;
  /** No answer (or a stall mid-answer) for this long fails with `Timeout`. Default 30 s. */
  readonly timeoutMs?: number;
  /** Which attempt this is, for the errors' `attempts`. */
  readonly attempt?: number;
}

export function send(req: HttpRequest, opts: SendOptions): Promise<HttpResponse> {
  if (req.url.protocol !== 'https:') {
    return Promise.reject(new NetworkError(`${req.url.origin} is not an https: URL; Portcullis clients speak TLS only`, 'EPROTONOSUPPORT'));
  }
  const target = req.url.host;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = typeof v === 'string' ? v : [...v];
    const r = request(req.url, { method: req.method, headers, agent: opts.agent, timeout: opts.timeoutMs ?? 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', (e) => reject(mapError(e, target, opts.attempt)));
    });
    r.on('timeout', () => r.destroy(new Timeout(`no answer from ${target} within ${opts.timeoutMs ?? 30_000} ms`)));
    r.on('error', (e) => reject(mapError(e, target, opts.attempt)));
    r.end(req.body === undefined ? undefined : typeof req.body === 'string' ? Buffer.from(req.body) : req.body);
  });
}

function mapError(e: unknown, target: string, attempt = 1): Error {
  if (e instanceof Timeout) return e;
  const tls = tlsFailure(e, target);
  if (tls !== undefined) return tls;
  const code = (e as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? code : 'UNKNOWN';
  const hint = reason === 'ECONNREFUSED' ? ' (is the server running, and is --endpoint-url right?)' : '';
  return new NetworkError(`cannot reach ${target}: ${reason}${hint}`, reason, { cause: e, attempts: attempt });
}
