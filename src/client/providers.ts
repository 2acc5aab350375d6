/**
 * Credential providers with AWS's conventions:
 * https://docs.aws.amazon.com/sdkref/latest/guide/standardized-credentials.html
 *
 * - `fromEnv`: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_CREDENTIAL_EXPIRATION`.
 * - `fromProfile`: a profile of the shared files: static keys; `role_arn` with `source_profile` or
 *   `credential_source` (`Environment`), `external_id`, `duration_seconds`, `role_session_name`;
 *   `role_arn` with `web_identity_token_file`; `credential_process`.
 * - `fromProcess`: a `credential_process` command (JSON `Version: 1` on stdout).
 * - `fromTokenFile`: `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`.
 * - `defaultProvider`: the chain env -> profile -> token file, memoized.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Clock, systemClock } from '../core/clock.js';
import { chain, memoize, type CredentialProvider, type Credentials, type MemoizedProvider } from './credentials.js';
import { CredentialsInvalid, CredentialsNotFound, ServiceError } from './errors.js';
import type { ClientConfig } from './query.js';
import { loadSharedFiles, profileName, type Env, type Profile } from './sharedFiles.js';
import { StsClient } from './sts.js';

export interface ProviderOptions {
  /** Default `process.env`. */
  readonly env?: Env;
  readonly clock?: Clock;
  /** Where STS is, for roles and web identity (endpoint, region, agent, retries). */
  readonly sts?: Omit<ClientConfig, 'credentials'>;
}

function envOf(opts: ProviderOptions): Env {
  return opts.env ?? process.env;
}

export function fromEnv(opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const env = envOf(opts);
    const id = env['AWS_ACCESS_KEY_ID'];
    const secret = env['AWS_SECRET_ACCESS_KEY'];
    if (!id && !secret) throw new CredentialsNotFound('environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set');
    if (!id || !secret) {
      throw new CredentialsInvalid(`environment: ${id ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is not set but ${id ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is; set both or neither`);
    }
    const exp = env['AWS_CREDENTIAL_EXPIRATION'];
    const expiration = exp ? Date.parse(exp) : undefined;
    if (expiration !== undefined && Number.isNaN(expiration)) throw new CredentialsInvalid('environment: AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time');
    return { accessKeyId: id, secretAccessKey: secret, sessionToken: env['AWS_SESSION_TOKEN'] || undefined, expiration, source: 'env' };
  };
}

/** Splits a command line as a POSIX shell would split words (quotes and backslashes; no expansion). */
export function splitCommand(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote !== undefined) throw new CredentialsInvalid('credential_process: unbalanced quotes in the command');
  if (inWord) out.push(cur);
  return out;
}

/**
 * Runs a `credential_process` command and reads its JSON:
 * `{"Version": 1, "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}`.
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html
 */
export function fromProcess(command: string, opts: ProviderOptions & { timeoutMs?: number; profile?: string } = {}): CredentialProvider {
  return async () => {
    const where = `credential_process${opts.profile ? ` of profile \`${opts.profile}\`` : ''}`;
    const [file, ...args] = splitCommand(command);
    if (file === undefined) throw new CredentialsInvalid(`${where} is empty`);
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(envOf(opts))) if (v !== undefined) env[k] = v;
      const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.once('error', (e) => reject(new CredentialsInvalid(`${where}: cannot run \`${file}\` (${(e as NodeJS.ErrnoException).code ?? 'error'})`)));
      child.once('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    if (code !== 0) {
      // The first line of stderr says what went wrong; stdout may hold secrets, so it is not shown.
      const line = stderr.trim().split('\n')[0]?.slice(0, 200) ?? '';
      throw new CredentialsInvalid(`${where}: \`${file}\` exited with ${code ?? 'a signal'}${line ? `: ${line}` : ''}`);
    }
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(stdout) as Record<string, unknown>;
    } catch {
      throw new CredentialsInvalid(`${where}: the output is not JSON`);
    }
    if (j['Version'] !== 1) throw new CredentialsInvalid(`${where}: the output must have "Version": 1`);
    const id = j['AccessKeyId'];
    const secret = j['SecretAccessKey'];
    const token = j['SessionToken'];
    const exp = j['Expiration'];
    if (typeof id !== 'string' || typeof secret !== 'string' || id === '' || secret === '') {
      throw new CredentialsInvalid(`${where}: the output lacks AccessKeyId or SecretAccessKey`);
    }
    const expiration = typeof exp === 'string' ? Date.parse(exp) : undefined;
    if (expiration !== undefined && Number.isNaN(expiration)) throw new CredentialsInvalid(`${where}: Expiration is not an ISO 8601 time`);
    if (expiration !== undefined && expiration <= (opts.clock ?? systemClock)()) throw new CredentialsInvalid(`${where}: the credentials it gave have already expired`);
    return { accessKeyId: id, secretAccessKey: secret, sessionToken: typeof token === 'string' && token !== '' ? token : undefined, expiration, source: 'process' };
  };
}

function sessionName(clock: Clock): string {
  return `portcullis-${clock()}`;
}

function durationOf(v: string | undefined, where: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 900 || n > 43_200) throw new CredentialsInvalid(`${where}: duration_seconds must be an integer from 900 to 43200`);
  return n;
}

/** Assumes a role with the credentials of `source`. */
export function fromAssumeRole(source: CredentialProvider, input: { roleArn: string; roleSessionName?: string; externalId?: string; durationSeconds?: number; where: string }, opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const clock = opts.clock ?? systemClock;
    const sts = new StsClient({ ...opts.sts, credentials: source, ...(opts.clock ? { clock: opts.clock } : {}) });
    try {
      const r = await sts.assumeRole({
        roleArn: input.roleArn,
        roleSessionName: input.roleSessionName ?? sessionName(clock),
        ...(input.externalId !== undefined ? { externalId: input.externalId } : {}),
        ...(input.durationSeconds !== undefined ? { durationSeconds: input.durationSeconds } : {}),
      });
      return { ...r.credentials, source: input.where };
    } catch (e) {
      if (e instanceof ServiceError) {
        throw new CredentialsInvalid(`${input.where}: AssumeRole of ${input.roleArn} was refused: ${e.awsCode}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`, { cause: e });
      }
      throw e;
    }
  };
}

/** AssumeRoleWithWebIdentity with a token read from a file at every refresh (the file rotates). */
export function fromWebIdentity(input: { tokenFile: string; roleArn: string; roleSessionName?: string; durationSeconds?: number; where: string }, opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const clock = opts.clock ?? systemClock;
    let token: string;
    try {
      token = readFileSync(input.tokenFile, 'utf8').trim();
    } catch (e) {
      throw new CredentialsInvalid(`${input.where}: cannot read the web identity token file ${input.tokenFile} (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    const sts = new StsClient({ ...opts.sts, ...(opts.clock ? { clock: opts.clock } : {}) });
    try {
      const r = await sts.assumeRoleWithWebIdentity({
        roleArn: input.roleArn,
        roleSessionName: input.roleSessionName ?? sessionName(clock),
        webIdentityToken: token,
        ...(input.durationSeconds !== undefined ? { durationSeconds: input.durationSeconds } : {}),
      });
      return { ...r.credentials, source: input.where };
    } catch (e) {
      if (e instanceof ServiceError) {
        throw new CredentialsInvalid(`${input.where}: AssumeRoleWithWebIdentity of ${input.roleArn} was refused: ${e.awsCode}: ${e.message}${e.requestId ? ` (request id ${e.requestId})` : ''}`, { cause: e });
      }
      throw e;
    }
  };
}

/** `AWS_WEB_IDENTITY_TOKEN_FILE` with `AWS_ROLE_ARN` (and `AWS_ROLE_SESSION_NAME`). */
export function fromTokenFile(opts: ProviderOptions = {}): CredentialProvider {
  return async () => {
    const env = envOf(opts);
    const tokenFile = env['AWS_WEB_IDENTITY_TOKEN_FILE'];
    const roleArn = env['AWS_ROLE_ARN'];
    if (!tokenFile || !roleArn) throw new CredentialsNotFound('web identity: AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are not both set');
    const name = env['AWS_ROLE_SESSION_NAME'];
    return fromWebIdentity({ tokenFile, roleArn, ...(name ? { roleSessionName: name } : {}), where: 'web-identity' }, opts)();
  };
}

/** A profile of the shared files; see the module comment for what it may hold. */
export function fromProfile(opts: ProviderOptions & { profile?: string } = {}): CredentialProvider {
  return async () => {
    const env = envOf(opts);
    const files = loadSharedFiles(env);
    const name = profileName(env, opts.profile);
    if (!files.profiles.has(name)) {
      const where = `no profile \`${name}\` in ${files.configFile} or ${files.credentialsFile}`;
      // A profile the user named must exist: falling through to other credentials would act as
      // someone else. Only the implicit `default` may be absent.
      if (opts.profile || env['AWS_PROFILE']) throw new CredentialsInvalid(`${where}; check the name, or add it (see docs/client.md)`);
      throw new CredentialsNotFound(`shared files: ${where}`);
    }
    return resolveProfile(name, files.profiles, opts, [])();
  };
}

function resolveProfile(name: string, profiles: ReadonlyMap<string, Profile>, opts: ProviderOptions, seen: readonly string[]): CredentialProvider {
  const where = `profile:${name}`;
  if (seen.includes(name)) throw new CredentialsInvalid(`profile \`${name}\`: source_profile loops (${[...seen, name].join(' -> ')})`);
  const p = profiles.get(name);
  if (p === undefined) throw new CredentialsInvalid(`profile \`${seen.at(-1)}\` names source_profile \`${name}\`, which does not exist`);
  const staticKeys = (): CredentialProvider | undefined => {
    const id = p['aws_access_key_id'];
    const secret = p['aws_secret_access_key'];
    if (!id && !secret) return undefined;
    if (!id || !secret) throw new CredentialsInvalid(`profile \`${name}\`: aws_access_key_id and aws_secret_access_key go together`);
    return () => Promise.resolve({ accessKeyId: id, secretAccessKey: secret, sessionToken: p['aws_session_token'] || undefined, source: where } satisfies Credentials);
  };

  const roleArn = p['role_arn'];
  // A profile reached as someone's source_profile uses its own static keys when it has them
  // (AWS's rule), so `role_arn` there does not chain again.
  const asSource = seen.length > 0 ? staticKeys() : undefined;
  if (asSource !== undefined) return asSource;
  if (roleArn) {
    const duration = durationOf(p['duration_seconds'], `profile \`${name}\``);
    const common = {
      roleArn,
      ...(p['role_session_name'] ? { roleSessionName: p['role_session_name'] } : {}),
      ...(duration !== undefined ? { durationSeconds: duration } : {}),
      where,
    };
    if (p['web_identity_token_file']) return fromWebIdentity({ ...common, tokenFile: p['web_identity_token_file'] }, opts);
    const sourceProfile = p['source_profile'];
    const credentialSource = p['credential_source'];
    if (sourceProfile && credentialSource) throw new CredentialsInvalid(`profile \`${name}\`: set source_profile or credential_source, not both`);
    let source: CredentialProvider;
    if (sourceProfile) {
      source = sourceProfile === name ? (staticKeys() ?? fail(`profile \`${name}\` is its own source_profile but has no keys`)) : resolveProfile(sourceProfile, profiles, opts, [...seen, name]);
    } else if (credentialSource === 'Environment') {
      source = fromEnv(opts);
    } else if (credentialSource) {
      throw new CredentialsInvalid(`profile \`${name}\`: credential_source \`${credentialSource}\` is not supported here (only Environment)`);
    } else {
      throw new CredentialsInvalid(`profile \`${name}\`: role_arn needs source_profile, credential_source or web_identity_token_file`);
    }
    return fromAssumeRole(source, { ...common, ...(p['external_id'] ? { externalId: p['external_id'] } : {}) }, opts);
  }
  const keys = staticKeys();
  if (keys !== undefined) return keys;
  if (p['credential_process']) return fromProcess(p['credential_process'], { ...opts, profile: name });
  if (seen.length > 0) throw new CredentialsInvalid(`profile \`${name}\` (a source_profile) has no credentials`);
  throw new CredentialsNotFound(`shared files: profile \`${name}\` has no credentials (no keys, role_arn or credential_process)`);
}

function fail(message: string): never {
  throw new CredentialsInvalid(message);
}

export interface DefaultProviderOptions extends ProviderOptions {
  /** An explicit profile (e.g. `--profile`); with it, or with AWS_PROFILE, environment keys are not consulted. */
  readonly profile?: string;
  /** Refresh this long before expiry (default 5 min). */
  readonly refreshBeforeMs?: number;
  /** Links tried after the standard ones (the CLI adds the local data dir's credentials). */
  readonly fallback?: readonly CredentialProvider[];
}

/**
 * The standard chain, memoized: environment (unless a profile is named, as the AWS SDK for
 * JavaScript does), the profile of the shared files, the web identity token file.
 */
export function defaultProvider(opts: DefaultProviderOptions = {}): MemoizedProvider {
  const env = envOf(opts);
  const namedProfile = opts.profile || env['AWS_PROFILE'];
  return memoize(
    chain(...(namedProfile ? [] : [fromEnv(opts)]), fromProfile(opts), fromTokenFile(opts), ...(opts.fallback ?? [])),
    { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.refreshBeforeMs !== undefined ? { refreshBeforeMs: opts.refreshBeforeMs } : {}) },
  );
}
