/** Identifiers in AWS's shapes, from the system's CSPRNG. */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(n: number): string {
  const bytes = randomBytes(n);
  let out = '';
  for (const b of bytes) out += BASE32[b & 31]!;
  return out;
}

/** 12 digits, not starting with 0. */
export function newAccountId(): string {
  return String(randomInt(1, 10)) + Array.from({ length: 11 }, () => randomInt(0, 10)).join('');
}

/** AIDA + 17 characters, as IAM user IDs are. */
export function newUserId(): string {
  return 'AIDA' + base32(17);
}

/** AGPA + 17 characters, as IAM group IDs are. */
export function newGroupId(): string {
  return 'AGPA' + base32(17);
}

/** AROA + 17 characters, as IAM role IDs are. */
export function newRoleId(): string {
  return 'AROA' + base32(17);
}

/** ANPA + 17 characters, as IAM managed policy IDs are. */
export function newPolicyId(): string {
  return 'ANPA' + base32(17);
}

/** RFC 4648 base32 of whole bytes, no padding. */
function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31]!;
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31]!;
  return out;
}

function base32Decode(text: string): Buffer | undefined {
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of text) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return undefined;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/**
 * An access key ID that carries its account, as AWS's do: `prefix` + base32 of ten bytes whose
 * first six hold the account ID shifted left by seven bits (the rest random). Anyone can read the
 * account back (GetAccessKeyInfo); nothing else is in it.
 */
function keyIdFor(prefix: 'AKIA' | 'ASIA', accountId: string): string {
  const bytes = randomBytes(10);
  const x = (BigInt(accountId) << 7n) | BigInt(bytes[5]! & 0x7f);
  for (let i = 5; i >= 0; i--) bytes[5 - i] = Number((x >> BigInt(8 * i)) & 0xffn);
  bytes[0]! &= 0x7f;
  return prefix + base32Encode(bytes);
}

/** AKIA + 16 characters: a long-term access key ID of `accountId`. */
export function newAccessKeyId(accountId: string): string {
  return keyIdFor('AKIA', accountId);
}

/** ASIA + 16 characters: the key ID of temporary credentials of `accountId`. */
export function newTemporaryKeyId(accountId: string): string {
  return keyIdFor('ASIA', accountId);
}

/** The account an access key ID carries, or undefined when it is not of that form. */
export function accountOfKeyId(accessKeyId: string): string | undefined {
  if (!/^(AKIA|ASIA)[A-Z2-7]{16}$/.test(accessKeyId)) return undefined;
  const bytes = base32Decode(accessKeyId.slice(4));
  if (bytes === undefined || bytes.length < 6) return undefined;
  let x = 0n;
  for (let i = 0; i < 6; i++) x = (x << 8n) | BigInt(bytes[i]!);
  return String((x & 0x7fffffffff80n) >> 7n).padStart(12, '0');
}

/** 40 characters of base64 (240 bits), as AWS secret access keys are. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

export function newRequestId(): string {
  return randomUUID();
}
