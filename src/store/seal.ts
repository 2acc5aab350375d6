/**
 * Secrets at rest: AES-256-GCM under the master key, bound to the row they belong to
 * (additional authenticated data), with the key's id in the sealed value so keys can rotate.
 *
 *   sealed = "pcs1." + keyId + "." + base64url(iv) + "." + base64url(ciphertext || tag)
 *
 * The database alone reveals no secret; a sealed value moved to another row fails to open.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

const PREFIX = 'pcs1';

/** A short public id of a master key: HMAC of a fixed label, so it reveals nothing of the key. */
export function masterKeyId(key: Uint8Array): string {
  return createHmac('sha256', key).update('portcullis master key id').digest('hex').slice(0, 12);
}

export class Sealer {
  readonly #keys = new Map<string, Buffer>();
  readonly #current: string;

  /** `keys[0]` seals; every key in the list can open. */
  constructor(keys: readonly Uint8Array[]) {
    if (keys.length === 0) throw new Error('sealer needs at least one master key');
    for (const k of keys) {
      if (k.length !== 32) throw new Error('a master key is 32 bytes');
      this.#keys.set(masterKeyId(k), Buffer.from(k));
    }
    this.#current = masterKeyId(keys[0]!);
  }

  get currentKeyId(): string {
    return this.#current;
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#keys.get(this.#current)!, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}.${this.#current}.${iv.toString('base64url')}.${ct.toString('base64url')}`;
  }

  /** The id of the master key that sealed `sealed`, or undefined when it is not a sealed value. */
  static keyIdOf(sealed: string): string | undefined {
    const parts = sealed.split('.');
    return parts.length === 4 && parts[0] === PREFIX ? parts[1] : undefined;
  }

  /** Opens `sealed` and seals it again under the current key (master key rotation). */
  reseal(sealed: string, context: string): string {
    return this.seal(this.open(sealed, context), context);
  }

  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== PREFIX) throw new Error('sealed value has an unknown format');
    const key = this.#keys.get(parts[1]!);
    if (key === undefined) throw new Error(`sealed with master key ${parts[1]}, which is not loaded`);
    const iv = Buffer.from(parts[2]!, 'base64url');
    const data = Buffer.from(parts[3]!, 'base64url');
    if (iv.length !== 12 || data.length < 16) throw new Error('sealed value is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]).toString('utf8');
  }
}
