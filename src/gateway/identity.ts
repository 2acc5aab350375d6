/**
 * The identity Portcullis vouches for to upstream services: headers naming the authenticated
 * principal, signed with an Ed25519 key whose public half is published at
 * `/_portcullis/identity-key`, so an upstream can verify them instead of trusting the network.
 *
 *   signature = Ed25519(key, "portcullis-identity-v1\n" + method + "\n" + path + "\n" + each header value + "\n")
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from './files.js';

/** The signed headers, in signing order. */
export const IDENTITY_HEADERS = [
  'x-portcullis-principal',
  'x-portcullis-account',
  'x-portcullis-user-id',
  'x-portcullis-action',
  'x-portcullis-request-id',
  'x-portcullis-date',
] as const;
export const IDENTITY_SIGNATURE = 'x-portcullis-identity-signature';

function payload(method: string, path: string, values: readonly string[]): Buffer {
  return Buffer.from(`portcullis-identity-v1\n${method}\n${path}\n${values.map((v) => `${v}\n`).join('')}`, 'utf8');
}

/** A new Ed25519 private key, PKCS#8 PEM. */
export function newIdentityKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

export class IdentitySigner {
  readonly #key: KeyObject;
  readonly publicKeyPem: string;

  constructor(privateKey: KeyObject) {
    this.#key = privateKey;
    this.publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  }

  /** The key in `path`, made (0600) on first use. */
  static fromFile(path: string): IdentitySigner {
    if (!existsSync(path)) writeFileAtomic(path, newIdentityKeyPem());
    return new IdentitySigner(createPrivateKey(readFileSync(path, 'utf8')));
  }

  /** The identity headers with their signature. */
  headers(method: string, path: string, identity: Readonly<Record<(typeof IDENTITY_HEADERS)[number], string>>): Record<string, string> {
    const values = IDENTITY_HEADERS.map((h) => identity[h]);
    return { ...identity, [IDENTITY_SIGNATURE]: sign(null, payload(method, path, values), this.#key).toString('base64url') };
  }
}

/** For upstreams (and tests): are these identity headers signed by the published key? */
export function verifyIdentity(publicKeyPem: string, method: string, path: string, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const values = IDENTITY_HEADERS.map((h) => headers[h]);
  const sig = headers[IDENTITY_SIGNATURE];
  if (values.some((v) => typeof v !== 'string') || typeof sig !== 'string') return false;
  return verify(null, payload(method, path, values as string[]), createPublicKey(publicKeyPem), Buffer.from(sig, 'base64url'));
}
