/**
 * loadConfig (SPEC §4): defaults < config file < environment < flags, every value checked,
 * relative paths resolved against the working directory, the result deep-frozen.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig, type Sources } from '../../src/config/load.js';
import { DEFAULTS, type Config } from '../../src/config/schema.js';

const root = mkdtempSync(join(tmpdir(), 'portcullis-config-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** Writes a config file (an object as JSON, or raw text) and returns its absolute path. */
function file(content: unknown): string {
  const p = join(root, `config-${n++}.json`);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

function load(argv: readonly string[] = [], env: Record<string, string> = {}, cwd = root): Config {
  const src: Sources = { argv, env, cwd };
  return loadConfig(src);
}

/** Asserts a ConfigError whose message names `mention` (if given). */
function refused(fn: () => unknown, mention?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.name, 'ConfigError');
    if (typeof mention === 'string') assert.ok(e.message.includes(mention), `message ${JSON.stringify(e.message)} should name ${mention}`);
    else if (mention) assert.match(e.message, mention);
    return true;
  });
}

describe('loadConfig: more than one load in a process', () => {
  it('a second load with the defaults works and gives the same result (the defaults are not shared with a frozen result)', () => {
    const first = load([], {}, '/srv/one');
    let second: Config | undefined;
    assert.doesNotThrow(() => (second = load([], {}, '/srv/one')));
    assert.deepEqual(second, first);
    assert.doesNotThrow(() => load(['--min-tls', '1.3'], {}, '/srv/one'));
    assert.doesNotThrow(() => load(['--config', file({ tls: { certificates: [{ cert: 'c.pem', key: 'k.pem' }] } })], {}, '/srv/one'));
    assert.doesNotThrow(() => load([], {}, '/srv/two'));
  });
});

describe('loadConfig: defaults', () => {
  it('uses the embedded defaults of SPEC §4 when nothing is given', () => {
    const c = load([], {}, '/srv/app');
    assert.equal(c.dataDir, '/srv/app/.portcullis');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8443 });
    assert.equal(c.store, 'sqlite:/srv/app/.portcullis/portcullis.db');
    assert.equal(c.region, 'us-east-1');
    assert.equal(c.tls.minVersion, '1.2');
    assert.deepEqual(c.tls.certificates, []);
    assert.equal(c.tls.clientCaFile, undefined);
    assert.deepEqual(c.limits, DEFAULTS.limits);
    assert.deepEqual(c.audit, DEFAULTS.audit);
    assert.equal(c.log.level, 'info');
  });

  it('ignores environment variables it does not own', () => {
    const c = load([], { HOME: '/root', PORTCULLIS_MASTER_KEY: 'x', LISTEN: '0.0.0.0:1' }, '/srv/app');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8443 });
  });
});

describe('loadConfig: precedence', () => {
  const fileValues = {
    dataDir: '/from/file',
    listen: { host: '10.0.0.1', port: 9001 },
    store: 'sqlite:/from/file.db',
    region: 'eu-west-1',
    tls: { minVersion: '1.3' },
    limits: { maxBodyBytes: 4096 },
  };
  const envValues = {
    PORTCULLIS_DATA_DIR: '/from/env',
    PORTCULLIS_LISTEN: '10.0.0.2:9002',
    PORTCULLIS_STORE: 'postgres://env-host/db',
    PORTCULLIS_MIN_TLS: '1.2',
    PORTCULLIS_REGION: 'ap-south-1',
  };

  it('a config file overrides the defaults, section by section', () => {
    const c = load(['--config', file(fileValues)]);
    assert.equal(c.dataDir, '/from/file');
    assert.deepEqual(c.listen, { host: '10.0.0.1', port: 9001 });
    assert.equal(c.store, 'sqlite:/from/file.db');
    assert.equal(c.region, 'eu-west-1');
    assert.equal(c.tls.minVersion, '1.3');
    assert.equal(c.limits.maxBodyBytes, 4096);
    // the rest of a section keeps its defaults
    assert.equal(c.limits.maxHeaderBytes, DEFAULTS.limits.maxHeaderBytes);
    assert.equal(c.limits.maxConnections, DEFAULTS.limits.maxConnections);
    assert.deepEqual(c.tls.certificates, []);
  });

  it('security.uniformAuthFailures is off unless the config turns it on, and must be a boolean', () => {
    assert.equal(load().security.uniformAuthFailures, false);
    assert.equal(load(['--config', file({ security: { uniformAuthFailures: true } })]).security.uniformAuthFailures, true);
    assert.throws(() => load(['--config', file({ security: { uniformAuthFailures: 'yes' } })]), /security\.uniformAuthFailures/);
  });

  it('PORTCULLIS_CONFIG names the config file', () => {
    const c = load([], { PORTCULLIS_CONFIG: file({ region: 'eu-central-1' }) });
    assert.equal(c.region, 'eu-central-1');
  });

  it('a relative config file path is read from the working directory', () => {
    const p = file({ region: 'sa-east-1' });
    const c = load(['--config', p.slice(root.length + 1)], {}, root);
    assert.equal(c.region, 'sa-east-1');
  });

  it('environment variables override the config file', () => {
    const c = load([], { ...envValues, PORTCULLIS_CONFIG: file(fileValues) });
    assert.equal(c.dataDir, '/from/env');
    assert.deepEqual(c.listen, { host: '10.0.0.2', port: 9002 });
    assert.equal(c.store, 'postgres://env-host/db');
    assert.equal(c.tls.minVersion, '1.2');
    assert.equal(c.region, 'ap-south-1');
    assert.equal(c.limits.maxBodyBytes, 4096, 'what the environment does not set still comes from the file');
  });

  it('flags override environment variables and the config file', () => {
    const argv = ['--config', file(fileValues), '--data-dir', '/from/flag', '--listen', '10.0.0.3:9003', '--store', 'sqlite:/from/flag.db', '--min-tls', '1.3', '--region', 'us-west-2'];
    const c = load(argv, { ...envValues, PORTCULLIS_MIN_TLS: '1.2' });
    assert.equal(c.dataDir, '/from/flag');
    assert.deepEqual(c.listen, { host: '10.0.0.3', port: 9003 });
    assert.equal(c.store, 'sqlite:/from/flag.db');
    assert.equal(c.tls.minVersion, '1.3');
    assert.equal(c.region, 'us-west-2');
  });

  it('--flag=value works like --flag value', () => {
    const argv = ['--data-dir=/eq/dir', '--listen=127.0.0.1:0', '--store=postgres://u@h:5432/db?sslmode=require', '--min-tls=1.3', '--region=eu-north-1'];
    const c = load(argv, envValues);
    assert.equal(c.dataDir, '/eq/dir');
    assert.deepEqual(c.listen, { host: '127.0.0.1', port: 0 });
    assert.equal(c.store, 'postgres://u@h:5432/db?sslmode=require', 'only the first = splits flag from value');
    assert.equal(c.tls.minVersion, '1.3');
    assert.equal(c.region, 'eu-north-1');
    assert.equal(load([`--config=${file({ region: 'me-south-1' })}`]).region, 'me-south-1');
  });

  it('--config overrides PORTCULLIS_CONFIG', () => {
    const c = load(['--config', file({ region: 'from-flag-file' })], { PORTCULLIS_CONFIG: file({ region: 'from-env-file' }) });
    assert.equal(c.region, 'from-flag-file');
  });

  it('the last of a repeated flag wins', () => {
    assert.equal(load(['--region', 'us-east-2', '--region', 'us-west-1']).region, 'us-west-1');
  });
});

describe('loadConfig: --listen', () => {
  it('port 0 picks a free port', () => {
    assert.deepEqual(load(['--listen', '127.0.0.1:0']).listen, { host: '127.0.0.1', port: 0 });
  });

  it('takes a bracketed IPv6 address', () => {
    assert.deepEqual(load(['--listen', '[::1]:8443']).listen, { host: '::1', port: 8443 });
    assert.deepEqual(load([], { PORTCULLIS_LISTEN: '[::]:443' }).listen, { host: '::', port: 443 });
  });

  it('takes a host name', () => {
    assert.deepEqual(load(['--listen', 'localhost:65535']).listen, { host: 'localhost', port: 65535 });
  });

  for (const bad of ['127.0.0.1', ':8443', '127.0.0.1:', '[::1]', '::1:8443', '127.0.0.1:http', '127.0.0.1:-1', '127.0.0.1:123456', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => {
      refused(() => load(['--listen', bad]));
    });
  }

  it('refuses port 70000 from a flag, the environment and the config file', () => {
    refused(() => load(['--listen', '127.0.0.1:70000']), 'listen.port');
    refused(() => load([], { PORTCULLIS_LISTEN: '127.0.0.1:70000' }), 'listen.port');
    refused(() => load(['--config', file({ listen: { port: 70000 } })]), 'listen.port');
    refused(() => load(['--config', file({ listen: { port: -1 } })]), 'listen.port');
    refused(() => load(['--config', file({ listen: { port: 80.5 } })]), 'listen.port');
    refused(() => load(['--config', file({ listen: { port: '8443' } })]), 'listen.port');
  });
});

describe('loadConfig: paths', () => {
  const cwd = '/work/somewhere';

  it('a relative data dir is resolved against the working directory', () => {
    assert.equal(load(['--data-dir', 'data'], {}, cwd).dataDir, '/work/somewhere/data');
    assert.equal(load(['--data-dir', '../up/./x'], {}, cwd).dataDir, '/work/up/x');
    assert.equal(load([], { PORTCULLIS_DATA_DIR: 'envdir' }, cwd).dataDir, '/work/somewhere/envdir');
    assert.equal(load(['--config', file({ dataDir: 'filedir' })], {}, cwd).dataDir, '/work/somewhere/filedir');
  });

  it('an absolute data dir stays as it is', () => {
    assert.equal(load(['--data-dir', '/var/lib/portcullis'], {}, cwd).dataDir, '/var/lib/portcullis');
  });

  it('the default store is a SQLite file in the (resolved) data dir', () => {
    assert.equal(load(['--data-dir', 'd'], {}, cwd).store, 'sqlite:/work/somewhere/d/portcullis.db');
    assert.equal(load(['--data-dir', '/abs/d'], {}, cwd).store, 'sqlite:/abs/d/portcullis.db');
    assert.match(load(['--data-dir', 'd'], {}, cwd).store, /^sqlite:\//);
  });

  it('a relative sqlite path is resolved against the working directory', () => {
    assert.equal(load(['--store', 'sqlite:db/p.db'], {}, cwd).store, 'sqlite:/work/somewhere/db/p.db');
    assert.equal(load([], { PORTCULLIS_STORE: 'sqlite:./p.db' }, cwd).store, 'sqlite:/work/somewhere/p.db');
    assert.equal(load(['--store', 'sqlite:/abs/p.db'], {}, cwd).store, 'sqlite:/abs/p.db');
  });

  it('relative certificate and client CA paths are resolved against the working directory', () => {
    const c = load(['--config', file({ tls: { certificates: [{ cert: 'tls/c.pem', key: '/abs/k.pem' }], clientCaFile: 'ca.pem' } })], {}, cwd);
    assert.deepEqual(c.tls.certificates, [{ cert: '/work/somewhere/tls/c.pem', key: '/abs/k.pem' }]);
    assert.equal(c.tls.clientCaFile, '/work/somewhere/ca.pem');
  });

  it('a postgres URL is kept verbatim', () => {
    assert.equal(load(['--store', 'postgres://user:pw@db.example:5432/portcullis'], {}, cwd).store, 'postgres://user:pw@db.example:5432/portcullis');
    assert.equal(load(['--store', 'postgresql://db/p'], {}, cwd).store, 'postgresql://db/p');
  });
});

describe('loadConfig: unknown settings and options', () => {
  it('refuses an unknown top-level key in the config file, naming it', () => {
    refused(() => load(['--config', file({ listn: { port: 1 } })]), 'listn');
    refused(() => load(['--config', file({ region: 'us-east-1', maxBodyBytes: 10 })]), 'maxBodyBytes');
  });

  it('refuses an unknown nested key, naming its full path', () => {
    refused(() => load(['--config', file({ limits: { maxBodyByte: 4096 } })]), 'limits.maxBodyByte');
    refused(() => load(['--config', file({ tls: { minVersions: '1.3' } })]), 'tls.minVersions');
    refused(() => load(['--config', file({ audit: { keepFile: 2 } })]), 'audit.keepFile');
  });

  it('refuses inherited object keys as settings', () => {
    refused(() => load(['--config', file('{"toString": 1}')]), 'toString');
    refused(() => load(['--config', file('{"limits": {"constructor": 1}}')]), 'limits.constructor');
  });

  it('refuses unknown flags and flags without a value', () => {
    refused(() => load(['--datadir', '/x']), '--datadir');
    refused(() => load(['--verbose']), '--verbose');
    refused(() => load(['/x']));
    refused(() => load(['--data-dir']), '--data-dir');
    refused(() => load(['--listen', '127.0.0.1:0', '--region']), '--region');
  });
});

describe('loadConfig: invalid values', () => {
  it('refuses a minimum TLS version other than 1.2 and 1.3', () => {
    for (const v of ['1.1', '1.0', '1', '1.4', 'TLSv1.3', '']) {
      refused(() => load(['--min-tls', v]), 'min-tls');
      refused(() => load([], { PORTCULLIS_MIN_TLS: v }), 'min-tls');
    }
    refused(() => load(['--config', file({ tls: { minVersion: '1.1' } })]), 'tls.minVersion');
    refused(() => load(['--config', file({ tls: { minVersion: 1.3 } })]), 'tls.minVersion');
  });

  it('refuses negative, zero, fractional and non-numeric limits', () => {
    for (const [k, v] of [
      ['maxBodyBytes', -1],
      ['maxHeaderBytes', 0],
      ['maxHeaderCount', -20],
      ['headersTimeoutMs', 1.5],
      ['maxConnections', '5'],
      ['requestTimeoutMs', null],
      ['keepAliveTimeoutMs', Number.NaN],
    ] as const) {
      refused(() => load(['--config', file({ limits: { [k]: v } })]), `limits.${k}`);
    }
  });

  it('refuses bad audit, log and lastUsedFlushMs settings', () => {
    refused(() => load(['--config', file({ audit: { maxFileBytes: 100 } })]), 'audit.maxFileBytes');
    refused(() => load(['--config', file({ audit: { keepFiles: 0 } })]), 'audit.keepFiles');
    refused(() => load(['--config', file({ log: { level: 'trace' } })]), 'log.level');
    refused(() => load(['--config', file({ lastUsedFlushMs: 10 })]), 'lastUsedFlushMs');
  });

  it('refuses a store URL that is neither sqlite:PATH nor postgres://', () => {
    for (const s of ['mysql://h/db', 'portcullis.db', 'file:/x.db', 'postgres://', 'http://db']) {
      refused(() => load(['--store', s]), 'store');
    }
    refused(() => load([], { PORTCULLIS_STORE: 'redis://h' }), 'store');
  });

  it('refuses `sqlite:` with an empty path (it must not become the working directory)', () => {
    refused(() => load(['--store', 'sqlite:'], {}, '/work/somewhere'), 'store');
  });

  it('refuses a store that is not a string in the config file with a ConfigError', () => {
    refused(() => load(['--config', file({ store: 42 })]), 'store');
  });

  it('refuses a bad region', () => {
    for (const r of ['US-EAST-1', 'us east 1', '', 'a'.repeat(33)]) refused(() => load(['--region', r]), 'region');
  });

  it('refuses a config file that is not JSON, not an object, or not there', () => {
    refused(() => load(['--config', file('{ "region": "us-east-1", }')]), 'config file');
    refused(() => load(['--config', file('region = "us-east-1"')]), 'config file');
    refused(() => load(['--config', file('')]), 'config file');
    refused(() => load(['--config', file('[]')]), 'JSON object');
    refused(() => load(['--config', file('"us-east-1"')]), 'JSON object');
    refused(() => load(['--config', file('null')]), 'JSON object');
    refused(() => load(['--config', join(root, 'does-not-exist.json')]), 'does-not-exist.json');
  });

  it('refuses a section given as a scalar or a list instead of an object', () => {
    refused(() => load(['--config', file({ listen: '127.0.0.1:9000' })]), 'listen');
    refused(() => load(['--config', file({ tls: 5 })]), 'tls');
    refused(() => load(['--config', file({ tls: { certificates: 'cert.pem' } })]), 'tls.certificates');
    refused(() => load(['--config', file({ tls: { certificates: [{ cert: 'c.pem' }] } })]), 'tls.certificates');
  });

  it('refuses a `limits` section that is not an object (a number, a list)', () => {
    refused(() => load(['--config', file({ limits: 5 })]), 'limits');
    refused(() => load(['--config', file({ limits: [] })]), 'limits');
  });

  it('refuses a null section with a ConfigError, not a TypeError', () => {
    refused(() => load(['--config', file({ limits: null })]), 'limits');
    refused(() => load(['--config', file({ audit: null })]), 'audit');
    refused(() => load(['--config', file({ listen: null })]), 'listen');
  });
});

describe('loadConfig: the result is deep-frozen', () => {
  it('every object in it is frozen', () => {
    const c = load(['--config', file({ limits: { maxBodyBytes: 4096 }, tls: { certificates: [{ cert: '/c.pem', key: '/k.pem' }] } })]);
    const unfrozen: string[] = [];
    const walk = (v: unknown, path: string) => {
      if (v === null || typeof v !== 'object') return;
      if (!Object.isFrozen(v)) unfrozen.push(path);
      for (const [k, x] of Object.entries(v)) walk(x, `${path}.${k}`);
    };
    walk(c, 'config');
    assert.deepEqual(unfrozen, []);
  });

  it('assignments throw (ESM is strict mode) and change nothing', () => {
    const c = load(['--config', file({ tls: { certificates: [{ cert: '/c.pem', key: '/k.pem' }] } })]);
    const m = c as unknown as Record<string, Record<string, unknown>>;
    assert.throws(() => {
      (m as Record<string, unknown>)['dataDir'] = '/elsewhere';
    }, TypeError);
    assert.throws(() => {
      m['listen']!['port'] = 1;
    }, TypeError);
    assert.throws(() => {
      m['limits']!['maxBodyBytes'] = 10 ** 12;
    }, TypeError);
    assert.throws(() => {
      (m['tls']!['certificates'] as unknown[]).push({ cert: 'x', key: 'y' });
    }, TypeError);
    assert.throws(() => {
      ((m['tls']!['certificates'] as Record<string, unknown>[])[0]!)['key'] = '/evil.pem';
    }, TypeError);
    assert.throws(() => {
      (m as Record<string, unknown>)['extra'] = 1;
    }, TypeError);
    assert.throws(() => {
      delete (m as Record<string, unknown>)['region'];
    }, TypeError);
    assert.equal(c.listen.port, 8443);
    assert.equal(c.limits.maxBodyBytes, DEFAULTS.limits.maxBodyBytes);
    assert.equal(c.tls.certificates.length, 1);
    assert.equal(c.tls.certificates[0]!.key, '/k.pem');
    assert.equal(c.region, 'us-east-1');
  });

  it('one load does not leak into the next', () => {
    const a = load(['--config', file({ limits: { maxBodyBytes: 4096 }, listen: { port: 1234 } })]);
    const b = load([]);
    assert.equal(a.limits.maxBodyBytes, 4096);
    assert.equal(b.limits.maxBodyBytes, DEFAULTS.limits.maxBodyBytes);
    assert.equal(b.listen.port, 8443);
    assert.notEqual(a, b);
  });
});

describe('loadConfig: several nodes and several workers', () => {
  it('--workers and PORTCULLIS_WORKERS set the number of processes; 0 (the default) means one per core', () => {
    assert.equal(load().workers, 0);
    assert.equal(load(['--workers', '4']).workers, 4);
    assert.equal(load([], { PORTCULLIS_WORKERS: '3' }).workers, 3);
    assert.equal(load(['--workers=2'], { PORTCULLIS_WORKERS: '3' }).workers, 2, 'the flag wins');
    assert.equal(load(['--config', file({ workers: 5 })]).workers, 5);
  });

  it('refuses a number of workers that is not a small whole number', () => {
    for (const w of ['-1', 'two', '1.5', '', '9999']) refused(() => load(['--workers', w]), 'workers');
    refused(() => load(['--config', file({ workers: 257 })]), 'workers');
    refused(() => load(['--config', file({ workers: 'many' })]), 'workers');
  });

  it('--database-url is --store for a postgres:// URL, never echoed back in an error', () => {
    const url = 'postgres://app:s3cret@db.example:5432/portcullis';
    assert.equal(load(['--database-url', url]).store, url);
    assert.equal(load(['--database-url', url, '--store', url]).store, url);
    for (const bad of [['--database-url', 'sqlite:/x.db'], ['--database-url', url, '--store', 'postgres://other/db']]) {
      assert.throws(() => load(bad), (e: unknown) => e instanceof ConfigError && !e.message.includes('s3cret'));
    }
  });

  it('database.poolSize defaults to 10 and takes 1..1000', () => {
    assert.equal(load().database.poolSize, 10);
    assert.equal(load(['--config', file({ database: { poolSize: 40 } })]).database.poolSize, 40);
    for (const bad of [0, 1001, 2.5, '10']) refused(() => load(['--config', file({ database: { poolSize: bad } })]), 'database.poolSize');
  });
});
