/**
 * AWS SDK for JavaScript v3 STS clients pointed at a running gateway, trusting its self-signed
 * certificate, plus a raw SigV4-signed request for tests that need control of the wire.
 */
import { createHash } from 'node:crypto';
import type { ClientRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { Sha256 } from '@aws-crypto/sha256-js';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Creds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

type HandleArgs = Parameters<NodeHttpHandler['handle']>;

/** A NodeHttpHandler that shows each request (headers and all, as signed) before it is sent. */
class WatchingHandler extends NodeHttpHandler {
  readonly #onRequest: (headers: Record<string, string>, query: Record<string, unknown>) => void;

  constructor(ca: string, onRequest: (headers: Record<string, string>, query: Record<string, unknown>) => void) {
    super({ httpsAgent: new Agent({ ca }) });
    this.#onRequest = onRequest;
  }

  override handle(...args: HandleArgs): ReturnType<NodeHttpHandler['handle']> {
    const req = args[0];
    this.#onRequest({ ...req.headers }, { ...(req.query ?? {}) });
    return super.handle(...args);
  }
}

export interface StsOptions {
  /** Called with the headers and query of every request the client sends, after signing. */
  readonly onRequest?: (headers: Record<string, string>, query: Record<string, unknown>) => void;
}

export function stsClient(url: string, caPem: string, credentials: Creds, opts: StsOptions = {}): STSClient {
  return new STSClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { ...credentials }, // the SDK annotates the object it is given
    maxAttempts: 1,
    requestHandler: opts.onRequest
      ? new WatchingHandler(caPem, opts.onRequest)
      : new NodeHttpHandler({ httpsAgent: new Agent({ ca: caPem }) }),
  });
}

/** The rejection of an SDK call, which must be a service error (not a network one). */
export async function sdkError(p: Promise<unknown>): Promise<STSServiceException> {
  try {
    await p;
  } catch (e) {
    if (e instanceof STSServiceException) return e;
    throw new Error(`expected an STS service error, got ${String(e)}`, { cause: e });
  }
  throw new Error('the call succeeded but was expected to fail');
}

export interface SignedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** The hex signature this request carries. */
  readonly signature: string;
}

const STS_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';

/** A POST GetCallerIdentity signed with SigV4 by the SDK's own signer. */
export async function signedGetCallerIdentity(url: string, creds: Creds, opts: { signingDate?: Date; body?: string } = {}): Promise<SignedRequest> {
  const u = new URL(url);
  const body = opts.body ?? STS_BODY;
  const signer = new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: creds, sha256: Sha256 });
  const req = new HttpRequest({
    method: 'POST',
    protocol: 'https:',
    hostname: u.hostname,
    port: Number(u.port),
    path: '/',
    headers: {
      host: u.host,
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
    },
    body,
  });
  const signed = (await signer.sign(req, opts.signingDate ? { signingDate: opts.signingDate } : {})) as HttpRequest;
  const auth = signed.headers['authorization'] ?? '';
  const signature = /Signature=([0-9a-f]{64})/.exec(auth)?.[1];
  if (signature === undefined) throw new Error(`no signature in ${auth}`);
  return { method: 'POST', path: '/', headers: { ...signed.headers }, body, signature };
}

/** A presigned GET GetCallerIdentity URL path (query string carries the signature). */
export async function presignedGetCallerIdentity(url: string, creds: Creds): Promise<{ path: string; signature: string }> {
  const u = new URL(url);
  const signer = new SignatureV4({ service: 'sts', region: 'us-east-1', credentials: creds, sha256: Sha256 });
  const req = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname: u.hostname,
    port: Number(u.port),
    path: '/',
    query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
    headers: { host: u.host },
  });
  const p = (await signer.presign(req, { expiresIn: 300 })) as HttpRequest;
  const query = Object.entries(p.query)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return { path: `/?${query}`, signature: String(p.query['X-Amz-Signature']) };
}

export interface Response {
  readonly status: number;
  readonly body: string;
}

/** Opens an HTTPS request to the gateway; the caller writes the body and ends it. */
export function openRequest(url: string, caPem: string, method: string, path: string, headers: Record<string, string>): { req: ClientRequest; response: Promise<Response> } {
  const u = new URL(url);
  let req!: ClientRequest;
  const response = new Promise<Response>((resolve, reject) => {
    req = httpsRequest({ host: u.hostname, port: u.port, method, path, headers, ca: caPem, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  return { req, response };
}

/** Sends a whole request and reads the whole response. */
export function send(url: string, caPem: string, method: string, path: string, headers: Record<string, string>, body = ''): Promise<Response> {
  const { req, response } = openRequest(url, caPem, method, path, headers);
  req.end(body);
  return response;
}
