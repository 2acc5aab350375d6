/**
 * What a command is: its words (`users create`), a summary, its options, examples, and `run`.
 * Parsing is node:util's parseArgs, strict: an unknown flag is a usage error (exit 2).
 */
import { parseArgs } from 'node:util';
import { UsageError } from './exit.js';
import type { OutputMode, Result } from './output.js';

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  readonly description: string;
  /** For string options: the placeholder in help, e.g. `ARN`. */
  readonly value?: string;
}

export interface Io {
  readonly stdout: (s: string | Uint8Array) => void;
  readonly stderr: (s: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface Invocation {
  readonly positionals: readonly string[];
  readonly io: Io;
  readonly output: OutputMode;
  str(name: string): string | undefined;
  bool(name: string): boolean;
  list(name: string): string[];
  /** The option's value, or a usage error naming it. */
  need(name: string): string;
  /** Writes a progress line on stderr (never on stdout, which is for results). */
  progress(message: string): void;
}

export interface Command {
  /** The words that name it: `['users', 'create']`. */
  readonly path: readonly string[];
  readonly summary: string;
  /** After `portcullis users create`: `NAME [--path PATH]`. */
  readonly usage: string;
  readonly description?: string;
  readonly options?: Readonly<Record<string, OptionSpec>>;
  /** Takes the client options (endpoint, profile, region, CA bundle). */
  readonly client?: boolean;
  readonly examples: readonly string[];
  /** Returns what to print, or an exit code (for commands that print as they go). */
  run(inv: Invocation): Promise<Result | number | void>;
}

/** Options every command that talks to a server takes. */
export const CLIENT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  'endpoint-url': { type: 'string', value: 'URL', description: 'the Portcullis endpoint (or PORTCULLIS_ENDPOINT, AWS_ENDPOINT_URL, endpoint_url in the profile); default https://127.0.0.1:8443' },
  profile: { type: 'string', value: 'NAME', description: 'a profile of the AWS shared files (or AWS_PROFILE)' },
  region: { type: 'string', value: 'REGION', description: 'signing region (or AWS_REGION, region in the profile); default us-east-1' },
  'ca-bundle': { type: 'string', value: 'FILE', description: 'PEM bundle of trusted CAs (or AWS_CA_BUNDLE, ca_bundle in the profile)' },
  'client-cert': { type: 'string', value: 'FILE', description: 'a client certificate (PEM) for servers that require mTLS (or PORTCULLIS_CLIENT_CERT)' },
  'client-key': { type: 'string', value: 'FILE', description: 'its private key (or PORTCULLIS_CLIENT_KEY)' },
  'min-tls': { type: 'string', value: '1.2|1.3', description: 'lowest TLS version to accept; default 1.2' },
  'data-dir': { type: 'string', value: 'DIR', description: 'a local data dir whose credentials and certificate are used when nothing else is set (or PORTCULLIS_DATA_DIR); default ./.portcullis' },
};

export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  output: { type: 'string', short: 'o', value: 'table|json', description: 'how to print the result; default table' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
};

export function allOptions(cmd: Command): Record<string, OptionSpec> {
  return { ...(cmd.options ?? {}), ...(cmd.client ? CLIENT_OPTIONS : {}), ...COMMON_OPTIONS };
}

export function helpText(cmd: Command): string {
  const opts = allOptions(cmd);
  const lines = [`usage: portcullis ${cmd.path.join(' ')} ${cmd.usage}`.trimEnd(), '', cmd.summary];
  if (cmd.description) lines.push('', cmd.description);
  lines.push('', 'Options:');
  for (const [name, o] of Object.entries(opts)) {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`;
    lines.push(`  ${flag.padEnd(34)} ${o.description}${o.multiple ? ' (repeatable)' : ''}`);
  }
  lines.push('', 'Examples:', ...cmd.examples.map((e) => `  ${e}`), '', 'Exit codes: 0 ok, 2 usage, 3 credentials, 4 connection/TLS, 5 refused by the service, 6 service failure (see docs/client.md).');
  return lines.join('\n') + '\n';
}

export interface Parsed {
  readonly values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  readonly positionals: string[];
}

export function parse(cmd: Command, args: readonly string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(allOptions(cmd))) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const r = parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
    return { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    throw new UsageError((e as Error).message.replace(/\. To specify a positional argument.*$/s, ''), cmd.path.join(' '));
  }
}
