/** Session tokens: sealing, tampering, key rotation, and expiry as the credential lookup sees it. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import { CredentialCache } from '../../src/gateway/credentials.js';
import type { Store } from '../../src/store/types.js';
import { openToken, sealToken, tokenKeyFrom, type SessionClaims } from '../../src/sts/token.js';

const claims = (over: Partial<SessionClaims> = {}): SessionClaims => ({
  accessKeyId: 'ASIAAAAABBBBCCCCDDDD',
  secretAccessKey: 'c2VjcmV0IHNlY3JldCBzZWNyZXQgc2VjcmV0IHNlY3I',
  principal: { type: 'assumed-role', accountId: '123456789012', roleId: 'AROAEXAMPLEEXAMPLE123', roleName: 'Reader', rolePath: '/', sessionName: 's' },
  issuedAt: 1_700_000_000_000,
  expiresAt: 1_700_003_600_000,
  sessionPolicies: ['{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"*"}}'],
  tags: { team: 'blue' },
  transitiveTagKeys: ['team'],
  sourceIdentity: 'alice',
  chained: false,
  ...over,
});

describe('session token codec', () => {
  const key = tokenKeyFrom(randomBytes(32));

  it('opens what it sealed, and the token reveals nothing in the clear', () => {
    const c = claims();
    const token = sealToken(c, key);
    assert.deepEqual(openToken(token, [key]), c);
    assert.ok(!token.includes(c.secretAccessKey) && !Buffer.from(token.split('.')[2]!, 'base64url').toString('latin1').includes('Reader'));
    assert.notEqual(sealToken(c, key), token, 'a fresh IV each time');
  });

  it('refuses any changed character, a truncated token, another key and other formats', () => {
    const token = sealToken(claims(), key);
    for (let i = 0; i < token.length; i += 7) {
      const ch = token[i] === 'A' ? 'B' : 'A';
      const changed = token.slice(0, i) + ch + token.slice(i + 1);
      if (changed !== token) assert.equal(openToken(changed, [key]), undefined, `changed at ${i}`);
    }
    for (const cut of [1, 10, 16, token.length - 40]) assert.equal(openToken(token.slice(0, token.length - cut), [key]), undefined);
    assert.equal(openToken(token, [tokenKeyFrom(randomBytes(32))]), undefined);
    for (const bad of ['', 'PCT1', 'PCT1..', 'x.y.z', token.replace('PCT1', 'PCT2'), 'A'.repeat(9000)]) assert.equal(openToken(bad, [key]), undefined);
  });

  it('follows the master key: a rotated-out key no longer opens its tokens', () => {
    const oldMaster = randomBytes(32);
    const newMaster = randomBytes(32);
    const oldToken = sealToken(claims(), tokenKeyFrom(oldMaster));
    assert.ok(openToken(oldToken, [tokenKeyFrom(newMaster), tokenKeyFrom(oldMaster)]), 'both keys loaded: still opens');
    assert.equal(openToken(oldToken, [tokenKeyFrom(newMaster)]), undefined, 'old key retired: refused');
    assert.deepEqual(tokenKeyFrom(oldMaster), tokenKeyFrom(oldMaster), 'derivation is stable across nodes');
  });
});

describe('the credential lookup with session tokens', () => {
  const key = tokenKeyFrom(randomBytes(32));
  const noStore = new Proxy({}, { get: () => () => assert.fail('temporary credentials need no store') }) as unknown as Store;

  it('finds the session principal until expiry, then says expired', () => {
    const c = claims();
    const clock = fixedClock(c.issuedAt + 1000);
    const cache = new CredentialCache(noStore, { clock, tokenKeys: () => [key] });
    const token = sealToken(c, key);
    const found = cache.lookup(c.accessKeyId, token);
    assert.ok(!(found instanceof Promise) && found.status === 'found');
    assert.equal(found.secretAccessKey, c.secretAccessKey);
    assert.equal(found.principal.arn, 'arn:aws:sts::123456789012:assumed-role/Reader/s');
    assert.equal(found.principal.userId, 'AROAEXAMPLEEXAMPLE123:s');
    clock.set(c.expiresAt - 1);
    assert.equal((cache.lookup(c.accessKeyId, token) as { status: string }).status, 'found');
    clock.set(c.expiresAt);
    assert.equal((cache.lookup(c.accessKeyId, token) as { status: string }).status, 'expired');
  });

  it('refuses a token for another key ID, a forged token, and a temporary key without its token', () => {
    const c = claims();
    const cache = new CredentialCache(noStore, { clock: fixedClock(c.issuedAt), tokenKeys: () => [key] });
    const token = sealToken(c, key);
    assert.equal((cache.lookup('ASIAZZZZZZZZZZZZZZZZ', token) as { status: string }).status, 'invalidToken');
    assert.equal((cache.lookup(c.accessKeyId, sealToken(c, tokenKeyFrom(randomBytes(32)))) as { status: string }).status, 'invalidToken');
    assert.equal((cache.lookup(c.accessKeyId, undefined) as { status: string }).status, 'unknown');
  });
});

describe('access key IDs carry their account', () => {
  it('both kinds, for any account, read back by accountOfKeyId; other IDs give nothing', async () => {
    const { accountOfKeyId, newAccessKeyId, newTemporaryKeyId } = await import('../../src/core/ids.js');
    for (const account of ['123456789012', '000000000001', '999999999999', '210987654321']) {
      for (let i = 0; i < 50; i++) {
        const long = newAccessKeyId(account);
        const temp = newTemporaryKeyId(account);
        assert.match(long, /^AKIA[A-Z2-7]{16}$/);
        assert.match(temp, /^ASIA[A-Z2-7]{16}$/);
        assert.equal(accountOfKeyId(long), account);
        assert.equal(accountOfKeyId(temp), account);
      }
    }
    assert.notEqual(newAccessKeyId('123456789012'), newAccessKeyId('123456789012'), 'random beyond the account');
    // A widely published example key ID and the account it belongs to.
    assert.equal(accountOfKeyId('ASIAQNZGKIQY56JQ7WML'), '029608264753');
    for (const bad of ['', 'AKIA', 'AKIA0000000000000000', 'AIDAAAAAAAAAAAAAAAAA', 'akiaaaaaaaaaaaaaaaaa']) assert.equal(accountOfKeyId(bad), undefined);
  });
});
