/** `openssl s_server` for tests: a TLS server configured the way a test needs (old, weak, or fine). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import type { Pki } from '../helpers/tls.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface SServer {
  readonly port: number;
  readonly proc: ChildProcess;
  stop(): Promise<void>;
}

/** `openssl s_server -www` with `args`, ready when it prints ACCEPT. */
export async function sServer(pki: Pki, args: readonly string[]): Promise<SServer> {
  const port = await freePort();
  const proc = spawn('openssl', ['s_server', '-accept', String(port), '-cert', pki.serverCertFile, '-key', pki.serverKeyFile, '-www', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`s_server did not start: ${out}`)), 10_000);
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ACCEPT')) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (c) => reject(new Error(`s_server exited with ${c}: ${out}`)));
  });
  return {
    port,
    proc,
    stop: () => new Promise((r) => {
      proc.once('exit', () => r());
      proc.kill('SIGTERM');
    }),
  };
}

