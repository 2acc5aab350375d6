/**
 * Builds the configuration from, in rising precedence: defaults, the config file (JSON),
 * environment variables, command-line flags. Every value is checked; the result is frozen.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { type Config, DEFAULTS } from './schema.js';
import { serviceDefaults, validateServiceRules } from './services.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Json = { [k: string]: unknown };

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const OPEN_MAPS = new Set(['oidc.jwks']);

/**
 * Overlays `over` on `base`, refusing keys the defaults do not have (typos fail loudly) and
 * anything but an object where the defaults hold one. Returns new objects throughout.
 */
function merge(base: Json, over: Json, path: string): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (!Object.hasOwn(base, k)) throw new ConfigError(`unknown setting \`${path}${k}\``);
    const b = base[k];
    if (isObject(b)) {
      if (!isObject(v)) throw new ConfigError(`\`${path}${k}\` must be an object`);
      // Maps whose keys are the user's (issuer URLs) are taken whole; their values are checked in validate.
      out[k] = OPEN_MAPS.has(`${path}${k}`) ? { ...v } : merge(b, v, `${path}${k}.`);
    } else out[k] = v;
  }
  return out;
}

function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:]+)):(\d{1,5})$/.exec(s);
  if (!m) throw new ConfigError(`--listen must be HOST:PORT, got \`${s}\``);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

export interface Sources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

const FLAGS: Record<string, string> = {
  '--data-dir': 'dataDir',
  '--listen': 'listen',
  '--config': 'config',
  '--store': 'store',
  '--min-tls': 'minTls',
  '--region': 'region',
  '--workers': 'workers',
  '--database-url': 'databaseUrl',
};

function parseFlags(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const name = FLAGS[flag];
    if (name === undefined) throw new ConfigError(`unknown option \`${flag}\``);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new ConfigError(`option \`${flag}\` needs a value`);
    out[name] = value;
  }
  return out;
}

function check(cond: boolean, message: string): void {
  if (!cond) throw new ConfigError(message);
}

function validate(c: Config): void {
  check(typeof c.dataDir === 'string' && c.dataDir !== '', '`dataDir` must be a path');
  check(typeof c.listen.host === 'string' && c.listen.host !== '', '`listen.host` must be a host');
  check(Number.isInteger(c.listen.port) && c.listen.port >= 0 && c.listen.port <= 65535, '`listen.port` must be 0..65535');
  check(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(c.store), '`store` must be `sqlite:PATH` or `postgres://…`');
  check(Number.isInteger(c.database.poolSize) && c.database.poolSize >= 1 && c.database.poolSize <= 1000, '`database.poolSize` must be 1..1000');
  check(Number.isInteger(c.workers) && c.workers >= 0 && c.workers <= 256, '`workers` (--workers) must be 0..256 (0: one per CPU core)');
  check(/^[a-z0-9-]{1,32}$/.test(c.region), '`region` must look like `us-east-1`');
  check(c.tls.minVersion === '1.2' || c.tls.minVersion === '1.3', '`tls.minVersion` (--min-tls) must be 1.2 or 1.3');
  check(Array.isArray(c.tls.certificates) && c.tls.certificates.every((x) => isObject(x) && typeof x.cert === 'string' && typeof x.key === 'string'),
    '`tls.certificates` must be a list of {cert, key} file paths');
  check(c.tls.clientCaFile === undefined || typeof c.tls.clientCaFile === 'string', '`tls.clientCaFile` must be a path');
  for (const [k, v] of Object.entries(c.limits)) {
    if (k === 'authFailures') continue;
    check(typeof v === 'number' && Number.isInteger(v) && v > 0, `\`limits.${k}\` must be a positive integer`);
  }
  for (const [k, v] of Object.entries(c.limits.authFailures)) check(Number.isInteger(v) && v > 0, `\`limits.authFailures.${k}\` must be a positive integer`);
  check(c.limits.authFailures.maxTracked <= 10_000_000, '`limits.authFailures.maxTracked` must be at most 10000000');
  check(Number.isInteger(c.audit.maxFileBytes) && c.audit.maxFileBytes >= 4096, '`audit.maxFileBytes` must be at least 4096');
  check(Number.isInteger(c.audit.keepFiles) && c.audit.keepFiles >= 1, '`audit.keepFiles` must be at least 1');
  check(['debug', 'info', 'warn', 'error'].includes(c.log.level), '`log.level` must be debug, info, warn or error');
  check(Number.isInteger(c.lastUsedFlushMs) && c.lastUsedFlushMs >= 100, '`lastUsedFlushMs` must be at least 100');
  check(typeof c.security.uniformAuthFailures === 'boolean', '`security.uniformAuthFailures` must be true or false');
  check(Array.isArray(c.services), '`services` must be a list');
  const names = new Set<string>();
  for (const [i, svc] of c.services.entries()) {
    const at = `services[${i}]`;
    check(isObject(svc), `\`${at}\` must be an object`);
    const known = ['name', 'upstream', 'protocol', 'maxBodyBytes', 'timeoutMs', 'account', 'routes', 'resourcePolicies', 'resourceTags'];
    for (const k of Object.keys(svc)) check(known.includes(k), `unknown setting \`${at}.${k}\``);
    check(typeof svc.name === 'string' && /^[a-z0-9-]{2,64}$/.test(svc.name), `\`${at}.name\` must be a service name such as \`datapipeline\``);
    check(!['sts', 'iam'].includes(svc.name) && !names.has(svc.name), `\`${at}.name\` \`${svc.name}\` is taken`);
    names.add(svc.name);
    check(typeof svc.upstream === 'string' && /^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(svc.upstream), `\`${at}.upstream\` must be an http(s) URL`);
    check(['json1.0', 'json1.1', 'query', 'rest-json', 'rest-xml'].includes(svc.protocol), `\`${at}.protocol\` must be json1.0, json1.1, query, rest-json or rest-xml`);
    check(Number.isInteger(svc.maxBodyBytes) && svc.maxBodyBytes > 0, `\`${at}.maxBodyBytes\` must be a positive integer`);
    check(Number.isInteger(svc.timeoutMs) && svc.timeoutMs > 0, `\`${at}.timeoutMs\` must be a positive integer`);
    validateServiceRules(svc, at, check);
  }
  for (const [issuer, source] of Object.entries(c.oidc.jwks)) {
    check(/^https:\/\/[^\s/]+/.test(issuer), `\`oidc.jwks\` keys must be issuer URLs (https://…), not \`${issuer}\``);
    check(typeof source === 'string' && source !== '', `\`oidc.jwks["${issuer}"]\` must be a JWKS file path or URL`);
  }
}

export function loadConfig(src: Sources): Config {
  const flags = parseFlags(src.argv);
  const env = src.env;
  const configFile = flags['config'] ?? env['PORTCULLIS_CONFIG'];
  let c = structuredClone(DEFAULTS) as unknown as Json;
  if (configFile !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(resolve(src.cwd, configFile), 'utf8'));
    } catch (e) {
      throw new ConfigError(`cannot read config file \`${configFile}\`: ${(e as Error).message}`);
    }
    if (!isObject(parsed)) throw new ConfigError('the config file must hold a JSON object');
    c = merge(c, parsed, '');
  }
  const overlay: Json = {};
  const dataDir = flags['dataDir'] ?? env['PORTCULLIS_DATA_DIR'];
  if (dataDir !== undefined) overlay['dataDir'] = dataDir;
  const listen = flags['listen'] ?? env['PORTCULLIS_LISTEN'];
  if (listen !== undefined) overlay['listen'] = parseListen(listen);
  const databaseUrl = flags['databaseUrl'];
  if (databaseUrl !== undefined) {
    // Another spelling of `--store postgres://…`; the URL is never echoed (it may hold a password).
    if (!/^postgres(ql)?:\/\/.+/.test(databaseUrl)) throw new ConfigError('--database-url must be a `postgres://…` URL');
    if (flags['store'] !== undefined && flags['store'] !== databaseUrl) throw new ConfigError('--database-url and --store name different stores; give one');
  }
  const store = flags['store'] ?? databaseUrl ?? env['PORTCULLIS_STORE'];
  if (store !== undefined) overlay['store'] = store;
  const region = flags['region'] ?? env['PORTCULLIS_REGION'];
  if (region !== undefined) overlay['region'] = region;
  const workers = flags['workers'] ?? env['PORTCULLIS_WORKERS'];
  if (workers !== undefined) {
    if (!/^\d{1,3}$/.test(workers)) throw new ConfigError(`--workers must be a number of processes (0: one per CPU core), got \`${workers}\``);
    overlay['workers'] = Number(workers);
  }
  const minTls = flags['minTls'] ?? env['PORTCULLIS_MIN_TLS'];
  if (minTls !== undefined) overlay['tls'] = { minVersion: minTls };
  c = merge(c, overlay, '');

  if (typeof c['dataDir'] !== 'string' || c['dataDir'] === '') throw new ConfigError('`dataDir` must be a path');
  if (typeof c['store'] !== 'string') throw new ConfigError('`store` must be `sqlite:PATH` or `postgres://…`');
  const dir = resolve(src.cwd, c['dataDir']);
  c['dataDir'] = dir;
  const storeUrl = c['store'] || `sqlite:${join(dir, 'portcullis.db')}`;
  if (storeUrl === 'sqlite:') throw new ConfigError('`store` sqlite: needs a path, as in `sqlite:./portcullis.db`');
  c['store'] = storeUrl.startsWith('sqlite:') && !isAbsolute(storeUrl.slice(7)) ? `sqlite:${resolve(src.cwd, storeUrl.slice(7))}` : storeUrl;
  if (Array.isArray(c['services'])) {
    c['services'] = (c['services'] as unknown[]).map((svc) => (isObject(svc) ? serviceDefaults(svc) : svc));
  }
  const config = c as unknown as Config;
  validate(config);
  // File paths are resolved once, here, so the certificate watcher compares like with like.
  const tls = config.tls as unknown as { certificates: { cert: string; key: string }[]; clientCaFile: string | undefined };
  tls.certificates = tls.certificates.map((f) => ({ cert: resolve(src.cwd, f.cert), key: resolve(src.cwd, f.key) }));
  if (tls.clientCaFile !== undefined) tls.clientCaFile = resolve(src.cwd, tls.clientCaFile);
  const oidc = config.oidc as unknown as { jwks: Record<string, string> };
  oidc.jwks = Object.fromEntries(Object.entries(oidc.jwks).map(([issuer, source]) => [issuer, /^https?:\/\//.test(source) ? source : resolve(src.cwd, source)]));
  return deepFreeze(config);
}
