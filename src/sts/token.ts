/**
 * Session tokens: self-contained, sealed with AES-256-GCM, so that any node holding the token
 * key verifies temporary credentials without a database read. The token carries the secret
 * access key and everything authorization needs; only its holder and the nodes can read it.
 *
 *   token = "PCT1." + keyId + "." + base64url(iv || ciphertext || tag)
 *
 * The token key is derived from the master key (HKDF-SHA256, its own label), so rotating the
 * master key rotates it and a token minted under a retired key no longer opens.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const PREFIX = 'PCT1';

/** Who a session is, as the token remembers it. */
export type SessionPrincipal =
  | {
      readonly type: 'assumed-role';
      readonly accountId: string;
      readonly roleId: string;
      readonly roleName: string;
      readonly rolePath: string;
      readonly sessionName: string;
    }
  | {
      /** GetFederationToken: named by the caller, acting with the calling user's policies. */
      readonly type: 'federated-user';
      readonly accountId: string;
      readonly name: string;
      readonly userId: string;
      readonly userName: string;
      readonly userPath: string;
    }
  | {
      readonly type: 'user-session';
      readonly accountId: string;
      readonly userId: string;
      readonly userName: string;
      readonly userPath: string;
    };

export interface SessionClaims {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly principal: SessionPrincipal;
  /** Epoch ms. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Session policies (JSON texts) that narrow the session. */
  readonly sessionPolicies: readonly string[];
  /** Session tags (aws:PrincipalTag for the session). */
  readonly tags: Readonly<Record<string, string>>;
  /** Keys of tags that pass on when this session assumes another role. */
  readonly transitiveTagKeys: readonly string[];
  readonly sourceIdentity: string | undefined;
  /** The session was made from another role session (role chaining). */
  readonly chained: boolean;
}

export interface TokenKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The token key of a master key. */
export function tokenKeyFrom(masterKey: Uint8Array): TokenKey {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'portcullis session tokens v1', 32));
  const id = createHmac('sha256', key).update('portcullis session token key id').digest('hex').slice(0, 12);
  return { id, key };
}

/** What a sealed text is for: a session token never opens as a message, nor the reverse. */
const PURPOSE = { token: Buffer.from('portcullis session token', 'utf8'), message: Buffer.from('portcullis authorization message', 'utf8') };

function seal(text: string, key: TokenKey, aad: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return `${PREFIX}.${key.id}.${Buffer.concat([iv, body]).toString('base64url')}`;
}

function open(sealed: string, keys: readonly TokenKey[], aad: Buffer, maxLength: number): string | undefined {
  if (sealed.length > maxLength) return undefined;
  const parts = sealed.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX) return undefined;
  const key = keys.find((k) => k.id === parts[1]);
  if (key === undefined) return undefined;
  const data = Buffer.from(parts[2]!, 'base64url');
  if (data.length < 12 + 16 + 2) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, data.subarray(0, 12));
    decipher.setAAD(aad);
    decipher.setAuthTag(data.subarray(data.length - 16));
    return Buffer.concat([decipher.update(data.subarray(12, data.length - 16)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

export function sealToken(claims: SessionClaims, key: TokenKey): string {
  return seal(JSON.stringify(claims), key, PURPOSE.token);
}

/** The claims of a token any of `keys` sealed, or undefined for anything else (tampered, truncated, foreign). */
export function openToken(token: string, keys: readonly TokenKey[]): SessionClaims | undefined {
  const text = open(token, keys, PURPOSE.token, 8192);
  return text === undefined ? undefined : (JSON.parse(text) as SessionClaims);
}

/** An encoded authorization failure message, readable only through DecodeAuthorizationMessage. */
export function sealMessage(text: string, key: TokenKey): string {
  return seal(text, key, PURPOSE.message);
}

export function openMessage(encoded: string, keys: readonly TokenKey[]): string | undefined {
  return open(encoded, keys, PURPOSE.message, 65_536);
}
