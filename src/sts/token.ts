/**
 * Session tokens: self-contained, sealed with AES-256-GCM, so that any node holding the token
 * key verifies temporary credentials without a database read. The token carries the secret
 * access key and everything authorization needs; only its holder and the nodes can read it.
 *
 *   token = "PCT1." + keyId + "." + base64url(iv || ciphertext || tag)
 *
 * The keys are random, kept sealed in the store and rotated (gateway/tokenKeys.ts); a token
 * minted under a key that has been retired no longer opens.
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

/** A token key from 32 secret bytes, with its public id. */
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
  // Node's base64 decoder skips characters outside the alphabet and ignores the spare low bits
  // of the last character, so many strings decode to the same bytes. Only the one spelling we
  // wrote opens: a token is the exact string that was issued, never a variant of it.
  const data = Buffer.from(parts[2]!, 'base64url');
  if (data.toString('base64url') !== parts[2]) return undefined;
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

/**
 * Claims travel as a compact JSON array, so the token (which every request carries and signs)
 * stays short: positions instead of names, times in seconds.
 */
type Packed = [
  akid: string, secret: string, principal: (string | undefined)[], iat: number, exp: number, policies: readonly string[],
  tags: Readonly<Record<string, string>>, transitive: readonly string[], sourceIdentity: string | null, chained: 0 | 1,
];

function pack(c: SessionClaims): Packed {
  const p = c.principal;
  const principal = p.type === 'assumed-role'
    ? ['r', p.accountId, p.roleId, p.roleName, p.rolePath, p.sessionName]
    : p.type === 'federated-user'
      ? ['f', p.accountId, p.userId, p.userName, p.userPath, p.name]
      : ['u', p.accountId, p.userId, p.userName, p.userPath];
  return [c.accessKeyId, c.secretAccessKey, principal, c.issuedAt / 1000, c.expiresAt / 1000, c.sessionPolicies, c.tags, c.transitiveTagKeys, c.sourceIdentity ?? null, c.chained ? 1 : 0];
}

function unpack(x: Packed): SessionClaims {
  const [kind, accountId, id, name, path, extra] = x[2] as string[];
  const principal: SessionPrincipal = kind === 'r'
    ? { type: 'assumed-role', accountId: accountId!, roleId: id!, roleName: name!, rolePath: path!, sessionName: extra! }
    : kind === 'f'
      ? { type: 'federated-user', accountId: accountId!, userId: id!, userName: name!, userPath: path!, name: extra! }
      : { type: 'user-session', accountId: accountId!, userId: id!, userName: name!, userPath: path! };
  return {
    accessKeyId: x[0], secretAccessKey: x[1], principal, issuedAt: x[3] * 1000, expiresAt: x[4] * 1000, sessionPolicies: x[5],
    tags: x[6], transitiveTagKeys: x[7], sourceIdentity: x[8] ?? undefined, chained: x[9] === 1,
  };
}

export function sealToken(claims: SessionClaims, key: TokenKey): string {
  return seal(JSON.stringify(pack(claims)), key, PURPOSE.token);
}

/** The claims of a token any of `keys` sealed, or undefined for anything else (tampered, truncated, foreign). */
export function openToken(token: string, keys: readonly TokenKey[]): SessionClaims | undefined {
  const text = open(token, keys, PURPOSE.token, 8192);
  return text === undefined ? undefined : unpack(JSON.parse(text) as Packed);
}

/** An encoded authorization failure message, readable only through DecodeAuthorizationMessage. */
export function sealMessage(text: string, key: TokenKey): string {
  return seal(text, key, PURPOSE.message);
}

export function openMessage(encoded: string, keys: readonly TokenKey[]): string | undefined {
  return open(encoded, keys, PURPOSE.message, 65_536);
}
