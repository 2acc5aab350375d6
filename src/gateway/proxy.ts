/**
 * Forwarding to an upstream service: a keep-alive pool per service (undici), the caller's
 * credentials and hop-by-hop headers removed, the verified identity added, the response streamed
 * back with backpressure. Upstream failures become 502/504 in the service's error shape; a dead
 * upstream never hangs a caller.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { type Dispatcher, errors as undiciErrors, Pool } from 'undici';
import type { UpstreamService } from '../config/schema.js';
import { PortcullisError } from '../core/errors.js';
import { parseArn } from '../iam/arn.js';
import { compileArnTokens, tokenize } from '../iam/pattern.js';
import { ServiceRoutes } from './routes.js';

/** Hop-by-hop headers (RFC 9110 7.6.1), the caller's credentials, and anything claiming to be our identity. */
const DROP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization',
  'host', 'content-length', 'authorization', 'x-amz-security-token',
  // The gateway answered any 100-continue itself; the upstream gets the body straight away.
  'expect',
  // The gateway's own, both ways.
  'x-amzn-requestid',
]);

/**
 * The caller's header fields that go on to the upstream, as the flat list (name, value, …) that
 * undici and Node take as they are: cheaper than an object, and a field sent twice stays two.
 */
function forwardable(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (DROP.has(name) || name.startsWith('x-portcullis-')) continue;
    out.push(name, raw[i + 1]!);
  }
  return out;
}

const NO_TAGS: ReadonlyMap<string, string> = new Map();
/** How long a resource's tags are trusted before the upstream is asked again. */
const TAGS_TTL_MS = 1000;
/** A tag lookup is a small read: it waits at most this long, whatever the service's timeout. */
const TAGS_TIMEOUT_MS = 5000;
const MAX_TAGS_ANSWER = 64 * 1024;
const MAX_TAGGED_ARN = 2048;

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
  /** The upstream URL's own path, without a trailing `/`: what every request's path is put under. */
  readonly #base: string;
  readonly #pool: Pool;
  /** Resource tags the upstream told, kept TAGS_TTL_MS after the answer; lookups under way are shared. */
  readonly #tags = new Map<string, { doneAt: number | undefined; tags: Promise<ReadonlyMap<string, string>> }>();

  /** `previous`: the same service before a reload; its connection pool is kept when the upstream did not move. */
  constructor(service: UpstreamService, previous?: Upstream) {
    this.service = service;
    this.routes = new ServiceRoutes(service);
    this.#policies = service.resourcePolicies.map((p) => ({ matches: compileArnTokens(tokenize(p.resource, false, true), false, true), text: p.policy }));
    this.#url = new URL(service.upstream);
    this.#base = this.#url.pathname.replace(/\/$/, '');
    this.#pool = previous !== undefined && previous.service.upstream === service.upstream && previous.service.timeoutMs === service.timeoutMs
      ? previous.#pool
      : new Pool(this.#url.origin, {
        connections: 256,
        keepAliveTimeout: 4_000,
        // No answer (or no next piece of it) within the service's timeout is a 504.
        headersTimeout: service.timeoutMs,
        bodyTimeout: service.timeoutMs,
        connectTimeout: Math.min(service.timeoutMs, 10_000),
      });
  }

  /** Every configured resource policy whose pattern covers `resource`: together, the resource's policy. */
  resourcePolicy(resource: string, defaultAccount: string): ResourcePolicy | undefined {
    const texts = this.#policies.filter((p) => p.matches(resource)).map((p) => p.text);
    if (texts.length === 0) return undefined;
    return { text: texts, account: parseArn(resource)?.account || defaultAccount, kind: 'resource' };
  }

  /** Does `next` keep using this one's connection pool? */
  sharesPool(next: Upstream): boolean {
    return next.#pool === this.#pool;
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
    /** The identity header fields, a flat list (name, value, …). */
    identity: readonly string[],
    requestId: string,
    /** The body's length when streamed, if known; unknown lengths go chunked. */
    length?: number,
  ): Promise<number> {
    const size = Buffer.isBuffer(body) ? body.length : length;
    let status: number | undefined;
    let bodyError: unknown;
    if (!Buffer.isBuffer(body)) body.once('error', (e) => (bodyError = e));
    const headers = forwardable(req.rawHeaders);
    headers.push('host', this.#url.host);
    if (size !== undefined) headers.push('content-length', String(size));
    for (const field of identity) headers.push(field);
    headers.push('x-amzn-requestid', requestId);
    return this.#pool.stream(
      {
        method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
        path: this.pathOf(req.url ?? '/'),
        headers,
        // Streamed with backpressure; a body that fails its check aborts the upstream request, so
        // the upstream never sees the end of a body that was wrong.
        body,
      },
      (up) => {
        status = up.statusCode;
        const head: string[] = [];
        for (const name of Object.keys(up.headers)) {
          const v = up.headers[name];
          if (v === undefined || DROP.has(name)) continue;
          if (typeof v === 'string') head.push(name, v);
          else for (const one of v) head.push(name, one);
        }
        const length = up.headers['content-length'];
        if (typeof length === 'string') head.push('content-length', length);
        head.push('x-amzn-requestid', requestId);
        res.writeHead(up.statusCode, head);
        return res;
      },
    ).then(
      () => status!,
      (e: unknown) => {
        // The upstream broke off mid-response: the caller must see a broken response, not a short one.
        if (status !== undefined) {
          res.destroy();
          return status;
        }
        // A body that failed its check (a bad chunk, a wrong hash) says so; the upstream saw an aborted request.
        if (bodyError instanceof PortcullisError) throw bodyError;
        if (e instanceof PortcullisError) throw e;
        if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError) {
          throw new PortcullisError('GatewayTimeout', `The ${this.service.name} service did not answer within ${this.service.timeoutMs} ms.`);
        }
        throw new PortcullisError('BadGateway', `The ${this.service.name} service could not be reached.`);
      },
    );
  }

  /** The path a request target is sent to the upstream with (under the upstream URL's own path). */
  pathOf(target: string): string {
    return this.#base + target;
  }

  /**
   * The tags of `resource`, as the upstream tells them at `resourceTags` (none when the service
   * has no such path, or the upstream does not know the resource). An upstream that cannot say is
   * a BadGateway: a condition on tags is never decided on a guess.
   */
  resourceTags(resource: string): Promise<ReadonlyMap<string, string>> {
    const path = this.service.resourceTags;
    if (path === undefined || resource === '*') return Promise.resolve(NO_TAGS);
    if (resource.length > MAX_TAGGED_ARN) return Promise.reject(new PortcullisError('ValidationError', `A resource ARN of more than ${MAX_TAGGED_ARN} characters has no tags to ask for.`));
    const now = Date.now();
    const hit = this.#tags.get(resource);
    // A lookup under way is shared whatever its age; a finished one is kept TAGS_TTL_MS.
    if (hit !== undefined && (hit.doneAt === undefined || now - hit.doneAt < TAGS_TTL_MS)) return hit.tags;
    if (this.#tags.size >= 10_000) this.#tags.clear();
    const entry: { doneAt: number | undefined; tags: Promise<ReadonlyMap<string, string>> } = { doneAt: undefined, tags: Promise.resolve(NO_TAGS) };
    entry.tags = this.#askTags(`${this.#base}${path}?resource=${encodeURIComponent(resource)}`, resource).then(
      (tags) => {
        entry.doneAt = Date.now();
        return tags;
      },
      (e: unknown) => {
        // A failed answer is not kept: the next request asks again.
        if (this.#tags.get(resource) === entry) this.#tags.delete(resource);
        throw e;
      },
    );
    this.#tags.set(resource, entry);
    return entry.tags;
  }

  async #askTags(path: string, resource: string): Promise<ReadonlyMap<string, string>> {
    const failed = (why: string) => new PortcullisError('BadGateway', `The ${this.service.name} service did not tell the tags of ${resource.slice(0, 256)} (${why}).`);
    const timeout = Math.min(this.service.timeoutMs, TAGS_TIMEOUT_MS);
    let answer: Dispatcher.ResponseData;
    let text: string;
    try {
      answer = await this.#pool.request({ method: 'GET', path, headers: { accept: 'application/json' }, headersTimeout: timeout, bodyTimeout: timeout });
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of answer.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_TAGS_ANSWER) {
          answer.body.destroy();
          throw failed('answer too large');
        }
        chunks.push(chunk);
      }
      text = Buffer.concat(chunks).toString('utf8');
    } catch (e) {
      if (e instanceof PortcullisError) throw e;
      if (e instanceof undiciErrors.HeadersTimeoutError || e instanceof undiciErrors.BodyTimeoutError || e instanceof undiciErrors.ConnectTimeoutError) {
        throw new PortcullisError('GatewayTimeout', `The ${this.service.name} service did not tell the tags of ${resource.slice(0, 256)} within ${timeout} ms.`);
      }
      throw failed('no answer');
    }
    // Only a 200 with a tags object is an answer: a 404 from a wrong path must not read as "no tags",
    // or a Deny that names a tag would silently never apply.
    if (answer.statusCode !== 200) throw failed(`status ${answer.statusCode}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw failed('not JSON');
    }
    const tags = (parsed as { tags?: unknown } | null)?.tags;
    if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) throw failed('no `tags` object');
    const entries = Object.entries(tags);
    // IAM's bounds on tags: at most 50, keys of 1–128 characters, values of at most 256.
    if (entries.length > 50 || !entries.every(([k, v]) => k.length >= 1 && k.length <= 128 && typeof v === 'string' && v.length <= 256)) throw failed('tags out of bounds');
    return new Map(entries as [string, string][]);
  }

  close(): void {
    void this.#pool.destroy();
  }

  /** Replaced by a reload: requests under way finish, then the pool closes. */
  retire(): void {
    void this.#pool.close();
  }
}
