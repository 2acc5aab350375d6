/**
 * Requests to a running gateway for limit, operations and audit tests: STS query requests signed
 * with our own Signer and sent with node:https, and raw TLS connections for what an HTTP client
 * will not send (half request lines, garbage, oversized header sections).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { connect, type TLSSocket } from 'node:tls';
import { Signer } from '../../src/sigv4/sign.js';
import type { RunningGateway } from './gateway.js';

export interface Creds {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export const GET_CALLER_IDENTITY = 'Action=GetCallerIdentity&Version=2011-06-15';
export const FORM = 'application/x-www-form-urlencoded; charset=utf-8';

const signer = new Signer();

export interface Signed {
  readonly headers: OutgoingHttpHeaders;
  /** The hex signature the request carries. */
  readonly signature: string;
}

/** Signs a POST / to STS; `extraHeaders` are signed too. */
export function signSts(gw: RunningGateway, body: string | Buffer, opts: { credentials?: Creds; extraHeaders?: Record<string, string> } = {}): Signed {
  const host = new URL(gw.url).host;
  const s = signer.sign(
    { method: 'POST', path: '/', query: '', headers: { host, 'content-type': FORM, ...opts.extraHeaders }, body },
    { credentials: opts.credentials ?? gw.admin, region: 'us-east-1', service: 'sts' },
  );
  const headers: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(s.headers)) headers[k] = typeof v === 'string' ? v : [...v];
  return { headers, signature: s.signature };
}

export interface CallOptions {
  readonly method?: string;
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  /** One body, sent with content-length (unless the headers say otherwise). */
  readonly body?: string | Buffer;
  /** A body sent as several writes with transfer-encoding: chunked. */
  readonly chunks?: readonly Buffer[];
  /** Send the headers and nothing else; the body never comes. */
  readonly withholdBody?: boolean;
  readonly timeoutMs?: number;
  /** The local address to connect from (any 127.x.y.z on Linux: another client to the gateway). */
  readonly source?: string;
}

/**
 * Sends one request on a fresh connection and reads the whole response. Write errors after the
 * response has begun (the gateway may close early on a refused body) are ignored.
 */
export function call(gw: RunningGateway, opts: CallOptions = {}): Promise<Reply> {
  const u = new URL(gw.url);
  return new Promise<Reply>((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: u.hostname, port: u.port, method: opts.method ?? 'GET', path: opts.path ?? '/', headers: opts.headers ?? {},
        ca: gw.caPem, servername: 'localhost', agent: false, ...(opts.source ? { localAddress: opts.source } : {}),
      },
      (res) => {
        answered = true;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
          req.destroy();
        });
        res.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no response within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    req.on('error', (e) => {
      if (!answered) {
        clearTimeout(timer);
        reject(e);
      }
    });
    if (opts.withholdBody) {
      req.flushHeaders();
      return;
    }
    if (opts.chunks) {
      void (async () => {
        for (const c of opts.chunks!) {
          if (answered || req.destroyed) return;
          req.write(c);
          await new Promise((r) => setTimeout(r, 5));
        }
        if (!answered && !req.destroyed) req.end();
      })();
      return;
    }
    req.end(opts.body);
  });
}

/** A signed STS request (GetCallerIdentity unless `body` says otherwise) and its response. */
export async function callSts(gw: RunningGateway, opts: { body?: string; credentials?: Creds; extraHeaders?: Record<string, string> } = {}): Promise<Reply & { signature: string }> {
  const body = opts.body ?? GET_CALLER_IDENTITY;
  const s = signSts(gw, body, opts);
  const r = await call(gw, { method: 'POST', path: '/', headers: s.headers, body });
  return { ...r, signature: s.signature };
}

/** The same signed request, but signed with a secret that is not the key's. */
export function wrongSecret(gw: RunningGateway): Creds {
  const s = gw.admin.secretAccessKey;
  return { accessKeyId: gw.admin.accessKeyId, secretAccessKey: (s[0] === 'A' ? 'B' : 'A') + s.slice(1) };
}

/** A TLS connection to the gateway, handshake done. */
export function tlsConnect(gw: RunningGateway): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: gw.port, ca: gw.caPem, servername: 'localhost' }, () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

export interface RawOutcome {
  /** All bytes the gateway sent, as latin1 text. */
  readonly text: string;
  /** Whether the gateway closed the connection before `timeoutMs`. */
  readonly closed: boolean;
  /** Milliseconds from the first write to the close (or to the timeout). */
  readonly elapsedMs: number;
  readonly error: string | undefined;
}

/** Writes `data` (if any) on a connected socket and reads until the peer closes or the time is up. */
export function exchange(socket: TLSSocket, data: string | Buffer | undefined, timeoutMs: number): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const started = Date.now();
    const parts: Buffer[] = [];
    let error: string | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed, elapsedMs: Date.now() - started, error });
      socket.destroy();
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', (d: Buffer) => parts.push(d));
    socket.on('error', (e: Error & { code?: string }) => (error = e.code ?? e.message));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    if (data !== undefined) socket.write(data);
  });
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Parses the first HTTP/1.1 response in `text` (content-length framed). */
export function parseResponse(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine!);
  if (!m) throw new Error(`not a status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = text.slice(end + 4);
  const len = headers['content-length'];
  return { status: Number(m[1]), headers, body: len === undefined ? rest : rest.slice(0, Number(len)) };
}

/** The code, message and request id of a query-protocol error body, or undefined if it is not one. */
export function queryError(body: string): { type: string; code: string; message: string; requestId: string } | undefined {
  const m = /^<ErrorResponse(?: xmlns="[^"]*")?><Error><Type>(Sender|Receiver)<\/Type><Code>([^<]+)<\/Code><Message>([^<]*)<\/Message><\/Error><RequestId>([^<]+)<\/RequestId><\/ErrorResponse>$/.exec(body.trim());
  return m ? { type: m[1]!, code: m[2]!, message: m[3]!, requestId: m[4]! } : undefined;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
