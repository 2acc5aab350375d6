/**
 * Percent-encoding as SigV4 defines it: every byte outside RFC 3986's unreserved set
 * (A-Z a-z 0-9 - . _ ~) becomes `%XX` with upper-case hex; `/` is kept in paths.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
 */

const UNRESERVED_ONLY = /^[A-Za-z0-9\-._~]*$/;
const UNRESERVED_OR_SLASH = /^[A-Za-z0-9\-._~/]*$/;
const HEX = '0123456789ABCDEF';

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
  );
}

function encodeBytes(bytes: Uint8Array, keepSlash: boolean): string {
  let out = '';
  for (const b of bytes) {
    if (isUnreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b);
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!;
  }
  return out;
}

/** Encodes a decoded string (its UTF-8 bytes). */
export function uriEncode(s: string, keepSlash = false): string {
  if ((keepSlash ? UNRESERVED_OR_SLASH : UNRESERVED_ONLY).test(s)) return s;
  return encodeBytes(Buffer.from(s, 'utf8'), keepSlash);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes `%XX` escapes of a string as received on the wire into bytes. A `%` not followed by
 * two hex digits stays a literal `%`, and `+` stays `+` (SigV4 clients encode a space as `%20`).
 */
export function percentDecode(raw: string): Buffer {
  const text = Buffer.from(raw, 'utf8');
  if (!raw.includes('%')) return text;
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const b = text[i]!;
    if (b === 0x25 && i + 2 < text.length) {
      const hi = hexValue(text[i + 1] ?? 0);
      const lo = hexValue(text[i + 2] ?? 0);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** The canonical spelling of one received query key or value: decoded, then encoded again. */
export function canonicalComponent(raw: string): string {
  if (UNRESERVED_ONLY.test(raw)) return raw;
  return encodeBytes(percentDecode(raw), false);
}

/** Decodes one received query key or value to text (for reading parameters such as X-Amz-Date). */
export function decodeComponent(raw: string): string {
  return UNRESERVED_ONLY.test(raw) ? raw : percentDecode(raw).toString('utf8');
}
