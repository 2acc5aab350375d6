/**
 * A profile of the AWS shared files: static keys; `role_arn` with `source_profile` or
 * `credential_source` (`Environment`), `external_id`, `duration_seconds`, `role_session_name`;
 * `role_arn` with `web_identity_token_file`; `credential_process`.
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-assume-role-credentials.html
 */
import type { CredentialProvider, Credentials } from './credentials.js';
import { CredentialsInvalid, CredentialsNotFound } from './errors.js';
import { fromAssumeRole } from './fromAssumeRole.js';
import { fromEnv } from './fromEnv.js';
import { fromProcess } from './fromProcess.js';
import { fromWebIdentity } from './fromWebIdentity.js';
import { durationOf, envOf, type ProviderOptions } from './providerOptions.js';
import { loadSharedFiles, profileName, type Profile } from './sharedFiles.js';

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
    const named = Boolean(opts.profile || env['AWS_PROFILE']);
    return resolveProfile(name, files.profiles, opts, [], named)();
  };
}

function resolveProfile(name: string, profiles: ReadonlyMap<string, Profile>, opts: ProviderOptions, seen: readonly string[], named = false): CredentialProvider {
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
  // As with a missing profile: one the user named must provide the credentials.
  if (named) throw new CredentialsInvalid(`profile \`${name}\` has no credentials (no keys, role_arn or credential_process)`);
  throw new CredentialsNotFound(`shared files: profile \`${name}\` has no credentials (no keys, role_arn or credential_process)`);
}

function fail(message: string): never {
  throw new CredentialsInvalid(message);
}
