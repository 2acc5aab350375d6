/**
 * The credential chain, memoization and the providers that need no server: environment, shared
 * files, credential_process (a real child process). Time is a fixed clock.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fixedClock } from '../../src/core/clock.js';
import {
  chain, CredentialsInvalid, CredentialsNotFound, defaultProvider, fromEnv, fromProcess, fromProfile, loadSharedFiles, memoize,
  parseIni, splitCommand, type Credentials,
} from '../../src/client/index.js';

const KEY = { accessKeyId: 'AKIAENVEXAMPLE000001', secretAccessKey: 'env/Secret+0123456789abcdefghijklmnopqr' };

describe('chain', () => {
  it('moves on only when a link has nothing', async () => {
    const calls: string[] = [];
    const none = (n: string) => async () => {
      calls.push(n);
      throw new CredentialsNotFound(`${n}: nothing`);
    };
    const some = (n: string) => async (): Promise<Credentials> => {
      calls.push(n);
      return { ...KEY, source: n };
    };
    assert.equal((await chain(none('a'), some('b'), some('c'))()).source, 'b');
    assert.deepEqual(calls, ['a', 'b']);
  });

  it('stops at a link whose source is broken, without trying the next', async () => {
    let tried = false;
    const broken = async (): Promise<Credentials> => {
      throw new CredentialsInvalid('profile `x`: bad');
    };
    await assert.rejects(chain(broken, async () => ((tried = true), KEY))(), CredentialsInvalid);
    assert.equal(tried, false);
  });

  it('says what every link said when none has credentials', async () => {
    const e = await chain(
      async () => { throw new CredentialsNotFound('environment: nothing'); },
      async () => { throw new CredentialsNotFound('shared files: no profile'); },
    )().then(() => assert.fail('resolved'), (x: unknown) => x);
    assert.ok(e instanceof CredentialsNotFound);
    assert.deepEqual(e.tried, ['environment: nothing', 'shared files: no profile']);
    assert.match(e.message, /--profile/);
  });
});

describe('memoize', () => {
  const T0 = Date.parse('2026-01-01T00:00:00Z');

  function counting(lifetimeMs: number | undefined, clock: () => number) {
    let n = 0;
    let gate: Promise<void> = Promise.resolve();
    const provider = async (): Promise<Credentials> => {
      n++;
      const mine = n;
      await gate;
      return { accessKeyId: `ASIA${String(mine).padStart(16, '0')}`, secretAccessKey: 's', sessionToken: 't', expiration: lifetimeMs === undefined ? undefined : clock() + lifetimeMs };
    };
    return { provider, calls: () => n, hold: (p: Promise<void>) => (gate = p) };
  }

  it('concurrent callers share one refresh in flight', async () => {
    const clock = fixedClock(T0);
    const src = counting(3_600_000, clock);
    let release!: () => void;
    src.hold(new Promise((r) => (release = r)));
    const m = memoize(src.provider, { clock });
    const all = Promise.all(Array.from({ length: 20 }, () => m()));
    release();
    const got = await all;
    assert.equal(src.calls(), 1);
    assert.ok(got.every((c) => c.accessKeyId === got[0]!.accessKeyId));
  });

  it('keeps credentials until the refresh window, then refreshes ahead of expiry', async () => {
    const clock = fixedClock(T0);
    const src = counting(15 * 60_000, clock);
    const m = memoize(src.provider, { clock, refreshBeforeMs: 5 * 60_000 });
    const first = await m();
    clock.advance(9 * 60_000); // 6 min left: kept
    assert.equal((await m()).accessKeyId, first.accessKeyId);
    assert.equal(src.calls(), 1);
    clock.advance(60_001); // just under 5 min left: refreshed although still valid
    const second = await m();
    assert.notEqual(second.accessKeyId, first.accessKeyId);
    assert.equal(src.calls(), 2);
    assert.equal(second.expiration, clock() + 15 * 60_000);
  });

  it('long-term credentials are never refreshed', async () => {
    const clock = fixedClock(T0);
    const src = counting(undefined, clock);
    const m = memoize(src.provider, { clock });
    await m();
    clock.advance(365 * 86_400_000);
    await m();
    assert.equal(src.calls(), 1);
  });

  it('a failed refresh returns the kept credentials while they are valid, and throws once they expired', async () => {
    const clock = fixedClock(T0);
    let fail = false;
    const m = memoize(async () => {
      if (fail) throw new CredentialsInvalid('the source is down');
      return { ...KEY, expiration: clock() + 10 * 60_000 };
    }, { clock });
    const first = await m();
    fail = true;
    clock.advance(8 * 60_000); // in the window, still valid
    assert.equal(await m(), first);
    clock.advance(3 * 60_000); // expired
    await assert.rejects(m(), /the source is down/);
  });

  it('invalidate() makes the next call ask again', async () => {
    const clock = fixedClock(T0);
    const src = counting(3_600_000, clock);
    const m = memoize(src.provider, { clock });
    await m();
    m.invalidate();
    await m();
    assert.equal(src.calls(), 2);
  });
});

describe('fromEnv', () => {
  it('reads the keys, the token and the expiry', async () => {
    const c = await fromEnv({ env: { AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey, AWS_SESSION_TOKEN: 'tok', AWS_CREDENTIAL_EXPIRATION: '2030-01-01T00:00:00Z' } })();
    assert.deepEqual(c, { ...KEY, sessionToken: 'tok', expiration: Date.parse('2030-01-01T00:00:00Z'), source: 'env' });
  });

  it('nothing set is not found; half set is an error that does not show the secret', async () => {
    await assert.rejects(fromEnv({ env: {} })(), CredentialsNotFound);
    const e = await fromEnv({ env: { AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey } })().catch((x: unknown) => x);
    assert.ok(e instanceof CredentialsInvalid);
    assert.match(e.message, /AWS_ACCESS_KEY_ID is not set/);
    assert.ok(!e.message.includes(KEY.secretAccessKey));
  });
});

describe('shared files', () => {
  it('parses profiles, comments, nested sections; config sections need `profile `', () => {
    const config = parseIni([
      '# comment', '[default]', 'region = eu-west-1 # inline', 'S3 =', '  max_concurrent_requests = 4', 'output = json',
      '[profile dev]', 'role_arn = arn:aws:iam::111122223333:role/Dev', '; another comment', 'source_profile = default',
      '[sso-session x]', 'sso_region = us-east-1', '[services y]', 'iam =', '  endpoint_url = https://x',
    ].join('\n'), 'config', 'config');
    assert.deepEqual([...config.keys()], ['default', 'dev']);
    assert.deepEqual(config.get('default'), { region: 'eu-west-1', output: 'json' });
    assert.equal(config.get('dev')!['source_profile'], 'default');
    const creds = parseIni('[dev]\naws_access_key_id=AKIA1\r\naws_secret_access_key = s/+x\n', 'credentials', 'credentials');
    assert.deepEqual(creds.get('dev'), { aws_access_key_id: 'AKIA1', aws_secret_access_key: 's/+x' });
    assert.throws(() => parseIni('[default]\nnot a setting\n', 'config', 'cfg'), /cfg, line 2/);
  });

  describe('files on disk', () => {
    let dir: string;
    let env: Record<string, string>;
    before(() => {
      dir = mkdtempSync(join(tmpdir(), 'portcullis-client-'));
      writeFileSync(join(dir, 'config'), '[default]\nregion = us-west-2\naws_access_key_id = AKIACONFIG0000000001\n[profile keys]\naws_access_key_id = AKIAFROMCONFIG000001\naws_secret_access_key = from-config\n[profile loop-a]\nrole_arn = arn:aws:iam::111122223333:role/A\nsource_profile = loop-b\n[profile loop-b]\nrole_arn = arn:aws:iam::111122223333:role/B\nsource_profile = loop-a\n[profile empty]\nregion = us-east-1\n');
      writeFileSync(join(dir, 'credentials'), '[keys]\naws_access_key_id = AKIAFROMCREDS0000001\naws_secret_access_key = from-creds\n[default]\naws_secret_access_key = default-secret\n');
      env = { HOME: dir, AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials') };
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('the credentials file wins over the config file for the same profile', async () => {
      const files = loadSharedFiles(env);
      assert.equal(files.profiles.get('default')!['region'], 'us-west-2');
      const c = await fromProfile({ env, profile: 'keys' })();
      assert.deepEqual([c.accessKeyId, c.secretAccessKey, c.source], ['AKIAFROMCREDS0000001', 'from-creds', 'profile:keys']);
      const d = await fromProfile({ env })();
      assert.deepEqual([d.accessKeyId, d.secretAccessKey], ['AKIACONFIG0000000001', 'default-secret']);
    });

    it('AWS_PROFILE picks the profile; an unknown profile is not found; a profile without keys is not found', async () => {
      assert.equal((await fromProfile({ env: { ...env, AWS_PROFILE: 'keys' } })()).accessKeyId, 'AKIAFROMCREDS0000001');
      // A named profile that does not exist stops the chain; an absent `default` lets it go on.
      await assert.rejects(fromProfile({ env, profile: 'nope' })(), (e: unknown) => e instanceof CredentialsInvalid && /no profile `nope`/.test(e.message));
      await assert.rejects(fromProfile({ env: { ...env, AWS_PROFILE: 'nope' } })(), CredentialsInvalid);
      await assert.rejects(fromProfile({ env: { HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') } })(), CredentialsNotFound);
      const fallback = async (): Promise<Credentials> => ({ ...KEY, source: 'fallback' });
      await assert.rejects(defaultProvider({ env, profile: 'nope', fallback: [fallback] })(), CredentialsInvalid);
      // `empty` exists but has no credentials: an error when named, nothing when it is the implicit default.
      await assert.rejects(fromProfile({ env, profile: 'empty' })(), (e: unknown) => e instanceof CredentialsInvalid && /`empty` has no credentials/.test(e.message));
      writeFileSync(join(dir, 'config-empty-default'), '[default]\nregion = us-east-1\n');
      await assert.rejects(fromProfile({ env: { ...env, AWS_CONFIG_FILE: join(dir, 'config-empty-default'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') } })(), CredentialsNotFound);
    });

    it('a source_profile loop is an error', async () => {
      await assert.rejects(fromProfile({ env, profile: 'loop-a' })(), (e: unknown) => e instanceof CredentialsInvalid && /loop-a -> loop-b -> loop-a/.test(e.message));
    });

    it('default chain: env keys first, unless a profile is named', async () => {
      const both = { ...env, AWS_ACCESS_KEY_ID: KEY.accessKeyId, AWS_SECRET_ACCESS_KEY: KEY.secretAccessKey };
      assert.equal((await defaultProvider({ env: both })()).source, 'env');
      assert.equal((await defaultProvider({ env: both, profile: 'keys' })()).source, 'profile:keys');
      assert.equal((await defaultProvider({ env: { ...both, AWS_PROFILE: 'keys' } })()).source, 'profile:keys');
      await assert.rejects(defaultProvider({ env: { HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') } })(), (e: unknown) => e instanceof CredentialsNotFound && e.tried.length === 3);
    });

    it('credential_process: a real command, its JSON, its expiry; failures explained', async () => {
      const script = join(dir, 'creds helper.sh');
      writeFileSync(script, '#!/bin/sh\nif [ "$1" = fail ]; then echo "token expired, run login" >&2; exit 3; fi\nif [ "$1" = v2 ]; then echo \'{"Version": 2}\'; exit 0; fi\necho \'{"Version": 1, "AccessKeyId": "ASIAPROCESS000000001", "SecretAccessKey": "proc-secret", "SessionToken": "proc-token", "Expiration": "2030-01-01T00:00:00Z"}\'\n');
      chmodSync(script, 0o755);
      const quoted = `"${script}"`;
      const c = await fromProcess(`${quoted} ok`, { env })();
      assert.deepEqual(c, { accessKeyId: 'ASIAPROCESS000000001', secretAccessKey: 'proc-secret', sessionToken: 'proc-token', expiration: Date.parse('2030-01-01T00:00:00Z'), source: 'process' });
      await assert.rejects(fromProcess(`${quoted} fail`, { env })(), /exited with 3: token expired, run login/);
      await assert.rejects(fromProcess(`${quoted} v2`, { env })(), /"Version": 1/);
      await assert.rejects(fromProcess(`${quoted} ok`, { env, clock: () => Date.parse('2031-01-01T00:00:00Z') })(), /already expired/);
      await assert.rejects(fromProcess(join(dir, 'missing'), { env })(), /cannot run .*ENOENT/);
      // Through a profile.
      writeFileSync(join(dir, 'config2'), `[profile proc]\ncredential_process = ${quoted} ok\n`);
      const p = await fromProfile({ env: { ...env, AWS_CONFIG_FILE: join(dir, 'config2') }, profile: 'proc' })();
      assert.equal(p.accessKeyId, 'ASIAPROCESS000000001');
    });
  });

  it('splitCommand splits as a shell does, without expansion', () => {
    assert.deepEqual(splitCommand(`/bin/helper --profile "my prof" 'a b' c\\ d $HOME`), ['/bin/helper', '--profile', 'my prof', 'a b', 'c d', '$HOME']);
    assert.deepEqual(splitCommand(`x ""`), ['x', '']);
    assert.throws(() => splitCommand(`x "open`), /unbalanced/);
  });
});
