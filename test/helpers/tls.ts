/**
 * Real TLS clients for tests: `openssl s_client`, `sslscan` and node:tls, each run against a
 * gateway on 127.0.0.1 with SNI `localhost`. The tools are required under CI (a missing tool
 * fails the run); elsewhere the caller may skip.
 */
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';

export const HOST = '127.0.0.1';
export const SNI = 'localhost';

function installed(tool: string, args: string[]): boolean {
  const r = spawnSync(tool, args, { stdio: 'ignore', timeout: 5_000 });
  return r.error === undefined && r.status === 0;
}

/** Names of the required command-line tools that are not installed. */
export function missingTools(): string[] {
  const out: string[] = [];
  if (!installed('openssl', ['version'])) out.push('openssl');
  if (!installed('sslscan', ['--version'])) out.push('sslscan');
  return out;
}

/** Under CI every tool must be there: throws instead of letting a test skip. */
export function toolsSkipReason(): string | false {
  const missing = missingTools();
  if (missing.length === 0) return false;
  if (process.env['CI'] === 'true') throw new Error(`required TLS test tools are missing: ${missing.join(', ')}`);
  return `not installed: ${missing.join(', ')}`;
}

export interface Exec {
  readonly code: number | null;
  readonly output: string;
}

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<Exec> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : null;
      resolve({ code, output: `${stdout}\n${stderr}` });
    });
    child.stdin?.end(); // stdin closed: s_client handshakes, then quits
  });
}

export interface Handshake extends Exec {
  /**
   * From `New, <protocol>, Cipher is <suite>`: null when the server refused before its
   * ServerHello (`New, (NONE)`). A refusal after it (e.g. mTLS) still shows a protocol here,
   * so success is `code === 0 && alert === null`, not this field alone.
   */
  readonly protocol: string | null;
  /** OpenSSL's name of the negotiated suite, or null. */
  readonly cipher: string | null;
  /** From `a:PKEY: <type>, <bits> (bit)`: `id-ecPublicKey` or `rsaEncryption`. */
  readonly peerKeyType: string | null;
  /** `Server Temp Key: X25519, 253 bits` -> `X25519, 253 bits`. */
  readonly tempKey: string | null;
  /** The alert the client received from the server, e.g. `protocol version` (70), `handshake failure` (40). */
  readonly alert: { readonly text: string; readonly number: number } | null;
  /** `Verify return code: N (...)` */
  readonly verifyCode: number | null;
  /** The PEM of the served certificate, if any. */
  readonly certPem: string | null;
}

/** `openssl s_client -connect 127.0.0.1:PORT -servername localhost ARGS`, stdin closed. */
export async function sClient(port: number, args: readonly string[], timeoutMs = 10_000): Promise<Handshake> {
  const r = await run('openssl', ['s_client', '-connect', `${HOST}:${port}`, '-servername', SNI, ...args], timeoutMs);
  const o = r.output;
  const neg = /^New, (TLSv1(?:\.\d)?|\(NONE\)), Cipher is (\S+)/m.exec(o);
  const protocol = neg && neg[1] !== '(NONE)' ? neg[1]! : null;
  const cipher = neg && neg[2] !== '(NONE)' ? neg[2]! : null;
  // "...:ssl3_read_bytes:tlsv1 alert protocol version:...:SSL alert number 70": an alert *read*
  // from the peer, so it is the server that refused.
  const alert = /ssl3_read_bytes:(?:sslv3|tlsv1|tlsv13) alert ([a-z ]+):.*SSL alert number (\d+)/.exec(o);
  const verify = /Verify return code: (\d+)/.exec(o);
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/.exec(o);
  return {
    ...r,
    protocol,
    cipher,
    peerKeyType: /^\s*a:PKEY: ([^,]+),/m.exec(o)?.[1] ?? null,
    tempKey: /^Server Temp Key: (.+)$/m.exec(o)?.[1] ?? null,
    alert: alert ? { text: alert[1]!, number: Number(alert[2]) } : null,
    verifyCode: verify ? Number(verify[1]) : null,
    certPem: cert ? cert[0] : null,
  };
}

export interface SslScan {
  readonly output: string;
  /** `SSLv2`..`TLSv1.3` -> enabled */
  readonly protocols: ReadonlyMap<string, boolean>;
  /** Every `Preferred`/`Accepted` cipher line. */
  readonly accepted: readonly { readonly version: string; readonly bits: number; readonly suite: string; readonly line: string }[];
  /** `Server Key Exchange Group(s)` lines. */
  readonly groups: readonly { readonly version: string; readonly bits: number; readonly name: string }[];
}

export async function sslscan(port: number, timeoutMs = 20_000): Promise<SslScan> {
  const r = await run('sslscan', ['--no-colour', `${HOST}:${port}`], timeoutMs);
  if (r.code !== 0) throw new Error(`sslscan exited with ${r.code}:\n${r.output}`);
  const o = r.output;
  const protocols = new Map<string, boolean>();
  for (const m of o.matchAll(/^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)\s*$/gm)) protocols.set(m[1]!, m[2] === 'enabled');
  const accepted = [...o.matchAll(/^(?:Preferred|Accepted)\s+(\S+)\s+(\d+) bits\s+(\S+).*$/gm)].map((m) => ({
    version: m[1]!,
    bits: Number(m[2]),
    suite: m[3]!,
    line: m[0],
  }));
  const groupsSection = /Server Key Exchange Group\(s\):\n([\s\S]*?)(?:\n\s*\n|$)/.exec(o)?.[1] ?? '';
  const groups = [...groupsSection.matchAll(/^(TLSv1\.[0-3])\s+(\d+) bits\s+(.+)$/gm)].map((m) => ({ version: m[1]!, bits: Number(m[2]), name: m[3]!.trim() }));
  return { output: o, protocols, accepted, groups };
}

export interface PeerInfo {
  readonly fingerprint256: string;
  readonly protocol: string | null;
  /** `ec` or `rsa` */
  readonly keyType: string | undefined;
  readonly subjectCN: string | undefined;
}

/** One new TLS connection (no session reuse); the served certificate and the negotiated version. */
export function peer(port: number, opts: ConnectionOptions = {}, timeoutMs = 5_000): Promise<PeerInfo> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: HOST, port, servername: SNI, rejectUnauthorized: false, ...opts });
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('TLS connect timed out')));
    socket.once('secureConnect', () => {
      const c = socket.getPeerCertificate();
      const raw = c.raw;
      const x = raw ? new X509Certificate(raw) : undefined;
      resolve({
        fingerprint256: c.fingerprint256,
        protocol: socket.getProtocol(),
        keyType: x?.publicKey.asymmetricKeyType,
        subjectCN: typeof c.subject?.CN === 'string' ? c.subject.CN : undefined,
      });
      socket.end();
    });
    socket.once('error', reject);
  });
}

/** TLS 1.2 with only an ECDSA suite: the ECDSA certificate's fingerprint. */
export const ECDSA_CLIENT: ConnectionOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' };
/** TLS 1.2 with only an RSA suite: the RSA certificate's fingerprint. */
export const RSA_CLIENT: ConnectionOptions = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' };

export function fingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Writes as operators do: a temp file in the same directory, then rename over the target. */
export function replaceFile(path: string, data: string): void {
  const tmp = `${path}.new-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 5_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Pki {
  readonly dir: string;
  /** A CA (EC P-256) and its certificate. */
  readonly caPem: string;
  readonly caFile: string;
  /** A server certificate for localhost/127.0.0.1 signed by the CA, with an RSA key. */
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** A client certificate signed by the CA. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  /** A client certificate signed by another CA. */
  readonly rogueCertFile: string;
  readonly rogueKeyFile: string;
}

async function openssl(args: readonly string[]): Promise<void> {
  const r = await run('openssl', args, 20_000);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.output}`);
}

/** A small PKI made with the openssl CLI, as an operator would make one. */
export async function makePki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  await openssl(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.pem'), '-days', '2', '-subj', '/CN=Portcullis Test CA', ...caExt]);
  await openssl(['req', '-x509', ...ec, '-keyout', p('rogue-ca.key'), '-out', p('rogue-ca.pem'), '-days', '2', '-subj', '/CN=Rogue CA', ...caExt]);
  writeFileSync(p('server.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n');
  writeFileSync(p('client.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  const issue = async (name: string, keyArgs: string[], subj: string, ca: string, ext: string) => {
    await openssl(['req', '-new', ...keyArgs, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', subj]);
    await openssl(['x509', '-req', '-in', p(`${name}.csr`), '-CA', p(`${ca}.pem`), '-CAkey', p(`${ca}.key`), '-CAcreateserial', '-out', p(`${name}.pem`), '-days', '2', '-extfile', p(ext)]);
  };
  await issue('server', ['-newkey', 'rsa:2048', '-nodes'], '/CN=localhost', 'ca', 'server.ext');
  await issue('client', ec, '/CN=test-client', 'ca', 'client.ext');
  await issue('rogue', ec, '/CN=rogue-client', 'rogue-ca', 'client.ext');
  return {
    dir,
    caPem: readFileSync(p('ca.pem'), 'utf8'),
    caFile: p('ca.pem'),
    serverCertFile: p('server.pem'),
    serverKeyFile: p('server.key'),
    clientCertFile: p('client.pem'),
    clientKeyFile: p('client.key'),
    rogueCertFile: p('rogue.pem'),
    rogueKeyFile: p('rogue.key'),
  };
}
