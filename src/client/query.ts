/**
 * AWS query protocol (STS, IAM): `Action=…&Version=…` form POSTed to `/`, signed, XML back.
 * Errors come back as `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>`
 * and become `ServiceError`s.
 */
import { type Clock, systemClock } from '../core/clock.js';
import { uriEncode } from '../sigv4/uriEncode.js';
import type { CredentialProvider } from './credentials.js';
import { ServiceError } from './errors.js';
import { send, type HttpResponse } from './http.js';
import { withRetries, type RetryOptions } from './retry.js';
import { RequestSigner } from './signer.js';
import { PolicyAgent } from './tlsAgent.js';
import { parseXml, path, textAt, XmlError, type XmlElement } from './xml.js';

export interface ClientConfig {
  /** `https://host:port`; default `https://127.0.0.1:8443`. */
  readonly endpoint?: string | URL;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** Where credentials come from; `defaultProvider()` is the usual choice. */
  readonly credentials?: CredentialProvider;
  /** A shared agent (TLS policy and CA bundle); default a new `PolicyAgent()`. */
  readonly agent?: PolicyAgent;
  readonly retry?: RetryOptions;
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/** A query parameter value; lists are sent as `Name.member.N`, done by the caller. */
export type QueryParams = Readonly<Record<string, string | number | boolean | undefined>>;

export const DEFAULT_ENDPOINT = 'https://127.0.0.1:8443';

/** The codes that mean "these temporary credentials have expired". */
const EXPIRED_CODES: ReadonlySet<string> = new Set(['ExpiredToken', 'ExpiredTokenException']);

function hasInvalidate(p: CredentialProvider): p is CredentialProvider & { invalidate(): void } {
  return typeof (p as { invalidate?: unknown }).invalidate === 'function';
}

export class QueryClient {
  readonly endpoint: URL;
  readonly region: string;
  readonly #service: string;
  readonly #version: string;
  readonly #agent: PolicyAgent;
  readonly #signer: RequestSigner | undefined;
  readonly #config: ClientConfig;

  constructor(service: string, version: string, config: ClientConfig) {
    this.endpoint = new URL(config.endpoint ?? DEFAULT_ENDPOINT);
    this.region = config.region ?? 'us-east-1';
    this.#service = service;
    this.#version = version;
    this.#agent = config.agent ?? new PolicyAgent();
    this.#config = config;
    this.#signer = config.credentials === undefined ? undefined : new RequestSigner({ credentials: config.credentials, region: this.region, service, clock: config.clock ?? systemClock });
  }

  /** Calls `action` and returns its `<ActionResult>` element (the response root when absent). */
  async call(action: string, params: QueryParams = {}, opts: { unsigned?: boolean } = {}): Promise<XmlElement> {
    const body = formBody({ Action: action, Version: this.#version, ...params });
    const url = new URL('/', this.endpoint);
    const attempt = () => withRetries(async (attempt) => {
      const headers: Record<string, string | readonly string[]> = {
        host: url.host,
        'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      };
      let signed: Record<string, string | readonly string[]> = headers;
      if (!opts.unsigned) {
        if (this.#signer === undefined) throw new TypeError(`${this.#service} ${action} needs credentials; none were configured`);
        signed = (await this.#signer.sign({ method: 'POST', url, headers, body })).headers;
      }
      const r = await send({ url, method: 'POST', headers: signed, body }, { agent: this.#agent, attempt, ...(this.#config.timeoutMs !== undefined ? { timeoutMs: this.#config.timeoutMs } : {}) });
      if (r.status >= 300) throw serviceError(r, attempt);
      return r;
    }, this.#config.retry);
    let res: HttpResponse;
    try {
      res = await attempt();
    } catch (e) {
      // Credentials that expired before the provider thought (a clock ahead of the server's, a
      // revoked session): drop what the provider kept and try once more with fresh ones.
      const provider = this.#config.credentials;
      if (!(e instanceof ServiceError) || !EXPIRED_CODES.has(e.awsCode) || opts.unsigned || provider === undefined || !hasInvalidate(provider)) throw e;
      provider.invalidate();
      res = await attempt();
    }
    let root: XmlElement;
    try {
      root = parseXml(res.body.toString('utf8'));
    } catch (e) {
      throw new ServiceError({ awsCode: 'MalformedResponse', status: res.status, message: `the answer to ${action} is not XML (${(e as Error).message})`, requestId: requestIdHeader(res) });
    }
    return path(root, `${action}Result`) ?? root;
  }
}

/** `application/x-www-form-urlencoded` as AWS SDKs write it: RFC 3986 encoding, `%20` for spaces. */
export function formBody(params: QueryParams): string {
  return Object.entries(params)
    .filter((e): e is [string, string | number | boolean] => e[1] !== undefined)
    .map(([k, v]) => `${uriEncode(k)}=${uriEncode(String(v))}`)
    .join('&');
}

/** `Name.member.1=a&Name.member.2=b`, as the query protocol spells lists. */
export function listParams(name: string, values: readonly string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  (values ?? []).forEach((v, i) => (out[`${name}.member.${i + 1}`] = v));
  return out;
}

function requestIdHeader(r: HttpResponse): string | undefined {
  const h = r.headers['x-amzn-requestid'] ?? r.headers['x-amz-request-id'];
  return typeof h === 'string' ? h : undefined;
}

/** An error answer as a `ServiceError`: query XML, REST XML, JSON, or just a status. */
export function serviceError(r: HttpResponse, attempt = 1): ServiceError {
  const text = r.body.toString('utf8');
  let awsCode = `Http${r.status}`;
  let message = `the service answered HTTP ${r.status}`;
  let requestId = requestIdHeader(r);
  let fault: 'Sender' | 'Receiver' | undefined;
  const type = String(r.headers['content-type'] ?? '');
  try {
    if (text.trimStart().startsWith('<')) {
      const root = parseXml(text);
      const err = root.name === 'ErrorResponse' ? path(root, 'Error') : root.name === 'Error' ? root : undefined;
      awsCode = textAt(err, 'Code') ?? awsCode;
      message = textAt(err, 'Message') ?? message;
      const t = textAt(err, 'Type');
      fault = t === 'Sender' || t === 'Receiver' ? t : undefined;
      requestId = textAt(root, 'RequestId') ?? textAt(err, 'RequestId') ?? requestId;
    } else if (type.includes('json') && text !== '') {
      const j = JSON.parse(text) as { __type?: unknown; message?: unknown; Message?: unknown };
      if (typeof j.__type === 'string') awsCode = j.__type.split('#').at(-1)!;
      const m = j.message ?? j.Message;
      if (typeof m === 'string') message = m;
    }
  } catch (e) {
    if (!(e instanceof XmlError) && !(e instanceof SyntaxError)) throw e;
  }
  return new ServiceError({ awsCode, status: r.status, message, requestId, fault, attempts: attempt });
}
