/** `credential_process`: credentials printed by a command. */
import { spawn } from 'node:child_process';
import { systemClock } from '../core/clock.js';
import type { CredentialProvider } from './credentials.js';
import { CredentialsInvalid } from './errors.js';
import { envOf, type ProviderOptions } from './providerOptions.js';

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
