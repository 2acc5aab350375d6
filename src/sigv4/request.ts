import { HeaderMap } from './canonicalHeaders.js';

/** A request as the signature sees it: nothing here is decoded or normalized yet. */
export interface HttpRequest {
  readonly method: string;
  /** The path as sent on the wire: percent-encoded, without the query. */
  readonly path: string;
  /** The raw query string after `?`, or `''`. */
  readonly query: string;
  /** Header fields grouped by lower-case name, in the order received. */
  readonly headers: HeaderMap;
}

/** Splits a request target (`/a/b?x=1`) into path and raw query. */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** From the pieces Node's `http.IncomingMessage` has: `method`, `url` and `rawHeaders`. */
export function requestFromWire(method: string, target: string, rawHeaders: readonly string[]): HttpRequest {
  const q = target.indexOf('?');
  const headers = HeaderMap.fromRaw(rawHeaders);
  return q < 0 ? { method, path: target, query: '', headers } : { method, path: target.slice(0, q), query: target.slice(q + 1), headers };
}

export function requestFromRecord(
  method: string,
  target: string,
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): HttpRequest {
  return { method, ...splitTarget(target), headers: HeaderMap.fromRecord(headers) };
}
