/**
 * The identity Portcullis vouches for to upstream services: headers naming the authenticated
 * principal, covered by an Ed25519 signature whose public key is published at
 * `/_portcullis/identity-key`, so an upstream can verify them instead of trusting the network.
 *
 * One signature covers a batch. The requests that reach the signer in the same turn of the event
 * loop (many of them, under load) are the leaves of a Merkle tree, only its root is signed, and
 * each request carries the signature and the path from its own leaf up to the root. A signature
 * costs about as much as all the rest of a forwarded request, so under load this is where the
 * data plane's time went; a request alone has an empty path (its leaf is the root). Each request
 * is still bound to its own method, path and identity: changing any of them, or taking another
 * request's path, changes the root the signature must match.
 *
 *   payload   = "portcullis-identity-v2\n" + method + "\n" + path + "\n" + (each value + "\n")
 *   leaf      = SHA-256(0x00 || payload)
 *   node      = SHA-256(0x01 || left || right)         (a level's odd last node moves up as it is)
 *   signature = Ed25519(key, "portcullis-identity-root-v2\n" || root)
 *   x-portcullis-identity-signature: base64url(signature)
 *   x-portcullis-identity-proof:     the siblings from the leaf up, each "l" or "r" (the side the
 *                                    sibling is on) + base64url(its hash), joined by "."; empty alone
 *
 * The 0x00/0x01 prefixes keep a leaf from passing for an inner node (RFC 9162 §2.1.1).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { sha256Bytes } from '../sigv4/canonicalRequest.js';
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
export const IDENTITY_PROOF = 'x-portcullis-identity-proof';

export type Identity = Readonly<Record<(typeof IDENTITY_HEADERS)[number], string>>;

/** Most requests one signature covers; a fuller batch is signed at once (a path of at most 8 steps). */
const MAX_BATCH = 256;
const ROOT_PREFIX = Buffer.from('portcullis-identity-root-v2\n');

// Every hash of the tree is kept as a string of 32 byte-valued (latin1) characters (sha256Bytes).

/** A request's leaf: SHA-256 of 0x00, then the payload (method, path, and a line per identity value). */
function leafHash(method: string, path: string, values: readonly string[]): string {
  return sha256Bytes(`\u0000portcullis-identity-v2\n${method}\n${path}\n${values.join('\n')}\n`);
}

/** 0x01, then the two children: one buffer, written again for each node (hashing reads it at once). */
const nodeInput = Buffer.alloc(65, 1);

function nodeHash(left: string, right: string): string {
  nodeInput.write(left, 1, 'latin1');
  nodeInput.write(right, 33, 'latin1');
  return sha256Bytes(nodeInput);
}

const encoding = Buffer.alloc(32);

function base64url(hash: string): string {
  encoding.write(hash, 0, 'latin1');
  return encoding.toString('base64url');
}

/** The root over `leaves` and, for each leaf, its path to the root in the header's form. */
export function merkleProofs(leaves: readonly string[]): { root: string; proofs: string[] } {
  const levels: (readonly string[])[] = [leaves];
  for (let level = leaves; level.length > 1; levels.push(level)) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? nodeHash(level[i]!, level[i + 1]!) : level[i]!);
    level = next;
  }
  // From the root down, each node's path is its own step and then its parent's path: each path is
  // made once and shared by everything below it, and each hash is encoded once (as one sibling's step).
  let paths = [''];
  for (let d = levels.length - 2; d >= 0; d--) {
    const level = levels[d]!;
    const below: string[] = [];
    for (let i = 0; i < level.length; i++) {
      const up = paths[i >> 1]!;
      const step = i % 2 === 1 ? `l${base64url(level[i - 1]!)}` : i + 1 < level.length ? `r${base64url(level[i + 1]!)}` : '';
      below.push(step === '' ? up : up === '' ? step : `${step}.${up}`);
    }
    paths = below;
  }
  return { root: levels[levels.length - 1]![0]!, proofs: paths };
}

/** A new Ed25519 private key, PKCS#8 PEM. */
export function newIdentityKeyPem(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
}

interface Waiting {
  readonly leaf: string;
  readonly identity: Identity;
  readonly resolve: (fields: string[]) => void;
  readonly reject: (e: unknown) => void;
}

export class IdentitySigner {
  readonly #key: KeyObject;
  readonly publicKeyPem: string;
  #batch: Waiting[] = [];

  constructor(privateKey: KeyObject) {
    this.#key = privateKey;
    this.publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }) as string;
  }

  /** The key in `path`, made (0600) on first use. */
  static fromFile(path: string): IdentitySigner {
    if (!existsSync(path)) writeFileAtomic(path, newIdentityKeyPem());
    return new IdentitySigner(createPrivateKey(readFileSync(path, 'utf8')));
  }

  /**
   * The identity header fields with their signature and path, once this turn's batch is signed:
   * a flat list (name, value, …), as the forwarded request's fields are.
   */
  headers(method: string, path: string, identity: Identity): Promise<string[]> {
    const leaf = leafHash(method, path, IDENTITY_HEADERS.map((h) => identity[h]));
    return new Promise((resolve, reject) => {
      if (this.#batch.length === 0) setImmediate(() => this.#sign());
      this.#batch.push({ leaf, identity, resolve, reject });
      if (this.#batch.length >= MAX_BATCH) this.#sign();
    });
  }

  #sign(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    try {
      const { root, proofs } = merkleProofs(batch.map((w) => w.leaf));
      const signature = sign(null, Buffer.concat([ROOT_PREFIX, Buffer.from(root, 'latin1')]), this.#key).toString('base64url');
      batch.forEach((w, i) => {
        const fields: string[] = [];
        for (const name of IDENTITY_HEADERS) fields.push(name, w.identity[name]);
        fields.push(IDENTITY_SIGNATURE, signature, IDENTITY_PROOF, proofs[i]!);
        w.resolve(fields);
      });
    } catch (e) {
      for (const w of batch) w.reject(e);
    }
  }
}

const PROOF_STEP = /^[lr][A-Za-z0-9_-]{43}$/;

/** For upstreams (and tests): are these identity headers, for this method and path, signed by the published key? */
export function verifyIdentity(publicKeyPem: string, method: string, path: string, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  const values = IDENTITY_HEADERS.map((h) => headers[h]);
  const sig = headers[IDENTITY_SIGNATURE];
  const proof = headers[IDENTITY_PROOF] ?? '';
  if (values.some((v) => typeof v !== 'string') || typeof sig !== 'string' || typeof proof !== 'string') return false;
  const steps = proof === '' ? [] : proof.split('.');
  if (steps.length > 16 || !steps.every((s) => PROOF_STEP.test(s))) return false;
  let h = leafHash(method, path, values as string[]);
  for (const s of steps) {
    const sibling = Buffer.from(s.slice(1), 'base64url').toString('latin1');
    h = s[0] === 'l' ? nodeHash(sibling, h) : nodeHash(h, sibling);
  }
  return verify(null, Buffer.concat([ROOT_PREFIX, Buffer.from(h, 'latin1')]), createPublicKey(publicKeyPem), Buffer.from(sig, 'base64url'));
}
