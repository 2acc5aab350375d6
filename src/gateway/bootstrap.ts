/**
 * First start (SPEC §4): data dir, master key, self-signed certificates, account, the `admin`
 * user with one access key and AdministratorAccess, the AWS-managed policies, and the
 * credentials file. Each step is skipped when its result
 * already exists, so a second start reuses everything and a start cut short resumes.
 *
 * With a shared PostgreSQL store several nodes may run this at the same moment against one
 * empty database: every step that picks an identity (the account, the administrator's key)
 * claims it with compareAndSetMeta, and a node that loses takes the winner's and undoes its own,
 * so all nodes end up with one account and one administrator key.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { newAccessKeyId, newAccountId, newPolicyId, newSecretAccessKey, newUserId } from '../core/ids.js';
import { ADMINISTRATOR_ACCESS_ARN, AWS_MANAGED_POLICIES } from '../iam/awsManaged.js';
import { Sealer } from '../store/seal.js';
import { PostgresStore } from '../store/postgres/postgresStore.js';
import { SqliteStore } from '../store/sqlite/sqliteStore.js';
import { AlreadyExistsError, type Store } from '../store/types.js';
import { selfSignedCertificate } from '../tls/selfSigned.js';
import { newIdentityKeyPem } from './identity.js';
import { writeFileAtomic } from './files.js';
import type { Logger } from './log.js';

export const ADMIN_USER = 'admin';
export const CREDENTIALS_PROFILE = 'portcullis';

export interface DataDirLayout {
  readonly masterKey: string;
  readonly credentials: string;
  readonly tlsDir: string;
  /** Both bootstrap certificates, for clients' CA bundles (AWS_CA_BUNDLE). */
  readonly certBundle: string;
  readonly auditDir: string;
}

export function layout(dataDir: string): DataDirLayout {
  const tlsDir = join(dataDir, 'tls');
  return {
    masterKey: join(dataDir, 'master.key'),
    credentials: join(dataDir, 'credentials'),
    tlsDir,
    certBundle: join(tlsDir, 'cert.pem'),
    auditDir: join(dataDir, 'audit'),
  };
}

/** The bootstrap certificate pairs: ECDSA first (preferred by modern clients), then RSA. */
export function bootstrapCertificateFiles(dataDir: string): { cert: string; key: string }[] {
  const dir = layout(dataDir).tlsDir;
  return ['ecdsa', 'rsa'].map((t) => ({ cert: join(dir, `${t}.cert.pem`), key: join(dir, `${t}.key.pem`) }));
}

function decodeKey(b64: string, where: string): Buffer {
  const key = Buffer.from(b64.trim(), 'base64');
  if (key.length !== 32) throw new Error(`${where} must hold 32 bytes in base64 (got ${key.length})`);
  return key;
}

/** PORTCULLIS_MASTER_KEY (base64; several, comma-separated, the first sealing) or DIR/master.key. */
function masterKeys(dataDir: string, env: Readonly<Record<string, string | undefined>>, log: Logger): Buffer[] {
  const fromEnv = env['PORTCULLIS_MASTER_KEY'];
  if (fromEnv) return fromEnv.split(',').map((k) => decodeKey(k, 'PORTCULLIS_MASTER_KEY'));
  const file = layout(dataDir).masterKey;
  if (!existsSync(file)) {
    writeFileAtomic(file, randomBytes(32).toString('base64') + '\n');
    log.info('created master key', { path: file });
  }
  return [decodeKey(readFileSync(file, 'utf8'), file)];
}

/** The master keys a data dir already has (never makes one): for commands other than `serve`. */
export function existingSealer(dataDir: string, env: Readonly<Record<string, string | undefined>>): Sealer {
  const fromEnv = env['PORTCULLIS_MASTER_KEY'];
  if (fromEnv) return new Sealer(fromEnv.split(',').map((k) => decodeKey(k, 'PORTCULLIS_MASTER_KEY')));
  const file = layout(dataDir).masterKey;
  if (!existsSync(file)) throw new Error(`no master key: set PORTCULLIS_MASTER_KEY or start from the data dir that has ${file}`);
  return new Sealer([decodeKey(readFileSync(file, 'utf8'), file)]);
}

function ensureCertificates(dataDir: string, log: Logger): void {
  for (const [i, files] of bootstrapCertificateFiles(dataDir).entries()) {
    if (existsSync(files.cert) && existsSync(files.key)) continue;
    const pair = selfSignedCertificate({ keyType: i === 0 ? 'ec' : 'rsa', commonName: 'localhost', names: ['localhost', '127.0.0.1', '::1'], days: 397 });
    writeFileAtomic(files.key, pair.keyPem);
    writeFileAtomic(files.cert, pair.certPem, 0o644);
    log.info('created self-signed certificate', { path: files.cert });
  }
  writeCertificateBundle(dataDir);
}

/** DIR/tls/cert.pem: every bootstrap certificate, the CA bundle clients point at. */
export function writeCertificateBundle(dataDir: string): void {
  const bundle = layout(dataDir).certBundle;
  const pems = bootstrapCertificateFiles(dataDir).map((f) => readFileSync(f.cert, 'utf8')).join('');
  if (!existsSync(bundle) || readFileSync(bundle, 'utf8') !== pems) writeFileAtomic(bundle, pems, 0o644);
}

/** `sqlite:PATH`, or `postgres://…` (every node of a fleet names the same database). */
export async function openStore(config: Config, sealer: Sealer): Promise<Store> {
  if (config.store.startsWith('sqlite:')) return new SqliteStore(config.store.slice('sqlite:'.length), sealer);
  return PostgresStore.open(config.store, sealer, { max: config.database.poolSize });
}

/** Ignores AlreadyExistsError: another node made the same thing first. */
async function unlessExists(make: Promise<unknown>): Promise<void> {
  try {
    await make;
  } catch (e) {
    if (!(e instanceof AlreadyExistsError)) throw e;
  }
}

/** The value of `key`, set to `make()` unless some node set it first. */
async function claimMeta(store: Store, key: string, make: () => string): Promise<{ value: string; mine: boolean }> {
  const existing = await store.getMeta(key);
  if (existing !== undefined) return { value: existing, mine: false };
  const value = make();
  if (await store.compareAndSetMeta(key, undefined, value)) return { value, mine: true };
  return { value: (await store.getMeta(key))!, mine: false };
}

const IDENTITY_META = 'identity.key';

/**
 * The key that signs callers' identities for upstream services is the same on every node of a
 * fleet (an upstream trusts one public key, whichever node forwards): kept sealed in the store,
 * claimed by the first node (with the key its data dir already had, if any) and written to each
 * node's DIR/identity.key.
 */
async function shareIdentityKey(store: Store, sealer: Sealer, dataDir: string, log: Logger): Promise<void> {
  const file = join(dataDir, 'identity.key');
  const local = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  const { value } = await claimMeta(store, IDENTITY_META, () => sealer.seal(local ?? newIdentityKeyPem(), IDENTITY_META));
  const shared = sealer.open(value, IDENTITY_META);
  if (local === shared) return;
  writeFileAtomic(file, shared);
  if (local !== undefined) log.warn('replaced this data dir\'s identity key with the one the store holds for every node', { path: file });
}

export interface Bootstrapped {
  readonly store: Store;
  /** Seals with the master key: what the store keeps secret beyond access keys (token keys). */
  readonly sealer: Sealer;
  readonly accountId: string;
  readonly adminAccessKeyId: string;
}

export async function bootstrap(config: Config, env: Readonly<Record<string, string | undefined>>, log: Logger): Promise<Bootstrapped> {
  const dir = config.dataDir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // A read-only data dir (a read-only mount, a full or broken disk) is said in plain words here,
  // not later as an SQLite "unable to open database file"; nothing is written or half-written.
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new ConfigError(`the data dir \`${dir}\` is not writable (${(e as NodeJS.ErrnoException).code ?? 'error'}): Portcullis keeps its database, audit log and keys there`);
  }
  const keys = masterKeys(dir, env, log);
  const sealer = new Sealer(keys);
  if (config.tls.certificates.length === 0) ensureCertificates(dir, log);
  const store = await openStore(config, sealer);
  try {
    const { value: accountId } = await claimMeta(store, 'bootstrap.account', newAccountId);
    if ((await store.getAccount(accountId)) === undefined) {
      await unlessExists(store.createAccount({ accountId, name: 'portcullis', createdAt: Date.now() }));
      log.info('created account', { accountId });
    }
    if ((await store.getUser(accountId, ADMIN_USER)) === undefined) {
      await unlessExists(store.createUser({ accountId, userName: ADMIN_USER, userId: newUserId(), path: '/', createdAt: Date.now() }));
    }
    let accessKeyId = await store.getMeta('bootstrap.adminKey');
    if (accessKeyId === undefined) {
      // The key exists before it is named, so no node ever reads a name without its key; a
      // node that loses the claim deletes the key it made.
      const candidate = newAccessKeyId(accountId);
      await store.createAccessKey({ accessKeyId: candidate, accountId, userName: ADMIN_USER, status: 'Active', createdAt: Date.now(), secretAccessKey: newSecretAccessKey() });
      const claimed = await claimMeta(store, 'bootstrap.adminKey', () => candidate);
      accessKeyId = claimed.value;
      if (claimed.value === candidate) log.info('created administrator access key', { user: ADMIN_USER, accessKeyId });
      else await store.deleteAccessKey(candidate);
    }
    for (const m of AWS_MANAGED_POLICIES) {
      if ((await store.getManagedPolicy(m.arn)) === undefined) {
        await unlessExists(store.createManagedPolicy({ accountId: 'aws', policyName: m.name, policyId: newPolicyId(), path: '/', arn: m.arn, description: m.description, createdAt: Date.now() }, m.document));
      }
    }
    if ((await store.getMeta('bootstrap.adminPolicy')) === undefined) {
      const admin = (await store.getUser(accountId, ADMIN_USER))!;
      await store.attachPolicy({ type: 'user', id: admin.userId }, ADMINISTRATOR_ACCESS_ARN, 10);
      await store.setMeta('bootstrap.adminPolicy', ADMINISTRATOR_ACCESS_ARN);
    }
    // Opening the administrator's sealed secret proves the master key is this data dir's;
    // a wrong key stops the start here instead of failing every request later.
    let key;
    try {
      key = await store.getAccessKey(accessKeyId);
    } catch (e) {
      throw new Error(`the master key does not open this data dir's secrets (${(e as Error).message}); start with the key it was created with`);
    }
    if (key === undefined) throw new Error(`the administrator key ${accessKeyId} is missing from the store`);
    await shareIdentityKey(store, sealer, dir, log);
    const credentials = layout(dir).credentials;
    if (!existsSync(credentials)) {
      writeFileAtomic(credentials, `[${CREDENTIALS_PROFILE}]\naws_access_key_id = ${key.accessKeyId}\naws_secret_access_key = ${key.secretAccessKey}\n`);
      log.info('wrote administrator credentials', { path: credentials, profile: CREDENTIALS_PROFILE });
    }
    return { store, accountId, adminAccessKeyId: accessKeyId, sealer };
  } catch (e) {
    await store.close();
    throw e;
  }
}
