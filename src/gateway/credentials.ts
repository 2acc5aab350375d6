/**
 * The credential lookup the verifier calls. Answers from memory for up to `ttlMs` (one second
 * by default: SPEC §5 wants a deactivated key refused everywhere within a second), and shares
 * one store round trip among concurrent requests for the same key.
 *
 * `ttlMs` may be a function: with a live change feed from the store (PostgreSQL LISTEN/NOTIFY)
 * entries can live longer, since a change anywhere reaches `invalidate`/`clear` at once; when
 * the feed is down it answers the short lifetime again.
 */
import type { Clock } from '../core/clock.js';
import { timingSafeEqualString } from '../core/compare.js';
import { Lru } from '../core/lru.js';
import { assumedRoleArn, roleArn, type Principal, userArn } from '../core/principal.js';
import { openToken, type SessionClaims, type TokenKey } from '../sts/token.js';
import type { CredentialLookupResult } from '../sigv4/verify.js';
import type { Store } from '../store/types.js';

type Result = CredentialLookupResult<Principal>;

interface Entry {
  readonly at: number;
  readonly result: Result;
}

export class CredentialCache {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #ttlMs: () => number;
  readonly #max: number;
  /** Bumped by every invalidation: a lookup that began before one is not remembered. */
  #generation = 0;
  readonly #entries = new Map<string, Entry>();
  readonly #inflight = new Map<string, Promise<Result>>();
  readonly #tokenKeys: () => readonly TokenKey[];
  readonly #tokens = new Lru<string, { token: string; expiresAt: number; found: Result }>(10_000);

  /** `tokenKeys`: the keys that may open session tokens now (they rotate). */
  constructor(store: Store, opts: { clock: Clock; tokenKeys: () => readonly TokenKey[]; ttlMs?: number | (() => number); max?: number }) {
    this.#store = store;
    this.#clock = opts.clock;
    this.#tokenKeys = opts.tokenKeys;
    const ttl = opts.ttlMs ?? 1000;
    this.#ttlMs = typeof ttl === 'number' ? () => ttl : ttl;
    this.#max = opts.max ?? 10_000;
  }

  /** Forget one key at once (after this node, or another, changed it). */
  invalidate(accessKeyId: string): void {
    this.#generation++;
    this.#entries.delete(accessKeyId);
    this.#inflight.delete(accessKeyId);
  }

  /** Forget every key (a user was deleted, or changes may have been missed). */
  clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#inflight.clear();
  }

  readonly lookup = (accessKeyId: string, sessionToken: string | undefined): Result | Promise<Result> => {
    if (sessionToken !== undefined) return this.#temporary(accessKeyId, sessionToken);
    // A temporary key without its token is as good as unknown (AWS answers the same).
    if (accessKeyId.startsWith('ASIA')) return { status: 'unknown' };
    const hit = this.#entries.get(accessKeyId);
    if (hit !== undefined && this.#clock() - hit.at < this.#ttlMs()) return hit.result;
    let pending = this.#inflight.get(accessKeyId);
    if (pending === undefined) {
      const p: Promise<Result> = this.#fetch(accessKeyId).finally(() => {
        if (this.#inflight.get(accessKeyId) === p) this.#inflight.delete(accessKeyId);
      });
      pending = p;
      this.#inflight.set(accessKeyId, pending);
    }
    return pending;
  };

  /**
   * Temporary credentials need no store: the sealed token holds the secret and the principal.
   * An opened token is remembered (by its key ID, with the token itself) so a busy session
   * pays for the decryption once.
   */
  #temporary(accessKeyId: string, token: string): Result {
    let hit = this.#tokens.get(accessKeyId);
    // Constant time: the cached token is a secret, the one in the request the caller's choice.
    if (hit === undefined || !timingSafeEqualString(hit.token, token)) {
      const claims = openToken(token, this.#tokenKeys());
      if (claims === undefined || claims.accessKeyId !== accessKeyId) return { status: 'invalidToken' };
      hit = { token, expiresAt: claims.expiresAt, found: { status: 'found', secretAccessKey: claims.secretAccessKey, principal: sessionPrincipal(claims) } };
      this.#tokens.set(accessKeyId, hit);
    }
    return this.#clock() >= hit.expiresAt ? { status: 'expired' } : hit.found;
  }

  async #fetch(accessKeyId: string): Promise<Result> {
    const generation = this.#generation;
    const result = await this.#resolve(accessKeyId);
    // INVARIANT: an answer read before a change was announced is never remembered after it.
    if (generation !== this.#generation) return result;
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(accessKeyId, { at: this.#clock(), result });
    return result;
  }

  async #resolve(accessKeyId: string): Promise<Result> {
    // Only well-formed key IDs reach the store.
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId)) return { status: 'unknown' };
    const key = await this.#store.getAccessKey(accessKeyId);
    if (key === undefined) return { status: 'unknown' };
    if (key.status !== 'Active') return { status: 'inactive' };
    const user = await this.#store.getUser(key.accountId, key.userName);
    if (user === undefined) return { status: 'unknown' };
    const principal: Principal = {
      type: 'user',
      accountId: user.accountId,
      userName: user.userName,
      userId: user.userId,
      path: user.path,
      arn: userArn(user.accountId, user.path, user.userName),
    };
    return { status: 'found', secretAccessKey: key.secretAccessKey, principal };
  }
}

/** The principal a session token speaks for. */
export function sessionPrincipal(c: SessionClaims): Principal {
  const session = {
    issuedAt: c.issuedAt,
    expiresAt: c.expiresAt,
    policies: c.sessionPolicies,
    tags: c.tags,
    transitiveTagKeys: c.transitiveTagKeys,
    sourceIdentity: c.sourceIdentity,
    chained: c.chained,
  };
  const p = c.principal;
  if (p.type === 'federated-user') {
    return {
      type: 'federated-user',
      accountId: p.accountId,
      name: p.name,
      arn: `arn:aws:sts::${p.accountId}:federated-user/${p.name}`,
      userId: `${p.accountId}:${p.name}`,
      iamUserId: p.userId,
      session,
    };
  }
  if (p.type === 'user-session') {
    return { type: 'user', accountId: p.accountId, userName: p.userName, userId: p.userId, path: p.userPath, arn: userArn(p.accountId, p.userPath, p.userName), session };
  }
  return {
    type: 'assumed-role',
    accountId: p.accountId,
    roleName: p.roleName,
    roleId: p.roleId,
    rolePath: p.rolePath,
    roleArn: roleArn(p.accountId, p.rolePath, p.roleName),
    sessionName: p.sessionName,
    arn: assumedRoleArn(p.accountId, p.roleName, p.sessionName),
    userId: `${p.roleId}:${p.sessionName}`,
    session,
  };
}
