/**
 * Starts Portcullis the way `npm start` does (`node dist/src/cli/main.js serve …`) in a child
 * process, on a free port and a temporary data dir, and waits for its ready line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './paths.js';

export interface RunningGateway {
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly proc: ChildProcess;
  /** Everything the process wrote to stderr so far (its structured log). */
  stderr(): string;
  /** Everything it wrote to stdout so far (the ready line). */
  stdout(): string;
  /** The bootstrap administrator's key, read from DIR/credentials. */
  readonly admin: { accessKeyId: string; secretAccessKey: string };
  /** DIR/tls/cert.pem, the CA bundle clients use ('' with operator certificates). */
  readonly caPem: string;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, and wait for the process to be gone. */
  kill9(): Promise<void>;
}

export interface StartGatewayOptions {
  readonly dataDir?: string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  readonly timeoutMs?: number;
}

export function tempDir(prefix = 'portcullis-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function readCredentials(dataDir: string): { accessKeyId: string; secretAccessKey: string } {
  const text = readFileSync(join(dataDir, 'credentials'), 'utf8');
  const id = /aws_access_key_id = (\S+)/.exec(text)?.[1];
  const secret = /aws_secret_access_key = (\S+)/.exec(text)?.[1];
  if (!id || !secret) throw new Error('credentials file lacks the key');
  return { accessKeyId: id, secretAccessKey: secret };
}

export async function startGateway(opts: StartGatewayOptions = {}): Promise<RunningGateway> {
  const dataDir = opts.dataDir ?? tempDir();
  const proc = spawn(process.execPath, [join(REPO_ROOT, 'dist/src/cli/main.js'), 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...(opts.args ?? [])], {
    // One process unless a test asks for workers: most tests watch one process's behaviour
    // (and the machine running them is small); test/gateway/workers.test.ts runs several.
    env: { ...process.env, PORTCULLIS_MASTER_KEY: '', PORTCULLIS_WORKERS: '1', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`gateway did not become ready:\n${err}`));
    }, opts.timeoutMs ?? 20_000);
    proc.stdout!.on('data', () => {
      const m = /^portcullis listening on (https:\/\/\S+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code} before ready:\n${err}`));
    });
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    url,
    port: Number(new URL(url).port),
    dataDir,
    proc,
    stderr: () => err,
    stdout: () => out,
    admin: readCredentials(dataDir),
    caPem: existsSync(join(dataDir, 'tls', 'cert.pem')) ? readFileSync(join(dataDir, 'tls', 'cert.pem'), 'utf8') : '',
    stop: async () => {
      proc.kill('SIGTERM');
      return exited;
    },
    kill9: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
