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

/** AKIA + 16 characters: a long-term access key ID. */
export function newAccessKeyId(): string {
  return 'AKIA' + base32(16);
}

/** 40 characters of base64 (240 bits), as AWS secret access keys are. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64');
}

export function newRequestId(): string {
  return randomUUID();
}
