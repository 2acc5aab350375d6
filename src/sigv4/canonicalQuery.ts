/**
 * The canonical query string: every parameter encoded, sorted by name and then by value
 * (byte order of the encoded forms), joined with `&`.
 */
import { canonicalComponent, uriEncode } from './uriEncode.js';

function sortAndJoin(pairs: string[][]): string {
  pairs.sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : a[1]! < b[1]! ? -1 : a[1]! > b[1]! ? 1 : 0));
  let out = '';
  for (const [k, v] of pairs) out += (out === '' ? '' : '&') + k + '=' + v;
  return out;
}

/**
 * From a query string as received (after `?`). Parameters named in `exclude` (raw names, such
 * as `X-Amz-Signature`) are left out.
 */
export function canonicalQueryFromRaw(raw: string, exclude?: ReadonlySet<string>): string {
  if (raw === '') return '';
  const pairs: string[][] = [];
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    if (exclude?.has(k)) continue;
    pairs.push([canonicalComponent(k), eq < 0 ? '' : canonicalComponent(part.slice(eq + 1))]);
  }
  return sortAndJoin(pairs);
}

/** From decoded parameters, as a signer holds them. */
export function canonicalQueryFromParams(params: Iterable<readonly [string, string]>): string {
  const pairs: string[][] = [];
  for (const [k, v] of params) pairs.push([uriEncode(k), uriEncode(v)]);
  return sortAndJoin(pairs);
}
