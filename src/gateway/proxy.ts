/**
 * Forwarding to an upstream service: a keep-alive pool per service, the caller's credentials and
 * hop-by-hop headers removed, the verified identity added, the response streamed back. Upstream
 * failures become 502/504 in the service's error shape; a dead upstream never hangs a caller.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { UpstreamService } from '../config/schema.js';
import { PortcullisError } from '../core/errors.js';
import { parseArn } from '../iam/arn.js';
import { compileArnTokens, tokenize } from '../iam/pattern.js';
import { ServiceRoutes } from './routes.js';

/** Hop-by-hop headers (RFC 9110 7.6.1), the caller's credentials, and anything claiming to be our identity. */
const DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization',
  'host', 'content-length', 'authorization', 'x-amz-security-token',
]);

function forwardable(raw: readonly string[]): Record<string, string[]> {
  // No prototype: a client's header named `__proto__` or `constructor` is a header like any other.
  const out: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (DROP.has(name) || name.startsWith('x-portcullis-')) continue;
    (out[name] ??= []).push(raw[i + 1]!);
  }
  return out;
}

/** The resource-based policies that apply to a resource, with the account that owns the resource. */
export interface ResourcePolicy {
  readonly text: readonly string[];
  readonly account: string;
  readonly kind: 'resource';
}

export class Upstream {
  readonly service: UpstreamService;
  readonly routes: ServiceRoutes;
  readonly #policies: ReadonlyArray<{ readonly matches: (arn: string) => boolean; readonly text: string }>;
  readonly #url: URL;
  readonly #agent: HttpAgent | HttpsAgent;

  /** `previous`: the same service before a reload; its connection pool is kept when the upstream did not move. */
  constructor(service: UpstreamService, previous?: Upstream) {
    this.service = service;
    this.routes = new ServiceRoutes(service);
    this.#policies = service.resourcePolicies.map((p) => ({ matches: compileArnTokens(tokenize(p.resource, false, true), false, true), text: p.policy }));
    this.#url = new URL(service.upstream);
    if (previous !== undefined && previous.service.upstream === service.upstream) {
      this.#agent = previous.#agent;
    } else {
      const opts = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64 };
      this.#agent = this.#url.protocol === 'https:' ? new HttpsAgent(opts) : new HttpAgent(opts);
    }
  }

  /** Every configured resource policy whose pattern covers `resource`: together, the resource's policy. */
  resourcePolicy(resource: string, defaultAccount: string): ResourcePolicy | undefined {
    const texts = this.#policies.filter((p) => p.matches(resource)).map((p) => p.text);
    if (texts.length === 0) return undefined;
    return { text: texts, account: parseArn(resource)?.account || defaultAccount, kind: 'resource' };
  }

  /** Does `next` keep using this one's connection pool? */
  sharesPool(next: Upstream): boolean {
    return next.#agent === this.#agent;
  }

  /**
   * Sends the (already verified) request on and streams the answer back. Resolves with the
   * upstream's status once the response is complete; throws a PortcullisError (502/504) when no
   * answer came, before anything was written to the caller.
   */
  forward(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | Readable,
    identity: Record<string, string>,
    requestId: string,
    /** The body's length when streamed, if known; unknown lengths go chunked. */
    length?: number,
  ): Promise<number> {
    const base = this.#url.pathname.replace(/\/$/, '');
    const send = this.#url.protocol === 'https:' ? httpsRequest : httpRequest;
    const size = Buffer.isBuffer(body) ? body.length : length;
    return new Promise<number>((resolve, reject) => {
      let answered = false;
      let bodyError: unknown;
      const out = send(
        {
          agent: this.#agent,
          protocol: this.#url.protocol,
          hostname: this.#url.hostname,
          port: this.#url.port,
          method: req.method,
          path: base + (req.url ?? '/'),
          headers: {
            ...forwardable(req.rawHeaders),
            host: this.#url.host,
            ...(size !== undefined ? { 'content-length': String(size) } : {}),
            ...identity,
            'x-amzn-requestid': requestId,
          },
          timeout: this.service.timeoutMs,
        },
        (up) => {
          answered = true;
          const headers: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
          for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && !DROP.has(k) && k !== 'x-amzn-requestid') headers[k] = v;
          if (up.headers['content-length'] !== undefined) headers['content-length'] = up.headers['content-length'];
          res.writeHead(up.statusCode ?? 502, { ...headers, 'x-amzn-requestid': requestId });
          const status = up.statusCode ?? 502;
          up.pipe(res);
          up.once('end', () => resolve(status));
          // The upstream broke off mid-response: the caller must see a broken response, not a short one.
          up.once('error', () => {
            res.destroy();
            resolve(status);
          });
          up.once('aborted', () => {
            res.destroy();
            resolve(status);
          });
        },
      );
      out.on('timeout', () => out.destroy(new PortcullisError('GatewayTimeout', `The ${this.service.name} service did not answer within ${this.service.timeoutMs} ms.`)));
      out.on('error', (e) => {
        if (answered) return;
        // A body that failed its check (a bad chunk, a wrong hash) says so; the upstream saw an aborted request.
        if (bodyError instanceof PortcullisError) return reject(bodyError);
        reject(e instanceof PortcullisError ? e : new PortcullisError('BadGateway', `The ${this.service.name} service could not be reached.`));
      });
      if (Buffer.isBuffer(body)) out.end(body);
      else {
        // Streamed with backpressure; the upstream gets no end until the whole body has passed its checks.
        pipeline(body, out).catch((e: unknown) => {
          bodyError = e;
          out.destroy(e instanceof Error ? e : new Error('body failed'));
        });
      }
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  /** Replaced by a reload: requests under way may take up to their timeout, then the pool goes. */
  retire(): void {
    setTimeout(() => this.#agent.destroy(), this.service.timeoutMs).unref();
  }
}
