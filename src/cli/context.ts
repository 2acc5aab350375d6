/**
 * Where a client command talks to and as whom: flags, then environment, then the profile,
 * then the local data dir (what `npm start` created), then defaults.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { rootCertificates } from 'node:tls';
import type { MinTls } from '../core/tlsSuites.js';
import { defaultProvider } from '../client/defaultProvider.js';
import { fromProfile } from '../client/fromProfile.js';
import type { CredentialProvider } from '../client/credentials.js';
import { IamClient } from '../client/iam.js';
import { DEFAULT_ENDPOINT } from '../client/query.js';
import { loadSharedFiles, profileName, type Profile } from '../client/sharedFiles.js';
import { StsClient } from '../client/sts.js';
import { PolicyAgent } from '../client/tlsAgent.js';
import type { Invocation } from './command.js';
import { UsageError } from './exit.js';

export interface ClientContext {
  readonly endpoint: URL;
  readonly region: string;
  readonly profile: string;
  readonly minTls: MinTls;
  /** Where the trusted CAs come from, for messages: a file, `data dir`, or `system`. */
  readonly caSource: string;
  readonly agent: PolicyAgent;
  readonly credentials: CredentialProvider;
  /** The local data dir, when it exists. */
  readonly dataDir: string | undefined;
  iam(): IamClient;
  sts(): StsClient;
}

export function dataDirOf(inv: Invocation): string {
  const d = inv.str('data-dir') ?? inv.io.env['PORTCULLIS_DATA_DIR'] ?? '.portcullis';
  return isAbsolute(d) ? d : resolve(inv.io.cwd, d);
}

function profileSettings(inv: Invocation): { name: string; settings: Profile } {
  const name = profileName(inv.io.env, inv.str('profile'));
  try {
    return { name, settings: loadSharedFiles(inv.io.env).profiles.get(name) ?? {} };
  } catch {
    return { name, settings: {} }; // the credential chain reports a broken file with its details
  }
}

export function clientContext(inv: Invocation): ClientContext {
  const env = inv.io.env;
  const { name: profile, settings } = profileSettings(inv);
  const endpointText = inv.str('endpoint-url') ?? (env['PORTCULLIS_ENDPOINT'] || env['AWS_ENDPOINT_URL'] || settings['endpoint_url'] || DEFAULT_ENDPOINT);
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText);
  } catch {
    throw new UsageError(`--endpoint-url \`${endpointText}\` is not a URL`);
  }
  if (endpoint.protocol !== 'https:') throw new UsageError(`--endpoint-url must be https:// (Portcullis is TLS only), got \`${endpointText}\``);
  const region = inv.str('region') ?? (env['AWS_REGION'] || env['AWS_DEFAULT_REGION'] || settings['region'] || 'us-east-1');
  const minText = inv.str('min-tls') ?? '1.2';
  if (minText !== '1.2' && minText !== '1.3') throw new UsageError(`--min-tls must be 1.2 or 1.3, got \`${minText}\``);
  const minTls: MinTls = minText;

  const dir = dataDirOf(inv);
  const dataDir = existsSync(dir) ? dir : undefined;
  const caFile = inv.str('ca-bundle') ?? (env['AWS_CA_BUNDLE'] || settings['ca_bundle'] || undefined);
  let ca: string | undefined;
  let caSource = 'system';
  if (caFile !== undefined) {
    const path = resolve(inv.io.cwd, caFile);
    try {
      ca = readFileSync(path, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read the CA bundle ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    caSource = path;
  } else if (dataDir !== undefined && existsSync(join(dataDir, 'tls', 'cert.pem'))) {
    // The local gateway's self-signed certificate, trusted next to the system's roots.
    ca = [...rootCertificates, readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8')].join('\n');
    caSource = `system + ${join(dataDir, 'tls', 'cert.pem')}`;
  }
  // No keep-alive: a command makes a few calls and the process should end when it is done.
  const certFile = inv.str('client-cert') ?? (env['PORTCULLIS_CLIENT_CERT'] || undefined);
  const keyFile = inv.str('client-key') ?? (env['PORTCULLIS_CLIENT_KEY'] || undefined);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--client-cert and --client-key go together');
  const clientPair = certFile !== undefined && keyFile !== undefined
    ? { cert: readOrUsage(resolve(inv.io.cwd, certFile), 'the client certificate'), key: readOrUsage(resolve(inv.io.cwd, keyFile), 'the client key') }
    : {};
  const agent = new PolicyAgent({ minTls, keepAlive: false, ...(ca !== undefined ? { ca } : {}), ...clientPair });
  const localCreds = dataDir !== undefined && existsSync(join(dataDir, 'credentials'))
    ? [fromProfile({ env: { ...env, AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'), AWS_CONFIG_FILE: join(dataDir, 'no-config') }, profile: 'portcullis' })]
    : [];
  const explicitProfile = inv.str('profile');
  const credentials = defaultProvider({
    env,
    ...(explicitProfile !== undefined ? { profile: explicitProfile } : {}),
    sts: { endpoint, region, agent },
    fallback: localCreds,
  });
  return {
    endpoint, region, profile, minTls, caSource, agent, credentials, dataDir,
    iam: () => new IamClient({ endpoint, region, agent, credentials }),
    sts: () => new StsClient({ endpoint, region, agent, credentials }),
  };
}

/** A document given inline, as `@FILE`, or `-` for stdin. */
export function readDocument(value: string, inv: Invocation, what: string): string {
  const text = value === '-' ? readFileSync(0, 'utf8') : value.startsWith('@') ? readOrUsage(resolve(inv.io.cwd, value.slice(1)), what) : value;
  try {
    JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
  return text;
}

function readOrUsage(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what} from ${path} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}
