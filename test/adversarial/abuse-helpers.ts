/**
 * Shared by the abuse-, faults- and tls- tests: signed requests from a chosen loopback source
 * address (127.0.0.2 is another client than 127.0.0.1 to the gateway), a gateway's resident
 * memory and open file descriptors, and its audit events.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import type { OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { Signer } from '../../src/sigv4/sign.js';
import type { RunningGateway } from '../helpers/gateway.js';
import { call, type Creds, FORM, GET_CALLER_IDENTITY, type Reply } from '../helpers/signedRequest.js';

const signer = new Signer();

export interface From {
  /** Local address to connect from (any 127.x.y.z on Linux). */
  readonly source?: string;
  readonly timeoutMs?: number;
}

/** One request (POST unless told) on a fresh TLS connection from `source`. */
export function send(gw: RunningGateway, opts: { method?: string; path?: string; headers?: OutgoingHttpHeaders; body?: string } & From): Promise<Reply> {
  return call(gw, { ...opts, method: opts.method ?? 'POST', timeoutMs: opts.timeoutMs ?? 30_000 });
}

/** A signed query-protocol request (STS by default) from `source`. */
export function signedQuery(gw: RunningGateway, creds: Creds, opts: { body?: string; service?: 'sts' | 'iam' } & From = {}): Promise<Reply> {
  const body = opts.body ?? GET_CALLER_IDENTITY;
  const host = new URL(gw.url).host;
  const s = signer.sign(
    { method: 'POST', path: '/', query: '', headers: { host, 'content-type': FORM }, body },
    { credentials: creds, region: 'us-east-1', service: opts.service ?? 'sts' },
  );
  const headers: OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(s.headers)) headers[k] = typeof v === 'string' ? v : [...v];
  return send(gw, { headers, body, ...(opts.source ? { source: opts.source } : {}), ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
}

/** The same key id with a secret that is not its own. */
export function badSecret(c: Creds): Creds {
  const s = c.secretAccessKey;
  return { accessKeyId: c.accessKeyId, secretAccessKey: (s[0] === 'A' ? 'B' : 'A') + s.slice(1) };
}

/** The error code in a query-protocol error body. */
export function errorCode(body: string): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
}

/** Resident memory of a process in KiB, from /proc. */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]);
}

/** Open file descriptors of a process. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface AuditEvent {
  readonly requestId: string;
  readonly decision: string;
  readonly reason: string;
  readonly sourceIp: string;
  readonly accessKeyId: string | null;
  readonly status: number;
  readonly action: string | null;
}

/** Every audit event written so far in the gateway's data dir (all files, rotated ones too). */
export function auditEvents(dataDir: string): AuditEvent[] {
  const dir = join(dataDir, 'audit');
  const out: AuditEvent[] = [];
  for (const f of readdirSync(dir).sort()) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) if (line !== '') out.push(JSON.parse(line) as AuditEvent);
  }
  return out;
}

/** Writes a config file with `config` in `dir` and returns its path. */
export function configFile(dir: string, config: unknown): string {
  const p = join(dir, 'portcullis.json');
  writeFileSync(p, JSON.stringify(config));
  return p;
}

/** Polls `fn` until it returns true or `timeoutMs` passes. */
export async function until(fn: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
