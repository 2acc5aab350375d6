/**
 * Helpers for the adversarial tests against a live gateway: exact bytes over TLS, signed raw
 * requests, IAM calls, the audit file, and checks that an error body is AWS's and nothing else.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Signer, type SignOptions } from '../../src/sigv4/sign.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { call, exchange, FORM, parseResponse, sleep, tlsConnect, type Creds, type RawResponse } from '../helpers/signedRequest.js';

export interface LiveReply extends RawResponse {
  /** All bytes the gateway sent on the connection, as latin1. */
  readonly raw: string;
  readonly closed: boolean;
}

/** Sends exact bytes on a fresh TLS connection, reads until the gateway closes (or the time is up). */
export async function sendRaw(gw: RunningGateway, bytes: Buffer | string, timeoutMs = 15_000): Promise<LiveReply> {
  const socket = await tlsConnect(gw);
  const out = await exchange(socket, typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, timeoutMs);
  return { ...parseResponse(out.text), raw: out.text, closed: out.closed };
}

/** A request as bytes: request line, the headers in the order given (lists repeat), CRLF, body. */
export function rawRequest(method: string, target: string, headers: ReadonlyArray<readonly [string, string]>, body: Buffer | string = ''): Buffer {
  let head = `${method} ${target} HTTP/1.1\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body]);
}

export function hostOf(gw: RunningGateway): string {
  return new URL(gw.url).host;
}

/** Signs a request and returns its header fields as a list (host first), ready for rawRequest. */
export function signRaw(
  gw: RunningGateway,
  req: { method: string; path: string; query?: string; headers?: Record<string, string>; body?: string | Buffer },
  opts: Partial<SignOptions> & { credentials: Creds; clock?: () => number },
): Array<[string, string]> {
  const signer = new Signer(opts.clock ? { clock: opts.clock } : {});
  const s = signer.sign(
    { method: req.method, path: req.path, query: req.query ?? '', headers: { host: hostOf(gw), ...req.headers }, body: req.body ?? '' },
    { region: 'us-east-1', service: 'sts', ...opts },
  );
  const out: Array<[string, string]> = [];
  for (const [k, v] of Object.entries(s.headers)) for (const one of typeof v === 'string' ? [v] : v) out.push([k, one]);
  return out;
}

/** A signed POST of a form body to STS (or `service`), as bytes, with `connection: close`. */
export function signedForm(gw: RunningGateway, body: string | Buffer, opts: Partial<SignOptions> & { credentials: Creds; clock?: () => number }): Buffer {
  const headers = signRaw(gw, { method: 'POST', path: '/', headers: { 'content-type': FORM }, body }, opts);
  return rawRequest('POST', '/', [...headers, ['content-length', String(Buffer.byteLength(body))], ['connection', 'close']], body);
}

/** Text an error body must never carry: stack frames, source paths, Node's internal error names. */
export const INTERNAL_TEXT = /\n\s+at \S|node:internal|\/dist\/|\/src\/|\.[jt]s:\d|TypeError|RangeError|ReferenceError|SyntaxError|Cannot read|undefined is not|ECONN|EPIPE/;

export interface ErrorShape {
  readonly code: string;
  readonly message: string;
  readonly requestId: string;
}

/** The code, message and request id of a query (XML) or awsJson error body; fails on anything else. */
export function errorOf(r: RawResponse, protocol: 'query' | 'json' = 'query'): ErrorShape {
  if (protocol === 'json') {
    const o = JSON.parse(r.body) as { __type?: string; message?: string };
    assert.equal(Object.keys(o).sort().join(','), '__type,message', `a JSON error has __type and message only: ${r.body}`);
    return { code: o.__type!, message: o.message!, requestId: r.headers['x-amzn-requestid'] ?? '' };
  }
  const m = /^<ErrorResponse(?: xmlns="[^"]*")?><Error><Type>(?:Sender|Receiver)<\/Type><Code>([^<]+)<\/Code><Message>([^<]*)<\/Message><\/Error><RequestId>([^<]+)<\/RequestId><\/ErrorResponse>$/.exec(r.body);
  assert.ok(m, `not an AWS query-protocol error body: ${JSON.stringify(r.body.slice(0, 400))}`);
  return { code: m[1]!, message: m[2]!, requestId: m[3]! };
}

/** The response is the AWS error `code` with `status`, a request id, and no internal text. */
export function assertAwsError(r: RawResponse, status: number, code: string, protocol: 'query' | 'json' = 'query'): ErrorShape {
  const e = errorOf(r, protocol);
  assert.equal(r.status, status, `status (body ${r.body})`);
  assert.equal(e.code, code, `code (message: ${e.message})`);
  assert.match(e.requestId, /^[0-9a-f-]{36}$/, 'a request id');
  assert.equal(r.headers['x-amzn-requestid'], e.requestId, 'the header and the body carry the same request id');
  assert.doesNotMatch(r.body, INTERNAL_TEXT, 'no internal text in the body');
  // XML 1.0 cannot carry these; an echoed value must have been replaced.
  assert.doesNotMatch(r.body, /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/, 'only characters XML can carry');
  return e;
}

export interface AuditEvent {
  readonly requestId: string;
  readonly decision: string;
  readonly reason: string;
  readonly status: number;
  readonly [k: string]: unknown;
}

export function auditFiles(gw: RunningGateway): string[] {
  const dir = join(gw.dataDir, 'audit');
  return ['audit.log', 'audit.log.1', 'audit.log.2', 'audit.log.3'].map((f) => join(dir, f)).filter((f) => existsSync(f));
}

export function auditEvents(gw: RunningGateway): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const f of auditFiles(gw)) for (const line of readFileSync(f, 'utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as AuditEvent);
  return out;
}

/** Waits (the audit file is written in batches) for the event of `requestId`. */
export async function auditEventOf(gw: RunningGateway, requestId: string, timeoutMs = 15_000): Promise<AuditEvent> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const e = auditEvents(gw).find((x) => x.requestId === requestId);
    if (e) return e;
    if (Date.now() > until) assert.fail(`no audit event for request ${requestId}`);
    await sleep(100);
  }
}

/** An IAM query-protocol call signed with `creds`; returns the response body (fails on an error). */
export async function iam(gw: RunningGateway, creds: Creds, params: Record<string, string>): Promise<string> {
  const body = new URLSearchParams({ ...params, Version: '2010-05-08' }).toString();
  const s = new Signer().sign({ method: 'POST', path: '/', headers: { host: hostOf(gw), 'content-type': FORM }, body }, { credentials: creds, region: 'us-east-1', service: 'iam' });
  const r = await call(gw, { method: 'POST', path: '/', headers: { ...s.headers } as Record<string, string>, body, timeoutMs: 30_000 });
  assert.equal(r.status, 200, `${params['Action']}: ${r.body}`);
  return r.body;
}

/** Creates a user with an access key and an inline policy; returns the key. */
export async function userWithPolicy(gw: RunningGateway, name: string, policy: object): Promise<Creds> {
  await iam(gw, gw.admin, { Action: 'CreateUser', UserName: name });
  await iam(gw, gw.admin, { Action: 'PutUserPolicy', UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify(policy) });
  const xml = await iam(gw, gw.admin, { Action: 'CreateAccessKey', UserName: name });
  return { accessKeyId: /<AccessKeyId>([^<]+)</.exec(xml)![1]!, secretAccessKey: /<SecretAccessKey>([^<]+)</.exec(xml)![1]! };
}
