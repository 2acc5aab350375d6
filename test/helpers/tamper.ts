/** A signed request as the verifier sees it, ways to change one part of it, and the error a change must cause. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PortcullisError } from '../../src/core/errors.js';
import type { HttpRequest } from '../../src/sigv4/index.js';

export interface Signed {
  /** Our view of the request as it arrives. */
  readonly req: HttpRequest;
  readonly body: Buffer;
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** For assert.throws/rejects: the error is a PortcullisError whose code is `code`. */
export function isCode(code: string): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof PortcullisError, `expected a PortcullisError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    return true;
  };
}

export async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, isCode(code));
}

export function withPath(s: Signed, path: string): Signed {
  return { ...s, req: { ...s.req, path } };
}

export function withQuery(s: Signed, query: string): Signed {
  return { ...s, req: { ...s.req, query } };
}

/** The request with header `name` (which it must have) set to `value`. */
export function withHeader(s: Signed, name: string, value: string): Signed {
  assert.ok(s.req.headers.has(name), `the request has no ${name} header`);
  return { ...s, req: { ...s.req, headers: s.req.headers.with(name, value) } };
}

export function withBody(s: Signed, body: Buffer): Signed {
  return { ...s, body };
}

/** A copy of `b` with one bit of byte `index` flipped. */
export function flipByte(b: Buffer, index: number): Buffer {
  const copy = Buffer.from(b);
  copy[index] = copy[index]! ^ 0x01;
  return copy;
}

/** The SignedHeaders list of the request's Authorization header. */
export function signedHeaderList(s: Signed): string[] {
  const auth = s.req.headers.get('authorization')?.[0];
  assert.ok(auth, 'no authorization header');
  return /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
}
