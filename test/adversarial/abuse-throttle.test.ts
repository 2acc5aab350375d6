/**
 * Repeated failed signatures are throttled (issue 9, "Abuse"): per (source, key) strictly, per
 * source, and per key loosely, without ever locking the key's owner out for good. The counters
 * with a frozen clock, the settings, then real signed requests over TLS from several loopback
 * source addresses to a gateway process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { DEFAULTS } from '../../src/config/schema.js';
import { fixedClock } from '../../src/core/clock.js';
import { AuthThrottle, sourceOf } from '../../src/gateway/throttle.js';
import { gatewayFleet } from '../helpers/fleet.js';
import { badSecret, auditEvents, configFile, errorCode, send, signedQuery, until } from './abuse-helpers.js';

const LIMITS = { perSourceKey: 3, perSource: 5, perKey: 4, windowMs: 60_000, blockMs: 10_000, maxTracked: 1000 };

describe('the failure counters (frozen clock)', () => {
  it('a (source, key) pair is blocked after perSourceKey failures, and only for blockMs', () => {
    const clock = fixedClock(1_000_000);
    const t = new AuthThrottle(LIMITS, clock);
    for (let i = 0; i < 3; i++) {
      assert.equal(t.check('10.0.0.1', 'AKIAVICTIM'), undefined, `attempt ${i + 1} is let through`);
      assert.equal(t.failed('10.0.0.1', 'AKIAVICTIM', 'SignatureDoesNotMatch'), true);
    }
    assert.equal(t.check('10.0.0.1', 'AKIAVICTIM'), 'source-key');
    assert.equal(t.check('10.0.0.2', 'AKIAVICTIM'), undefined, 'another source, same key: served');
    assert.equal(t.check('10.0.0.1', 'AKIAOTHER'), undefined, 'same source, another key: served');
    clock.advance(9_999);
    assert.equal(t.check('10.0.0.1', 'AKIAVICTIM'), 'source-key', 'still blocked just before blockMs');
    clock.advance(1);
    assert.equal(t.check('10.0.0.1', 'AKIAVICTIM'), undefined, 'the block ends after blockMs');
  });

  it('retrying while blocked does not extend the block (throttled attempts are not failures)', () => {
    const clock = fixedClock(0);
    const t = new AuthThrottle(LIMITS, clock);
    for (let i = 0; i < 3; i++) t.failed('10.0.0.1', 'K', 'SignatureDoesNotMatch');
    for (let i = 0; i < 100; i++) {
      clock.advance(99);
      assert.equal(t.check('10.0.0.1', 'K'), 'source-key');
      assert.equal(t.failed('10.0.0.1', 'K', 'Throttling'), false, 'a throttled answer is not counted');
    }
    clock.set(10_000);
    assert.equal(t.check('10.0.0.1', 'K'), undefined);
  });

  it('only failed guesses count: expired requests, bad parameters and denials do not', () => {
    const t = new AuthThrottle(LIMITS, fixedClock(0));
    for (const code of ['RequestExpired', 'RequestTimeTooSkewed', 'ExpiredToken', 'AccessDenied', 'IncompleteSignature', 'RequestEntityTooLarge']) {
      for (let i = 0; i < 10; i++) assert.equal(t.failed('10.0.0.1', 'K', code), false, code);
    }
    assert.equal(t.check('10.0.0.1', 'K'), undefined);
    for (const code of ['SignatureDoesNotMatch', 'InvalidClientTokenId', 'InvalidToken']) assert.equal(t.failed('10.0.0.9', `K-${code}`, code), true, code);
  });

  it('one source trying many keys is blocked as a source after perSource failures', () => {
    const t = new AuthThrottle(LIMITS, fixedClock(0));
    for (let i = 0; i < 5; i++) {
      assert.equal(t.check('10.0.0.1', `AKIA${i}`), undefined);
      t.failed('10.0.0.1', `AKIA${i}`, 'InvalidClientTokenId');
    }
    assert.equal(t.check('10.0.0.1', 'AKIANEVERSEEN'), 'source');
    assert.equal(t.check('10.0.0.2', 'AKIANEVERSEEN'), undefined);
  });

  it('per key: after perKey failures from many sources, those sources are refused but the owner (no failures) is not', () => {
    const clock = fixedClock(0);
    const t = new AuthThrottle(LIMITS, clock);
    for (let i = 1; i <= 4; i++) t.failed(`10.0.1.${i}`, 'AKIAVICTIM', 'SignatureDoesNotMatch');
    for (let i = 1; i <= 4; i++) assert.equal(t.check(`10.0.1.${i}`, 'AKIAVICTIM'), 'key', `attacker ${i} gets no second guess`);
    assert.equal(t.check('192.168.0.7', 'AKIAVICTIM'), undefined, 'the owner, who never failed, is served');
    assert.equal(t.check('10.0.1.99', 'AKIAVICTIM'), undefined, 'a new source gets one attempt');
    t.failed('10.0.1.99', 'AKIAVICTIM', 'SignatureDoesNotMatch');
    assert.equal(t.check('10.0.1.99', 'AKIAVICTIM'), 'key', '…and no second');
    clock.advance(60_000);
    assert.equal(t.check('10.0.1.1', 'AKIAVICTIM'), undefined, 'the key rule ends when its window passes without new failures');
  });

  it('memory is bounded: at most maxTracked entries per counter, least recent first out', () => {
    const t = new AuthThrottle({ ...LIMITS, maxTracked: 100 }, fixedClock(0));
    for (let i = 0; i < 10_000; i++) t.failed(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `AKIA${i}`, 'InvalidClientTokenId');
    const n = t.tracked;
    assert.ok(n.pairs <= 100 && n.sources <= 100 && n.keys <= 100, JSON.stringify(n));
  });

  it('IPv6 sources count per /64; IPv4-mapped addresses as IPv4', () => {
    assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('2001:0DB8:0001:0002::9'), '2001:db8:1:2::/64');
    assert.equal(sourceOf('::1'), '0:0:0:0::/64');
    assert.equal(sourceOf('fe80::1'), 'fe80:0:0:0::/64');
    assert.equal(sourceOf('::ffff:10.1.2.3'), '10.1.2.3');
    assert.equal(sourceOf('10.1.2.3'), '10.1.2.3');
    const t = new AuthThrottle(LIMITS, fixedClock(0));
    for (let i = 0; i < 3; i++) t.failed(`2001:db8:1:2::${i + 1}`, 'K', 'SignatureDoesNotMatch');
    assert.equal(t.check('2001:db8:1:2:dead:beef:0:1', 'K'), 'source-key', 'another address in the same /64 is the same source');
  });
});

describe('limits.authFailures settings', () => {
  const dir = gatewayFleet('throttle-conf').newDir();
  const load = (config: unknown) => loadConfig({ argv: ['--config', configFile(dir, config)], env: {}, cwd: dir });

  it('has defaults and takes each field from the config file', () => {
    assert.deepEqual(loadConfig({ argv: [], env: {}, cwd: dir }).limits.authFailures, DEFAULTS.limits.authFailures);
    const c = load({ limits: { authFailures: { perSourceKey: 7 } } });
    assert.equal(c.limits.authFailures.perSourceKey, 7);
    assert.equal(c.limits.authFailures.perKey, DEFAULTS.limits.authFailures.perKey);
  });

  it('refuses unknown fields, non-objects, zero, negative and fractional values', () => {
    for (const [bad, name] of [
      [{ authFailures: 5 }, 'limits.authFailures'],
      [{ authFailures: { perSourceKy: 5 } }, 'limits.authFailures.perSourceKy'],
      [{ authFailures: { perSource: 0 } }, 'limits.authFailures.perSource'],
      [{ authFailures: { blockMs: -1 } }, 'limits.authFailures.blockMs'],
      [{ authFailures: { windowMs: 1.5 } }, 'limits.authFailures.windowMs'],
      [{ authFailures: { perKey: '5' } }, 'limits.authFailures.perKey'],
      [{ authFailures: { maxTracked: 1e9 } }, 'limits.authFailures.maxTracked'],
    ] as const) {
      assert.throws(() => load({ limits: bad }), (e: Error) => e.name === 'ConfigError' && e.message.includes(name), JSON.stringify(bad));
    }
  });
});

describe('throttling on a live gateway (real signed requests over TLS)', () => {
  const fleet = gatewayFleet('throttle');

  it('an attacker source is throttled after perSourceKey bad signatures, the owner elsewhere is served, and the block expires', async () => {
    const conf = fleet.newDir();
    const gw = await fleet.start({ args: ['--config', configFile(conf, { limits: { authFailures: { ...LIMITS, perSource: 1000, perKey: 1000, blockMs: 3000 } } })] });
    const attacker = '127.0.0.2';
    for (let i = 0; i < 3; i++) {
      const r = await signedQuery(gw, badSecret(gw.admin), { source: attacker });
      assert.equal(r.status, 403, r.body);
      assert.equal(errorCode(r.body), 'SignatureDoesNotMatch');
    }
    const blocked = await signedQuery(gw, badSecret(gw.admin), { source: attacker });
    assert.equal(blocked.status, 400, blocked.body);
    assert.equal(errorCode(blocked.body), 'Throttling');
    assert.match(blocked.body, /<RequestId>[0-9a-f-]{36}<\/RequestId>/);
    // Refused before the signature is looked at: the right secret from there is refused too.
    const rightButBlocked = await signedQuery(gw, gw.admin, { source: attacker });
    assert.equal(errorCode(rightButBlocked.body), 'Throttling', 'the pair is refused whatever it signs');
    const owner = await signedQuery(gw, gw.admin, { source: '127.0.0.1' });
    assert.equal(owner.status, 200, `the owner from another source is served during the attack: ${owner.body}`);
    const started = Date.now();
    await until(async () => (await signedQuery(gw, gw.admin, { source: attacker })).status === 200, 30_000, 'the block to expire');
    assert.ok(Date.now() - started < 25_000, 'the block ends (blockMs 3 s)');

    const metrics = await send(gw, { method: 'GET', path: '/_portcullis/metrics' });
    assert.match(metrics.body, /^portcullis_auth_throttled_total\{scope="source-key"\} [1-9]\d*$/m);
    await until(() => auditEvents(gw.dataDir).some((e) => e.reason === 'throttled'), 10_000, 'the audit events');
    const throttled = auditEvents(gw.dataDir).filter((e) => e.reason === 'throttled');
    assert.ok(throttled.length >= 2, 'every throttled attempt is audited');
    for (const e of throttled) {
      assert.equal(e.decision, 'deny');
      assert.equal(e.status, 400);
      assert.equal(e.sourceIp, attacker);
      assert.equal(e.accessKeyId, gw.admin.accessKeyId);
    }
  });

  it('a distributed guesser gets one guess per source once the key is hot; the owner keeps working', async () => {
    const conf = fleet.newDir();
    const gw = await fleet.start({ args: ['--config', configFile(conf, { limits: { authFailures: { ...LIMITS, perSourceKey: 1000, perSource: 1000, perKey: 4 } } })] });
    for (let i = 10; i < 14; i++) {
      const r = await signedQuery(gw, badSecret(gw.admin), { source: `127.0.0.${i}` });
      assert.equal(errorCode(r.body), 'SignatureDoesNotMatch');
    }
    for (let i = 10; i < 14; i++) {
      const r = await signedQuery(gw, badSecret(gw.admin), { source: `127.0.0.${i}` });
      assert.equal(errorCode(r.body), 'Throttling', `source 127.0.0.${i} gets no second guess`);
    }
    for (let i = 0; i < 5; i++) {
      const owner = await signedQuery(gw, gw.admin, { source: '127.0.0.1' });
      assert.equal(owner.status, 200, `the owner is never throttled by the key rule: ${owner.body}`);
    }
    const fresh = await signedQuery(gw, badSecret(gw.admin), { source: '127.0.0.20' });
    assert.equal(errorCode(fresh.body), 'SignatureDoesNotMatch', 'a new source gets its one attempt');
    const metrics = await send(gw, { method: 'GET', path: '/_portcullis/metrics' });
    assert.match(metrics.body, /^portcullis_auth_throttled_total\{scope="key"\} [1-9]\d*$/m);
  });

  it('one source enumerating key ids is throttled for every key, IAM requests included', async () => {
    const conf = fleet.newDir();
    const gw = await fleet.start({ args: ['--config', configFile(conf, { limits: { authFailures: { ...LIMITS, perSourceKey: 1000, perKey: 1000 } } })] });
    const source = '127.0.0.30';
    for (let i = 0; i < 5; i++) {
      const r = await signedQuery(gw, { accessKeyId: `AKIAGUESS${String(i).padStart(11, '0')}`, secretAccessKey: 'x'.repeat(40) }, { source });
      assert.equal(errorCode(r.body), 'InvalidClientTokenId');
    }
    const iam = await signedQuery(gw, gw.admin, { source, service: 'iam', body: 'Action=ListUsers&Version=2010-05-08' });
    assert.equal(errorCode(iam.body), 'Throttling', `IAM from the blocked source too: ${iam.body}`);
    assert.match(iam.body, /xmlns="https:\/\/iam\.amazonaws\.com\/doc\/2010-05-08\/"/, 'in IAM\'s namespace');
    const ok = await signedQuery(gw, gw.admin, { source: '127.0.0.31', service: 'iam', body: 'Action=ListUsers&Version=2010-05-08' });
    assert.equal(ok.status, 200, ok.body);
  });
});
