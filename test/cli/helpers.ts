/** Runs the built `portcullis` CLI as a user would, with an environment that holds only what the test gives. */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/run.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** The commands (`users create`, `doctor`, …) that have exited 0 in this test process, without --help. */
export const succeeded = new Set<string>();

function commandOf(args: readonly string[]): string | undefined {
  for (let k = 3; k >= 1; k--) {
    const c = COMMANDS.find((c) => c.path.length === k && c.path.every((w, i) => args[i] === w));
    if (c !== undefined) return c.path.join(' ');
  }
  return undefined;
}

export const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The process environment without AWS_* and PORTCULLIS_* variables, plus `env`. */
export function cleanEnv(env: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('AWS_') && !k.startsWith('PORTCULLIS_')) out[k] = v;
  return { ...out, ...env };
}

export function cli(args: readonly string[], opts: { env: Record<string, string>; cwd: string; stdin?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: opts.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.once('error', reject);
    p.once('close', (code) => {
      clearTimeout(timer);
      const name = commandOf(args);
      if (code === 0 && name !== undefined && !args.includes('--help')) succeeded.add(name);
      resolve({ code, stdout, stderr });
    });
    p.stdin.end(opts.stdin ?? '');
  });
}

/** `export NAME='value'` lines -> a record. */
export function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z_]+)='((?:[^']|'\\'')*)'$/gm)) out[m[1]!] = m[2]!.replace(/'\\''/g, "'");
  return out;
}
