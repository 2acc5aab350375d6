/**
 * The AWS shared config and credentials files: where they are, and what they say.
 *
 * - `~/.aws/config` (or `AWS_CONFIG_FILE`): sections `[default]` and `[profile NAME]`; other
 *   section kinds (`[sso-session …]`, `[services …]`) are not profiles.
 * - `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`): sections `[NAME]`.
 * A setting in the credentials file wins over the same setting of the same profile in the
 * config file. Keys are case-insensitive; `#` and `;` start comment lines; an indented line
 * under `key =` belongs to that key's sub-section (e.g. `s3 =`), which profiles here ignore.
 * https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CredentialsInvalid } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;
export type Profile = Readonly<Record<string, string>>;
export type Profiles = ReadonlyMap<string, Profile>;

export interface SharedFiles {
  readonly configFile: string;
  readonly credentialsFile: string;
  /** Profiles from both files, merged. */
  readonly profiles: Profiles;
}

function home(env: Env): string {
  return env['HOME'] || env['USERPROFILE'] || homedir();
}

function expandHome(path: string, env: Env): string {
  return path === '~' || path.startsWith('~/') ? join(home(env), path.slice(1)) : path;
}

export function configFilePath(env: Env): string {
  return expandHome(env['AWS_CONFIG_FILE'] || join(home(env), '.aws', 'config'), env);
}

export function credentialsFilePath(env: Env): string {
  return expandHome(env['AWS_SHARED_CREDENTIALS_FILE'] || join(home(env), '.aws', 'credentials'), env);
}

/** `kind` says how section names map to profiles. Returns profile name -> settings. */
export function parseIni(text: string, kind: 'config' | 'credentials', where: string): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  let section: Record<string, string> | undefined;
  let inSubsection = false;
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    if (/^\s*([#;].*)?$/.test(raw)) continue;
    const header = /^\s*\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(raw);
    if (header) {
      inSubsection = false;
      const name = header[1]!.trim();
      let profile: string | undefined;
      if (kind === 'credentials') profile = name;
      else if (name === 'default') profile = 'default';
      else {
        const m = /^profile\s+(\S.*)$/.exec(name);
        profile = m ? m[1]!.trim() : undefined;
      }
      if (profile === undefined) {
        section = undefined; // not a profile section: its settings are skipped
        continue;
      }
      section = out.get(profile) ?? {};
      out.set(profile, section);
      continue;
    }
    if (/^\s/.test(raw)) {
      if (inSubsection) continue; // a nested setting, e.g. under `s3 =`
    }
    const kv = /^\s*([^=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!kv) throw new CredentialsInvalid(`${where}, line ${i + 1}: expected \`key = value\` or \`[section]\``);
    if (section === undefined) continue;
    // A value may end with a comment after whitespace: `region = us-east-1 # home`.
    const value = kv[2]!.replace(/\s+[#;].*$/, '');
    const key = kv[1]!.toLowerCase();
    inSubsection = value === '';
    if (!inSubsection) section[key] = value;
  }
  return out;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new CredentialsInvalid(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Reads both files (either may be missing). */
export function loadSharedFiles(env: Env): SharedFiles {
  const configFile = configFilePath(env);
  const credentialsFile = credentialsFilePath(env);
  const merged = new Map<string, Record<string, string>>();
  const configText = readIfExists(configFile);
  if (configText !== undefined) for (const [k, v] of parseIni(configText, 'config', configFile)) merged.set(k, { ...v });
  const credText = readIfExists(credentialsFile);
  if (credText !== undefined) {
    for (const [k, v] of parseIni(credText, 'credentials', credentialsFile)) merged.set(k, { ...(merged.get(k) ?? {}), ...v });
  }
  return { configFile, credentialsFile, profiles: merged };
}

/** The profile in use: the explicit one, else `AWS_PROFILE`, else `default`. */
export function profileName(env: Env, explicit?: string): string {
  return explicit || env['AWS_PROFILE'] || env['AWS_DEFAULT_PROFILE'] || 'default';
}
