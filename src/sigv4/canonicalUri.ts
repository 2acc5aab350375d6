/**
 * The canonical URI under the two rule sets AWS uses.
 *
 * - `normalize` (every service but S3): remove `.` and `..` segments and empty segments (`//`),
 *   then percent-encode the path as received once more, so `%2F` on the wire becomes `%252F`.
 * - `s3`: no normalization, the path is taken as the client encoded it (once).
 *
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html#create-canonical-request
 */
import { uriEncode } from './uriEncode.js';

export interface CanonicalRules {
  /** Remove dot segments and empty segments. */
  readonly normalizePath: boolean;
  /** Percent-encode the received path again. */
  readonly encodePath: boolean;
}

export const NORMALIZING_RULES: CanonicalRules = Object.freeze({ normalizePath: true, encodePath: true });
export const S3_RULES: CanonicalRules = Object.freeze({ normalizePath: false, encodePath: false });

/** RFC 3986 dot-segment removal, with empty segments dropped as SigV4 does. */
export function normalizePath(path: string): string {
  if (!/\/\/|(^|\/)\.\.?(\/|$)/.test(path)) return path;
  const kept: string[] = [];
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') kept.pop();
    else kept.push(segment);
  }
  // Only a path sent with a trailing slash keeps it (`/a/b/..` is `/a`), as AWS's SDKs do.
  const trailing = kept.length > 0 && path.endsWith('/') ? '/' : '';
  return '/' + kept.join('/') + trailing;
}

export function canonicalUri(path: string, rules: CanonicalRules): string {
  // The root is its own canonical form under both rules (and most API calls go there).
  if (path === '' || path === '/') return '/';
  const p = rules.normalizePath ? normalizePath(path) : path;
  return rules.encodePath ? uriEncode(p, true) : p;
}
