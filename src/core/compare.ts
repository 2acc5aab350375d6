import { timingSafeEqual } from 'node:crypto';

/**
 * Constant-time equality of two byte strings. The length check comes first and may leak the
 * length, which is public for everything we compare (signatures, digests, MACs).
 */
export function timingSafeEqualBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Constant-time equality of two strings of the same public length (hex signatures): no early
 * exit, so the time does not depend on where they differ.
 */
export function timingSafeEqualString(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
