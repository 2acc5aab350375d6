import { timingSafeEqual } from 'node:crypto';

/**
 * Constant-time equality of two byte strings. The length check comes first and may leak the
 * length, which is public for everything we compare (signatures, digests, MACs).
 */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
