/**
 * Temporary credentials: the cost of verifying a request signed with an ASIA key and its
 * session token, as a ratio to the same request signed with a long-term key, in one run
 * (both through the gateway's own credential lookup, warm).
 */
import { randomBytes } from 'node:crypto';
import { CredentialCache } from '../src/gateway/credentials.js';
import { requestFromWire, sha256Hex, Signer, Verifier } from '../src/sigv4/index.js';
import type { AccessKeyWithSecret, Store, User } from '../src/store/types.js';
import { sealToken, tokenKeyFrom } from '../src/sts/token.js';
import { compare, fmt } from './measure.js';

export async function benchSts(): Promise<number> {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0);
  const clock = () => now;
  const user: User = { accountId: '123456789012', userName: 'bench', userId: 'AIDABENCHBENCHBENCH12', path: '/', createdAt: now };
  const longTerm = { accessKeyId: 'AKIABENCHBENCHBENCH1', secretAccessKey: 'bG9uZy10ZXJtIHNlY3JldCBmb3IgdGhlIGJlbmNo' };
  const key: AccessKeyWithSecret = { ...longTerm, accountId: user.accountId, userName: user.userName, status: 'Active', createdAt: now, lastUsed: undefined };
  // Only the two reads the lookup makes for a long-term key.
  const store = { getAccessKey: async () => key, getUser: async () => user } as unknown as Store;
  const tokenKey = tokenKeyFrom(randomBytes(32));
  const temp = { accessKeyId: 'ASIABENCHBENCHBENCH1', secretAccessKey: 'dGVtcG9yYXJ5IHNlY3JldCBmb3IgdGhlIGJlbmNo' };
  const sessionToken = sealToken({
    ...temp,
    principal: { type: 'assumed-role', accountId: user.accountId, roleId: 'AROABENCHBENCHBENCH12', roleName: 'Bench', rolePath: '/', sessionName: 'bench' },
    issuedAt: now, expiresAt: now + 3600_000, sessionPolicies: [], tags: {}, transitiveTagKeys: [], sourceIdentity: undefined, chained: false,
  }, tokenKey);
  const cache = new CredentialCache(store, { clock, tokenKeys: () => [tokenKey], ttlMs: 3_600_000 });
  const verifier = new Verifier({ region: 'us-east-1', clock, lookup: cache.lookup });

  const body = 'Action=GetCallerIdentity&Version=2011-06-15';
  const signer = new Signer({ clock });
  const wire = (credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) => {
    const s = signer.sign({ method: 'POST', path: '/', headers: { host: 'portcullis.example.com', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body }, { credentials, region: 'us-east-1', service: 'sts' });
    const raw: string[] = [];
    for (const [k, v] of Object.entries(s.headers)) raw.push(k, v as string);
    return raw;
  };
  const longRaw = wire(longTerm);
  const tempRaw = wire({ ...temp, sessionToken });
  const verify = (raw: string[]) => () => verifier.verify(requestFromWire('POST', '/', raw), { bodySha256: sha256Hex(body) });
  await verify(longRaw)();
  await verify(tempRaw)();

  const [l, t] = await compare([
    { name: 'long-term key', op: verify(longRaw) },
    { name: 'temporary credentials', op: verify(tempRaw) },
  ]);
  const ratio = l!.opsPerSec / t!.opsPerSec;
  console.log('sts: verifications/s of a signed request, warm credential lookup');
  console.log(`  long-term key          ${fmt(l!.opsPerSec)} /s   cost 1.00 (baseline)`);
  console.log(`  temporary credentials  ${fmt(t!.opsPerSec)} /s   cost ${ratio.toFixed(2)}x (target <= 1.2)`);
  return ratio;
}
